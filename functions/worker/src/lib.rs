//! Flow 3, attribute and book: the consumer of the conversions queue.
//!
//! The same [`process_message`] runs in two places: [`handle_sqs_batch`] for Lambda's SQS event
//! source (partial batch failures: only the failed messages return to the queue), and
//! [`run_consumer`] / [`drain`] in the local process against the SQLite queue table. A message
//! that can be retried (a refund whose order has not arrived, a store outage) stays on the
//! queue; after three receives the queue moves it to the dead-letter queue, where it waits for
//! review (and the DLQ alarm fires). Nothing is acknowledged unless it was booked or is a
//! duplicate of something booked.
//!
//! **One bad message never harms the others.** Each message is booked inside its own
//! `catch_unwind`: an error or even a panic while booking it becomes that message's `Poison`
//! disposition (logged with its reason and message id, reported as that message's batch item
//! failure on Lambda, released to reach the dead-letter queue locally), while its batch-mates
//! book and are acknowledged as usual. The local consumers are supervised: a consumer that
//! stops for any reason is logged and started again.
#![cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use futures_util::future::join_all;
use futures_util::FutureExt;
use linkledger_core::conversion::ConversionEvent;
use linkledger_store::booking::{book_conversion, BookingError, Outcome};
use linkledger_store::ports::{ErrorChain, Message, Queue, QueueError};
use linkledger_store::Store;

/// What became of one message. A reason is the error that decided it with its causes
/// ([`ErrorChain`]), as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Booked, or already booked: acknowledge.
    Done(Outcome),
    /// Leave on the queue and try again later.
    Retry(String),
    /// Can never be booked: leave it to reach the dead-letter queue, reason logged.
    Poison(String),
}

/// A message that is poison before booking is tried: it does not carry a booking event.
#[derive(Debug, thiserror::Error)]
pub enum BadMessage {
    #[error("message without a body")]
    NoBody,
    #[error("unreadable message")]
    Unreadable(#[source] serde_json::Error),
    #[error("out of bounds: {0}")]
    OutOfBounds(String),
}

/// The reason a disposition carries: `err` and its causes, outermost first.
fn reason(err: &(dyn std::error::Error + 'static)) -> String {
    ErrorChain(err).to_string()
}

/// Books one queue message; never panics (a panic while booking is this message's poison).
pub async fn process_message(store: &Store, body: &str) -> Disposition {
    guarded(book_message(store, body)).await
}

/// Runs one message's booking; a panic inside it becomes that message's `Poison`.
async fn guarded(booking: impl std::future::Future<Output = Disposition>) -> Disposition {
    match AssertUnwindSafe(booking).catch_unwind().await {
        Ok(disposition) => disposition,
        Err(panic) => {
            let reason = panic_reason(panic.as_ref());
            tracing::error!(%reason, "booking a conversion message panicked; parked as poison");
            Disposition::Poison(format!("booking panicked: {reason}"))
        }
    }
}

fn panic_reason(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

async fn book_message(store: &Store, body: &str) -> Disposition {
    let event: ConversionEvent = match serde_json::from_str(body) {
        Ok(event) => event,
        Err(err) => {
            tracing::error!(error = %err, "unreadable conversion message");
            return Disposition::Poison(reason(&BadMessage::Unreadable(err)));
        }
    };
    // The message's span (opened by its consumer) names what it carries.
    let span = tracing::Span::current();
    span.record("program", event.program_id.as_str());
    span.record("delivery", event.delivery_id.as_str());
    span.record("order", event.fact.order_ref());
    if let Err(bounds) = event.check_bounds(store.now()) {
        tracing::error!(program = %event.program_id, reason = %bounds, "conversion message out of bounds");
        return Disposition::Poison(reason(&BadMessage::OutOfBounds(bounds)));
    }
    match book_conversion(store, &event).await {
        Ok(outcome) => {
            tracing::info!(
                program = %event.program_id,
                platform = event.platform.as_str(),
                outcome = ?outcome,
                "conversion event booked"
            );
            Disposition::Done(outcome)
        }
        Err(BookingError::Retry(why)) => {
            let reason = reason(&why);
            tracing::warn!(program = %event.program_id, %reason, "conversion event will be retried");
            Disposition::Retry(reason)
        }
        Err(BookingError::Invalid(why)) => {
            let reason = reason(&why);
            tracing::error!(program = %event.program_id, %reason, "conversion event cannot be booked");
            Disposition::Poison(reason)
        }
    }
}

/// The span of one queue message: its id and receive count, then (once read) the program, the
/// delivery key and the order it books.
fn message_span(message_id: &str, receives: Option<u32>) -> tracing::Span {
    tracing::info_span!(
        "conversion_message",
        message_id,
        receives,
        program = tracing::field::Empty,
        delivery = tracing::field::Empty,
        order = tracing::field::Empty,
    )
}

/// Lambda's SQS batch: every message not booked is reported as a failure, so SQS redelivers
/// only those (`ReportBatchItemFailures`).
pub async fn handle_sqs_batch(store: &Store, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    let dispositions = join_all(event.records.iter().map(|record| {
        let receives = record
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|count| count.parse().ok());
        let span = message_span(record.message_id.as_deref().unwrap_or(""), receives);
        tracing::Instrument::instrument(
            async move {
                match &record.body {
                    Some(body) => process_message(store, body).await,
                    None => Disposition::Poison(reason(&BadMessage::NoBody)),
                }
            },
            span,
        )
    }))
    .await;
    for (record, disposition) in event.records.iter().zip(dispositions) {
        if !matches!(disposition, Disposition::Done(_)) {
            response.add_failure(record.message_id.clone().unwrap_or_default());
        }
    }
    response
}

#[derive(Clone, Debug)]
pub struct ConsumerOptions {
    /// Messages per receive (1..=10).
    pub batch: usize,
    /// How long a receive waits for a first message.
    pub wait: Duration,
    /// How long a received message stays hidden while it is being booked.
    pub visibility: Duration,
    /// A retried message is hidden this long times its receive count.
    pub retry_delay: Duration,
    /// Batches booked at the same time (as Lambda runs several workers): the SQLite writer
    /// commits their writes together. A booking spends most of its time waiting (its reads,
    /// then its commit's fsync), so throughput grows with the bookings in flight
    /// (`consumers × batch`) until the writer is busy: see BENCHMARKS.md, "Ingest".
    pub consumers: usize,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        Self {
            batch: 10,
            wait: Duration::from_secs(1),
            visibility: Duration::from_secs(60),
            retry_delay: Duration::from_secs(30),
            consumers: 16,
        }
    }
}

/// Counts of one [`drain`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drained {
    pub done: usize,
    pub retried: usize,
    pub poisoned: usize,
}

impl Drained {
    fn plus(self, other: Drained) -> Drained {
        Drained {
            done: self.done.saturating_add(other.done),
            retried: self.retried.saturating_add(other.retried),
            poisoned: self.poisoned.saturating_add(other.poisoned),
        }
    }
}

/// Books one received batch concurrently (events of different orders never wait on each other;
/// the same order's race is settled by the store's conditions) and acknowledges each message as
/// soon as it is decided: deleted when done, hidden for a growing delay when it should be
/// retried, released at once when it can never be booked (so it reaches the dead-letter queue
/// in three receives). A message's acknowledgement never waits for its batch-mates' bookings:
/// the SQLite writer commits it together with whatever else is waiting (their bookings, other
/// consumers' acknowledgements), so one slow booking does not hold the batch's deletes back.
async fn book_received(
    store: &Store,
    queue: &dyn Queue,
    messages: Vec<Message>,
    options: &ConsumerOptions,
) -> Result<Drained, QueueError> {
    let outcomes = join_all(messages.iter().map(|m| {
        let span = message_span(&m.id, Some(m.receive_count));
        tracing::Instrument::instrument(
            async move {
                let disposition = process_message(store, &m.body).await;
                let acknowledged = match &disposition {
                    Disposition::Done(_) => queue.delete(&m.receipt).await,
                    Disposition::Retry(_) => {
                        let delay = options.retry_delay.saturating_mul(m.receive_count.max(1));
                        queue.change_visibility(&m.receipt, delay).await
                    }
                    Disposition::Poison(_) => {
                        queue.change_visibility(&m.receipt, Duration::ZERO).await
                    }
                };
                (disposition, acknowledged)
            },
            span,
        )
    }))
    .await;
    let mut drained = Drained::default();
    for (disposition, acknowledged) in outcomes {
        acknowledged?;
        match disposition {
            Disposition::Done(_) => drained.done = drained.done.saturating_add(1),
            Disposition::Retry(_) => drained.retried = drained.retried.saturating_add(1),
            Disposition::Poison(_) => drained.poisoned = drained.poisoned.saturating_add(1),
        }
    }
    Ok(drained)
}

/// Receives and books until the queue has nothing visible, with `options.consumers` batches in
/// flight.
pub async fn drain(
    store: &Store,
    queue: &dyn Queue,
    options: &ConsumerOptions,
) -> Result<Drained, QueueError> {
    let consumer = || async {
        let mut total = Drained::default();
        loop {
            let messages = queue
                .receive(options.batch, options.visibility, Duration::ZERO)
                .await?;
            if messages.is_empty() {
                return Ok::<_, QueueError>(total);
            }
            let batch = book_received(store, queue, messages, options).await?;
            total = total.plus(batch);
        }
    };
    let mut total = Drained::default();
    for result in join_all((0..options.consumers.max(1)).map(|_| consumer())).await {
        total = total.plus(result?);
    }
    Ok(total)
}

/// The local process's consumers: book forever, backing off while the queue is unavailable.
/// Each consumer is supervised: if it ever stops (a panic outside a message's own guard), the
/// failure is logged and the consumer starts again after a short pause, so booking never stops
/// while the webhooks go on answering 200.
pub async fn run_consumer(store: Store, queue: Arc<dyn Queue>, options: ConsumerOptions) {
    let supervised = |n: usize| {
        let (store, queue, options) = (store.clone(), queue.clone(), options.clone());
        async move {
            loop {
                let run = AssertUnwindSafe(consume_forever(&store, queue.as_ref(), &options));
                let reason = match run.catch_unwind().await {
                    Ok(()) => "returned".to_string(),
                    Err(panic) => panic_reason(panic.as_ref()),
                };
                tracing::error!(consumer = n, %reason, "a conversions consumer stopped; restarting it");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    join_all((0..options.consumers.max(1)).map(supervised)).await;
}

async fn consume_forever(store: &Store, queue: &dyn Queue, options: &ConsumerOptions) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let result = match queue
            .receive(options.batch, options.visibility, options.wait)
            .await
        {
            Ok(messages) if messages.is_empty() => Ok(Drained::default()),
            Ok(messages) => book_received(store, queue, messages, options).await,
            Err(err) => Err(err),
        };
        match result {
            Ok(_) => backoff = Duration::from_millis(100),
            Err(err) => {
                tracing::warn!(error = %ErrorChain(&err), "the conversions queue failed; backing off");
                tokio::time::sleep(backoff).await;
                backoff = backoff.saturating_mul(2).min(Duration::from_secs(10));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_while_booking_is_that_messages_poison() {
        let disposition = guarded(async { panic!("boom") }).await;
        assert_eq!(
            disposition,
            Disposition::Poison("booking panicked: boom".into())
        );
        let fine = guarded(async { Disposition::Retry("later".into()) }).await;
        assert_eq!(fine, Disposition::Retry("later".into()));
    }
}
