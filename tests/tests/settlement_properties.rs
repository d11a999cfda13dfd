//! Properties of booking and settlement over generated histories (SQLite, the real booking and
//! settlement code), checked against a **model** built from the generated steps alone: each
//! sale's commission (10 %, rounded half to even), each refund's cumulative reversal, each
//! adjustment, and when each becomes available, summed per creator by the test itself.
//!
//! - every run's line of every creator is what the model says: paid (its whole balance, once it
//!   reaches the minimum), carried (≥ 0) or owed (≥ 0) apart, the entries it settled, or failed
//!   when the balance is past `MAX_BALANCE_MINOR` (and then nothing is paid);
//! - at the end, per creator: payout records = the model's payouts = −payout entries, and
//!   payouts + open balance = the model's accruals − reversals + adjustments;
//! - a rerun changes nothing;
//! - any booking or settlement error fails the test, except a retry (retried, then failing).
//!
//! Values are extreme on purpose: amounts near `MAX_AMOUNT_MINOR`, bursts of the largest
//! adjustment that push a balance past the limit, timestamps at the window's edges (2000-01-01,
//! now + 1 day, exactly a cutoff), and thousands of entries for one creator.

use std::collections::HashMap;

use proptest::prelude::*;
use time::{Date, Duration, OffsetDateTime};

use linkledger_core::audit::{Actor, AuditEntry};
use linkledger_core::conversion::{
    ConversionEvent, ConversionStatus, Fact, Platform, Refund, Refunded, Sale,
};
use linkledger_core::ids::{CreatorId, ProgramId};
use linkledger_core::ledger::{EntryKind, LedgerEntry};
use linkledger_core::limits::{MAX_AMOUNT_MINOR, MAX_BALANCE_MINOR};
use linkledger_core::money::{Currency, Money};
use linkledger_store::booking::{book_conversion, BookingError, Outcome};
use linkledger_store::settlement::{cutoff, settle, LineStatus, RunStatus};
use linkledger_tests::app::TestApp;

const CREATORS: usize = 3;
/// The program's minimum payout (25.00).
const MINIMUM: i128 = 2500; // > 0, so a payable balance is positive
/// The first date a history may settle: runs go from here to yesterday.
const FIRST_RUN_DAYS_AGO: i64 = 10;

/// When something happens, relative to the test's start.
#[derive(Clone, Copy, Debug)]
enum When {
    /// Midday, `n` days ago.
    DaysAgo(i64),
    /// Exactly the start of the day `n` days ago: the previous day's cutoff, so not in its run.
    Midnight(i64),
    /// One microsecond before the end of the day `n` days ago: the last instant in its run.
    LastInstant(i64),
    /// 2000-01-01T00:00:00Z, the first instant of the timestamp window.
    Earliest,
    /// Now + 1 day, the last instant of the window: never settled by these runs.
    Latest,
}

impl When {
    fn at(self, now: OffsetDateTime) -> OffsetDateTime {
        let day = |n: i64| {
            (now.date() - Duration::days(n))
                .with_time(time::Time::MIDNIGHT)
                .assume_utc()
        };
        match self {
            When::DaysAgo(n) => day(n) + Duration::hours(12),
            When::Midnight(n) => day(n),
            When::LastInstant(n) => day(n) + Duration::days(1) - Duration::microseconds(1),
            When::Earliest => linkledger_core::limits::earliest(),
            When::Latest => now + Duration::days(1),
        }
    }
}

fn when() -> impl Strategy<Value = When> {
    prop_oneof![
        4 => (1i64..=FIRST_RUN_DAYS_AGO + 1).prop_map(When::DaysAgo),
        1 => (1i64..=FIRST_RUN_DAYS_AGO).prop_map(When::Midnight),
        1 => (1i64..=FIRST_RUN_DAYS_AGO).prop_map(When::LastInstant),
        1 => Just(When::Earliest),
        1 => Just(When::Latest),
    ]
}

/// An amount in minor units, `1..=MAX_AMOUNT_MINOR`, often small, often at the top.
fn amount() -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => 100i64..50_000,
        2 => (MAX_AMOUNT_MINOR - 1_000)..=MAX_AMOUNT_MINOR,
        1 => 1i64..=MAX_AMOUNT_MINOR,
    ]
}

#[derive(Clone, Debug)]
enum Step {
    Sale {
        creator: usize,
        net: i64,
        at: When,
    },
    /// A cumulative refund of `percent` of an earlier order (by index, modulo the orders).
    Refund {
        order: usize,
        percent: i64,
        at: When,
    },
    Adjustment {
        creator: usize,
        amount: i64,
        at: When,
    },
    /// 101 adjustments of the largest amount: past the balance limit, unless offset.
    Burst {
        creator: usize,
        negative: bool,
        at: When,
    },
    /// Settles the next date (while it is a past date).
    Run,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..CREATORS, amount(), when()).prop_map(|(creator, net, at)| Step::Sale { creator, net, at }),
        2 => (0usize..64, 1i64..=100, when()).prop_map(|(order, percent, at)| Step::Refund { order, percent, at }),
        2 => (0..CREATORS, amount(), any::<bool>(), when()).prop_map(|(creator, amount, negative, at)| {
            Step::Adjustment { creator, amount: if negative { -amount } else { amount }, at }
        }),
        1 => (0..CREATORS, any::<bool>(), when()).prop_map(|(creator, negative, at)| Step::Burst { creator, negative, at }),
        3 => Just(Step::Run),
    ]
}

/// `n / d` rounded to the nearest integer, ties to even (`n ≥ 0`, `d > 0`): the model's own
/// rounding, written independently of `money::div_round_half_even`.
fn half_even(n: i128, d: i128) -> i128 {
    let (q, r) = (n / d, n % d);
    if 2 * r > d || (2 * r == d && q % 2 == 1) {
        q + 1
    } else {
        q
    }
}

#[derive(Clone, Debug)]
struct ModelOrder {
    creator: usize,
    net: i128,
    commission: i128,
    available: OffsetDateTime,
    refunded: i128,
    reversed: i128,
}

/// What the books must hold, from the generated steps only.
#[derive(Clone, Debug, Default)]
struct ModelCreator {
    /// Every accrual, reversal and adjustment: (signed amount, available at).
    entries: Vec<(i128, OffsetDateTime)>,
    /// Paid out so far.
    paid: i128,
    /// Entries counted by its last settled line (for `entries_settled`).
    counted: u64,
}

impl ModelCreator {
    fn total(&self) -> i128 {
        self.entries.iter().map(|(a, _)| a).sum()
    }
}

struct History {
    app: TestApp,
    program: ProgramId,
    creators: Vec<(CreatorId, String)>,
    usd: Currency,
    now: OffsetDateTime,
    model: Vec<ModelCreator>,
    orders: Vec<ModelOrder>,
    next_date: Date,
    deliveries: usize,
}

impl History {
    async fn new() -> History {
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
        assert!(reply.status.is_success(), "{}", reply.json);
        let mut creators = Vec::new();
        for name in ["anna", "ben", "cara"].iter().take(CREATORS) {
            let (id, _) = app.creator(&program, name).await;
            let code = format!("{}10", name.to_uppercase());
            app.promo_code(&program, &code, &id).await;
            creators.push((CreatorId::parse(&id).unwrap(), code));
        }
        let now = time::OffsetDateTime::now_utc();
        History {
            app,
            program: ProgramId::parse(&program).unwrap(),
            creators,
            usd: Currency::parse("USD").unwrap(),
            now,
            model: vec![ModelCreator::default(); CREATORS],
            orders: Vec::new(),
            next_date: now.date() - Duration::days(FIRST_RUN_DAYS_AGO),
            deliveries: 0,
        }
    }

    /// Books one event; only a retry is tolerated (a few times), any other error fails.
    async fn book(&mut self, fact: Fact) -> Outcome {
        self.deliveries += 1;
        let event = ConversionEvent {
            program_id: self.program.clone(),
            platform: Platform::Postback,
            delivery_id: format!("d{}", self.deliveries),
            received_at: time::OffsetDateTime::now_utc(),
            fact,
        };
        for _ in 0..3 {
            match book_conversion(&self.app.store, &event).await {
                Ok(outcome) => return outcome,
                Err(BookingError::Retry(reason)) => {
                    eprintln!("retrying: {}", linkledger_store::ports::ErrorChain(&reason))
                }
                Err(other) => panic!(
                    "booking {event:?} failed: {}",
                    linkledger_store::ports::ErrorChain(&other)
                ),
            }
        }
        panic!("booking {event:?} kept asking for a retry");
    }

    async fn adjust(&mut self, creator: usize, amounts: &[i64], at: OffsetDateTime) {
        let entries: Vec<LedgerEntry> = amounts
            .iter()
            .map(|&minor| {
                LedgerEntry::adjustment(
                    self.creators[creator].0.clone(),
                    self.program.clone(),
                    Money::from_minor(minor, self.usd),
                    at,
                )
                .with_note("generated")
            })
            .collect();
        // A transaction holds at most 100 writes: the entries and their audit entry.
        for part in entries.chunks(50) {
            let audit = AuditEntry::new::<()>(
                time::OffsetDateTime::now_utc(),
                &Actor::operator("test"),
                "ledger.adjust",
                "generated",
                None,
                None,
            );
            self.app
                .store
                .append_entries(part, &audit)
                .await
                .expect("adjustments stored");
        }
        for &minor in amounts {
            self.model[creator].entries.push((i128::from(minor), at));
        }
    }

    async fn apply(&mut self, step: Step) {
        match step {
            Step::Sale { creator, net, at } => {
                let at = at.at(self.now);
                let order_id = format!("o{}", self.orders.len());
                let outcome = self
                    .book(Fact::Sale(Sale {
                        order_id,
                        aliases: vec![],
                        occurred_at: at,
                        net: Money::from_minor(net, self.usd),
                        refund_basis: Money::from_minor(net, self.usd),
                        click_id: None,
                        coupons: vec![self.creators[creator].1.clone()],
                        customer_email_hash: None,
                        customer_ref: None,
                        lines: vec![],
                        renewal: false,
                    }))
                    .await;
                assert!(
                    matches!(
                        outcome,
                        Outcome::Booked {
                            status: ConversionStatus::Approved,
                            ..
                        }
                    ),
                    "{outcome:?}"
                );
                let commission = half_even(i128::from(net) * 1000, 10_000);
                self.orders.push(ModelOrder {
                    creator,
                    net: i128::from(net),
                    commission,
                    available: at,
                    refunded: 0,
                    reversed: 0,
                });
                self.model[creator].entries.push((commission, at));
            }
            Step::Refund { order, percent, at } => {
                if self.orders.is_empty() {
                    return;
                }
                let index = order % self.orders.len();
                let o = self.orders[index].clone();
                let total = o.net * i128::from(percent) / 100;
                let at = at.at(self.now);
                let now = time::OffsetDateTime::now_utc();
                let outcome = self
                    .book(Fact::Refund(Refund {
                        order_refs: vec![format!("o{index}")],
                        occurred_at: at,
                        refunded: Refunded::Cumulative(Money::from_minor(
                            i64::try_from(total).unwrap(),
                            self.usd,
                        )),
                    }))
                    .await;
                if total <= o.refunded {
                    assert!(matches!(outcome, Outcome::Duplicate), "{outcome:?}");
                    return;
                }
                let target = half_even(o.commission * total.min(o.net), o.net);
                let reversal = target - o.reversed;
                match outcome {
                    Outcome::Refunded { reversed, .. } => {
                        assert_eq!(i128::from(reversed.minor()), reversal.max(0), "{o:?}")
                    }
                    other => panic!("a refund of {total} on {o:?}: {other:?}"),
                }
                if reversal > 0 {
                    // Pending while its accrual is; after that, the refund's day.
                    let available = o.available.max(at.min(now));
                    self.model[o.creator].entries.push((-reversal, available));
                }
                let o = &mut self.orders[index];
                o.refunded = total;
                o.reversed = target;
            }
            Step::Adjustment {
                creator,
                amount,
                at,
            } => {
                let at = at.at(self.now);
                self.adjust(creator, &[amount], at).await;
            }
            Step::Burst {
                creator,
                negative,
                at,
            } => {
                let at = at.at(self.now);
                let sign = if negative { -1 } else { 1 };
                self.adjust(creator, &[sign * MAX_AMOUNT_MINOR; 101], at)
                    .await;
            }
            Step::Run => {
                if self.next_date < self.now.date() {
                    let date = self.next_date;
                    self.run(date).await;
                    self.next_date += Duration::days(1);
                }
            }
        }
    }

    /// Settles `date` and checks every creator's line against the model, then that a rerun
    /// changes nothing.
    async fn run(&mut self, date: Date) {
        let store = &self.app.store;
        let run = settle(store, date, None, |_| {})
            .await
            .unwrap_or_else(|e| panic!("the run of {date} failed: {e}"));
        assert_eq!(run.status, RunStatus::Completed);
        let cutoff = cutoff(date);
        let lines = store.settlement_lines(date).await.expect("lines");
        let mut failed = 0;
        for (i, (creator, _)) in self.creators.iter().enumerate() {
            let model = &mut self.model[i];
            let available: Vec<i128> = model
                .entries
                .iter()
                .filter(|(_, at)| *at < cutoff)
                .map(|(a, _)| *a)
                .collect();
            let balance: i128 = available.iter().sum::<i128>() - model.paid;
            let count = available.len() as u64;
            let line = lines.iter().find(|l| &l.creator_id == creator);
            let Some(line) = line else {
                assert!(
                    balance == 0 && count == model.counted,
                    "{date}: no line for creator {i}, but the model has {balance} over {count} entries"
                );
                continue;
            };
            if balance.abs() > i128::from(MAX_BALANCE_MINOR) {
                assert_eq!(
                    line.status,
                    LineStatus::Failed,
                    "{date}: {line:?}, model {balance}"
                );
                assert!(line
                    .failure
                    .as_deref()
                    .unwrap_or("")
                    .contains("beyond the limit"));
                assert_eq!((line.amount.minor(), line.payout_id.as_ref()), (0, None));
                failed += 1;
                continue;
            }
            assert_eq!(
                line.balance.map(|b| i128::from(b.minor())),
                Some(balance),
                "{date}: {line:?}"
            );
            assert_eq!(
                line.entries_settled,
                count - model.counted,
                "{date}: {line:?}"
            );
            model.counted = count;
            if balance >= MINIMUM {
                assert_eq!(line.status, LineStatus::Paid, "{line:?}");
                assert_eq!(i128::from(line.amount.minor()), balance);
                assert!(line.payout_id.is_some());
                model.paid += balance;
            } else {
                assert_eq!(line.status, LineStatus::Carried, "{line:?}");
                assert_eq!(line.amount.minor(), 0);
                assert_eq!(
                    (
                        i128::from(line.carried.minor()),
                        i128::from(line.owed.minor())
                    ),
                    (balance.max(0), (-balance).max(0)),
                    "{line:?}"
                );
            }
        }
        assert_eq!(run.failed_lines, failed);
        assert_eq!(
            settle(store, date, None, |_| {}).await.expect("a rerun"),
            run,
            "a rerun changes nothing"
        );
    }

    /// Settles every remaining past date, then checks each creator's books against the model.
    async fn finish(mut self) {
        while self.next_date < self.now.date() {
            let date = self.next_date;
            self.run(date).await;
            self.next_date += Duration::days(1);
        }
        let mut payout_lines: HashMap<CreatorId, i128> = HashMap::new();
        let runs = self.app.store.runs(100, None).await.expect("runs").items;
        for run in &runs {
            for line in self
                .app
                .store
                .settlement_lines(run.date)
                .await
                .expect("lines")
            {
                if line.status == LineStatus::Paid {
                    *payout_lines.entry(line.creator_id).or_default() +=
                        i128::from(line.amount.minor());
                }
            }
        }
        for (i, (creator, _)) in self.creators.iter().enumerate() {
            let model = &self.model[i];
            let entries = self
                .app
                .store
                .all_ledger_entries(Some(creator), None)
                .await
                .expect("the ledger");
            let payout_entries: i128 = entries
                .iter()
                .filter(|e| e.kind == EntryKind::Payout)
                .map(|e| i128::from(e.amount.minor()))
                .sum();
            let mut records = 0i128;
            let mut after = None;
            loop {
                let page = self
                    .app
                    .store
                    .payouts_of_creator(creator, 100, after)
                    .await
                    .expect("payouts");
                records += page
                    .items
                    .iter()
                    .map(|p| i128::from(p.amount.minor()))
                    .sum::<i128>();
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            assert_eq!(
                records, model.paid,
                "creator {i}: payout records = the model's payouts"
            );
            assert_eq!(-payout_entries, model.paid, "creator {i}: payout entries");
            assert_eq!(
                payout_lines.get(creator).copied().unwrap_or(0),
                model.paid,
                "creator {i}: paid lines"
            );
            let open: i128 = entries.iter().map(|e| i128::from(e.amount.minor())).sum();
            assert_eq!(
                records + open,
                model.total(),
                "creator {i}: payouts + open balance = accruals − reversals + adjustments"
            );
        }
    }
}

fn block_on(future: impl std::future::Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(future);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]
    #[test]
    fn money_is_conserved_across_runs_against_a_model(steps in proptest::collection::vec(step(), 1..32)) {
        block_on(async {
            let mut history = History::new().await;
            for step in steps {
                history.apply(step).await;
            }
            history.finish().await;
        });
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3, ..ProptestConfig::default() })]
    /// One creator with thousands of entries near the largest amount, of both signs, at
    /// generated times (more than one page of the ledger: 1 000 a page), settled date by date.
    #[test]
    fn thousands_of_extreme_entries_per_creator_settle_as_the_model_says(
        entries in proptest::collection::vec(
            (amount(), any::<bool>(), when()),
            2_000..3_000,
        ),
        sales in proptest::collection::vec((amount(), when()), 0..40),
    ) {
        block_on(async {
            let mut history = History::new().await;
            let mut by_time: Vec<(OffsetDateTime, i64)> = entries
                .iter()
                .map(|&(minor, negative, at)| (at.at(history.now), if negative { -minor } else { minor }))
                .collect();
            by_time.sort_by_key(|(at, _)| *at);
            for group in by_time.chunk_by(|a, b| a.0 == b.0) {
                let amounts: Vec<i64> = group.iter().map(|(_, m)| *m).collect();
                history.adjust(0, &amounts, group[0].0).await;
            }
            for (net, at) in sales {
                history.apply(Step::Sale { creator: 0, net, at }).await;
            }
            history.finish().await;
        });
    }
}
