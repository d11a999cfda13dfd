//! Secondary indexes, maintained in batches.
//!
//! A write does not touch the index tables: it appends its key (and the index keys the item had
//! before) to `index_backlog`, which only ever grows at its end. The writer applies the backlog
//! in one transaction at most every [`APPLY_EVERY`], and before any secondary-index query (so
//! queries still see every write answered before them). Each hot index page is then written once
//! per batch instead of once per commit: under a flood of clicks on many links this is what keeps
//! SQLite's write volume, and so the redirect's latency, down.

use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

use super::unavailable;
use crate::ports::StoreError;

/// Longest a write waits before its index entries exist (queries never wait: they apply first).
pub const APPLY_EVERY: Duration = Duration::from_millis(500);

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
        format!("INSERT OR IGNORE INTO {table} (ipk, isk, pk, sk) VALUES (?1, ?2, ?3, ?4)")
    } else {
        format!("DELETE FROM {table} WHERE ipk = ?1 AND isk = ?2 AND pk = ?3 AND sk = ?4")
    };
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| stmt.execute(params![ipk, isk, pk, sk]))
        .map_err(|e| unavailable("index entry", e))?;
    Ok(())
}

/// Applies every backlog entry: drop the old index entries, add the current ones. Idempotent
/// per key, so entries for the same key in any order leave the indexes right.
pub fn apply_backlog(conn: &Connection) -> Result<usize, StoreError> {
    type Entry = (i64, String, String, Keys, Keys);
    let entries: Vec<Entry> = conn
        .prepare_cached(
            "SELECT seq, pk, sk, old1pk, old1sk, old2pk, old2sk FROM index_backlog ORDER BY seq",
        )
        .and_then(|mut stmt| {
            stmt.query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    (r.get(3)?, r.get(4)?),
                    (r.get(5)?, r.get(6)?),
                ))
            })
            .and_then(|rows| rows.collect())
        })
        .map_err(|e| unavailable("read index backlog", e))?;
    let Some(last) = entries.last().map(|e| e.0) else {
        return Ok(0);
    };
    for (_, pk, sk, old1, old2) in &entries {
        index_entry(conn, "gsi1", old1, pk, sk, false)?;
        index_entry(conn, "gsi2", old2, pk, sk, false)?;
        let current: Option<(Keys, Keys)> = conn
            .prepare_cached(
                "SELECT gsi1pk, gsi1sk, gsi2pk, gsi2sk FROM items WHERE pk = ?1 AND sk = ?2",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![pk, sk], |r| {
                    Ok(((r.get(0)?, r.get(1)?), (r.get(2)?, r.get(3)?)))
                })
                .optional()
            })
            .map_err(|e| unavailable("read index keys", e))?;
        if let Some((new1, new2)) = current {
            index_entry(conn, "gsi1", &new1, pk, sk, true)?;
            index_entry(conn, "gsi2", &new2, pk, sk, true)?;
        }
    }
    conn.prepare_cached("DELETE FROM index_backlog WHERE seq <= ?1")
        .and_then(|mut stmt| stmt.execute([last]))
        .map_err(|e| unavailable("trim index backlog", e))?;
    Ok(entries.len())
}

pub fn backlog_is_empty(conn: &Connection) -> bool {
    conn.prepare_cached("SELECT NOT EXISTS (SELECT 1 FROM index_backlog)")
        .and_then(|mut stmt| stmt.query_row([], |r| r.get(0)))
        .unwrap_or(false)
}
