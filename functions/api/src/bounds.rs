//! The API's edge checks of request values against the domain's bounds
//! (`shared/core/src/limits.rs` holds the numbers): each failure is a 400 whose message names the
//! field, under the route's own error code (`invalid_program`, `invalid_adjustment`, ...).

use linkledger_core::fx::Rate;
use linkledger_core::limits::{self, MAX_FX_RATE};
use linkledger_core::money::Money;
use linkledger_core::program::{CommissionPlan, SaleCommission};
use linkledger_http::{ErrorCode, HttpError};

/// An amount within ±[`limits::MAX_AMOUNT_MINOR`].
pub(crate) fn amount(code: ErrorCode, field: &str, money: &Money) -> Result<(), HttpError> {
    Money::bounded(money.minor(), money.currency())
        .map(|_| ())
        .map_err(|e| HttpError::bad_request(code, format!("{field}: {e}")))
}

/// Free text: at most [`limits::MAX_TEXT_LEN`] characters, no control characters.
pub(crate) fn text(code: ErrorCode, field: &str, text: &str) -> Result<(), HttpError> {
    limits::check_text(text)
        .map(|_| ())
        .map_err(|e| HttpError::bad_request(code, format!("{field}: {e}")))
}

fn sale(code: ErrorCode, field: &str, rate: &SaleCommission) -> Result<(), HttpError> {
    match rate {
        SaleCommission::Fixed(money) => amount(code, &format!("{field}.fixed"), money),
        SaleCommission::RateBps(_) => Ok(()),
    }
}

/// Every amount of a plan, and its product keys (external ids).
pub(crate) fn plan(code: ErrorCode, plan: &CommissionPlan) -> Result<(), HttpError> {
    if let Some(rate) = &plan.sale {
        sale(code, "plan.sale", rate)?;
    }
    if let Some(lead) = &plan.lead {
        amount(code, "plan.lead", lead)?;
    }
    if let Some(click) = &plan.click {
        amount(code, "plan.click.amount", &click.amount)?;
    }
    for rate in plan.creator_overrides.values() {
        sale(code, "plan.creator_overrides", rate)?;
    }
    limits::check_list_len(plan.product_overrides.len())
        .map_err(|e| HttpError::bad_request(code, format!("plan.product_overrides: {e}")))?;
    limits::check_list_len(plan.creator_overrides.len())
        .map_err(|e| HttpError::bad_request(code, format!("plan.creator_overrides: {e}")))?;
    for (product, rate) in &plan.product_overrides {
        limits::check_product_key(product).map_err(|e| {
            HttpError::bad_request(code, format!("plan.product_overrides (a key): {e}"))
        })?;
        sale(code, "plan.product_overrides", rate)?;
    }
    Ok(())
}

/// An exchange rate below [`MAX_FX_RATE`].
pub(crate) fn fx_rate(code: ErrorCode, field: &str, rate: &Rate) -> Result<(), HttpError> {
    match u64::try_from(rate.whole_units()) {
        Ok(units) if units < MAX_FX_RATE => Ok(()),
        _ => Err(HttpError::bad_request(
            code,
            format!("{field}: must be below {MAX_FX_RATE}"),
        )),
    }
}
