//! Commission arithmetic: what a sale earns under a plan, and what a refund takes back.
//!
//! Rules (the money invariants are in ARCHITECTURE.md, "Invariants that hold across the code"):
//! - The rate for each part of an order: a product override for that line (by SKU, then product
//!   id) wins over the creator's override in the plan, which wins over the enrolment's rate
//!   override, which wins over the plan's sale rate.
//! - A rate applies to the line's net amount; a fixed amount applies once per unit for a product
//!   override, once per order otherwise.
//! - The whole commission is summed exactly (in ten-thousandths of a minor unit) and rounded
//!   **once**, half to even: never more than half a minor unit from exact.
//! - Refunds reverse pro rata and cumulatively: after refunds totalling R of a refund basis B,
//!   the total reversed is round(commission × min(R, B) / B); each refund books the difference
//!   from what was reversed before. A full refund reverses exactly the commission, never more.

use crate::conversion::LineItem;
use crate::ids::CreatorId;
use crate::money::{div_round_half_even, Money, MoneyError};
use crate::program::{CommissionPlan, SaleCommission};

/// The sale rate for this creator, before product overrides.
pub fn creator_rate<'a>(
    plan: &'a CommissionPlan,
    creator: &CreatorId,
    enrolment_override: Option<&'a SaleCommission>,
) -> Option<&'a SaleCommission> {
    plan.creator_overrides
        .get(creator)
        .or(enrolment_override)
        .or(plan.sale.as_ref())
}

fn product_rate<'a>(plan: &'a CommissionPlan, line: &LineItem) -> Option<&'a SaleCommission> {
    let by = |key: &Option<String>| key.as_ref().and_then(|k| plan.product_overrides.get(k));
    by(&line.sku).or_else(|| by(&line.product_id))
}

/// Ten-thousandths of a minor unit earned by `rate` on `net` (`units` for fixed amounts).
fn exact(rate: &SaleCommission, net: Money, units: u32) -> Result<i128, MoneyError> {
    match rate {
        SaleCommission::RateBps(bps) => i128::from(net.minor())
            .checked_mul(i128::from(bps.get()))
            .ok_or(MoneyError::Overflow),
        SaleCommission::Fixed(amount) => {
            if amount.currency() != net.currency() {
                return Err(MoneyError::CurrencyMismatch {
                    left: amount.currency(),
                    right: net.currency(),
                });
            }
            i128::from(amount.minor())
                .checked_mul(i128::from(units))
                .and_then(|n| n.checked_mul(10_000))
                .ok_or(MoneyError::Overflow)
        }
    }
}

/// What a sale of `net` (lines in the same currency) earns. Lines with a product override earn
/// by it; the rest of the net earns the creator's rate.
pub fn sale_commission(
    plan: &CommissionPlan,
    creator: &CreatorId,
    enrolment_override: Option<&SaleCommission>,
    net: Money,
    lines: &[LineItem],
) -> Result<Money, MoneyError> {
    let currency = net.currency();
    let mut total: i128 = 0;
    let mut rest = net.minor();
    for line in lines {
        if let Some(rate) = product_rate(plan, line) {
            if line.net.currency() != currency {
                return Err(MoneyError::CurrencyMismatch {
                    left: line.net.currency(),
                    right: currency,
                });
            }
            total = total
                .checked_add(exact(rate, line.net, line.quantity)?)
                .ok_or(MoneyError::Overflow)?;
            rest = rest
                .checked_sub(line.net.minor())
                .ok_or(MoneyError::Overflow)?;
        }
    }
    let overridden = rest != net.minor();
    let rest = Money::from_minor(rest.max(0), currency);
    match creator_rate(plan, creator, enrolment_override) {
        // A fixed per-sale amount is earned once, unless every line had its own override.
        Some(rate @ SaleCommission::Fixed(_)) if !overridden || rest.minor() > 0 => {
            total = total
                .checked_add(exact(rate, rest, 1)?)
                .ok_or(MoneyError::Overflow)?;
        }
        Some(rate @ SaleCommission::RateBps(_)) => {
            total = total
                .checked_add(exact(rate, rest, 1)?)
                .ok_or(MoneyError::Overflow)?;
        }
        _ => {}
    }
    let minor =
        i64::try_from(div_round_half_even(total, 10_000)).map_err(|_| MoneyError::Overflow)?;
    Ok(Money::from_minor(minor, currency))
}

/// The total that should stand reversed once `refunded` of `basis` is refunded.
pub fn reversal_target(
    commission: Money,
    refunded: Money,
    basis: Money,
) -> Result<Money, MoneyError> {
    if refunded.currency() != basis.currency() {
        return Err(MoneyError::CurrencyMismatch {
            left: refunded.currency(),
            right: basis.currency(),
        });
    }
    if basis.minor() <= 0 {
        // Nothing was charged: any refund undoes the whole commission.
        return Ok(if refunded.minor() > 0 {
            commission
        } else {
            Money::zero(commission.currency())
        });
    }
    let refunded = refunded.minor().clamp(0, basis.minor());
    commission.times_fraction(refunded, basis.minor())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::{BasisPoints, Currency};
    use proptest::prelude::*;

    fn usd(minor: i64) -> Money {
        Money::from_minor(minor, Currency::parse("USD").unwrap())
    }

    fn rate(bps: u32) -> SaleCommission {
        SaleCommission::RateBps(BasisPoints::new(bps).unwrap())
    }

    fn line(sku: &str, qty: u32, net: i64) -> LineItem {
        LineItem {
            sku: Some(sku.into()),
            product_id: None,
            quantity: qty,
            net: usd(net),
        }
    }

    #[test]
    fn precedence_is_product_then_creator_then_enrolment_then_plan() {
        let anna = CreatorId::generate();
        let mut plan = CommissionPlan {
            sale: Some(rate(1000)),
            ..Default::default()
        };
        assert_eq!(
            sale_commission(&plan, &anna, None, usd(10000), &[]).unwrap(),
            usd(1000)
        );
        let enrol = rate(1500);
        assert_eq!(
            sale_commission(&plan, &anna, Some(&enrol), usd(10000), &[]).unwrap(),
            usd(1500)
        );
        plan.creator_overrides.insert(anna.clone(), rate(2000));
        assert_eq!(
            sale_commission(&plan, &anna, Some(&enrol), usd(10000), &[]).unwrap(),
            usd(2000)
        );
        plan.product_overrides
            .insert("SERUM".into(), SaleCommission::Fixed(usd(500)));
        // 2 serums (fixed 5.00 each) + the remaining 60.00 at 20 %.
        let lines = [line("SERUM", 2, 4000), line("CAP", 1, 6000)];
        assert_eq!(
            sale_commission(&plan, &anna, Some(&enrol), usd(10000), &lines).unwrap(),
            usd(1000 + 1200)
        );
    }

    #[test]
    fn rounds_once_half_to_even() {
        let anna = CreatorId::generate();
        let plan = CommissionPlan {
            sale: Some(rate(1250)),
            ..Default::default()
        };
        // 12.5 % of 0.20 = 0.025 → 0.02 (even); of 0.60 = 0.075 → 0.08 (even).
        assert_eq!(
            sale_commission(&plan, &anna, None, usd(20), &[]).unwrap(),
            usd(2)
        );
        assert_eq!(
            sale_commission(&plan, &anna, None, usd(60), &[]).unwrap(),
            usd(8)
        );
    }

    #[test]
    fn full_refund_reverses_exactly_and_never_more() {
        assert_eq!(
            reversal_target(usd(1001), usd(11300), usd(11300)).unwrap(),
            usd(1001)
        );
        assert_eq!(
            reversal_target(usd(1001), usd(99999), usd(11300)).unwrap(),
            usd(1001)
        );
        assert_eq!(
            reversal_target(usd(1001), usd(0), usd(11300)).unwrap(),
            usd(0)
        );
    }

    proptest! {
        #[test]
        fn sale_commission_is_within_half_a_minor_unit(net in 0i64..10_000_000_000, bps in 0u32..=10_000) {
            let anna = CreatorId::generate();
            let plan = CommissionPlan { sale: Some(rate(bps)), ..Default::default() };
            let got = sale_commission(&plan, &anna, None, usd(net), &[]).unwrap().minor();
            let exact = i128::from(net) * i128::from(bps);
            prop_assert!((i128::from(got) * 10_000 - exact).abs() * 2 <= 10_000);
        }

        #[test]
        fn partial_refunds_never_reverse_more_than_accrued_and_sum_to_it_when_full(
            commission in 0i64..1_000_000,
            basis in 1i64..10_000_000,
            cuts in proptest::collection::vec(0u32..1000, 1..6),
        ) {
            // Refunds arrive as rising cumulative totals ending at the full basis.
            let weight: u64 = cuts.iter().map(|&c| u64::from(c) + 1).sum();
            let mut cumulative = 0i64;
            let mut reversed = 0i64;
            let mut running = 0u64;
            for (i, c) in cuts.iter().enumerate() {
                running += u64::from(*c) + 1;
                cumulative = if i + 1 == cuts.len() { basis } else {
                    (i128::from(basis) * i128::from(running) / i128::from(weight)) as i64
                };
                let target = reversal_target(usd(commission), usd(cumulative), usd(basis)).unwrap();
                let this = target.minor() - reversed;
                prop_assert!(this >= 0, "a refund never books a negative reversal");
                reversed += this;
                prop_assert!(reversed <= commission);
                let exact = i128::from(commission) * i128::from(cumulative);
                prop_assert!((i128::from(reversed) * i128::from(basis) - exact).abs() * 2 <= i128::from(basis));
            }
            prop_assert_eq!(cumulative, basis);
            prop_assert_eq!(reversed, commission, "a full refund reverses exactly the commission");
        }
    }
}
