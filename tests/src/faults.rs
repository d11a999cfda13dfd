//! One fault-injecting [`Table`] for every test that needs a backend to fail: it passes each
//! call to the table it wraps unless the test's rule answers an error for that call.
//!
//! ```ignore
//! // every write fails, reads pass
//! FaultyTable::over(table, |call| call.is_write().then(|| unavailable("injected")))
//! // everything fails, nothing behind it
//! FaultyTable::down()
//! ```

use std::sync::Arc;

use async_trait::async_trait;

use linkledger_store::ports::{
    BackendError, Condition, Item, Key, OpCounts, Page, Query, StoreError, Table, WriteOp,
};

/// The call a rule is asked about.
#[derive(Debug)]
pub enum Call<'a> {
    Get(&'a Key),
    Put(&'a Item),
    Transact(&'a [WriteOp]),
    Query(&'a Query),
}

impl Call<'_> {
    pub fn is_write(&self) -> bool {
        matches!(self, Call::Put(_) | Call::Transact(_))
    }
}

/// The error an outage answers.
pub fn unavailable(why: &str) -> StoreError {
    StoreError::Unavailable(BackendError::without_cause(why.to_owned()))
}

type Rule = Box<dyn Fn(&Call<'_>) -> Option<StoreError> + Send + Sync>;

pub struct FaultyTable {
    inner: Option<Arc<dyn Table>>,
    rule: Rule,
}

impl FaultyTable {
    /// `inner`, with every call for which `rule` answers an error failing with it.
    pub fn over(
        inner: Arc<dyn Table>,
        rule: impl Fn(&Call<'_>) -> Option<StoreError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            inner: Some(inner),
            rule: Box::new(rule),
        }
    }

    /// A backend that is down: every call fails.
    pub fn down() -> Self {
        Self {
            inner: None,
            rule: Box::new(|_| Some(unavailable("down"))),
        }
    }

    fn check(&self, call: Call<'_>) -> Result<&Arc<dyn Table>, StoreError> {
        if let Some(err) = (self.rule)(&call) {
            return Err(err);
        }
        self.inner
            .as_ref()
            .ok_or_else(|| unavailable("no table behind this one"))
    }
}

#[async_trait]
impl Table for FaultyTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.check(Call::Get(key))?.get(key).await
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        self.check(Call::Put(&item))?.put(item, condition).await
    }
    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.check(Call::Transact(&ops))?.transact(ops).await
    }
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.check(Call::Query(query))?.query(query).await
    }
    fn op_counts(&self) -> OpCounts {
        self.inner
            .as_ref()
            .map_or_else(OpCounts::default, |t| t.op_counts())
    }
    fn max_transaction_writes(&self) -> usize {
        self.inner.as_ref().map_or(
            linkledger_store::ports::table::MAX_TRANSACTION_WRITES,
            |t| t.max_transaction_writes(),
        )
    }
}
