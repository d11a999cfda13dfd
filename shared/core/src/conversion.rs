//! Conversions: what the stores tell us (a normalized [`ConversionEvent`] on the queue) and what
//! we booked from it (a [`Conversion`], one per program and order).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::fx::AppliedRate;
use crate::ids::{CreatorId, ProgramId};
use crate::limits;
use crate::money::Money;

/// Where an event came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Shopify,
    Stripe,
    Woocommerce,
    Postback,
}

impl Platform {
    pub const ALL: [Platform; 4] = [
        Platform::Shopify,
        Platform::Stripe,
        Platform::Woocommerce,
        Platform::Postback,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Platform::Shopify => "shopify",
            Platform::Stripe => "stripe",
            Platform::Woocommerce => "woocommerce",
            Platform::Postback => "postback",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

/// One line of an order, for per-product commission.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    /// SKU, when the store has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    pub quantity: u32,
    /// The line's amount after discounts, before tax.
    pub net: Money,
}

/// A sale as the store reports it, normalized.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sale {
    /// The business key: the store's order (or checkout, or invoice) id.
    pub order_id: String,
    /// Other ids a refund of this sale may cite (Stripe: the payment intent, the invoice).
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// Subtotal after discounts, without tax, shipping and tips: what commission is a share of.
    pub net: Money,
    /// The amount the platform's refund figures are measured against (Stripe and WooCommerce
    /// report refunds of the whole charge, tax and shipping included; Shopify of the lines).
    pub refund_basis: Money,
    #[serde(default)]
    pub click_id: Option<String>,
    #[serde(default)]
    pub coupons: Vec<String>,
    /// SHA-256 of the trimmed, lower-cased e-mail ([`crate::creator::email_hash`]); the raw
    /// address never enters the queue.
    #[serde(default)]
    pub customer_email_hash: Option<String>,
    /// The platform's customer id (Stripe), remembered for recurring commission.
    #[serde(default)]
    pub customer_ref: Option<String>,
    #[serde(default)]
    pub lines: Vec<LineItem>,
    /// A renewal (Stripe `invoice.paid` of a subscription cycle): attributed through the
    /// customer's first sale, within the program's recurring months.
    #[serde(default)]
    pub renewal: bool,
}

/// A lead (sign-up, form) from a postback: earns the plan's fixed lead commission.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lead {
    pub order_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    #[serde(default)]
    pub click_id: Option<String>,
    #[serde(default)]
    pub coupons: Vec<String>,
    #[serde(default)]
    pub customer_email_hash: Option<String>,
}

/// How a platform reports refunds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refunded {
    /// Everything refunded on the order so far (Stripe `amount_refunded`, WooCommerce's
    /// `refunds`, our postback): a repeat or an older figure changes nothing.
    Cumulative(Money),
    /// One refund of its own id (Shopify `refunds/create`): each id counts once.
    Increment { refund_id: String, amount: Money },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// Ids that may name the sale: the order id first, then aliases (a charge's payment intent).
    pub order_refs: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    pub refunded: Refunded,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Fact {
    Sale(Sale),
    Lead(Lead),
    Refund(Refund),
}

impl Fact {
    /// The order the fact is about (a refund's first reference, the order id): what the traces
    /// of a delivery and of a queue message name.
    pub fn order_ref(&self) -> &str {
        match self {
            Fact::Sale(sale) => &sale.order_id,
            Fact::Lead(lead) => &lead.order_id,
            Fact::Refund(refund) => refund.order_refs.first().map_or("", String::as_str),
        }
    }
}

/// What the webhooks function puts on the conversions queue: verified, normalized, no secrets,
/// no raw e-mail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversionEvent {
    pub program_id: ProgramId,
    pub platform: Platform,
    /// The platform's delivery (or event) id: the same delivery is booked once.
    pub delivery_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    pub fact: Fact,
}

/// The longest delivery key of an event (a platform's delivery id, or one composed of it, the
/// order id and the fact, as WooCommerce's is).
pub const MAX_DELIVERY_ID_LEN: usize = 3 * limits::MAX_ID_LEN;

impl ConversionEvent {
    /// Whether every value lies inside the domain's bounds ([`crate::limits`]); the error names
    /// the field. The webhooks function checks each field as it normalizes; the worker checks
    /// again, so a message that bypassed the edge is parked as poison instead of booked (or
    /// panicking on a time out of range).
    pub fn check_bounds(&self, now: OffsetDateTime) -> Result<(), String> {
        let field = |name: &str, e: limits::LimitError| format!("{name}: {e}");
        let received_at =
            limits::check_timestamp(self.received_at, now).map_err(|e| field("received_at", e))?;
        let occurred = |at: OffsetDateTime| {
            limits::check_timestamp(at, received_at).map_err(|e| field("occurred_at", e))
        };
        if self.delivery_id.is_empty()
            || self.delivery_id.len() > MAX_DELIVERY_ID_LEN
            || !self.delivery_id.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(format!(
                "delivery_id: must be 1 to {MAX_DELIVERY_ID_LEN} visible ASCII characters"
            ));
        }
        let id = |name: &str, text: &str| {
            limits::check_id(text)
                .map(|_| ())
                .map_err(|e| field(name, e))
        };
        let ids = |name: &str, list: &[String]| {
            limits::check_list_len(list.len()).map_err(|e| field(name, e))?;
            list.iter().try_for_each(|text| id(name, text))
        };
        let coupons = |list: &[String]| {
            limits::check_list_len(list.len()).map_err(|e| field("coupons", e))?;
            list.iter().try_for_each(|code| {
                limits::check_code(code)
                    .map(|_| ())
                    .map_err(|e| field("coupons", e))
            })
        };
        let amount = |name: &str, money: &Money| {
            limits::check_non_negative_amount(money.minor())
                .map(|_| ())
                .map_err(|e| field(name, e))
        };
        let optional = |name: &str, text: &Option<String>| match text {
            Some(text) => id(name, text),
            None => Ok(()),
        };
        match &self.fact {
            Fact::Sale(sale) => {
                occurred(sale.occurred_at)?;
                id("order_id", &sale.order_id)?;
                ids("aliases", &sale.aliases)?;
                amount("net", &sale.net)?;
                amount("refund_basis", &sale.refund_basis)?;
                optional("click_id", &sale.click_id)?;
                coupons(&sale.coupons)?;
                optional("customer_email_hash", &sale.customer_email_hash)?;
                optional("customer_ref", &sale.customer_ref)?;
                limits::check_list_len(sale.lines.len()).map_err(|e| field("lines", e))?;
                for line in &sale.lines {
                    amount("lines.net", &line.net)?;
                    for (name, key) in [
                        ("lines.sku", &line.sku),
                        ("lines.product_id", &line.product_id),
                    ] {
                        if let Some(key) = key {
                            limits::check_product_key(key).map_err(|e| field(name, e))?;
                        }
                    }
                }
            }
            Fact::Lead(lead) => {
                occurred(lead.occurred_at)?;
                id("order_id", &lead.order_id)?;
                optional("click_id", &lead.click_id)?;
                coupons(&lead.coupons)?;
                optional("customer_email_hash", &lead.customer_email_hash)?;
            }
            Fact::Refund(refund) => {
                occurred(refund.occurred_at)?;
                if refund.order_refs.is_empty() {
                    return Err("order_refs: must name the order".into());
                }
                ids("order_refs", &refund.order_refs)?;
                match &refund.refunded {
                    Refunded::Cumulative(total) => amount("refunded", total)?,
                    Refunded::Increment {
                        refund_id,
                        amount: money,
                    } => {
                        id("refund_id", refund_id)?;
                        amount("refunded", money)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// A conversion's id: derived from its program and order, so the same order always maps to the
/// same record (the business-key dedupe is a key rule).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConversionId(String);

impl ConversionId {
    pub fn for_order(program: &ProgramId, order_key: &str) -> Self {
        let digest = Sha256::digest(format!("{program}\0{order_key}").as_bytes());
        Self(format!("cnv_{}", &hex::encode(digest)[..32]))
    }

    pub fn parse(text: &str) -> Option<Self> {
        let valid = text.strip_prefix("cnv_").is_some_and(|rest| {
            rest.len() == 32
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        });
        valid.then(|| Self(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ConversionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Debug for ConversionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversionKind {
    Sale,
    Renewal,
    Lead,
}

/// Approved conversions have booked their commission; held ones wait for an admin; rejected and
/// unattributed ones never pay (unattributed still count for the brand's totals).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversionStatus {
    Approved,
    Held,
    Rejected,
    Unattributed,
}

impl ConversionStatus {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "approved" => Some(Self::Approved),
            "held" => Some(Self::Held),
            "rejected" => Some(Self::Rejected),
            "unattributed" => Some(Self::Unattributed),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldReason {
    /// The order's e-mail hash equals the creator's.
    SelfReferral,
    /// The click id was already carried by the program's maximum number of orders.
    ClickReused,
    /// The order came less than [`crate::attribution::MIN_SECONDS_AFTER_CLICK`] after its click.
    TooFastAfterClick,
    /// The order's currency is not the program's and the program has no rate for it.
    FxRateMissing,
    /// Converted to the program's currency, or priced by the plan, an amount would pass the
    /// domain's limit of 10^13 minor units.
    AmountOutOfRange,
}

/// How the conversion found its creator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "by")]
pub enum Attribution {
    Click {
        click_id: String,
    },
    Coupon {
        code: String,
    },
    /// A renewal of a customer whose first sale was attributed.
    Customer {
        customer_ref: String,
    },
    None,
}

/// A booked conversion (one per program and order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversion {
    pub id: ConversionId,
    pub program_id: ProgramId,
    pub platform: Platform,
    pub kind: ConversionKind,
    pub order_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub booked_at: OffsetDateTime,
    /// In the order's currency.
    pub net: Money,
    pub refund_basis: Money,
    /// Refunded so far, in the refund basis's terms.
    pub refunded: Money,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refund_ids: Vec<String>,
    /// The net in the program currency (equal to `net` when the currencies agree).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program_net: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fx: Option<AppliedRate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator_id: Option<CreatorId>,
    pub attribution: Attribution,
    pub status: ConversionStatus,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hold_reasons: Vec<HoldReason>,
    /// What the conversion earns, in the program currency (zero when nothing).
    pub commission: Money,
    /// Reversed so far by refunds, in the program currency.
    pub reversed: Money,
    /// When the accrual becomes payable (occurred + the program's holding days).
    #[serde(with = "time::serde::rfc3339")]
    pub available_at: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coupons: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<LineItem>,
}
