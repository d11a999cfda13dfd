//! The Lambda path: API Gateway HTTP API (payload 2.0) events, as `lambda_http` turns them into
//! requests, through the same routers the Lambda mains hand to `lambda_http::run`.
//! Fixtures follow the shape of `aws_lambda_events`' `example-apigw-v2-request-*.json`.

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use serde_json::json;
use tower::ServiceExt;

use linkledger_api::ApiState;
use linkledger_redirect::RedirectState;
use linkledger_shared::click::VisitorKey;
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
    use linkledger_shared::conversion::Platform;
    use linkledger_shared::signature::sign_timestamped;

    let app = TestApp::sqlite().await;
    let program = app.program().await;
    let (creator, _) = app.creator(&program, "anna").await;
    let secret = app.webhook_secret(&program, Platform::Postback, None).await;
    let webhooks = linkledger_webhooks::router(Arc::new(linkledger_webhooks::WebhookState {
        store: app.store.clone(),
        conversions: app.queue.clone(),
    }));
    let promo = app
        .post(
            &format!("/api/programs/{program}/promo-codes"),
            &app.admin,
            json!({"code": "ANNA10", "creator_id": creator}),
        )
        .await;
    assert_eq!(promo.status, StatusCode::CREATED);

    let body = json!({"event": "sale", "order_id": "lambda-1", "amount": "80.00",
        "currency": "USD", "coupon": "anna10"})
    .to_string();
    let now = linkledger_shared::now().unix_timestamp();
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
