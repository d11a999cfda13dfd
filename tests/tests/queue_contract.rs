//! The queue port's contract, run against every adapter: SQLite always, SQS when
//! `AWS_ENDPOINT_URL` points at moto_server (see `linkledger_tests::backends`).
//!
//! Visibility timeouts are 1 s to keep the suite fast; every wait for a message to come
//! back is a bounded poll, so a slow backend makes a test slower, not flaky.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use linkledger_store::ports::queue::MAX_MESSAGE_BYTES;
use linkledger_store::ports::{Message, Queue, QueueError, MAX_RECEIVES};

type Q = Arc<dyn Queue>;

const SHORT: Duration = Duration::from_secs(1);
const LONG: Duration = Duration::from_secs(60);
const NO_WAIT: Duration = Duration::ZERO;
/// Upper bound on waiting for a hidden message to come back.
const PATIENCE: Duration = Duration::from_secs(15);

/// Receives until a message arrives (or `PATIENCE` runs out), hiding it for `visibility`.
async fn receive_one(queue: &Q, visibility: Duration) -> Message {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut got = queue.receive(1, visibility, SHORT).await.expect("receive");
        assert!(got.len() <= 1, "receive(1) returned {} messages", got.len());
        if let Some(message) = got.pop() {
            return message;
        }
        assert!(
            Instant::now() < deadline,
            "no message became visible within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn assert_empty_now(queue: &Q) {
    let got = queue.receive(10, LONG, NO_WAIT).await.expect("receive");
    assert!(got.is_empty(), "expected no visible message, got {got:?}");
}

async fn send_receive_delete(queue: Q) {
    let body = r#"{"event":"click","who":"Zoë 🚀"}"#;
    let id = queue.send(body).await.unwrap();
    assert!(!id.is_empty());

    let message = receive_one(&queue, SHORT).await;
    assert_eq!(
        (
            message.id.as_str(),
            message.body.as_str(),
            message.receive_count
        ),
        (id.as_str(), body, 1)
    );
    assert!(!message.receipt.is_empty());
    queue.delete(&message.receipt).await.unwrap();

    // Deleted: it does not come back, even after its visibility timeout.
    tokio::time::sleep(SHORT + Duration::from_millis(700)).await;
    assert_empty_now(&queue).await;
    assert!(queue.receive_dead(10, LONG).await.unwrap().is_empty());
}

async fn hidden_until_visibility_timeout(queue: Q) {
    let id = queue.send("retry me").await.unwrap();
    let started = Instant::now();
    let first = receive_one(&queue, SHORT).await;
    assert_eq!((first.id.as_str(), first.receive_count), (id.as_str(), 1));
    assert_empty_now(&queue).await;

    let second = receive_one(&queue, LONG).await;
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "came back after {:?}",
        started.elapsed()
    );
    assert_eq!(
        (
            second.id.as_str(),
            second.body.as_str(),
            second.receive_count
        ),
        (id.as_str(), "retry me", 2)
    );
    assert_ne!(
        second.receipt, first.receipt,
        "each receive has its own receipt"
    );
    assert_empty_now(&queue).await;
    queue.delete(&second.receipt).await.unwrap();
}

async fn change_visibility_to_zero_releases(queue: Q) {
    let id = queue.send("release me").await.unwrap();
    let first = receive_one(&queue, LONG).await;
    assert_empty_now(&queue).await;

    queue
        .change_visibility(&first.receipt, Duration::ZERO)
        .await
        .unwrap();
    let again = receive_one(&queue, LONG).await;
    assert_eq!((again.id.as_str(), again.receive_count), (id.as_str(), 2));

    // Extending the visibility keeps it hidden.
    queue.change_visibility(&again.receipt, LONG).await.unwrap();
    assert_empty_now(&queue).await;
    queue.delete(&again.receipt).await.unwrap();
}

async fn dead_letter_after_max_receives(queue: Q) {
    let id = queue.send("poison").await.unwrap();
    queue.send("healthy").await.unwrap();

    // Receive the poison message MAX_RECEIVES times without deleting it; delete the other.
    let mut poison_receives = 0;
    let deadline = Instant::now() + PATIENCE * 2;
    while poison_receives < MAX_RECEIVES {
        assert!(
            Instant::now() < deadline,
            "only {poison_receives} receives of the poison message"
        );
        for message in queue.receive(10, SHORT, SHORT).await.unwrap() {
            if message.id == id {
                poison_receives += 1;
                assert_eq!(message.receive_count, poison_receives);
            } else {
                queue.delete(&message.receipt).await.unwrap();
            }
        }
    }

    // It is never delivered again; it shows up in the dead-letter queue instead.
    let deadline = Instant::now() + PATIENCE;
    let dead = loop {
        let live = queue.receive(10, SHORT, NO_WAIT).await.unwrap();
        assert!(
            live.iter().all(|m| m.id != id),
            "delivered again after {MAX_RECEIVES} receives: {live:?}"
        );
        let dead = queue.receive_dead(10, LONG).await.unwrap();
        if !dead.is_empty() {
            break dead;
        }
        assert!(
            Instant::now() < deadline,
            "not dead-lettered within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(
        (dead[0].id.as_str(), dead[0].body.as_str()),
        (id.as_str(), "poison")
    );

    // Hidden in the dead-letter queue too once received; gone from the live queue.
    assert!(queue.receive_dead(10, LONG).await.unwrap().is_empty());
    tokio::time::sleep(SHORT + Duration::from_millis(200)).await;
    assert_empty_now(&queue).await;
}

async fn batch_receive_up_to_ten(queue: Q) {
    let mut sent = HashSet::new();
    for i in 0..15 {
        sent.insert(queue.send(&format!("message {i}")).await.unwrap());
    }

    let small = queue.receive(3, LONG, SHORT).await.unwrap();
    assert!(
        (1..=3).contains(&small.len()),
        "receive(3) returned {}",
        small.len()
    );

    let mut received: Vec<Message> = small;
    let mut largest_batch = 0;
    let deadline = Instant::now() + PATIENCE;
    while received.len() < sent.len() {
        assert!(
            Instant::now() < deadline,
            "received {} of {}",
            received.len(),
            sent.len()
        );
        // Asking for more than 10 is clamped to SQS's limit.
        let batch = queue.receive(25, LONG, SHORT).await.unwrap();
        assert!(
            batch.len() <= 10,
            "a batch holds at most 10 messages, got {}",
            batch.len()
        );
        largest_batch = largest_batch.max(batch.len());
        received.extend(batch);
    }
    assert!(
        largest_batch > 1,
        "receive never returned more than one message"
    );
    let ids: HashSet<String> = received.iter().map(|m| m.id.clone()).collect();
    assert_eq!(
        ids.len(),
        received.len(),
        "a hidden message was delivered twice"
    );
    assert_eq!(ids, sent);
    assert!(received.iter().all(|m| m.receive_count == 1));
    for message in &received {
        queue.delete(&message.receipt).await.unwrap();
    }
    assert_empty_now(&queue).await;
}

async fn receive_waits_then_returns_empty(queue: Q) {
    let started = Instant::now();
    let got = queue.receive(10, SHORT, SHORT).await.unwrap();
    assert!(got.is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "waited {:?}",
        started.elapsed()
    );
    assert!(queue.receive_dead(10, SHORT).await.unwrap().is_empty());
}

async fn oversized_messages_are_refused(queue: Q) {
    let too_large = "x".repeat(MAX_MESSAGE_BYTES + 1);
    let err = queue.send(&too_large).await.unwrap_err();
    assert!(
        matches!(err, QueueError::TooLarge(n) if n == MAX_MESSAGE_BYTES + 1),
        "{err:?}"
    );
    // The limit counts bytes, not characters.
    let multibyte = "é".repeat(MAX_MESSAGE_BYTES / 2 + 1);
    assert!(matches!(
        queue.send(&multibyte).await,
        Err(QueueError::TooLarge(_))
    ));

    let largest = "y".repeat(MAX_MESSAGE_BYTES);
    let id = queue.send(&largest).await.unwrap();
    let message = receive_one(&queue, LONG).await;
    assert_eq!(message.id, id);
    assert_eq!(message.body.len(), MAX_MESSAGE_BYTES);
    queue.delete(&message.receipt).await.unwrap();
}

async fn unknown_receipt_is_rejected(queue: Q) {
    let err = queue
        .change_visibility("no-such-receipt", LONG)
        .await
        .unwrap_err();
    assert!(matches!(err, QueueError::InvalidReceipt), "{err:?}");
}

macro_rules! contract {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let backend = linkledger_tests::backends::sqlite_queue();
                    super::$scenario(backend.handle()).await;
                }
            )*
        }

        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let Some(backend) = linkledger_tests::backends::aws_queue_backend().await else {
                        return;
                    };
                    super::$scenario(backend.handle()).await;
                }
            )*
        }
    };
}

contract!(
    send_receive_delete,
    hidden_until_visibility_timeout,
    change_visibility_to_zero_releases,
    dead_letter_after_max_receives,
    batch_receive_up_to_ten,
    receive_waits_then_returns_empty,
    oversized_messages_are_refused,
    unknown_receipt_is_rejected,
);
