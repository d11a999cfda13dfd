//! The webhook delivery log, on both backends: the store's log (one partition per program and
//! platform, newest first, one query in proportion to the limit, expiring after 7 days), and
//! what the ingest routes write to it through HTTP (each result of a known program's delivery,
//! nothing for strangers, one entry per result per second, a failed write never changing the
//! answer).

use std::sync::Arc;

use axum::body::Body;
use futures_util::future::join_all;
use http::{Request, StatusCode};
use serde_json::json;
use tower::ServiceExt;

use linkledger_core::conversion::Platform;
use linkledger_core::delivery_log::{Delivery, DeliveryResult};
use linkledger_core::ids::ProgramId;
use linkledger_store::ports::OpCounts;
use linkledger_store::{Store, DELIVERY_LOG_RETENTION_DAYS};
use linkledger_tests::app::TestApp;
use linkledger_tests::faults::{unavailable, FaultyTable};
use linkledger_tests::logs::capture_json;
use linkledger_tests::on_both_backends;
use linkledger_tests::webhooks::{now_unix, postback_headers, rfc3339_in, shopify_headers};
use linkledger_webhooks::WebhookState;

fn diff(after: OpCounts, before: OpCounts) -> (u64, u64) {
    (after.reads - before.reads, after.writes - before.writes)
}

/// What a listing says, without the times: (result, status, topic).
fn summary(deliveries: &[Delivery]) -> Vec<(DeliveryResult, u16, String)> {
    deliveries
        .iter()
        .map(|d| (d.result, d.status, d.topic.clone()))
        .collect()
}

fn delivery(
    program: &ProgramId,
    platform: Platform,
    at: time::OffsetDateTime,
    topic: &str,
    result: DeliveryResult,
) -> Delivery {
    Delivery::new(program.clone(), platform, at, topic, result)
}

// The store's log.

async fn the_log_lists_one_partition_newest_first_in_one_query(app: TestApp) {
    let store = &app.store;
    let (program, other) = (ProgramId::generate(), ProgramId::generate());
    let now = store.now();
    let at = |seconds_ago: i64| now - time::Duration::seconds(seconds_ago);
    let results = [
        DeliveryResult::Accepted,
        DeliveryResult::Ignored,
        DeliveryResult::BadSignature,
        DeliveryResult::Stale,
        DeliveryResult::Malformed,
    ];
    // Five postbacks a second apart (oldest first), written out of order.
    let mut written: Vec<Delivery> = results
        .iter()
        .enumerate()
        .map(|(i, r)| delivery(&program, Platform::Postback, at(5 - i as i64), "sale", *r))
        .collect();
    for d in written.iter().rev() {
        let before = app.table.op_counts();
        store.record_delivery(d).await.unwrap();
        assert_eq!(
            diff(app.table.op_counts(), before),
            (0, 1),
            "one write, no read"
        );
    }
    // Elsewhere: another platform, another program, and entries older than the retention.
    store
        .record_delivery(&delivery(
            &program,
            Platform::Shopify,
            at(1),
            "orders/paid",
            DeliveryResult::Ignored,
        ))
        .await
        .unwrap();
    store
        .record_delivery(&delivery(
            &other,
            Platform::Postback,
            at(1),
            "lead",
            DeliveryResult::Accepted,
        ))
        .await
        .unwrap();
    let expired = now - time::Duration::days(DELIVERY_LOG_RETENTION_DAYS + 1);
    store
        .record_delivery(&delivery(
            &program,
            Platform::Postback,
            expired,
            "sale",
            DeliveryResult::Accepted,
        ))
        .await
        .unwrap();
    // Within the retention it is still listed (at its place: the oldest).
    let kept = delivery(
        &program,
        Platform::Postback,
        now - time::Duration::days(DELIVERY_LOG_RETENTION_DAYS - 1),
        "refund",
        DeliveryResult::Accepted,
    );
    store.record_delivery(&kept).await.unwrap();
    written.insert(0, kept);
    written.reverse();

    let before = app.table.op_counts();
    let newest = store
        .recent_deliveries(&program, Platform::Postback, 3)
        .await
        .unwrap();
    assert_eq!(
        diff(app.table.op_counts(), before),
        (1, 0),
        "one query, however long the log"
    );
    assert_eq!(newest, written[..3]);

    let all = store
        .recent_deliveries(&program, Platform::Postback, 100)
        .await
        .unwrap();
    assert_eq!(all, written, "newest first, the expired entry absent");
    assert_eq!(
        summary(
            &store
                .recent_deliveries(&program, Platform::Shopify, 10)
                .await
                .unwrap()
        ),
        [(DeliveryResult::Ignored, 200, "orders/paid".to_string())]
    );
    assert_eq!(
        store
            .recent_deliveries(&other, Platform::Postback, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(store
        .recent_deliveries(&other, Platform::Stripe, 10)
        .await
        .unwrap()
        .is_empty());
    // A limit of 0 is read as 1.
    assert_eq!(
        store
            .recent_deliveries(&program, Platform::Postback, 0)
            .await
            .unwrap(),
        written[..1]
    );

    // Deliveries within one millisecond list newest first (the sort key holds nanoseconds).
    let ms = now + time::Duration::milliseconds(2);
    let within: Vec<Delivery> = [100, 400, 700]
        .into_iter()
        .map(|micros| {
            delivery(
                &program,
                Platform::Woocommerce,
                ms + time::Duration::microseconds(micros),
                "order.updated",
                DeliveryResult::Accepted,
            )
        })
        .collect();
    for d in [&within[1], &within[2], &within[0]] {
        store.record_delivery(d).await.unwrap();
    }
    let listed = store
        .recent_deliveries(&program, Platform::Woocommerce, 10)
        .await
        .unwrap();
    assert_eq!(
        listed,
        [within[2].clone(), within[1].clone(), within[0].clone()]
    );

    // Two deliveries of the same instant both stay.
    let same = now + time::Duration::milliseconds(1);
    for result in [DeliveryResult::Accepted, DeliveryResult::Unavailable] {
        store
            .record_delivery(&delivery(
                &program,
                Platform::Stripe,
                same,
                "invoice.paid",
                result,
            ))
            .await
            .unwrap();
    }
    let mut results: Vec<DeliveryResult> = store
        .recent_deliveries(&program, Platform::Stripe, 10)
        .await
        .unwrap()
        .iter()
        .map(|d| d.result)
        .collect();
    results.sort_by_key(|r| r.status());
    assert_eq!(
        results,
        [DeliveryResult::Accepted, DeliveryResult::Unavailable]
    );
}
on_both_backends!(the_log_lists_one_partition_newest_first_in_one_query);

// Through HTTP.

const POSTBACK_SECRET: &str = "pbk_test_secret_0123456789";
const SHOPIFY_SECRET: &str = "shpss_test_secret_1";

fn sale(order: &str) -> Vec<u8> {
    json!({"event": "sale", "order_id": order, "amount": "100.00", "currency": "USD",
        "occurred_at": rfc3339_in(-60)})
    .to_string()
    .into_bytes()
}

async fn postback(app: &TestApp, program: &str, secret: &str, t: i64, body: &[u8]) -> StatusCode {
    app.deliver(
        &format!("/postback/{program}"),
        &postback_headers(secret, body, t),
        body,
    )
    .await
    .status
}

async fn shopify(
    app: &TestApp,
    program: &str,
    secret: &str,
    topic: &str,
    body: &[u8],
) -> StatusCode {
    app.deliver(
        &format!("/webhooks/shopify/{program}"),
        &shopify_headers(secret, topic, "wh-1", body),
        body,
    )
    .await
    .status
}

/// A step of the store's clock, so consecutive deliveries never share a millisecond.
fn tick(app: &TestApp) {
    app.clock.advance(time::Duration::milliseconds(5));
}

async fn a_known_programs_deliveries_are_logged_with_their_results(app: TestApp) {
    let program = app.program().await;
    app.webhook_secret(&program, Platform::Postback, Some(POSTBACK_SECRET))
        .await;
    app.webhook_secret(&program, Platform::Shopify, Some(SHOPIFY_SECRET))
        .await;
    let id = ProgramId::parse(&program).unwrap();

    let good = sale("log-1");
    assert_eq!(
        postback(&app, &program, POSTBACK_SECRET, now_unix(), &good).await,
        StatusCode::OK
    );
    tick(&app);
    assert_eq!(
        postback(
            &app,
            &program,
            "someone_elses_secret",
            now_unix(),
            &sale("log-2")
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
    tick(&app);
    assert_eq!(
        postback(
            &app,
            &program,
            POSTBACK_SECRET,
            now_unix() - 400,
            &sale("log-3")
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
    tick(&app);
    // Signed, but no order: the body's topic is read once the signature held.
    let malformed = json!({"event": "sale", "email": "anna@example.com"}).to_string();
    assert_eq!(
        postback(
            &app,
            &program,
            POSTBACK_SECRET,
            now_unix(),
            malformed.as_bytes()
        )
        .await,
        StatusCode::BAD_REQUEST
    );
    tick(&app);
    let order = json!({"id": 1, "email": "anna@example.com"}).to_string();
    assert_eq!(
        shopify(
            &app,
            &program,
            SHOPIFY_SECRET,
            "orders/create",
            order.as_bytes()
        )
        .await,
        StatusCode::OK,
        "a topic we do not book"
    );
    tick(&app);
    assert_eq!(
        shopify(&app, &program, "wrong", "orders/paid", order.as_bytes()).await,
        StatusCode::UNAUTHORIZED
    );
    tick(&app);
    // No Stripe secret set yet.
    let reply = app
        .deliver(
            &format!("/webhooks/stripe/{program}"),
            &[],
            br#"{"type":"invoice.paid"}"#,
        )
        .await;
    assert_eq!(reply.error_code(), "webhook_not_configured");

    let postbacks = app
        .store
        .recent_deliveries(&id, Platform::Postback, 10)
        .await
        .unwrap();
    assert_eq!(
        summary(&postbacks),
        [
            (DeliveryResult::Malformed, 400, "sale".to_string()),
            (DeliveryResult::Stale, 401, "other".to_string()),
            (DeliveryResult::BadSignature, 401, "other".to_string()),
            (DeliveryResult::Accepted, 200, "sale".to_string()),
        ],
        "newest first; an unverified body is not read"
    );
    assert!(postbacks.windows(2).all(|w| w[0].at > w[1].at));
    assert!(postbacks
        .iter()
        .all(|d| d.program_id == id && d.platform == Platform::Postback));
    assert_eq!(
        summary(
            &app.store
                .recent_deliveries(&id, Platform::Shopify, 10)
                .await
                .unwrap()
        ),
        [
            (DeliveryResult::BadSignature, 401, "orders/paid".to_string()),
            (DeliveryResult::Ignored, 200, "orders/create".to_string()),
        ]
    );
    assert_eq!(
        summary(
            &app.store
                .recent_deliveries(&id, Platform::Stripe, 10)
                .await
                .unwrap()
        ),
        [(DeliveryResult::NotConfigured, 401, "other".to_string())]
    );
    // Nothing of a payload or a secret is kept.
    let everything = serde_json::to_string(&postbacks).unwrap();
    for secret in ["anna@example.com", POSTBACK_SECRET, SHOPIFY_SECRET, "log-1"] {
        assert!(!everything.contains(secret), "{secret} in {everything}");
    }
    // The accepted postback was queued as before.
    assert_eq!(app.drain().await.done, 1);
}
on_both_backends!(a_known_programs_deliveries_are_logged_with_their_results);

async fn deliveries_to_strangers_write_nothing(app: TestApp) {
    let stranger = ProgramId::generate();
    let body = sale("stranger-1");
    let before = app.table.op_counts();
    for path in [
        format!("/postback/{stranger}"),
        format!("/webhooks/shopify/{stranger}"),
        format!("/webhooks/stripe/{stranger}"),
        "/postback/not-a-program".to_string(),
    ] {
        let reply = app
            .deliver(
                &path,
                &postback_headers(POSTBACK_SECRET, &body, now_unix()),
                &body,
            )
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(
        diff(app.table.op_counts(), before).1,
        0,
        "no write for a stranger"
    );
    for platform in Platform::ALL {
        assert!(app
            .store
            .recent_deliveries(&stranger, platform, 10)
            .await
            .unwrap()
            .is_empty());
    }
}
on_both_backends!(deliveries_to_strangers_write_nothing);

async fn the_log_keeps_one_delivery_per_result_per_second(app: TestApp) {
    let program = app.program().await;
    app.webhook_secret(&program, Platform::Postback, Some(POSTBACK_SECRET))
        .await;
    let id = ProgramId::parse(&program).unwrap();
    let log = || async {
        summary(
            &app.store
                .recent_deliveries(&id, Platform::Postback, 50)
                .await
                .unwrap(),
        )
        .into_iter()
        .map(|(result, _, _)| result)
        .collect::<Vec<_>>()
    };

    // A burst at once: five accepted, three bad signatures.
    let bodies: Vec<Vec<u8>> = (0..5).map(|n| sale(&format!("burst-{n}"))).collect();
    let t = now_unix();
    // The throttle's second is the store's clock, which runs: on a loaded machine a burst can
    // straddle a second, and then a result is logged once per second it spans.
    let burst_started = std::time::Instant::now();
    let accepted = join_all(
        bodies
            .iter()
            .map(|b| postback(&app, &program, POSTBACK_SECRET, t, b)),
    )
    .await;
    assert!(
        accepted.iter().all(|s| *s == StatusCode::OK),
        "{accepted:?}"
    );
    let refused = join_all(
        bodies[..3]
            .iter()
            .map(|b| postback(&app, &program, "wrong", t, b)),
    )
    .await;
    assert!(
        refused.iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "{refused:?}"
    );
    let burst_took = burst_started.elapsed();
    let mut burst_log = log().await;
    if burst_took >= std::time::Duration::from_millis(900) {
        assert!(burst_log.len() <= 4, "{burst_log:?} over {burst_took:?}");
        burst_log.dedup();
    }
    assert_eq!(
        burst_log,
        [DeliveryResult::BadSignature, DeliveryResult::Accepted]
    );
    let logged_in_burst = log().await.len();

    // A second later each result is logged again.
    app.clock.advance(time::Duration::SECOND);
    assert_eq!(
        postback(
            &app,
            &program,
            POSTBACK_SECRET,
            now_unix(),
            &sale("later-1")
        )
        .await,
        StatusCode::OK
    );
    let after = log().await;
    assert_eq!(after.len(), logged_in_burst + 1, "{after:?}");
    assert_eq!(after[0], DeliveryResult::Accepted, "{after:?}");
    assert_eq!(
        app.drain().await.done,
        6,
        "every accepted postback was queued"
    );
}
on_both_backends!(the_log_keeps_one_delivery_per_result_per_second);

/// A log that cannot be written changes no answer: the postback is queued and answered 200,
/// and the failure is logged with its cause (never the body).
#[tokio::test]
async fn a_failed_log_write_is_logged_and_changes_no_answer() {
    let app = TestApp::sqlite().await;
    let program = app.program().await;
    app.webhook_secret(&program, Platform::Postback, Some(POSTBACK_SECRET))
        .await;
    let failing = FaultyTable::over(app.table.clone(), |call| {
        call.is_write()
            .then(|| unavailable("injected write failure"))
    });
    let store = Store::new(Arc::new(failing)).with_clock(app.clock.clone());
    let router = linkledger_webhooks::router(Arc::new(WebhookState::new(store, app.queue.clone())));
    let body = sale("unlogged-1");
    let mut request = Request::post(format!("/postback/{program}"));
    for (name, value) in postback_headers(POSTBACK_SECRET, &body, now_unix()) {
        request = request.header(name, value);
    }
    let (logs, _guard) = capture_json();
    let response = router
        .oneshot(request.body(Body::from(body.clone())).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let line = logs.line("delivery log write failed");
    assert_eq!(line["level"], "WARN");
    assert_eq!(line["result"], "accepted");
    assert!(
        line["error"]
            .as_str()
            .unwrap()
            .contains("injected write failure"),
        "{line}"
    );
    // Neither the secret nor anything of the body (the order id is the delivery span's, by
    // design) reaches the warning; the secret reaches no line at all.
    let mut warning = line.clone();
    warning.as_object_mut().unwrap().remove("spans");
    let warning = warning.to_string();
    for text in ["unlogged-1", "100.00", "occurred_at"] {
        assert!(!warning.contains(text), "{text} in {warning}");
    }
    assert!(!logs.text().contains(POSTBACK_SECRET));
    assert_eq!(app.drain().await.done, 1, "the postback was queued");
    let id = ProgramId::parse(&program).unwrap();
    assert!(app
        .store
        .recent_deliveries(&id, Platform::Postback, 10)
        .await
        .unwrap()
        .is_empty());
}
