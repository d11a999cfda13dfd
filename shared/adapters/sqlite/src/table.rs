use std::collections::HashSet;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{unavailable, SqliteDb};
use linkledger_store::ports::table::now_unix;
use linkledger_store::ports::{
    Condition, Index, IndexKey, Item, Key, OpCounts, Page, Query, SkRange, StoreError, Table,
    WriteOp,
};

/// Largest transaction, as in DynamoDB's `TransactWriteItems`.
/// Writes one transaction may hold here. More than DynamoDB's 100 (`MAX_TRANSACTION_WRITES`)
/// only for a caller that asks [`Table::max_transaction_writes`] (the local stats roll-up).
const MAX_TRANSACT: usize = 5_000;
/// Every string with a given prefix sorts below `prefix + PREFIX_END` (keys never hold U+10FFFF).
const PREFIX_END: char = '\u{10FFFF}';

#[derive(Clone)]
pub struct SqliteTable {
    db: SqliteDb,
}

impl SqliteTable {
    pub(super) fn new(db: SqliteDb) -> Self {
        Self { db }
    }

    pub fn db(&self) -> &SqliteDb {
        &self.db
    }
}

const COLUMNS: &str = "pk, sk, body, ver, expires_at, gsi1pk, gsi1sk, gsi2pk, gsi2sk";

fn item_from_row(row: &Row<'_>) -> rusqlite::Result<Item> {
    let index = |pk: Option<String>, sk: Option<String>| match (pk, sk) {
        (Some(pk), Some(sk)) => Some(IndexKey { pk, sk }),
        _ => None,
    };
    let version: i64 = row.get(3)?;
    Ok(Item {
        key: Key {
            pk: row.get(0)?,
            sk: row.get(1)?,
        },
        body: row.get(2)?,
        version: u64::try_from(version).unwrap_or_default(),
        expires_at: row.get(4)?,
        gsi1: index(row.get(5)?, row.get(6)?),
        gsi2: index(row.get(7)?, row.get(8)?),
    })
}

fn load(conn: &Connection, key: &Key, now: i64) -> Result<Option<Item>, StoreError> {
    load_row(conn, key, now).map_err(|e| unavailable("get", e))
}

fn load_row(conn: &Connection, key: &Key, now: i64) -> rusqlite::Result<Option<Item>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM items WHERE pk = ?1 AND sk = ?2 AND (expires_at IS NULL OR expires_at > ?3)"
    ))
    .and_then(|mut stmt| stmt.query_row(params![key.pk, key.sk, now], item_from_row).optional())
}

fn holds(conn: &Connection, key: &Key, condition: Condition, now: i64) -> Result<bool, StoreError> {
    if condition == Condition::None {
        return Ok(true);
    }
    let stored: Option<i64> = conn
        .prepare_cached(
            "SELECT ver FROM items WHERE pk = ?1 AND sk = ?2 AND (expires_at IS NULL OR expires_at > ?3)",
        )
        .and_then(|mut stmt| stmt.query_row(params![key.pk, key.sk, now], |r| r.get(0)).optional())
        .map_err(|e| unavailable("condition", e))?;
    Ok(match condition {
        Condition::None => true,
        Condition::NotExists => stored.is_none(),
        Condition::Exists => stored.is_some(),
        Condition::VersionIs(v) => stored.and_then(|s| u64::try_from(s).ok()) == Some(v),
    })
}

/// The index keys an item had, for the backlog entry that keeps the index tables true.
type IndexKeys = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);
/// An item without index keys (or no item at all).
const NO_INDEX_KEYS: IndexKeys = (None, None, None, None);

fn stored_index_keys(conn: &Connection, key: &Key) -> Result<Option<IndexKeys>, StoreError> {
    conn.prepare_cached(
        "SELECT gsi1pk, gsi1sk, gsi2pk, gsi2sk FROM items WHERE pk = ?1 AND sk = ?2",
    )
    .and_then(|mut stmt| {
        stmt.query_row(params![key.pk, key.sk], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()
    })
    .map_err(|e| unavailable("read index keys", e))
}

fn item_index_keys(item: &Item) -> IndexKeys {
    (
        item.gsi1.as_ref().map(|k| k.pk.clone()),
        item.gsi1.as_ref().map(|k| k.sk.clone()),
        item.gsi2.as_ref().map(|k| k.pk.clone()),
        item.gsi2.as_ref().map(|k| k.sk.clone()),
    )
}

/// Notes that `key`'s index entries move from `old` to `new` (see `super::index`).
fn note_index_change(
    conn: &Connection,
    key: &Key,
    old: &IndexKeys,
    new: &IndexKeys,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO index_backlog (pk, sk, old1pk, old1sk, old2pk, old2sk, new1pk, new1sk, new2pk, new2sk)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![key.pk, key.sk, old.0, old.1, old.2, old.3, new.0, new.1, new.2, new.3])
    })
    .map_err(|e| unavailable("index backlog", e))?;
    Ok(())
}

fn store(conn: &Connection, item: &Item) -> Result<(), StoreError> {
    let version = i64::try_from(item.version)
        .map_err(|_| StoreError::Invalid(format!("version {} too large", item.version)))?;
    let new_keys = item_index_keys(item);
    let write = |sql: &str| {
        conn.prepare_cached(sql)
            .and_then(|mut stmt| {
                stmt.execute(params![
                    item.key.pk,
                    item.key.sk,
                    item.body,
                    version,
                    item.expires_at,
                    new_keys.0,
                    new_keys.1,
                    new_keys.2,
                    new_keys.3,
                ])
            })
            .map_err(|e| unavailable("put", e))
    };
    // Most puts create (every click does): try the insert alone first, one B-tree descent.
    let inserted = write(&format!(
        "INSERT INTO items ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (pk, sk) DO NOTHING"
    ))?;
    let old_keys = if inserted == 1 {
        NO_INDEX_KEYS
    } else {
        // An item (possibly expired, not yet purged) is there: replace it, and its index
        // entries move from its keys to the new ones.
        let old_keys = stored_index_keys(conn, &item.key)?.unwrap_or(NO_INDEX_KEYS);
        write(&format!(
            "INSERT OR REPLACE INTO items ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        ))?;
        old_keys
    };
    // The stats' change feed reads the backlog: a counted record's every write goes there.
    if old_keys != new_keys || crate::feed::is_source(&item.key.pk) {
        note_index_change(conn, &item.key, &old_keys, &new_keys)?;
    }
    Ok(())
}

fn remove(conn: &Connection, key: &Key) -> Result<(), StoreError> {
    let Some(old_keys) = stored_index_keys(conn, key)? else {
        return Ok(());
    };
    conn.prepare_cached("DELETE FROM items WHERE pk = ?1 AND sk = ?2")
        .and_then(|mut stmt| stmt.execute(params![key.pk, key.sk]))
        .map_err(|e| unavailable("delete", e))?;
    if old_keys != NO_INDEX_KEYS {
        note_index_change(conn, key, &old_keys, &NO_INDEX_KEYS)?;
    }
    Ok(())
}

fn op_key(op: &WriteOp) -> &Key {
    match op {
        WriteOp::Put { item, .. } => &item.key,
        WriteOp::Delete { key, .. } | WriteOp::Check { key, .. } => key,
    }
}

/// Cursor: the last row's (index sort key, pk, sk), so that equal index keys page correctly.
fn encode_cursor(item: &Item, index: Index) -> String {
    let index_sk = match index {
        Index::Primary => &item.key.sk,
        Index::Gsi1 => item.gsi1.as_ref().map_or(&item.key.sk, |k| &k.sk),
        Index::Gsi2 => item.gsi2.as_ref().map_or(&item.key.sk, |k| &k.sk),
    };
    let parts = [
        index_sk.as_str(),
        item.key.pk.as_str(),
        item.key.sk.as_str(),
    ];
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&parts).unwrap_or_default())
}

fn decode_cursor(cursor: &str) -> Result<[String; 3], StoreError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::InvalidCursor)?;
    serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)
}

fn run_query(conn: &Connection, query: &Query, now: i64) -> Result<Page, StoreError> {
    // The primary index is the items table; a secondary one is its index table joined back.
    let (from, ipk, isk) = match query.index {
        Index::Primary => ("items i".to_string(), "i.pk", "i.sk"),
        Index::Gsi1 => (
            "idx.gsi1 g JOIN items i ON i.pk = g.pk AND i.sk = g.sk".to_string(),
            "g.ipk",
            "g.isk",
        ),
        Index::Gsi2 => (
            "idx.gsi2 g JOIN items i ON i.pk = g.pk AND i.sk = g.sk".to_string(),
            "g.ipk",
            "g.isk",
        ),
    };
    let columns = COLUMNS
        .split(", ")
        .map(|c| format!("i.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut sql = format!(
        "SELECT {columns} FROM {from} WHERE {ipk} = ?1 AND (i.expires_at IS NULL OR i.expires_at > ?2)"
    );
    let mut args: Vec<String> = vec![query.pk.clone()];
    match &query.range {
        SkRange::All => {}
        SkRange::Prefix(prefix) => {
            sql.push_str(&format!(" AND {isk} >= ?3 AND {isk} < ?4"));
            args.push(prefix.clone());
            args.push(format!("{prefix}{PREFIX_END}"));
        }
        SkRange::Between { from, to } => {
            sql.push_str(&format!(" AND {isk} >= ?3 AND {isk} < ?4"));
            args.push(from.clone());
            args.push(to.clone());
        }
    }
    let (cmp, order) = if query.descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    if let Some(cursor) = &query.after {
        let [csk, cpk, csk2] = decode_cursor(cursor)?;
        // Parameters bound so far: the args plus `now`.
        let n = args.len().saturating_add(1);
        if query.index == Index::Primary {
            sql.push_str(&format!(" AND i.sk {cmp} ?{}", n.saturating_add(1)));
            args.push(csk2);
        } else {
            sql.push_str(&format!(
                " AND ({isk}, g.pk, g.sk) {cmp} (?{}, ?{}, ?{})",
                n.saturating_add(1),
                n.saturating_add(2),
                n.saturating_add(3)
            ));
            args.extend([csk, cpk, csk2]);
        }
    }
    let order_by = if query.index == Index::Primary {
        format!("i.sk {order}")
    } else {
        format!("{isk} {order}, g.pk {order}, g.sk {order}")
    };
    sql.push_str(&format!(
        " ORDER BY {order_by} LIMIT {}",
        query.limit.saturating_add(1)
    ));

    let mut stmt = conn
        .prepare_cached(&sql)
        .map_err(|e| unavailable("query", e))?;
    let mut bound: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(args.len().saturating_add(1));
    bound.push(&args[0]);
    bound.push(&now);
    for arg in &args[1..] {
        bound.push(arg);
    }
    let mut items = stmt
        .query_map(bound.as_slice(), item_from_row)
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<Item>>>())
        .map_err(|e| unavailable("query", e))?;
    let next = if items.len() > query.limit {
        items.truncate(query.limit);
        items.last().map(|last| encode_cursor(last, query.index))
    } else {
        None
    };
    Ok(Page { items, next })
}

#[async_trait]
impl Table for SqliteTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let now = now_unix();
        if let Some(found) = self.db.read_inline(|conn| load_row(conn, key, now)) {
            return found.map_err(|e| unavailable("get", e));
        }
        let key = key.clone();
        self.db.read(move |conn| load(conn, &key, now)).await
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        self.db
            .write(move |conn| {
                if !holds(conn, &item.key, condition, now_unix())? {
                    return Err(StoreError::ConditionFailed { index: 0 });
                }
                store(conn, &item)
            })
            .await
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        if ops.is_empty() || ops.len() > MAX_TRANSACT {
            return Err(StoreError::Invalid(format!(
                "a transaction holds 1 to {MAX_TRANSACT} writes, not {}",
                ops.len()
            )));
        }
        let mut keys = HashSet::new();
        if !ops.iter().all(|op| keys.insert(op_key(op).clone())) {
            return Err(StoreError::Invalid(
                "two writes on one key in a transaction".into(),
            ));
        }
        self.db
            .write(move |conn| {
                let now = now_unix();
                // Check every condition first, as DynamoDB does, then write.
                for (index, op) in ops.iter().enumerate() {
                    let condition = match op {
                        WriteOp::Put { condition, .. }
                        | WriteOp::Delete { condition, .. }
                        | WriteOp::Check { condition, .. } => *condition,
                    };
                    if !holds(conn, op_key(op), condition, now)? {
                        return Err(StoreError::ConditionFailed { index });
                    }
                }
                for op in &ops {
                    match op {
                        WriteOp::Put { item, .. } => store(conn, item)?,
                        WriteOp::Delete { key, .. } => remove(conn, key)?,
                        WriteOp::Check { .. } => {}
                    }
                }
                Ok(())
            })
            .await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        if query.index != Index::Primary {
            // Secondary indexes are maintained in batches; bring them up to date first, so a
            // query always sees every write answered before it.
            self.db.bring_indexes_up_to_date().await?;
        }
        let query = query.clone();
        self.db
            .read(move |conn| run_query(conn, &query, now_unix()))
            .await
    }

    fn max_transaction_writes(&self) -> usize {
        MAX_TRANSACT
    }

    fn op_counts(&self) -> OpCounts {
        self.db.op_counts()
    }
}
