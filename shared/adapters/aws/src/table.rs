//! The storage port on DynamoDB: one table, keys `pk`/`sk`, two GSIs, TTL on `expires_at`.
//!
//! Item layout (must match `template.yaml`):
//!
//! | attribute            | type | content                                   |
//! |----------------------|------|-------------------------------------------|
//! | `pk`, `sk`           | S    | [`Key`]                                   |
//! | `body`               | S    | [`Item::body`]                            |
//! | `ver`                | N    | [`Item::version`]                         |
//! | `expires_at`         | N    | [`Item::expires_at`], only when `Some`    |
//! | `gsi1pk`, `gsi1sk`   | S    | [`Item::gsi1`], only when `Some`          |
//! | `gsi2pk`, `gsi2sk`   | S    | [`Item::gsi2`], only when `Some`          |
//!
//! DynamoDB's TTL deletes expired items lazily (up to days later), so every read filters
//! them out and every condition treats them as absent.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::client::Waiters as _;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, CancellationReason, ConditionCheck, Delete,
    GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType, Put,
    ScalarAttributeType, TimeToLiveSpecification, TimeToLiveStatus, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use linkledger_store::ports::table::{
    now_unix, Condition, Index, IndexKey, Item, Key, OpCounts, Page, Query, SkRange, StoreError,
    Table, WriteOp,
};
use linkledger_store::ports::BackendError;

/// Attribute names of the table schema.
pub const ATTR_PK: &str = "pk";
pub const ATTR_SK: &str = "sk";
pub const ATTR_BODY: &str = "body";
pub const ATTR_VERSION: &str = "ver";
pub const ATTR_EXPIRES_AT: &str = "expires_at";
pub const ATTR_GSI1_PK: &str = "gsi1pk";
pub const ATTR_GSI1_SK: &str = "gsi1sk";
pub const ATTR_GSI2_PK: &str = "gsi2pk";
pub const ATTR_GSI2_SK: &str = "gsi2sk";
/// Index names of the table schema.
pub const INDEX_GSI1: &str = "gsi1";
pub const INDEX_GSI2: &str = "gsi2";

/// DynamoDB's limit on the writes of one `TransactWriteItems`.
const MAX_TRANSACT_ITEMS: usize = 100;

type AttrMap = HashMap<String, AttributeValue>;

#[derive(Debug, Default)]
struct Counters {
    reads: AtomicU64,
    writes: AtomicU64,
}

/// [`Table`] on one DynamoDB table. Cheap to clone; clones share the operation counters.
#[derive(Clone)]
pub struct DynamoTable {
    client: Client,
    table_name: Arc<str>,
    counters: Arc<Counters>,
}

impl fmt::Debug for DynamoTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoTable")
            .field("table_name", &self.table_name)
            .field("op_counts", &self.op_counts())
            .finish_non_exhaustive()
    }
}

impl DynamoTable {
    pub fn new(client: Client, table_name: impl Into<String>) -> Self {
        Self {
            client,
            table_name: Arc::from(table_name.into()),
            counters: Arc::default(),
        }
    }

    pub fn table_name(&self) -> &str {
        &self.table_name
    }

    fn count_read(&self) {
        self.counters.reads.fetch_add(1, Ordering::Relaxed);
    }

    fn count_write(&self) {
        self.counters.writes.fetch_add(1, Ordering::Relaxed);
    }

    fn transact_item(&self, op: WriteOp, now: i64) -> Result<TransactWriteItem, StoreError> {
        let item = match op {
            WriteOp::Put { item, condition } => {
                let attrs = item_to_attrs(&item)?;
                let cond = ConditionExpr::of(condition, now);
                let put = Put::builder()
                    .table_name(self.table_name.as_ref())
                    .set_item(Some(attrs))
                    .set_condition_expression(cond.expression)
                    .set_expression_attribute_names(cond.names)
                    .set_expression_attribute_values(cond.values)
                    .build()
                    .map_err(|e| StoreError::Invalid(format!("transaction put: {e}")))?;
                TransactWriteItem::builder().put(put).build()
            }
            WriteOp::Delete { key, condition } => {
                let cond = ConditionExpr::of(condition, now);
                let delete = Delete::builder()
                    .table_name(self.table_name.as_ref())
                    .set_key(Some(key_to_attrs(&key)?))
                    .set_condition_expression(cond.expression)
                    .set_expression_attribute_names(cond.names)
                    .set_expression_attribute_values(cond.values)
                    .build()
                    .map_err(|e| StoreError::Invalid(format!("transaction delete: {e}")))?;
                TransactWriteItem::builder().delete(delete).build()
            }
            WriteOp::Check { key, condition } => {
                let cond = ConditionExpr::for_check(condition, now);
                let check = ConditionCheck::builder()
                    .table_name(self.table_name.as_ref())
                    .set_key(Some(key_to_attrs(&key)?))
                    .set_condition_expression(cond.expression)
                    .set_expression_attribute_names(cond.names)
                    .set_expression_attribute_values(cond.values)
                    .build()
                    .map_err(|e| StoreError::Invalid(format!("transaction check: {e}")))?;
                TransactWriteItem::builder().condition_check(check).build()
            }
        };
        Ok(item)
    }
}

#[async_trait]
impl Table for DynamoTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let attrs = key_to_attrs(key)?;
        self.count_read();
        let out = self
            .client
            .get_item()
            .table_name(self.table_name.as_ref())
            .set_key(Some(attrs))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", &self.table_name, e))?;
        let Some(attrs) = out.item() else {
            return Ok(None);
        };
        let item = item_from_attrs(attrs)?;
        Ok(if is_expired(&item, now_unix()) {
            None
        } else {
            Some(item)
        })
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        let attrs = item_to_attrs(&item)?;
        let cond = ConditionExpr::of(condition, now_unix());
        self.count_write();
        let result = self
            .client
            .put_item()
            .table_name(self.table_name.as_ref())
            .set_item(Some(attrs))
            .set_condition_expression(cond.expression)
            .set_expression_attribute_names(cond.names)
            .set_expression_attribute_values(cond.values)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(e) if e.is_conditional_check_failed_exception() => {
                    Err(StoreError::ConditionFailed { index: 0 })
                }
                Some(e) if e.is_transaction_conflict_exception() => Err(StoreError::Conflict),
                _ => Err(sdk_error("PutItem", &self.table_name, err)),
            },
        }
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        if ops.is_empty() || ops.len() > MAX_TRANSACT_ITEMS {
            return Err(StoreError::Invalid(format!(
                "a transaction holds 1 to {MAX_TRANSACT_ITEMS} writes, not {}",
                ops.len()
            )));
        }
        let mut keys = HashSet::with_capacity(ops.len());
        if !ops.iter().all(|op| keys.insert(op_key(op))) {
            return Err(StoreError::Invalid(
                "two writes on one key in a transaction".to_owned(),
            ));
        }
        let now = now_unix();
        let items = ops
            .into_iter()
            .map(|op| self.transact_item(op, now))
            .collect::<Result<Vec<_>, _>>()?;
        self.count_write();
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                    Err(map_cancellation(
                        cancelled.cancellation_reasons(),
                        cancelled.message(),
                        &self.table_name,
                    ))
                }
                Some(TransactWriteItemsError::TransactionInProgressException(_)) => {
                    Err(StoreError::Conflict)
                }
                _ => Err(sdk_error("TransactWriteItems", &self.table_name, err)),
            },
        }
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        let (pk_attr, sk_attr, index_name) = index_attrs(query.index);
        let mut names = HashMap::from([
            ("#pk".to_owned(), pk_attr.to_owned()),
            ("#sk".to_owned(), sk_attr.to_owned()),
        ]);
        let mut values = HashMap::from([(":pk".to_owned(), AttributeValue::S(query.pk.clone()))]);
        let mut expression = String::from("#pk = :pk");
        // DynamoDB's BETWEEN includes its upper bound; the port's excludes it.
        let mut exclude_sk: Option<&str> = None;
        match &query.range {
            SkRange::All => {}
            SkRange::Prefix(prefix) if prefix.is_empty() => {}
            SkRange::Prefix(prefix) => {
                expression.push_str(" AND begins_with(#sk, :prefix)");
                values.insert(":prefix".to_owned(), AttributeValue::S(prefix.clone()));
            }
            SkRange::Between { from, to } => {
                if from >= to {
                    return Ok(Page::default());
                }
                expression.push_str(" AND #sk BETWEEN :from AND :to");
                values.insert(":from".to_owned(), AttributeValue::S(from.clone()));
                values.insert(":to".to_owned(), AttributeValue::S(to.clone()));
                exclude_sk = Some(to);
            }
        }
        if !expression.contains("#sk") {
            names.remove("#sk");
        }
        let start_key = match &query.after {
            Some(cursor) => Some(decode_cursor(cursor, query)?),
            None => None,
        };
        let limit = i32::try_from(query.limit.max(1)).unwrap_or(i32::MAX);

        self.count_read();
        let out = self
            .client
            .query()
            .table_name(self.table_name.as_ref())
            .set_index_name(index_name.map(str::to_owned))
            // Strongly consistent on the table, like `get`; GSIs only offer eventual consistency.
            .set_consistent_read(index_name.is_none().then_some(true))
            .key_condition_expression(expression)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .scan_index_forward(!query.descending)
            .limit(limit)
            .set_exclusive_start_key(start_key)
            .send()
            .await
            .map_err(|e| sdk_error("Query", &self.table_name, e))?;

        let now = now_unix();
        let mut items = Vec::with_capacity(out.items().len());
        for attrs in out.items() {
            let item = item_from_attrs(attrs)?;
            if is_expired(&item, now) {
                continue;
            }
            if let Some(to) = exclude_sk {
                if index_sort_key(&item, query.index) == Some(to) {
                    continue;
                }
            }
            items.push(item);
        }
        let next = match out.last_evaluated_key() {
            Some(key) if !key.is_empty() => Some(encode_cursor(key)?),
            _ => None,
        };
        Ok(Page { items, next })
    }

    fn op_counts(&self) -> OpCounts {
        OpCounts {
            reads: self.counters.reads.load(Ordering::Relaxed),
            writes: self.counters.writes.load(Ordering::Relaxed),
        }
    }
}

/// Creates the table with the schema above (idempotent: an existing table is fine), waits
/// until it is active and enables TTL on `expires_at`.
pub async fn create_table(client: &Client, name: &str) -> Result<(), StoreError> {
    let s_attr = |attr: &str| {
        AttributeDefinition::builder()
            .attribute_name(attr)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| StoreError::Invalid(format!("attribute definition: {e}")))
    };
    let key = |attr: &str, key_type: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(attr)
            .key_type(key_type)
            .build()
            .map_err(|e| StoreError::Invalid(format!("key schema: {e}")))
    };
    let gsi = |index: &str, pk: &str, sk: &str| -> Result<GlobalSecondaryIndex, StoreError> {
        GlobalSecondaryIndex::builder()
            .index_name(index)
            .key_schema(key(pk, KeyType::Hash)?)
            .key_schema(key(sk, KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(|e| StoreError::Invalid(format!("index {index}: {e}")))
    };

    let result = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(s_attr(ATTR_PK)?)
        .attribute_definitions(s_attr(ATTR_SK)?)
        .attribute_definitions(s_attr(ATTR_GSI1_PK)?)
        .attribute_definitions(s_attr(ATTR_GSI1_SK)?)
        .attribute_definitions(s_attr(ATTR_GSI2_PK)?)
        .attribute_definitions(s_attr(ATTR_GSI2_SK)?)
        .key_schema(key(ATTR_PK, KeyType::Hash)?)
        .key_schema(key(ATTR_SK, KeyType::Range)?)
        .global_secondary_indexes(gsi(INDEX_GSI1, ATTR_GSI1_PK, ATTR_GSI1_SK)?)
        .global_secondary_indexes(gsi(INDEX_GSI2, ATTR_GSI2_PK, ATTR_GSI2_SK)?)
        .send()
        .await;
    match result {
        Ok(_) => {}
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) => {}
        Err(err) => return Err(sdk_error("CreateTable", name, err)),
    }

    client
        .wait_until_table_exists()
        .table_name(name)
        .wait(Duration::from_secs(120))
        .await
        .map_err(|e| {
            StoreError::Unavailable(BackendError::new(
                format!("waiting for table {name} to become active"),
                e,
            ))
        })?;

    let ttl = client
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(|e| sdk_error("DescribeTimeToLive", name, e))?;
    let already = ttl.time_to_live_description().is_some_and(|d| {
        d.attribute_name() == Some(ATTR_EXPIRES_AT)
            && matches!(
                d.time_to_live_status(),
                Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
            )
    });
    if already {
        return Ok(());
    }
    let spec = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name(ATTR_EXPIRES_AT)
        .build()
        .map_err(|e| StoreError::Invalid(format!("time to live: {e}")))?;
    match client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(spec)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        // Lost a race with another bootstrap: "TimeToLive is already enabled".
        Err(err)
            if err.code() == Some("ValidationException")
                && err.message().is_some_and(|m| m.contains("already enabled")) =>
        {
            Ok(())
        }
        Err(err) => Err(sdk_error("UpdateTimeToLive", name, err)),
    }
}

/// A condition expression with exactly the names and values it uses (DynamoDB rejects
/// unused ones).
struct ConditionExpr {
    expression: Option<String>,
    names: Option<HashMap<String, String>>,
    values: Option<AttrMap>,
}

/// "The stored item has not expired": absent `expires_at`, or one in the future.
const LIVE: &str = "(attribute_not_exists(#exp) OR #exp > :now)";

impl ConditionExpr {
    fn of(condition: Condition, now: i64) -> Self {
        let now_value = || HashMap::from([(":now".to_owned(), AttributeValue::N(now.to_string()))]);
        match condition {
            Condition::None => Self {
                expression: None,
                names: None,
                values: None,
            },
            Condition::NotExists => Self {
                expression: Some("attribute_not_exists(#pk) OR #exp <= :now".to_owned()),
                names: Some(HashMap::from([
                    ("#pk".to_owned(), ATTR_PK.to_owned()),
                    ("#exp".to_owned(), ATTR_EXPIRES_AT.to_owned()),
                ])),
                values: Some(now_value()),
            },
            Condition::Exists => Self {
                expression: Some(format!("attribute_exists(#pk) AND {LIVE}")),
                names: Some(HashMap::from([
                    ("#pk".to_owned(), ATTR_PK.to_owned()),
                    ("#exp".to_owned(), ATTR_EXPIRES_AT.to_owned()),
                ])),
                values: Some(now_value()),
            },
            Condition::VersionIs(version) => {
                let mut values = now_value();
                values.insert(":ver".to_owned(), AttributeValue::N(version.to_string()));
                Self {
                    expression: Some(format!("#ver = :ver AND {LIVE}")),
                    names: Some(HashMap::from([
                        ("#ver".to_owned(), ATTR_VERSION.to_owned()),
                        ("#exp".to_owned(), ATTR_EXPIRES_AT.to_owned()),
                    ])),
                    values: Some(values),
                }
            }
        }
    }

    /// A `ConditionCheck` requires an expression; `Condition::None` becomes a tautology.
    fn for_check(condition: Condition, now: i64) -> Self {
        match condition {
            Condition::None => Self {
                expression: Some("attribute_exists(#pk) OR attribute_not_exists(#pk)".to_owned()),
                names: Some(HashMap::from([("#pk".to_owned(), ATTR_PK.to_owned())])),
                values: None,
            },
            other => Self::of(other, now),
        }
    }
}

fn op_key(op: &WriteOp) -> &Key {
    match op {
        WriteOp::Put { item, .. } => &item.key,
        WriteOp::Delete { key, .. } | WriteOp::Check { key, .. } => key,
    }
}

fn index_attrs(index: Index) -> (&'static str, &'static str, Option<&'static str>) {
    match index {
        Index::Primary => (ATTR_PK, ATTR_SK, None),
        Index::Gsi1 => (ATTR_GSI1_PK, ATTR_GSI1_SK, Some(INDEX_GSI1)),
        Index::Gsi2 => (ATTR_GSI2_PK, ATTR_GSI2_SK, Some(INDEX_GSI2)),
    }
}

fn index_sort_key(item: &Item, index: Index) -> Option<&str> {
    match index {
        Index::Primary => Some(&item.key.sk),
        Index::Gsi1 => item.gsi1.as_ref().map(|k| k.sk.as_str()),
        Index::Gsi2 => item.gsi2.as_ref().map(|k| k.sk.as_str()),
    }
}

fn is_expired(item: &Item, now: i64) -> bool {
    item.expires_at.is_some_and(|at| at <= now)
}

fn non_empty<'a>(what: &str, value: &'a str) -> Result<&'a str, StoreError> {
    if value.is_empty() {
        Err(StoreError::Invalid(format!("{what} must not be empty")))
    } else {
        Ok(value)
    }
}

fn key_to_attrs(key: &Key) -> Result<AttrMap, StoreError> {
    Ok(HashMap::from([
        (
            ATTR_PK.to_owned(),
            AttributeValue::S(non_empty("pk", &key.pk)?.to_owned()),
        ),
        (
            ATTR_SK.to_owned(),
            AttributeValue::S(non_empty("sk", &key.sk)?.to_owned()),
        ),
    ]))
}

fn item_to_attrs(item: &Item) -> Result<AttrMap, StoreError> {
    let mut attrs = key_to_attrs(&item.key)?;
    attrs.insert(ATTR_BODY.to_owned(), AttributeValue::S(item.body.clone()));
    attrs.insert(
        ATTR_VERSION.to_owned(),
        AttributeValue::N(item.version.to_string()),
    );
    if let Some(at) = item.expires_at {
        attrs.insert(
            ATTR_EXPIRES_AT.to_owned(),
            AttributeValue::N(at.to_string()),
        );
    }
    for (gsi, pk_attr, sk_attr) in [
        (&item.gsi1, ATTR_GSI1_PK, ATTR_GSI1_SK),
        (&item.gsi2, ATTR_GSI2_PK, ATTR_GSI2_SK),
    ] {
        if let Some(IndexKey { pk, sk }) = gsi {
            attrs.insert(
                pk_attr.to_owned(),
                AttributeValue::S(non_empty(pk_attr, pk)?.to_owned()),
            );
            attrs.insert(
                sk_attr.to_owned(),
                AttributeValue::S(non_empty(sk_attr, sk)?.to_owned()),
            );
        }
    }
    Ok(attrs)
}

fn item_from_attrs(attrs: &AttrMap) -> Result<Item, StoreError> {
    let pk = attrs
        .get(ATTR_PK)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default();
    let sk = attrs
        .get(ATTR_SK)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default();
    let corrupt = |reason: String| StoreError::Corrupt {
        pk: pk.clone(),
        sk: sk.clone(),
        reason,
    };
    if pk.is_empty() || sk.is_empty() {
        return Err(corrupt("missing or non-string pk/sk".to_owned()));
    }
    let string = |attr: &str| -> Result<Option<String>, StoreError> {
        match attrs.get(attr) {
            None => Ok(None),
            Some(AttributeValue::S(s)) => Ok(Some(s.clone())),
            Some(_) => Err(corrupt(format!("{attr} is not a string"))),
        }
    };
    let number = |attr: &str| -> Result<Option<&str>, StoreError> {
        match attrs.get(attr) {
            None => Ok(None),
            Some(AttributeValue::N(n)) => Ok(Some(n.as_str())),
            Some(_) => Err(corrupt(format!("{attr} is not a number"))),
        }
    };
    let index_key = |pk_attr: &str, sk_attr: &str| -> Result<Option<IndexKey>, StoreError> {
        match (string(pk_attr)?, string(sk_attr)?) {
            (Some(pk), Some(sk)) => Ok(Some(IndexKey { pk, sk })),
            (None, None) => Ok(None),
            _ => Err(corrupt(format!("only one of {pk_attr}/{sk_attr} is set"))),
        }
    };
    let body = string(ATTR_BODY)?.ok_or_else(|| corrupt("missing body".to_owned()))?;
    let version = number(ATTR_VERSION)?
        .ok_or_else(|| corrupt("missing ver".to_owned()))?
        .parse::<u64>()
        .map_err(|e| corrupt(format!("ver: {e}")))?;
    let expires_at = match number(ATTR_EXPIRES_AT)? {
        None => None,
        Some(n) => Some(
            n.parse::<i64>()
                .map_err(|e| corrupt(format!("expires_at: {e}")))?,
        ),
    };
    let gsi1 = index_key(ATTR_GSI1_PK, ATTR_GSI1_SK)?;
    let gsi2 = index_key(ATTR_GSI2_PK, ATTR_GSI2_SK)?;
    Ok(Item {
        key: Key { pk, sk },
        gsi1,
        gsi2,
        expires_at,
        version,
        body,
    })
}

/// `LastEvaluatedKey` as base64url JSON of its (string) attributes.
fn encode_cursor(key: &AttrMap) -> Result<String, StoreError> {
    let mut plain = BTreeMap::new();
    for (name, value) in key {
        let value = value.as_s().map_err(|_| {
            StoreError::Unavailable(BackendError::without_cause(format!(
                "LastEvaluatedKey attribute {name} is not a string"
            )))
        })?;
        plain.insert(name.as_str(), value.as_str());
    }
    let json = serde_json::to_vec(&plain)
        .map_err(|e| StoreError::Unavailable(BackendError::new("encoding a cursor", e)))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

/// The inverse of [`encode_cursor`], checked against the query it continues.
fn decode_cursor(cursor: &str, query: &Query) -> Result<AttrMap, StoreError> {
    let json = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::InvalidCursor)?;
    let plain: BTreeMap<String, String> =
        serde_json::from_slice(&json).map_err(|_| StoreError::InvalidCursor)?;
    let (pk_attr, sk_attr, _) = index_attrs(query.index);
    let allowed =
        |name: &str| name == ATTR_PK || name == ATTR_SK || name == pk_attr || name == sk_attr;
    if !plain.keys().all(|name| allowed(name))
        || plain.get(pk_attr) != Some(&query.pk)
        || plain.get(sk_attr).is_none_or(String::is_empty)
        || plain.get(ATTR_PK).is_none_or(String::is_empty)
        || plain.get(ATTR_SK).is_none_or(String::is_empty)
    {
        return Err(StoreError::InvalidCursor);
    }
    Ok(plain
        .into_iter()
        .map(|(name, value)| (name, AttributeValue::S(value)))
        .collect())
}

/// Maps a cancelled transaction to the port's errors: the first failed condition wins,
/// then conflicts (retryable), then throttling.
fn map_cancellation(
    reasons: &[CancellationReason],
    message: Option<&str>,
    table: &str,
) -> StoreError {
    let codes: Vec<String> = if reasons.is_empty() {
        // Fallback for servers that only put the reasons into the message:
        // "Transaction cancelled, please refer cancellation reasons for specific reasons [None, ConditionalCheckFailed]"
        message
            .and_then(|m| Some((m.rfind('[')?, m.rfind(']')?)))
            .and_then(|(open, close)| message?.get(open.saturating_add(1)..close))
            .map(|list| list.split(',').map(|c| c.trim().to_owned()).collect())
            .unwrap_or_default()
    } else {
        reasons
            .iter()
            .map(|r| r.code().unwrap_or("None").to_owned())
            .collect()
    };
    if let Some(index) = codes.iter().position(|c| c == "ConditionalCheckFailed") {
        return StoreError::ConditionFailed { index };
    }
    if codes.iter().any(|c| c == "TransactionConflict") {
        return StoreError::Conflict;
    }
    if codes.iter().any(|c| c == "ValidationError") {
        return StoreError::Invalid(format!(
            "TransactWriteItems on {table} cancelled: {}",
            message.unwrap_or_default()
        ));
    }
    StoreError::Unavailable(BackendError::without_cause(format!(
        "TransactWriteItems on {table} cancelled, reasons [{}]",
        codes.join(", ")
    )))
}

/// Any other SDK failure: validation errors are the caller's fault, everything else
/// (throttling, network, server errors) is retryable. Error contexts carry the operation,
/// the table and the service's message, never credentials.
fn sdk_error<E, R>(operation: &str, table: &str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    if let SdkError::ServiceError(service) = &err {
        let e = service.err();
        if e.code() == Some("ValidationException") {
            return StoreError::Invalid(format!(
                "{operation} on {table}: {}",
                e.message().unwrap_or("validation error")
            ));
        }
    }
    StoreError::Unavailable(BackendError::new(
        format!("{operation} on {table}"),
        crate::sdk_cause(err),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_attrs_roundtrip() {
        let item = Item::new(Key::new("p#1", "s#ü"), "{\"x\":\"é\"}".to_owned())
            .with_gsi1(IndexKey::new("g1", "a"))
            .with_gsi2(IndexKey::new("g2", "b"))
            .expiring_at(42)
            .with_version(7);
        let attrs = item_to_attrs(&item).unwrap();
        assert_eq!(attrs.len(), 9);
        assert_eq!(item_from_attrs(&attrs).unwrap(), item);
        let bare = Item::new(Key::new("p", "s"), String::new());
        assert_eq!(item_to_attrs(&bare).unwrap().len(), 4);
        assert_eq!(
            item_from_attrs(&item_to_attrs(&bare).unwrap()).unwrap(),
            bare
        );
    }

    #[test]
    fn cursor_roundtrip_and_validation() {
        let key: AttrMap = HashMap::from([
            ("pk".to_owned(), AttributeValue::S("p".into())),
            ("sk".to_owned(), AttributeValue::S("s".into())),
            ("gsi1pk".to_owned(), AttributeValue::S("g".into())),
            ("gsi1sk".to_owned(), AttributeValue::S("h".into())),
        ]);
        let cursor = encode_cursor(&key).unwrap();
        let q = Query::new(Index::Gsi1, "g", SkRange::All);
        assert_eq!(decode_cursor(&cursor, &q).unwrap(), key);
        let other_pk = Query::new(Index::Gsi1, "x", SkRange::All);
        assert!(matches!(
            decode_cursor(&cursor, &other_pk),
            Err(StoreError::InvalidCursor)
        ));
        let other_index = Query::new(Index::Gsi2, "g", SkRange::All);
        assert!(matches!(
            decode_cursor(&cursor, &other_index),
            Err(StoreError::InvalidCursor)
        ));
        assert!(matches!(
            decode_cursor("!!", &q),
            Err(StoreError::InvalidCursor)
        ));
        assert!(matches!(
            decode_cursor("bm9wZQ", &q),
            Err(StoreError::InvalidCursor)
        ));
    }

    #[test]
    fn cancellation_reasons_map_to_port_errors() {
        let reason = |code: &str| CancellationReason::builder().code(code).build();
        let failed = [
            reason("None"),
            reason("None"),
            reason("ConditionalCheckFailed"),
        ];
        assert!(matches!(
            map_cancellation(&failed, None, "t"),
            StoreError::ConditionFailed { index: 2 }
        ));
        let conflict = [reason("TransactionConflict"), reason("None")];
        assert!(matches!(
            map_cancellation(&conflict, None, "t"),
            StoreError::Conflict
        ));
        let msg = "Transaction cancelled, please refer cancellation reasons for specific reasons [None, ConditionalCheckFailed]";
        assert!(matches!(
            map_cancellation(&[], Some(msg), "t"),
            StoreError::ConditionFailed { index: 1 }
        ));
        assert!(matches!(
            map_cancellation(&[reason("ThrottlingError")], None, "t"),
            StoreError::Unavailable(_)
        ));
    }
}
