//! Stats equal the ledger: for any history of clicks (repeats, bots), sales (by promo code,
//! unattributed, self-referred and so held), cumulative refunds, approvals and rejections of
//! holds, settlements after the holding period and roll-ups at any point in between, booked
//! through the real paths on SQLite and counted by the real roll-up, the stats agree to the
//! minor unit with the ledger as stored (its entries summed here) and with a model of the
//! generated clicks and orders (never with the code's own totals).

use std::collections::BTreeMap;

use proptest::prelude::*;
use time::Duration;

use linkledger_core::click::Click;
use linkledger_core::conversion::{
    ConversionEvent, ConversionId, Fact, Platform, Refund, Refunded, Sale,
};
use linkledger_core::creator::email_hash;
use linkledger_core::ids::{ClickId, CreatorId, LinkCode, ProgramId};
use linkledger_core::ledger::EntryKind;
use linkledger_core::money::{Currency, Money};
use linkledger_core::stats::{Dimension, Period};
use linkledger_store::booking::book_conversion;
use linkledger_store::stats::StatsQuery;
use linkledger_tests::app::TestApp;

#[derive(Clone, Debug)]
enum Step {
    /// A click on link `link` by visitor `visitor` (3 is a bot), `minutes` after the last step.
    Click {
        link: u8,
        visitor: u8,
        minutes: i64,
    },
    /// A sale of `order`: by the promo code, unattributed, or self-referred (held).
    Sale {
        order: u8,
        cents: i64,
        how: u8,
    },
    Refund {
        order: u8,
        cumulative: i64,
    },
    /// The admin decides order `order`'s hold.
    Decide {
        order: u8,
        approve: bool,
    },
    /// Days pass and yesterday is settled.
    Settle {
        days: i64,
    },
    RollUp,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u8..2, 0u8..4, 0i64..90).prop_map(|(link, visitor, minutes)| Step::Click { link, visitor, minutes }),
        3 => (0u8..4, 1i64..50_000, 0u8..3).prop_map(|(order, cents, how)| Step::Sale { order, cents, how }),
        2 => (0u8..4, 0i64..60_000).prop_map(|(order, cumulative)| Step::Refund { order, cumulative }),
        1 => (0u8..4, any::<bool>()).prop_map(|(order, approve)| Step::Decide { order, approve }),
        1 => (1i64..40).prop_map(|days| Step::Settle { days }),
        1 => Just(Step::RollUp),
    ]
}

/// The model's rounding: nearest, ties to even.
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Approved,
    Held,
    Rejected,
    Unattributed,
}

struct Order {
    net: i128,
    basis: i128,
    refunded: i128,
    state: State,
}

async fn run(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let app = TestApp::sqlite().await;
    let program_text = app.program().await;
    let (creator_text, _) = app.creator(&program_text, "anna").await;
    app.promo_code(&program_text, "ANNA10", &creator_text).await;
    let program = ProgramId::parse(&program_text).unwrap();
    let creator = CreatorId::parse(&creator_text).unwrap();
    let usd = Currency::parse("USD").unwrap();
    let links: Vec<LinkCode> = ["anna10", "anna20"]
        .iter()
        .map(|c| LinkCode::parse(c).unwrap())
        .collect();
    for code in &links {
        let reply = app
            .link(
                &program_text,
                &creator_text,
                code.as_str(),
                "https://brand.com/serum",
            )
            .await;
        prop_assert_eq!(reply.status, http::StatusCode::CREATED);
    }
    let start = app.store.now();

    // The model: clicks (link, visitor, at), and the orders.
    let mut clicks: Vec<(u8, u8, i64)> = Vec::new();
    let mut orders: BTreeMap<u8, Order> = BTreeMap::new();
    for (i, step) in steps.into_iter().enumerate() {
        match step {
            Step::Click {
                link,
                visitor,
                minutes,
            } => {
                app.clock.advance(Duration::minutes(minutes));
                let at_ms = (app.store.now().unix_timestamp_nanos() / 1_000_000) as i64;
                let click = Click {
                    id: ClickId::generate(at_ms),
                    link_code: links[usize::from(link)].clone(),
                    program_id: program.clone(),
                    creator_id: creator.clone(),
                    at_ms,
                    visitor: format!("visitor-{visitor}"),
                    bot: visitor == 3,
                    country: None,
                    referrer_host: None,
                };
                app.store
                    .record_click(&click, app.store.now() + Duration::days(60))
                    .await
                    .expect("a click is recorded");
                clicks.push((link, visitor, at_ms));
            }
            Step::Sale { order, cents, how } => {
                let now = app.store.now();
                let (coupons, email) = match how {
                    0 => (vec!["anna10".to_string()], None),
                    1 => (vec![], None),
                    _ => (
                        vec!["anna10".to_string()],
                        Some(email_hash("anna@example.com")),
                    ),
                };
                let basis = cents + cents / 10;
                let event = ConversionEvent {
                    program_id: program.clone(),
                    platform: Platform::Postback,
                    delivery_id: format!("d{i}"),
                    received_at: now,
                    fact: Fact::Sale(Sale {
                        order_id: format!("o{order}"),
                        aliases: vec![],
                        occurred_at: now,
                        net: Money::from_minor(cents, usd),
                        refund_basis: Money::from_minor(basis, usd),
                        click_id: None,
                        coupons,
                        customer_email_hash: email,
                        customer_ref: None,
                        lines: vec![],
                        renewal: false,
                    }),
                };
                let booked = book_conversion(&app.store, &event).await;
                prop_assert!(booked.is_ok(), "step {i}: {booked:?}");
                orders.entry(order).or_insert(Order {
                    net: i128::from(cents),
                    basis: i128::from(basis),
                    refunded: 0,
                    state: match how {
                        0 => State::Approved,
                        1 => State::Unattributed,
                        _ => State::Held,
                    },
                });
            }
            Step::Refund { order, cumulative } => {
                let Some(o) = orders.get_mut(&order) else {
                    continue;
                };
                let now = app.store.now();
                let event = ConversionEvent {
                    program_id: program.clone(),
                    platform: Platform::Postback,
                    delivery_id: format!("d{i}"),
                    received_at: now,
                    fact: Fact::Refund(Refund {
                        order_refs: vec![format!("o{order}")],
                        occurred_at: now,
                        refunded: Refunded::Cumulative(Money::from_minor(cumulative, usd)),
                    }),
                };
                let booked = book_conversion(&app.store, &event).await;
                prop_assert!(booked.is_ok(), "step {i}: {booked:?}");
                o.refunded = o.refunded.max(i128::from(cumulative));
            }
            Step::Decide { order, approve } => {
                let Some(o) = orders.get_mut(&order) else {
                    continue;
                };
                if o.state != State::Held {
                    continue;
                }
                let id = ConversionId::for_order(&program, &format!("o{order}"));
                let verb = if approve { "approve" } else { "reject" };
                let reply = app
                    .post(
                        &format!("/api/conversions/{id}/{verb}"),
                        &app.admin,
                        serde_json::json!({}),
                    )
                    .await;
                prop_assert_eq!(
                    reply.status,
                    http::StatusCode::OK,
                    "step {}: {}",
                    i,
                    reply.json
                );
                o.state = if approve {
                    State::Approved
                } else {
                    State::Rejected
                };
            }
            Step::Settle { days } => {
                app.clock.advance(Duration::days(days));
                let date = app.store.clock().yesterday();
                let run =
                    linkledger_store::settlement::settle(&app.store, date, None, |_| {}).await;
                prop_assert!(run.is_ok(), "step {i}: {run:?}");
            }
            Step::RollUp => {
                app.roll_up().await;
            }
        }
    }
    app.roll_up().await;

    // The whole history, in the program's days.
    let now = app.store.now();
    let query = |dimension| StatsQuery {
        program: program.clone(),
        dimension,
        from: start.date() - Duration::days(1),
        to: now.date() + Duration::days(1),
        period: Period::Total,
        creator: None,
    };
    let rows = app
        .store
        .stats(&query(Dimension::Program))
        .await
        .expect("stats");
    let total = rows.first().map(|r| r.counters).unwrap_or_default();

    // Against the ledger as stored.
    let entries = app
        .store
        .all_ledger_entries(Some(&creator), None)
        .await
        .expect("the ledger reads");
    let sum = |kind: EntryKind| -> i64 {
        entries
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.amount.minor())
            .sum()
    };
    prop_assert_eq!(total.accrued, sum(EntryKind::Accrual));
    prop_assert_eq!(total.reversed, -sum(EntryKind::Reversal));
    prop_assert_eq!(total.adjusted, sum(EntryKind::Adjustment));
    let today = now.date();
    let (mut pending, mut payable, mut paid) = (0i64, 0i64, 0i64);
    for e in &entries {
        let m = e.amount.minor();
        if e.kind == EntryKind::Payout {
            paid -= m;
            payable += m;
        } else if e.available_at.to_offset(time::UtcOffset::UTC).date() > today {
            pending += m;
        } else {
            payable += m;
        }
    }
    let balances = app.store.balances(&program, None).await.expect("balances");
    let split = balances.get(creator.as_str()).copied().unwrap_or_default();
    prop_assert_eq!(
        (split.pending, split.payable, split.paid),
        (pending, payable, paid)
    );
    // The creator's row is the program's (one creator).
    let by_creator = app
        .store
        .stats(&query(Dimension::Creator))
        .await
        .expect("stats");
    if let Some(row) = by_creator.first() {
        prop_assert_eq!(row.counters.accrued, total.accrued);
        prop_assert_eq!(row.counters.reversed, total.reversed);
    }

    // Against the model of the clicks: unique = not a bot's, and no click of the same visitor
    // on the same link in the hour before.
    let mut unique = 0i64;
    for (n, (link, visitor, at)) in clicks.iter().enumerate() {
        let repeat = clicks[..n]
            .iter()
            .any(|(l, v, earlier)| l == link && v == visitor && at - earlier < 3_600_000);
        if *visitor != 3 && !repeat {
            unique += 1;
        }
    }
    prop_assert_eq!(total.clicks, clicks.len() as i64);
    prop_assert_eq!(
        total.bot_clicks,
        clicks.iter().filter(|c| c.1 == 3).count() as i64
    );
    prop_assert_eq!(total.unique_clicks, unique);
    // And of the orders: rejected ones count nothing; the refunded net is pro rata.
    let counted: Vec<&Order> = orders
        .values()
        .filter(|o| o.state != State::Rejected)
        .collect();
    prop_assert_eq!(total.sales, counted.len() as i64);
    prop_assert_eq!(
        total.revenue as i128,
        counted.iter().map(|o| o.net).sum::<i128>()
    );
    let refunded: i128 = counted
        .iter()
        .map(|o| half_even(o.net * o.refunded.min(o.basis), o.basis))
        .sum();
    prop_assert_eq!(total.refunded as i128, refunded);
    prop_assert_eq!(
        total.refunds,
        counted.iter().filter(|o| o.refunded > 0).count() as i64
    );
    prop_assert_eq!(
        total.held,
        counted.iter().filter(|o| o.state == State::Held).count() as i64
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn stats_equal_the_ledger_and_the_history(steps in proptest::collection::vec(step(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(run(steps))?;
    }
}
