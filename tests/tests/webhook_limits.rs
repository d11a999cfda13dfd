//! The webhooks' input limits, through HTTP (issue 10, findings 1, 2, 8, 9 and the webhook part
//! of 10): every platform refuses a value outside the domain's bounds with 400 `malformed_body`
//! naming the field (never echoing the value) and queues nothing; the signature window cannot be
//! wrapped; bodies are strict JSON; body-read failures answer our JSON error shape.
//!
//! Nothing here is stored, so SQLite is enough: the checks happen before the queue.

use std::time::Duration;

use axum::body::{Body, Bytes};
use http::{Method, Request, StatusCode};
use serde_json::{json, Value};

use linkledger_core::conversion::{ConversionEvent, Fact, Platform};
use linkledger_core::signature::sign_timestamped;
use linkledger_tests::app::{Reply, TestApp};
use linkledger_tests::webhooks::{
    fixture, gmt_in, now_unix, postback_headers, rfc3339_in, shopify_headers, stripe_headers,
    woocommerce_headers,
};

/// A program with a secret for every platform.
struct Edge {
    app: TestApp,
    program: String,
    shopify: String,
    stripe: String,
    woocommerce: String,
    postback: String,
}

async fn edge() -> Edge {
    let app = TestApp::sqlite().await;
    let program = app.program().await;
    let shopify = app
        .webhook_secret(&program, Platform::Shopify, Some("shpss_limits_1"))
        .await;
    let stripe = app
        .webhook_secret(&program, Platform::Stripe, Some("whsec_limits_1"))
        .await;
    let woocommerce = app
        .webhook_secret(&program, Platform::Woocommerce, Some("wc_limits_1"))
        .await;
    let postback = app.webhook_secret(&program, Platform::Postback, None).await;
    Edge {
        app,
        program,
        shopify,
        stripe,
        woocommerce,
        postback,
    }
}

fn shopify_order() -> Value {
    let mut order = fixture("shopify/orders_paid.json", "none");
    order["processed_at"] = json!(rfc3339_in(60));
    order
}

fn stripe_checkout() -> Value {
    let mut event = fixture("stripe/checkout_session_completed.json", "none");
    event["created"] = json!(now_unix() + 60);
    event
}

fn woocommerce_order() -> Value {
    let mut order = fixture("woocommerce/order_created.json", "none");
    order["date_paid_gmt"] = json!(gmt_in(60));
    order
}

fn postback_sale() -> Value {
    json!({"event": "sale", "order_id": "1001", "amount": "100.00", "currency": "USD"})
}

impl Edge {
    async fn shopify(&self, topic: &str, body: &[u8]) -> Reply {
        self.shopify_as(topic, "wh-limits-1", body).await
    }

    async fn shopify_as(&self, topic: &str, webhook_id: &str, body: &[u8]) -> Reply {
        let path = format!("/webhooks/shopify/{}", self.program);
        let headers = shopify_headers(&self.shopify, topic, webhook_id, body);
        self.app.deliver(&path, &headers, body).await
    }

    async fn stripe(&self, body: &[u8]) -> Reply {
        let path = format!("/webhooks/stripe/{}", self.program);
        let headers = stripe_headers(&self.stripe, body, now_unix());
        self.app.deliver(&path, &headers, body).await
    }

    async fn woocommerce(&self, body: &[u8]) -> Reply {
        let path = format!("/webhooks/woocommerce/{}", self.program);
        let headers = woocommerce_headers(&self.woocommerce, "order.created", "d-limits", body);
        self.app.deliver(&path, &headers, body).await
    }

    async fn postback(&self, body: &[u8]) -> Reply {
        self.postback_at(body, now_unix()).await
    }

    async fn postback_at(&self, body: &[u8], timestamp: i64) -> Reply {
        let path = format!("/postback/{}", self.program);
        let headers = postback_headers(&self.postback, body, timestamp);
        self.app.deliver(&path, &headers, body).await
    }

    /// The events on the conversions queue (left there: received with no visibility timeout).
    async fn queued(&self) -> Vec<ConversionEvent> {
        let messages = self
            .app
            .queue
            .receive(10, Duration::ZERO, Duration::ZERO)
            .await
            .expect("the queue answers");
        messages
            .iter()
            .map(|m| serde_json::from_str(&m.body).expect("a conversion event"))
            .collect()
    }

    /// 400 `malformed_body`, the message naming `field` and not echoing `value`; nothing queued.
    async fn refused(&self, reply: Reply, field: &str, value: &str) {
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{field}: {}",
            reply.json
        );
        assert_eq!(reply.error_code(), "malformed_body", "{}", reply.json);
        let message = reply.json["error"]["message"].as_str().unwrap_or("");
        assert!(
            message.starts_with(&format!("{field}: ")),
            "the message names {field}: {message}"
        );
        if !value.is_empty() {
            assert!(!message.contains(value), "the value is echoed: {message}");
        }
        assert!(self.queued().await.is_empty(), "{field}: nothing is queued");
    }
}

/// A JSON text with `"key":value` (compact, as `Value::to_string` writes it) replaced.
fn edit(body: &Value, from: &str, to: &str) -> Vec<u8> {
    let text = body.to_string();
    assert!(text.contains(from), "{from} is in the body");
    text.replacen(from, to, 1).into_bytes()
}

#[tokio::test]
async fn valid_deliveries_of_every_platform_are_queued() {
    // The control for every refusal below: the same bodies, unmutated, are accepted.
    let edge = edge().await;
    let body = shopify_order().to_string();
    assert_eq!(
        edge.shopify("orders/paid", body.as_bytes()).await.status,
        StatusCode::OK
    );
    let body = stripe_checkout().to_string();
    assert_eq!(edge.stripe(body.as_bytes()).await.status, StatusCode::OK);
    let body = woocommerce_order().to_string();
    assert_eq!(
        edge.woocommerce(body.as_bytes()).await.status,
        StatusCode::OK
    );
    let body = postback_sale().to_string();
    assert_eq!(edge.postback(body.as_bytes()).await.status, StatusCode::OK);
    assert_eq!(edge.queued().await.len(), 4);
}

/// SKUs are what merchants type (spaces, accents): a real order is never refused for its SKU,
/// and the SKU reaches the queue as the shop sent it.
#[tokio::test]
async fn skus_with_spaces_are_accepted_as_typed() {
    let edge = edge().await;
    let mut order = shopify_order();
    order["line_items"][0]["sku"] = json!("SÉRUM 50 ml");
    let reply = edge
        .shopify("orders/paid", order.to_string().as_bytes())
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let mut order = woocommerce_order();
    order["line_items"][1]["sku"] = json!("MUG WHT");
    let reply = edge.woocommerce(order.to_string().as_bytes()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let skus: Vec<String> = edge
        .queued()
        .await
        .into_iter()
        .filter_map(|event| match event.fact {
            Fact::Sale(sale) => Some(sale.lines),
            _ => None,
        })
        .flatten()
        .filter_map(|line| line.sku)
        .collect();
    assert!(skus.contains(&"SÉRUM 50 ml".to_string()), "{skus:?}");
    assert!(skus.contains(&"MUG WHT".to_string()), "{skus:?}");

    // A SKU no product key can be (a NUL, 256 characters) is dropped, never a refused order:
    // the line then earns the creator's own rate.
    for sku in ["MUG\u{0}WHT".to_string(), "x".repeat(256)] {
        let edge = self::edge().await;
        let mut order = woocommerce_order();
        order["line_items"][1]["sku"] = json!(sku);
        let reply = edge.woocommerce(order.to_string().as_bytes()).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
        let queued = edge.queued().await;
        let Some(Fact::Sale(sale)) = queued.first().map(|e| e.fact.clone()) else {
            panic!("a sale is queued: {queued:?}");
        };
        assert_eq!(sale.lines[1].sku, None, "{:?}", sale.lines);
    }
}

/// Finding 8: `now - t` wrapped for `t = now - 2^63` and `abs()` stayed negative.
#[tokio::test]
async fn a_signature_timestamp_at_the_ends_of_i64_is_stale() {
    let edge = edge().await;
    let body = postback_sale().to_string();
    for t in [i64::MIN + now_unix(), i64::MIN, i64::MAX, now_unix() - 301] {
        let reply = edge.postback_at(body.as_bytes(), t).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "t = {t}: {}",
            reply.json
        );
        assert_eq!(reply.error_code(), "stale_signature", "t = {t}");
    }
    let path = format!("/webhooks/stripe/{}", edge.program);
    let body = stripe_checkout().to_string();
    let header = sign_timestamped(
        edge.stripe.as_bytes(),
        i64::MIN + now_unix(),
        body.as_bytes(),
    );
    let reply = edge
        .app
        .deliver(&path, &[("stripe-signature", header)], body.as_bytes())
        .await;
    assert_eq!(reply.error_code(), "stale_signature", "{}", reply.json);
    assert!(edge.queued().await.is_empty());
}

/// Findings 1 and 9: a year-9999 or year-0000 date answered 200, then killed the worker or
/// skipped the holding period.
#[tokio::test]
async fn timestamps_outside_2000_to_tomorrow_are_refused_naming_the_field() {
    let edge = edge().await;
    for at in [
        "9999-12-31T23:59:59Z",
        "0000-01-01T00:00:00Z",
        "1999-12-31T23:59:59Z",
    ] {
        let mut sale = postback_sale();
        sale["occurred_at"] = json!(at);
        let reply = edge.postback(sale.to_string().as_bytes()).await;
        edge.refused(reply, "occurred_at", at).await;
    }
    let mut sale = postback_sale();
    sale["occurred_at"] = json!(rfc3339_in(2 * 86_400));
    let reply = edge.postback(sale.to_string().as_bytes()).await;
    edge.refused(reply, "occurred_at", "").await;

    for created in [253_402_300_799i64, 0, -62_167_219_200] {
        let mut event = stripe_checkout();
        event["created"] = json!(created);
        let reply = edge.stripe(event.to_string().as_bytes()).await;
        let shown = if created == 0 {
            String::new()
        } else {
            created.to_string()
        };
        edge.refused(reply, "created", &shown).await;
    }

    let mut order = shopify_order();
    order["processed_at"] = json!("9999-12-31T23:59:59Z");
    let reply = edge
        .shopify("orders/paid", order.to_string().as_bytes())
        .await;
    edge.refused(reply, "processed_at", "9999").await;

    // A date that is there but wrong is refused, not replaced by `date_created_gmt`.
    for paid in ["9999-12-31T23:59:59", "1970-01-01T00:00:00", "yesterday"] {
        let mut order = woocommerce_order();
        order["date_paid_gmt"] = json!(paid);
        let reply = edge.woocommerce(order.to_string().as_bytes()).await;
        edge.refused(reply, "date_paid_gmt", paid).await;
    }

    let mut invoice = fixture("stripe/invoice_paid.json", "none");
    invoice["data"]["object"]["status_transitions"]["paid_at"] = json!(253_402_300_799i64);
    let reply = edge.stripe(invoice.to_string().as_bytes()).await;
    edge.refused(
        reply,
        "data.object.status_transitions.paid_at",
        "253402300799",
    )
    .await;
}

/// A downgrade's proration invoice totals below zero and Stripe marks it paid: a credit, not a
/// sale. It is acknowledged as ignored (a 400 would be retried for days), and nothing is queued.
#[tokio::test]
async fn a_renewal_invoice_that_credits_the_customer_is_ignored_not_refused() {
    let edge = edge().await;
    let mut invoice = fixture("stripe/invoice_paid.json", "none");
    invoice["data"]["object"]["total_excluding_tax"] = json!(-1_500);
    let reply = edge.stripe(invoice.to_string().as_bytes()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert!(
        reply.json["ignored"]
            .as_str()
            .unwrap_or("")
            .starts_with("invoice.paid"),
        "{}",
        reply.json
    );
    assert!(edge.queued().await.is_empty());
}

/// A Stripe renewal's net was `subtotal - amount_shipping` with a bare `-`: `i64::MIN` minus
/// one panicked (debug) or wrapped (release).
#[tokio::test]
async fn a_renewal_whose_subtraction_would_overflow_is_refused() {
    let edge = edge().await;
    let mut invoice = fixture("stripe/invoice_paid.json", "none");
    let object = &mut invoice["data"]["object"];
    object
        .as_object_mut()
        .expect("an object")
        .remove("total_excluding_tax");
    object["subtotal"] = json!(i64::MIN);
    object["amount_shipping"] = json!(1);
    let reply = edge.stripe(invoice.to_string().as_bytes()).await;
    edge.refused(reply, "data.object.subtotal", &i64::MIN.to_string())
        .await;

    // Shipping larger than the invoice leaves a negative net.
    let mut invoice = fixture("stripe/invoice_paid.json", "none");
    invoice["data"]["object"]["amount_shipping"] = json!(100_000_000);
    let reply = edge.stripe(invoice.to_string().as_bytes()).await;
    edge.refused(reply, "data.object.amount_shipping", "").await;
}

/// Finding 2: `92233720368547758.07` and Stripe's 2^63−1 booked and then broke balances and
/// settlement.
#[tokio::test]
async fn amounts_past_10_pow_13_minor_units_are_refused_naming_the_field() {
    let edge = edge().await;
    let mut sale = postback_sale();
    sale["amount"] = json!("92233720368547758.07");
    let reply = edge.postback(sale.to_string().as_bytes()).await;
    edge.refused(reply, "amount", "92233720368547758").await;
    sale["amount"] = json!("100000000000.01"); // 10^13 + 1 cents
    let reply = edge.postback(sale.to_string().as_bytes()).await;
    edge.refused(reply, "amount", "100000000000.01").await;

    let mut event = stripe_checkout();
    event["data"]["object"]["amount_subtotal"] = json!(i64::MAX);
    let reply = edge.stripe(event.to_string().as_bytes()).await;
    edge.refused(reply, "data.object.amount_subtotal", &i64::MAX.to_string())
        .await;

    let mut order = shopify_order();
    order["subtotal_price_set"]["shop_money"]["amount"] = json!("92233720368547758.07");
    let reply = edge
        .shopify("orders/paid", order.to_string().as_bytes())
        .await;
    edge.refused(
        reply,
        "subtotal_price_set.shop_money.amount",
        "92233720368547758",
    )
    .await;

    let mut order = woocommerce_order();
    order["line_items"][0]["total"] = json!("92233720368547758.07");
    let reply = edge.woocommerce(order.to_string().as_bytes()).await;
    edge.refused(reply, "line_items[0].total", "92233720368547758")
        .await;

    // The limit itself is an amount like any other.
    let mut sale = postback_sale();
    sale["amount"] = json!("100000000000.00");
    let reply = edge.postback(sale.to_string().as_bytes()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
}

/// Finding 9: Stripe booked a sale of −60.00 (a discount larger than the subtotal).
#[tokio::test]
async fn negative_sale_nets_and_refund_totals_are_refused() {
    let edge = edge().await;
    let mut event = stripe_checkout();
    event["data"]["object"]["amount_subtotal"] = json!(4000);
    event["data"]["object"]["total_details"]["amount_discount"] = json!(10000);
    let reply = edge.stripe(event.to_string().as_bytes()).await;
    edge.refused(reply, "data.object.total_details.amount_discount", "")
        .await;

    let mut refund = fixture("stripe/charge_refunded.json", "none");
    refund["data"]["object"]["amount_refunded"] = json!(-100);
    let reply = edge.stripe(refund.to_string().as_bytes()).await;
    edge.refused(reply, "data.object.amount_refunded", "-100")
        .await;

    let mut refund = fixture("shopify/refunds_create.json", "none");
    refund["created_at"] = json!(rfc3339_in(0));
    refund["refund_line_items"][0]["subtotal_set"]["shop_money"]["amount"] = json!("-10.00");
    let reply = edge
        .shopify("refunds/create", refund.to_string().as_bytes())
        .await;
    edge.refused(
        reply,
        "refund_line_items[0].subtotal_set.shop_money.amount",
        "-10.00",
    )
    .await;

    // A Shopify line whose discounts exceed its price.
    let mut order = shopify_order();
    order["line_items"][0]["discount_allocations"] = json!([{
        "amount": "1000.00",
        "amount_set": {"shop_money": {"amount": "1000.00", "currency_code": "USD"}},
        "discount_application_index": 0
    }]);
    let reply = edge
        .shopify("orders/paid", order.to_string().as_bytes())
        .await;
    edge.refused(reply, "line_items[0].discount_allocations", "")
        .await;

    let refund =
        json!({"event": "refund", "order_id": "1001", "amount": "-5.00", "currency": "USD"});
    let reply = edge.postback(refund.to_string().as_bytes()).await;
    edge.refused(reply, "amount", "-5.00").await;
}

/// Finding 9: `" 1.00"` and a no-break space before the amount were trimmed and booked.
#[tokio::test]
async fn amounts_with_spaces_are_refused_not_trimmed() {
    let edge = edge().await;
    for amount in [" 1.00", "\u{a0}1.00", "1.00 ", "1.00\n", "+1.00", "1e2"] {
        let mut sale = postback_sale();
        sale["amount"] = json!(amount);
        let reply = edge.postback(sale.to_string().as_bytes()).await;
        edge.refused(reply, "amount", "").await;
    }
    let mut order = shopify_order();
    order["subtotal_price_set"]["shop_money"]["amount"] = json!(" 100.00");
    let reply = edge
        .shopify("orders/paid", order.to_string().as_bytes())
        .await;
    edge.refused(reply, "subtotal_price_set.shop_money.amount", "")
        .await;
}

/// Finding 9: a key given twice was accepted, the last one winning.
#[tokio::test]
async fn duplicate_json_keys_are_refused_at_any_depth() {
    let edge = edge().await;
    let body = br#"{"event":"sale","order_id":"1001","amount":"1.00","currency":"USD","amount":"9999.00"}"#;
    let reply = edge.postback(body).await;
    edge.refused(reply, "amount", "9999").await;

    let body = edit(
        &stripe_checkout(),
        r#""amount_subtotal":11000"#,
        r#""amount_subtotal":11000,"amount_subtotal":99000"#,
    );
    let reply = edge.stripe(&body).await;
    edge.refused(reply, "data.object.amount_subtotal", "99000")
        .await;

    let body = edit(
        &shopify_order(),
        r#""quantity":1"#,
        r#""quantity":1,"quantity":50"#,
    );
    let reply = edge.shopify("orders/paid", &body).await;
    edge.refused(reply, "line_items[0].quantity", "").await;

    let body = edit(
        &woocommerce_order(),
        r#""status":"processing""#,
        r#""status":"processing","status":"pending""#,
    );
    let reply = edge.woocommerce(&body).await;
    edge.refused(reply, "status", "pending").await;
}

/// Finding 9: NUL, CR and LF inside `order_id`, a 100,000-character `event_id`.
#[tokio::test]
async fn ids_must_be_1_to_128_visible_ascii_characters() {
    let edge = edge().await;
    for order_id in ["10\u{0}01", "10\r\n01", "10 01", "", " 1001"] {
        let mut sale = postback_sale();
        sale["order_id"] = json!(order_id);
        let reply = edge.postback(sale.to_string().as_bytes()).await;
        edge.refused(reply, "order_id", "").await;
    }
    let long = "e".repeat(100_000);
    let mut sale = postback_sale();
    sale["event_id"] = json!(long);
    let reply = edge.postback(sale.to_string().as_bytes()).await;
    edge.refused(reply, "event_id", &long[..129]).await;

    let mut event = stripe_checkout();
    event["id"] = json!("e".repeat(129));
    let reply = edge.stripe(event.to_string().as_bytes()).await;
    edge.refused(reply, "id", "").await;
    let mut event = stripe_checkout();
    event["data"]["object"]["customer"] = json!("cus_1\nadmin");
    let reply = edge.stripe(event.to_string().as_bytes()).await;
    edge.refused(reply, "data.object.customer", "").await;

    let body = shopify_order().to_string();
    let reply = edge
        .shopify_as("orders/paid", &"w".repeat(129), body.as_bytes())
        .await;
    edge.refused(reply, "header x-shopify-webhook-id", "").await;

    let mut sale = postback_sale();
    sale["coupon"] = json!("c".repeat(65));
    let reply = edge.postback(sale.to_string().as_bytes()).await;
    edge.refused(reply, "coupon", "").await;
    let mut sale = postback_sale();
    sale["click_id"] = json!("01J\r\nforged");
    let reply = edge.postback(sale.to_string().as_bytes()).await;
    edge.refused(reply, "click_id", "").await;
}

#[tokio::test]
async fn lists_past_500_items_are_refused() {
    let edge = edge().await;
    let mut order = woocommerce_order();
    order["coupon_lines"] = Value::Array(vec![json!({"code": "X"}); 501]);
    let reply = edge.woocommerce(order.to_string().as_bytes()).await;
    edge.refused(reply, "coupon_lines", "").await;
}

/// A click id the shopper wrote (the landing URL, a cart attribute) that is not an id is no
/// click: the order still books, unattributed by click, and nothing unchecked is carried.
#[tokio::test]
async fn an_invalid_click_hint_is_dropped_not_refused() {
    let edge = edge().await;
    let mut order = shopify_order();
    order["note_attributes"] = json!([{"name": "ll_click", "value": "01J\r\nforged"}]);
    order["landing_site"] = json!("/products/x?ll_click=%00bad");
    let reply = edge
        .shopify("orders/paid", order.to_string().as_bytes())
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let queued = edge.queued().await;
    let [event] = queued.as_slice() else {
        panic!("one event queued: {queued:?}");
    };
    let Fact::Sale(sale) = &event.fact else {
        panic!("a sale: {event:?}");
    };
    assert_eq!(sale.click_id, None);
}

/// Finding 10, webhook part: 413 and body-read failures were axum's plain text.
#[tokio::test]
async fn a_body_over_1_mib_answers_413_in_the_json_error_shape() {
    let edge = edge().await;
    let body = vec![b' '; linkledger_webhooks::MAX_BODY_BYTES + 1];
    for path in [
        format!("/postback/{}", edge.program),
        format!("/webhooks/shopify/{}", edge.program),
    ] {
        let reply = edge.app.deliver(&path, &[], &body).await;
        assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        assert_eq!(
            reply.error_code(),
            "payload_too_large",
            "{path}: {}",
            reply.json
        );
        assert!(reply.header("content-type").starts_with("application/json"));
    }
    assert!(edge.queued().await.is_empty());
}

#[tokio::test]
async fn a_body_that_breaks_off_answers_400_in_the_json_error_shape() {
    let edge = edge().await;
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from_static(b"{\"event\":")),
        Err(std::io::Error::other("connection reset")),
    ];
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!("/postback/{}", edge.program))
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .expect("a request");
    let reply = edge.app.send(request).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.json);
    assert_eq!(reply.error_code(), "invalid_request", "{}", reply.json);
    assert_eq!(
        reply.json["error"]["message"],
        "the request body could not be read"
    );
    assert!(reply.header("content-type").starts_with("application/json"));
}
