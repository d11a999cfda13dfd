//! Repositories of settlement: runs, report lines, creators' settlement states and payouts.

use std::collections::BTreeMap;

use time::{Date, OffsetDateTime};

use super::{
    audit_op, decode, decode_page, encode, insert, keys, put_at, Listing, Store, Versioned,
};
use crate::ports::{BackendError, Condition, Created, Index, Item, Query, SkRange, StoreError};
use linkledger_core::audit::AuditEntry;
use linkledger_core::creator::Creator;
use linkledger_core::ids::CreatorId;
use linkledger_core::ledger::LedgerEntry;
use linkledger_core::money::Currency;
use linkledger_core::settlement::{
    totals, Announced, LineStatus, Payout, RollUpFailure, RunStatus, SettleState, SettlementLine,
    SettlementRun,
};

/// A creator's ledger as settlement reads it.
#[derive(Clone, Debug, Default)]
pub struct CreatorLedger {
    pub entries: Vec<LedgerEntry>,
    pub unreadable: Vec<UnreadableEntry>,
}

/// A ledger entry whose record cannot be decoded.
#[derive(Clone, Debug)]
pub struct UnreadableEntry {
    /// Its sort key (the entry id), to find it.
    pub sk: String,
    /// Its currency, if the body still says which (`amount.currency`).
    pub currency: Option<Currency>,
}

fn readable_currency(body: &str) -> Option<Currency> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    Currency::parse(value.get("amount")?.get("currency")?.as_str()?).ok()
}

/// What one (date, creator, currency) writes, atomically.
#[derive(Clone, Debug)]
pub struct LineWrite {
    pub line: SettlementLine,
    /// The version of the failed line this replaces (`None`: the line is new).
    pub line_version: Option<u64>,
    pub state: SettleState,
    /// The version the state was read at (`None`: first settlement).
    pub state_version: Option<u64>,
    pub payout: Option<Payout>,
    pub entry: Option<LedgerEntry>,
}

impl Store {
    pub async fn run(&self, date: Date) -> Result<Option<Versioned<SettlementRun>>, StoreError> {
        self.get_record(keys::run(date)).await
    }

    /// Runs, newest first.
    pub async fn runs(
        &self,
        limit: usize,
        after: Option<String>,
    ) -> Result<Listing<SettlementRun>, StoreError> {
        let query = Query::new(Index::Gsi1, keys::SETTLEMENTS, SkRange::All)
            .descending()
            .limit(limit)
            .after(after);
        decode_page(self.table.query(&query).await?)
    }

    pub async fn latest_run_date(&self) -> Result<Option<Date>, StoreError> {
        Ok(self.runs(1, None).await?.items.first().map(|r| r.date))
    }

    /// Creates the run's record, or returns the one already there (resume, or done).
    pub async fn start_run(
        &self,
        date: Date,
        cutoff: OffsetDateTime,
    ) -> Result<SettlementRun, StoreError> {
        let run = SettlementRun {
            date,
            cutoff,
            status: RunStatus::Running,
            started_at: self.now(),
            completed_at: None,
            lines: 0,
            failed_lines: 0,
            rollup_failures: Vec::new(),
            totals: Vec::new(),
            chunks: None,
            announced: Announced::No,
        };
        match self
            .table
            .create(keys::run_item(&run, encode(&run)?))
            .await?
        {
            Created::Created => Ok(run),
            Created::AlreadyExists => {
                self.run(date)
                    .await?
                    .map(|v| v.record)
                    .ok_or(StoreError::Unavailable(BackendError::without_cause(
                        "run record vanished",
                    )))
            }
        }
    }

    /// Changes the run record with `change` under its version (retried on a lost race);
    /// `change` returns false to leave it as it is.
    async fn update_run(
        &self,
        date: Date,
        change: impl Fn(&mut SettlementRun) -> bool,
    ) -> Result<(SettlementRun, bool), StoreError> {
        for _ in 0..10 {
            let found = self
                .run(date)
                .await?
                .ok_or(StoreError::Invalid(format!("no run for {date}")))?;
            let mut run = found.record;
            if !change(&mut run) {
                return Ok((run, false));
            }
            let item =
                keys::run_item(&run, encode(&run)?).with_version(found.version.saturating_add(1));
            match self
                .table
                .put(item, Condition::VersionIs(found.version))
                .await
            {
                Ok(()) => return Ok((run, true)),
                Err(StoreError::ConditionFailed { .. }) => continue,
                Err(other) => return Err(other),
            }
        }
        Err(StoreError::Conflict)
    }

    pub async fn set_run_chunks(&self, date: Date, chunks: u64) -> Result<(), StoreError> {
        self.update_run(date, |run| {
            run.chunks = Some(chunks);
            true
        })
        .await
        .map(|_| ())
    }

    /// Claims the announcement of a completed run; false when someone else already did.
    pub async fn claim_announcement(&self, date: Date) -> Result<bool, StoreError> {
        Ok(self
            .update_run(date, |run| {
                let unclaimed = run.announced == Announced::No;
                run.announced = Announced::Claimed;
                unclaimed
            })
            .await?
            .1)
    }

    pub async fn mark_announced(&self, date: Date) -> Result<SettlementRun, StoreError> {
        Ok(self
            .update_run(date, |run| {
                let change = run.announced != Announced::Sent;
                run.announced = Announced::Sent;
                change
            })
            .await?
            .0)
    }

    pub async fn mark_chunk_done(&self, date: Date, index: u64) -> Result<(), StoreError> {
        let item = Item::new(keys::chunk(date, index), "{}".into());
        self.table.create(item).await.map(|_| ())
    }

    pub async fn chunks_done(&self, date: Date) -> Result<u64, StoreError> {
        let mut count = 0u64;
        let mut after = None;
        loop {
            let query = Query::prefix(Index::Primary, keys::settlement(date), keys::CHUNK_PREFIX)
                .limit(1000)
                .after(after);
            let page = self.table.query(&query).await?;
            count = count.saturating_add(page.items.len() as u64);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(count),
            }
        }
    }

    /// Records which programs' click roll-up failed (replacing what an earlier try recorded).
    pub async fn set_rollup_failures(
        &self,
        date: Date,
        failures: Vec<RollUpFailure>,
    ) -> Result<(), StoreError> {
        self.update_run(date, |run| {
            let change = run.rollup_failures != failures;
            run.rollup_failures = failures.clone();
            change
        })
        .await
        .map(|_| ())
    }

    /// Marks the run completed with totals computed from its lines (whoever wrote them); on a
    /// completed run (failed lines retried), refreshes its totals if they changed.
    pub async fn complete_run(&self, date: Date) -> Result<SettlementRun, StoreError> {
        let lines = self.settlement_lines(date).await?;
        let totals = totals(&lines);
        let failed = lines
            .iter()
            .filter(|l| l.status == LineStatus::Failed)
            .count() as u64;
        let completed_at = self.now();
        Ok(self
            .update_run(date, |run| {
                let unchanged = run.status == RunStatus::Completed
                    && run.lines == lines.len() as u64
                    && run.failed_lines == failed
                    && run.totals == totals;
                if unchanged {
                    return false;
                }
                if run.status != RunStatus::Completed {
                    run.status = RunStatus::Completed;
                    run.completed_at = Some(completed_at);
                }
                run.lines = lines.len() as u64;
                run.failed_lines = failed;
                run.totals = totals.clone();
                true
            })
            .await?
            .0)
    }

    /// Creator ids, a page at a time (the planner of a fanned-out run).
    /// A page of creator ids for a fanned-out run, read from the items' keys (a creator whose
    /// record cannot be decoded is still listed: its chunk records its failure).
    pub async fn creator_ids(
        &self,
        limit: usize,
        after: Option<String>,
    ) -> Result<Listing<CreatorId>, StoreError> {
        let query = Query::new(Index::Gsi1, keys::CREATORS, SkRange::All)
            .limit(limit)
            .after(after);
        let page = self.table.query(&query).await?;
        let items = page
            .items
            .iter()
            .filter_map(|item| item.key.pk.strip_prefix("CREATOR#"))
            .filter_map(|id| CreatorId::parse(id).ok())
            .collect();
        Ok(Listing {
            items,
            next: page.next,
        })
    }

    /// A page of creators for a run, decoded one by one: a record that cannot be read is
    /// returned as its error (named by its key) instead of failing the page, so one creator
    /// never stops the run for the others.
    pub async fn creators_to_settle(
        &self,
        limit: usize,
        after: Option<String>,
    ) -> Result<(Listing<Creator>, Vec<StoreError>), StoreError> {
        let query = Query::new(Index::Gsi1, keys::CREATORS, SkRange::All)
            .limit(limit)
            .after(after);
        let page = self.table.query(&query).await?;
        let mut creators = Vec::new();
        let mut unreadable = Vec::new();
        for item in &page.items {
            match decode::<Creator>(item) {
                Ok(creator) => creators.push(creator),
                Err(e) => unreadable.push(e),
            }
        }
        Ok((
            Listing {
                items: creators,
                next: page.next,
            },
            unreadable,
        ))
    }

    pub async fn settlement_line(
        &self,
        date: Date,
        creator: &CreatorId,
        currency: Currency,
    ) -> Result<Option<SettlementLine>, StoreError> {
        Ok(self
            .settlement_line_versioned(date, creator, currency)
            .await?
            .map(|v| v.record))
    }

    pub async fn settlement_line_versioned(
        &self,
        date: Date,
        creator: &CreatorId,
        currency: Currency,
    ) -> Result<Option<Versioned<SettlementLine>>, StoreError> {
        self.get_record(keys::line(date, creator, currency)).await
    }

    /// Writes a failed line: created if the line is absent, its reason refreshed if it is
    /// already a failed line. `false` when a settled line is there (another run wrote it).
    pub async fn record_failed_line(&self, line: &SettlementLine) -> Result<bool, StoreError> {
        let key = keys::line(line.date, &line.creator_id, line.currency);
        for _ in 0..5 {
            let found: Option<Versioned<SettlementLine>> = self.get_record(key.clone()).await?;
            let version = match &found {
                Some(f) if f.record.status != LineStatus::Failed => return Ok(false),
                Some(f) if f.record.failure == line.failure => return Ok(true),
                Some(f) => Some(f.version),
                None => None,
            };
            let item = Item::new(key.clone(), encode(line)?);
            match self.table.transact(vec![put_at(item, version)]).await {
                Ok(()) => return Ok(true),
                Err(StoreError::ConditionFailed { .. }) => continue,
                Err(other) => return Err(other),
            }
        }
        Err(StoreError::Conflict)
    }

    /// A creator's whole ledger for settlement, decoded entry by entry: an entry that cannot
    /// be read is returned by key (with its currency when that much can be read), so it fails
    /// the creator's line instead of the run.
    pub async fn settlement_ledger(
        &self,
        creator: &CreatorId,
    ) -> Result<CreatorLedger, StoreError> {
        let mut ledger = CreatorLedger::default();
        let mut after = None;
        loop {
            let query = Query::new(
                Index::Primary,
                keys::ledger_of_creator(creator),
                SkRange::All,
            )
            .limit(1000)
            .after(after);
            let page = self.table.query(&query).await?;
            for item in &page.items {
                match decode::<LedgerEntry>(item) {
                    Ok(entry) => ledger.entries.push(entry),
                    Err(_) => ledger.unreadable.push(UnreadableEntry {
                        sk: item.key.sk.clone(),
                        currency: readable_currency(&item.body),
                    }),
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(ledger),
            }
        }
    }

    /// Every line of a run, by creator.
    pub async fn settlement_lines(&self, date: Date) -> Result<Vec<SettlementLine>, StoreError> {
        self.query_all(
            Query::prefix(Index::Primary, keys::settlement(date), keys::LINE_PREFIX).limit(1000),
        )
        .await
    }

    /// Every settlement state of `creator`, by currency, with its version: one query of the
    /// creator's small `SETTLESTATE#` partition (strongly consistent on the table).
    pub async fn settle_states(
        &self,
        creator: &CreatorId,
    ) -> Result<BTreeMap<Currency, Versioned<SettleState>>, StoreError> {
        let mut states = BTreeMap::new();
        let mut after = None;
        loop {
            let query = Query::new(Index::Primary, keys::settle_states(creator), SkRange::All)
                .limit(100)
                .after(after);
            let page = self.table.query(&query).await?;
            for item in &page.items {
                let currency = Currency::parse(&item.key.sk).map_err(|e| StoreError::Corrupt {
                    pk: item.key.pk.clone(),
                    sk: item.key.sk.clone(),
                    reason: e.to_string(),
                })?;
                let record = decode(item)?;
                states.insert(
                    currency,
                    Versioned {
                        record,
                        version: item.version,
                    },
                );
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(states),
            }
        }
    }

    /// The unit of work of a run, all or nothing; `ConditionFailed { index: 0 }` when this line
    /// exists or changed (another run of the date wrote it), another index when the state moved.
    pub async fn commit_line(&self, write: &LineWrite) -> Result<(), StoreError> {
        let line = &write.line;
        let mut ops = vec![put_at(
            Item::new(
                keys::line(line.date, &line.creator_id, line.currency),
                encode(line)?,
            ),
            write.line_version,
        )];
        let state = Item::new(
            keys::settle_state(&line.creator_id, line.currency),
            encode(&write.state)?,
        );
        ops.push(put_at(state, write.state_version));
        if let Some(payout) = &write.payout {
            ops.push(insert(keys::payout_item(payout, encode(payout)?)));
        }
        if let Some(entry) = &write.entry {
            ops.push(insert(keys::ledger_item(entry, encode(entry)?)));
        }
        self.table.transact(ops).await
    }

    /// Books a day's click commission of one creator in one program, once: `false` when it was
    /// already booked.
    pub async fn book_click_rollup(
        &self,
        date: Date,
        entry: &LedgerEntry,
    ) -> Result<bool, StoreError> {
        let guard = Item::new(
            keys::click_rollup(date, &entry.program_id, &entry.creator_id),
            "{}".into(),
        );
        let ops = vec![
            insert(guard),
            insert(keys::ledger_item(entry, encode(entry)?)),
        ];
        match self.table.transact(ops).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed { index: 0 }) => Ok(false),
            Err(other) => Err(other),
        }
    }

    pub async fn payout(&self, id: &str) -> Result<Option<Versioned<Payout>>, StoreError> {
        self.get_record(keys::payout(id)).await
    }

    /// A creator's payouts, newest first.
    pub async fn payouts_of_creator(
        &self,
        creator: &CreatorId,
        limit: usize,
        after: Option<String>,
    ) -> Result<Listing<Payout>, StoreError> {
        let query = Query::new(Index::Gsi2, keys::creator_payouts(creator), SkRange::All)
            .descending()
            .limit(limit)
            .after(after);
        decode_page(self.table.query(&query).await?)
    }

    /// Replaces a payout read at `version` (paid, failed), with an optional ledger entry (the
    /// amount of a failed payout returned to the balance) and the audit entry, atomically.
    pub async fn update_payout(
        &self,
        payout: &Payout,
        version: u64,
        entry: Option<&LedgerEntry>,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut ops = vec![put_at(
            keys::payout_item(payout, encode(payout)?),
            Some(version),
        )];
        if let Some(entry) = entry {
            ops.push(insert(keys::ledger_item(entry, encode(entry)?)));
        }
        ops.push(audit_op(audit)?);
        self.table.transact(ops).await
    }
}
