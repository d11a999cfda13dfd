//! Platform deliveries for tests: the documented fixtures (tests/fixtures/webhooks, sources in
//! its NOTES.md), adjusted per test, signed with each platform's documented scheme.

use serde_json::Value;

use linkledger_core::signature::{sign_body_base64, sign_timestamped};

/// A fixture as JSON, with every `PLACEHOLDER_CLICK_ID` replaced by `click_id`.
pub fn fixture(path: &str, click_id: &str) -> Value {
    let full = format!("{}/fixtures/webhooks/{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("read {full}: {e}"));
    serde_json::from_str(&text.replace("PLACEHOLDER_CLICK_ID", click_id))
        .unwrap_or_else(|e| panic!("parse {full}: {e}"))
}

pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// RFC 3339 for `seconds` from now.
pub fn rfc3339_in(seconds: i64) -> String {
    let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(seconds);
    at.format(&time::format_description::well_known::Rfc3339)
        .expect("format a date")
}

/// WooCommerce's `*_gmt` form (no offset) for `seconds` from now.
pub fn gmt_in(seconds: i64) -> String {
    let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(seconds);
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    at.format(&format).expect("format a date")
}

/// Shopify: base64 HMAC-SHA256 of the body in `X-Shopify-Hmac-Sha256`.
pub fn shopify_headers(
    secret: &str,
    topic: &str,
    webhook_id: &str,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "application/json".into()),
        ("x-shopify-topic", topic.into()),
        (
            "x-shopify-hmac-sha256",
            sign_body_base64(secret.as_bytes(), body),
        ),
        ("x-shopify-shop-domain", "anna-studio.myshopify.com".into()),
        ("x-shopify-api-version", "2025-10".into()),
        ("x-shopify-webhook-id", webhook_id.into()),
    ]
}

/// Stripe: `Stripe-Signature: t=…,v1=…` over `t.body`, signed at `timestamp`.
pub fn stripe_headers(secret: &str, body: &[u8], timestamp: i64) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "application/json; charset=utf-8".into()),
        (
            "stripe-signature",
            sign_timestamped(secret.as_bytes(), timestamp, body),
        ),
    ]
}

/// WooCommerce: base64 HMAC-SHA256 of the body in `X-WC-Webhook-Signature`.
pub fn woocommerce_headers(
    secret: &str,
    topic: &str,
    delivery: &str,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let (resource, event) = topic.split_once('.').unwrap_or((topic, ""));
    vec![
        ("content-type", "application/json".into()),
        ("x-wc-webhook-source", "https://shop.example.com/".into()),
        ("x-wc-webhook-topic", topic.into()),
        ("x-wc-webhook-resource", resource.into()),
        ("x-wc-webhook-event", event.into()),
        (
            "x-wc-webhook-signature",
            sign_body_base64(secret.as_bytes(), body),
        ),
        ("x-wc-webhook-id", "7".into()),
        ("x-wc-webhook-delivery-id", delivery.into()),
    ]
}

/// Our postback: `Linkledger-Signature: t=…,v1=…`, like Stripe.
pub fn postback_headers(secret: &str, body: &[u8], timestamp: i64) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "application/json".into()),
        (
            "linkledger-signature",
            sign_timestamped(secret.as_bytes(), timestamp, body),
        ),
    ]
}
