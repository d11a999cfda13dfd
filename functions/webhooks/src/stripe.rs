//! Stripe: `checkout.session.completed` books a sale, `invoice.paid` (a subscription cycle) a
//! renewal, `charge.refunded` a refund from the cumulative `amount_refunded`.
//!
//! Payloads follow the Event, Checkout Session, Invoice and Charge objects of the API reference
//! (<https://docs.stripe.com/api/events/object>, `/api/checkout/sessions/object`,
//! `/api/invoices/object`, `/api/charges/object`); notes in `tests/fixtures/webhooks/NOTES.md`.
//! Amounts are integers in the currency's minor unit; currencies are lower-case ISO codes.
//! Signed `Stripe-Signature: t=…,v1=…` (hex HMAC-SHA256 of `t.body`, 300 s tolerance,
//! <https://docs.stripe.com/webhooks#verify-manually>).

use axum::http::HeaderMap;
use serde::Deserialize;
use time::OffsetDateTime;

use linkledger_core::conversion::{self, Fact, Refund, Refunded, Sale};
use linkledger_core::creator::email_hash;
use linkledger_core::limits;
use linkledger_core::signature::{verify_timestamped, SignatureError};

use crate::fields::{net_of, At, BadField, Entries, Leaf, Node, ROOT};
use crate::json::Strict;
use crate::{signature_header, Normalized, Platform};

pub struct Stripe;

impl Platform for Stripe {
    fn kind(&self) -> conversion::Platform {
        conversion::Platform::Stripe
    }

    fn verify(
        &self,
        secret: &[u8],
        headers: &HeaderMap,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<(), SignatureError> {
        verify_timestamped(
            secret,
            body,
            signature_header(headers, "stripe-signature"),
            now.unix_timestamp(),
        )
    }

    fn normalize(
        &self,
        _headers: &HeaderMap,
        body: Strict<'_>,
        click_param: &str,
        now: OffsetDateTime,
    ) -> Result<Normalized, BadField> {
        normalize(&body.parse()?, click_param, now)
    }
}

/// The fields of an Event that we read.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Event<'a> {
    #[serde(borrow, rename = "type")]
    kind: Leaf<'a>,
    #[serde(borrow)]
    id: Leaf<'a>,
    #[serde(borrow)]
    created: Leaf<'a>,
    #[serde(borrow)]
    data: Node<Data<'a>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Data<'a> {
    #[serde(borrow)]
    object: Node<Object<'a>>,
}

/// The fields we read of the event's object: a Checkout Session, an Invoice or a Charge.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Object<'a> {
    #[serde(borrow)]
    id: Leaf<'a>,
    #[serde(borrow)]
    currency: Leaf<'a>,
    #[serde(borrow)]
    customer: Leaf<'a>,
    #[serde(borrow)]
    customer_email: Leaf<'a>,
    #[serde(borrow)]
    payment_intent: Leaf<'a>,
    #[serde(borrow)]
    invoice: Leaf<'a>,
    #[serde(borrow)]
    charge: Leaf<'a>,
    // Checkout Session.
    #[serde(borrow)]
    payment_status: Leaf<'a>,
    #[serde(borrow)]
    amount_subtotal: Leaf<'a>,
    #[serde(borrow)]
    amount_total: Leaf<'a>,
    #[serde(borrow)]
    total_details: Node<TotalDetails<'a>>,
    #[serde(borrow)]
    client_reference_id: Leaf<'a>,
    #[serde(borrow)]
    metadata: Node<Entries<'a>>,
    #[serde(borrow)]
    customer_details: Node<CustomerDetails<'a>>,
    // Invoice.
    #[serde(borrow)]
    billing_reason: Leaf<'a>,
    #[serde(borrow)]
    total_excluding_tax: Leaf<'a>,
    #[serde(borrow)]
    subtotal: Leaf<'a>,
    #[serde(borrow)]
    amount_shipping: Leaf<'a>,
    #[serde(borrow)]
    amount_paid: Leaf<'a>,
    #[serde(borrow)]
    status_transitions: Node<StatusTransitions<'a>>,
    // Charge.
    #[serde(borrow)]
    amount_refunded: Leaf<'a>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct TotalDetails<'a> {
    #[serde(borrow)]
    amount_discount: Leaf<'a>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct CustomerDetails<'a> {
    #[serde(borrow)]
    email: Leaf<'a>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct StatusTransitions<'a> {
    #[serde(borrow)]
    paid_at: Leaf<'a>,
}

fn normalize(
    event: &Event<'_>,
    click_param: &str,
    now: OffsetDateTime,
) -> Result<Normalized, BadField> {
    let kind = event.kind.str_id(&ROOT.key("type"))?;
    let delivery = event.id.str_id(&ROOT.key("id"))?;
    let created = event.created.unix(&ROOT.key("created"), now)?;
    let at = ROOT.key("data.object");
    let o = event.data.object.object(&at)?;
    let fact = match kind.as_str() {
        "checkout.session.completed" => {
            if o.payment_status.opt_str(&at.key("payment_status"))? != Some("paid") {
                // Delayed methods pay later: `checkout.session.async_payment_succeeded`.
                return Ok(Normalized::Ignored(format!("{kind} (not paid yet)")));
            }
            Fact::Sale(checkout(o, &at, click_param, created)?)
        }
        "checkout.session.async_payment_succeeded" => {
            Fact::Sale(checkout(o, &at, click_param, created)?)
        }
        "invoice.paid" => {
            // The first invoice of a subscription is the checkout's own payment, booked from
            // `checkout.session.completed`; later cycles are renewals.
            if o.billing_reason.opt_str(&at.key("billing_reason"))? == Some("subscription_create") {
                return Ok(Normalized::Ignored(format!("{kind} (subscription_create)")));
            }
            // A downgrade's proration invoice can total below zero (Stripe credits the
            // customer's balance and marks it paid): nothing was sold, so nothing to book —
            // acknowledged, never refused (a 400 would be retried for days).
            let total = if o.total_excluding_tax.is_present() {
                o.total_excluding_tax.int(&at.key("total_excluding_tax"))?
            } else if o.subtotal.is_present() {
                o.subtotal.int(&at.key("subtotal"))?
            } else {
                0
            };
            // Past the amount bound it is not a credit but a bad value: refused below.
            if total < 0 && limits::check_amount(total).is_ok() {
                return Ok(Normalized::Ignored(format!(
                    "{kind} (a credit, not a sale)"
                )));
            }
            Fact::Sale(renewal(o, &at, created, now)?)
        }
        "charge.refunded" => Fact::Refund(refund(o, &at, created)?),
        _ => return Ok(Normalized::Ignored(kind)),
    };
    Ok(Normalized::Facts(vec![(delivery, fact)]))
}

/// The optional ids among `fields` (named as in the object), in that order: aliases a refund
/// may cite.
fn ids(fields: &[(&Leaf<'_>, &str)], at: &At<'_>) -> Result<Vec<String>, BadField> {
    let mut ids = Vec::new();
    for (leaf, name) in fields {
        if let Some(id) = leaf.opt_str_id(&at.key(name))? {
            ids.push(id);
        }
    }
    Ok(ids)
}

fn checkout(
    o: &Object<'_>,
    at: &At<'_>,
    click_param: &str,
    created: OffsetDateTime,
) -> Result<Sale, BadField> {
    let currency = o.currency.currency(&at.key("currency"))?;
    let subtotal = o
        .amount_subtotal
        .amount_minor(&at.key("amount_subtotal"), currency)?;
    let discount_at = at.key("total_details.amount_discount");
    let discount = o
        .total_details
        .amount_discount
        .opt_amount_minor(&discount_at, currency)?;
    // `amount_subtotal` is before discounts, tax and shipping; the discount comes off.
    let net = net_of(&discount_at.render(), subtotal, discount)?;
    // Set by the shop's checkout from the shopper's landing URL: a hint ([`Leaf::opt_hint`]).
    let metadata_at = at.key("metadata");
    let click_id = match o
        .client_reference_id
        .opt_hint(&at.key("client_reference_id"), false)?
    {
        Some(id) => Some(id),
        None => o
            .metadata
            .get(click_param)
            .opt_hint(&metadata_at.key(click_param), false)?,
    };
    let email = match o
        .customer_details
        .email
        .opt_text(&at.key("customer_details.email"))?
    {
        Some(email) => Some(email),
        None => o.customer_email.opt_text(&at.key("customer_email"))?,
    };
    Ok(Sale {
        order_id: o.id.str_id(&at.key("id"))?,
        aliases: ids(
            &[
                (&o.payment_intent, "payment_intent"),
                (&o.invoice, "invoice"),
            ],
            at,
        )?,
        occurred_at: created,
        net,
        // Refunds are of the whole charge (tax and shipping included).
        refund_basis: o
            .amount_total
            .amount_minor(&at.key("amount_total"), currency)?,
        click_id,
        coupons: o
            .metadata
            .get("coupon")
            .opt_hint(&metadata_at.key("coupon"), true)?
            .into_iter()
            .collect(),
        customer_email_hash: email.map(email_hash),
        customer_ref: o.customer.opt_str_id(&at.key("customer"))?,
        lines: Vec::new(),
        renewal: false,
    })
}

fn renewal(
    o: &Object<'_>,
    at: &At<'_>,
    created: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<Sale, BadField> {
    let currency = o.currency.currency(&at.key("currency"))?;
    // After discounts, without tax; shipping (rare on invoices) comes off too.
    let before_shipping = if o.total_excluding_tax.is_present() {
        o.total_excluding_tax
            .amount_minor(&at.key("total_excluding_tax"), currency)?
    } else {
        o.subtotal.amount_minor(&at.key("subtotal"), currency)?
    };
    let shipping_at = at.key("amount_shipping");
    let shipping = o.amount_shipping.opt_amount_minor(&shipping_at, currency)?;
    let net = net_of(&shipping_at.render(), before_shipping, shipping)?;
    let paid_at = &o.status_transitions.paid_at;
    let occurred_at = if paid_at.is_present() {
        paid_at.unix(&at.key("status_transitions.paid_at"), now)?
    } else {
        created
    };
    Ok(Sale {
        order_id: o.id.str_id(&at.key("id"))?,
        aliases: ids(
            &[(&o.payment_intent, "payment_intent"), (&o.charge, "charge")],
            at,
        )?,
        occurred_at,
        net,
        refund_basis: o
            .amount_paid
            .amount_minor(&at.key("amount_paid"), currency)?,
        click_id: None,
        coupons: Vec::new(),
        customer_email_hash: o
            .customer_email
            .opt_text(&at.key("customer_email"))?
            .map(email_hash),
        customer_ref: Some(o.customer.str_id(&at.key("customer"))?),
        lines: Vec::new(),
        renewal: true,
    })
}

fn refund(o: &Object<'_>, at: &At<'_>, created: OffsetDateTime) -> Result<Refund, BadField> {
    let currency = o.currency.currency(&at.key("currency"))?;
    // The payment intent and invoice name the sale (its aliases); the charge id is always there.
    let mut order_refs = ids(
        &[
            (&o.payment_intent, "payment_intent"),
            (&o.invoice, "invoice"),
        ],
        at,
    )?;
    order_refs.push(o.id.str_id(&at.key("id"))?);
    Ok(Refund {
        order_refs,
        occurred_at: created,
        refunded: Refunded::Cumulative(
            o.amount_refunded
                .amount_minor(&at.key("amount_refunded"), currency)?,
        ),
    })
}
