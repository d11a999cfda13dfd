//! Properties of booking against a model built from the generated steps: for any sequence of
//! sales and cumulative refunds (duplicates, refunds before their order, partial and
//! over-refunds, amounts up to the domain's maximum, order times at the edges of the accepted
//! window) booked through the real booking path on SQLite, every outcome is the one the model
//! predicts (any other error fails the test), and the ledger holds exactly the model's
//! accruals and reversals, with the model's availability dates. Also: thousands of maximal
//! entries of one creator reach the balance limit exactly where the model says.

use std::collections::BTreeMap;

use proptest::prelude::*;
use time::{Duration, OffsetDateTime};

use linkledger_core::conversion::{
    ConversionEvent, ConversionStatus, Fact, Platform, Refund, Refunded, Sale,
};
use linkledger_core::ids::{CreatorId, ProgramId};
use linkledger_core::ledger::{balances, EntryKind, LedgerEntry};
use linkledger_core::limits::{self, MAX_AMOUNT_MINOR, MAX_BALANCE_MINOR};
use linkledger_core::money::{Currency, Money, MoneyError};
use linkledger_store::booking::{book_conversion, BookingError, Outcome};
use linkledger_tests::app::TestApp;

const RATE_BPS: i128 = 1000; // the test program's plan: 10 % of the net
const HOLDING_DAYS: i64 = 30; // the program's default holding period

/// When an order happened: the window's first instant, now, or its last (now + 1 day).
#[derive(Clone, Copy, Debug)]
enum When {
    Earliest,
    Now,
    Latest,
}

#[derive(Clone, Debug)]
enum Step {
    Sale { order: u8, cents: i64, when: When },
    Refund { order: u8, cumulative: i64 },
}

fn amount() -> impl Strategy<Value = i64> {
    prop_oneof![
        1i64..100_000,
        (MAX_AMOUNT_MINOR - 1_000)..=MAX_AMOUNT_MINOR,
        1i64..=MAX_AMOUNT_MINOR,
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let when = prop_oneof![Just(When::Earliest), Just(When::Now), Just(When::Latest)];
    prop_oneof![
        (0u8..4, amount(), when).prop_map(|(order, cents, when)| Step::Sale { order, cents, when }),
        (0u8..4, prop_oneof![0i64..120_000, amount()])
            .prop_map(|(order, cumulative)| Step::Refund { order, cumulative }),
    ]
}

/// The model's own rounding: nearest, ties to even, on exact integers.
fn half_even(numerator: i128, denominator: i128) -> i128 {
    let (q, r) = (
        numerator.div_euclid(denominator),
        numerator.rem_euclid(denominator),
    );
    match (2 * r).cmp(&denominator) {
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal if q % 2 != 0 => q + 1,
        _ => q,
    }
}

/// One order as the model sees it.
struct ModelOrder {
    commission: i128,
    basis: i128,
    refunded: i128,
    reversed: i128,
    available_at: OffsetDateTime,
}

#[derive(Default)]
struct Model {
    orders: BTreeMap<u8, ModelOrder>,
    /// Signed amounts the ledger must hold, per order, in booking order.
    entries: BTreeMap<u8, Vec<i128>>,
}

fn basis_of(cents: i64) -> i64 {
    cents.saturating_add(cents / 10).min(MAX_AMOUNT_MINOR)
}

fn occurred(when: When, now: OffsetDateTime) -> OffsetDateTime {
    match when {
        When::Earliest => limits::earliest(),
        When::Now => now,
        When::Latest => now + limits::FUTURE_SKEW,
    }
}

struct Shop {
    app: TestApp,
    program: ProgramId,
    creator: CreatorId,
}

async fn shop() -> Shop {
    let app = TestApp::sqlite().await;
    let program = app.program().await;
    let (creator, _) = app.creator(&program, "anna").await;
    app.promo_code(&program, "ANNA10", &creator).await;
    Shop {
        app,
        program: ProgramId::parse(&program).unwrap(),
        creator: CreatorId::parse(&creator).unwrap(),
    }
}

fn event(shop: &Shop, delivery: usize, now: OffsetDateTime, fact: Fact) -> ConversionEvent {
    let event = ConversionEvent {
        program_id: shop.program.clone(),
        platform: Platform::Postback,
        delivery_id: format!("d{delivery}"),
        received_at: now,
        fact,
    };
    event
        .check_bounds(now)
        .expect("the generated steps lie inside the bounds");
    event
}

fn sale(order: u8, cents: i64, at: OffsetDateTime) -> Fact {
    let usd = Currency::parse("USD").unwrap();
    Fact::Sale(Sale {
        order_id: format!("o{order}"),
        aliases: vec![],
        occurred_at: at,
        net: Money::from_minor(cents, usd),
        refund_basis: Money::from_minor(basis_of(cents), usd),
        click_id: None,
        coupons: vec!["anna10".into()],
        customer_email_hash: None,
        customer_ref: None,
        lines: vec![],
        renewal: false,
    })
}

async fn ledger(shop: &Shop) -> Vec<LedgerEntry> {
    shop.app
        .store
        .all_ledger_entries(Some(&shop.creator), None)
        .await
        .expect("the ledger reads")
}

async fn run(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let shop = shop().await;
    let usd = Currency::parse("USD").unwrap();
    let now = time::OffsetDateTime::now_utc();
    let mut model = Model::default();
    for (i, step) in steps.iter().enumerate() {
        match *step {
            Step::Sale { order, cents, when } => {
                let at = occurred(when, now);
                let got = book_conversion(
                    &shop.app.store,
                    &event(&shop, i, now, sale(order, cents, at)),
                )
                .await;
                if model.orders.contains_key(&order) {
                    prop_assert!(matches!(got, Ok(Outcome::Duplicate)), "step {i}: {got:?}");
                    continue;
                }
                prop_assert!(
                    matches!(
                        got,
                        Ok(Outcome::Booked {
                            status: ConversionStatus::Approved,
                            ..
                        })
                    ),
                    "step {i}: {got:?}"
                );
                let commission = half_even(i128::from(cents) * RATE_BPS, 10_000);
                model.orders.insert(
                    order,
                    ModelOrder {
                        commission,
                        basis: i128::from(basis_of(cents)),
                        refunded: 0,
                        reversed: 0,
                        available_at: at + Duration::days(HOLDING_DAYS),
                    },
                );
                if commission > 0 {
                    model.entries.entry(order).or_default().push(commission);
                }
            }
            Step::Refund { order, cumulative } => {
                let fact = Fact::Refund(Refund {
                    order_refs: vec![format!("o{order}")],
                    occurred_at: now,
                    refunded: Refunded::Cumulative(Money::from_minor(cumulative, usd)),
                });
                let got = book_conversion(&shop.app.store, &event(&shop, i, now, fact)).await;
                let Some(m) = model.orders.get_mut(&order) else {
                    prop_assert!(
                        matches!(got, Err(BookingError::Retry(_))),
                        "step {i}: {got:?}"
                    );
                    continue;
                };
                let cumulative = i128::from(cumulative);
                if cumulative <= m.refunded {
                    prop_assert!(matches!(got, Ok(Outcome::Duplicate)), "step {i}: {got:?}");
                    continue;
                }
                m.refunded = cumulative;
                let target = half_even(m.commission * cumulative.min(m.basis), m.basis);
                let reversal = target - m.reversed;
                m.reversed = target;
                match &got {
                    Ok(Outcome::Refunded { reversed, .. }) => {
                        prop_assert_eq!(i128::from(reversed.minor()), reversal, "step {}", i)
                    }
                    other => prop_assert!(false, "step {i}: {other:?}"),
                }
                if reversal > 0 {
                    model.entries.entry(order).or_default().push(-reversal);
                }
            }
        }
    }

    // The ledger holds exactly the model's entries, each available when the model says.
    let entries = ledger(&shop).await;
    let conversions: BTreeMap<_, _> = model
        .orders
        .keys()
        .map(|&o| {
            let id = linkledger_core::conversion::ConversionId::for_order(
                &shop.program,
                &format!("o{o}"),
            );
            (id, o)
        })
        .collect();
    let mut booked: BTreeMap<u8, Vec<i128>> = BTreeMap::new();
    for e in &entries {
        let id = e
            .conversion_id
            .clone()
            .expect("booked entries name their conversion");
        let order = *conversions.get(&id).expect("an entry of a modelled order");
        match e.kind {
            EntryKind::Accrual => {
                prop_assert_eq!(e.available_at, model.orders[&order].available_at);
            }
            EntryKind::Reversal => {
                prop_assert!(e.available_at >= model.orders[&order].available_at);
            }
            other => prop_assert!(false, "unexpected {other:?}"),
        }
        booked
            .entry(order)
            .or_default()
            .push(i128::from(e.amount.minor()));
    }
    // Entries of one millisecond have ids in random order (the id is time + randomness), so
    // each order's entries are compared as a multiset.
    let sorted = |m: &BTreeMap<u8, Vec<i128>>| {
        m.iter()
            .map(|(o, v)| {
                let mut v = v.clone();
                v.sort_unstable();
                (*o, v)
            })
            .collect::<BTreeMap<_, _>>()
    };
    prop_assert_eq!(sorted(&booked), sorted(&model.entries));
    let model_total: i128 = model.entries.values().flatten().sum();
    match balances(&entries, now + Duration::days(400)) {
        Ok(derived) => {
            let total = derived.first().map_or(0, |b| i128::from(b.total.minor()));
            prop_assert!(model_total.abs() <= i128::from(MAX_BALANCE_MINOR));
            prop_assert_eq!(total, model_total);
        }
        Err(e) => {
            prop_assert_eq!(e, MoneyError::BalanceTooLarge);
            prop_assert!(model_total.abs() > i128::from(MAX_BALANCE_MINOR));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
    #[test]
    fn booking_matches_a_model_of_sales_and_refunds(steps in proptest::collection::vec(step(), 1..16)) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(run(steps))?;
    }
}

/// 1 001 sales of the maximum amount: each earns 10^12, so the balance meets the limit of 10^15
/// after the thousandth and passes it with the next, and the balance is then refused as too
/// large (never wrapped, never a panic).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_maximal_sales_reach_the_balance_limit_exactly() {
    let shop = shop().await;
    let now = time::OffsetDateTime::now_utc();
    let book = |i: usize| {
        let shop = &shop;
        async move {
            let fact = sale((i % 200) as u8, MAX_AMOUNT_MINOR, now);
            let mut e = event(shop, i, now, fact);
            if let Fact::Sale(s) = &mut e.fact {
                s.order_id = format!("max-{i}");
            }
            let got = book_conversion(&shop.app.store, &e).await;
            assert!(matches!(got, Ok(Outcome::Booked { .. })), "{i}: {got:?}");
        }
    };
    for start in (0..1000).step_by(50) {
        futures_util::future::join_all((start..start + 50).map(book)).await;
    }
    let entries = ledger(&shop).await;
    assert_eq!(entries.len(), 1000);
    let at_limit = balances(&entries, now + Duration::days(400)).expect("exactly at the limit");
    assert_eq!(at_limit[0].total.minor(), MAX_BALANCE_MINOR);
    assert_eq!(at_limit[0].payable.minor(), MAX_BALANCE_MINOR);

    book(1000).await;
    let entries = ledger(&shop).await;
    assert_eq!(
        balances(&entries, now + Duration::days(400)),
        Err(MoneyError::BalanceTooLarge)
    );
}
