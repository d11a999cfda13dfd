//! The embedded adapters: one SQLite file (WAL) holds the items table and the durable queues.
//!
//! All writes go through one writer thread that commits them in groups: it takes every job
//! waiting in its channel (up to [`MAX_GROUP`]; under load, when fewer than [`GATHER_MIN`] are
//! waiting, it sleeps [`GATHER`] for more), runs each, commits once, and only then answers each
//! caller. A caller is therefore answered only after its write is committed, and under load one
//! commit serves many callers. Jobs have no savepoint of their own (it copied every page a job
//! touched into a sub-journal): every job checks its conditions before it writes, so a job that
//! fails having changed nothing leaves its neighbours alone, and one that fails after changing
//! rows (only an SQLite error does that) fails its whole group, rolled back and answered as
//! unavailable. Reads use small pools of read-only connections, which WAL lets run beside the
//! writer: a point read (`get`) runs on the caller's own thread, on a connection that never
//! waits for a lock ([`SqliteDb::read_inline`]); every other read, and a point read that finds
//! the database busy, runs on a blocking thread.
#![cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]

mod feed;
mod index;
mod queue;
mod table;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

pub use feed::Changes;
pub use queue::SqliteQueue;
pub use table::SqliteTable;

use linkledger_store::ports::{BackendError, ErrorChain, OpCounts, StoreError};

/// Jobs committed together at most; bounds the latency one commit adds to its first caller.
const MAX_GROUP: usize = 512;
/// Under load (the previous commit ended less than [`BUSY_WITHIN`] ago) a group of fewer than
/// [`GATHER_MIN`] jobs waits [`GATHER`] for more: each commit rewrites its last, partly filled
/// pages into the WAL, so fuller groups write fewer bytes per job (2.6 KiB per click instead of
/// 3.9) and reset the WAL less often. The wait is short because every group pays it: 1 ms
/// capped the redirect at ~17k clicks/s, 250 µs gives ~21-25k. An idle writer commits at once.
const GATHER: Duration = Duration::from_micros(250);
const GATHER_MIN: usize = 32;
const BUSY_WITHIN: Duration = Duration::from_millis(5);
const READ_POOL: usize = 16;
/// How often the writer drops backlog entries the indexer has applied.
const TRIM_EVERY: Duration = Duration::from_millis(500);
/// Writer steps slower than this are logged.
const SLOW: Duration = Duration::from_millis(50);
/// How often the WAL is copied back into the database file. Each checkpoint rewrites the hot
/// index pages once, so a longer interval means fewer random writes per click.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);
/// A WAL past this many pages (1 GiB) is reset by a blocking checkpoint. Whenever the writer
/// pauses, the passive checkpoint catches up with the whole WAL and SQLite starts it over at the
/// next write for free; only sustained load reaches this cap, because each blocking reset still
/// costs 50-200 ms of writer stall on a busy disk (it fsyncs with the writer held), which was
/// the whole of the redirect's p99 when it came every second or two at 64 MiB.
const WAL_RESET_PAGES: i64 = 262_144;
/// The index file's WAL is reset past this many pages (16 MiB): never fsynced, its reset is
/// cheap and holds only the indexer.
const INDEX_WAL_RESET_PAGES: i64 = 4_096;
/// What the WAL file is truncated to after a checkpoint resets it: above the size it reaches
/// between resets, so it is never truncated under load (freeing and reallocating its blocks
/// stalled commits on ext4 for tens of milliseconds).
const WAL_KEEP_BYTES: i64 = 1_152 * 1024 * 1024;
/// Passive checkpoints (each followed by an fsync of the database file) run before the
/// blocking `RESTART`, so that the pause holding the writer only copies and syncs the last
/// few milliseconds of frames (3 to 6 ms measured, against 30 to 150 ms without them).
const CONVERGE_ROUNDS: usize = 2;
/// Busy connections wait this long between attempts (SQLite's default backs off to 25-100 ms
/// sleeps, which turned a 5 ms checkpoint pause into a 100 ms stall of the writer).
const BUSY_POLL: Duration = Duration::from_millis(1);
/// ... and give up after this many attempts (about 5 s, like `busy_timeout=5000`).
const BUSY_ATTEMPTS: i32 = 5_000;

/// The secondary indexes live in their own file beside the database (`<db>-index`): they are
/// derived from `items` (every item row carries its index keys), so that file is written without
/// fsync, and rebuilt from `items` whenever it is found behind the backlog it was trimmed from.
const INDEX_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS idx.gsi1 (
    ipk TEXT NOT NULL, isk TEXT NOT NULL, pk TEXT NOT NULL, sk TEXT NOT NULL,
    PRIMARY KEY (ipk, isk, pk, sk)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idx.gsi2 (
    ipk TEXT NOT NULL, isk TEXT NOT NULL, pk TEXT NOT NULL, sk TEXT NOT NULL,
    PRIMARY KEY (ipk, isk, pk, sk)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idx.index_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    applied_through INTEGER NOT NULL
);
";

/// `<db>-index`: the file holding the secondary indexes.
pub fn index_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-index");
    PathBuf::from(name)
}

fn attach_index(conn: &Connection, path: &Path) -> rusqlite::Result<()> {
    conn.execute(
        "ATTACH DATABASE ?1 AS idx",
        [index_path(path).to_string_lossy()],
    )?;
    Ok(())
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    body TEXT NOT NULL,
    ver INTEGER NOT NULL,
    expires_at INTEGER,
    gsi1pk TEXT, gsi1sk TEXT,
    gsi2pk TEXT, gsi2sk TEXT,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS index_trimmed (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    through INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS index_backlog (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    pk TEXT NOT NULL, sk TEXT NOT NULL,
    old1pk TEXT, old1sk TEXT, old2pk TEXT, old2sk TEXT,
    new1pk TEXT, new1sk TEXT, new2pk TEXT, new2sk TEXT
);
CREATE TABLE IF NOT EXISTS feed_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    acked INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS items_expiry ON items (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS queue_messages (
    id TEXT PRIMARY KEY,
    queue TEXT NOT NULL,
    dead INTEGER NOT NULL DEFAULT 0,
    body TEXT NOT NULL,
    sent_at_ms INTEGER NOT NULL,
    visible_at_ms INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT
);
CREATE INDEX IF NOT EXISTS queue_visible ON queue_messages (queue, dead, visible_at_ms, sent_at_ms);
CREATE UNIQUE INDEX IF NOT EXISTS queue_receipt ON queue_messages (receipt) WHERE receipt IS NOT NULL;
";

/// How hard SQLite pushes commits to disk (`PRAGMA synchronous`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    /// WAL + `synchronous=NORMAL`: a committed write survives a process crash; an OS crash or
    /// power loss may roll back the last commits. The local default.
    #[default]
    Normal,
    /// `synchronous=FULL`: every commit is fsynced.
    Full,
}

/// A failed group's answer, the same for every job of it.
type GroupFailure = BackendError;
type Completion = Box<dyn FnOnce(Result<(), GroupFailure>) + Send>;
/// A job runs on the writer's connection, or is told there is none (the group could not start);
/// it hands back how to answer its caller and, if it failed after changing rows, why.
type Job = Box<dyn FnOnce(Option<&Connection>) -> (Completion, Option<StoreError>) + Send>;

struct Inner {
    path: PathBuf,
    jobs: Mutex<mpsc::Sender<Job>>,
    readers: Mutex<Vec<Connection>>,
    /// The point reads' connections (busy timeout 0): see [`SqliteDb::read_inline`].
    inline_readers: Mutex<Vec<Connection>>,
    reads: AtomicU64,
    writes: AtomicU64,
    /// Dropped with the last handle, which ends the checkpointer thread.
    _stop_checkpointer: Mutex<mpsc::Sender<()>>,
    /// Catch-up requests to the indexer thread (dropped with the last handle: it ends).
    index_requests: Mutex<mpsc::Sender<index::CatchUp>>,
    /// The change feed's acknowledged position ([`feed::NO_READER`] if it never had a reader):
    /// the writer trims no backlog row after it.
    feed_acked: Arc<AtomicI64>,
}

/// A handle on one SQLite database; cheap to clone.
#[derive(Clone)]
pub struct SqliteDb {
    inner: Arc<Inner>,
}

/// `sqlite <context>` failed because of `err` (a `rusqlite::Error`, an I/O error, a message).
fn unavailable(
    context: &str,
    err: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
) -> StoreError {
    StoreError::Unavailable(BackendError::new(format!("sqlite {context}"), err))
}

impl SqliteDb {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, Durability::default())
    }

    pub fn open_with(path: &Path, durability: Durability) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(|e| unavailable("open", e))?;
        let sync = match durability {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        };
        // Checkpoints run on their own thread (see `run_checkpointer`), never inside a commit.
        // A small page cache keeps each commit's cache bookkeeping cheap; the OS caches the file.
        conn.execute_batch(&format!(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; PRAGMA busy_timeout=5000;
             PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit={WAL_KEEP_BYTES};
             PRAGMA cache_size=-8000;"
        ))
        .map_err(|e| unavailable("configure", e))?;
        conn.busy_handler(Some(wait_briefly))
            .map_err(|e| unavailable("configure busy handler", e))?;
        conn.execute_batch(SCHEMA)
            .map_err(|e| unavailable("create schema", e))?;
        attach_index(&conn, path).map_err(|e| unavailable("attach index", e))?;
        conn.execute_batch(&format!(
            "PRAGMA idx.journal_mode=WAL; PRAGMA idx.synchronous=OFF; PRAGMA idx.cache_size=-16000;
             PRAGMA idx.journal_size_limit={WAL_KEEP_BYTES};"
        ))
        .map_err(|e| unavailable("configure index", e))?;
        conn.execute_batch(INDEX_SCHEMA)
            .map_err(|e| unavailable("create index schema", e))?;
        index::rebuild_if_behind(&conn)?;
        let applied: i64 = conn
            .query_row(
                "SELECT coalesce((SELECT applied_through FROM idx.index_state WHERE id = 1), 0)",
                [],
                |r| r.get(0),
            )
            .map_err(|e| unavailable("read index state", e))?;
        let feed_acked: i64 = conn
            .query_row(
                "SELECT coalesce((SELECT acked FROM feed_state WHERE id = 1), ?1)",
                [feed::NO_READER],
                |r| r.get(0),
            )
            .map_err(|e| unavailable("read feed state", e))?;
        let feed_acked = Arc::new(AtomicI64::new(feed_acked));
        // The writer works on the main file only: a transaction of its never locks the index file.
        conn.execute_batch("DETACH DATABASE idx")
            .map_err(|e| unavailable("detach index", e))?;

        let applied = Arc::new(AtomicI64::new(applied));
        let (index_requests, requests) = mpsc::channel::<index::CatchUp>();
        let (indexer_path, indexer_applied) = (path.to_path_buf(), applied.clone());
        std::thread::Builder::new()
            .name("sqlite-indexer".into())
            .spawn(move || index::run_indexer(&indexer_path, requests, indexer_applied))
            .map_err(|e| unavailable("start indexer", e))?;

        let (stop, stopped) = mpsc::channel::<()>();
        let checkpoint_path = path.to_path_buf();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run_checkpointer(&checkpoint_path, stopped))
            .map_err(|e| unavailable("start checkpointer", e))?;
        let (sender, receiver) = mpsc::channel::<Job>();
        let writer_feed = feed_acked.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run_writer(conn, receiver, applied, writer_feed))
            .map_err(|e| unavailable("start writer", e))?;

        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                jobs: Mutex::new(sender),
                readers: Mutex::new(Vec::new()),
                inline_readers: Mutex::new(Vec::new()),
                reads: AtomicU64::new(0),
                writes: AtomicU64::new(0),
                _stop_checkpointer: Mutex::new(stop),
                index_requests: Mutex::new(index_requests),
                feed_acked,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    pub fn table(&self) -> SqliteTable {
        SqliteTable::new(self.clone())
    }

    pub fn queue(&self, name: &str) -> SqliteQueue {
        SqliteQueue::new(self.clone(), name)
    }

    fn op_counts(&self) -> OpCounts {
        OpCounts {
            reads: self.inner.reads.load(Ordering::Relaxed),
            writes: self.inner.writes.load(Ordering::Relaxed),
        }
    }

    /// Runs `work` on the writer thread and answers once committed. `work` must check its
    /// conditions before it writes: an `Err` after it changed rows fails its whole group.
    async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.inner.writes.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();

        let job: Job = Box::new(move |conn| {
            // A job that failed after changing rows spoils its group: its error becomes the
            // group's cause, and it is answered with the group's failure like the others.
            let (outcome, spoiled) = match conn {
                Some(conn) => {
                    let before = conn.total_changes();
                    match work(conn) {
                        Err(e) if conn.total_changes() != before => (None, Some(e)),
                        outcome => (Some(outcome), None),
                    }
                }
                None => (
                    Some(Err(unavailable("writer", "could not begin a transaction"))),
                    None,
                ),
            };
            let completion: Completion = Box::new(move |committed| {
                let result = match (committed, outcome) {
                    (Ok(()), Some(outcome)) => outcome,
                    (Err(failure), _) => Err(StoreError::Unavailable(failure)),
                    // Not reached: a spoiled group is never committed.
                    (Ok(()), None) => Err(unavailable("writer", "a job failed midway")),
                };
                let _ = reply.send(result);
            });
            (completion, spoiled)
        });
        {
            let jobs = self
                .inner
                .jobs
                .lock()
                .map_err(|_| unavailable("writer", "poisoned"))?;
            jobs.send(job)
                .map_err(|_| unavailable("writer", "stopped"))?;
        }
        answer
            .await
            .map_err(|_| unavailable("writer", "dropped the job"))?
    }

    /// Runs `work` on a pooled read connection off the async threads (a counted read).
    async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.inner.reads.fetch_add(1, Ordering::Relaxed);
        self.on_reader(work).await
    }

    async fn on_reader<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let conn = db.take_reader()?;
            let result = work(&conn);
            db.give_back_reader(conn);
            result
        })
        .await
        .map_err(|e| unavailable("read task", e))?
    }

    /// Runs a short read on the caller's thread (a counted read), or says `None` when it should
    /// go the blocking-thread way ([`Self::read`]) instead: the database was busy (the
    /// connection's busy timeout is 0, so the caller's thread never waits on a lock) or no
    /// connection could be opened. A warm point read takes a few microseconds, less than handing
    /// it to a blocking thread and being woken with its answer; this is how the webhooks' two
    /// reads and the worker's six per booking avoid four and twelve thread wake-ups.
    pub(crate) fn read_inline<T>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Option<rusqlite::Result<T>> {
        let pooled = self
            .inner
            .inline_readers
            .lock()
            .ok()
            .and_then(|mut pool| pool.pop());
        let conn = match pooled {
            Some(conn) => conn,
            None => self.open_reader(Duration::ZERO).ok()?,
        };
        let result = work(&conn);
        if let Ok(mut pool) = self.inner.inline_readers.lock() {
            if pool.len() < READ_POOL {
                pool.push(conn);
            }
        }
        match result {
            Err(rusqlite::Error::SqliteFailure(err, _))
                if matches!(
                    err.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                None
            }
            result => {
                self.inner.reads.fetch_add(1, Ordering::Relaxed);
                Some(result)
            }
        }
    }

    /// Waits until the indexer has applied every write answered so far (housekeeping: not
    /// counted as a read or a write).
    async fn bring_indexes_up_to_date(&self) -> Result<(), StoreError> {
        let Some(target) = self.on_reader(index::catch_up_target).await? else {
            return Ok(());
        };
        let (reply, answer) = oneshot::channel();
        self.inner
            .index_requests
            .lock()
            .map_err(|_| unavailable("indexer", "poisoned"))?
            .send((target, reply))
            .map_err(|_| unavailable("indexer", "stopped"))?;
        answer
            .await
            .map_err(|_| unavailable("indexer", "dropped the request"))?
            .map_err(|failure| {
                StoreError::Unavailable(BackendError::shared("sqlite index", failure))
            })
    }

    fn take_reader(&self) -> Result<Connection, StoreError> {
        let pooled = self
            .inner
            .readers
            .lock()
            .ok()
            .and_then(|mut pool| pool.pop());
        match pooled {
            Some(conn) => Ok(conn),
            None => self.open_reader(Duration::from_secs(5)),
        }
    }

    /// A read-only connection with the index file attached, waiting at most `busy` for a lock.
    fn open_reader(&self, busy: Duration) -> Result<Connection, StoreError> {
        let conn = Connection::open_with_flags(
            &self.inner.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| unavailable("open reader", e))?;
        conn.busy_timeout(busy)
            .map_err(|e| unavailable("configure reader", e))?;
        attach_index(&conn, &self.inner.path)
            .map_err(|e| unavailable("attach index to reader", e))?;
        Ok(conn)
    }

    fn give_back_reader(&self, conn: Connection) {
        if let Ok(mut pool) = self.inner.readers.lock() {
            if pool.len() < READ_POOL {
                pool.push(conn);
            }
        }
    }

    /// Deletes expired items (readers already ignore them); returns how many went.
    pub async fn purge_expired(&self) -> Result<usize, StoreError> {
        let now = linkledger_store::ports::table::now_unix();
        self.write(move |conn| {
            // Their index entries go through the backlog like any other delete.
            conn.execute(
                "INSERT INTO index_backlog (pk, sk, old1pk, old1sk, old2pk, old2sk)
                 SELECT pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk FROM items
                 WHERE expires_at IS NOT NULL AND expires_at <= ?1",
                [now],
            )
            .and_then(|_| {
                conn.execute(
                    "DELETE FROM items WHERE expires_at IS NOT NULL AND expires_at <= ?1",
                    [now],
                )
            })
            .map_err(|e| unavailable("purge", e))
        })
        .await
    }
}

/// Runs one group of jobs in one transaction and answers each once it is committed (or, if a
/// job failed after changing rows, once the group is rolled back).
fn commit_group(conn: &Connection, group: Vec<Job>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let failure = BackendError::new("sqlite begin", e);
        for job in group {
            job(None).0(Err(failure.clone()));
        }
        return;
    }
    let mut spoiled = None;
    let mut completions: Vec<Completion> = Vec::with_capacity(group.len());
    for job in group {
        let (completion, failed_midway) = job(Some(conn));
        completions.push(completion);
        spoiled = spoiled.or(failed_midway);
    }
    let committed = match spoiled {
        Some(cause) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(BackendError::new(
                "sqlite group rolled back: a job failed midway",
                cause,
            ))
        }
        None => conn.execute_batch("COMMIT").map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            BackendError::new("sqlite commit", e)
        }),
    };
    if let Err(failure) = &committed {
        tracing::error!(error = %ErrorChain(failure), jobs = completions.len(), "group commit failed");
    }
    for completion in completions {
        completion(committed.clone());
    }
}

/// Drops the backlog entries the indexer has applied, in a transaction of their own.
fn trim_index_backlog(conn: &Connection, through: i64) {
    let trimmed = conn
        .execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| unavailable("begin", e))
        .and_then(|()| index::trim(conn, through))
        .and_then(|()| {
            conn.execute_batch("COMMIT")
                .map_err(|e| unavailable("commit", e))
        });
    if let Err(e) = trimmed {
        let _ = conn.execute_batch("ROLLBACK");
        tracing::warn!(error = %ErrorChain(&e), "trimming the index backlog failed; retrying later");
    }
}

/// The jobs of one group: `first` and everything already waiting; when `busy` and that is fewer
/// than [`GATHER_MIN`], the writer sleeps [`GATHER`] once and takes what arrived meanwhile (one
/// sleep rather than a wait per arrival: senders never have to wake a sleeping writer).
fn gather(first: Job, jobs: &mpsc::Receiver<Job>, busy: bool) -> Vec<Job> {
    let mut group = vec![first];
    group.extend(jobs.try_iter().take(MAX_GROUP - 1));
    if busy && group.len() < GATHER_MIN {
        std::thread::sleep(GATHER);
        group.extend(jobs.try_iter().take(MAX_GROUP.saturating_sub(group.len())));
    }
    group
}

/// SQLite busy handler: retry every [`BUSY_POLL`], up to [`BUSY_ATTEMPTS`] times.
fn wait_briefly(attempt: i32) -> bool {
    if attempt >= BUSY_ATTEMPTS {
        return false;
    }
    std::thread::sleep(BUSY_POLL);
    true
}

fn run_writer(
    conn: Connection,
    jobs: mpsc::Receiver<Job>,
    applied: Arc<AtomicI64>,
    feed_acked: Arc<AtomicI64>,
) {
    let mut trimmed = 0;
    let mut last_trim = Instant::now();
    let mut last_commit = Instant::now();
    loop {
        match jobs.recv_timeout(TRIM_EVERY) {
            Ok(first) => {
                let busy = last_commit.elapsed() < BUSY_WITHIN;
                let group = gather(first, &jobs, busy);
                let (jobs, started) = (group.len(), Instant::now());
                commit_group(&conn, group);
                last_commit = Instant::now();
                if started.elapsed() > SLOW {
                    tracing::warn!(
                        jobs,
                        ms = started.elapsed().as_millis() as u64,
                        "slow group commit"
                    );
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        // Only rows the indexer applied and the change feed's reader acknowledged go.
        let through = applied
            .load(Ordering::Acquire)
            .min(feed_acked.load(Ordering::Acquire));
        if through > trimmed && last_trim.elapsed() >= TRIM_EVERY {
            trim_index_backlog(&conn, through);
            trimmed = through;
            last_trim = Instant::now();
        }
    }
}

/// Copies the WAL back into the database off the writer's path. A passive checkpoint (never
/// blocks the writer) does the bulk of the copying; once the WAL passes [`WAL_RESET_PAGES`],
/// the database file is fsynced from here and [`CONVERGE_ROUNDS`] more passive checkpoints and
/// fsyncs catch up with what the writer added meanwhile, then a `RESTART` checkpoint (which
/// holds the writer) copies and syncs the few frames left and lets the WAL start over, so it
/// stays bounded and that pause is short.
fn run_checkpointer(path: &Path, stop: mpsc::Receiver<()>) {
    let Ok(conn) = Connection::open(path) else {
        return;
    };
    if conn.busy_handler(Some(wait_briefly)).is_err()
        || attach_index(&conn, path).is_err()
        || conn
            .execute_batch("PRAGMA main.synchronous=NORMAL; PRAGMA idx.synchronous=OFF;")
            .is_err()
    {
        return;
    }
    let checkpoint = |mode: &str| -> rusqlite::Result<i64> {
        conn.query_row(&format!("PRAGMA main.wal_checkpoint({mode})"), [], |r| {
            r.get::<_, i64>(1)
        })
    };
    // The index file is never fsynced: its checkpoints only move pages into the OS cache.
    let checkpoint_index = |mode: &str| -> rusqlite::Result<i64> {
        conn.query_row(&format!("PRAGMA idx.wal_checkpoint({mode})"), [], |r| {
            r.get::<_, i64>(1)
        })
    };
    loop {
        match stop.recv_timeout(CHECKPOINT_EVERY) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        match checkpoint_index("PASSIVE") {
            Ok(pages) if pages > INDEX_WAL_RESET_PAGES => {
                if let Err(e) = checkpoint_index("RESTART") {
                    tracing::warn!(error = %e, "index restart checkpoint failed");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "index checkpoint failed"),
        }
        let wal_pages = match checkpoint("PASSIVE") {
            Ok(pages) => pages,
            Err(e) => {
                tracing::warn!(error = %e, "checkpoint failed");
                continue;
            }
        };
        if wal_pages > WAL_RESET_PAGES {
            tracing::debug!(wal_pages, "resetting the WAL");
            let sync_database = || {
                if let Ok(file) = std::fs::File::open(path) {
                    let _ = file.sync_data();
                }
            };
            sync_database();
            for _ in 0..CONVERGE_ROUNDS {
                if let Err(e) = checkpoint("PASSIVE") {
                    tracing::warn!(error = %e, "checkpoint failed");
                }
                sync_database();
            }
            let started = Instant::now();
            if let Err(e) = checkpoint("RESTART") {
                tracing::warn!(error = %e, "restart checkpoint failed");
            }
            if started.elapsed() > SLOW {
                tracing::warn!(ms = started.elapsed().as_millis() as u64, "slow WAL reset");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_db() -> SqliteDb {
        let name = format!(
            "linkledger-writer-{}.db",
            linkledger_core::ids::random_token(9)
        );
        SqliteDb::open(&std::env::temp_dir().join(name)).expect("open a temp database")
    }

    fn insert(conn: &Connection, pk: &str) -> Result<(), StoreError> {
        conn.execute(
            "INSERT INTO items (pk, sk, body, ver) VALUES (?1, 'sk', '{}', 1)",
            [pk],
        )
        .map(|_| ())
        .map_err(|e| unavailable("test insert", e))
    }

    async fn items(db: &SqliteDb) -> i64 {
        db.read(|conn| {
            conn.query_row("SELECT count(*) FROM items", [], |r| r.get(0))
                .map_err(|e| unavailable("test count", e))
        })
        .await
        .expect("count items")
    }

    #[tokio::test]
    async fn a_job_failing_after_it_wrote_is_undone_and_answered_unavailable() {
        let db = temp_db();
        let err = db
            .write(|conn| {
                insert(conn, "a")?;
                Err::<(), _>(StoreError::Invalid("fails midway".into()))
            })
            .await
            .expect_err("the job failed");
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        assert_eq!(items(&db).await, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jobs_failing_before_they_write_leave_their_group_alone() {
        let db = temp_db();
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.write(move |conn| {
                        if i % 2 == 0 {
                            return Err(StoreError::ConditionFailed { index: 0 });
                        }
                        insert(conn, &format!("k{i}"))
                    })
                    .await
                })
            })
            .collect();
        for (i, task) in tasks.into_iter().enumerate() {
            let result = task.await.expect("task ran");
            if i % 2 == 0 {
                assert!(matches!(
                    result,
                    Err(StoreError::ConditionFailed { index: 0 })
                ));
            } else {
                assert!(result.is_ok(), "{result:?}");
            }
        }
        assert_eq!(items(&db).await, 32);
    }
}
