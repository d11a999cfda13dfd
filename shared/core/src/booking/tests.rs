//! The booking decisions, without a store: each test builds the facts a shell would gather and
//! checks the decision against what the rule says (a model of the generated steps in the
//! property tests, never the code's own totals).

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use time::macros::datetime;

use super::*;
use crate::conversion::Refund;
use crate::fx::Rate;
use crate::ids::{ClickId, LinkCode, ProgramId};
use crate::ledger::EntryKind;
use crate::money::BasisPoints;
use crate::program::{CommissionPlan, Precedence, SaleCommission};

const NOW: OffsetDateTime = datetime!(2026-11-20 12:00 UTC);

fn usd() -> Currency {
    Currency::parse("USD").unwrap()
}

fn eur() -> Currency {
    Currency::parse("EUR").unwrap()
}

fn money(minor: i64) -> Money {
    Money::from_minor(minor, usd())
}

fn anna() -> CreatorId {
    CreatorId::parse("cre_anna000000000000000000").unwrap()
}

fn ben() -> CreatorId {
    CreatorId::parse("cre_ben0000000000000000000").unwrap()
}

/// A USD program paying `bps` of the net, 30 holding days, 3 orders per click.
fn program(bps: u32) -> Program {
    Program {
        id: ProgramId::parse("prg_demo000000000000000000").unwrap(),
        name: "demo".into(),
        currency: usd(),
        allowed_domains: Vec::new(),
        click_param: "ll_click".into(),
        attribution_window_days: 30,
        holding_days: 30,
        min_payout: money(0),
        precedence: Precedence::Click,
        plan: CommissionPlan {
            sale: Some(SaleCommission::RateBps(BasisPoints::new(bps).unwrap())),
            lead: Some(money(250)),
            recurring_months: 12,
            ..Default::default()
        },
        fallback_url: None,
        max_orders_per_click: 3,
        fx_rates: BTreeMap::new(),
        time_zone: crate::stats::Zone::utc(),
        created_at: NOW,
        updated_at: NOW,
    }
}

fn click(program: &Program, creator: &CreatorId, at: OffsetDateTime) -> Click {
    let at_ms = crate::clock::unix_ms(at);
    Click {
        id: ClickId::generate(at_ms),
        link_code: LinkCode::parse("anna10").unwrap(),
        program_id: program.id.clone(),
        creator_id: creator.clone(),
        at_ms,
        visitor: "v".into(),
        bot: false,
        country: None,
        referrer_host: None,
    }
}

fn sale(net: i64, occurred_at: OffsetDateTime) -> Sale {
    Sale {
        order_id: "1001".into(),
        aliases: Vec::new(),
        occurred_at,
        net: money(net),
        refund_basis: money(net),
        click_id: None,
        coupons: vec!["ANNA10".into()],
        customer_email_hash: None,
        customer_ref: None,
        lines: Vec::new(),
        renewal: false,
    }
}

fn facts(program: &Program) -> OrderFacts<'_> {
    OrderFacts {
        program,
        platform: Platform::Postback,
        attribution: AttributionFacts::default(),
        creator: None,
        click_orders: 0,
    }
}

/// The facts of an order whose promo code is `creator`'s (enrolled, without a rate override).
fn by_coupon<'p>(program: &'p Program, creator: &CreatorId) -> OrderFacts<'p> {
    let mut facts = facts(program);
    facts.attribution.coupon = Some(("ANNA10".into(), creator.clone()));
    facts.creator = Some(CreatorFacts {
        id: creator.clone(),
        enrolment: None,
        email_hash: Some("creator-hash".into()),
    });
    facts
}

fn refund(refunded: Refunded, occurred_at: OffsetDateTime) -> Refund {
    Refund {
        order_refs: vec!["1001".into()],
        occurred_at,
        refunded,
    }
}

/// Half to even, as the rule says, written out independently of the code.
fn model_round(numerator: i128, denominator: i128) -> i64 {
    let (q, r) = (numerator / denominator, numerator % denominator);
    let up = 2 * r > denominator || (2 * r == denominator && q % 2 == 1);
    (q + i128::from(up)) as i64
}

/// What should stand reversed after `refunded` of `basis`: commission × min(R, B) / B.
fn model_target(commission: i64, refunded: i64, basis: i64) -> i64 {
    if basis <= 0 {
        return if refunded > 0 { commission } else { 0 };
    }
    let r = refunded.clamp(0, basis);
    model_round(i128::from(commission) * i128::from(r), i128::from(basis))
}

fn sum(entries: &[LedgerEntry]) -> i64 {
    entries.iter().map(|e| e.amount.minor()).sum()
}

#[test]
fn months_are_calendar_months_with_the_day_clamped() {
    assert_eq!(
        add_months(datetime!(2026-01-31 10:00 UTC), 1),
        datetime!(2026-02-28 10:00 UTC)
    );
    assert_eq!(
        add_months(datetime!(2026-11-15 00:00 UTC), 14),
        datetime!(2028-01-15 00:00 UTC)
    );
    assert_eq!(
        add_months(datetime!(2026-05-01 00:00 UTC), 0),
        datetime!(2026-05-01 00:00 UTC)
    );
}

#[test]
fn an_attributed_sale_books_its_accrual_payable_after_the_holding_period() {
    let p = program(1000);
    let occurred = datetime!(2026-11-20 11:00 UTC);
    let s = sale(12_345, occurred);
    let booking = decide_order(&by_coupon(&p, &anna()), &Order::sale(&s), NOW).unwrap();
    let c = &booking.conversion;
    assert_eq!(c.status, ConversionStatus::Approved);
    assert_eq!(c.creator_id, Some(anna()));
    assert_eq!(
        c.attribution,
        Attribution::Coupon {
            code: "ANNA10".into()
        }
    );
    // 10 % of 123.45 = 12.345, half to even: 12.34.
    assert_eq!(c.commission, money(1234));
    assert_eq!(c.available_at, datetime!(2026-12-20 11:00 UTC));
    assert_eq!(
        (c.booked_at, c.id.clone()),
        (NOW, ConversionId::for_order(&p.id, "1001"))
    );
    let [entry] = booking.entries.as_slice() else {
        panic!("one accrual: {:?}", booking.entries)
    };
    assert_eq!(entry.kind, EntryKind::Accrual);
    assert_eq!(
        (entry.amount, entry.available_at, entry.created_at),
        (money(1234), c.available_at, NOW)
    );
    assert_eq!(entry.conversion_id.as_ref(), Some(&c.id));
    assert!(entry
        .id
        .as_str()
        .starts_with(&ClickId::time_prefix(crate::clock::unix_ms(NOW))));
    assert_eq!((booking.click_use, booking.first_sale), (None, None));
}

#[test]
fn an_unattributed_order_earns_nothing_and_books_nothing() {
    let p = program(1000);
    let s = sale(10_000, NOW);
    let booking = decide_order(&facts(&p), &Order::sale(&s), NOW).unwrap();
    assert_eq!(booking.conversion.status, ConversionStatus::Unattributed);
    assert_eq!(booking.conversion.creator_id, None);
    assert_eq!(booking.conversion.commission, money(0));
    assert!(booking.entries.is_empty());
}

#[test]
fn a_lead_earns_the_plans_lead_amount() {
    let p = program(1000);
    let lead = Lead {
        order_id: "signup-1".into(),
        occurred_at: NOW,
        click_id: None,
        coupons: vec!["ANNA10".into()],
        customer_email_hash: None,
    };
    let order = Order::lead(&lead, p.currency);
    let booking = decide_order(&by_coupon(&p, &anna()), &order, NOW).unwrap();
    assert_eq!(booking.conversion.kind, ConversionKind::Lead);
    assert_eq!(
        booking.conversion.id,
        ConversionId::for_order(&p.id, "lead:signup-1")
    );
    assert_eq!(sum(&booking.entries), 250);
}

#[test]
fn a_self_referral_is_held_and_books_nothing() {
    let p = program(1000);
    let mut s = sale(10_000, NOW);
    s.customer_email_hash = Some("creator-hash".into());
    let booking = decide_order(&by_coupon(&p, &anna()), &Order::sale(&s), NOW).unwrap();
    assert_eq!(booking.conversion.status, ConversionStatus::Held);
    assert_eq!(
        booking.conversion.hold_reasons,
        vec![HoldReason::SelfReferral]
    );
    assert_eq!(booking.conversion.commission, money(1000));
    assert!(booking.entries.is_empty());
}

#[test]
fn creator_facts_of_anyone_but_the_winner_are_ignored() {
    let p = program(1000);
    let mut s = sale(10_000, NOW);
    s.customer_email_hash = Some("creator-hash".into());
    let mut facts = by_coupon(&p, &anna());
    if let Some(creator) = facts.creator.as_mut() {
        creator.id = ben();
    }
    let booking = decide_order(&facts, &Order::sale(&s), NOW).unwrap();
    assert_eq!(booking.conversion.status, ConversionStatus::Approved);
}

#[test]
fn a_click_counts_its_orders_and_holds_reuse_and_haste() {
    let p = program(1000);
    let clicked = NOW - Duration::hours(1);
    let c = click(&p, &anna(), clicked);
    let mut s = sale(10_000, NOW);
    s.click_id = Some(c.id.to_string());
    s.coupons.clear();
    let mut facts = facts(&p);
    facts.attribution.click = Some(c.clone());
    facts.creator = Some(CreatorFacts {
        id: anna(),
        enrolment: None,
        email_hash: None,
    });
    facts.click_orders = 2;
    let third = decide_order(&facts, &Order::sale(&s), NOW).unwrap();
    assert_eq!(third.conversion.status, ConversionStatus::Approved);
    assert_eq!(third.click_use, Some((c.id.to_string(), 3)));
    facts.click_orders = 3;
    let fourth = decide_order(&facts, &Order::sale(&s), NOW).unwrap();
    assert_eq!(
        fourth.conversion.hold_reasons,
        vec![HoldReason::ClickReused]
    );
    assert_eq!(fourth.click_use, Some((c.id.to_string(), 4)));
    facts.click_orders = 0;
    s.occurred_at = clicked + Duration::seconds(9);
    let hasty = decide_order(&facts, &Order::sale(&s), NOW).unwrap();
    assert_eq!(
        hasty.conversion.hold_reasons,
        vec![HoldReason::TooFastAfterClick]
    );
    assert!(fourth.entries.is_empty() && hasty.entries.is_empty());
}

#[test]
fn an_order_in_a_currency_without_a_rate_waits_for_one_and_approving_prices_it() {
    let mut p = program(1000);
    let mut s = sale(10_000, NOW);
    s.net = Money::from_minor(10_000, eur());
    s.refund_basis = s.net;
    let held = decide_order(&by_coupon(&p, &anna()), &Order::sale(&s), NOW).unwrap();
    let c = held.conversion;
    assert_eq!(c.hold_reasons, vec![HoldReason::FxRateMissing]);
    assert_eq!((c.program_net, c.commission), (None, money(0)));
    assert!(held.entries.is_empty());
    assert_eq!(
        decide_hold(&c, Decision::Approve, &p, None, NOW),
        Err(HoldError::FxRateMissing(eur()))
    );
    p.fx_rates.insert(eur(), Rate::parse("1.10").unwrap());
    let later = NOW + Duration::days(1);
    let approved = decide_hold(&c, Decision::Approve, &p, None, later).unwrap();
    assert_eq!(approved.conversion.status, ConversionStatus::Approved);
    assert_eq!(approved.conversion.program_net, Some(money(11_000)));
    assert_eq!(approved.conversion.commission, money(1100));
    assert_eq!(approved.conversion.fx.map(|fx| fx.from), Some(eur()));
    assert_eq!(sum(&approved.entries), 1100);
    assert_eq!(approved.entries[0].fx, approved.conversion.fx);
    assert_eq!(approved.entries[0].created_at, later);
}

#[test]
fn an_amount_past_the_bound_once_priced_is_held_not_refused() {
    let mut p = program(1000);
    p.fx_rates.insert(eur(), Rate::parse("1000").unwrap());
    let mut s = sale(crate::limits::MAX_AMOUNT_MINOR, NOW);
    s.net = Money::from_minor(crate::limits::MAX_AMOUNT_MINOR, eur());
    s.refund_basis = s.net;
    let booking = decide_order(&by_coupon(&p, &anna()), &Order::sale(&s), NOW).unwrap();
    assert_eq!(
        booking.conversion.hold_reasons,
        vec![HoldReason::AmountOutOfRange]
    );
    assert!(booking.entries.is_empty());
}

#[test]
fn a_renewal_earns_for_the_first_sales_creator_within_the_recurring_months() {
    let p = program(1000);
    let first_sale_at = datetime!(2026-01-31 10:00 UTC);
    let mut s = sale(5_000, datetime!(2027-01-31 10:00 UTC));
    s.renewal = true;
    s.customer_ref = Some("cus_1".into());
    s.coupons.clear();
    let mut facts = facts(&p);
    facts.attribution.customer = Some(FirstSale {
        creator_id: anna(),
        first_conversion: ConversionId::for_order(&p.id, "first"),
        first_sale_at,
    });
    facts.creator = Some(CreatorFacts {
        id: anna(),
        enrolment: None,
        email_hash: None,
    });
    let renewal = decide_order(&facts, &Order::sale(&s), NOW).unwrap();
    assert_eq!(renewal.conversion.kind, ConversionKind::Renewal);
    assert_eq!(
        renewal.conversion.attribution,
        Attribution::Customer {
            customer_ref: "cus_1".into()
        }
    );
    assert_eq!(sum(&renewal.entries), 500);
    // A renewal never records a first sale.
    assert_eq!(renewal.first_sale, None);
    s.occurred_at = add_months(first_sale_at, 12) + Duration::seconds(1);
    let late = decide_order(&facts, &Order::sale(&s), NOW).unwrap();
    assert_eq!(late.conversion.status, ConversionStatus::Unattributed);
    assert!(late.entries.is_empty());
}

#[test]
fn an_attributed_sale_of_a_new_customer_becomes_its_first_sale() {
    let p = program(1000);
    let mut s = sale(5_000, NOW);
    s.customer_ref = Some("cus_1".into());
    let booking = decide_order(&by_coupon(&p, &anna()), &Order::sale(&s), NOW).unwrap();
    let (customer_ref, first) = booking.first_sale.unwrap();
    assert_eq!(customer_ref, "cus_1");
    assert_eq!(first.creator_id, anna());
    assert_eq!(first.first_conversion, booking.conversion.id);
    assert_eq!(first.first_sale_at, NOW);
    // Known already: nothing to write.
    let mut known = by_coupon(&p, &anna());
    known.attribution.customer = Some(first);
    let again = decide_order(&known, &Order::sale(&s), NOW).unwrap();
    assert_eq!(again.first_sale, None);
    // Unattributed: never a first sale.
    let unattributed = decide_order(&facts(&p), &Order::sale(&s), NOW).unwrap();
    assert_eq!(unattributed.first_sale, None);
}

#[test]
fn an_order_whose_holding_period_ends_past_the_end_of_time_cannot_be_booked() {
    let p = program(1000);
    let s = sale(
        10_000,
        OffsetDateTime::new_utc(time::Date::MAX, time::Time::MIDNIGHT),
    );
    assert_eq!(
        decide_order(&by_coupon(&p, &anna()), &Order::sale(&s), NOW).unwrap_err(),
        Unbookable::PayableOutOfRange
    );
    assert_eq!(
        Unbookable::PayableOutOfRange.to_string(),
        "occurred_at plus the holding period is out of range"
    );
}

fn approved(net: i64, bps: u32) -> Conversion {
    let p = program(bps);
    let s = sale(net, NOW - Duration::days(1));
    decide_order(&by_coupon(&p, &anna()), &Order::sale(&s), NOW)
        .unwrap()
        .conversion
}

#[test]
fn repeated_refunds_are_duplicates_and_other_currencies_are_refused() {
    let c = approved(10_000, 1000);
    let first = decide_refund(&c, &refund(Refunded::Cumulative(money(4000)), NOW), NOW).unwrap();
    let RefundDecision::Refund {
        conversion,
        entries,
        reversed,
    } = first
    else {
        panic!("a refund")
    };
    assert_eq!((reversed, sum(&entries)), (money(400), -400));
    for repeat in [4000, 3000] {
        assert_eq!(
            decide_refund(
                &conversion,
                &refund(Refunded::Cumulative(money(repeat)), NOW),
                NOW
            ),
            Ok(RefundDecision::Duplicate)
        );
    }
    let once = Refunded::Increment {
        refund_id: "r1".into(),
        amount: money(1000),
    };
    let RefundDecision::Refund { conversion, .. } =
        decide_refund(&c, &refund(once.clone(), NOW), NOW).unwrap()
    else {
        panic!("a refund")
    };
    assert_eq!(
        decide_refund(&conversion, &refund(once, NOW), NOW),
        Ok(RefundDecision::Duplicate)
    );
    let euros = Refunded::Cumulative(Money::from_minor(100, eur()));
    let refused = decide_refund(&c, &refund(euros, NOW), NOW).unwrap_err();
    assert_eq!(refused.to_string(), "refund in EUR for an order in USD");
}

#[test]
fn a_reversal_is_payable_with_its_accrual_or_on_the_day_of_the_refund() {
    // Still pending: reverses alongside the accrual.
    let c = approved(10_000, 1000);
    let RefundDecision::Refund { entries, .. } =
        decide_refund(&c, &refund(Refunded::Cumulative(money(10_000)), NOW), NOW).unwrap()
    else {
        panic!("a refund")
    };
    assert_eq!(entries[0].available_at, c.available_at);
    assert_eq!(entries[0].kind, EntryKind::Reversal);
    // Payable already: the refund's day, but never later than now.
    let mut paid = c.clone();
    paid.available_at = NOW - Duration::days(10);
    let refunded_at = NOW - Duration::days(2);
    let RefundDecision::Refund { entries, .. } = decide_refund(
        &paid,
        &refund(Refunded::Cumulative(money(10_000)), refunded_at),
        NOW,
    )
    .unwrap() else {
        panic!("a refund")
    };
    assert_eq!(entries[0].available_at, refunded_at);
    let RefundDecision::Refund { entries, .. } = decide_refund(
        &paid,
        &refund(Refunded::Cumulative(money(10_000)), NOW + Duration::days(3)),
        NOW,
    )
    .unwrap() else {
        panic!("a refund")
    };
    assert_eq!(entries[0].available_at, NOW);
}

#[test]
fn deciding_needs_a_held_conversion_and_rejecting_books_nothing() {
    let p = program(1000);
    let c = approved(10_000, 1000);
    assert_eq!(
        decide_hold(&c, Decision::Reject, &p, None, NOW),
        Err(HoldError::NotHeld(ConversionStatus::Approved))
    );
    let mut held = c.clone();
    held.status = ConversionStatus::Held;
    let rejected = decide_hold(&held, Decision::Reject, &p, None, NOW).unwrap();
    assert_eq!(rejected.conversion.status, ConversionStatus::Rejected);
    assert!(rejected.entries.is_empty());
    assert_eq!(
        (Decision::Approve.action(), Decision::Reject.action()),
        ("conversion.approve", "conversion.reject")
    );
}

/// One generated order: who offers what, and what the facts say.
#[derive(Clone, Debug)]
struct Scenario {
    net: i64,
    bps: u32,
    /// The click: minutes before the order (negative: after it, beyond the skew; never less
    /// than a minute before, so never too fast), or none.
    click_minutes_before: Option<i64>,
    coupon: bool,
    coupon_is_anna: bool,
    self_referral: bool,
    prior_click_orders: u32,
    foreign: Option<bool>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        0i64..100_000_000,
        0u32..=10_000,
        prop_oneof![
            Just(None),
            (-60i64..=-10).prop_map(Some),
            (1i64..60 * 24 * 40).prop_map(Some),
        ],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        0u32..6,
        prop_oneof![Just(None), any::<bool>().prop_map(Some)],
    )
        .prop_map(
            |(
                net,
                bps,
                click_minutes_before,
                coupon,
                coupon_is_anna,
                self_referral,
                prior,
                foreign,
            )| Scenario {
                net,
                bps,
                click_minutes_before,
                coupon,
                coupon_is_anna,
                self_referral,
                prior_click_orders: prior,
                foreign,
            },
        )
}

proptest! {
    /// Booking never books commission for an unattributed or held order, and books exactly
    /// the model's commission for an approved one.
    #[test]
    fn only_an_approved_order_books_and_it_books_the_models_commission(s in scenario()) {
        let mut p = program(s.bps);
        // foreign: Some(true) = EUR with a rate of 2, Some(false) = EUR without one.
        if s.foreign == Some(true) {
            p.fx_rates.insert(eur(), Rate::parse("2").unwrap());
        }
        let mut order = sale(s.net, NOW);
        if s.foreign.is_some() {
            order.net = Money::from_minor(s.net, eur());
            order.refund_basis = order.net;
        }
        order.customer_email_hash = Some("shopper".into());
        let mut f = facts(&p);
        let clicked = s.click_minutes_before.map(|m| click(&p, &anna(), NOW - Duration::minutes(m)));
        if let Some(c) = &clicked {
            order.click_id = Some(c.id.to_string());
        }
        f.attribution.click = clicked;
        let coupon_creator = if s.coupon_is_anna { anna() } else { ben() };
        if s.coupon {
            f.attribution.coupon = Some(("ANNA10".into(), coupon_creator.clone()));
        } else {
            order.coupons.clear();
        }
        f.click_orders = s.prior_click_orders;

        // The model: a click within the window (the click wins by the default precedence),
        // else the coupon, else nobody.
        let by_click = s.click_minutes_before.is_some_and(|m| m > 0 && m <= 60 * 24 * 30);
        let winner = if by_click { Some(anna()) } else if s.coupon { Some(coupon_creator) } else { None };
        if let Some(w) = &winner {
            f.creator = Some(CreatorFacts {
                id: w.clone(),
                enrolment: None,
                email_hash: Some(if s.self_referral { "shopper".into() } else { "creator".into() }),
            });
        }
        let mut holds = BTreeSet::new();
        if winner.is_some() && s.self_referral {
            holds.insert("self_referral");
        }
        if by_click && s.prior_click_orders + 1 > 3 {
            holds.insert("click_reused");
        }
        if s.foreign == Some(false) {
            holds.insert("fx_rate_missing");
        }
        let program_net = if s.foreign == Some(true) { 2 * s.net } else { s.net };
        let commission = model_round(i128::from(program_net) * i128::from(s.bps), 10_000);

        let booking = decide_order(&f, &Order::sale(&order), NOW).unwrap();
        let c = &booking.conversion;
        prop_assert_eq!(&c.creator_id, &winner);
        match (&winner, holds.is_empty()) {
            (None, _) => prop_assert_eq!(c.status, ConversionStatus::Unattributed),
            (Some(_), false) => prop_assert_eq!(c.status, ConversionStatus::Held),
            (Some(_), true) => prop_assert_eq!(c.status, ConversionStatus::Approved),
        }
        prop_assert_eq!(c.hold_reasons.len(), if winner.is_some() { holds.len() } else { usize::from(s.foreign == Some(false)) });
        if c.status == ConversionStatus::Approved {
            prop_assert_eq!(sum(&booking.entries), commission);
            prop_assert_eq!(booking.entries.len(), usize::from(commission > 0));
        } else {
            prop_assert!(booking.entries.is_empty(), "{:?} booked {:?}", c.status, booking.entries);
        }
        prop_assert_eq!(booking.click_use.map(|(_, n)| n), by_click.then_some(s.prior_click_orders + 1));
    }

    /// Any sequence of partial refunds (cumulative totals or ids, repeats included) reverses,
    /// in all, exactly the model's target of what was refunded, never more than the accrual.
    #[test]
    fn refunds_reverse_the_models_target_and_never_more_than_the_accrual(
        net in 1i64..10_000_000,
        bps in 0u32..=10_000,
        steps in proptest::collection::vec((any::<bool>(), 0i64..12_000_000, 0u8..4), 1..12),
    ) {
        let c0 = approved(net, bps);
        let commission = c0.commission.minor();
        let mut c = c0.clone();
        let mut booked: Vec<LedgerEntry> = Vec::new();
        let (mut model_cumulative, mut model_ids) = (0i64, BTreeMap::<u8, i64>::new());
        // A conversion's refunds come one way: by cumulative totals or by ids.
        let by_ids = steps[0].0;
        for (_, amount, id) in &steps {
            let (refunded, duplicate) = if by_ids {
                let amount = amount % (net + 1);
                let duplicate = model_ids.contains_key(id);
                model_ids.entry(*id).or_insert(amount);
                (Refunded::Increment { refund_id: format!("r{id}"), amount: money(amount) }, duplicate)
            } else {
                let duplicate = *amount <= model_cumulative;
                model_cumulative = model_cumulative.max(*amount);
                (Refunded::Cumulative(money(*amount)), duplicate)
            };
            match decide_refund(&c, &refund(refunded, NOW), NOW).unwrap() {
                RefundDecision::Duplicate => prop_assert!(duplicate),
                RefundDecision::Refund { conversion, entries, reversed } => {
                    prop_assert!(!duplicate);
                    prop_assert!(entries.iter().all(|e| e.amount.minor() < 0 && e.kind == EntryKind::Reversal));
                    prop_assert_eq!(-sum(&entries), reversed.minor());
                    booked.extend(entries);
                    c = *conversion;
                }
            }
            let refunded = if by_ids { model_ids.values().sum() } else { model_cumulative };
            let target = model_target(commission, refunded, net);
            prop_assert_eq!(-sum(&booked), target);
            prop_assert_eq!(c.reversed.minor(), target);
            prop_assert!(target <= commission);
        }
    }

    /// Approving a conversion that was refunded while held books its accrual and the reversal
    /// of what was refunded: together, the model's net.
    #[test]
    fn approving_after_refunds_books_the_models_net(
        net in 1i64..10_000_000,
        bps in 0u32..=10_000,
        refunds in proptest::collection::vec(0i64..12_000_000, 0..6),
    ) {
        let p = program(bps);
        let mut order = sale(net, NOW - Duration::days(1));
        order.customer_email_hash = Some("creator-hash".into());
        let mut c = decide_order(&by_coupon(&p, &anna()), &Order::sale(&order), NOW).unwrap().conversion;
        prop_assert_eq!(c.status, ConversionStatus::Held);
        let mut model_refunded = 0;
        for total in refunds {
            model_refunded = model_refunded.max(total);
            if let RefundDecision::Refund { conversion, entries, reversed } =
                decide_refund(&c, &refund(Refunded::Cumulative(money(total)), NOW), NOW).unwrap()
            {
                prop_assert!(entries.is_empty(), "a held conversion reverses nothing yet");
                prop_assert_eq!(reversed.minor(), 0);
                c = *conversion;
            }
        }
        let later = NOW + Duration::hours(5);
        let decided = decide_hold(&c, Decision::Approve, &p, None, later).unwrap();
        let commission = model_round(i128::from(net) * i128::from(bps), 10_000);
        let target = model_target(commission, model_refunded, net);
        prop_assert_eq!(sum(&decided.entries), commission - target);
        let accruals: i64 = decided.entries.iter().filter(|e| e.kind == EntryKind::Accrual).map(|e| e.amount.minor()).sum();
        let reversals: i64 = decided.entries.iter().filter(|e| e.kind == EntryKind::Reversal).map(|e| e.amount.minor()).sum();
        prop_assert_eq!((accruals, reversals), (commission, -target));
        prop_assert_eq!(decided.conversion.reversed.minor(), target);
        // The reversal is payable with the accrual (still pending) or now, whichever is later.
        for e in &decided.entries {
            prop_assert_eq!(e.available_at, decided.conversion.available_at.max(if e.kind == EntryKind::Reversal { later } else { decided.conversion.available_at }));
        }
    }

    /// An accrual is payable exactly the program's holding days after its order.
    #[test]
    fn an_accrual_is_payable_the_holding_days_after_its_order(
        holding_days in 0u16..=365,
        seconds_ago in 0i64..(400 * 86_400),
    ) {
        let mut p = program(1000);
        p.holding_days = holding_days;
        let occurred = NOW - Duration::seconds(seconds_ago);
        let s = sale(10_000, occurred);
        let booking = decide_order(&by_coupon(&p, &anna()), &Order::sale(&s), NOW).unwrap();
        let model = occurred + Duration::days(i64::from(holding_days));
        prop_assert_eq!(booking.conversion.available_at, model);
        prop_assert_eq!(booking.entries[0].available_at, model);
        prop_assert_eq!(payable_from(occurred, holding_days), Ok(model));
    }
}
