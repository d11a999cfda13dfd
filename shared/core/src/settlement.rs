//! Settlement records and rules (flow 4): the run, its lines and totals, payouts, a creator's
//! settlement state, the cutoff and which dates may be settled, and the pure decisions of a run:
//! what a line comes to ([`decide_line`]) and what a day's clicks earn ([`ClickDay`]). The run
//! itself (reading the ledger, writing lines and payouts) is the store crate's `settlement`
//! module: it gathers each line's facts, calls [`decide_line`] with the time, and writes once.
//!
//! Nightly settlement (flow 4): for one UTC date, every creator's available balance per currency
//! is paid out when it reaches the program's minimum, or carried to the next run.
//!
//! The unit of work is (date, creator, currency), written as **one transaction**: the report
//! line (created only if absent: the exactly-once guard), the creator's settlement state
//! (version-checked), and, when paying, the payout record and its negative `payout` ledger entry.
//! A second run of the same date, a resumed run after a crash, or two runs at the same moment all
//! meet the same guards, so each creator is paid once for the date and nothing is skipped.
//!
//! What is payable is derived from the append-only ledger, never from flags on entries:
//! balance at the cutoff = the sum of every entry (accruals, reversals, adjustments, earlier
//! payouts) available before the cutoff. Earlier payouts are in that sum, so whatever was paid is
//! never paid again, and an entry booked late for an old date is simply part of the next run's
//! sum. A negative balance (a refund after payout) is carried and netted by later accruals.
//!
//! **One creator never stops a run.** A line that cannot be computed (its balance past
//! [`crate::limits::MAX_BALANCE_MINOR`], an unreadable entry, any error of that creator that is
//! not a store outage) is written as a `failed` line with its reason, logged as the event
//! `settlement line failed` (the alarm's metric filter), and the run goes on and completes.
//! Nothing is paid or counted for it, so its whole balance is still in the next date's sum; and
//! running the same date again while it is the latest run retries the failed lines
//! ([`retry_failed`]). Only a store outage stops a run (left `running`, resumed by a rerun).
//!
//! Before the creators, the day's per-click commission is rolled up into accruals
//! ([`roll_up_clicks`]), once per (date, program, creator); a program whose roll-up fails is
//! recorded on the run and retried the same way.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime, Time};

use crate::click::Click;
use crate::creator::Creator;
use crate::ids::{ClickId, CreatorId, PayoutId, ProgramId};
use crate::ledger::{EntryKind, LedgerEntry};
use crate::money::{Currency, Money, MoneyError};
use crate::program::{ClickCommission, Program};

/// Dates on the wire and in stored records: ISO 8601 `YYYY-MM-DD` strings (the OpenAPI
/// `format: date`). Records written before this rule hold `time`'s default form, a
/// `[year, day of the year]` array (`[2026, 331]`); both are read, only strings are written.
pub mod serde_date {
    use serde::de::{self, SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};
    use time::Date;

    pub fn serialize<S: Serializer>(date: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(date)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        d.deserialize_any(DateVisitor)
    }

    struct DateVisitor;

    impl<'de> Visitor<'de> for DateVisitor {
        type Value = Date;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a date as \"YYYY-MM-DD\" (or the older [year, ordinal] array)")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Date, E> {
            crate::parse_date(text).ok_or_else(|| E::custom("expected a date as YYYY-MM-DD"))
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Date, A::Error> {
            let year: i32 = seq
                .next_element()?
                .ok_or_else(|| de::Error::invalid_length(0, &self))?;
            let ordinal: u16 = seq
                .next_element()?
                .ok_or_else(|| de::Error::invalid_length(1, &self))?;
            if seq.next_element::<de::IgnoredAny>()?.is_some() {
                return Err(de::Error::invalid_length(3, &self));
            }
            Date::from_ordinal_date(year, ordinal).map_err(de::Error::custom)
        }
    }

    /// The same for `Option<Date>` (absent or `null` is `None`).
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};
        use time::Date;

        pub fn serialize<S: Serializer>(date: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
            match date {
                Some(date) => s.collect_str(date),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
            #[derive(Deserialize)]
            struct Wrapped(#[serde(with = "super")] Date);
            Ok(Option::<Wrapped>::deserialize(d)?.map(|Wrapped(date)| date))
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Completed,
}

/// A run's totals in one currency. `carried` and `owed` are never netted against each other:
/// a creator who owes money (a negative balance, after a refund of paid commission) shows in
/// `owed`, whatever others carry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredTotal")]
pub struct CurrencyTotal {
    pub currency: Currency,
    pub paid: Money,
    pub payouts: u64,
    /// Positive balances left for the next run (below the minimum payout). Never negative.
    pub carried: Money,
    pub carried_lines: u64,
    /// What creators owe (their negative balances, as a positive amount), netted by their
    /// later earnings. Never negative.
    pub owed: Money,
    pub owed_lines: u64,
    /// Lines that could not be settled (each has its `failure`); their balances are in no total.
    pub failed_lines: u64,
}

/// How a total was stored before `owed` existed: `carried` was the net of every unpaid line.
#[derive(Deserialize)]
struct StoredTotal {
    currency: Currency,
    paid: Money,
    payouts: u64,
    carried: Money,
    carried_lines: u64,
    owed: Option<Money>,
    #[serde(default)]
    owed_lines: u64,
    #[serde(default)]
    failed_lines: u64,
}

impl From<StoredTotal> for CurrencyTotal {
    fn from(t: StoredTotal) -> Self {
        let (carried, carried_lines, owed, owed_lines) = match t.owed {
            Some(owed) => (t.carried, t.carried_lines, owed, t.owed_lines),
            // A run completed before the split: its net carry is all that is known. A negative
            // net is shown as owed, so neither figure is ever negative.
            None if t.carried.is_negative() => {
                let (carried, owed) = split_carry(t.carried);
                (carried, 0, owed, t.carried_lines)
            }
            None => (t.carried, t.carried_lines, Money::zero(t.currency), 0),
        };
        Self {
            currency: t.currency,
            paid: t.paid,
            payouts: t.payouts,
            carried,
            carried_lines,
            owed,
            owed_lines,
            failed_lines: t.failed_lines,
        }
    }
}

/// A balance not paid out as (carried ≥ 0, owed ≥ 0).
pub fn split_carry(balance: Money) -> (Money, Money) {
    let zero = Money::zero(balance.currency());
    if balance.is_negative() {
        // Bounded balances (±MAX_BALANCE_MINOR) always negate; saturate rather than panic.
        let owed = balance.minor().checked_neg().unwrap_or(i64::MAX);
        (zero, Money::from_minor(owed, balance.currency()))
    } else {
        (balance, zero)
    }
}

/// A program whose click roll-up failed in a run (retried by rerunning the date).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollUpFailure {
    pub program_id: ProgramId,
    pub reason: String,
}

/// At most this many roll-up failures are kept on a run record (the count is in the log).
pub const MAX_RECORDED_ROLLUP_FAILURES: usize = 100;

/// The status record of one run, keyed by its date.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementRun {
    #[serde(with = "serde_date")]
    pub date: Date,
    /// Entries available before this instant are settled (the end of `date`, UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub cutoff: OffsetDateTime,
    pub status: RunStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub completed_at: Option<OffsetDateTime>,
    /// Report lines written (creators and currencies with something to pay or carry, and
    /// failed lines).
    pub lines: u64,
    /// Lines that could not be settled (see their `failure`); rerunning the date while it is
    /// the latest run retries them, and the next date's run includes their balances anyway.
    #[serde(default)]
    pub failed_lines: u64,
    /// Programs whose per-click roll-up failed (retried the same way).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollup_failures: Vec<RollUpFailure>,
    pub totals: Vec<CurrencyTotal>,
    /// Fanned-out runs (the settlement function): how many chunks of creators were enqueued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunks: Option<u64>,
    /// Whether finance was told on the finance queue (`claimed` first, then `sent`).
    #[serde(default)]
    pub announced: Announced,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Announced {
    #[default]
    No,
    Claimed,
    Sent,
}

/// One message of a fanned-out run: a slice of the creators to settle for `date`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    #[serde(with = "serde_date")]
    pub date: Date,
    pub index: u64,
    pub creators: Vec<CreatorId>,
}

/// Creators per chunk of a fanned-out run (an SQS message of ~30 KB).
pub const CHUNK_SIZE: usize = 1000;
/// Creators settled at the same time within a run or a chunk.
pub const CONCURRENCY: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineStatus {
    /// The balance reached the minimum and was paid (`payout_id`).
    Paid,
    /// Below the minimum, or negative: carried (`carried`) or owed (`owed`).
    Carried,
    /// Could not be computed (`failure`): nothing paid, the balance stays for a retry.
    Failed,
}

/// One line of a run's report: a creator's balance in one currency at the cutoff.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredLine")]
pub struct SettlementLine {
    #[serde(with = "serde_date")]
    pub date: Date,
    pub creator_id: CreatorId,
    pub payout_email: String,
    pub currency: Currency,
    pub status: LineStatus,
    /// The balance at the cutoff: what was carried in plus what became available. Absent on
    /// a failed line (it could not be computed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<Money>,
    /// Paid by this run (zero unless paid).
    pub amount: Money,
    /// A positive balance left for the next run (zero when paid, owed or failed).
    pub carried: Money,
    /// A negative balance, as a positive amount: what the creator owes, netted by later
    /// earnings (zero otherwise).
    pub owed: Money,
    /// Ledger entries that became available since the creator's previous settlement.
    pub entries_settled: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payout_id: Option<PayoutId>,
    /// Why a failed line could not be settled (no personal data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// A line as stored, before `status`, `owed` and `failure` existed (`carried` was signed).
#[derive(Deserialize)]
struct StoredLine {
    #[serde(with = "serde_date")]
    date: Date,
    creator_id: CreatorId,
    payout_email: String,
    currency: Currency,
    status: Option<LineStatus>,
    balance: Option<Money>,
    amount: Money,
    carried: Money,
    owed: Option<Money>,
    entries_settled: u64,
    payout_id: Option<PayoutId>,
    failure: Option<String>,
}

impl From<StoredLine> for SettlementLine {
    fn from(l: StoredLine) -> Self {
        let (carried, owed) = match l.owed {
            Some(owed) => (l.carried, owed),
            None => split_carry(l.carried),
        };
        let status = l.status.unwrap_or(if l.payout_id.is_some() {
            LineStatus::Paid
        } else {
            LineStatus::Carried
        });
        Self {
            date: l.date,
            creator_id: l.creator_id,
            payout_email: l.payout_email,
            currency: l.currency,
            status,
            balance: l.balance,
            amount: l.amount,
            carried,
            owed,
            entries_settled: l.entries_settled,
            payout_id: l.payout_id,
            failure: l.failure,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayoutStatus {
    Pending,
    Paid,
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payout {
    /// Derived from its line ([`PayoutId::for_line`]).
    pub id: PayoutId,
    #[serde(with = "serde_date")]
    pub date: Date,
    pub creator_id: CreatorId,
    /// The program its ledger entry is listed under (a payout covers every program of the
    /// creator in its currency).
    pub program_id: ProgramId,
    pub payout_email: String,
    /// Positive.
    pub amount: Money,
    pub status: PayoutStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_ref: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "serde_date::option"
    )]
    pub paid_on: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// A creator's settlement state in one currency: how many entries earlier runs counted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettleState {
    pub entries_counted: u64,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "serde_date::option"
    )]
    pub last_date: Option<Date>,
}

/// What settling one (date, creator, currency) reads, in this order: the creator's state,
/// then its ledger (so the ledger holds every payout of every run that committed before the
/// state was read), and the line already written for the date.
#[derive(Clone, Copy, Debug)]
pub struct LineFacts<'a> {
    pub date: Date,
    pub creator: &'a Creator,
    pub currency: Currency,
    /// Every entry of the creator in `currency`.
    pub entries: &'a [&'a LedgerEntry],
    /// The creator's settlement state in `currency` (`None`: never settled).
    pub state: Option<&'a SettleState>,
    /// The status of the line already written for `date`, if any.
    pub existing: Option<LineStatus>,
    /// Every program's minimum payout.
    pub min_payouts: &'a HashMap<ProgramId, Money>,
}

/// What one (date, creator, currency) writes, in one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettledLine {
    pub line: SettlementLine,
    /// The creator's new state in the currency.
    pub state: SettleState,
    /// When the line pays: the payout and its negative ledger entry.
    pub payout: Option<(Payout, LedgerEntry)>,
}

/// What a settlement line comes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineDecision {
    /// A line of the date that did not fail is there (another run wrote it), or a later date's
    /// run has settled the creator since (its sum held everything this line would pay).
    AlreadySettled,
    /// Nothing available, nothing new, nothing to replace: no line.
    Nothing,
    Settle(Box<SettledLine>),
}

/// Settles one creator's currency for a date at `now` (the module documentation has the
/// rules): the balance at the cutoff is paid when it is positive and reaches the highest
/// minimum payout among the programs of the creator's entries in the currency, and else
/// carried (positive) or owed (negative). A failed line of the date is always replaced, even
/// by an empty one. `Err` for a balance that cannot be computed (past the balance bound):
/// that line fails.
pub fn decide_line(facts: &LineFacts<'_>, now: OffsetDateTime) -> Result<LineDecision, MoneyError> {
    let LineFacts {
        date,
        creator,
        currency,
        entries,
        ..
    } = *facts;
    if facts
        .existing
        .is_some_and(|status| status != LineStatus::Failed)
    {
        return Ok(LineDecision::AlreadySettled);
    }
    let before = facts.state.cloned().unwrap_or_default();
    if before.last_date.is_some_and(|last| last > date) {
        return Ok(LineDecision::AlreadySettled);
    }
    let cutoff = cutoff(date);
    let available: Vec<&LedgerEntry> = entries
        .iter()
        .copied()
        .filter(|e| e.available_at < cutoff)
        .collect();
    let balance = balance_at(&available, currency)?;
    let counted = available
        .iter()
        .filter(|e| e.kind != EntryKind::Payout)
        .count() as u64;
    let new_entries = counted.saturating_sub(before.entries_counted);
    if balance.minor() == 0 && new_entries == 0 && facts.existing.is_none() {
        return Ok(LineDecision::Nothing);
    }
    let minimum = entries
        .iter()
        .filter_map(|e| facts.min_payouts.get(&e.program_id))
        .filter(|m| m.currency() == currency)
        .map(Money::minor)
        .max()
        .unwrap_or(0);
    // The payout entry is listed under the program of the latest entry it settles.
    let program = available
        .iter()
        .rev()
        .find(|e| e.kind != EntryKind::Payout)
        .or(available.last())
        .map(|e| e.program_id.clone());
    let pays = balance.minor() > 0 && balance.minor() >= minimum;
    let zero = Money::zero(currency);
    let (carried, owed) = if pays {
        (zero, zero)
    } else {
        split_carry(balance)
    };
    let mut line = SettlementLine {
        date,
        creator_id: creator.id.clone(),
        payout_email: creator.payout_email.clone(),
        currency,
        status: if pays {
            LineStatus::Paid
        } else {
            LineStatus::Carried
        },
        balance: Some(balance),
        amount: if pays { balance } else { zero },
        carried,
        owed,
        entries_settled: new_entries,
        payout_id: None,
        failure: None,
    };
    let payout = match (pays, program) {
        (true, Some(program_id)) => {
            let payout = Payout {
                id: PayoutId::for_line(date, &creator.id, currency),
                date,
                creator_id: creator.id.clone(),
                program_id,
                payout_email: creator.payout_email.clone(),
                amount: balance,
                status: PayoutStatus::Pending,
                created_at: now,
                external_ref: None,
                paid_on: None,
                failure: None,
            };
            line.payout_id = Some(payout.id.clone());
            let entry = LedgerEntry::payout(&payout, now)?;
            Some((payout, entry))
        }
        _ => None,
    };
    Ok(LineDecision::Settle(Box::new(SettledLine {
        line,
        state: SettleState {
            entries_counted: counted,
            last_date: Some(date),
        },
        payout,
    })))
}

/// The sum of `entries` (one currency), added in `i128` and bounded by
/// [`crate::limits::MAX_BALANCE_MINOR`].
pub fn balance_at(entries: &[&LedgerEntry], currency: Currency) -> Result<Money, MoneyError> {
    let mut sum: i128 = 0;
    for e in entries {
        if e.amount.currency() != currency {
            return Err(MoneyError::CurrencyMismatch {
                left: currency,
                right: e.amount.currency(),
            });
        }
        sum = sum.saturating_add(i128::from(e.amount.minor()));
    }
    let minor = crate::limits::check_balance(sum).map_err(|_| MoneyError::BalanceTooLarge)?;
    Ok(Money::from_minor(minor, currency))
}

/// The per-click commission of one program for one UTC day ([`ClickDay::accrual`]).
#[derive(Clone, Copy, Debug)]
pub struct ClickDay<'a> {
    pub date: Date,
    pub program: &'a Program,
    pub plan: &'a ClickCommission,
    /// The day's clicks are those of `[from_ms, to_ms)` (Unix milliseconds).
    pub from_ms: i64,
    pub to_ms: i64,
    /// The day's accruals are payable at the end of the day plus the holding period.
    pub available_at: OffsetDateTime,
}

impl<'a> ClickDay<'a> {
    pub fn new(
        date: Date,
        program: &'a Program,
        plan: &'a ClickCommission,
    ) -> Result<Self, MoneyError> {
        let day_end = cutoff(date);
        let day_start = day_end
            .checked_sub(Duration::days(1))
            .ok_or(MoneyError::Overflow)?;
        let ms = |t: OffsetDateTime| {
            i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000))
                .map_err(|_| MoneyError::Overflow)
        };
        let available_at = day_end
            .checked_sub(Duration::microseconds(1))
            .and_then(|t| t.checked_add(Duration::days(i64::from(program.holding_days))))
            .ok_or(MoneyError::Overflow)?;
        Ok(Self {
            date,
            program,
            plan,
            from_ms: ms(day_start)?,
            to_ms: ms(day_end)?,
            available_at,
        })
    }

    /// The accrual of `creator`'s `count` paid clicks of the day: capped at the plan's daily
    /// cap, at the plan's amount each (`None` when nothing is paid). An amount past the
    /// amount bound is `MoneyError::TooLarge`.
    pub fn accrual(
        &self,
        creator: CreatorId,
        count: u64,
        now: OffsetDateTime,
    ) -> Result<Option<LedgerEntry>, MoneyError> {
        let paid = count.min(u64::from(self.plan.daily_cap));
        if paid == 0 {
            return Ok(None);
        }
        let amount = self
            .plan
            .amount
            .times_fraction(i64::try_from(paid).unwrap_or(i64::MAX), 1)?;
        crate::limits::check_amount(amount.minor()).map_err(|_| MoneyError::TooLarge)?;
        Ok(Some(LedgerEntry::click_accrual(
            creator,
            self.program.id.clone(),
            amount,
            self.available_at,
            format!("{paid} paid clicks on {} ({count} unique)", self.date),
            now,
        )))
    }
}

/// The clicks of `clicks` that pay: unique (in `unique`) and not a bot's.
pub fn paid_clicks(clicks: &[Click], unique: &HashSet<ClickId>) -> u64 {
    clicks
        .iter()
        .filter(|c| !c.bot && unique.contains(&c.id))
        .count() as u64
}

/// The end of `date` in UTC: entries available before it belong to that date's run.
pub fn cutoff(date: Date) -> OffsetDateTime {
    date.next_day()
        .unwrap_or(date)
        .with_time(Time::MIDNIGHT)
        .assume_utc()
}

/// The one rule for which dates may be settled, at `now` (the API, the CLI, the nightly task
/// and the settlement function all go through the store's `settlement::begin`, which applies it): a day is settled
/// once it is over in UTC — so commission whose holding period ends later today, and today's
/// last clicks, are never settled early — and not before 2000-01-01 (the domain's first day).
pub fn settleable_date(date: Date, now: OffsetDateTime) -> Result<Date, NotSettleable> {
    let today = now.date();
    if date >= today {
        return Err(NotSettleable::NotPast {
            date,
            latest: today.previous_day().unwrap_or(today),
        });
    }
    if date < crate::limits::earliest().date() {
        return Err(NotSettleable::TooEarly(date));
    }
    Ok(date)
}

/// What finance is told on its queue when a run completes: one message per date (a resumed
/// run may send it again: `dedupe_key` names the date), with the run's totals and where its
/// reports are.
#[derive(Clone, Debug, Serialize)]
pub struct FinanceAnnouncement<'a> {
    /// Always `settlement.completed`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub dedupe_key: String,
    #[serde(with = "serde_date")]
    pub date: Date,
    pub lines: u64,
    pub failed_lines: u64,
    pub totals: &'a [CurrencyTotal],
    pub report: String,
    pub report_csv: String,
    pub paypal_csv: String,
}

impl<'a> FinanceAnnouncement<'a> {
    pub fn of(run: &'a SettlementRun) -> Self {
        let date = run.date;
        Self {
            kind: "settlement.completed",
            dedupe_key: format!("settlement-{date}"),
            date,
            lines: run.lines,
            failed_lines: run.failed_lines,
            totals: &run.totals,
            report: format!("/api/settlements/{date}"),
            report_csv: format!("/api/settlements/{date}/report.csv"),
            paypal_csv: format!("/api/settlements/{date}/paypal.csv"),
        }
    }
}

/// Why a date cannot be settled (yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotSettleable {
    #[error("only a past date can be settled: {date} is not over yet in UTC (the latest date that can be settled is {latest})")]
    NotPast { date: Date, latest: Date },
    #[error("{0} is before 2000-01-01: nothing can be settled that early")]
    TooEarly(Date),
}

/// Totals of a run's lines, per currency: paid, carried (≥ 0) and owed (≥ 0) apart, and the
/// failed lines counted. Sums are added in `i128`; a total past `i64` (more than 9 000 lines
/// at the largest balance) saturates and is logged rather than stopping the run.
pub fn totals(lines: &[SettlementLine]) -> Vec<CurrencyTotal> {
    #[derive(Default)]
    struct Sums {
        paid: i128,
        payouts: u64,
        carried: i128,
        carried_lines: u64,
        owed: i128,
        owed_lines: u64,
        failed_lines: u64,
    }
    let mut by: BTreeMap<Currency, Sums> = BTreeMap::new();
    for line in lines {
        let t = by.entry(line.currency).or_default();
        match line.status {
            LineStatus::Failed => t.failed_lines = t.failed_lines.saturating_add(1),
            LineStatus::Paid => {
                t.paid = t.paid.saturating_add(i128::from(line.amount.minor()));
                t.payouts = t.payouts.saturating_add(1);
            }
            LineStatus::Carried if line.owed.minor() > 0 => {
                t.owed = t.owed.saturating_add(i128::from(line.owed.minor()));
                t.owed_lines = t.owed_lines.saturating_add(1);
            }
            LineStatus::Carried => {
                t.carried = t.carried.saturating_add(i128::from(line.carried.minor()));
                t.carried_lines = t.carried_lines.saturating_add(1);
            }
        }
    }
    by.into_iter()
        .map(|(currency, t)| {
            let money = |sum: i128, what: &str| {
                let minor = i64::try_from(sum).unwrap_or_else(|_| {
                    tracing::error!(%currency, total = what, "a settlement total is beyond i64; reported saturated");
                    if sum < 0 {
                        i64::MIN
                    } else {
                        i64::MAX
                    }
                });
                Money::from_minor(minor, currency)
            };
            CurrencyTotal {
                currency,
                paid: money(t.paid, "paid"),
                payouts: t.payouts,
                carried: money(t.carried, "carried"),
                carried_lines: t.carried_lines,
                owed: money(t.owed, "owed"),
                owed_lines: t.owed_lines,
                failed_lines: t.failed_lines,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn dates_are_written_as_iso_strings_and_read_in_both_forms() {
        let chunk = Chunk {
            date: date!(2026 - 11 - 27),
            index: 0,
            creators: vec![],
        };
        let json = serde_json::to_value(&chunk).unwrap();
        assert_eq!(json["date"], "2026-11-27");
        let old: Chunk =
            serde_json::from_str(r#"{"date": [2026, 331], "index": 0, "creators": []}"#).unwrap();
        assert_eq!(old.date, date!(2026 - 11 - 27));
        let new: Chunk =
            serde_json::from_str(r#"{"date": "2026-11-27", "index": 0, "creators": []}"#).unwrap();
        assert_eq!(new, old);
        for bad in [
            r#"{"date": "2026-13-01", "index": 0, "creators": []}"#,
            r#"{"date": [2026, 400], "index": 0, "creators": []}"#,
            r#"{"date": [2026], "index": 0, "creators": []}"#,
            r#"{"date": 2026, "index": 0, "creators": []}"#,
        ] {
            assert!(serde_json::from_str::<Chunk>(bad).is_err(), "{bad}");
        }
    }

    /// A run, a line, a payout and a state as the store held them before dates were strings
    /// (and before lines had a status and runs an owed total).
    #[test]
    fn records_stored_in_the_old_form_are_still_read() {
        let run: SettlementRun = serde_json::from_str(
            r#"{"date":[2026,331],"cutoff":"2026-11-28T00:00:00Z","status":"completed",
            "started_at":"2026-11-28T02:00:00Z","completed_at":"2026-11-28T02:00:05Z","lines":2,
            "totals":[{"currency":"USD","paid":{"amount":"30.00","currency":"USD"},"payouts":1,
            "carried":{"amount":"-19.00","currency":"USD"},"carried_lines":2}],"announced":"sent"}"#,
        )
        .unwrap();
        assert_eq!(run.date, date!(2026 - 11 - 27));
        assert_eq!(run.failed_lines, 0);
        let usd = Currency::parse("USD").unwrap();
        assert_eq!(run.totals[0].owed, Money::from_minor(1900, usd));
        assert_eq!(run.totals[0].carried, Money::zero(usd));
        let json = serde_json::to_value(&run).unwrap();
        assert_eq!(json["date"], "2026-11-27");

        let line: SettlementLine = serde_json::from_str(
            r#"{"date":[2026,331],"creator_id":"cre_anna000000000000000000","payout_email":"a@example.com",
            "currency":"USD","balance":{"amount":"-20.00","currency":"USD"},
            "amount":{"amount":"0.00","currency":"USD"},"carried":{"amount":"-20.00","currency":"USD"},
            "entries_settled":1}"#,
        )
        .unwrap();
        assert_eq!(line.status, LineStatus::Carried);
        assert_eq!(
            (line.carried, line.owed),
            (Money::zero(usd), Money::from_minor(2000, usd))
        );
        let paid: SettlementLine = serde_json::from_str(
            r#"{"date":[2026,331],"creator_id":"cre_anna000000000000000000","payout_email":"a@example.com",
            "currency":"USD","balance":{"amount":"30.00","currency":"USD"},
            "amount":{"amount":"30.00","currency":"USD"},"carried":{"amount":"0.00","currency":"USD"},
            "entries_settled":1,"payout_id":"pay_0123456789abcdef01234567"}"#,
        )
        .unwrap();
        assert_eq!(paid.status, LineStatus::Paid);
        assert_eq!(serde_json::to_value(&paid).unwrap()["date"], "2026-11-27");

        let payout: Payout = serde_json::from_str(
            r#"{"id":"pay_0123456789abcdef01234567","date":[2026,331],"creator_id":"cre_anna000000000000000000",
            "program_id":"prg_demo000000000000000000","payout_email":"a@example.com",
            "amount":{"amount":"30.00","currency":"USD"},"status":"paid",
            "created_at":"2026-11-28T02:00:01Z","external_ref":"PP-1","paid_on":[2026,335]}"#,
        )
        .unwrap();
        assert_eq!(payout.paid_on, Some(date!(2026 - 12 - 01)));
        let json = serde_json::to_value(&payout).unwrap();
        assert_eq!(
            (json["date"].clone(), json["paid_on"].clone()),
            ("2026-11-27".into(), "2026-12-01".into())
        );

        let state: SettleState =
            serde_json::from_str(r#"{"entries_counted":3,"last_date":[2026,331]}"#).unwrap();
        assert_eq!(state.last_date, Some(date!(2026 - 11 - 27)));
        let state: SettleState = serde_json::from_str(r#"{"entries_counted":3}"#).unwrap();
        assert_eq!(state.last_date, None);
        assert_eq!(
            serde_json::to_string(&SettleState {
                entries_counted: 1,
                last_date: Some(date!(2026 - 11 - 27))
            })
            .unwrap(),
            r#"{"entries_counted":1,"last_date":"2026-11-27"}"#
        );
    }

    #[test]
    fn only_days_that_are_over_can_be_settled() {
        let now = datetime!(2026-12-01 00:30 UTC);
        assert!(settleable_date(date!(2026 - 11 - 30), now).is_ok());
        assert!(matches!(
            settleable_date(date!(2026 - 12 - 01), now),
            Err(NotSettleable::NotPast { latest, .. }) if latest == date!(2026 - 11 - 30)
        ));
        assert!(settleable_date(date!(2027 - 01 - 01), now).is_err());
        assert!(settleable_date(date!(2000 - 01 - 01), now).is_ok());
        assert!(matches!(
            settleable_date(date!(1999 - 12 - 31), now),
            Err(NotSettleable::TooEarly(_))
        ));
        assert!(settleable_date(Date::MAX, now).is_err());
        assert!(settleable_date(Date::MIN, now).is_err());
    }

    #[test]
    fn finance_is_told_the_run_in_one_fixed_shape() {
        let run: SettlementRun = serde_json::from_str(
            r#"{"date":"2026-11-27","cutoff":"2026-11-28T00:00:00Z","status":"completed",
            "started_at":"2026-11-28T02:00:00Z","completed_at":"2026-11-28T02:00:05Z","lines":3,
            "failed_lines":1,"totals":[{"currency":"USD","paid":{"amount":"30.00","currency":"USD"},
            "payouts":1,"carried":{"amount":"0.00","currency":"USD"},"carried_lines":0,
            "owed":{"amount":"0.00","currency":"USD"},"owed_lines":0,"failed_lines":1}],
            "announced":"claimed"}"#,
        )
        .unwrap();
        let told = serde_json::to_value(FinanceAnnouncement::of(&run)).unwrap();
        let totals = serde_json::to_value(&run.totals).unwrap();
        assert_eq!(
            told,
            serde_json::json!({
                "type": "settlement.completed",
                "dedupe_key": "settlement-2026-11-27",
                "date": "2026-11-27",
                "lines": 3,
                "failed_lines": 1,
                "totals": totals,
                "report": "/api/settlements/2026-11-27",
                "report_csv": "/api/settlements/2026-11-27/report.csv",
                "paypal_csv": "/api/settlements/2026-11-27/paypal.csv",
            })
        );
        assert_eq!(told["totals"][0]["paid"]["amount"], "30.00");
    }

    #[test]
    fn totals_keep_carried_and_owed_apart() {
        let usd = Currency::parse("USD").unwrap();
        let line = |status, amount: i64, carried: i64, owed: i64| SettlementLine {
            date: date!(2026 - 11 - 27),
            creator_id: CreatorId::parse("cre_anna000000000000000000").unwrap(),
            payout_email: "a@example.com".into(),
            currency: usd,
            status,
            balance: None,
            amount: Money::from_minor(amount, usd),
            carried: Money::from_minor(carried, usd),
            owed: Money::from_minor(owed, usd),
            entries_settled: 1,
            payout_id: None,
            failure: None,
        };
        let t = &totals(&[
            line(LineStatus::Carried, 0, 0, 2000),
            line(LineStatus::Carried, 0, 100, 0),
            line(LineStatus::Paid, 3000, 0, 0),
            line(LineStatus::Failed, 0, 0, 0),
        ])[0];
        assert_eq!(
            (
                t.paid.minor(),
                t.payouts,
                t.carried.minor(),
                t.carried_lines
            ),
            (3000, 1, 100, 1)
        );
        assert_eq!((t.owed.minor(), t.owed_lines, t.failed_lines), (2000, 1, 1));
    }

    fn creator() -> Creator {
        Creator {
            id: CreatorId::parse("cre_anna000000000000000000").unwrap(),
            name: "Anna".into(),
            payout_email: "anna@example.com".into(),
            email_hash: "hash".into(),
            created_at: datetime!(2026-01-01 00:00 UTC),
        }
    }

    fn programs() -> [ProgramId; 2] {
        [
            ProgramId::parse("prg_low0000000000000000000").unwrap(),
            ProgramId::parse("prg_high000000000000000000").unwrap(),
        ]
    }

    const NOW: OffsetDateTime = datetime!(2026-11-28 02:00 UTC);
    const DATE: Date = date!(2026 - 11 - 27);

    /// An entry of `minor` cents, available `hours` after the cutoff of [`DATE`] (negative:
    /// before it), in `program`; a payout when `payout`.
    fn entry(minor: i64, hours: i64, program: &ProgramId, payout: bool) -> LedgerEntry {
        let usd = Currency::parse("USD").unwrap();
        let at = cutoff(DATE) + Duration::hours(hours);
        let mut e = LedgerEntry::adjustment(
            creator().id,
            program.clone(),
            Money::from_minor(minor, usd),
            at,
        );
        if payout {
            e.kind = EntryKind::Payout;
        }
        e
    }

    fn decide(
        entries: &[LedgerEntry],
        state: Option<&SettleState>,
        existing: Option<LineStatus>,
        minimums: &HashMap<ProgramId, Money>,
    ) -> Result<LineDecision, MoneyError> {
        let refs: Vec<&LedgerEntry> = entries.iter().collect();
        let c = creator();
        decide_line(
            &LineFacts {
                date: DATE,
                creator: &c,
                currency: Currency::parse("USD").unwrap(),
                entries: &refs,
                state,
                existing,
                min_payouts: minimums,
            },
            NOW,
        )
    }

    #[test]
    fn a_settled_line_and_a_later_dates_settlement_are_left_alone() {
        let [low, _] = programs();
        let entries = [entry(5000, -30, &low, false)];
        let none = HashMap::new();
        for status in [LineStatus::Paid, LineStatus::Carried] {
            assert_eq!(
                decide(&entries, None, Some(status), &none),
                Ok(LineDecision::AlreadySettled)
            );
        }
        let later = SettleState {
            entries_counted: 0,
            last_date: DATE.next_day(),
        };
        assert_eq!(
            decide(&entries, Some(&later), None, &none),
            Ok(LineDecision::AlreadySettled)
        );
        // Nothing new and nothing there: no line; but a failed line is always replaced.
        let counted = SettleState {
            entries_counted: 1,
            last_date: Some(DATE),
        };
        let zero = [entry(0, -30, &low, false)];
        assert_eq!(
            decide(&zero, Some(&counted), None, &none),
            Ok(LineDecision::Nothing)
        );
        assert!(matches!(
            decide(&zero, Some(&counted), Some(LineStatus::Failed), &none),
            Ok(LineDecision::Settle(_))
        ));
        // A balance past the bound cannot be computed: that line fails.
        let huge: Vec<LedgerEntry> = (0..101)
            .map(|_| entry(crate::limits::MAX_AMOUNT_MINOR, -30, &low, false))
            .collect();
        assert_eq!(
            decide(&huge, None, None, &none),
            Err(MoneyError::BalanceTooLarge)
        );
    }

    #[test]
    fn a_balance_at_the_highest_minimum_pays_and_a_cent_less_is_carried() {
        let usd = Currency::parse("USD").unwrap();
        let [low, high] = programs();
        let minimums: HashMap<ProgramId, Money> = [
            (low.clone(), Money::from_minor(1000, usd)),
            (high.clone(), Money::from_minor(5000, usd)),
        ]
        .into();
        // The high minimum counts though its entry is still pending.
        let pending = entry(100, 5, &high, false);
        let at = |minor| [entry(minor, -30, &low, false), pending.clone()];
        let Ok(LineDecision::Settle(paid)) = decide(&at(5000), None, None, &minimums) else {
            panic!("a line")
        };
        assert_eq!(
            (paid.line.status, paid.line.amount.minor()),
            (LineStatus::Paid, 5000)
        );
        let Ok(LineDecision::Settle(carried)) = decide(&at(4999), None, None, &minimums) else {
            panic!("a line")
        };
        assert_eq!(
            (carried.line.status, carried.line.carried.minor()),
            (LineStatus::Carried, 4999)
        );
        assert!(carried.payout.is_none());
    }

    #[test]
    fn a_days_clicks_earn_the_plans_amount_up_to_the_cap() {
        let usd = Currency::parse("USD").unwrap();
        let program: Program = serde_json::from_value(serde_json::json!({
            "id": "prg_demo000000000000000000", "name": "demo", "currency": "USD",
            "allowed_domains": [], "click_param": "ll_click", "attribution_window_days": 30,
            "holding_days": 2, "min_payout": {"amount": "0.00", "currency": "USD"},
            "precedence": "click", "plan": {}, "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap();
        let plan = ClickCommission {
            amount: Money::from_minor(5, usd),
            daily_cap: 100,
        };
        let day = ClickDay::new(DATE, &program, &plan).unwrap();
        assert_eq!(
            (day.from_ms, day.to_ms),
            (
                crate::clock::unix_ms(datetime!(2026-11-27 00:00 UTC)),
                crate::clock::unix_ms(datetime!(2026-11-28 00:00 UTC))
            )
        );
        assert_eq!(day.accrual(creator().id, 0, NOW), Ok(None));
        let capped = day.accrual(creator().id, 250, NOW).unwrap().unwrap();
        assert_eq!(capped.amount, Money::from_minor(500, usd));
        assert_eq!(capped.kind, EntryKind::Accrual);
        assert_eq!(
            capped.available_at,
            datetime!(2026-11-30 00:00 UTC) - Duration::microseconds(1)
        );
        assert_eq!(
            capped.note.as_deref(),
            Some("100 paid clicks on 2026-11-27 (250 unique)")
        );
        assert_eq!(capped.created_at, NOW);
    }

    proptest::proptest! {
        /// A line pays the model's balance at the cutoff when it is positive and reaches the
        /// highest minimum of the programs involved; else carries it (positive) or owes it
        /// (negative); and counts the entries that are new since the state.
        #[test]
        fn a_line_pays_the_models_balance_when_it_reaches_the_minimum_else_carries_or_owes(
            steps in proptest::collection::vec(
                (-50_000i64..100_000, -72i64..72, 0usize..2, proptest::bool::weighted(0.1)),
                0..20,
            ),
            minimums in (0i64..200_000, 0i64..200_000),
            counted in 0u64..10,
            failed_before: bool,
        ) {
            let usd = Currency::parse("USD").unwrap();
            let programs = programs();
            let entries: Vec<LedgerEntry> = steps
                .iter()
                .map(|&(minor, hours, p, payout)| entry(minor, hours, &programs[p], payout))
                .collect();
            let min_payouts: HashMap<ProgramId, Money> = programs
                .iter()
                .cloned()
                .zip([minimums.0, minimums.1].map(|m| Money::from_minor(m, usd)))
                .collect();
            let state = SettleState { entries_counted: counted, last_date: DATE.previous_day() };
            let existing = failed_before.then_some(LineStatus::Failed);
            let decided = decide(&entries, Some(&state), existing, &min_payouts).unwrap();

            // The model, from the generated steps.
            let available: Vec<_> = steps.iter().filter(|s| s.1 < 0).collect();
            let balance: i64 = available.iter().map(|s| s.0).sum();
            let new_entries = (available.iter().filter(|s| !s.3).count() as u64).saturating_sub(counted);
            let minimum = [0usize, 1]
                .into_iter()
                .filter(|p| steps.iter().any(|s| s.2 == *p))
                .map(|p| [minimums.0, minimums.1][p])
                .max()
                .unwrap_or(0);
            if balance == 0 && new_entries == 0 && !failed_before {
                proptest::prop_assert_eq!(decided, LineDecision::Nothing);
                return Ok(());
            }
            let LineDecision::Settle(settled) = decided else {
                proptest::prop_assert!(false, "expected a line, got {:?}", decided);
                unreachable!()
            };
            let line = &settled.line;
            proptest::prop_assert_eq!(line.balance.map(|b| b.minor()), Some(balance));
            proptest::prop_assert_eq!(line.entries_settled, new_entries);
            proptest::prop_assert_eq!(
                settled.state.entries_counted,
                available.iter().filter(|s| !s.3).count() as u64
            );
            proptest::prop_assert_eq!(settled.state.last_date, Some(DATE));
            if balance > 0 && balance >= minimum {
                proptest::prop_assert_eq!(line.status, LineStatus::Paid);
                proptest::prop_assert_eq!((line.amount.minor(), line.carried.minor(), line.owed.minor()), (balance, 0, 0));
                let Some((payout, entry)) = &settled.payout else {
                    proptest::prop_assert!(false, "a paid line has its payout");
                    unreachable!()
                };
                proptest::prop_assert_eq!(payout.amount.minor(), balance);
                proptest::prop_assert_eq!(&payout.id, &PayoutId::for_line(DATE, &creator().id, usd));
                proptest::prop_assert_eq!(line.payout_id.as_ref(), Some(&payout.id));
                proptest::prop_assert_eq!((entry.kind, entry.amount.minor()), (EntryKind::Payout, -balance));
                proptest::prop_assert_eq!(entry.available_at, cutoff(DATE) - Duration::microseconds(1));
                // Listed under the program of the latest available entry that is no payout.
                let latest = available.iter().rev().find(|s| !s.3).or(available.last()).map(|s| s.2);
                proptest::prop_assert_eq!(Some(&payout.program_id), latest.map(|p| &programs[p]));
            } else {
                proptest::prop_assert_eq!(line.status, LineStatus::Carried);
                proptest::prop_assert_eq!(line.amount.minor(), 0);
                proptest::prop_assert_eq!((line.carried.minor(), line.owed.minor()), (balance.max(0), (-balance).max(0)));
                proptest::prop_assert!(settled.payout.is_none() && line.payout_id.is_none());
            }
        }
    }
}
