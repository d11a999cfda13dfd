//! WooCommerce: `order.created` / `order.updated` in status `processing` or `completed` book a
//! sale once; refunds (status `refunded`, or entries in `refunds`) book the cumulative reversal.
//!
//! The body is the REST API v3 order (<https://woocommerce.github.io/woocommerce-rest-api-docs/#order-properties>);
//! notes in `tests/fixtures/webhooks/NOTES.md`. Amounts are decimal strings; `refunds[].total`
//! is negative and covers the whole order (tax and shipping included). Signed
//! `X-WC-Webhook-Signature`: the base64 HMAC-SHA256 of the body with the webhook's secret.

use axum::http::HeaderMap;
use serde::Deserialize;
use time::OffsetDateTime;

use linkledger_core::conversion::{self, Fact, LineItem, Refund, Refunded, Sale};
use linkledger_core::creator::email_hash;
use linkledger_core::money::{Currency, Money};
use linkledger_core::signature::{verify_body_base64, SignatureError};

use crate::fields::{sum, BadField, Leaf, List, Node, Searched, ROOT};
use crate::json::Strict;
use crate::{header, signature_header, Normalized, Platform};

const SIGNATURE: &str = "x-wc-webhook-signature";

pub struct Woocommerce;

impl Platform for Woocommerce {
    fn kind(&self) -> conversion::Platform {
        conversion::Platform::Woocommerce
    }

    /// The creation ping: `webhook_id=<n>`, form-encoded, unsigned. It must get a 200.
    fn is_ping(&self, headers: &HeaderMap, body: &[u8]) -> bool {
        let Ok(text) = std::str::from_utf8(body) else {
            return false;
        };
        headers.get(SIGNATURE).is_none()
            && text.strip_prefix("webhook_id=").is_some_and(|id| {
                !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit())
            })
    }

    fn verify(
        &self,
        secret: &[u8],
        headers: &HeaderMap,
        body: &[u8],
        _now: OffsetDateTime,
    ) -> Result<(), SignatureError> {
        verify_body_base64(secret, body, signature_header(headers, SIGNATURE))
    }

    fn normalize(
        &self,
        headers: &HeaderMap,
        body: Strict<'_>,
        click_param: &str,
        now: OffsetDateTime,
    ) -> Result<Normalized, BadField> {
        let topic = header(headers, "x-wc-webhook-topic")?;
        if topic != "order.created" && topic != "order.updated" {
            return Ok(Normalized::Ignored(topic));
        }
        // The delivery id is a hash of the webhook id and the current second, so two orders sent
        // in the same second share it: it is only a key together with the order and the fact.
        let delivery = header(headers, "x-wc-webhook-delivery-id")?;
        normalize(&body.parse()?, &topic, &delivery, click_param, now)
    }
}

/// The fields of an order that we read.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Order<'a> {
    #[serde(borrow)]
    id: Leaf<'a>,
    #[serde(borrow)]
    status: Leaf<'a>,
    #[serde(borrow)]
    currency: Leaf<'a>,
    #[serde(borrow)]
    total: Leaf<'a>,
    #[serde(borrow)]
    refunds: List<Total<'a>>,
    #[serde(borrow)]
    line_items: List<OrderLine<'a>>,
    #[serde(borrow)]
    meta_data: Searched<Meta<'a>>,
    #[serde(borrow)]
    coupon_lines: List<CouponLine<'a>>,
    #[serde(borrow)]
    billing: Node<Billing<'a>>,
    #[serde(borrow)]
    date_paid_gmt: Leaf<'a>,
    #[serde(borrow)]
    date_created_gmt: Leaf<'a>,
    #[serde(borrow)]
    date_modified_gmt: Leaf<'a>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Total<'a> {
    #[serde(borrow)]
    total: Leaf<'a>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct OrderLine<'a> {
    #[serde(borrow)]
    total: Leaf<'a>,
    #[serde(borrow)]
    sku: Leaf<'a>,
    #[serde(borrow)]
    product_id: Leaf<'a>,
    #[serde(borrow)]
    quantity: Leaf<'a>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Meta<'a> {
    #[serde(borrow)]
    key: Leaf<'a>,
    #[serde(borrow)]
    value: Leaf<'a>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct CouponLine<'a> {
    #[serde(borrow)]
    code: Leaf<'a>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Billing<'a> {
    #[serde(borrow)]
    email: Leaf<'a>,
}

fn normalize(
    order: &Order<'_>,
    topic: &str,
    delivery: &str,
    click_param: &str,
    now: OffsetDateTime,
) -> Result<Normalized, BadField> {
    let order_id = order.id.id(&ROOT.key("id"))?;
    let status = order.status.str_id(&ROOT.key("status"))?;
    let currency = order.currency.currency(&ROOT.key("currency"))?;
    let total = order.total.amount(&ROOT.key("total"), currency)?;
    // Refund entries are negative strings ("-113.00"); a positive one is taken as its magnitude.
    // Bounded amounts have magnitudes that fit, so `abs` cannot overflow.
    let refunds_at = ROOT.key("refunds");
    let mut refunded = sum(
        order
            .refunds
            .items(&refunds_at)?
            .iter()
            .enumerate()
            .map(|(i, r)| {
                r.total
                    .money(&refunds_at.index(i).key("total"), currency)
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
            Fact::Sale(sale(order, click_param, &order_id, currency, total, now)?),
        ));
    }
    if refunded.minor() > 0 {
        facts.push((
            format!("{delivery}:{order_id}:refund:{}", refunded.minor()),
            Fact::Refund(Refund {
                order_refs: vec![order_id.clone()],
                occurred_at: date(
                    (&order.date_modified_gmt, "date_modified_gmt"),
                    (&order.date_created_gmt, "date_created_gmt"),
                    now,
                )?,
                refunded: Refunded::Cumulative(refunded),
            }),
        ));
    }
    if facts.is_empty() {
        return Ok(Normalized::Ignored(format!("{topic} (status {status})")));
    }
    Ok(Normalized::Facts(facts))
}

/// The first date, else (when it is absent or null, as `date_paid_gmt` is before payment) the
/// fallback; each with its name. `*_gmt` dates carry no offset: they are UTC. A date that is
/// there but malformed or outside the window is refused, not replaced by the fallback.
fn date(
    (first, first_name): (&Leaf<'_>, &str),
    (fallback, fallback_name): (&Leaf<'_>, &str),
    now: OffsetDateTime,
) -> Result<OffsetDateTime, BadField> {
    if first.is_present() {
        first.naive_utc(&ROOT.key(first_name), now)
    } else {
        fallback.naive_utc(&ROOT.key(fallback_name), now)
    }
}

fn sale(
    order: &Order<'_>,
    click_param: &str,
    order_id: &str,
    currency: Currency,
    total: Money,
    now: OffsetDateTime,
) -> Result<Sale, BadField> {
    // Line `total` is after discounts and before tax (`subtotal` is before discounts).
    let items_at = ROOT.key("line_items");
    let mut lines = Vec::new();
    for (i, item) in order.line_items.items(&items_at)?.iter().enumerate() {
        let at = items_at.index(i);
        let line_net = item.total.amount(&at.key("total"), currency)?;
        lines.push(LineItem {
            sku: item.sku.sku(&at.key("sku"))?,
            product_id: item.product_id.opt_id(&at.key("product_id"))?,
            quantity: item.quantity.quantity(&at.key("quantity"))?,
            net: line_net,
        });
    }
    let net = sum(lines.iter().map(|l| Ok(l.net)), currency, "line_items")?;
    let meta_at = ROOT.key("meta_data");
    let mut click_id = None;
    for (i, meta) in order.meta_data.items(&meta_at)?.iter().enumerate() {
        let at = meta_at.index(i);
        if meta.key.opt_str(&at.key("key"))? == Some(click_param) {
            // Our storefront snippet copies it from the shopper's landing URL: a hint.
            click_id = meta.value.opt_hint(&at.key("value"), false)?;
        }
    }
    let coupons_at = ROOT.key("coupon_lines");
    let mut coupons = Vec::new();
    for (i, coupon) in order.coupon_lines.items(&coupons_at)?.iter().enumerate() {
        coupons.extend(
            coupon
                .code
                .opt_hint(&coupons_at.index(i).key("code"), true)?,
        );
    }
    Ok(Sale {
        order_id: order_id.to_string(),
        aliases: Vec::new(),
        occurred_at: date(
            (&order.date_paid_gmt, "date_paid_gmt"),
            (&order.date_created_gmt, "date_created_gmt"),
            now,
        )?,
        net,
        refund_basis: total,
        click_id,
        coupons,
        customer_email_hash: order
            .billing
            .email
            .opt_text(&ROOT.key("billing.email"))?
            .filter(|e| !e.is_empty())
            .map(email_hash),
        customer_ref: None,
        lines,
        renewal: false,
    })
}
