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
//! [`linkledger_core::limits::MAX_BALANCE_MINOR`], an unreadable entry, any error of that creator that is
//! not a store outage) is written as a `failed` line with its reason, logged as the event
//! `settlement line failed` (the alarm's metric filter), and the run goes on and completes.
//! Nothing is paid or counted for it, so its whole balance is still in the next date's sum; and
//! running the same date again while it is the latest run retries the failed lines
//! ([`retry_failed`]). Only a store outage stops a run (left `running`, resumed by a rerun).
//!
//! Before the creators, the day's per-click commission is rolled up into accruals
//! ([`roll_up_clicks`]), once per (date, program, creator); a program whose roll-up fails is
//! recorded on the run and retried the same way.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use time::Date;

use linkledger_core::ids::{CreatorId, ProgramId};
use linkledger_core::ledger::LedgerEntry;
use linkledger_core::money::{Currency, Money, MoneyError};
pub use linkledger_core::settlement::*;

use crate::ports::{BackendError, ErrorChain, StoreError};
use crate::{LineWrite, Store, Versioned};

#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    #[error("only a past date can be settled: {date} is not over yet in UTC (the latest date that can be settled is {latest})")]
    NotPast { date: Date, latest: Date },
    #[error("{0} is before 2000-01-01: nothing can be settled that early")]
    TooEarly(Date),
    #[error("a later date ({0}) has already been settled; dates settle in order")]
    LaterRunExists(Date),
    /// A record of this creator cannot be read (named by its key).
    #[error("{0}")]
    Unreadable(String),
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<NotSettleable> for SettleError {
    fn from(e: NotSettleable) -> Self {
        match e {
            NotSettleable::NotPast { date, latest } => SettleError::NotPast { date, latest },
            NotSettleable::TooEarly(date) => SettleError::TooEarly(date),
        }
    }
}

impl SettleError {
    /// A store outage or lasting contention: the run stops (left `running`, resumed by a
    /// rerun). Any other error of one creator fails that creator's line only.
    pub fn is_outage(&self) -> bool {
        matches!(self, SettleError::Store(e) if e.is_retryable())
    }

    /// The reason shown on a failed line and logged: names no personal data (a corrupt
    /// record is named by its key, never by its content).
    fn reason(&self) -> String {
        match self {
            SettleError::Store(StoreError::Corrupt { pk, sk, .. }) => {
                format!("a stored record cannot be read ({pk} / {sk})")
            }
            other => ErrorChain(other).to_string(),
        }
    }
}

/// What settling one creator's currency did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineOutcome {
    Paid(Money),
    Carried(Money),
    /// Nothing available and nothing carried.
    Nothing,
    /// An earlier (or concurrent) run of this date already wrote it; or, for a failed line
    /// being retried, a later date's run has settled the creator since.
    AlreadySettled,
    /// Written as a failed line, with this reason.
    Failed(String),
}

/// Progress reported while a run works through the creators.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    pub creators: u64,
    pub payouts: u64,
    pub carried: u64,
    pub failed: u64,
}

/// Settles one creator for `date` (every currency it has entries in). Minimum payouts come from
/// `programs` (the highest minimum among the programs its entries in that currency came from).
///
/// A currency whose line cannot be computed gets a failed line; `Err` only for a store outage,
/// or for an error of the whole creator before any currency is known (see [`settle_creators`]).
///
/// **The creator's states are read before its ledger**, and every payout is written together
/// with its state's new version: so the ledger read holds every payout of every run that had
/// committed when the states were read, and a run of another date that commits later moves a
/// state this attempt then fails to match. Such an attempt starts again from fresh reads (the
/// lines it already wrote are kept): a line is never computed from a ledger older than its
/// state, whichever dates settle at the same moment.
pub async fn settle_creator(
    store: &Store,
    date: Date,
    creator: &linkledger_core::creator::Creator,
    min_payouts: &HashMap<ProgramId, Money>,
) -> Result<Vec<LineOutcome>, SettleError> {
    let mut done: BTreeMap<Currency, LineOutcome> = BTreeMap::new();
    for _ in 0..5 {
        match settle_creator_once(store, date, creator, min_payouts, &mut done).await? {
            Attempt::Finished => return Ok(done.into_values().collect()),
            Attempt::StateMoved => continue,
        }
    }
    // Lasting contention with other runs: an outage as far as this run is concerned (it stays
    // `running` and a rerun resumes it).
    Err(SettleError::Store(StoreError::Conflict))
}

/// How one attempt at a creator ended.
enum Attempt {
    Finished,
    /// A state moved after it was read: read the states and the ledger again.
    StateMoved,
}

async fn settle_creator_once(
    store: &Store,
    date: Date,
    creator: &linkledger_core::creator::Creator,
    min_payouts: &HashMap<ProgramId, Money>,
    done: &mut BTreeMap<Currency, LineOutcome>,
) -> Result<Attempt, SettleError> {
    let states = store.settle_states(&creator.id).await?;
    let ledger = store.settlement_ledger(&creator.id).await?;
    let mut by_currency: BTreeMap<Currency, Vec<&LedgerEntry>> = BTreeMap::new();
    for entry in &ledger.entries {
        by_currency
            .entry(entry.amount.currency())
            .or_default()
            .push(entry);
    }
    // An unreadable entry fails its currency (or, when even its currency cannot be read,
    // every currency of the creator): settling without it could pay money twice.
    let mut unreadable: BTreeMap<Option<Currency>, String> = BTreeMap::new();
    for bad in &ledger.unreadable {
        if let Some(currency) = bad.currency {
            by_currency.entry(currency).or_default();
        }
        unreadable
            .entry(bad.currency)
            .or_insert_with(|| format!("a ledger entry cannot be read ({})", bad.sk));
    }
    if by_currency.is_empty() {
        if let Some(reason) = unreadable.values().next() {
            return Err(SettleError::Unreadable(reason.clone()));
        }
    }
    for (currency, entries) in &by_currency {
        if done.contains_key(currency) {
            continue;
        }
        let broken = unreadable
            .get(&Some(*currency))
            .or_else(|| unreadable.get(&None));
        let settled = match broken {
            Some(reason) => Err(SettleError::Unreadable(reason.clone())),
            None => {
                let state = states.get(currency);
                settle_currency(store, date, creator, *currency, entries, state, min_payouts).await
            }
        };
        let outcome = match settled {
            Ok(Some(outcome)) => outcome,
            Ok(None) => return Ok(Attempt::StateMoved),
            Err(e) if e.is_outage() => return Err(e),
            Err(e) => fail_line(store, date, creator, *currency, &e.reason()).await?,
        };
        done.insert(*currency, outcome);
    }
    Ok(Attempt::Finished)
}

/// One (date, creator, currency): its line, state, and payout, in one transaction. Reads the
/// line already written for the date, decides ([`decide_line`]) and writes.
/// `state` was read before `entries` (see [`settle_creator`]); `Ok(None)` when it has moved
/// since, so the caller reads both again.
async fn settle_currency(
    store: &Store,
    date: Date,
    creator: &linkledger_core::creator::Creator,
    currency: Currency,
    entries: &[&LedgerEntry],
    state: Option<&Versioned<SettleState>>,
    min_payouts: &HashMap<ProgramId, Money>,
) -> Result<Option<LineOutcome>, SettleError> {
    let existing = store
        .settlement_line_versioned(date, &creator.id, currency)
        .await?;
    let facts = LineFacts {
        date,
        creator,
        currency,
        entries,
        state: state.map(|s| &s.record),
        existing: existing.as_ref().map(|found| found.record.status),
        min_payouts,
    };
    let settled = match decide_line(&facts, store.now())? {
        LineDecision::AlreadySettled => return Ok(Some(LineOutcome::AlreadySettled)),
        LineDecision::Nothing => return Ok(Some(LineOutcome::Nothing)),
        LineDecision::Settle(settled) => *settled,
    };
    let line = settled.line;
    let (payout, entry) = settled.payout.unzip();
    let outcome = match line.status {
        LineStatus::Paid => LineOutcome::Paid(line.amount),
        _ => LineOutcome::Carried(line.balance.unwrap_or(line.amount)),
    };
    let write = LineWrite {
        line,
        line_version: existing.map(|found| found.version),
        state: settled.state,
        state_version: state.map(|s| s.version),
        payout,
        entry,
    };
    match store.commit_line(&write).await {
        Ok(()) => Ok(Some(outcome)),
        // The line: another run of this date wrote (or retried) it.
        Err(StoreError::ConditionFailed { index: 0 }) => Ok(Some(LineOutcome::AlreadySettled)),
        // The state moved (a run of another date settled this creator since its states
        // were read): the ledger read may lack that run's payout, so read both again.
        Err(StoreError::ConditionFailed { .. }) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

/// Records a line that could not be settled, logs it (the alarm counts these log events), and
/// says so. An existing failed line keeps its place (its reason is refreshed).
async fn fail_line(
    store: &Store,
    date: Date,
    creator: &linkledger_core::creator::Creator,
    currency: Currency,
    reason: &str,
) -> Result<LineOutcome, SettleError> {
    tracing::error!(
        %date,
        creator_id = %creator.id,
        %currency,
        reason,
        "settlement line failed"
    );
    let zero = Money::zero(currency);
    let line = SettlementLine {
        date,
        creator_id: creator.id.clone(),
        payout_email: creator.payout_email.clone(),
        currency,
        status: LineStatus::Failed,
        balance: None,
        amount: zero,
        carried: zero,
        owed: zero,
        entries_settled: 0,
        payout_id: None,
        failure: Some(reason.to_string()),
    };
    match store.record_failed_line(&line).await {
        Ok(true) => Ok(LineOutcome::Failed(reason.to_string())),
        // Settled meanwhile by another run of the date.
        Ok(false) => Ok(LineOutcome::AlreadySettled),
        Err(e) => Err(e.into()),
    }
}

/// What starting (or resuming) a run found.
pub enum Begun {
    /// Completed before: nothing to settle (only, perhaps, failed lines to retry and finance
    /// still to tell).
    Done(SettlementRun),
    Started(SettlementRun),
}

/// Starts the run of `date`, or finds it: refuses a date that is not over yet
/// ([`settleable_date`]) and a date before the latest run (dates settle in order, so a payout
/// entry of a later date can never fall inside an earlier cutoff).
pub async fn begin(store: &Store, date: Date) -> Result<Begun, SettleError> {
    settleable_date(date, store.now())?;
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
    let cutoff = cutoff(date);
    Ok(Begun::Started(store.start_run(date, cutoff).await?))
}

/// What a click roll-up did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RollUp {
    /// Entries booked now.
    pub booked: u64,
    /// Programs whose roll-up failed (logged; the others are booked).
    pub failed: Vec<RollUpFailure>,
}

/// Books the per-click commission of `date` (UTC): for each program paying per click, each
/// creator's unique, non-bot clicks of that day on its links, capped at the plan's daily cap,
/// as one accrual per creator and program, available at the end of the day plus the holding
/// period. Booked once per (date, program, creator), whoever runs it again.
///
/// A program whose roll-up fails for any reason but a store outage is logged
/// (`settlement click roll-up failed`) and returned in [`RollUp::failed`]; the others go on.
pub async fn roll_up_clicks(store: &Store, date: Date) -> Result<RollUp, SettleError> {
    let mut rollup = RollUp::default();
    let mut programs_after = None;
    loop {
        let programs = store.programs(200, programs_after).await?;
        for program in &programs.items {
            let Some(plan) = &program.plan.click else {
                continue;
            };
            match roll_up_program(store, date, program, plan).await {
                Ok(booked) => rollup.booked = rollup.booked.saturating_add(booked),
                Err(e) if e.is_outage() => return Err(e),
                Err(e) => {
                    let reason = e.reason();
                    tracing::error!(%date, program_id = %program.id, reason, "settlement click roll-up failed");
                    rollup.failed.push(RollUpFailure {
                        program_id: program.id.clone(),
                        reason,
                    });
                }
            }
        }
        match programs.next {
            Some(next) => programs_after = Some(next),
            None => return Ok(rollup),
        }
    }
}

async fn roll_up_program(
    store: &Store,
    date: Date,
    program: &linkledger_core::program::Program,
    plan: &linkledger_core::program::ClickCommission,
) -> Result<u64, SettleError> {
    let day = ClickDay::new(date, program, plan)?;
    let mut counts: BTreeMap<CreatorId, u64> = BTreeMap::new();
    let filter = crate::LinkFilter {
        program: Some(program.id.clone()),
        creator: None,
    };
    let mut links_after = None;
    loop {
        let links = store.links(&filter, 200, links_after).await?;
        for link in &links.items {
            let clicks = store
                .clicks_between(&link.code, day.from_ms, day.to_ms)
                .await?;
            let unique = store.unique_clicks(&clicks).await?;
            let count = counts.entry(link.creator_id.clone()).or_default();
            *count = count.saturating_add(paid_clicks(&clicks, &unique));
        }
        match links.next {
            Some(next) => links_after = Some(next),
            None => break,
        }
    }
    let mut booked = 0u64;
    for (creator, count) in counts {
        let Some(entry) = day.accrual(creator, count, store.now())? else {
            continue;
        };
        if store.book_click_rollup(date, &entry).await? {
            booked = booked.saturating_add(1);
        }
    }
    Ok(booked)
}

/// Rolls up `date`'s clicks and records on the run which programs failed.
async fn roll_up_and_record(store: &Store, date: Date) -> Result<(), SettleError> {
    let mut rollup = roll_up_clicks(store, date).await?;
    rollup.failed.truncate(MAX_RECORDED_ROLLUP_FAILURES);
    store.set_rollup_failures(date, rollup.failed).await?;
    Ok(())
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

/// Settles `creators` for `date`, [`CONCURRENCY`] at a time, counting into `seen`. Only a
/// store outage is an error; a creator that fails otherwise is logged and counted as failed.
pub async fn settle_creators(
    store: &Store,
    date: Date,
    creators: &[linkledger_core::creator::Creator],
    min_payouts: &HashMap<ProgramId, Money>,
    seen: &mut Progress,
) -> Result<(), SettleError> {
    for group in creators.chunks(CONCURRENCY) {
        let results = futures_util::future::join_all(group.iter().map(|creator| async move {
            // A concurrent run of the same date may collide on a creator (DynamoDB cancels
            // both transactions): try again, and find the other run's line.
            let mut attempt = 0u32;
            loop {
                match settle_creator(store, date, creator, min_payouts).await {
                    Err(SettleError::Store(StoreError::Conflict)) if attempt < 5 => {
                        attempt = attempt.saturating_add(1)
                    }
                    other => return (creator, other),
                }
            }
        }))
        .await;
        let mut outage = None;
        for (creator, result) in results {
            seen.creators = seen.creators.saturating_add(1);
            let outcomes = match result {
                Ok(outcomes) => outcomes,
                Err(e) if e.is_outage() => {
                    outage.get_or_insert(e);
                    continue;
                }
                Err(e) => {
                    // Nothing of this creator could be read, not even a currency to put a
                    // line under: the log (and its alarm) is the record.
                    tracing::error!(%date, creator_id = %creator.id, reason = e.reason(), "settlement line failed");
                    seen.failed = seen.failed.saturating_add(1);
                    continue;
                }
            };
            for outcome in outcomes {
                match outcome {
                    LineOutcome::Paid(_) => seen.payouts = seen.payouts.saturating_add(1),
                    LineOutcome::Carried(_) => seen.carried = seen.carried.saturating_add(1),
                    LineOutcome::Failed(_) => seen.failed = seen.failed.saturating_add(1),
                    LineOutcome::Nothing | LineOutcome::AlreadySettled => {}
                }
            }
        }
        if let Some(e) = outage {
            return Err(e);
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
    let message = serde_json::to_string(&FinanceAnnouncement::of(&run))
        .map_err(|e| StoreError::Invalid(format!("encode the finance announcement: {e}")))?;
    queue
        .send(&message)
        .await
        .map_err(|e| StoreError::Unavailable(BackendError::new("finance queue", e)))?;
    Ok(store.mark_announced(date).await?)
}

/// Retries what failed in the completed run of `date` — the roll-up of programs that failed
/// and every failed line — while `date` is still the latest run; then refreshes its totals.
/// Once a later date has run, its sums hold the failed creators' balances and this only answers
/// the run. Called by every rerun of a completed date ([`settle`], [`plan`]).
pub async fn retry_failed(
    store: &Store,
    date: Date,
    finance: Option<&dyn crate::ports::Queue>,
) -> Result<SettlementRun, SettleError> {
    let Some(run) = store.run(date).await?.map(|v| v.record) else {
        return Err(StoreError::Invalid(format!("no run for {date}")).into());
    };
    let failed = run.failed_lines > 0 || !run.rollup_failures.is_empty();
    let latest = store.latest_run_date().await?;
    if !failed || latest.is_some_and(|latest| latest > date) {
        return finish(store, date, finance).await;
    }
    if !run.rollup_failures.is_empty() {
        roll_up_and_record(store, date).await?;
    }
    let ids: BTreeSet<CreatorId> = store
        .settlement_lines(date)
        .await?
        .into_iter()
        .filter(|l| l.status == LineStatus::Failed)
        .map(|l| l.creator_id)
        .collect();
    let creators = creators_by_id(store, date, &ids).await?;
    let min_payouts = min_payouts(store).await?;
    let mut seen = Progress::default();
    settle_creators(store, date, &creators, &min_payouts, &mut seen).await?;
    tracing::info!(%date, retried = creators.len(), still_failed = seen.failed, "settlement failed lines retried");
    finish(store, date, finance).await
}

/// Runs (or resumes) the settlement of `date` over every creator in this process, completes
/// its record and tells finance. A completed date is answered again, after retrying its
/// failed lines ([`retry_failed`]).
pub async fn settle(
    store: &Store,
    date: Date,
    finance: Option<&dyn crate::ports::Queue>,
    mut progress: impl FnMut(Progress),
) -> Result<SettlementRun, SettleError> {
    let run = match begin(store, date).await? {
        Begun::Done(_) => return retry_failed(store, date, finance).await,
        Begun::Started(run) => run,
    };
    if run.status == RunStatus::Running {
        roll_up_and_record(store, date).await?;
        let min_payouts = min_payouts(store).await?;
        let mut seen = Progress::default();
        let mut after = None;
        loop {
            let (page, unreadable) = store.creators_to_settle(CHUNK_SIZE, after).await?;
            for e in unreadable {
                // No line can name a creator whose record cannot be read: logged (the alarm
                // counts this event) and counted; the run goes on for everyone else.
                tracing::error!(%date, reason = SettleError::from(e).reason(), "settlement line failed");
                seen.failed = seen.failed.saturating_add(1);
            }
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
/// repeat: chunks are idempotent. A completed date retries its failed lines in place
/// ([`retry_failed`]: a few creators, not worth a fan-out).
pub async fn plan(
    store: &Store,
    date: Date,
    chunk_size: usize,
    chunks: &dyn crate::ports::Queue,
    finance: Option<&dyn crate::ports::Queue>,
) -> Result<SettlementRun, SettleError> {
    let run = match begin(store, date).await? {
        Begun::Done(_) => return retry_failed(store, date, finance).await,
        Begun::Started(run) => run,
    };
    roll_up_and_record(store, date).await?;
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
            .map_err(|e| StoreError::Unavailable(BackendError::new("settlement queue", e)))?;
    }
    Ok(store.run(date).await?.map(|v| v.record).unwrap_or(run))
}

/// The creators of `ids` that exist, read one by one: an unreadable record fails that creator
/// alone (logged as the event the alarm counts), a store outage fails the call.
async fn creators_by_id<'a>(
    store: &Store,
    date: Date,
    ids: impl IntoIterator<Item = &'a CreatorId>,
) -> Result<Vec<linkledger_core::creator::Creator>, SettleError> {
    let mut creators = Vec::new();
    for id in ids {
        match store.creator(id).await {
            Ok(Some(creator)) => creators.push(creator),
            Ok(None) => {}
            Err(e) if e.is_retryable() => return Err(e.into()),
            Err(e) => {
                tracing::error!(%date, creator_id = %id, reason = SettleError::from(e).reason(), "settlement line failed");
            }
        }
    }
    Ok(creators)
}

/// The queued step of a fanned-out run: settles one chunk, marks it done, and the chunk that
/// finds every chunk done completes the run (exactly once, see [`finish`]). A creator that
/// fails gets a failed line, as in [`settle`]; only a store outage fails the chunk (retried).
pub async fn settle_chunk(
    store: &Store,
    chunk: &Chunk,
    finance: Option<&dyn crate::ports::Queue>,
) -> Result<Option<SettlementRun>, SettleError> {
    let min_payouts = min_payouts(store).await?;
    let creators = creators_by_id(store, chunk.date, &chunk.creators).await?;
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
