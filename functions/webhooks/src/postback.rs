//! Our own server-to-server format, for stores without a supported platform (README,
//! "Postback"). Signed like Stripe: `Linkledger-Signature: t=<unix>,v1=<hex HMAC-SHA256 of
//! "t.body">` with the program's postback secret.
//!
//! ```json
//! {"event": "sale", "order_id": "1001", "amount": "100.00", "currency": "USD",
//!  "click_id": "…", "coupon": "ANNA10", "customer_email": "shopper@example.com"}
//! ```
//! `event` is `sale`, `lead` or `refund`. For a refund, `amount` is the order's total refunded
//! so far (cumulative), so repeats and late arrivals are harmless. Optional: `occurred_at`
//! (RFC 3339, default now) and `event_id` (the delivery id; default a hash of the body).

use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use linkledger_core::conversion::{Fact, Lead, Refund, Refunded, Sale};
use linkledger_core::creator::email_hash;

use crate::fields::{display_key, BadField, Fields};
use crate::Normalized;

const FIELDS: &[&str] = &[
    "event",
    "order_id",
    "amount",
    "currency",
    "click_id",
    "coupon",
    "customer_email",
    "occurred_at",
    "event_id",
];

pub fn normalize(json: &Value, body: &[u8], now: OffsetDateTime) -> Result<Normalized, BadField> {
    let object = json
        .as_object()
        .ok_or_else(|| BadField::new("body", "must be a JSON object"))?;
    if let Some(unknown) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(BadField::new(&display_key(unknown), "unknown field"));
    }
    let f = Fields::root(json, now);
    let occurred_at = match f.opt("occurred_at") {
        Some(_) => f.rfc3339("occurred_at")?,
        None => now,
    };
    let delivery = match f.opt_str_id("event_id")? {
        Some(id) => id,
        None => hex::encode(Sha256::digest(body)),
    };
    let order_id = f.id("order_id")?;
    let click_id = f.opt_str_id("click_id")?;
    let coupons: Vec<String> = f.opt_code("coupon")?.into_iter().collect();
    let email = f.opt_text("customer_email")?.map(email_hash);
    let amount = || -> Result<_, BadField> {
        let currency = f.currency("currency")?;
        f.amount("amount", currency)
    };
    let fact = match f.str("event")? {
        "sale" => {
            let amount = amount()?;
            Fact::Sale(Sale {
                order_id,
                aliases: Vec::new(),
                occurred_at,
                net: amount,
                refund_basis: amount,
                click_id,
                coupons,
                customer_email_hash: email,
                customer_ref: None,
                lines: Vec::new(),
                renewal: false,
            })
        }
        "lead" => Fact::Lead(Lead {
            order_id,
            occurred_at,
            click_id,
            coupons,
            customer_email_hash: email,
        }),
        "refund" => Fact::Refund(Refund {
            order_refs: vec![order_id],
            occurred_at,
            refunded: Refunded::Cumulative(amount()?),
        }),
        _ => return Err(BadField::new("event", "must be one of sale, lead, refund")),
    };
    Ok(Normalized::Facts(vec![(delivery, fact)]))
}
