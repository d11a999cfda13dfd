//! Traces, as the Lambdas write them (JSON lines): every log line of a webhook delivery carries
//! its span (platform, program, delivery key, order), every log line of a queue message its span
//! (message id, receive count, program, delivery key, order); neither carries the secret or the
//! shopper's e-mail.

use http::StatusCode;
use serde_json::{json, Value};

use linkledger_core::conversion::Platform;
use linkledger_tests::app::TestApp;
use linkledger_tests::logs::capture_json;
use linkledger_tests::webhooks::{fixture, rfc3339_in, shopify_headers};

/// The span named `name` of a JSON line.
fn span<'a>(line: &'a Value, name: &str) -> &'a Value {
    line["spans"]
        .as_array()
        .and_then(|spans| spans.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no span {name} on {line}"))
}

// A current-thread runtime: the subscriber set for this thread sees every line of the request
// and of the worker's drain (both run on this task).
#[tokio::test]
async fn a_delivery_and_its_queue_message_are_traced_with_program_delivery_and_order() {
    let (logs, _guard) = capture_json();

    let app = TestApp::sqlite().await;
    let program = app.program().await;
    let (creator, _) = app.creator(&program, "anna").await;
    app.promo_code(&program, "ANNA10", &creator).await;
    let secret = app
        .webhook_secret(
            &program,
            Platform::Shopify,
            Some("shpss_trace_secret_value"),
        )
        .await;
    let mut order = fixture("shopify/orders_paid.json", "c1unknownclick");
    order["id"] = json!(820982911946154508_u64);
    order["processed_at"] = json!(rfc3339_in(60));
    let body = order.to_string().into_bytes();
    let reply = app
        .deliver(
            &format!("/webhooks/shopify/{program}"),
            &shopify_headers(
                &secret,
                "orders/paid",
                "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
                &body,
            ),
            &body,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let drained = app.drain().await;
    assert_eq!(drained.done, 1, "{drained:?}");

    let accepted = logs.line("webhook accepted");
    let delivery = span(&accepted, "webhook_delivery");
    assert_eq!(delivery["platform"], "shopify", "{accepted}");
    assert_eq!(delivery["program"], program.as_str(), "{accepted}");
    assert_eq!(
        delivery["delivery"], "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "{accepted}"
    );
    assert_eq!(delivery["order"], "820982911946154508", "{accepted}");
    assert_eq!(delivery["facts"], 1, "{accepted}");

    let booked = logs.line("conversion event booked");
    let message = span(&booked, "conversion_message");
    assert!(
        message["message_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{booked}"
    );
    assert_eq!(message["receives"], 1, "{booked}");
    assert_eq!(message["program"], program.as_str(), "{booked}");
    assert_eq!(
        message["delivery"], "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "{booked}"
    );
    assert_eq!(message["order"], "820982911946154508", "{booked}");

    let text = logs.text();
    assert!(
        !text.contains("shpss_trace_secret_value"),
        "the secret leaked:\n{text}"
    );
    assert!(
        !text.contains("shopper@example.com"),
        "the e-mail leaked:\n{text}"
    );
}

/// A delivery refused before it is read (a path that is no program id) is traced without
/// echoing the caller's text.
#[tokio::test]
async fn a_delivery_to_a_path_that_is_no_program_id_is_traced_without_it() {
    let (logs, _guard) = capture_json();

    let app = TestApp::sqlite().await;
    let body = b"{}";
    let reply = app
        .deliver(
            "/webhooks/shopify/someone@example.com",
            &shopify_headers("x", "orders/paid", "d1", body),
            body,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.json);
    let text = logs.text();
    assert!(
        !text.contains("someone@example.com"),
        "the path leaked:\n{text}"
    );
}
