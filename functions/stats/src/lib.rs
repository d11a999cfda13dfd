//! The stats roll-up on AWS: the table's stream (keys only, filtered to clicks, conversions and
//! ledger entries by the event source mapping in `template.yaml`) delivers batches of changed
//! keys; each batch is counted by the same `RollUp` `linkledger serve` runs on the SQLite feed,
//! guarded per record (a stream delivers at least once: clicks and entries leave a marker,
//! conversions a snapshot, in the transaction that counts them).
//!
//! One bad record never holds up the others: when a batch fails, its records are counted one by
//! one and only those that fail are reported (`batchItemFailures`, by sequence number); Lambda
//! retries from the first of them (the others are found counted), then parks the batch on the
//! mapping's failure destination after its retries.

use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use serde_dynamo::AttributeValue;

use linkledger_store::ports::{ErrorChain, Key};
use linkledger_store::stats::{Change, Guard, RollUp, Rolled};
use linkledger_store::Store;

/// The roll-up of one Lambda instance (it remembers visitors between invocations).
pub struct Handler {
    store: Store,
    roll_up: RollUp,
}

impl Handler {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            roll_up: RollUp::new(Guard::PerRecord),
        }
    }
}

/// The item key a stream record names (`pk`, `sk` strings), if any.
fn key_of(record: &EventRecord) -> Option<Key> {
    let text = |name: &str| match record.change.keys.get(name) {
        Some(AttributeValue::S(s)) => Some(s.clone()),
        _ => None,
    };
    Some(Key::new(text("pk")?, text("sk")?))
}

/// Counts one batch of stream records; the answer lists the records to deliver again.
pub async fn handle(handler: &Handler, event: Event) -> DynamoDbEventResponse {
    roll_up(handler, &event).await.0
}

/// [`handle`], and what the roll-up did.
pub async fn roll_up(handler: &Handler, event: &Event) -> (DynamoDbEventResponse, Rolled) {
    let mut response = DynamoDbEventResponse::default();
    // Removals (TTL expiry of clicks) change no stats; the filter passes only inserts and
    // modifications, this checks again.
    let records: Vec<(&EventRecord, Change)> = event
        .records
        .iter()
        .filter(|r| r.event_name == "INSERT" || r.event_name == "MODIFY")
        .filter_map(|r| key_of(r).map(|key| (r, Change { position: 0, key })))
        .collect();
    let changes: Vec<Change> = records.iter().map(|(_, c)| c.clone()).collect();
    match handler.roll_up.apply(&handler.store, &changes).await {
        Ok(rolled) => {
            tracing::info!(
                records = event.records.len(),
                counted = rolled.counted,
                unchanged = rolled.unchanged,
                "stats rolled up"
            );
            return (response, rolled);
        }
        Err(err) => {
            tracing::warn!(error = %ErrorChain(&err), records = changes.len(), "stats batch failed; counting its records one by one");
        }
    }
    let mut total = Rolled::default();
    for (record, change) in &records {
        match handler
            .roll_up
            .apply(&handler.store, std::slice::from_ref(change))
            .await
        {
            Ok(rolled) => total.add(rolled),
            Err(err) => {
                tracing::error!(
                    error = %ErrorChain(&err),
                    sequence = record.change.sequence_number.as_deref().unwrap_or(""),
                    "a stats record failed"
                );
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = record.change.sequence_number.clone();
                response.batch_item_failures.push(failure);
            }
        }
    }
    (response, total)
}
