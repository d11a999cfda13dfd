//! Flow 4 on Lambda: one function, two event sources.
//!
//! - **The schedule** (EventBridge Scheduler, 02:00 UTC by default) invokes it with
//!   `{"settle": {}}` (the previous UTC day) or `{"settle": {"date": "YYYY-MM-DD"}}`: the planner
//!   starts the run and enqueues its creators in chunks of 1 000 on the settlement queue.
//! - **The settlement queue** invokes it with chunks (`SqsEvent`, one chunk per message): each is
//!   settled creator by creator (every line its own exactly-once transaction), marked done, and
//!   the chunk that finds all chunks done completes the run and tells finance.
//!
//! A creator that cannot be settled (its balance past the limit, an unreadable record) does not
//! fail its chunk: it gets a failed line with its reason, logged as `settlement line failed`
//! (the alarm in `template.yaml` counts these), and the chunk completes. Only a store outage
//! fails a chunk: it is reported (`ReportBatchItemFailures`) and redelivered; its creators
//! already settled are skipped by their line guards, so a retry pays only the rest.
#![cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use serde::Deserialize;
use time::Date;

use linkledger_store::ports::{ErrorChain, Queue};
use linkledger_store::settlement::{
    plan, settle_chunk, Chunk, SettleError, SettlementRun, CHUNK_SIZE,
};
use linkledger_store::Store;

/// The scheduler's input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettleRequest {
    /// Default: the previous UTC day.
    pub date: Option<String>,
}

/// What the function is invoked with.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Invocation {
    Schedule { settle: SettleRequest },
    Chunks(SqsEvent),
}

#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    #[error("invalid date {0:?}: expected YYYY-MM-DD")]
    Date(String),
    #[error(transparent)]
    Settle(#[from] SettleError),
}

pub struct Queues<'a> {
    pub chunks: &'a dyn Queue,
    pub finance: Option<&'a dyn Queue>,
    /// Creators per chunk ([`CHUNK_SIZE`] in production).
    pub chunk_size: usize,
}

impl<'a> Queues<'a> {
    pub fn new(chunks: &'a dyn Queue, finance: Option<&'a dyn Queue>) -> Self {
        Self {
            chunks,
            finance,
            chunk_size: CHUNK_SIZE,
        }
    }
}

/// The date a scheduled invocation settles (`yesterday` when the request names none).
pub fn requested_date(request: &SettleRequest, yesterday: Date) -> Result<Date, InvocationError> {
    match &request.date {
        Some(text) => {
            linkledger_core::parse_date(text).ok_or_else(|| InvocationError::Date(text.clone()))
        }
        None => Ok(yesterday),
    }
}

/// The scheduled step: plan (or find) the run.
pub async fn handle_schedule(
    store: &Store,
    queues: &Queues<'_>,
    request: &SettleRequest,
) -> Result<SettlementRun, InvocationError> {
    let date = requested_date(request, store.clock().yesterday())?;
    let run = plan(
        store,
        date,
        queues.chunk_size,
        queues.chunks,
        queues.finance,
    )
    .await?;
    tracing::info!(%date, status = ?run.status, chunks = ?run.chunks, failed_lines = run.failed_lines, "settlement planned");
    Ok(run)
}

/// The queued step: settle each chunk; report the ones that failed.
pub async fn handle_chunks(
    store: &Store,
    queues: &Queues<'_>,
    event: SqsEvent,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let chunk: Result<Chunk, _> = serde_json::from_str(record.body.as_deref().unwrap_or(""));
        let result = match chunk {
            Ok(chunk) => settle_chunk(store, &chunk, queues.finance)
                .await
                .map(|done| {
                    tracing::info!(date = %chunk.date, chunk = chunk.index, completed = done.is_some(), "settlement chunk done");
                })
                .map_err(|e| ErrorChain(&e).to_string()),
            Err(e) => Err(format!("unreadable chunk: {e}")),
        };
        if let Err(reason) = result {
            tracing::error!(message = %id, %reason, "settlement chunk failed");
            response.add_failure(id);
        }
    }
    response
}
