//! WooCommerce: `order.created` / `order.updated` in status `processing` or `completed` book a
//! sale once; refunds (status `refunded`, or entries in `refunds`) book the cumulative reversal.
//!
//! The body is the REST API v3 order (<https://woocommerce.github.io/woocommerce-rest-api-docs/#order-properties>);
//! notes in `tests/fixtures/webhooks/NOTES.md`. Amounts are decimal strings; `refunds[].total`
//! is negative and covers the whole order (tax and shipping included).

use axum::http::HeaderMap;
use serde_json::Value;
use time::OffsetDateTime;

use linkledger_core::conversion::{Fact, LineItem, Refund, Refunded, Sale};
use linkledger_core::creator::email_hash;
use linkledger_core::money::{Currency, Money};

use crate::fields::{sum, BadField, Fields};
use crate::{header, Normalized};

/// The creation ping: `webhook_id=<n>`, form-encoded, unsigned. It must get a 200.
pub fn is_ping(headers: &HeaderMap, body: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(body) else {
        return false;
    };
    headers.get("x-wc-webhook-signature").is_none()
        && text.strip_prefix("webhook_id=").is_some_and(|id| {
            !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit())
        })
}

pub fn normalize(
    headers: &HeaderMap,
    json: &Value,
    click_param: &str,
    now: OffsetDateTime,
) -> Result<Normalized, BadField> {
    let topic = header(headers, "x-wc-webhook-topic")?;
    if topic != "order.created" && topic != "order.updated" {
        return Ok(Normalized::Ignored(topic));
    }
    // The delivery id is a hash of the webhook id and the current second, so two orders sent in
    // the same second share it: it is only a key together with the order and the fact.
    let delivery = header(headers, "x-wc-webhook-delivery-id")?;
    let f = Fields::root(json, now);
    let order_id = f.id("id")?;
    let status = f.str_id("status")?;
    let currency = f.currency("currency")?;
    let total = f.amount("total", currency)?;
    // Refund entries are negative strings ("-113.00"); a positive one is taken as its magnitude.
    // Bounded amounts have magnitudes that fit, so `abs` cannot overflow.
    let mut refunded = sum(
        f.array("refunds")?.iter().map(|r| {
            r.money("total", currency)
                .map(|m| Money::from_minor(m.minor().saturating_abs(), currency))
        }),
        currency,
        "refunds",
    )?;
    if status == "refunded" && refunded.minor() == 0 {
        refunded = total;
    }
    let mut facts = Vec::new();
    if matches!(status.as_str(), "processing" | "completed" | "refunded") {
        facts.push((
            format!("{delivery}:{order_id}:sale"),
            Fact::Sale(sale(&f, click_param, &order_id, currency, total)?),
        ));
    }
    if refunded.minor() > 0 {
        facts.push((
            format!("{delivery}:{order_id}:refund:{}", refunded.minor()),
            Fact::Refund(Refund {
                order_refs: vec![order_id.clone()],
                occurred_at: date(&f, "date_modified_gmt", "date_created_gmt")?,
                refunded: Refunded::Cumulative(refunded),
            }),
        ));
    }
    if facts.is_empty() {
        return Ok(Normalized::Ignored(format!("{topic} (status {status})")));
    }
    Ok(Normalized::Facts(facts))
}

/// `path`, else (when it is absent or null, as `date_paid_gmt` is before payment) `fallback`.
/// `*_gmt` dates carry no offset: they are UTC. A date that is there but malformed or outside
/// the window is refused, not replaced by the fallback.
fn date(f: &Fields<'_>, path: &str, fallback: &str) -> Result<OffsetDateTime, BadField> {
    match f.opt(path) {
        Some(_) => f.naive_utc(path),
        None => f.naive_utc(fallback),
    }
}

fn sale(
    f: &Fields<'_>,
    click_param: &str,
    order_id: &str,
    currency: Currency,
    total: Money,
) -> Result<Sale, BadField> {
    // Line `total` is after discounts and before tax (`subtotal` is before discounts).
    let mut lines = Vec::new();
    for item in f.array("line_items")? {
        let line_net = item.amount("total", currency)?;
        lines.push(LineItem {
            sku: match item.opt_str("sku")? {
                // WooCommerce sends `""` for a product without a SKU.
                Some("") | None => None,
                Some(_) => item.product_key("sku")?,
            },
            product_id: item.opt_id("product_id")?,
            quantity: item.quantity("quantity")?,
            net: line_net,
        });
    }
    let net = sum(lines.iter().map(|l| Ok(l.net)), currency, "line_items")?;
    let mut click_id = None;
    for meta in f.searched_array("meta_data")? {
        if meta.opt_str("key")? == Some(click_param) {
            // Our storefront snippet copies it from the shopper's landing URL: a hint.
            click_id = meta.opt_hint("value", false)?;
        }
    }
    let mut coupons = Vec::new();
    for coupon in f.array("coupon_lines")? {
        coupons.extend(coupon.opt_hint("code", true)?);
    }
    Ok(Sale {
        order_id: order_id.to_string(),
        aliases: Vec::new(),
        occurred_at: date(f, "date_paid_gmt", "date_created_gmt")?,
        net,
        refund_basis: total,
        click_id,
        coupons,
        customer_email_hash: f
            .opt_text("billing.email")?
            .filter(|e| !e.is_empty())
            .map(email_hash),
        customer_ref: None,
        lines,
        renewal: false,
    })
}
