//! Stripe: `checkout.session.completed` books a sale, `invoice.paid` (a subscription cycle) a
//! renewal, `charge.refunded` a refund from the cumulative `amount_refunded`.
//!
//! Payloads follow the Event, Checkout Session, Invoice and Charge objects of the API reference
//! (<https://docs.stripe.com/api/events/object>, `/api/checkout/sessions/object`,
//! `/api/invoices/object`, `/api/charges/object`); notes in `tests/fixtures/webhooks/NOTES.md`.
//! Amounts are integers in the currency's minor unit; currencies are lower-case ISO codes.

use serde_json::Value;

use linkledger_shared::conversion::{Fact, Refund, Refunded, Sale};
use linkledger_shared::creator::email_hash;
use linkledger_shared::program::Program;

use crate::fields::{BadField, Fields};
use crate::Normalized;

pub fn normalize(json: &Value, program: &Program) -> Result<Normalized, BadField> {
    let event = Fields::root(json);
    let kind = event.str("type")?.to_string();
    let delivery = event.str("id")?.to_string();
    let created = event.unix("created")?;
    let o = Fields::root(
        event
            .opt("data.object")
            .ok_or_else(|| BadField::new("data.object", "is required"))?,
    );
    let with_prefix = |e: BadField| BadField::new(&format!("data.object.{}", e.path), e.reason);
    let fact = match kind.as_str() {
        "checkout.session.completed" => {
            if o.opt_str("payment_status").map_err(with_prefix)? != Some("paid") {
                // Delayed methods pay later: `checkout.session.async_payment_succeeded`.
                return Ok(Normalized::Ignored(format!("{kind} (not paid yet)")));
            }
            Fact::Sale(checkout(&o, program, created).map_err(with_prefix)?)
        }
        "checkout.session.async_payment_succeeded" => {
            Fact::Sale(checkout(&o, program, created).map_err(with_prefix)?)
        }
        "invoice.paid" => {
            // The first invoice of a subscription is the checkout's own payment, booked from
            // `checkout.session.completed`; later cycles are renewals.
            if o.opt_str("billing_reason").map_err(with_prefix)? == Some("subscription_create") {
                return Ok(Normalized::Ignored(format!("{kind} (subscription_create)")));
            }
            Fact::Sale(renewal(&o, created).map_err(with_prefix)?)
        }
        "charge.refunded" => Fact::Refund(refund(&o, created).map_err(with_prefix)?),
        _ => return Ok(Normalized::Ignored(kind)),
    };
    Ok(Normalized::Facts(vec![(delivery, fact)]))
}

fn checkout(
    o: &Fields<'_>,
    program: &Program,
    created: time::OffsetDateTime,
) -> Result<Sale, BadField> {
    let currency = o.currency("currency")?;
    let subtotal = o.minor("amount_subtotal", currency)?;
    let discount = o.opt_int("total_details.amount_discount")?.unwrap_or(0);
    // `amount_subtotal` is before discounts, tax and shipping; the discount comes off.
    let net = subtotal
        .checked_sub(linkledger_shared::money::Money::from_minor(
            discount, currency,
        ))
        .map_err(|e| BadField::new("total_details.amount_discount", e.to_string()))?;
    let metadata_click = o.opt_str(&format!("metadata.{}", program.click_param))?;
    let click_id = o.opt_str("client_reference_id")?.or(metadata_click);
    let email = o
        .opt_str("customer_details.email")?
        .or(o.opt_str("customer_email")?);
    let mut aliases = Vec::new();
    for field in ["payment_intent", "invoice"] {
        if let Some(id) = o.opt_str(field)? {
            aliases.push(id.to_string());
        }
    }
    Ok(Sale {
        order_id: o.str("id")?.to_string(),
        aliases,
        occurred_at: created,
        net,
        // Refunds are of the whole charge (tax and shipping included).
        refund_basis: o.minor("amount_total", currency)?,
        click_id: click_id.map(str::to_string),
        coupons: o
            .opt_str("metadata.coupon")?
            .map(str::to_string)
            .into_iter()
            .collect(),
        customer_email_hash: email.map(email_hash),
        customer_ref: o.opt_str("customer")?.map(str::to_string),
        lines: Vec::new(),
        renewal: false,
    })
}

fn renewal(o: &Fields<'_>, created: time::OffsetDateTime) -> Result<Sale, BadField> {
    let currency = o.currency("currency")?;
    // After discounts, without tax; shipping (rare on invoices) comes off too.
    let net_minor = match o.opt_int("total_excluding_tax")? {
        Some(v) => v,
        None => o.int("subtotal")?,
    } - o.opt_int("amount_shipping")?.unwrap_or(0);
    let occurred_at = match o.opt_int("status_transitions.paid_at")? {
        Some(_) => o.unix("status_transitions.paid_at")?,
        None => created,
    };
    let mut aliases = Vec::new();
    for field in ["payment_intent", "charge"] {
        if let Some(id) = o.opt_str(field)? {
            aliases.push(id.to_string());
        }
    }
    Ok(Sale {
        order_id: o.str("id")?.to_string(),
        aliases,
        occurred_at,
        net: linkledger_shared::money::Money::from_minor(net_minor, currency),
        refund_basis: o.minor("amount_paid", currency)?,
        click_id: None,
        coupons: Vec::new(),
        customer_email_hash: o.opt_str("customer_email")?.map(email_hash),
        customer_ref: Some(o.str("customer")?.to_string()),
        lines: Vec::new(),
        renewal: true,
    })
}

fn refund(o: &Fields<'_>, created: time::OffsetDateTime) -> Result<Refund, BadField> {
    let currency = o.currency("currency")?;
    let mut order_refs = Vec::new();
    for field in ["payment_intent", "invoice", "id"] {
        if let Some(id) = o.opt_str(field)? {
            order_refs.push(id.to_string());
        }
    }
    Ok(Refund {
        order_refs,
        occurred_at: created,
        refunded: Refunded::Cumulative(o.minor("amount_refunded", currency)?),
    })
}
