//! Property: over random histories of sales, refunds and runs of successive dates (SQLite, the
//! real booking and settlement code), money is conserved — every payout record has exactly its
//! payout entry, sum of payouts + open balances = accruals − reversals + adjustments — each
//! line pays its whole balance only when it reaches the minimum, and a rerun changes nothing.

use proptest::prelude::*;
use time::Duration;

use linkledger_shared::booking::book_conversion;
use linkledger_shared::conversion::{ConversionEvent, Fact, Platform, Refund, Refunded, Sale};
use linkledger_shared::ids::{CreatorId, ProgramId};
use linkledger_shared::ledger::EntryKind;
use linkledger_shared::money::{Currency, Money};
use linkledger_shared::settlement::settle;
use linkledger_tests::app::TestApp;

#[derive(Clone, Debug)]
enum Step {
    Sale {
        creator: usize,
        cents: i64,
        days_ago: i64,
    },
    Refund {
        order: usize,
        percent: i64,
    },
    Run,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0usize..3, 100i64..50_000, 1i64..9).prop_map(|(creator, cents, days_ago)| Step::Sale { creator, cents, days_ago }),
        1 => (0usize..12, 1i64..=100).prop_map(|(order, percent)| Step::Refund { order, percent }),
        1 => Just(Step::Run),
    ]
}

async fn history(steps: Vec<Step>) {
    let app = TestApp::sqlite().await;
    let program = app.program().await;
    let reply = app
        .call(
            http::Method::PATCH,
            &format!("/api/programs/{program}"),
            Some(&app.admin),
            Some(serde_json::json!({"holding_days": 0, "min_payout": {"amount": "25.00", "currency": "USD"}})),
        )
        .await;
    assert!(reply.status.is_success());
    let mut creators = Vec::new();
    for name in ["anna", "ben", "cara"] {
        let (id, _) = app.creator(&program, name).await;
        let code = format!("{}10", name.to_uppercase());
        let reply = app
            .post(
                &format!("/api/programs/{program}/promo-codes"),
                &app.admin,
                serde_json::json!({"code": code, "creator_id": id}),
            )
            .await;
        assert!(reply.status.is_success());
        creators.push((CreatorId::parse(&id).unwrap(), code));
    }
    let program = ProgramId::parse(&program).unwrap();
    let usd = Currency::parse("USD").unwrap();
    let now = linkledger_shared::now();
    let mut orders: Vec<i64> = Vec::new();
    let mut next_date = now.date() - Duration::days(8);
    for (i, step) in steps.into_iter().enumerate() {
        let fact = match step {
            Step::Run => {
                if next_date <= now.date() {
                    let run = settle(&app.store, next_date, None, |_| {})
                        .await
                        .expect("a run");
                    for line in app.store.settlement_lines(next_date).await.unwrap() {
                        if line.payout_id.is_some() {
                            assert!(
                                line.amount.minor() >= 2500 && Some(line.amount) == line.balance,
                                "{line:?}"
                            );
                        } else {
                            assert!(
                                line.carried.minor() < 2500 && line.owed.minor() == 0
                                    || line.carried.minor() == 0,
                                "{line:?}"
                            );
                        }
                    }
                    assert_eq!(
                        settle(&app.store, next_date, None, |_| {}).await.unwrap(),
                        run,
                        "a rerun changes nothing"
                    );
                    next_date += Duration::days(1);
                }
                continue;
            }
            Step::Sale {
                creator,
                cents,
                days_ago,
            } => {
                orders.push(cents);
                Fact::Sale(Sale {
                    order_id: format!("o{}", orders.len() - 1),
                    aliases: vec![],
                    occurred_at: now - Duration::days(days_ago),
                    net: Money::from_minor(cents, usd),
                    refund_basis: Money::from_minor(cents, usd),
                    click_id: None,
                    coupons: vec![creators[creator].1.clone()],
                    customer_email_hash: None,
                    customer_ref: None,
                    lines: vec![],
                    renewal: false,
                })
            }
            Step::Refund { order, percent } => {
                let Some(cents) = orders.get(order) else {
                    continue;
                };
                Fact::Refund(Refund {
                    order_refs: vec![format!("o{order}")],
                    occurred_at: now - Duration::days(1),
                    refunded: Refunded::Cumulative(Money::from_minor(cents * percent / 100, usd)),
                })
            }
        };
        let event = ConversionEvent {
            program_id: program.clone(),
            platform: Platform::Postback,
            delivery_id: format!("d{i}"),
            received_at: now,
            fact,
        };
        book_conversion(&app.store, &event).await.expect("booked");
    }
    for (creator, _) in &creators {
        let entries = app
            .store
            .all_ledger_entries(Some(creator), None)
            .await
            .unwrap();
        let sum = |kind: EntryKind| -> i64 {
            entries
                .iter()
                .filter(|e| e.kind == kind)
                .map(|e| e.amount.minor())
                .sum()
        };
        let payout_entries = -sum(EntryKind::Payout);
        let mut records = 0i64;
        let mut after = None;
        loop {
            let page = app
                .store
                .payouts_of_creator(creator, 100, after)
                .await
                .unwrap();
            records += page.items.iter().map(|p| p.amount.minor()).sum::<i64>();
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(
            records, payout_entries,
            "payout records match payout entries"
        );
        let open: i64 = entries.iter().map(|e| e.amount.minor()).sum();
        assert_eq!(
            records + open,
            sum(EntryKind::Accrual) + sum(EntryKind::Reversal) + sum(EntryKind::Adjustment),
            "payouts + open balance = accruals − reversals + adjustments"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
    #[test]
    fn money_is_conserved_across_runs(steps in proptest::collection::vec(step(), 1..24)) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(history(steps));
    }
}
