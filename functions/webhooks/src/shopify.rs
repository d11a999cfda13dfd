//! Shopify: `orders/paid` books a sale, `refunds/create` a refund.
//!
//! Payloads follow the REST Admin API Order and Refund resources
//! (<https://shopify.dev/docs/api/admin-rest/latest/resources/order>,
//! <https://shopify.dev/docs/api/admin-rest/latest/resources/refund>); fixtures and field notes in
//! `tests/fixtures/webhooks/NOTES.md`. Amounts are read in the **shop** currency (`shop_money`),
//! never the presentment currency the shopper saw.

use axum::http::HeaderMap;
use serde_json::Value;
use time::OffsetDateTime;

use linkledger_core::conversion::{Fact, LineItem, Refund, Refunded, Sale};
use linkledger_core::creator::email_hash;
use linkledger_core::limits;
use linkledger_core::money::{Currency, Money};

use crate::fields::{bounded, net_of, sum, BadField, Fields};
use crate::{header, Normalized};

pub fn normalize(
    headers: &HeaderMap,
    json: &Value,
    click_param: &str,
    now: OffsetDateTime,
) -> Result<Normalized, BadField> {
    let topic = header(headers, "x-shopify-topic")?;
    let delivery = header(headers, "x-shopify-webhook-id")?;
    let f = Fields::root(json, now);
    let fact = match topic.as_str() {
        "orders/paid" => Fact::Sale(sale(&f, click_param)?),
        "refunds/create" => match refund(&f)? {
            Some(refund) => Fact::Refund(refund),
            None => return Ok(Normalized::Ignored(format!("{topic} (no refunded items)"))),
        },
        _ => return Ok(Normalized::Ignored(topic)),
    };
    Ok(Normalized::Facts(vec![(delivery, fact)]))
}

/// A non-negative `*_set.shop_money.amount`.
fn shop_money(f: &Fields<'_>, path: &str, currency: Currency) -> Result<Money, BadField> {
    f.amount(&format!("{path}.shop_money.amount"), currency)
}

/// The click id: the cart attribute the storefront script set (copied to `note_attributes`),
/// else the `landing_site` query. Both are the shopper's text: a value that is not an id is
/// no click ([`Fields::opt_hint`]).
fn click_id(f: &Fields<'_>, param: &str) -> Result<Option<String>, BadField> {
    for attribute in f.searched_array("note_attributes")? {
        if attribute.opt_str("name")? == Some(param) {
            if let Some(value) = attribute.opt_hint("value", false)? {
                return Ok(Some(value));
            }
        }
    }
    let Some(landing) = f.opt_str("landing_site")? else {
        return Ok(None);
    };
    // `landing_site` is a path and query relative to the shop.
    let base = url::Url::parse("https://shop.invalid/")
        .map_err(|e| BadField::new("landing_site", e.to_string()))?;
    Ok(base.join(landing).ok().and_then(|url| {
        url.query_pairs()
            .find(|(k, _)| k == param)
            .map(|(_, v)| v.into_owned())
            .filter(|v| limits::check_id(v).is_ok())
    }))
}

fn sale(f: &Fields<'_>, click_param: &str) -> Result<Sale, BadField> {
    let currency = f.currency("currency")?;
    // "The price of the order in the shop currency after discounts but before shipping, duties,
    // taxes, and tips" (Order resource, `subtotal_price`).
    let mut net = match f.opt("subtotal_price_set") {
        Some(_) => shop_money(f, "subtotal_price_set", currency)?,
        None => f.amount("subtotal_price", currency)?,
    };
    let items = f.array("line_items")?;
    let mut lines = Vec::new();
    let mut included_tax = Vec::new();
    for item in &items {
        let quantity = item.quantity("quantity")?;
        let price = shop_money(item, "price_set", currency)?;
        let discounts = sum(
            item.array("discount_allocations")?
                .iter()
                .map(|d| shop_money(d, "amount_set", currency)),
            currency,
            &item.full("discount_allocations"),
        )?;
        let gross = price
            .times_fraction(i64::from(quantity), 1)
            .map_err(|e| BadField::new(&item.full("quantity"), e.to_string()))
            .and_then(|gross| bounded(&item.full("quantity"), gross))?;
        let line_net = net_of(&item.full("discount_allocations"), gross, discounts)?;
        for tax in item.array("tax_lines")? {
            included_tax.push(shop_money(&tax, "price_set", currency));
        }
        lines.push(LineItem {
            sku: match item.opt_str("sku")? {
                // Shopify sends `""` for a variant without a SKU.
                Some("") | None => None,
                Some(_) => item.product_key("sku")?,
            },
            product_id: item.opt_id("product_id")?,
            quantity,
            net: line_net,
        });
    }
    // With `taxes_included` (VAT-style shops) the subtotal contains the line taxes: take them out.
    if f.opt("taxes_included") == Some(&Value::Bool(true)) {
        let tax = sum(included_tax, currency, "line_items[].tax_lines")?;
        net = net_of("subtotal_price", net, tax)?;
    }
    let occurred_at = match f.opt("processed_at") {
        Some(_) => f.rfc3339("processed_at")?,
        None => f.rfc3339("created_at")?,
    };
    let email = match f.opt_text("email")? {
        Some(email) => Some(email),
        None => f.opt_text("contact_email")?,
    };
    let mut coupons = Vec::new();
    for discount in f.array("discount_codes")? {
        coupons.extend(discount.opt_hint("code", true)?);
    }
    Ok(Sale {
        order_id: f.id("id")?,
        aliases: Vec::new(),
        occurred_at,
        net,
        refund_basis: net,
        click_id: click_id(f, click_param)?,
        coupons,
        customer_email_hash: email.map(email_hash),
        customer_ref: None,
        lines,
        renewal: false,
    })
}

/// The refunded merchandise: the refund lines' subtotals (after discounts, without tax). A refund
/// without lines (an amount-only goodwill refund, or shipping alone) returns no merchandise and
/// is ignored, as the ARCHITECTURE notes explain.
fn refund(f: &Fields<'_>) -> Result<Option<Refund>, BadField> {
    let lines = f.array("refund_line_items")?;
    let Some(first) = lines.first() else {
        return Ok(None);
    };
    let currency = first.currency("subtotal_set.shop_money.currency_code")?;
    let amount = sum(
        lines
            .iter()
            .map(|l| shop_money(l, "subtotal_set", currency)),
        currency,
        "refund_line_items",
    )?;
    Ok(Some(Refund {
        order_refs: vec![f.id("order_id")?],
        occurred_at: f.rfc3339("created_at")?,
        refunded: Refunded::Increment {
            refund_id: f.id("id")?,
            amount,
        },
    }))
}
