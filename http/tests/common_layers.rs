//! The layers every function's router shares, through HTTP: bounds on the URI and headers,
//! every error answered in our JSON shape, and a request trace that never logs the query.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test may unwrap

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use tower::ServiceExt;

fn app() -> Router {
    let router = Router::new()
        .route("/{code}", get(|| async { "ok" }))
        .route(
            "/upload",
            post(|_: Bytes| async { "stored" }).layer(axum::extract::DefaultBodyLimit::max(16)),
        );
    linkledger_http::with_common_layers(router)
}

async fn send(request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
    let response = app().oneshot(request).await.expect("the router answers");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .expect("a body");
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, headers, json)
}

#[tokio::test]
async fn a_wrong_method_gets_405_in_the_json_error_shape_with_allow() {
    let (status, headers, json) = send(
        Request::delete("/anna10")
            .body(Body::empty())
            .expect("a request"),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(json["error"]["code"], "method_not_allowed");
    assert!(json["error"]["message"].is_string());
    assert!(headers.get("allow").is_some(), "Allow is kept");
    assert_eq!(headers["content-type"], "application/json");
}

#[tokio::test]
async fn an_oversized_body_gets_413_in_the_json_error_shape() {
    let (status, _, json) = send(
        Request::post("/upload")
            .body(Body::from(vec![b'x'; 17]))
            .expect("a request"),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json["error"]["code"], "payload_too_large");
}

#[tokio::test]
async fn a_uri_past_8_kib_gets_414_in_the_json_error_shape() {
    let long = format!("/anna10?x={}", "a".repeat(linkledger_http::MAX_URI_BYTES));
    let (status, _, json) = send(Request::get(long).body(Body::empty()).expect("a request")).await;
    assert_eq!(status, StatusCode::URI_TOO_LONG);
    assert_eq!(json["error"]["code"], "uri_too_long");

    let fits = format!("/anna10?x={}", "a".repeat(1000));
    let (status, _, _) = send(Request::get(fits).body(Body::empty()).expect("a request")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn headers_past_16_kib_get_431_in_the_json_error_shape() {
    let mut request = Request::get("/anna10");
    for i in 0..5 {
        request = request.header(format!("x-filler-{i}"), "v".repeat(4000));
    }
    let (status, _, json) = send(request.body(Body::empty()).expect("a request")).await;
    assert_eq!(status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(json["error"]["code"], "headers_too_large");
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures this thread's log lines, every level, as plain text, until the guard is dropped.
fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

#[tokio::test]
async fn the_request_trace_at_debug_never_logs_the_query_or_headers() {
    let (captured, _guard) = capture();

    let (status, _, _) = send(
        Request::get("/anna10?utm_source=ig&utm_content=someone@example.com")
            .header("authorization", "Bearer llk_secret-key-value")
            .body(Body::empty())
            .expect("a request"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let log = String::from_utf8(captured.0.lock().expect("not poisoned").clone()).expect("utf-8");
    assert!(
        log.contains("/{code}"),
        "the matched route is traced: {log}"
    );
    assert!(
        !log.contains("someone@example.com"),
        "the query leaked: {log}"
    );
    assert!(!log.contains("utm_content"), "the query leaked: {log}");
    assert!(!log.contains("llk_secret"), "a header leaked: {log}");

    // A path no route matches is not traced either: it can carry an e-mail as well.
    let (status, _, _) = send(
        Request::get("/x/someone.else@example.com")
            .body(Body::empty())
            .expect("a request"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let log = String::from_utf8(captured.0.lock().expect("not poisoned").clone()).expect("utf-8");
    assert!(log.contains("<unmatched>"), "{log}");
    assert!(
        !log.contains("someone.else"),
        "an unmatched path leaked: {log}"
    );
}

/// A 5xx is logged exactly once, by the common layer, with its code and its cause chain (the
/// handler and the error's conversions log nothing themselves).
#[tokio::test]
async fn a_server_error_is_logged_once_with_its_cause() {
    #[derive(Debug)]
    struct TableDown(std::io::Error);
    impl std::fmt::Display for TableDown {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("the table is down")
        }
    }
    impl std::error::Error for TableDown {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    let (captured, _guard) = capture();

    let router = Router::new().route(
        "/fail",
        get(|| async {
            let cause = TableDown(std::io::Error::other("connection reset"));
            Err::<(), _>(linkledger_http::HttpError::unavailable().with_cause(cause))
        }),
    );
    let response = linkledger_http::with_common_layers(router)
        .oneshot(
            Request::get("/fail")
                .body(Body::empty())
                .expect("a request"),
        )
        .await
        .expect("the router answers");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);

    let log = String::from_utf8(captured.0.lock().expect("not poisoned").clone()).expect("utf-8");
    assert_eq!(
        log.matches("server error answered").count(),
        1,
        "logged once: {log}"
    );
    let line = log
        .lines()
        .find(|l| l.contains("server error answered"))
        .expect("the line");
    assert!(line.contains("ERROR"), "{line}");
    assert!(
        line.contains("code=\"unavailable\"") || line.contains("code=unavailable"),
        "{line}"
    );
    assert!(
        line.contains("the table is down"),
        "the cause is kept: {line}"
    );
    assert!(line.contains("connection reset"), "its source too: {line}");
    assert!(line.contains("status=503"), "{line}");
}
