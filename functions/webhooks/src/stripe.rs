//! Stripe: `checkout.session.completed` books a sale, `invoice.paid` (a subscription cycle) a
//! renewal, `charge.refunded` a refund from the cumulative `amount_refunded`.
//!
//! Payloads follow the Event, Checkout Session, Invoice and Charge objects of the API reference
//! (<https://docs.stripe.com/api/events/object>, `/api/checkout/sessions/object`,
//! `/api/invoices/object`, `/api/charges/object`); notes in `tests/fixtures/webhooks/NOTES.md`.
//! Amounts are integers in the currency's minor unit; currencies are lower-case ISO codes.

use serde_json::Value;
use time::OffsetDateTime;

use linkledger_core::conversion::{Fact, Refund, Refunded, Sale};
use linkledger_core::creator::email_hash;
use linkledger_core::limits;

use crate::fields::{net_of, BadField, Fields};
use crate::Normalized;

pub fn normalize(
    json: &Value,
    click_param: &str,
    now: OffsetDateTime,
) -> Result<Normalized, BadField> {
    let event = Fields::root(json, now);
    let kind = event.str_id("type")?;
    let delivery = event.str_id("id")?;
    let created = event.unix("created")?;
    let o = event.object("data.object")?;
    let fact = match kind.as_str() {
        "checkout.session.completed" => {
            if o.opt_str("payment_status")? != Some("paid") {
                // Delayed methods pay later: `checkout.session.async_payment_succeeded`.
                return Ok(Normalized::Ignored(format!("{kind} (not paid yet)")));
            }
            Fact::Sale(checkout(&o, click_param, created)?)
        }
        "checkout.session.async_payment_succeeded" => {
            Fact::Sale(checkout(&o, click_param, created)?)
        }
        "invoice.paid" => {
            // The first invoice of a subscription is the checkout's own payment, booked from
            // `checkout.session.completed`; later cycles are renewals.
            if o.opt_str("billing_reason")? == Some("subscription_create") {
                return Ok(Normalized::Ignored(format!("{kind} (subscription_create)")));
            }
            // A downgrade's proration invoice can total below zero (Stripe credits the
            // customer's balance and marks it paid): nothing was sold, so nothing to book —
            // acknowledged, never refused (a 400 would be retried for days).
            let total = match (o.opt("total_excluding_tax"), o.opt("subtotal")) {
                (Some(_), _) => o.int("total_excluding_tax")?,
                (None, Some(_)) => o.int("subtotal")?,
                (None, None) => 0,
            };
            // Past the amount bound it is not a credit but a bad value: refused below.
            if total < 0 && limits::check_amount(total).is_ok() {
                return Ok(Normalized::Ignored(format!(
                    "{kind} (a credit, not a sale)"
                )));
            }
            Fact::Sale(renewal(&o, created)?)
        }
        "charge.refunded" => Fact::Refund(refund(&o, created)?),
        _ => return Ok(Normalized::Ignored(kind)),
    };
    Ok(Normalized::Facts(vec![(delivery, fact)]))
}

/// The optional ids among `fields`, in that order (aliases a refund may cite).
fn ids(o: &Fields<'_>, fields: &[&str]) -> Result<Vec<String>, BadField> {
    let mut ids = Vec::new();
    for field in fields {
        if let Some(id) = o.opt_str_id(field)? {
            ids.push(id);
        }
    }
    Ok(ids)
}

fn checkout(o: &Fields<'_>, click_param: &str, created: OffsetDateTime) -> Result<Sale, BadField> {
    let currency = o.currency("currency")?;
    let subtotal = o.amount_minor("amount_subtotal", currency)?;
    let discount = o.opt_amount_minor("total_details.amount_discount", currency)?;
    // `amount_subtotal` is before discounts, tax and shipping; the discount comes off.
    let net = net_of(&o.full("total_details.amount_discount"), subtotal, discount)?;
    // Set by the shop's checkout from the shopper's landing URL: a hint ([`Fields::opt_hint`]).
    let click_id = match o.opt_hint("client_reference_id", false)? {
        Some(id) => Some(id),
        None => o.opt_hint(&format!("metadata.{click_param}"), false)?,
    };
    let email = match o.opt_text("customer_details.email")? {
        Some(email) => Some(email),
        None => o.opt_text("customer_email")?,
    };
    Ok(Sale {
        order_id: o.str_id("id")?,
        aliases: ids(o, &["payment_intent", "invoice"])?,
        occurred_at: created,
        net,
        // Refunds are of the whole charge (tax and shipping included).
        refund_basis: o.amount_minor("amount_total", currency)?,
        click_id,
        coupons: o.opt_hint("metadata.coupon", true)?.into_iter().collect(),
        customer_email_hash: email.map(email_hash),
        customer_ref: o.opt_str_id("customer")?,
        lines: Vec::new(),
        renewal: false,
    })
}

fn renewal(o: &Fields<'_>, created: OffsetDateTime) -> Result<Sale, BadField> {
    let currency = o.currency("currency")?;
    // After discounts, without tax; shipping (rare on invoices) comes off too.
    let before_shipping = match o.opt("total_excluding_tax") {
        Some(_) => o.amount_minor("total_excluding_tax", currency)?,
        None => o.amount_minor("subtotal", currency)?,
    };
    let shipping = o.opt_amount_minor("amount_shipping", currency)?;
    let net = net_of(&o.full("amount_shipping"), before_shipping, shipping)?;
    let occurred_at = match o.opt("status_transitions.paid_at") {
        Some(_) => o.unix("status_transitions.paid_at")?,
        None => created,
    };
    Ok(Sale {
        order_id: o.str_id("id")?,
        aliases: ids(o, &["payment_intent", "charge"])?,
        occurred_at,
        net,
        refund_basis: o.amount_minor("amount_paid", currency)?,
        click_id: None,
        coupons: Vec::new(),
        customer_email_hash: o.opt_text("customer_email")?.map(email_hash),
        customer_ref: Some(o.str_id("customer")?),
        lines: Vec::new(),
        renewal: true,
    })
}

fn refund(o: &Fields<'_>, created: OffsetDateTime) -> Result<Refund, BadField> {
    let currency = o.currency("currency")?;
    // The payment intent and invoice name the sale (its aliases); the charge id is always there.
    let mut order_refs = ids(o, &["payment_intent", "invoice"])?;
    order_refs.push(o.str_id("id")?);
    Ok(Refund {
        order_refs,
        occurred_at: created,
        refunded: Refunded::Cumulative(o.amount_minor("amount_refunded", currency)?),
    })
}
