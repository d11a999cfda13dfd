//! Programs and their commission plans. The plan is stored and validated here; `commission.rs`
//! applies it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::attribution::DEFAULT_MAX_ORDERS_PER_CLICK;
use crate::destination::{Destination, Domain};
use crate::fx::Rate;
use crate::ids::{CreatorId, ProgramId};
use crate::money::{BasisPoints, Currency, Money};
use crate::stats::Zone;

/// What a sale earns: a share of the net amount, or a fixed amount.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SaleCommission {
    /// Basis points of the order's net amount (1000 = 10 %).
    RateBps(BasisPoints),
    Fixed(Money),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClickCommission {
    /// Paid per unique, non-bot click.
    pub amount: Money,
    /// Most paid clicks per creator per UTC day.
    pub daily_cap: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CommissionPlan {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sale: Option<SaleCommission>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub click: Option<ClickCommission>,
    /// Per-creator sale commission, winning over `sale` (an enrolment's rate override too).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub creator_overrides: BTreeMap<CreatorId, SaleCommission>,
    /// Per-product (SKU or product id) sale commission, winning over creator and program rates.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub product_overrides: BTreeMap<String, SaleCommission>,
    /// Months after the first sale during which a customer's renewals still earn (0 = none).
    #[serde(default)]
    pub recurring_months: u16,
}

/// When an order carries both a click and a promo code of different creators, who wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Precedence {
    #[default]
    Click,
    Coupon,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Program {
    pub id: ProgramId,
    pub name: String,
    pub currency: Currency,
    pub allowed_domains: Vec<Domain>,
    pub click_param: String,
    pub attribution_window_days: u16,
    pub holding_days: u16,
    pub min_payout: Money,
    pub precedence: Precedence,
    pub plan: CommissionPlan,
    /// Where a disabled or expired link sends shoppers instead of a 410 (on an allowed domain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_url: Option<Destination>,
    /// Orders one click id may carry; the next one is held as `click_reused`.
    #[serde(default = "default_max_orders_per_click")]
    pub max_orders_per_click: u32,
    /// Rates into the program currency for orders in other currencies (set with
    /// `PUT /api/programs/{id}/fx-rates`); an order in a currency without a rate is held.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fx_rates: BTreeMap<Currency, Rate>,
    /// The zone whose days the program's stats count in (IANA name, default UTC).
    #[serde(default = "Zone::utc")]
    pub time_zone: Zone,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// The fields a brand sets when creating a program; omitted ones take the documented defaults.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProgram {
    pub name: String,
    pub currency: Currency,
    pub allowed_domains: Vec<Domain>,
    /// Query parameter carrying the click id to the store (default `ll_click`).
    pub click_param: Option<String>,
    /// Default 30.
    pub attribution_window_days: Option<u16>,
    /// Default 30.
    pub holding_days: Option<u16>,
    /// Default zero.
    pub min_payout: Option<Money>,
    pub precedence: Option<Precedence>,
    pub plan: Option<CommissionPlan>,
    /// Where disabled or expired links redirect instead of answering 410.
    pub fallback_url: Option<String>,
    /// Default 3.
    pub max_orders_per_click: Option<u32>,
    /// IANA name; default UTC.
    pub time_zone: Option<String>,
}

/// A partial update: only the fields present change.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ProgramPatch {
    pub name: Option<String>,
    pub allowed_domains: Option<Vec<Domain>>,
    pub click_param: Option<String>,
    pub attribution_window_days: Option<u16>,
    pub holding_days: Option<u16>,
    pub min_payout: Option<Money>,
    pub precedence: Option<Precedence>,
    pub plan: Option<CommissionPlan>,
    /// An empty string removes the fallback.
    pub fallback_url: Option<String>,
    pub max_orders_per_click: Option<u32>,
    pub time_zone: Option<String>,
}

pub const DEFAULT_CLICK_PARAM: &str = "ll_click";
pub const DEFAULT_WINDOW_DAYS: u16 = 30;
pub const DEFAULT_HOLDING_DAYS: u16 = 30;

fn default_max_orders_per_click() -> u32 {
    DEFAULT_MAX_ORDERS_PER_CLICK
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ProgramError {
    pub field: &'static str,
    pub reason: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ProgramError {
    ProgramError {
        field,
        reason: reason.into(),
    }
}

fn zone(name: Option<&str>) -> Result<Zone, ProgramError> {
    name.map_or(Ok(Zone::utc()), |name| {
        Zone::parse(name).map_err(|e| invalid("time_zone", e.to_string()))
    })
}

fn fallback(url: Option<&str>, allowed: &[Domain]) -> Result<Option<Destination>, ProgramError> {
    match url {
        None | Some("") => Ok(None),
        Some(url) => Destination::for_program(url, allowed)
            .map(Some)
            .map_err(|e| invalid("fallback_url", e.to_string())),
    }
}

impl Program {
    pub fn create(input: NewProgram, now: OffsetDateTime) -> Result<Self, ProgramError> {
        Self::create_with_id(ProgramId::generate(), input, now)
    }

    /// [`Program::create`] under an id the caller drew (so a management flow stays deterministic).
    pub fn create_with_id(
        id: ProgramId,
        input: NewProgram,
        now: OffsetDateTime,
    ) -> Result<Self, ProgramError> {
        let program = Program {
            id,
            name: input.name,
            currency: input.currency,
            allowed_domains: input.allowed_domains,
            click_param: input
                .click_param
                .unwrap_or_else(|| DEFAULT_CLICK_PARAM.to_string()),
            attribution_window_days: input.attribution_window_days.unwrap_or(DEFAULT_WINDOW_DAYS),
            holding_days: input.holding_days.unwrap_or(DEFAULT_HOLDING_DAYS),
            min_payout: input.min_payout.unwrap_or(Money::zero(input.currency)),
            precedence: input.precedence.unwrap_or_default(),
            plan: input.plan.unwrap_or_default(),
            fallback_url: None,
            max_orders_per_click: input
                .max_orders_per_click
                .unwrap_or(DEFAULT_MAX_ORDERS_PER_CLICK),
            fx_rates: BTreeMap::new(),
            time_zone: zone(input.time_zone.as_deref())?,
            created_at: now,
            updated_at: now,
        };
        let mut program = program;
        program.fallback_url = fallback(input.fallback_url.as_deref(), &program.allowed_domains)?;
        program.validate()?;
        Ok(program)
    }

    pub fn apply(&self, patch: ProgramPatch, now: OffsetDateTime) -> Result<Self, ProgramError> {
        let mut next = self.clone();
        if let Some(v) = patch.name {
            next.name = v;
        }
        if let Some(v) = patch.allowed_domains {
            next.allowed_domains = v;
        }
        if let Some(v) = patch.click_param {
            next.click_param = v;
        }
        if let Some(v) = patch.attribution_window_days {
            next.attribution_window_days = v;
        }
        if let Some(v) = patch.holding_days {
            next.holding_days = v;
        }
        if let Some(v) = patch.min_payout {
            next.min_payout = v;
        }
        if let Some(v) = patch.precedence {
            next.precedence = v;
        }
        if let Some(v) = patch.plan {
            next.plan = v;
        }
        if let Some(v) = patch.max_orders_per_click {
            next.max_orders_per_click = v;
        }
        if let Some(v) = patch.time_zone {
            next.time_zone = zone(Some(&v))?;
        }
        if let Some(v) = patch.fallback_url {
            next.fallback_url = fallback(Some(&v), &next.allowed_domains)?;
        }
        next.updated_at = now;
        next.validate()?;
        Ok(next)
    }

    /// Every rule a program must satisfy, whoever wrote it.
    pub fn validate(&self) -> Result<(), ProgramError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(invalid("name", "must be 1 to 200 characters"));
        }
        if self.allowed_domains.is_empty() || self.allowed_domains.len() > 50 {
            return Err(invalid("allowed_domains", "list 1 to 50 domains"));
        }
        let param_ok = (1..=32).contains(&self.click_param.len())
            && self
                .click_param
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !param_ok || self.click_param.starts_with("utm_") {
            return Err(invalid(
                "click_param",
                "1 to 32 of [A-Za-z0-9_], not starting with utm_",
            ));
        }
        if !(1..=365).contains(&self.attribution_window_days) {
            return Err(invalid("attribution_window_days", "must be 1 to 365"));
        }
        if self.holding_days > 365 {
            return Err(invalid("holding_days", "must be 0 to 365"));
        }
        self.check_money("min_payout", &self.min_payout)?;
        let plan = &self.plan;
        if let Some(SaleCommission::Fixed(m)) = &plan.sale {
            self.check_money("plan.sale.fixed", m)?;
        }
        if let Some(m) = &plan.lead {
            self.check_money("plan.lead", m)?;
        }
        if let Some(click) = &plan.click {
            self.check_money("plan.click.amount", &click.amount)?;
            if click.daily_cap == 0 {
                return Err(invalid("plan.click.daily_cap", "must be at least 1"));
            }
        }
        for rate in plan.creator_overrides.values() {
            if let SaleCommission::Fixed(m) = rate {
                self.check_money("plan.creator_overrides", m)?;
            }
        }
        for (sku, rate) in &plan.product_overrides {
            if crate::limits::check_product_key(sku).is_err() {
                return Err(invalid(
                    "plan.product_overrides",
                    "product keys are 1 to 255 characters without control characters",
                ));
            }
            if let SaleCommission::Fixed(m) = rate {
                self.check_money("plan.product_overrides", m)?;
            }
        }
        if let Some(url) = &self.fallback_url {
            Destination::for_program(url.as_str(), &self.allowed_domains)
                .map_err(|e| invalid("fallback_url", e.to_string()))?;
        }
        if self.max_orders_per_click == 0 {
            return Err(invalid("max_orders_per_click", "must be at least 1"));
        }
        if self.fx_rates.contains_key(&self.currency) {
            return Err(invalid(
                "fx_rates",
                "no rate for the program's own currency",
            ));
        }
        if plan.recurring_months > 120 {
            return Err(invalid("plan.recurring_months", "must be 0 to 120"));
        }
        Ok(())
    }

    /// Amounts in a plan are in the program's currency and never negative.
    fn check_money(&self, field: &'static str, money: &Money) -> Result<(), ProgramError> {
        if money.currency() != self.currency {
            return Err(invalid(
                field,
                format!("must be in the program currency {}", self.currency),
            ));
        }
        if money.is_negative() {
            return Err(invalid(field, "must not be negative"));
        }
        Ok(())
    }
}
