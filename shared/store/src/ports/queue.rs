//! The queue port: at-least-once delivery with visibility timeouts, receive counts and a
//! dead-letter queue after a fixed number of receives (SQS with a redrive policy in AWS,
//! the durable `queue_messages` table locally).

use std::time::Duration;

use async_trait::async_trait;

use super::BackendError;

/// Receives after which an unprocessed message moves to the dead-letter queue.
pub const MAX_RECEIVES: u32 = 3;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    /// Handle for [`Queue::delete`] and [`Queue::change_visibility`]; valid for this receive only.
    pub receipt: String,
    pub body: String,
    /// How many times this message has been received, this time included.
    pub receive_count: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("message too large: {0} bytes")]
    TooLarge(usize),
    #[error("unknown or expired receipt")]
    InvalidReceipt,
    /// The backend failed (I/O, network, throttling): retry later.
    #[error("queue unavailable")]
    Unavailable(#[source] BackendError),
}

#[async_trait]
pub trait Queue: Send + Sync + 'static {
    /// Enqueues a message and returns its id. Once this returns, the message is durable.
    async fn send(&self, body: &str) -> Result<String, QueueError>;

    /// Up to `max` (1..=10) visible messages, hidden for `visibility` afterwards. Waits up to
    /// `wait` for the first one. A message received [`MAX_RECEIVES`] times and not deleted
    /// moves to the dead-letter queue instead of being delivered again.
    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<Message>, QueueError>;

    /// Acknowledges a message: it is never delivered again.
    async fn delete(&self, receipt: &str) -> Result<(), QueueError>;

    /// Hides (or, with zero, releases) a received message for `visibility` from now.
    async fn change_visibility(
        &self,
        receipt: &str,
        visibility: Duration,
    ) -> Result<(), QueueError>;

    /// Receives from the dead-letter queue (same semantics as `receive`, no wait).
    async fn receive_dead(
        &self,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<Message>, QueueError>;
}

/// SQS's limit, applied by both adapters so that local behaviour matches the cloud.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
