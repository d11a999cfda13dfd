//! The change feed of the stats roll-up: the writes of the records the stats count, in commit
//! order, read from `index_backlog` (where every write of such a record leaves a row, even one
//! that does not move its index keys; see `table::store`).
//!
//! The backlog only ever grows at its end and has one writer, so its positions are commit order
//! and a reader sees a prefix of it. Once a reader has acknowledged a position
//! ([`SqliteDb::ack_changes`]), the writer keeps every row after it (it trims only what both the
//! indexer applied and the feed's reader acknowledged); with no reader ever registered, trimming
//! follows the indexer alone.

use std::sync::atomic::Ordering;

use rusqlite::params;

use linkledger_store::ports::{Key, StoreError};
use linkledger_store::stats::{Change, SOURCE_PREFIXES};

use crate::{unavailable, SqliteDb};

/// No reader has acknowledged anything: trimming is not held back.
pub(crate) const NO_READER: i64 = i64::MAX;

/// Whether writes under `pk` belong on the feed.
pub(crate) fn is_source(pk: &str) -> bool {
    SOURCE_PREFIXES.iter().any(|prefix| pk.starts_with(prefix))
}

/// What one read of the feed found: the changes of counted records, and the position it read
/// through (past rows of other records, which a reader may acknowledge once its changes are in).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub changes: Vec<Change>,
    pub through: u64,
    /// Backlog rows read (counted records' or not): fewer than asked means the end was reached.
    pub rows: usize,
}

impl SqliteDb {
    /// Up to `limit` backlog rows after position `after`, the counted records' among them.
    pub async fn changes(&self, after: u64, limit: usize) -> Result<Changes, StoreError> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT seq, pk, sk FROM index_backlog WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                )
                .map_err(|e| unavailable("read changes", e))?;
            let rows = stmt
                .query_map(params![after, limit], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })
                .map_err(|e| unavailable("read changes", e))?;
            let mut out = Changes {
                changes: Vec::new(),
                through: u64::try_from(after).unwrap_or(0),
                rows: 0,
            };
            for row in rows {
                let (seq, pk, sk) = row.map_err(|e| unavailable("read changes", e))?;
                let position = u64::try_from(seq).unwrap_or(0);
                out.through = out.through.max(position);
                out.rows = out.rows.saturating_add(1);
                if is_source(&pk) {
                    out.changes.push(Change {
                        position,
                        key: Key::new(pk, sk),
                    });
                }
            }
            Ok(out)
        })
        .await
    }

    /// The feed's reader has counted everything through `position`: the writer may trim it.
    pub async fn ack_changes(&self, position: u64) -> Result<(), StoreError> {
        let position = i64::try_from(position).unwrap_or(i64::MAX - 1);
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO feed_state (id, acked) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET acked = max(acked, excluded.acked)",
            )
            .and_then(|mut stmt| stmt.execute([position]))
            .map_err(|e| unavailable("ack changes", e))?;
            Ok(())
        })
        .await?;
        let acked = &self.inner.feed_acked;
        let before = acked.load(Ordering::Acquire);
        let next = if before == NO_READER {
            position
        } else {
            before.max(position)
        };
        acked.store(next, Ordering::Release);
        Ok(())
    }
}
