//! The Lambda path: API Gateway HTTP API (payload 2.0) events, as `lambda_http` turns them into
//! requests, through the same routers the Lambda mains hand to `lambda_http::run`.
//! Fixtures follow the shape of `aws_lambda_events`' `example-apigw-v2-request-*.json`.

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use serde_json::json;
use tower::ServiceExt;

use linkledger_api::ApiState;
use linkledger_core::click::VisitorKey;
use linkledger_redirect::RedirectState;
use linkledger_tests::app::TestApp;

fn event(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/fixtures/lambda/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

async fn body_json(response: http::Response<axum::body::Body>) -> serde_json::Value {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null)
}

#[tokio::test]
async fn redirect_lambda_answers_an_http_api_get_event_and_records_the_click() {
    let app = TestApp::sqlite().await;
    let program = app.program().await;
    let (creator, _) = app.creator(&program, "anna").await;
    app.link(&program, &creator, "anna10", "https://brand.com/serum")
        .await;
    let redirect = linkledger_redirect::router(Arc::new(RedirectState::new(
        app.store.clone(),
        VisitorKey::new(b"lambda-secret"),
        Duration::from_secs(30),
    )));

    let request = lambda_http::request::from_str(&event("apigw-v2-redirect-get.json"))
        .expect("a valid event");
    let response = redirect.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with("https://brand.com/serum?utm_source=ig&utm_medium=story&ll_click="),
        "{location}"
    );

    let head = lambda_http::request::from_str(&event("apigw-v2-redirect-head.json")).unwrap();
    assert_eq!(
        redirect.oneshot(head).await.unwrap().status(),
        StatusCode::FOUND
    );

    let clicks = app.clicks("anna10").await;
    assert_eq!(clicks.len(), 1, "GET records, HEAD does not");
    assert_eq!(clicks[0]["country"], json!("FR"));
    assert_eq!(clicks[0]["referrer_host"], json!("l.instagram.com"));
    assert_eq!(clicks[0]["bot"], json!(false));
}

#[tokio::test]
async fn api_lambda_answers_http_api_events() {
    let app = TestApp::sqlite().await;
    let key = app.admin.clone();
    let api = linkledger_api::router(Arc::new(ApiState::new(app.store.clone())));

    let create = event("apigw-v2-api-create-program.json").replace("__KEY__", &key);
    let response = api
        .clone()
        .oneshot(lambda_http::request::from_str(&create).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let program = body_json(response).await;
    assert_eq!(program["currency"], json!("EUR"));

    let malformed = event("apigw-v2-api-malformed-base64.json").replace("__KEY__", &key);
    let response = api
        .oneshot(lambda_http::request::from_str(&malformed).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        body_json(response).await["error"]["code"],
        json!("invalid_json")
    );
}

/// The webhooks Lambda: an HTTP API event carrying a signed postback is verified and enqueued;
/// then the worker Lambda books it from an SQS event (the message the queue would deliver),
/// and reports the unreadable record of the same batch as its only failure.
#[tokio::test]
async fn webhooks_and_worker_lambdas_ingest_and_book_from_their_events() {
    use linkledger_core::conversion::Platform;
    use linkledger_core::signature::sign_timestamped;

    let app = TestApp::sqlite().await;
    let program = app.program().await;
    let (creator, _) = app.creator(&program, "anna").await;
    let secret = app.webhook_secret(&program, Platform::Postback, None).await;
    let webhooks = linkledger_webhooks::router(Arc::new(linkledger_webhooks::WebhookState::new(
        app.store.clone(),
        app.queue.clone(),
    )));
    app.promo_code(&program, "ANNA10", &creator).await;

    let body = json!({"event": "sale", "order_id": "lambda-1", "amount": "80.00",
        "currency": "USD", "coupon": "anna10"})
    .to_string();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let signature = sign_timestamped(secret.as_bytes(), now, body.as_bytes());
    let mut request: serde_json::Value =
        serde_json::from_str(&event("apigw-v2-postback.json").replace("__PROGRAM__", &program))
            .unwrap();
    request["headers"]["linkledger-signature"] = json!(signature);
    request["body"] = json!(body);
    let response = webhooks
        .oneshot(lambda_http::request::from_str(&request.to_string()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // What the queue holds is what SQS would hand the worker.
    let messages = app
        .queue
        .receive(1, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(messages.len(), 1);
    let sqs = event("sqs-conversions.json").replace(
        "\"__EVENT__\"",
        &serde_json::to_string(&messages[0].body).unwrap(),
    );
    let sqs: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_str(&sqs).unwrap();
    let response = linkledger_worker::handle_sqs_batch(&app.store, sqs).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["2e1424d4-f796-459a-8184-9c92662be6da"]);
    let ledger = app
        .get(&format!("/api/ledger?creator={creator}"), &app.admin)
        .await;
    assert_eq!(ledger.json["items"][0]["amount"]["amount"], "8.00");
}

/// The settlement function's two inputs: the scheduler's (its `Input` in template.yaml) and an
/// SQS event of the settlement queue.
#[test]
fn settlement_lambda_tells_its_two_event_sources_apart() {
    use linkledger_settlement::Invocation;
    let schedule: Invocation = serde_json::from_str(&event("scheduler-settle.json")).unwrap();
    assert!(matches!(schedule, Invocation::Schedule { ref settle } if settle.date.is_none()));
    let dated: Invocation = serde_json::from_str(r#"{"settle": {"date": "2026-11-27"}}"#).unwrap();
    assert!(
        matches!(dated, Invocation::Schedule { ref settle } if settle.date.as_deref() == Some("2026-11-27"))
    );
    let sqs: Invocation = serde_json::from_str(&event("sqs-conversions.json")).unwrap();
    assert!(matches!(sqs, Invocation::Chunks(ref e) if e.records.len() == 2));
}

/// The settlement function's queue event: a chunk as the planner writes it now (`"date":
/// "YYYY-MM-DD"`) and one still in flight from before that rule (`[year, ordinal]`) both
/// settle, and a creator past the balance limit is a failed line, not a failed batch item.
/// A scheduled date that is not over yet is refused.
#[tokio::test]
async fn settlement_lambda_settles_chunks_of_both_date_forms_and_isolates_a_failing_creator() {
    use linkledger_core::audit::{Actor, AuditEntry};
    use linkledger_core::ids::{CreatorId, ProgramId};
    use linkledger_core::ledger::LedgerEntry;
    use linkledger_core::money::{Currency, Money};
    use linkledger_settlement::{handle_chunks, handle_schedule, Queues, SettleRequest};

    let app = TestApp::sqlite().await;
    let program = app.program().await;
    let (anna, _) = app.creator(&program, "anna").await;
    let (whale, _) = app.creator(&program, "whale").await;
    let usd = Currency::parse("USD").unwrap();
    let three_days_ago = time::OffsetDateTime::now_utc() - time::Duration::days(3);
    let entry = |creator: &str, minor: i64| {
        LedgerEntry::adjustment(
            CreatorId::parse(creator).unwrap(),
            ProgramId::parse(&program).unwrap(),
            Money::from_minor(minor, usd),
            three_days_ago,
        )
    };
    let audit = || {
        AuditEntry::new::<()>(
            time::OffsetDateTime::now_utc(),
            &Actor::operator("test"),
            "test",
            "x",
            None,
            None,
        )
    };
    app.store
        .append_entries(&[entry(&anna, 5000)], &audit())
        .await
        .unwrap();
    // 101 × 10^13: past the balance limit of 10^15.
    let max = linkledger_core::limits::MAX_AMOUNT_MINOR;
    let whale_entries: Vec<LedgerEntry> = (0..101).map(|_| entry(&whale, max)).collect();
    for part in whale_entries.chunks(50) {
        app.store.append_entries(part, &audit()).await.unwrap();
    }

    let today = time::OffsetDateTime::now_utc().date();
    let mut queues = Queues::new(app.queue.as_ref(), None);
    let refused = handle_schedule(
        &app.store,
        &queues,
        &SettleRequest {
            date: Some(today.to_string()),
        },
    )
    .await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().contains("only a past date")),
        "{:?}",
        refused.map(|r| r.status)
    );

    queues.chunk_size = 1;
    let date = linkledger_core::clock::Clock::yesterday(&linkledger_core::clock::SystemClock);
    let planned = handle_schedule(
        &app.store,
        &queues,
        &SettleRequest {
            date: Some(date.to_string()),
        },
    )
    .await
    .expect("planned");
    assert_eq!(planned.chunks, Some(2));
    let messages = app
        .queue
        .receive(10, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(messages.len(), 2);
    let mut bodies: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| serde_json::from_str(&m.body).unwrap())
        .collect();
    assert_eq!(bodies[0]["date"], json!(date.to_string()));
    bodies[0]["date"] = json!([date.year(), date.ordinal()]);
    let records: Vec<serde_json::Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            json!({"messageId": format!("m{i}"), "receiptHandle": "r", "body": body.to_string(),
                "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:linkledger-SettlementQueue",
                "awsRegion": "eu-west-1"})
        })
        .collect();
    let event: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_value(json!({ "Records": records })).unwrap();
    let response = handle_chunks(&app.store, &queues, event).await;
    assert!(response.batch_item_failures.is_empty());

    let report = app
        .get(&format!("/api/settlements/{date}"), &app.admin)
        .await;
    assert_eq!(report.json["run"]["status"], "completed", "{}", report.json);
    assert_eq!(report.json["run"]["failed_lines"], 1);
    let status_of = |creator: &str| {
        report.json["lines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["creator_id"] == creator)
            .map(|l| l["status"].clone())
    };
    assert_eq!(status_of(&anna), Some(json!("paid")));
    assert_eq!(status_of(&whale), Some(json!("failed")));
}
