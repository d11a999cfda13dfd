//! One bad message never harms the others (issue 10, finding 1), on both backends: a poison
//! message between good ones in one batch is parked on its own while every good one books, in
//! the local consumer and in Lambda's SQS batch handler.

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use http::StatusCode;
use serde_json::{json, Value};

use linkledger_core::conversion::Platform;
use linkledger_store::ports::MAX_RECEIVES;
use linkledger_tests::app::TestApp;
use linkledger_tests::on_both_backends;
use linkledger_tests::webhooks::{now_unix, postback_headers, rfc3339_in};
use linkledger_worker::{ConsumerOptions, Disposition};

/// A program whose postback secret is set, and a creator with promo code `ANNA10`.
async fn shop(app: &TestApp) -> (String, String, String) {
    let program = app.program().await;
    let (creator, _) = app.creator(&program, "anna").await;
    app.promo_code(&program, "ANNA10", &creator).await;
    let secret = app.webhook_secret(&program, Platform::Postback, None).await;
    (program, creator, secret)
}

/// A signed postback sale of 10.00 with promo code ANNA10, answered 200 (queued).
async fn sell(app: &TestApp, program: &str, secret: &str, order: &str) {
    let body = json!({
        "event": "sale", "order_id": order, "amount": "10.00", "currency": "USD",
        "coupon": "ANNA10", "occurred_at": rfc3339_in(-60)
    })
    .to_string()
    .into_bytes();
    let reply = app
        .deliver(
            &format!("/postback/{program}"),
            &postback_headers(secret, &body, now_unix()),
            &body,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
}

/// What the webhooks function of today's main put on the queue for a postback dated
/// 9999-12-31: a well-formed event whose holding period cannot be added to its time.
fn poison(program: &str, order: &str) -> String {
    json!({
        "program_id": program,
        "platform": "postback",
        "delivery_id": format!("poison-{order}"),
        "received_at": rfc3339_in(0),
        "fact": {
            "kind": "sale",
            "order_id": order,
            "occurred_at": "9999-12-31T23:59:59Z",
            "net": {"amount": "10.00", "currency": "USD"},
            "refund_basis": {"amount": "10.00", "currency": "USD"},
            "coupons": ["ANNA10"]
        }
    })
    .to_string()
}

async fn booked_orders(app: &TestApp, program: &str) -> Vec<String> {
    let mut orders: Vec<String> = app
        .all_pages(&format!("/api/conversions?program={program}"))
        .await
        .iter()
        .map(|c: &Value| c["order_id"].as_str().unwrap_or_default().to_string())
        .collect();
    orders.sort();
    orders
}

async fn a_poison_message_between_good_ones_is_parked_while_every_good_one_books(app: TestApp) {
    let (program, creator, secret) = shop(&app).await;
    sell(&app, &program, &secret, "good-1").await;
    sell(&app, &program, &secret, "good-2").await;
    app.queue
        .send(&poison(&program, "poison-1"))
        .await
        .expect("queued");
    sell(&app, &program, &secret, "good-3").await;
    sell(&app, &program, &secret, "good-4").await;

    // The consumer takes all five in one batch; the poison is released at once each time,
    // so three drains move it to the dead-letter queue.
    let options = ConsumerOptions {
        batch: 10,
        consumers: 1,
        retry_delay: Duration::from_secs(1),
        ..ConsumerOptions::default()
    };
    let drained = linkledger_worker::drain(&app.store, app.queue.as_ref(), &options)
        .await
        .expect("the queue answers");
    assert_eq!(drained.done, 4, "{drained:?}");
    assert_eq!(drained.poisoned, MAX_RECEIVES as usize, "{drained:?}");

    assert_eq!(
        booked_orders(&app, &program).await,
        ["good-1", "good-2", "good-3", "good-4"]
    );
    let ledger = app
        .all_pages(&format!("/api/ledger?creator={creator}"))
        .await;
    assert_eq!(ledger.len(), 4, "one accrual per good sale");

    let mut dead = Vec::new();
    for _ in 0..20 {
        dead = app
            .queue
            .receive_dead(10, Duration::from_secs(30))
            .await
            .expect("the dead-letter queue answers");
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        dead.len(),
        1,
        "the poison is parked in the dead-letter queue"
    );
    assert!(dead[0].body.contains("poison-1"));
}
on_both_backends!(a_poison_message_between_good_ones_is_parked_while_every_good_one_books);

fn sqs_record(id: &str, body: String) -> Value {
    json!({"messageId": id, "receiptHandle": id, "body": body, "attributes": {},
           "messageAttributes": {}, "eventSource": "aws:sqs"})
}

async fn lambdas_batch_reports_only_the_poison_as_a_failure(app: TestApp) {
    let (program, _creator, secret) = shop(&app).await;
    sell(&app, &program, &secret, "good-1").await;
    sell(&app, &program, &secret, "good-2").await;
    let good = app
        .queue
        .receive(10, Duration::from_secs(30), Duration::from_secs(1))
        .await
        .expect("the queued sales");
    assert_eq!(good.len(), 2);
    let event: SqsEvent = serde_json::from_value(json!({"Records": [
        sqs_record("m-good-1", good[0].body.clone()),
        sqs_record("m-poison", poison(&program, "poison-1")),
        sqs_record("m-good-2", good[1].body.clone()),
        sqs_record("m-garbage", "{\"not\": \"an event\"}".into()),
    ]}))
    .expect("an SQS event");
    let response = linkledger_worker::handle_sqs_batch(&app.store, event).await;
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, ["m-poison", "m-garbage"]);
    assert_eq!(booked_orders(&app, &program).await, ["good-1", "good-2"]);
}
on_both_backends!(lambdas_batch_reports_only_the_poison_as_a_failure);

#[tokio::test]
async fn an_event_outside_the_bounds_is_poison_not_a_panic() {
    let app = TestApp::sqlite().await;
    let (program, _creator, _secret) = shop(&app).await;
    let disposition = linkledger_worker::process_message(&app.store, &poison(&program, "p")).await;
    match disposition {
        Disposition::Poison(reason) => assert!(reason.contains("occurred_at"), "{reason}"),
        other => panic!("expected poison, got {other:?}"),
    }
}

async fn an_order_too_large_once_converted_is_held_not_poisoned(app: TestApp) {
    let (program, _creator, secret) = shop(&app).await;
    let reply = app
        .call(
            http::Method::PUT,
            &format!("/api/programs/{program}/fx-rates"),
            Some(&app.admin),
            Some(json!({"rates": {"EUR": "99999999"}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    // Within the amount bound as the shop reports it (just under 10^13 minor units), far
    // past it in dollars at that rate.
    let body = json!({
        "event": "sale", "order_id": "huge-1", "amount": "99999999999.99", "currency": "EUR",
        "coupon": "ANNA10", "occurred_at": rfc3339_in(-60)
    })
    .to_string()
    .into_bytes();
    let reply = app
        .deliver(
            &format!("/postback/{program}"),
            &postback_headers(&secret, &body, now_unix()),
            &body,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let drained = app.drain().await;
    assert_eq!((drained.done, drained.poisoned), (1, 0), "{drained:?}");
    let held = app
        .all_pages(&format!("/api/conversions?program={program}&status=held"))
        .await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["hold_reasons"], json!(["amount_out_of_range"]));
    let id = held[0]["id"].as_str().unwrap_or_default();
    let approve = app
        .post(
            &format!("/api/conversions/{id}/approve"),
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(approve.status, StatusCode::BAD_REQUEST, "{}", approve.json);
    let reject = app
        .post(
            &format!("/api/conversions/{id}/reject"),
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(reject.status, StatusCode::OK, "{}", reject.json);
}
on_both_backends!(an_order_too_large_once_converted_is_held_not_poisoned);

/// The conversions queue, refusing every send while `down` is set.
struct Refusing {
    inner: std::sync::Arc<dyn linkledger_store::ports::Queue>,
    down: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl linkledger_store::ports::Queue for Refusing {
    async fn send(&self, body: &str) -> Result<String, linkledger_store::ports::QueueError> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(linkledger_store::ports::QueueError::Unavailable(
                linkledger_store::ports::BackendError::without_cause("injected"),
            ));
        }
        self.inner.send(body).await
    }
    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<linkledger_store::ports::Message>, linkledger_store::ports::QueueError> {
        self.inner.receive(max, visibility, wait).await
    }
    async fn delete(&self, receipt: &str) -> Result<(), linkledger_store::ports::QueueError> {
        self.inner.delete(receipt).await
    }
    async fn change_visibility(
        &self,
        receipt: &str,
        visibility: Duration,
    ) -> Result<(), linkledger_store::ports::QueueError> {
        self.inner.change_visibility(receipt, visibility).await
    }
    async fn receive_dead(
        &self,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<linkledger_store::ports::Message>, linkledger_store::ports::QueueError> {
        self.inner.receive_dead(max, visibility).await
    }
}

/// A delivery the queue refuses is answered 503 in our error shape (the platform retries it),
/// never 2xx; its retry, once the queue is back, books it once.
async fn a_delivery_the_queue_refuses_is_503_and_its_retry_books_once(
    table: linkledger_tests::backends::Backend<dyn linkledger_store::ports::Table>,
    queue: std::sync::Arc<dyn linkledger_store::ports::Queue>,
) {
    let refusing = std::sync::Arc::new(Refusing {
        inner: queue,
        down: std::sync::atomic::AtomicBool::new(true),
    });
    let app = TestApp::on(table, refusing.clone()).await;
    let (program, creator, secret) = shop(&app).await;
    let body = json!({
        "event": "sale", "order_id": "o-refused", "amount": "10.00", "currency": "USD",
        "coupon": "ANNA10", "occurred_at": rfc3339_in(-60), "event_id": "delivery-1"
    })
    .to_string()
    .into_bytes();
    let deliver = || async {
        app.deliver(
            &format!("/postback/{program}"),
            &postback_headers(&secret, &body, now_unix()),
            &body,
        )
        .await
    };
    let refused = deliver().await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.json
    );
    assert_eq!(refused.error_code(), "unavailable");
    assert_eq!(app.drain().await.done, 0, "nothing was queued");

    refusing
        .down
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let retried = deliver().await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.json);
    assert_eq!(app.drain().await.done, 1);
    let ledger = app
        .get(&format!("/api/ledger?creator={creator}"), &app.admin)
        .await;
    assert_eq!(ledger.json["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_delivery_is_503_on_sqlite() {
    let (table, queue) = linkledger_tests::backends::sqlite_app_backend();
    a_delivery_the_queue_refuses_is_503_and_its_retry_books_once(table, queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_delivery_is_503_on_dynamodb() {
    if let Some((table, queue)) = linkledger_tests::backends::aws_app_backend().await {
        a_delivery_the_queue_refuses_is_503_and_its_retry_books_once(table, queue).await;
    }
}
