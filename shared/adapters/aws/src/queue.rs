//! The queue port on SQS: one standard queue whose redrive policy moves a message to its
//! dead-letter queue after [`MAX_RECEIVES`] receives (see [`create_queue_pair`]).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::operation::change_message_visibility::ChangeMessageVisibilityError;
use aws_sdk_sqs::operation::delete_message::DeleteMessageError;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use aws_sdk_sqs::Client;

use linkledger_store::ports::queue::{Message, Queue, QueueError, MAX_MESSAGE_BYTES, MAX_RECEIVES};
use linkledger_store::ports::table::OpCounts;
use linkledger_store::ports::BackendError;

/// SQS's limits on one `ReceiveMessage`.
const MAX_BATCH: usize = 10;
const MAX_WAIT_SECONDS: i32 = 20;
const MAX_VISIBILITY_SECONDS: i32 = 12 * 60 * 60;
/// Dead letters are kept as long as SQS allows (14 days): the retention of a message in a
/// dead-letter queue counts from its original enqueue time.
const DLQ_RETENTION_SECONDS: u32 = 14 * 24 * 60 * 60;

#[derive(Debug, Default)]
struct Counters {
    receives: AtomicU64,
    writes: AtomicU64,
}

/// [`Queue`] on an SQS queue and its dead-letter queue. Cheap to clone; clones share the
/// call counters.
#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    queue_url: Arc<str>,
    dead_letter_url: Arc<str>,
    counters: Arc<Counters>,
}

impl fmt::Debug for SqsQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqsQueue")
            .field("queue_url", &self.queue_url)
            .field("dead_letter_url", &self.dead_letter_url)
            .finish_non_exhaustive()
    }
}

impl SqsQueue {
    pub fn new(
        client: Client,
        queue_url: impl Into<String>,
        dead_letter_url: impl Into<String>,
    ) -> Self {
        Self {
            client,
            queue_url: Arc::from(queue_url.into()),
            dead_letter_url: Arc::from(dead_letter_url.into()),
            counters: Arc::default(),
        }
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    pub fn dead_letter_url(&self) -> &str {
        &self.dead_letter_url
    }

    /// SQS calls made so far by this handle: `ReceiveMessage` calls count as reads,
    /// `SendMessage`/`DeleteMessage`/`ChangeMessageVisibility` calls as writes.
    pub fn op_counts(&self) -> OpCounts {
        OpCounts {
            reads: self.counters.receives.load(Ordering::Relaxed),
            writes: self.counters.writes.load(Ordering::Relaxed),
        }
    }

    async fn receive_from(
        &self,
        url: &str,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<Message>, QueueError> {
        let max = i32::try_from(max.clamp(1, MAX_BATCH)).unwrap_or(1);
        let visibility = rounded_seconds(visibility).min(MAX_VISIBILITY_SECONDS);
        let wait = rounded_seconds(wait).min(MAX_WAIT_SECONDS);
        self.counters.receives.fetch_add(1, Ordering::Relaxed);
        let out = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(max)
            .visibility_timeout(visibility)
            .wait_time_seconds(wait)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| sdk_error("ReceiveMessage", url, e))?;
        out.messages()
            .iter()
            .map(|m| {
                let missing = |what: &str| {
                    QueueError::Unavailable(BackendError::without_cause(format!(
                        "ReceiveMessage on {url}: message without {what}"
                    )))
                };
                let id = m.message_id().ok_or_else(|| missing("an id"))?;
                let receipt = m
                    .receipt_handle()
                    .ok_or_else(|| missing("a receipt handle"))?;
                let receive_count = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|n| n.parse::<u32>().ok())
                    .ok_or_else(|| missing("a valid ApproximateReceiveCount"))?;
                Ok(Message {
                    id: id.to_owned(),
                    receipt: receipt.to_owned(),
                    body: m.body().unwrap_or_default().to_owned(),
                    receive_count,
                })
            })
            .collect()
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, body: &str) -> Result<String, QueueError> {
        if body.len() > MAX_MESSAGE_BYTES {
            return Err(QueueError::TooLarge(body.len()));
        }
        self.counters.writes.fetch_add(1, Ordering::Relaxed);
        let out = self
            .client
            .send_message()
            .queue_url(self.queue_url.as_ref())
            .message_body(body)
            .send()
            .await
            .map_err(|e| sdk_error("SendMessage", &self.queue_url, e))?;
        out.message_id().map(str::to_owned).ok_or_else(|| {
            QueueError::Unavailable(BackendError::without_cause(format!(
                "SendMessage on {}: no message id",
                self.queue_url
            )))
        })
    }

    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<Message>, QueueError> {
        self.receive_from(&self.queue_url, max, visibility, wait)
            .await
    }

    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        self.counters.writes.fetch_add(1, Ordering::Relaxed);
        let result = self
            .client
            .delete_message()
            .queue_url(self.queue_url.as_ref())
            .receipt_handle(receipt)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(DeleteMessageError::ReceiptHandleIsInvalid(_)) => {
                    Err(QueueError::InvalidReceipt)
                }
                _ if is_invalid_receipt(&err) => Err(QueueError::InvalidReceipt),
                _ => Err(sdk_error("DeleteMessage", &self.queue_url, err)),
            },
        }
    }

    async fn change_visibility(
        &self,
        receipt: &str,
        visibility: Duration,
    ) -> Result<(), QueueError> {
        self.counters.writes.fetch_add(1, Ordering::Relaxed);
        let result = self
            .client
            .change_message_visibility()
            .queue_url(self.queue_url.as_ref())
            .receipt_handle(receipt)
            .visibility_timeout(rounded_seconds(visibility).min(MAX_VISIBILITY_SECONDS))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(
                    ChangeMessageVisibilityError::ReceiptHandleIsInvalid(_)
                    | ChangeMessageVisibilityError::MessageNotInflight(_),
                ) => Err(QueueError::InvalidReceipt),
                _ if is_invalid_receipt(&err) => Err(QueueError::InvalidReceipt),
                _ => Err(sdk_error("ChangeMessageVisibility", &self.queue_url, err)),
            },
        }
    }

    async fn receive_dead(
        &self,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<Message>, QueueError> {
        self.receive_from(&self.dead_letter_url, max, visibility, Duration::ZERO)
            .await
    }
}

/// Creates (idempotently) the dead-letter queue `{name}-dlq` and the queue `{name}` whose
/// redrive policy moves a message there after [`MAX_RECEIVES`] receives. Returns
/// `(queue_url, dead_letter_url)`.
pub async fn create_queue_pair(
    client: &Client,
    name: &str,
) -> Result<(String, String), QueueError> {
    let dlq_name = format!("{name}-dlq");
    let dlq_url = client
        .create_queue()
        .queue_name(&dlq_name)
        .attributes(
            QueueAttributeName::MessageRetentionPeriod,
            DLQ_RETENTION_SECONDS.to_string(),
        )
        .send()
        .await
        .map_err(|e| sdk_error("CreateQueue", &dlq_name, e))?
        .queue_url()
        .map(str::to_owned)
        .ok_or_else(|| {
            QueueError::Unavailable(BackendError::without_cause(format!(
                "CreateQueue {dlq_name}: no queue url"
            )))
        })?;

    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| sdk_error("GetQueueAttributes", &dlq_url, e))?
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| {
            QueueError::Unavailable(BackendError::without_cause(format!(
                "GetQueueAttributes {dlq_url}: no QueueArn"
            )))
        })?;

    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": MAX_RECEIVES.to_string(),
    })
    .to_string();
    let queue_url = client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await
        .map_err(|e| sdk_error("CreateQueue", name, e))?
        .queue_url()
        .map(str::to_owned)
        .ok_or_else(|| {
            QueueError::Unavailable(BackendError::without_cause(format!(
                "CreateQueue {name}: no queue url"
            )))
        })?;
    Ok((queue_url, dlq_url))
}

/// Whole seconds, rounded to the nearest (SQS takes seconds).
fn rounded_seconds(duration: Duration) -> i32 {
    let seconds = duration.as_millis().saturating_add(500) / 1000;
    i32::try_from(seconds).unwrap_or(i32::MAX)
}

/// SQS also reports a stale receipt handle as `InvalidParameterValue` mentioning it.
fn is_invalid_receipt<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    let Some(e) = err.as_service_error() else {
        return false;
    };
    matches!(
        e.code(),
        Some("ReceiptHandleIsInvalid" | "MessageNotInflight")
    ) || (e.code() == Some("InvalidParameterValue")
        && e.message().is_some_and(|m| m.contains("ReceiptHandle")))
}

/// Error contexts carry the operation, the queue and the service's message, never
/// credentials.
fn sdk_error<E, R>(operation: &str, queue: &str, err: SdkError<E, R>) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    QueueError::Unavailable(BackendError::new(
        format!("{operation} on {queue}"),
        crate::sdk_cause(err),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_to_whole_seconds() {
        assert_eq!(rounded_seconds(Duration::ZERO), 0);
        assert_eq!(rounded_seconds(Duration::from_millis(499)), 0);
        assert_eq!(rounded_seconds(Duration::from_millis(500)), 1);
        assert_eq!(rounded_seconds(Duration::from_millis(1499)), 1);
        assert_eq!(rounded_seconds(Duration::from_secs(30)), 30);
        assert_eq!(rounded_seconds(Duration::MAX), i32::MAX);
    }
}
