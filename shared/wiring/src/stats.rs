//! The local stats roll-up: `linkledger serve` follows the SQLite change feed and counts what
//! it names (the same `linkledger_store::stats::RollUp` the `stats` function runs on DynamoDB
//! Streams), so a click or a sale shows in the stats within about a second.

use std::time::Duration;

use linkledger_sqlite::SqliteDb;
use linkledger_store::ports::{ErrorChain, StoreError};
use linkledger_store::stats::{Guard, RollUp, Rolled};
use linkledger_store::Store;

/// Changes read per pass of the feed.
const READ: usize = 20_000;
/// How long the roll-up waits between passes: a second's clicks of a busy link share one write
/// of its buckets, and a click shows in the stats within about a second.
const IDLE: Duration = Duration::from_secs(1);

/// Registers the roll-up as the feed's reader at its cursor, so the SQLite writer keeps every
/// change from now on until it is counted (call it before the server takes writes; once
/// registered, a database stays so across restarts).
pub async fn register(store: &Store, db: &SqliteDb) -> Result<(), StoreError> {
    db.ack_changes(RollUp::cursor(store).await?).await
}

/// What one pass over the feed did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub rolled: Rolled,
    /// Nothing was left to read after it.
    pub caught_up: bool,
}

/// Counts up to [`READ`] changes of the feed, chunk by chunk (each chunk's transaction moves
/// the cursor, so a crash recounts nothing), and tells the feed how far it got.
pub async fn roll_up_pass(
    store: &Store,
    db: &SqliteDb,
    roll_up: &RollUp,
) -> Result<Pass, StoreError> {
    roll_up_pass_of(store, db, roll_up, READ).await
}

/// [`roll_up_pass`] reading at most `read` backlog rows.
pub async fn roll_up_pass_of(
    store: &Store,
    db: &SqliteDb,
    roll_up: &RollUp,
    read: usize,
) -> Result<Pass, StoreError> {
    let after = RollUp::cursor(store).await?;
    // Registers the reader (the writer keeps what it has not read) before the first read.
    db.ack_changes(after).await?;
    let found = db.changes(after, read).await?;
    if found.through <= after {
        return Ok(Pass {
            rolled: Rolled::default(),
            caught_up: true,
        });
    }
    let rolled = if found.changes.is_empty() {
        Rolled::default()
    } else {
        match roll_up.apply(store, &found.changes).await {
            Ok(rolled) => rolled,
            Err(err) if err.is_retryable() => return Err(err),
            // One record that can never be counted (unreadable, out of bounds) must not hold up
            // the others: count them one by one, and pass over (logged) what cannot be counted.
            Err(_) => one_by_one(store, roll_up, &found.changes).await?,
        }
    };
    db.ack_changes(found.through).await?;
    Ok(Pass {
        rolled,
        // Fewer rows than asked for (counted records' or not): the end of the backlog.
        caught_up: found.rows < read,
    })
}

/// Counts `changes` one at a time; a change that can never be counted is logged with its cause
/// and passed over (the cursor moves on with the next one), a retryable failure stops the pass.
async fn one_by_one(
    store: &Store,
    roll_up: &RollUp,
    changes: &[linkledger_store::stats::Change],
) -> Result<Rolled, StoreError> {
    let mut total = Rolled::default();
    for change in changes {
        match roll_up.apply(store, std::slice::from_ref(change)).await {
            Ok(rolled) => total.add(rolled),
            Err(err) if err.is_retryable() => return Err(err),
            Err(err) => tracing::error!(
                error = %ErrorChain(&err),
                position = change.position,
                "a change the stats cannot count is passed over"
            ),
        }
    }
    Ok(total)
}

/// Counts everything the feed holds now (passes until it is caught up).
pub async fn roll_up_pending(
    store: &Store,
    db: &SqliteDb,
    roll_up: &RollUp,
) -> Result<Rolled, StoreError> {
    roll_up_pending_by(store, db, roll_up, READ).await
}

/// [`roll_up_pending`] in passes of at most `read` backlog rows.
pub async fn roll_up_pending_by(
    store: &Store,
    db: &SqliteDb,
    roll_up: &RollUp,
    read: usize,
) -> Result<Rolled, StoreError> {
    let mut total = Rolled::default();
    loop {
        let pass = roll_up_pass_of(store, db, roll_up, read).await?;
        total.add(pass.rolled);
        if pass.caught_up {
            return Ok(total);
        }
    }
}

/// Starts [`follow`] on a thread of its own (with a runtime of its own), so the roll-up's work
/// never holds up the server's request threads: the operating system shares the cores between
/// them, as it does with the SQLite writer.
pub fn spawn_follower(store: Store, db: SqliteDb) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("stats-roll-up".into())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime.block_on(follow(store, db)),
                Err(err) => tracing::error!(error = %err, "the stats roll-up could not start"),
            }
        })
}

/// Follows the feed for as long as the server runs; a failure is logged and retried after a
/// pause (nothing is lost: the cursor stays at the last chunk that committed).
pub async fn follow(store: Store, db: SqliteDb) {
    let roll_up = RollUp::new(Guard::Cursor);
    loop {
        match roll_up_pass(&store, &db, &roll_up).await {
            Ok(pass) => {
                if pass.rolled.counted > 0 {
                    tracing::debug!(counted = pass.rolled.counted, "stats rolled up");
                }
                // Behind: go on at once; caught up: a second's changes gather first.
                if pass.caught_up {
                    tokio::time::sleep(IDLE).await;
                }
            }
            Err(err) => {
                tracing::warn!(error = %ErrorChain(&err), "stats roll-up failed; retrying");
                tokio::time::sleep(IDLE.saturating_mul(4)).await;
            }
        }
    }
}
