//! The storage port: one table of items addressed by a partition key and a sort key,
//! with two secondary indexes, conditional writes, atomic multi-item writes and TTL.
//!
//! It is shaped after DynamoDB's single-table model on purpose: the AWS adapter maps it
//! one-to-one onto `GetItem`/`PutItem`/`TransactWriteItems`/`Query`, and the SQLite adapter
//! mirrors it with one `items` table and transactions. Every repository in
//! [`crate`] is written once against this trait, so both runtimes share one
//! implementation of every business rule that touches storage.

use async_trait::async_trait;

use super::BackendError;

/// The primary key of an item.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// The key of an item in one secondary index (not unique).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexKey {
    pub pk: String,
    pub sk: String,
}

impl IndexKey {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// One stored item. `body` is the JSON of a domain record; adapters never look inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub key: Key,
    pub gsi1: Option<IndexKey>,
    pub gsi2: Option<IndexKey>,
    /// Unix seconds after which the item no longer exists for readers (DynamoDB TTL).
    pub expires_at: Option<i64>,
    /// Optimistic-concurrency version, checked by [`Condition::VersionIs`].
    pub version: u64,
    pub body: String,
}

impl Item {
    pub fn new(key: Key, body: String) -> Self {
        Self {
            key,
            gsi1: None,
            gsi2: None,
            expires_at: None,
            version: 1,
            body,
        }
    }
    pub fn with_gsi1(mut self, key: IndexKey) -> Self {
        self.gsi1 = Some(key);
        self
    }
    pub fn with_gsi2(mut self, key: IndexKey) -> Self {
        self.gsi2 = Some(key);
        self
    }
    pub fn expiring_at(mut self, unix_seconds: i64) -> Self {
        self.expires_at = Some(unix_seconds);
        self
    }
    pub fn with_version(mut self, version: u64) -> Self {
        self.version = version;
        self
    }
}

/// A condition on the item currently stored under a key. Expired items count as absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    None,
    NotExists,
    Exists,
    VersionIs(u64),
}

/// One write of an atomic [`Table::transact`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOp {
    Put {
        item: Item,
        condition: Condition,
    },
    Delete {
        key: Key,
        condition: Condition,
    },
    /// Writes nothing; the transaction fails unless the condition holds.
    Check {
        key: Key,
        condition: Condition,
    },
}

/// The typed outcome of [`Table::create`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    Created,
    AlreadyExists,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Index {
    Primary,
    Gsi1,
    Gsi2,
}

/// Which sort keys a query returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SkRange {
    All,
    Prefix(String),
    /// `from <= sk < to`
    Between {
        from: String,
        to: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub index: Index,
    pub pk: String,
    pub range: SkRange,
    pub limit: usize,
    pub descending: bool,
    /// Opaque cursor from a previous [`Page::next`].
    pub after: Option<String>,
}

impl Query {
    pub fn new(index: Index, pk: impl Into<String>, range: SkRange) -> Self {
        Self {
            index,
            pk: pk.into(),
            range,
            limit: 100,
            descending: false,
            after: None,
        }
    }
    pub fn prefix(index: Index, pk: impl Into<String>, prefix: impl Into<String>) -> Self {
        Self::new(index, pk, SkRange::Prefix(prefix.into()))
    }
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit.max(1);
        self
    }
    pub fn descending(mut self) -> Self {
        self.descending = true;
        self
    }
    pub fn after(mut self, cursor: Option<String>) -> Self {
        self.after = cursor;
        self
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<Item>,
    /// Present when more items may follow; pass it back as [`Query::after`].
    pub next: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A condition did not hold; for a transaction, `index` names the failing write.
    #[error("condition failed on write {index}")]
    ConditionFailed { index: usize },
    /// Another writer touched the same items at the same time: retry.
    #[error("transaction conflict, retry")]
    Conflict,
    #[error("invalid cursor")]
    InvalidCursor,
    #[error("invalid request to the store: {0}")]
    Invalid(String),
    #[error("corrupt item {pk}/{sk}: {reason}")]
    Corrupt {
        pk: String,
        sk: String,
        reason: String,
    },
    /// The backend failed (I/O, network, throttling): retry later.
    #[error("store unavailable")]
    Unavailable(#[source] BackendError),
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Conflict | StoreError::Unavailable(_))
    }
}

/// Calls made on the backend, for proving cost claims (e.g. one write per redirect).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpCounts {
    pub reads: u64,
    pub writes: u64,
}

/// DynamoDB's limit of writes in one transaction.
pub const MAX_TRANSACTION_WRITES: usize = 100;

#[async_trait]
pub trait Table: Send + Sync + 'static {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;

    /// Writes one item if `condition` holds on what is stored now.
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError>;

    /// Writes all or nothing; fails with the index of the first write whose condition failed.
    /// At most 100 writes, each on a distinct key (DynamoDB's limits).
    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError>;

    async fn query(&self, query: &Query) -> Result<Page, StoreError>;

    /// Backend calls made so far by this handle.
    fn op_counts(&self) -> OpCounts;

    /// The most writes one [`Table::transact`] may hold: DynamoDB's 100 unless an adapter says
    /// more. Only a caller that batches by it asks (the local stats roll-up); every other
    /// transaction stays within 100, so what passes on SQLite passes on DynamoDB.
    fn max_transaction_writes(&self) -> usize {
        MAX_TRANSACTION_WRITES
    }

    /// Create-if-absent, with "already exists" as an outcome rather than an error.
    async fn create(&self, item: Item) -> Result<Created, StoreError> {
        match self.put(item, Condition::NotExists).await {
            Ok(()) => Ok(Created::Created),
            Err(StoreError::ConditionFailed { .. }) => Ok(Created::AlreadyExists),
            Err(other) => Err(other),
        }
    }
}

/// Unix seconds now; items whose `expires_at` is at or before it are gone.
pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
