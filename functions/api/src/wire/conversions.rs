//! Conversions as the API shows them.

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use linkledger_core::conversion::{self, ConversionId};
use linkledger_core::ids::{CreatorId, ProgramId};
use linkledger_core::money::Money;

use super::ledger::AppliedRate;
use super::values;

/// Where an event came from.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Shopify,
    Stripe,
    Woocommerce,
    Postback,
}

impl From<conversion::Platform> for Platform {
    fn from(platform: conversion::Platform) -> Self {
        match platform {
            conversion::Platform::Shopify => Self::Shopify,
            conversion::Platform::Stripe => Self::Stripe,
            conversion::Platform::Woocommerce => Self::Woocommerce,
            conversion::Platform::Postback => Self::Postback,
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConversionKind {
    Sale,
    Renewal,
    Lead,
}

impl From<conversion::ConversionKind> for ConversionKind {
    fn from(kind: conversion::ConversionKind) -> Self {
        match kind {
            conversion::ConversionKind::Sale => Self::Sale,
            conversion::ConversionKind::Renewal => Self::Renewal,
            conversion::ConversionKind::Lead => Self::Lead,
        }
    }
}

/// Approved conversions have booked their commission; held ones wait for an admin; rejected and
/// unattributed ones never pay (unattributed still count for the brand's totals).
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConversionStatus {
    Approved,
    Held,
    Rejected,
    Unattributed,
}

impl From<conversion::ConversionStatus> for ConversionStatus {
    fn from(status: conversion::ConversionStatus) -> Self {
        match status {
            conversion::ConversionStatus::Approved => Self::Approved,
            conversion::ConversionStatus::Held => Self::Held,
            conversion::ConversionStatus::Rejected => Self::Rejected,
            conversion::ConversionStatus::Unattributed => Self::Unattributed,
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
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

impl From<conversion::HoldReason> for HoldReason {
    fn from(reason: conversion::HoldReason) -> Self {
        match reason {
            conversion::HoldReason::SelfReferral => Self::SelfReferral,
            conversion::HoldReason::ClickReused => Self::ClickReused,
            conversion::HoldReason::TooFastAfterClick => Self::TooFastAfterClick,
            conversion::HoldReason::FxRateMissing => Self::FxRateMissing,
            conversion::HoldReason::AmountOutOfRange => Self::AmountOutOfRange,
        }
    }
}

/// How the conversion found its creator.
#[derive(Clone, Debug, Serialize, ToSchema)]
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

impl From<&conversion::Attribution> for Attribution {
    fn from(attribution: &conversion::Attribution) -> Self {
        match attribution {
            conversion::Attribution::Click { click_id } => Self::Click {
                click_id: click_id.clone(),
            },
            conversion::Attribution::Coupon { code } => Self::Coupon { code: code.clone() },
            conversion::Attribution::Customer { customer_ref } => Self::Customer {
                customer_ref: customer_ref.clone(),
            },
            conversion::Attribution::None => Self::None,
        }
    }
}

/// One line of an order, for per-product commission.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LineItem {
    /// SKU, when the store has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    pub quantity: u32,
    /// The line's amount after discounts, before tax.
    #[schema(value_type = values::Money)]
    pub net: Money,
}

impl From<&conversion::LineItem> for LineItem {
    fn from(line: &conversion::LineItem) -> Self {
        Self {
            sku: line.sku.clone(),
            product_id: line.product_id.clone(),
            quantity: line.quantity,
            net: line.net,
        }
    }
}

/// A booked conversion (one per program and order).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Conversion {
    #[schema(value_type = values::ConversionId)]
    pub id: ConversionId,
    #[schema(value_type = values::ProgramId)]
    pub program_id: ProgramId,
    pub platform: Platform,
    pub kind: ConversionKind,
    pub order_id: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub booked_at: OffsetDateTime,
    /// In the order's currency.
    #[schema(value_type = values::Money)]
    pub net: Money,
    #[schema(value_type = values::Money)]
    pub refund_basis: Money,
    /// Refunded so far, in the refund basis's terms.
    #[schema(value_type = values::Money)]
    pub refunded: Money,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refund_ids: Vec<String>,
    /// The net in the program currency (equal to `net` when the currencies agree).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<values::Money>)]
    pub program_net: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fx: Option<AppliedRate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<values::CreatorId>)]
    pub creator_id: Option<CreatorId>,
    pub attribution: Attribution,
    pub status: ConversionStatus,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hold_reasons: Vec<HoldReason>,
    /// What the conversion earns, in the program currency (zero when nothing).
    #[schema(value_type = values::Money)]
    pub commission: Money,
    /// Reversed so far by refunds, in the program currency.
    #[schema(value_type = values::Money)]
    pub reversed: Money,
    /// When the accrual becomes payable (occurred + the program's holding days).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub available_at: OffsetDateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_ref: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub coupons: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<LineItem>,
}

impl From<&conversion::Conversion> for Conversion {
    fn from(c: &conversion::Conversion) -> Self {
        Self {
            id: c.id.clone(),
            program_id: c.program_id.clone(),
            platform: c.platform.into(),
            kind: c.kind.into(),
            order_id: c.order_id.clone(),
            occurred_at: c.occurred_at,
            booked_at: c.booked_at,
            net: c.net,
            refund_basis: c.refund_basis,
            refunded: c.refunded,
            refund_ids: c.refund_ids.clone(),
            program_net: c.program_net,
            fx: c.fx.as_ref().map(AppliedRate::from),
            creator_id: c.creator_id.clone(),
            attribution: (&c.attribution).into(),
            status: c.status.into(),
            hold_reasons: c.hold_reasons.iter().copied().map(Into::into).collect(),
            commission: c.commission,
            reversed: c.reversed,
            available_at: c.available_at,
            customer_ref: c.customer_ref.clone(),
            coupons: c.coupons.clone(),
            lines: c.lines.iter().map(Into::into).collect(),
        }
    }
}
