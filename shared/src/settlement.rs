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
//! Before the creators, the day's per-click commission is rolled up into accruals
//! ([`roll_up_clicks`]), once per (date, program, creator).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Date, Duration, OffsetDateTime, Time};
use utoipa::ToSchema;

use crate::ids::{CreatorId, ProgramId};
use crate::ledger::{EntryKind, LedgerEntry};
use crate::money::{Currency, Money, MoneyError};
use crate::ports::StoreError;
use crate::store::{LineWrite, Store};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Completed,
}

/// Paid and carried totals of a run in one currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CurrencyTotal {
    pub currency: Currency,
    pub paid: Money,
    pub payouts: u64,
    /// Balances left for the next run (below the minimum, or negative).
    pub carried: Money,
    pub carried_lines: u64,
}

/// The status record of one run, keyed by its date.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SettlementRun {
    #[schema(value_type = String, format = Date)]
    pub date: Date,
    /// Entries available before this instant are settled (the end of `date`, UTC).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub cutoff: OffsetDateTime,
    pub status: RunStatus,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub started_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub completed_at: Option<OffsetDateTime>,
    /// Report lines written (creators and currencies with something to pay or carry).
    pub lines: u64,
    pub totals: Vec<CurrencyTotal>,
    /// Fanned-out runs (the settlement function): how many chunks of creators were enqueued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunks: Option<u64>,
    /// Whether finance was told on the finance queue (`claimed` first, then `sent`).
    #[serde(default)]
    pub announced: Announced,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
    pub date: Date,
    pub index: u64,
    pub creators: Vec<CreatorId>,
}

/// Creators per chunk of a fanned-out run (an SQS message of ~30 KB).
pub const CHUNK_SIZE: usize = 1000;
/// Creators settled at the same time within a run or a chunk.
pub const CONCURRENCY: usize = 16;

/// One line of a run's report: a creator's balance in one currency at the cutoff.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SettlementLine {
    #[schema(value_type = String, format = Date)]
    pub date: Date,
    pub creator_id: CreatorId,
    pub payout_email: String,
    pub currency: Currency,
    /// The balance at the cutoff: what was carried in plus what became available.
    pub balance: Money,
    /// Paid by this run (zero when carried).
    pub amount: Money,
    /// Left for the next run.
    pub carried: Money,
    /// Ledger entries that became available since the creator's previous settlement.
    pub entries_settled: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payout_id: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PayoutStatus {
    Pending,
    Paid,
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Payout {
    /// `pay_` and 24 hex characters, derived from (date, creator, currency): at most 30
    /// characters, as PayPal's batch file wants for its item id.
    pub id: String,
    #[schema(value_type = String, format = Date)]
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
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub paid_on: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// A creator's settlement state in one currency: how many entries earlier runs counted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettleState {
    pub entries_counted: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_date: Option<Date>,
}

pub fn payout_id(date: Date, creator: &CreatorId, currency: Currency) -> String {
    let digest = Sha256::digest(format!("{date}\0{creator}\0{currency}").as_bytes());
    format!("pay_{}", &hex::encode(digest)[..24])
}

/// The end of `date` in UTC: entries available before it belong to that date's run.
pub fn cutoff(date: Date) -> OffsetDateTime {
    date.next_day()
        .unwrap_or(date)
        .with_time(Time::MIDNIGHT)
        .assume_utc()
}

#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    #[error("a run for the later date {0} exists: dates settle in order")]
    LaterRunExists(Date),
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What settling one creator's currency did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineOutcome {
    Paid(Money),
    Carried(Money),
    /// Nothing available and nothing carried.
    Nothing,
    /// An earlier (or concurrent) run of this date already wrote it.
    AlreadySettled,
}

/// Progress reported while a run works through the creators.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    pub creators: u64,
    pub payouts: u64,
    pub carried: u64,
}

/// Settles one creator for `date` (every currency it has entries in). Minimum payouts come from
/// `programs` (the highest minimum among the programs its entries in that currency came from).
pub async fn settle_creator(
    store: &Store,
    date: Date,
    creator: &crate::creator::Creator,
    min_payouts: &HashMap<ProgramId, Money>,
) -> Result<Vec<LineOutcome>, SettleError> {
    let cutoff = cutoff(date);
    let entries = store.all_ledger_entries(Some(&creator.id), None).await?;
    let mut by_currency: BTreeMap<Currency, Vec<&LedgerEntry>> = BTreeMap::new();
    for entry in &entries {
        by_currency
            .entry(entry.amount.currency())
            .or_default()
            .push(entry);
    }
    let mut outcomes = Vec::new();
    for (currency, entries) in by_currency {
        if store
            .settlement_line(date, &creator.id, currency)
            .await?
            .is_some()
        {
            outcomes.push(LineOutcome::AlreadySettled);
            continue;
        }
        let available: Vec<&&LedgerEntry> =
            entries.iter().filter(|e| e.available_at < cutoff).collect();
        let mut balance = Money::zero(currency);
        for e in &available {
            balance = balance.checked_add(e.amount)?;
        }
        let counted = available
            .iter()
            .filter(|e| e.kind != EntryKind::Payout)
            .count() as u64;
        let state = store.settle_state(&creator.id, currency).await?;
        let before = state.as_ref().map(|s| s.record.clone()).unwrap_or_default();
        let new_entries = counted.saturating_sub(before.entries_counted);
        if balance.minor() == 0 && new_entries == 0 {
            outcomes.push(LineOutcome::Nothing);
            continue;
        }
        let minimum = entries
            .iter()
            .filter_map(|e| min_payouts.get(&e.program_id))
            .filter(|m| m.currency() == currency)
            .map(Money::minor)
            .max()
            .unwrap_or(0);
        let pays = balance.minor() > 0 && balance.minor() >= minimum;
        let zero = Money::zero(currency);
        let mut line = SettlementLine {
            date,
            creator_id: creator.id.clone(),
            payout_email: creator.payout_email.clone(),
            currency,
            balance,
            amount: if pays { balance } else { zero },
            carried: if pays { zero } else { balance },
            entries_settled: new_entries,
            payout_id: None,
        };
        // The payout entry is listed under the program of the latest entry it settles.
        let program = available
            .iter()
            .rev()
            .find(|e| e.kind != EntryKind::Payout)
            .or(available.last())
            .map(|e| e.program_id.clone());
        let (payout, entry) = match (pays, program) {
            (true, Some(program_id)) => {
                let id = payout_id(date, &creator.id, currency);
                line.payout_id = Some(id.clone());
                // Belongs to this date: available just before the cutoff, so every later run's
                // sum includes it (and no earlier date's can).
                let entry = LedgerEntry::new(
                    creator.id.clone(),
                    program_id.clone(),
                    EntryKind::Payout,
                    zero.checked_sub(balance)?,
                    None,
                    cutoff - Duration::microseconds(1),
                    None,
                )
                .with_note(format!("payout {id} of {date}"));
                let payout = Payout {
                    id,
                    date,
                    creator_id: creator.id.clone(),
                    program_id,
                    payout_email: creator.payout_email.clone(),
                    amount: balance,
                    status: PayoutStatus::Pending,
                    created_at: crate::now(),
                    external_ref: None,
                    paid_on: None,
                    failure: None,
                };
                (Some(payout), Some(entry))
            }
            _ => (None, None),
        };
        let write = LineWrite {
            line: line.clone(),
            state: SettleState {
                entries_counted: counted,
                last_date: Some(date),
            },
            state_version: state.map(|s| s.version),
            payout,
            entry,
        };
        match store.commit_line(&write).await {
            Ok(()) if pays => outcomes.push(LineOutcome::Paid(line.amount)),
            Ok(()) => outcomes.push(LineOutcome::Carried(line.carried)),
            Err(StoreError::ConditionFailed { .. }) => outcomes.push(LineOutcome::AlreadySettled),
            Err(other) => return Err(other.into()),
        }
    }
    Ok(outcomes)
}

/// What starting (or resuming) a run found.
pub enum Begun {
    /// Completed before: nothing to settle (only, perhaps, finance still to tell).
    Done(SettlementRun),
    Started(SettlementRun),
}

/// Starts the run of `date`, or finds it: refuses a date before the latest run (dates settle
/// in order, so a payout entry of a later date can never fall inside an earlier cutoff).
pub async fn begin(store: &Store, date: Date) -> Result<Begun, SettleError> {
    if let Some(done) = store.run(date).await? {
        if done.record.status == RunStatus::Completed {
            return Ok(Begun::Done(done.record));
        }
    }
    if let Some(latest) = store.latest_run_date().await? {
        if latest > date {
            return Err(SettleError::LaterRunExists(latest));
        }
    }
    Ok(Begun::Started(store.start_run(date, cutoff(date)).await?))
}

/// Books the per-click commission of `date` (UTC): for each program paying per click, each
/// creator's unique, non-bot clicks of that day on its links, capped at the plan's daily cap,
/// as one accrual per creator and program, available at the end of the day plus the holding
/// period. Booked once per (date, program, creator), whoever runs it again. Returns the entries
/// booked now.
pub async fn roll_up_clicks(store: &Store, date: Date) -> Result<u64, SettleError> {
    let day_end = cutoff(date);
    let day_start = day_end - Duration::days(1);
    let ms = |t: OffsetDateTime| (t.unix_timestamp_nanos() / 1_000_000) as i64;
    let mut booked = 0;
    let mut programs_after = None;
    loop {
        let programs = store.programs(200, programs_after).await?;
        for program in &programs.items {
            let Some(plan) = &program.plan.click else {
                continue;
            };
            let mut counts: BTreeMap<CreatorId, u64> = BTreeMap::new();
            let filter = crate::store::LinkFilter {
                program: Some(program.id.clone()),
                creator: None,
            };
            let mut links_after = None;
            loop {
                let links = store.links(&filter, 200, links_after).await?;
                for link in &links.items {
                    let clicks = store
                        .clicks_between(&link.code, ms(day_start), ms(day_end))
                        .await?;
                    let unique = store.unique_clicks(&clicks).await?;
                    let paid = clicks
                        .iter()
                        .filter(|c| !c.bot && unique.contains(&c.id))
                        .count() as u64;
                    *counts.entry(link.creator_id.clone()).or_default() += paid;
                }
                match links.next {
                    Some(next) => links_after = Some(next),
                    None => break,
                }
            }
            for (creator, count) in counts {
                let paid = count.min(u64::from(plan.daily_cap));
                if paid == 0 {
                    continue;
                }
                let amount = plan
                    .amount
                    .times_fraction(i64::try_from(paid).unwrap_or(i64::MAX), 1)?;
                let available = day_end - Duration::microseconds(1)
                    + Duration::days(i64::from(program.holding_days));
                let entry = LedgerEntry::new(
                    creator,
                    program.id.clone(),
                    EntryKind::Accrual,
                    amount,
                    None,
                    available,
                    None,
                )
                .with_note(format!("{paid} paid clicks on {date} ({count} unique)"));
                if store.book_click_rollup(date, &entry).await? {
                    booked += 1;
                }
            }
        }
        match programs.next {
            Some(next) => programs_after = Some(next),
            None => return Ok(booked),
        }
    }
}

/// Every program's minimum payout.
pub async fn min_payouts(store: &Store) -> Result<HashMap<ProgramId, Money>, SettleError> {
    let mut min_payouts = HashMap::new();
    let mut after = None;
    loop {
        let page = store.programs(200, after).await?;
        for p in page.items {
            min_payouts.insert(p.id.clone(), p.min_payout);
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(min_payouts),
        }
    }
}

/// Settles `creators` for `date`, [`CONCURRENCY`] at a time, counting into `seen`.
pub async fn settle_creators(
    store: &Store,
    date: Date,
    creators: &[crate::creator::Creator],
    min_payouts: &HashMap<ProgramId, Money>,
    seen: &mut Progress,
) -> Result<(), SettleError> {
    for group in creators.chunks(CONCURRENCY) {
        let results = futures_util::future::join_all(group.iter().map(|creator| async move {
            // A concurrent run of the same date may collide on a creator (DynamoDB cancels
            // both transactions): try again, and find the other run's line.
            let mut attempt = 0;
            loop {
                match settle_creator(store, date, creator, min_payouts).await {
                    Err(SettleError::Store(StoreError::Conflict)) if attempt < 5 => attempt += 1,
                    other => return other,
                }
            }
        }))
        .await;
        for outcomes in results {
            for outcome in outcomes? {
                match outcome {
                    LineOutcome::Paid(_) => seen.payouts += 1,
                    LineOutcome::Carried(_) => seen.carried += 1,
                    _ => {}
                }
            }
            seen.creators += 1;
        }
    }
    Ok(())
}

/// Completes the run (totals from its lines) and tells finance on `finance`, once: the run
/// record is claimed before the message is sent and marked sent after, so a resumed run resends
/// only if it stopped in between (the message carries the date to deduplicate on).
pub async fn finish(
    store: &Store,
    date: Date,
    finance: Option<&dyn crate::ports::Queue>,
) -> Result<SettlementRun, SettleError> {
    let run = store.complete_run(date).await?;
    let Some(queue) = finance else {
        return Ok(run);
    };
    if run.announced == Announced::Sent {
        return Ok(run);
    }
    if run.announced == Announced::No && !store.claim_announcement(date).await? {
        // Another finisher claimed it.
        return Ok(store.run(date).await?.map(|v| v.record).unwrap_or(run));
    }
    let message = serde_json::json!({
        "type": "settlement.completed",
        "dedupe_key": format!("settlement-{date}"),
        "date": date.to_string(),
        "lines": run.lines,
        "totals": run.totals,
        "report": format!("/api/settlements/{date}"),
        "report_csv": format!("/api/settlements/{date}/report.csv"),
        "paypal_csv": format!("/api/settlements/{date}/paypal.csv"),
    });
    queue
        .send(&message.to_string())
        .await
        .map_err(|e| StoreError::Unavailable(format!("finance queue: {e}")))?;
    Ok(store.mark_announced(date).await?)
}

/// Runs (or resumes) the settlement of `date` over every creator in this process, completes
/// its record and tells finance.
pub async fn settle(
    store: &Store,
    date: Date,
    finance: Option<&dyn crate::ports::Queue>,
    mut progress: impl FnMut(Progress),
) -> Result<SettlementRun, SettleError> {
    let run = match begin(store, date).await? {
        Begun::Done(_) => return finish(store, date, finance).await,
        Begun::Started(run) => run,
    };
    if run.status == RunStatus::Running {
        roll_up_clicks(store, date).await?;
        let min_payouts = min_payouts(store).await?;
        let mut seen = Progress::default();
        let mut after = None;
        loop {
            let page = store.creators(CHUNK_SIZE, after).await?;
            settle_creators(store, date, &page.items, &min_payouts, &mut seen).await?;
            progress(seen);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    finish(store, date, finance).await
}

/// The scheduled step of a fanned-out run: starts the run and enqueues its creators in chunks
/// of `chunk_size` ([`CHUNK_SIZE`] on Lambda) on `chunks` (the settlement queue). Safe to
/// repeat: chunks are idempotent.
pub async fn plan(
    store: &Store,
    date: Date,
    chunk_size: usize,
    chunks: &dyn crate::ports::Queue,
    finance: Option<&dyn crate::ports::Queue>,
) -> Result<SettlementRun, SettleError> {
    let run = match begin(store, date).await? {
        Begun::Done(_) => return finish(store, date, finance).await,
        Begun::Started(run) => run,
    };
    roll_up_clicks(store, date).await?;
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = store.creator_ids(chunk_size.max(1), after).await?;
        if !page.items.is_empty() {
            pages.push(page.items);
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    store.set_run_chunks(date, pages.len() as u64).await?;
    if pages.is_empty() {
        return finish(store, date, finance).await;
    }
    for (index, creators) in pages.into_iter().enumerate() {
        let chunk = Chunk {
            date,
            index: index as u64,
            creators,
        };
        let body = serde_json::to_string(&chunk).map_err(|e| StoreError::Invalid(e.to_string()))?;
        chunks
            .send(&body)
            .await
            .map_err(|e| StoreError::Unavailable(format!("settlement queue: {e}")))?;
    }
    Ok(store.run(date).await?.map(|v| v.record).unwrap_or(run))
}

/// The queued step of a fanned-out run: settles one chunk, marks it done, and the chunk that
/// finds every chunk done completes the run (exactly once, see [`finish`]).
pub async fn settle_chunk(
    store: &Store,
    chunk: &Chunk,
    finance: Option<&dyn crate::ports::Queue>,
) -> Result<Option<SettlementRun>, SettleError> {
    let min_payouts = min_payouts(store).await?;
    let mut creators = Vec::new();
    for id in &chunk.creators {
        if let Some(creator) = store.creator(id).await? {
            creators.push(creator);
        }
    }
    let mut seen = Progress::default();
    settle_creators(store, chunk.date, &creators, &min_payouts, &mut seen).await?;
    store.mark_chunk_done(chunk.date, chunk.index).await?;
    let run = store
        .run(chunk.date)
        .await?
        .ok_or_else(|| StoreError::Invalid(format!("no run for {}", chunk.date)))?
        .record;
    let done = store.chunks_done(chunk.date).await?;
    match run.chunks {
        Some(total) if done >= total => Ok(Some(finish(store, chunk.date, finance).await?)),
        _ => Ok(None),
    }
}

/// Totals of a run's lines, per currency.
pub fn totals(lines: &[SettlementLine]) -> Result<Vec<CurrencyTotal>, MoneyError> {
    let mut by: BTreeMap<Currency, CurrencyTotal> = BTreeMap::new();
    for line in lines {
        let zero = Money::zero(line.currency);
        let t = by.entry(line.currency).or_insert(CurrencyTotal {
            currency: line.currency,
            paid: zero,
            payouts: 0,
            carried: zero,
            carried_lines: 0,
        });
        if line.payout_id.is_some() {
            t.paid = t.paid.checked_add(line.amount)?;
            t.payouts += 1;
        } else {
            t.carried = t.carried.checked_add(line.carried)?;
            t.carried_lines += 1;
        }
    }
    Ok(by.into_values().collect())
}
