//! Properties of the four normalizers over hostile input (issue 10, parser fuzzing): arbitrary
//! bytes, arbitrary JSON, and the documented fixtures with fields replaced by extreme values.
//! Whatever the input, `normalize` never panics, and an event it returns always lies inside the
//! domain's bounds: timestamps in the window, amounts bounded and non-negative, ids, codes and
//! lists within their limits (checked here field by field, and by the worker's own
//! `ConversionEvent::check_bounds`). A duplicate key anywhere is always refused.
//!
//! `scripts/fuzz` runs the same targets under libFuzzer; every crash input either finds becomes a
//! case in `regressions` below.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test may unwrap

use axum::http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use serde_json::{json, Value};
use time::OffsetDateTime;

use linkledger_core::conversion::Platform;
use linkledger_core::conversion::{ConversionEvent, Fact, Refunded, Sale};
use linkledger_core::ids::ProgramId;
use linkledger_core::limits;
use linkledger_core::money::Money;
use linkledger_webhooks::{normalize, Normalized};

const CLICK_PARAM: &str = "ll_click";

fn fixture(path: &str) -> Value {
    let full = format!(
        "{}/../../tests/fixtures/webhooks/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("read {full}: {e}"));
    serde_json::from_str(&text.replace("PLACEHOLDER_CLICK_ID", "01jx8q3m4n5p6r7s8t9v0w1x2y"))
        .unwrap_or_else(|e| panic!("parse {full}: {e}"))
}

/// Each fixture with the platform and topic it is delivered under.
fn fixtures() -> Vec<(Platform, &'static str, Value)> {
    let postback = json!({
        "event": "sale", "order_id": "1001", "amount": "100.00", "currency": "USD",
        "click_id": "01jx8q3m4n5p6r7s8t9v0w1x2y", "coupon": "ANNA10",
        "customer_email": "shopper@example.com", "occurred_at": "2026-07-14T10:21:06Z",
        "event_id": "evt-1"
    });
    vec![
        (
            Platform::Shopify,
            "orders/paid",
            fixture("shopify/orders_paid.json"),
        ),
        (
            Platform::Shopify,
            "refunds/create",
            fixture("shopify/refunds_create.json"),
        ),
        (
            Platform::Stripe,
            "",
            fixture("stripe/checkout_session_completed.json"),
        ),
        (
            Platform::Stripe,
            "",
            fixture("stripe/checkout_session_completed_subscription.json"),
        ),
        (Platform::Stripe, "", fixture("stripe/invoice_paid.json")),
        (Platform::Stripe, "", fixture("stripe/charge_refunded.json")),
        (
            Platform::Woocommerce,
            "order.created",
            fixture("woocommerce/order_created.json"),
        ),
        (
            Platform::Woocommerce,
            "order.updated",
            fixture("woocommerce/order_refunded.json"),
        ),
        (Platform::Postback, "", postback),
    ]
}

fn headers(platform: Platform, topic: &str, delivery: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    match platform {
        Platform::Shopify => {
            set("x-shopify-topic", topic);
            set("x-shopify-webhook-id", delivery);
        }
        Platform::Woocommerce => {
            set("x-wc-webhook-topic", topic);
            set("x-wc-webhook-delivery-id", delivery);
        }
        Platform::Stripe | Platform::Postback => {}
    }
    headers
}

fn now() -> OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// The post-condition of every normalizer, checked field by field.
fn assert_bounded(
    platform: Platform,
    result: &Result<Normalized, linkledger_webhooks::BadField>,
    now: OffsetDateTime,
) {
    let facts = match result {
        Err(field) => {
            assert!(!field.path.is_empty() && !field.reason.is_empty());
            assert!(
                !field
                    .path
                    .chars()
                    .chain(field.reason.chars())
                    .any(char::is_control),
                "{field}"
            );
            assert!(field.path.len() <= 300, "{}", field.path.len());
            return;
        }
        Ok(Normalized::Ignored(topic)) => {
            assert!(
                topic.len() <= 300 && !topic.chars().any(char::is_control),
                "{topic:?}"
            );
            return;
        }
        Ok(Normalized::Facts(facts)) => facts,
    };
    assert!(!facts.is_empty());
    for (delivery, fact) in facts {
        let id = |text: &str| assert!(limits::check_id(text).is_ok(), "id {text:?}");
        let at = |t: OffsetDateTime| {
            assert!(limits::check_timestamp(t, now).is_ok(), "timestamp {t}");
        };
        let amount = |m: &Money| {
            assert!(
                limits::check_non_negative_amount(m.minor()).is_ok(),
                "amount {}",
                m.minor()
            );
        };
        assert!(!delivery.is_empty() && delivery.bytes().all(|b| b.is_ascii_graphic()));
        match fact {
            Fact::Sale(Sale {
                order_id,
                aliases,
                occurred_at,
                net,
                refund_basis,
                click_id,
                coupons,
                customer_ref,
                lines,
                ..
            }) => {
                id(order_id);
                aliases.iter().for_each(|a| id(a));
                at(*occurred_at);
                amount(net);
                amount(refund_basis);
                click_id.iter().for_each(|c| id(c));
                customer_ref.iter().for_each(|c| id(c));
                assert!(coupons.len() <= limits::MAX_LIST_LEN);
                for coupon in coupons {
                    assert!(limits::check_code(coupon).is_ok(), "{coupon:?}");
                }
                assert!(lines.len() <= limits::MAX_LIST_LEN);
                for line in lines {
                    amount(&line.net);
                    assert_eq!(line.net.currency(), net.currency());
                    line.sku.iter().for_each(|s| {
                        assert!(limits::check_product_key(s).is_ok(), "{s:?}");
                    });
                    line.product_id.iter().for_each(|p| id(p));
                }
            }
            Fact::Lead(lead) => {
                id(&lead.order_id);
                at(lead.occurred_at);
                lead.click_id.iter().for_each(|c| id(c));
            }
            Fact::Refund(refund) => {
                assert!(!refund.order_refs.is_empty());
                refund.order_refs.iter().for_each(|r| id(r));
                at(refund.occurred_at);
                match &refund.refunded {
                    Refunded::Cumulative(total) => amount(total),
                    Refunded::Increment {
                        refund_id,
                        amount: m,
                    } => {
                        id(refund_id);
                        amount(m);
                    }
                }
            }
        }
        let event = ConversionEvent {
            program_id: ProgramId::generate(),
            platform,
            delivery_id: delivery.clone(),
            received_at: now,
            fact: fact.clone(),
        };
        if let Err(reason) = event.check_bounds(now) {
            panic!("the worker would park this event as poison: {reason}");
        }
    }
}

fn run(platform: Platform, headers: &HeaderMap, body: &[u8]) {
    let now = now();
    let result = normalize(platform, headers, body, CLICK_PARAM, now);
    assert_bounded(platform, &result, now);
}

/// Every node of a JSON value, as a JSON pointer (`/data/object/amount_subtotal`).
fn pointers(value: &Value, base: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let escaped = key.replace('~', "~0").replace('/', "~1");
                pointers(child, format!("{base}/{escaped}"), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                pointers(child, format!("{base}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(base);
}

/// Values that sit on or past the domain's edges, or are not what the platform documents.
fn hostile() -> impl Strategy<Value = Value> {
    let text = prop::sample::select(vec![
        "",
        " ",
        " 1.00",
        "\u{a0}1.00",
        "1.00 ",
        "-1.00",
        "-0",
        "+1.00",
        "1e3",
        "0.001",
        "1.",
        ".5",
        "92233720368547758.07",
        "9223372036854775807",
        "100000000000.00",
        "100000000000.01",
        "9999-12-31T23:59:59Z",
        "0000-01-01T00:00:00Z",
        "1999-12-31T23:59:59Z",
        "2000-01-01T00:00:00Z",
        "9999-12-31T23:59:59",
        "2026-07-14T14:21:07",
        "2026-07-14T10:21:06-04:00",
        "a\u{0}b",
        "a\r\nb",
        "a b",
        "usd",
        "USD",
        "XAU",
        "JPY",
        "KWD",
        "paid",
        "processing",
        "refunded",
        "completed",
        "subscription_create",
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "invoice.paid",
        "charge.refunded",
        "sale",
        "lead",
        "refund",
        "ll_click",
        "/products/x?ll_click=%00bad",
        "/?ll_click=01jx8q3m4n5p6r7s8t9v0w1x2y",
        "é",
        "\u{202e}",
    ])
    .prop_map(|s| json!(s));
    let number = prop_oneof![
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        prop::sample::select(vec![
            i64::MAX,
            i64::MIN,
            0,
            -1,
            1,
            253_402_300_799,
            -62_167_219_200,
            946_684_799,
            946_684_800,
            10_000_000_000_000,
            10_000_000_000_001,
            -10_000_000_000_000,
            u32::MAX as i64,
            u32::MAX as i64 + 1,
        ])
        .prop_map(|n| json!(n)),
        (-1e20f64..1e20).prop_map(|f| json!(f)),
    ];
    let long = prop::sample::select(vec![64usize, 65, 128, 129, 501, 5000])
        .prop_map(|n| json!("x".repeat(n)));
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        text,
        number,
        long,
        "[ -~]{0,24}".prop_map(Value::String),
        "-?[0-9]{1,22}(\\.[0-9]{0,4})?".prop_map(Value::String),
    ];
    prop_oneof![
        4 => leaf.clone(),
        1 => prop::collection::vec(leaf.clone(), 0..4).prop_map(Value::Array),
        1 => (leaf.clone(), 499usize..503).prop_map(|(v, n)| Value::Array(vec![v; n])),
        1 => leaf.clone().prop_map(|amount| json!({"shop_money": {"amount": amount, "currency_code": "USD"}})),
        1 => prop::collection::btree_map("[a-z_]{1,12}", leaf, 0..4)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
    ]
}

/// Field names the normalizers read: mutations land on them most of the time.
const READ: &[&str] = &[
    "id",
    "order_id",
    "currency",
    "amount",
    "subtotal_price",
    "subtotal_price_set",
    "quantity",
    "price_set",
    "sku",
    "product_id",
    "taxes_included",
    "processed_at",
    "created_at",
    "created",
    "email",
    "contact_email",
    "code",
    "value",
    "name",
    "landing_site",
    "type",
    "amount_subtotal",
    "amount_total",
    "amount_discount",
    "client_reference_id",
    "customer",
    "payment_intent",
    "invoice",
    "charge",
    "payment_status",
    "total_excluding_tax",
    "subtotal",
    "amount_shipping",
    "paid_at",
    "amount_paid",
    "billing_reason",
    "amount_refunded",
    "status",
    "total",
    "date_paid_gmt",
    "date_created_gmt",
    "date_modified_gmt",
    "key",
    "currency_code",
    "line_items",
    "refunds",
    "refund_line_items",
    "discount_allocations",
    "tax_lines",
    "note_attributes",
    "discount_codes",
    "meta_data",
    "coupon_lines",
    "total_details",
    "data",
    "object",
    "metadata",
    "event",
    "occurred_at",
    "event_id",
    "click_id",
    "coupon",
    "customer_email",
    "customer_details",
    "status_transitions",
    "shop_money",
    "amount_set",
    "subtotal_set",
];

fn is_read(pointer: &str) -> bool {
    pointer
        .rsplit('/')
        .find(|segment| segment.parse::<usize>().is_err())
        .is_some_and(|segment| READ.contains(&segment))
}

/// A fixture, one to four of its nodes replaced by hostile values (mostly nodes we read).
fn mutated() -> impl Strategy<Value = (Platform, String, Vec<u8>)> {
    let cases = fixtures();
    (
        0..cases.len(),
        prop::collection::vec(
            (any::<bool>(), any::<prop::sample::Index>(), hostile()),
            1..5,
        ),
        any::<bool>(),
    )
        .prop_map(move |(which, edits, hostile_topic)| {
            let (platform, topic, mut value) = cases[which].clone();
            for (anywhere, index, replacement) in edits {
                let mut all = Vec::new();
                pointers(&value, String::new(), &mut all);
                let read: Vec<String> = all.iter().filter(|p| is_read(p)).cloned().collect();
                let pool = if anywhere || read.is_empty() {
                    &all
                } else {
                    &read
                };
                let pointer = index.get(pool).clone();
                if pointer.is_empty() {
                    value = replacement;
                } else if let Some(slot) = value.pointer_mut(&pointer) {
                    *slot = replacement;
                }
            }
            let topic = if hostile_topic && platform == Platform::Shopify {
                "refunds/create".to_string()
            } else {
                topic.to_string()
            };
            (platform, topic, value.to_string().into_bytes())
        })
}

fn platform() -> impl Strategy<Value = Platform> {
    prop::sample::select(Platform::ALL.to_vec())
}

fn any_json() -> impl Strategy<Value = Value> {
    hostile().prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(READ.to_vec()).prop_map(str::to_string),
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn every_fixture_normalizes_to_bounded_facts() {
    let now = now();
    for (platform, topic, value) in fixtures() {
        let body = value.to_string().into_bytes();
        let result = normalize(
            platform,
            &headers(platform, topic, "wh-1"),
            &body,
            CLICK_PARAM,
            now,
        );
        assert!(
            matches!(result, Ok(Normalized::Facts(_))),
            "{platform:?} {topic}: {:?}",
            result.as_ref().err()
        );
        assert_bounded(platform, &result, now);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_and_never_yield_an_unbounded_event(
        platform in platform(),
        body in prop::collection::vec(any::<u8>(), 0..512),
        topic in prop::sample::select(vec!["orders/paid", "refunds/create", "order.created", "order.updated", "x"]),
    ) {
        run(platform, &headers(platform, topic, "wh-1"), &body);
    }

    #[test]
    fn arbitrary_json_never_panics_and_never_yields_an_unbounded_event(
        platform in platform(),
        value in any_json(),
        topic in prop::sample::select(vec!["orders/paid", "refunds/create", "order.created", "order.updated"]),
    ) {
        run(platform, &headers(platform, topic, "wh-1"), value.to_string().as_bytes());
    }

    #[test]
    fn fixtures_with_hostile_fields_never_yield_an_unbounded_event(
        (platform, topic, body) in mutated(),
        delivery in prop_oneof![Just("wh-1".to_string()), "[ -~]{0,140}"],
    ) {
        run(platform, &headers(platform, &topic, &delivery), &body);
    }

    #[test]
    fn a_duplicate_key_anywhere_is_refused_naming_its_path(
        which in 0..9usize,
        index in any::<prop::sample::Index>(),
        key_index in any::<prop::sample::Index>(),
    ) {
        let (platform, topic, mut value) = fixtures().swap_remove(which);
        let mut all = Vec::new();
        pointers(&value, String::new(), &mut all);
        let objects: Vec<String> = all
            .into_iter()
            .filter(|p| value.pointer(p).and_then(Value::as_object).is_some_and(|m| !m.is_empty()))
            .collect();
        let pointer = index.get(&objects).clone();
        let (expected, marker) = {
            let object = value.pointer_mut(&pointer).and_then(Value::as_object_mut).expect("an object");
            let keys: Vec<String> = object.keys().cloned().collect();
            let key = key_index.get(&keys).clone();
            object.insert("\u{1}dup".to_string(), json!(1));
            (key, "\"\\u0001dup\"")
        };
        let text = value.to_string();
        prop_assert!(text.contains(marker));
        let body = text.replacen(marker, &serde_json::to_string(&expected).expect("a key"), 1);
        let result = normalize(platform, &headers(platform, topic, "wh-1"), body.as_bytes(), CLICK_PARAM, now());
        let err = result.err().expect("refused");
        prop_assert_eq!(&err.reason, "duplicate key");
        prop_assert!(err.path.ends_with(&expected), "{} ends with {}", err.path, expected);
    }
}

/// Inputs the fuzzers or the properties above once broke, kept as cases.
mod regressions {
    use super::*;

    /// A Stripe renewal's `subtotal − amount_shipping` was a bare `-`: i64::MIN minus a
    /// shipping amount overflowed (a panic in debug builds, a wrap in release).
    #[test]
    fn a_renewal_with_extreme_subtotal_and_shipping_is_refused() {
        let mut invoice = fixture("stripe/invoice_paid.json");
        let object = &mut invoice["data"]["object"];
        object
            .as_object_mut()
            .expect("an object")
            .remove("total_excluding_tax");
        object["subtotal"] = json!(i64::MIN);
        object["amount_shipping"] = json!(1);
        let body = invoice.to_string().into_bytes();
        let result = normalize(
            Platform::Stripe,
            &HeaderMap::new(),
            &body,
            CLICK_PARAM,
            now(),
        );
        let err = result.err().expect("refused");
        assert_eq!(err.path, "data.object.subtotal");
    }

    /// A Shopify line of i64::MAX cents × a large quantity.
    #[test]
    fn a_line_past_the_maximum_is_refused() {
        let mut order = fixture("shopify/orders_paid.json");
        order["line_items"][0]["quantity"] = json!(u32::MAX);
        let body = order.to_string().into_bytes();
        let result = normalize(
            Platform::Shopify,
            &headers(Platform::Shopify, "orders/paid", "wh-1"),
            &body,
            CLICK_PARAM,
            now(),
        );
        assert_eq!(
            result.err().expect("refused").path,
            "line_items[0].quantity"
        );
    }
}
