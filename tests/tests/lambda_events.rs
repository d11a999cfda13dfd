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
