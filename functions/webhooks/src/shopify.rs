//! Shopify: `orders/paid` books a sale, `refunds/create` a refund.
//!
//! Payloads follow the REST Admin API Order and Refund resources
//! (<https://shopify.dev/docs/api/admin-rest/latest/resources/order>,
//! <https://shopify.dev/docs/api/admin-rest/latest/resources/refund>); fixtures and field notes in
//! `tests/fixtures/webhooks/NOTES.md`. Amounts are read in the **shop** currency (`shop_money`),
//! never the presentment currency the shopper saw. Signed `X-Shopify-Hmac-Sha256`: the base64
//! HMAC-SHA256 of the body with the app's secret.

use axum::http::HeaderMap;
use serde::Deserialize;
use time::OffsetDateTime;

use linkledger_core::conversion::{self, Fact, LineItem, Refund, Refunded, Sale};
use linkledger_core::creator::email_hash;
use linkledger_core::limits;
use linkledger_core::money::{Currency, Money};
use linkledger_core::signature::{verify_body_base64, SignatureError};

use crate::fields::{bounded, net_of, sum, At, BadField, Leaf, List, Node, Searched, ROOT};
use crate::json::Strict;
use crate::{header, signature_header, Normalized, Platform};

pub struct Shopify;

impl Platform for Shopify {
    fn kind(&self) -> conversion::Platform {
        conversion::Platform::Shopify
    }

    fn verify(
        &self,
        secret: &[u8],
        headers: &HeaderMap,
        body: &[u8],
        _now: OffsetDateTime,
    ) -> Result<(), SignatureError> {
        verify_body_base64(
            secret,
            body,
            signature_header(headers, "x-shopify-hmac-sha256"),
        )
    }

    fn normalize(
        &self,
        headers: &HeaderMap,
        body: Strict<'_>,
        click_param: &str,
        now: OffsetDateTime,
    ) -> Result<Normalized, BadField> {
        let topic = header(headers, "x-shopify-topic")?;
        let delivery = header(headers, "x-shopify-webhook-id")?;
        let fact = match topic.as_str() {
            "orders/paid" => Fact::Sale(sale(&body.parse()?, click_param, now)?),
            "refunds/create" => match refund(&body.parse()?, now)? {
                Some(refund) => Fact::Refund(refund),
                None => return Ok(Normalized::Ignored(format!("{topic} (no refunded items)"))),
            },
            _ => return Ok(Normalized::Ignored(topic)),
        };
        Ok(Normalized::Facts(vec![(delivery, fact)]))
    }
}

/// The fields of an Order that we read.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Order<'a> {
    #[serde(borrow)]
    id: Leaf<'a>,
    #[serde(borrow)]
    currency: Leaf<'a>,
    #[serde(borrow)]
    subtotal_price: Leaf<'a>,
    #[serde(borrow)]
    subtotal_price_set: Node<MoneySet<'a>>,
    #[serde(borrow)]
    line_items: List<OrderLine<'a>>,
    #[serde(borrow)]
    taxes_included: Leaf<'a>,
    #[serde(borrow)]
    processed_at: Leaf<'a>,
    #[serde(borrow)]
    created_at: Leaf<'a>,
    #[serde(borrow)]
    email: Leaf<'a>,
    #[serde(borrow)]
    contact_email: Leaf<'a>,
    #[serde(borrow)]
    discount_codes: List<DiscountCode<'a>>,
    #[serde(borrow)]
    note_attributes: Searched<NoteAttribute<'a>>,
    #[serde(borrow)]
    landing_site: Leaf<'a>,
}

/// A `*_set`: the amount in the shop's and the shopper's currencies.
#[derive(Default, Deserialize)]
#[serde(default)]
struct MoneySet<'a> {
    #[serde(borrow)]
    shop_money: Node<ShopMoney<'a>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct ShopMoney<'a> {
    #[serde(borrow)]
    amount: Leaf<'a>,
    #[serde(borrow)]
    currency_code: Leaf<'a>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct OrderLine<'a> {
    #[serde(borrow)]
    quantity: Leaf<'a>,
    #[serde(borrow)]
    price_set: Node<MoneySet<'a>>,
    #[serde(borrow)]
    discount_allocations: List<DiscountAllocation<'a>>,
    #[serde(borrow)]
    tax_lines: List<TaxLine<'a>>,
    #[serde(borrow)]
    sku: Leaf<'a>,
    #[serde(borrow)]
    product_id: Leaf<'a>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct DiscountAllocation<'a> {
    #[serde(borrow)]
    amount_set: Node<MoneySet<'a>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct TaxLine<'a> {
    #[serde(borrow)]
    price_set: Node<MoneySet<'a>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct DiscountCode<'a> {
    #[serde(borrow)]
    code: Leaf<'a>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct NoteAttribute<'a> {
    #[serde(borrow)]
    name: Leaf<'a>,
    #[serde(borrow)]
    value: Leaf<'a>,
}

/// The fields of a Refund that we read.
#[derive(Default, Deserialize)]
#[serde(default)]
struct RefundBody<'a> {
    #[serde(borrow)]
    id: Leaf<'a>,
    #[serde(borrow)]
    order_id: Leaf<'a>,
    #[serde(borrow)]
    created_at: Leaf<'a>,
    #[serde(borrow)]
    refund_line_items: List<RefundLine<'a>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct RefundLine<'a> {
    #[serde(borrow)]
    subtotal_set: Node<MoneySet<'a>>,
}

/// A non-negative `*_set.shop_money.amount`; `at` is the set's path.
fn shop_money(set: &MoneySet<'_>, at: &At<'_>, currency: Currency) -> Result<Money, BadField> {
    set.shop_money
        .amount
        .amount(&at.key("shop_money.amount"), currency)
}

/// The click id: the cart attribute the storefront script set (copied to `note_attributes`),
/// else the `landing_site` query. Both are the shopper's text: a value that is not an id is
/// no click ([`Leaf::opt_hint`]).
fn click_id(order: &Order<'_>, param: &str) -> Result<Option<String>, BadField> {
    let attributes_at = ROOT.key("note_attributes");
    for (i, attribute) in order
        .note_attributes
        .items(&attributes_at)?
        .iter()
        .enumerate()
    {
        let at = attributes_at.index(i);
        if attribute.name.opt_str(&at.key("name"))? == Some(param) {
            if let Some(value) = attribute.value.opt_hint(&at.key("value"), false)? {
                return Ok(Some(value));
            }
        }
    }
    let Some(landing) = order.landing_site.opt_str(&ROOT.key("landing_site"))? else {
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

fn sale(order: &Order<'_>, click_param: &str, now: OffsetDateTime) -> Result<Sale, BadField> {
    let currency = order.currency.currency(&ROOT.key("currency"))?;
    // "The price of the order in the shop currency after discounts but before shipping, duties,
    // taxes, and tips" (Order resource, `subtotal_price`).
    let mut net = if order.subtotal_price_set.is_present() {
        shop_money(
            &order.subtotal_price_set,
            &ROOT.key("subtotal_price_set"),
            currency,
        )?
    } else {
        order
            .subtotal_price
            .amount(&ROOT.key("subtotal_price"), currency)?
    };
    let items_at = ROOT.key("line_items");
    let mut lines = Vec::new();
    let mut included_tax = Vec::new();
    for (i, item) in order.line_items.items(&items_at)?.iter().enumerate() {
        let at = items_at.index(i);
        let quantity = item.quantity.quantity(&at.key("quantity"))?;
        let price = shop_money(&item.price_set, &at.key("price_set"), currency)?;
        let discounts_at = at.key("discount_allocations");
        let discounts = sum(
            item.discount_allocations
                .items(&discounts_at)?
                .iter()
                .enumerate()
                .map(|(j, d)| {
                    shop_money(
                        &d.amount_set,
                        &discounts_at.index(j).key("amount_set"),
                        currency,
                    )
                }),
            currency,
            &discounts_at.render(),
        )?;
        let quantity_path = || at.key("quantity").render();
        let gross = price
            .times_fraction(i64::from(quantity), 1)
            .map_err(|e| BadField::new(&quantity_path(), e.to_string()))
            .and_then(|gross| bounded(&quantity_path(), gross))?;
        let line_net = net_of(&discounts_at.render(), gross, discounts)?;
        let taxes_at = at.key("tax_lines");
        for (j, tax) in item.tax_lines.items(&taxes_at)?.iter().enumerate() {
            included_tax.push(shop_money(
                &tax.price_set,
                &taxes_at.index(j).key("price_set"),
                currency,
            ));
        }
        lines.push(LineItem {
            sku: item.sku.sku(&at.key("sku"))?,
            product_id: item.product_id.opt_id(&at.key("product_id"))?,
            quantity,
            net: line_net,
        });
    }
    // With `taxes_included` (VAT-style shops) the subtotal contains the line taxes: take them out.
    if order.taxes_included == Leaf::Bool(true) {
        let tax = sum(included_tax, currency, "line_items[].tax_lines")?;
        net = net_of("subtotal_price", net, tax)?;
    }
    let occurred_at = if order.processed_at.is_present() {
        order.processed_at.rfc3339(&ROOT.key("processed_at"), now)?
    } else {
        order.created_at.rfc3339(&ROOT.key("created_at"), now)?
    };
    let email = match order.email.opt_text(&ROOT.key("email"))? {
        Some(email) => Some(email),
        None => order.contact_email.opt_text(&ROOT.key("contact_email"))?,
    };
    let codes_at = ROOT.key("discount_codes");
    let mut coupons = Vec::new();
    for (i, discount) in order.discount_codes.items(&codes_at)?.iter().enumerate() {
        coupons.extend(
            discount
                .code
                .opt_hint(&codes_at.index(i).key("code"), true)?,
        );
    }
    Ok(Sale {
        order_id: order.id.id(&ROOT.key("id"))?,
        aliases: Vec::new(),
        occurred_at,
        net,
        refund_basis: net,
        click_id: click_id(order, click_param)?,
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
fn refund(body: &RefundBody<'_>, now: OffsetDateTime) -> Result<Option<Refund>, BadField> {
    let lines_at = ROOT.key("refund_line_items");
    let lines = body.refund_line_items.items(&lines_at)?;
    let Some(first) = lines.first() else {
        return Ok(None);
    };
    let currency = first.subtotal_set.shop_money.currency_code.currency(
        &lines_at
            .index(0)
            .key("subtotal_set.shop_money.currency_code"),
    )?;
    let amount = sum(
        lines.iter().enumerate().map(|(i, l)| {
            shop_money(
                &l.subtotal_set,
                &lines_at.index(i).key("subtotal_set"),
                currency,
            )
        }),
        currency,
        "refund_line_items",
    )?;
    Ok(Some(Refund {
        order_refs: vec![body.order_id.id(&ROOT.key("order_id"))?],
        occurred_at: body.created_at.rfc3339(&ROOT.key("created_at"), now)?,
        refunded: Refunded::Increment {
            refund_id: body.id.id(&ROOT.key("id"))?,
            amount,
        },
    }))
}
