//! Secondary indexes, maintained in batches.
//!
//! A write does not touch the index tables: it appends its key (and the index keys the item had
//! before) to `index_backlog`, which only ever grows at its end. The writer applies the backlog
//! in one transaction at most every [`APPLY_EVERY`], and before any secondary-index query (so
//! queries still see every write answered before them). Each hot index page is then written once
//! per batch instead of once per commit: under a flood of clicks on many links this is what keeps
//! SQLite's write volume, and so the redirect's latency, down.

use std::time::Duration;

use rusqlite::{params, Connection};

use super::unavailable;
use crate::ports::StoreError;

/// Longest a write waits before its index entries exist (queries never wait: they apply first).
pub const APPLY_EVERY: Duration = Duration::from_millis(500);
/// A backlog this long is applied without waiting for `APPLY_EVERY`.
pub const APPLY_AT: usize = 2_000;
/// Most entries applied in one transaction, so clicks queued behind it wait briefly.
pub const APPLY_CHUNK: usize = 4_000;

type Keys = (Option<String>, Option<String>);

fn index_entry(
    conn: &Connection,
    table: &str,
    keys: &Keys,
    pk: &str,
    sk: &str,
    insert: bool,
) -> Result<(), StoreError> {
    let (Some(ipk), Some(isk)) = keys else {
        return Ok(());
    };
    let sql = if insert {
        format!("INSERT OR IGNORE INTO idx.{table} (ipk, isk, pk, sk) VALUES (?1, ?2, ?3, ?4)")
    } else {
        format!("DELETE FROM idx.{table} WHERE ipk = ?1 AND isk = ?2 AND pk = ?3 AND sk = ?4")
    };
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| stmt.execute(params![ipk, isk, pk, sk]))
        .map_err(|e| unavailable("index entry", e))?;
    Ok(())
}

/// Applies up to `max` backlog entries, oldest first: drop each old index entry, add each new
/// one. Entries of one key are applied in the order they were written, so the last one wins.
pub fn apply_backlog(conn: &Connection, max: usize) -> Result<usize, StoreError> {
    type Entry = (i64, String, String, [Keys; 4]);
    let entries: Vec<Entry> = conn
        .prepare_cached(
            "SELECT seq, pk, sk, old1pk, old1sk, old2pk, old2sk, new1pk, new1sk, new2pk, new2sk
             FROM index_backlog ORDER BY seq LIMIT ?1",
        )
        .and_then(|mut stmt| {
            stmt.query_map([max as i64], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    [
                        (r.get(3)?, r.get(4)?),
                        (r.get(5)?, r.get(6)?),
                        (r.get(7)?, r.get(8)?),
                        (r.get(9)?, r.get(10)?),
                    ],
                ))
            })
            .and_then(|rows| rows.collect())
        })
        .map_err(|e| unavailable("read index backlog", e))?;
    let Some(last) = entries.last().map(|e| e.0) else {
        return Ok(0);
    };
    for (_, pk, sk, [old1, old2, new1, new2]) in &entries {
        index_entry(conn, "gsi1", old1, pk, sk, false)?;
        index_entry(conn, "gsi2", old2, pk, sk, false)?;
        index_entry(conn, "gsi1", new1, pk, sk, true)?;
        index_entry(conn, "gsi2", new2, pk, sk, true)?;
    }
    // The index file says how far it got; the database says how far it trimmed. If a crash
    // ever leaves the first behind the second, `rebuild_if_behind` notices at the next open.
    conn.prepare_cached(
        "INSERT INTO idx.index_state (id, applied_through) VALUES (1, ?1)
         ON CONFLICT (id) DO UPDATE SET applied_through = excluded.applied_through",
    )
    .and_then(|mut stmt| stmt.execute([last]))
    .and_then(|_| conn.prepare_cached("DELETE FROM index_backlog WHERE seq <= ?1"))
    .and_then(|mut stmt| stmt.execute([last]))
    .and_then(|_| {
        conn.prepare_cached(
            "INSERT INTO index_trimmed (id, through) VALUES (1, ?1)
             ON CONFLICT (id) DO UPDATE SET through = excluded.through",
        )
    })
    .and_then(|mut stmt| stmt.execute([last]))
    .map_err(|e| unavailable("trim index backlog", e))?;
    Ok(entries.len())
}

/// Applies the whole backlog (before a secondary-index query).
pub fn apply_all(conn: &Connection) -> Result<(), StoreError> {
    while apply_backlog(conn, APPLY_CHUNK)? == APPLY_CHUNK {}
    Ok(())
}

/// Entries waiting (from the sequence numbers: rows are only ever trimmed from the front).
pub fn backlog_len(conn: &Connection) -> usize {
    conn.prepare_cached("SELECT coalesce(max(seq) - min(seq) + 1, 0) FROM index_backlog")
        .and_then(|mut stmt| stmt.query_row([], |r| r.get::<_, i64>(0)))
        .map_or(0, |n| usize::try_from(n).unwrap_or(0))
}

/// Rebuilds the index file from `items` when it is missing or behind the trimmed backlog (it is
/// written without fsync, so an OS crash may lose its last transactions). Entries still in the
/// backlog are then applied again, which is harmless: applying is idempotent.
pub fn rebuild_if_behind(conn: &Connection) -> Result<(), StoreError> {
    let number = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0));
    let trimmed = number("SELECT coalesce((SELECT through FROM index_trimmed WHERE id = 1), 0)")
        .map_err(|e| unavailable("read index state", e))?;
    let applied =
        number("SELECT coalesce((SELECT applied_through FROM idx.index_state WHERE id = 1), 0)")
            .map_err(|e| unavailable("read index state", e))?;
    if applied >= trimmed {
        return Ok(());
    }
    tracing::warn!(
        applied,
        trimmed,
        "secondary indexes are behind; rebuilding them from items"
    );
    conn.execute_batch(&format!(
        "BEGIN IMMEDIATE;
         DELETE FROM idx.gsi1; DELETE FROM idx.gsi2;
         INSERT INTO idx.gsi1 (ipk, isk, pk, sk)
             SELECT gsi1pk, gsi1sk, pk, sk FROM items WHERE gsi1pk IS NOT NULL AND gsi1sk IS NOT NULL;
         INSERT INTO idx.gsi2 (ipk, isk, pk, sk)
             SELECT gsi2pk, gsi2sk, pk, sk FROM items WHERE gsi2pk IS NOT NULL AND gsi2sk IS NOT NULL;
         INSERT INTO idx.index_state (id, applied_through) VALUES (1, {trimmed})
             ON CONFLICT (id) DO UPDATE SET applied_through = excluded.applied_through;
         COMMIT;"
    ))
    .map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        unavailable("rebuild indexes", e)
    })
}
