//! WooCommerce: `order.created` / `order.updated` in status `processing` or `completed` book a
//! sale once; refunds (status `refunded`, or entries in `refunds`) book the cumulative reversal.
//!
//! The body is the REST API v3 order (<https://woocommerce.github.io/woocommerce-rest-api-docs/#order-properties>);
//! notes in `tests/fixtures/webhooks/NOTES.md`. Amounts are decimal strings; `refunds[].total`
//! is negative and covers the whole order (tax and shipping included).

use axum::http::HeaderMap;
use serde_json::Value;
use time::format_description::well_known::Iso8601;
use time::{OffsetDateTime, PrimitiveDateTime};

use linkledger_shared::conversion::{Fact, LineItem, Refund, Refunded, Sale};
use linkledger_shared::creator::email_hash;
use linkledger_shared::money::{Currency, Money};
use linkledger_shared::program::Program;

use crate::fields::{BadField, Fields};
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
    program: &Program,
) -> Result<Normalized, BadField> {
    let topic = header(headers, "x-wc-webhook-topic")?;
    if topic != "order.created" && topic != "order.updated" {
        return Ok(Normalized::Ignored(topic));
    }
    // The delivery id is a hash of the webhook id and the current second, so two orders sent in
    // the same second share it: it is only a key together with the order and the fact.
    let delivery = header(headers, "x-wc-webhook-delivery-id")?;
    let f = Fields::root(json);
    let order_id = f.id("id")?;
    let status = f.str("status")?;
    let currency = f.currency("currency")?;
    let total = f.money("total", currency)?;
    let mut refunded = Money::zero(currency);
    for r in f.array("refunds")? {
        let amount = r.money("total", currency)?;
        // Negative strings ("-113.00"); a positive one is taken as its magnitude.
        let magnitude = Money::from_minor(amount.minor().abs(), currency);
        refunded = refunded
            .checked_add(magnitude)
            .map_err(|e| BadField::new("refunds", e.to_string()))?;
    }
    if status == "refunded" && refunded.minor() == 0 {
        refunded = total;
    }
    let mut facts = Vec::new();
    if matches!(status, "processing" | "completed" | "refunded") {
        facts.push((
            format!("{delivery}:{order_id}:sale"),
            Fact::Sale(sale(&f, program, &order_id, currency, total)?),
        ));
    }
    if refunded.minor() > 0 {
        facts.push((
            format!("{delivery}:{order_id}:refund:{}", refunded.minor()),
            Fact::Refund(Refund {
                order_refs: vec![order_id.clone()],
                occurred_at: date(&f, "date_modified_gmt")
                    .or_else(|_| date(&f, "date_created_gmt"))?,
                refunded: Refunded::Cumulative(refunded),
            }),
        ));
    }
    if facts.is_empty() {
        return Ok(Normalized::Ignored(format!("{topic} (status {status})")));
    }
    Ok(Normalized::Facts(facts))
}

/// `*_gmt` dates carry no offset: they are UTC.
fn date(f: &Fields<'_>, path: &str) -> Result<OffsetDateTime, BadField> {
    let text = f.str(path)?;
    PrimitiveDateTime::parse(text, &Iso8601::DEFAULT)
        .map(PrimitiveDateTime::assume_utc)
        .map_err(|_| BadField::new(path, "must be a date-time such as 2026-07-14T14:21:07"))
}

fn sale(
    f: &Fields<'_>,
    program: &Program,
    order_id: &str,
    currency: Currency,
    total: Money,
) -> Result<Sale, BadField> {
    // Line `total` is after discounts and before tax (`subtotal` is before discounts).
    let mut net = Money::zero(currency);
    let mut lines = Vec::new();
    for item in f.array("line_items")? {
        let line_net = item.money("total", currency)?;
        net = net
            .checked_add(line_net)
            .map_err(|e| BadField::new("line_items", e.to_string()))?;
        lines.push(LineItem {
            sku: item
                .opt_str("sku")?
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            product_id: item.opt_id("product_id")?,
            quantity: u32::try_from(item.int("quantity")?)
                .map_err(|_| BadField::new(&item.full("quantity"), "must not be negative"))?,
            net: line_net,
        });
    }
    let mut click_id = None;
    for meta in f.array("meta_data")? {
        if meta.opt_str("key")? == Some(program.click_param.as_str()) {
            click_id = meta.opt_str("value")?.map(str::to_string);
        }
    }
    let coupons = f
        .array("coupon_lines")?
        .iter()
        .filter_map(|c| c.opt_str("code").transpose())
        .map(|c| c.map(str::to_string))
        .collect::<Result<Vec<_>, _>>()?;
    let occurred_at = date(f, "date_paid_gmt").or_else(|_| date(f, "date_created_gmt"))?;
    Ok(Sale {
        order_id: order_id.to_string(),
        aliases: Vec::new(),
        occurred_at,
        net,
        refund_basis: total,
        click_id,
        coupons,
        customer_email_hash: f
            .opt_str("billing.email")?
            .filter(|e| !e.is_empty())
            .map(email_hash),
        customer_ref: None,
        lines,
        renewal: false,
    })
}
