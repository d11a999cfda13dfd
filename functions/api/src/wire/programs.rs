//! Programs, their commission plans and enrolments, as the API reads and shows them; a
//! creator's view of a program; promo codes, webhook secrets and exchange rates.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use linkledger_core::commission::creator_rate;
use linkledger_core::conversion::Platform as DomainPlatform;
use linkledger_core::creator;
use linkledger_core::destination::{Destination, Domain};
use linkledger_core::fx::Rate;
use linkledger_core::ids::{CreatorId, ProgramId};
use linkledger_core::link;
use linkledger_core::money::{Currency, Money};
use linkledger_core::program;

use super::conversions::Platform;
use super::values;

/// What a sale earns: a share of the net amount, or a fixed amount.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SaleCommission {
    /// Basis points of the order's net amount (1000 = 10 %).
    RateBps(values::BasisPointsValue),
    Fixed(values::MoneyValue),
}

impl From<&program::SaleCommission> for SaleCommission {
    fn from(rate: &program::SaleCommission) -> Self {
        match rate {
            program::SaleCommission::RateBps(bps) => Self::RateBps(values::BasisPointsValue(*bps)),
            program::SaleCommission::Fixed(money) => Self::Fixed(values::MoneyValue(*money)),
        }
    }
}

impl From<SaleCommission> for program::SaleCommission {
    fn from(rate: SaleCommission) -> Self {
        match rate {
            SaleCommission::RateBps(bps) => Self::RateBps(bps.0),
            SaleCommission::Fixed(money) => Self::Fixed(money.0),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClickCommission {
    /// Paid per unique, non-bot click.
    #[schema(value_type = values::Money)]
    pub amount: Money,
    /// Most paid clicks per creator per UTC day.
    pub daily_cap: u32,
}

impl From<&program::ClickCommission> for ClickCommission {
    fn from(click: &program::ClickCommission) -> Self {
        Self {
            amount: click.amount,
            daily_cap: click.daily_cap,
        }
    }
}

impl From<ClickCommission> for program::ClickCommission {
    fn from(click: ClickCommission) -> Self {
        Self {
            amount: click.amount,
            daily_cap: click.daily_cap,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommissionPlan {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sale: Option<SaleCommission>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<values::Money>)]
    pub lead: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub click: Option<ClickCommission>,
    /// Per-creator sale commission, winning over `sale` (an enrolment's rate override too).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = BTreeMap<String, SaleCommission>)]
    pub creator_overrides: BTreeMap<CreatorId, SaleCommission>,
    /// Per-product (SKU or product id) sale commission, winning over creator and program rates.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub product_overrides: BTreeMap<String, SaleCommission>,
    /// Months after the first sale during which a customer's renewals still earn (0 = none).
    #[serde(default)]
    pub recurring_months: u16,
}

impl From<&program::CommissionPlan> for CommissionPlan {
    fn from(plan: &program::CommissionPlan) -> Self {
        Self {
            sale: plan.sale.as_ref().map(Into::into),
            lead: plan.lead,
            click: plan.click.as_ref().map(Into::into),
            creator_overrides: plan
                .creator_overrides
                .iter()
                .map(|(creator, rate)| (creator.clone(), rate.into()))
                .collect(),
            product_overrides: plan
                .product_overrides
                .iter()
                .map(|(product, rate)| (product.clone(), rate.into()))
                .collect(),
            recurring_months: plan.recurring_months,
        }
    }
}

impl From<CommissionPlan> for program::CommissionPlan {
    fn from(plan: CommissionPlan) -> Self {
        Self {
            sale: plan.sale.map(Into::into),
            lead: plan.lead,
            click: plan.click.map(Into::into),
            creator_overrides: plan
                .creator_overrides
                .into_iter()
                .map(|(creator, rate)| (creator, rate.into()))
                .collect(),
            product_overrides: plan
                .product_overrides
                .into_iter()
                .map(|(product, rate)| (product, rate.into()))
                .collect(),
            recurring_months: plan.recurring_months,
        }
    }
}

/// When an order carries both a click and a promo code of different creators, who wins.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Precedence {
    Click,
    Coupon,
}

impl From<program::Precedence> for Precedence {
    fn from(precedence: program::Precedence) -> Self {
        match precedence {
            program::Precedence::Click => Self::Click,
            program::Precedence::Coupon => Self::Coupon,
        }
    }
}

impl From<Precedence> for program::Precedence {
    fn from(precedence: Precedence) -> Self {
        match precedence {
            Precedence::Click => Self::Click,
            Precedence::Coupon => Self::Coupon,
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Program {
    #[schema(value_type = values::ProgramId)]
    pub id: ProgramId,
    pub name: String,
    #[schema(value_type = values::Currency)]
    pub currency: Currency,
    #[schema(value_type = Vec<values::Domain>)]
    pub allowed_domains: Vec<Domain>,
    pub click_param: String,
    pub attribution_window_days: u16,
    pub holding_days: u16,
    #[schema(value_type = values::Money)]
    pub min_payout: Money,
    pub precedence: Precedence,
    pub plan: CommissionPlan,
    /// Where a disabled or expired link sends shoppers instead of a 410 (on an allowed domain).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<values::Destination>)]
    pub fallback_url: Option<Destination>,
    /// Orders one click id may carry; the next one is held as `click_reused`.
    #[schema(required = false)]
    pub max_orders_per_click: u32,
    /// Rates into the program currency for orders in other currencies (set with
    /// `PUT /api/programs/{id}/fx-rates`); an order in a currency without a rate is held.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = BTreeMap<String, String>, required = false)]
    pub fx_rates: BTreeMap<Currency, Rate>,
    /// The zone whose days the stats count in (IANA name).
    #[schema(example = "Europe/Berlin")]
    pub time_zone: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

impl From<&program::Program> for Program {
    fn from(p: &program::Program) -> Self {
        Self {
            id: p.id.clone(),
            name: p.name.clone(),
            currency: p.currency,
            allowed_domains: p.allowed_domains.clone(),
            click_param: p.click_param.clone(),
            attribution_window_days: p.attribution_window_days,
            holding_days: p.holding_days,
            min_payout: p.min_payout,
            precedence: p.precedence.into(),
            plan: (&p.plan).into(),
            fallback_url: p.fallback_url.clone(),
            max_orders_per_click: p.max_orders_per_click,
            fx_rates: p.fx_rates.clone(),
            time_zone: p.time_zone.name().to_string(),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// The fields a brand sets when creating a program; omitted ones take the documented defaults.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProgram {
    pub name: String,
    #[schema(value_type = values::Currency)]
    pub currency: Currency,
    #[schema(value_type = Vec<values::Domain>)]
    pub allowed_domains: Vec<Domain>,
    /// Query parameter carrying the click id to the store (default `ll_click`).
    pub click_param: Option<String>,
    /// Default 30.
    pub attribution_window_days: Option<u16>,
    /// Default 30.
    pub holding_days: Option<u16>,
    /// Default zero.
    #[schema(value_type = Option<values::Money>)]
    pub min_payout: Option<Money>,
    pub precedence: Option<Precedence>,
    pub plan: Option<CommissionPlan>,
    /// Where disabled or expired links redirect instead of answering 410.
    pub fallback_url: Option<String>,
    /// Default 3.
    pub max_orders_per_click: Option<u32>,
    /// The zone whose days the stats count in: an IANA name, default `UTC`.
    #[schema(max_length = 64, example = "Europe/Berlin")]
    pub time_zone: Option<String>,
}

impl From<NewProgram> for program::NewProgram {
    fn from(input: NewProgram) -> Self {
        Self {
            name: input.name,
            currency: input.currency,
            allowed_domains: input.allowed_domains,
            click_param: input.click_param,
            attribution_window_days: input.attribution_window_days,
            holding_days: input.holding_days,
            min_payout: input.min_payout,
            precedence: input.precedence.map(Into::into),
            plan: input.plan.map(Into::into),
            fallback_url: input.fallback_url,
            max_orders_per_click: input.max_orders_per_click,
            time_zone: input.time_zone,
        }
    }
}

/// A partial update: only the fields present change.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgramPatch {
    pub name: Option<String>,
    #[schema(value_type = Option<Vec<values::Domain>>)]
    pub allowed_domains: Option<Vec<Domain>>,
    pub click_param: Option<String>,
    pub attribution_window_days: Option<u16>,
    pub holding_days: Option<u16>,
    #[schema(value_type = Option<values::Money>)]
    pub min_payout: Option<Money>,
    pub precedence: Option<Precedence>,
    pub plan: Option<CommissionPlan>,
    /// An empty string removes the fallback.
    pub fallback_url: Option<String>,
    pub max_orders_per_click: Option<u32>,
    /// An IANA name; changes the days of what is counted from now on (days already counted
    /// keep the zone they were counted in).
    #[schema(max_length = 64, example = "Europe/Berlin")]
    pub time_zone: Option<String>,
}

impl From<ProgramPatch> for program::ProgramPatch {
    fn from(patch: ProgramPatch) -> Self {
        Self {
            name: patch.name,
            allowed_domains: patch.allowed_domains,
            click_param: patch.click_param,
            attribution_window_days: patch.attribution_window_days,
            holding_days: patch.holding_days,
            min_payout: patch.min_payout,
            precedence: patch.precedence.map(Into::into),
            plan: patch.plan.map(Into::into),
            fallback_url: patch.fallback_url,
            max_orders_per_click: patch.max_orders_per_click,
            time_zone: patch.time_zone,
        }
    }
}

/// What a creator's key sees of a program: the program's public terms and this creator's own
/// sale rate, nothing about other creators (no `creator_overrides`, no enrolments), and none
/// of the brand's internal settings (exchange rates, the click-reuse threshold).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatorProgramView {
    #[schema(value_type = values::ProgramId)]
    pub id: ProgramId,
    pub name: String,
    #[schema(value_type = values::Currency)]
    pub currency: Currency,
    #[schema(value_type = Vec<values::Domain>)]
    pub allowed_domains: Vec<Domain>,
    pub click_param: String,
    pub attribution_window_days: u16,
    pub holding_days: u16,
    #[schema(value_type = values::Money)]
    pub min_payout: Money,
    pub precedence: Precedence,
    pub plan: CreatorPlan,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<values::Destination>)]
    pub fallback_url: Option<Destination>,
    /// When this creator was enrolled in the program.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub enrolled_at: OffsetDateTime,
}

/// A plan as one creator earns by it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatorPlan {
    /// This creator's sale commission: the rate negotiated for them, else the program's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sale: Option<SaleCommission>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<values::Money>)]
    pub lead: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub click: Option<ClickCommission>,
    /// Per-product sale commission, the same for every creator, winning over the sale rate.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub product_overrides: BTreeMap<String, SaleCommission>,
    pub recurring_months: u16,
}

impl CreatorProgramView {
    pub fn of(program: &program::Program, enrolment: &creator::Enrolment) -> Self {
        let plan = &program.plan;
        let sale = creator_rate(
            plan,
            &enrolment.creator_id,
            enrolment.rate_override.as_ref(),
        )
        .map(Into::into);
        let plan = CreatorPlan {
            sale,
            lead: plan.lead,
            click: plan.click.as_ref().map(Into::into),
            product_overrides: plan
                .product_overrides
                .iter()
                .map(|(product, rate)| (product.clone(), rate.into()))
                .collect(),
            recurring_months: plan.recurring_months,
        };
        CreatorProgramView {
            id: program.id.clone(),
            name: program.name.clone(),
            currency: program.currency,
            allowed_domains: program.allowed_domains.clone(),
            click_param: program.click_param.clone(),
            attribution_window_days: program.attribution_window_days,
            holding_days: program.holding_days,
            min_payout: program.min_payout,
            precedence: program.precedence.into(),
            plan,
            fallback_url: program.fallback_url.clone(),
            enrolled_at: enrolment.enrolled_at,
        }
    }
}

/// A program as the caller may see it: whole for admin and finance keys, a
/// [`CreatorProgramView`] for creator keys.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ProgramView {
    Program(Program),
    Creator(CreatorProgramView),
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Enrolment {
    #[schema(value_type = values::ProgramId)]
    pub program_id: ProgramId,
    #[schema(value_type = values::CreatorId)]
    pub creator_id: CreatorId,
    /// Sale commission for this creator in this program, winning over the program's plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_override: Option<SaleCommission>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub enrolled_at: OffsetDateTime,
}

impl From<&creator::Enrolment> for Enrolment {
    fn from(enrolment: &creator::Enrolment) -> Self {
        Self {
            program_id: enrolment.program_id.clone(),
            creator_id: enrolment.creator_id.clone(),
            rate_override: enrolment.rate_override.as_ref().map(Into::into),
            enrolled_at: enrolment.enrolled_at,
        }
    }
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEnrolment {
    #[schema(value_type = values::CreatorId)]
    pub creator_id: CreatorId,
    pub rate_override: Option<SaleCommission>,
}

/// A promo code a creator shares; matched case-insensitively within its program.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PromoCode {
    pub code: String,
    #[schema(value_type = values::ProgramId)]
    pub program_id: ProgramId,
    #[schema(value_type = values::CreatorId)]
    pub creator_id: CreatorId,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// A disabled code attributes no further orders.
    pub disabled: bool,
}

impl From<&link::PromoCode> for PromoCode {
    fn from(promo: &link::PromoCode) -> Self {
        Self {
            code: promo.code.clone(),
            program_id: promo.program_id.clone(),
            creator_id: promo.creator_id.clone(),
            created_at: promo.created_at,
            disabled: promo.disabled,
        }
    }
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPromoCode {
    pub code: String,
    #[schema(value_type = values::CreatorId)]
    pub creator_id: CreatorId,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FxRates {
    /// Units of the program currency per unit of each other currency, as exact decimals:
    /// `{"EUR": "1.0825"}`. Replaces the program's rates; `{}` removes them all.
    #[schema(value_type = BTreeMap<String, String>)]
    pub rates: BTreeMap<Currency, Rate>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSecret {
    /// The platform's signing secret (Shopify's app secret, Stripe's `whsec_…`, the secret typed
    /// into WooCommerce). Omit it and one is generated (as for postbacks).
    pub secret: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SetSecret {
    pub platform: Platform,
    /// Shown this once; afterwards only masked.
    pub secret: String,
    pub webhook_url_path: String,
}

impl SetSecret {
    pub fn new(platform: DomainPlatform, secret: String, webhook_url_path: String) -> Self {
        Self {
            platform: platform.into(),
            secret,
            webhook_url_path,
        }
    }
}

/// A secret as the API shows it after creation.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MaskedSecret {
    pub platform: Platform,
    /// The first and last characters only.
    pub secret_hint: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<&linkledger_store::MaskedSecret> for MaskedSecret {
    fn from(masked: &linkledger_store::MaskedSecret) -> Self {
        Self {
            platform: masked.platform.into(),
            secret_hint: masked.secret_hint.clone(),
            created_at: masked.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Secrets {
    pub items: Vec<MaskedSecret>,
}
