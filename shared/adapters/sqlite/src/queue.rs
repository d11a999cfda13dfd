use std::time::{Duration, Instant};

use async_trait::async_trait;
use rusqlite::{params, Connection};

use super::{unavailable, SqliteDb};
use linkledger_core::ids::random_token;
use linkledger_store::ports::queue::MAX_MESSAGE_BYTES;
use linkledger_store::ports::{BackendError, Message, Queue, QueueError, StoreError, MAX_RECEIVES};

/// How often an empty long-poll looks again.
const POLL_EVERY: Duration = Duration::from_millis(25);

/// A durable queue in the `queue_messages` table, with SQS's semantics: visibility timeout,
/// receive count, and a move to the dead-letter side on the receive after the third.
#[derive(Clone)]
pub struct SqliteQueue {
    db: SqliteDb,
    name: String,
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn to_queue_error(err: StoreError) -> QueueError {
    match err {
        StoreError::ConditionFailed { .. } => QueueError::InvalidReceipt,
        StoreError::Unavailable(backend) => QueueError::Unavailable(backend),
        other => QueueError::Unavailable(BackendError::new("sqlite queue", other)),
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 4)
}

/// Receives up to `max` visible messages of one side (live or dead) of a queue.
/// Whether a message of `queue` can be received now (read-only).
fn any_visible(conn: &Connection, queue: &str, dead: bool) -> Result<bool, StoreError> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM queue_messages
         WHERE queue = ?1 AND dead = ?2 AND visible_at_ms <= ?3)",
    )
    .and_then(|mut s| s.query_row(params![queue, dead, now_ms()], |r| r.get::<_, bool>(0)))
    .map_err(|e| unavailable("queue peek", e))
}

fn receive_now(
    conn: &Connection,
    queue: &str,
    dead: bool,
    max: usize,
    visibility: Duration,
) -> Result<Vec<Message>, StoreError> {
    let now = now_ms();
    let mut select = conn
        .prepare_cached(
            "SELECT id, body, receive_count FROM queue_messages
             WHERE queue = ?1 AND dead = ?2 AND visible_at_ms <= ?3
             ORDER BY visible_at_ms, sent_at_ms LIMIT ?4",
        )
        .map_err(|e| unavailable("queue select", e))?;
    let candidates = select
        .query_map(
            params![queue, dead, now, max.saturating_mul(4) as i64],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, u32>(2)?,
                ))
            },
        )
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(|e| unavailable("queue select", e))?;

    let mut received = Vec::new();
    for (id, body, count) in candidates {
        if !dead && count >= MAX_RECEIVES {
            // Received MAX_RECEIVES times and never deleted: dead-letter it, as SQS's redrive does.
            conn.prepare_cached(
                "UPDATE queue_messages SET dead = 1, receive_count = 0, receipt = NULL, visible_at_ms = ?2 WHERE id = ?1",
            )
            .and_then(|mut s| s.execute(params![id, now]))
            .map_err(|e| unavailable("queue dead-letter", e))?;
            tracing::warn!(queue, message_id = %id, "message dead-lettered after {MAX_RECEIVES} receives");
            continue;
        }
        if received.len() == max {
            continue;
        }
        let receipt = random_token(16);
        conn.prepare_cached(
            "UPDATE queue_messages SET receive_count = receive_count + 1, receipt = ?2, visible_at_ms = ?3 WHERE id = ?1",
        )
        .and_then(|mut s| s.execute(params![id, receipt, now.saturating_add(millis(visibility))]))
        .map_err(|e| unavailable("queue receive", e))?;
        received.push(Message {
            id,
            receipt,
            body,
            receive_count: count.saturating_add(1),
        });
    }
    Ok(received)
}

impl SqliteQueue {
    pub(super) fn new(db: SqliteDb, name: &str) -> Self {
        Self {
            db,
            name: name.to_string(),
        }
    }

    async fn receive_side(
        &self,
        dead: bool,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<Message>, QueueError> {
        let max = max.clamp(1, 10);
        let deadline = Instant::now()
            .checked_add(wait)
            .unwrap_or_else(Instant::now);
        loop {
            // An idle consumer polls: look on a reader first, and only take the single writer
            // (which every redirect's click waits on) when something is there to claim.
            let queue = self.name.clone();
            let visible = self
                .db
                .on_reader(move |conn| any_visible(conn, &queue, dead))
                .await
                .map_err(to_queue_error)?;
            let messages = if visible {
                let queue = self.name.clone();
                self.db
                    .write(move |conn| receive_now(conn, &queue, dead, max, visibility))
                    .await
                    .map_err(to_queue_error)?
            } else {
                Vec::new()
            };
            if !messages.is_empty() || Instant::now() >= deadline {
                return Ok(messages);
            }
            tokio::time::sleep(POLL_EVERY.min(deadline.saturating_duration_since(Instant::now())))
                .await;
        }
    }
}

#[async_trait]
impl Queue for SqliteQueue {
    async fn send(&self, body: &str) -> Result<String, QueueError> {
        if body.len() > MAX_MESSAGE_BYTES {
            return Err(QueueError::TooLarge(body.len()));
        }
        // Time first: a new message's id lands at the end of the id index (a random id would
        // dirty a random page of it per message once the table outgrows the page cache).
        let id = format!("{:013}{}", now_ms().max(0), random_token(12));
        let (queue, body, message_id) = (self.name.clone(), body.to_string(), id.clone());
        self.db
            .write(move |conn| {
                let now = now_ms();
                conn.prepare_cached(
                    "INSERT INTO queue_messages (id, queue, body, sent_at_ms, visible_at_ms) VALUES (?1, ?2, ?3, ?4, ?4)",
                )
                .and_then(|mut s| s.execute(params![message_id, queue, body, now]))
                .map_err(|e| unavailable("queue send", e))
            })
            .await
            .map_err(to_queue_error)?;
        Ok(id)
    }

    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<Message>, QueueError> {
        self.receive_side(false, max, visibility, wait).await
    }

    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        let receipt = receipt.to_string();
        self.db
            .write(move |conn| {
                let deleted = conn
                    .prepare_cached("DELETE FROM queue_messages WHERE receipt = ?1")
                    .and_then(|mut s| s.execute([&receipt]))
                    .map_err(|e| unavailable("queue delete", e))?;
                // SQS accepts deleting an already-deleted message; so do we.
                let _ = deleted;
                Ok(())
            })
            .await
            .map_err(to_queue_error)
    }

    async fn change_visibility(
        &self,
        receipt: &str,
        visibility: Duration,
    ) -> Result<(), QueueError> {
        let receipt = receipt.to_string();
        self.db
            .write(move |conn| {
                let changed = conn
                    .prepare_cached(
                        "UPDATE queue_messages SET visible_at_ms = ?2 WHERE receipt = ?1",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            receipt,
                            now_ms().saturating_add(millis(visibility))
                        ])
                    })
                    .map_err(|e| unavailable("queue visibility", e))?;
                if changed == 0 {
                    return Err(StoreError::ConditionFailed { index: 0 });
                }
                Ok(())
            })
            .await
            .map_err(to_queue_error)
    }

    async fn receive_dead(
        &self,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<Message>, QueueError> {
        self.receive_side(true, max, visibility, Duration::ZERO)
            .await
    }
}
