//! Settlement runs, their report lines, payouts, and the requests that run a date or mark a
//! payout. Dates are ISO `YYYY-MM-DD` strings.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use linkledger_core::ids::{CreatorId, ProgramId};
use linkledger_core::money::{Currency, Money};
use linkledger_core::settlement;

use super::values;

#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Completed,
}

impl From<settlement::RunStatus> for RunStatus {
    fn from(status: settlement::RunStatus) -> Self {
        match status {
            settlement::RunStatus::Running => Self::Running,
            settlement::RunStatus::Completed => Self::Completed,
        }
    }
}

/// A run's totals in one currency. `carried` and `owed` are never netted against each other:
/// a creator who owes money (a negative balance, after a refund of paid commission) shows in
/// `owed`, whatever others carry.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CurrencyTotal {
    #[schema(value_type = values::Currency)]
    pub currency: Currency,
    #[schema(value_type = values::Money)]
    pub paid: Money,
    pub payouts: u64,
    /// Positive balances left for the next run (below the minimum payout). Never negative.
    #[schema(value_type = values::Money)]
    pub carried: Money,
    pub carried_lines: u64,
    /// What creators owe (their negative balances, as a positive amount), netted by their
    /// later earnings. Never negative.
    #[schema(value_type = values::Money)]
    pub owed: Money,
    pub owed_lines: u64,
    /// Lines that could not be settled (each has its `failure`); their balances are in no total.
    pub failed_lines: u64,
}

impl From<&settlement::CurrencyTotal> for CurrencyTotal {
    fn from(total: &settlement::CurrencyTotal) -> Self {
        Self {
            currency: total.currency,
            paid: total.paid,
            payouts: total.payouts,
            carried: total.carried,
            carried_lines: total.carried_lines,
            owed: total.owed,
            owed_lines: total.owed_lines,
            failed_lines: total.failed_lines,
        }
    }
}

/// A program whose click roll-up failed in a run (retried by rerunning the date).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RollUpFailure {
    #[schema(value_type = values::ProgramId)]
    pub program_id: ProgramId,
    pub reason: String,
}

impl From<&settlement::RollUpFailure> for RollUpFailure {
    fn from(failure: &settlement::RollUpFailure) -> Self {
        Self {
            program_id: failure.program_id.clone(),
            reason: failure.reason.clone(),
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Announced {
    No,
    Claimed,
    Sent,
}

impl From<settlement::Announced> for Announced {
    fn from(announced: settlement::Announced) -> Self {
        match announced {
            settlement::Announced::No => Self::No,
            settlement::Announced::Claimed => Self::Claimed,
            settlement::Announced::Sent => Self::Sent,
        }
    }
}

/// The status record of one run, keyed by its date.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SettlementRun {
    #[schema(format = Date)]
    pub date: String,
    /// Entries available before this instant are settled (the end of `date`, UTC).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub cutoff: OffsetDateTime,
    pub status: RunStatus,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub completed_at: Option<OffsetDateTime>,
    /// Report lines written (creators and currencies with something to pay or carry, and
    /// failed lines).
    pub lines: u64,
    /// Lines that could not be settled (see their `failure`); rerunning the date while it is
    /// the latest run retries them, and the next date's run includes their balances anyway.
    #[schema(required = false)]
    pub failed_lines: u64,
    /// Programs whose per-click roll-up failed (retried the same way).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rollup_failures: Vec<RollUpFailure>,
    pub totals: Vec<CurrencyTotal>,
    /// Fanned-out runs (the settlement function): how many chunks of creators were enqueued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunks: Option<u64>,
    /// Whether finance was told on the finance queue (`claimed` first, then `sent`).
    #[schema(required = false)]
    pub announced: Announced,
}

impl From<&settlement::SettlementRun> for SettlementRun {
    fn from(run: &settlement::SettlementRun) -> Self {
        Self {
            date: run.date.to_string(),
            cutoff: run.cutoff,
            status: run.status.into(),
            started_at: run.started_at,
            completed_at: run.completed_at,
            lines: run.lines,
            failed_lines: run.failed_lines,
            rollup_failures: run.rollup_failures.iter().map(Into::into).collect(),
            totals: run.totals.iter().map(Into::into).collect(),
            chunks: run.chunks,
            announced: run.announced.into(),
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineStatus {
    /// The balance reached the minimum and was paid (`payout_id`).
    Paid,
    /// Below the minimum, or negative: carried (`carried`) or owed (`owed`).
    Carried,
    /// Could not be computed (`failure`): nothing paid, the balance stays for a retry.
    Failed,
}

impl From<settlement::LineStatus> for LineStatus {
    fn from(status: settlement::LineStatus) -> Self {
        match status {
            settlement::LineStatus::Paid => Self::Paid,
            settlement::LineStatus::Carried => Self::Carried,
            settlement::LineStatus::Failed => Self::Failed,
        }
    }
}

/// One line of a run's report: a creator's balance in one currency at the cutoff.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SettlementLine {
    #[schema(format = Date)]
    pub date: String,
    #[schema(value_type = values::CreatorId)]
    pub creator_id: CreatorId,
    pub payout_email: String,
    #[schema(value_type = values::Currency)]
    pub currency: Currency,
    pub status: LineStatus,
    /// The balance at the cutoff: what was carried in plus what became available. Absent on
    /// a failed line (it could not be computed).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<values::Money>)]
    pub balance: Option<Money>,
    /// Paid by this run (zero unless paid).
    #[schema(value_type = values::Money)]
    pub amount: Money,
    /// A positive balance left for the next run (zero when paid, owed or failed).
    #[schema(value_type = values::Money)]
    pub carried: Money,
    /// A negative balance, as a positive amount: what the creator owes, netted by later
    /// earnings (zero otherwise).
    #[schema(value_type = values::Money)]
    pub owed: Money,
    /// Ledger entries that became available since the creator's previous settlement.
    pub entries_settled: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payout_id: Option<String>,
    /// Why a failed line could not be settled (no personal data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

impl From<&settlement::SettlementLine> for SettlementLine {
    fn from(line: &settlement::SettlementLine) -> Self {
        Self {
            date: line.date.to_string(),
            creator_id: line.creator_id.clone(),
            payout_email: line.payout_email.clone(),
            currency: line.currency,
            status: line.status.into(),
            balance: line.balance,
            amount: line.amount,
            carried: line.carried,
            owed: line.owed,
            entries_settled: line.entries_settled,
            payout_id: line.payout_id.as_ref().map(ToString::to_string),
            failure: line.failure.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SettlementReport {
    pub run: SettlementRun,
    /// Per creator and currency: amount paid, balance carried, entries settled.
    pub lines: Vec<SettlementLine>,
}

#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PayoutStatus {
    Pending,
    Paid,
    Failed,
}

impl From<settlement::PayoutStatus> for PayoutStatus {
    fn from(status: settlement::PayoutStatus) -> Self {
        match status {
            settlement::PayoutStatus::Pending => Self::Pending,
            settlement::PayoutStatus::Paid => Self::Paid,
            settlement::PayoutStatus::Failed => Self::Failed,
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Payout {
    /// `pay_` and 24 hex characters, derived from (date, creator, currency): at most 30
    /// characters, as PayPal's batch file wants for its item id.
    pub id: String,
    #[schema(format = Date)]
    pub date: String,
    #[schema(value_type = values::CreatorId)]
    pub creator_id: CreatorId,
    /// The program its ledger entry is listed under (a payout covers every program of the
    /// creator in its currency).
    #[schema(value_type = values::ProgramId)]
    pub program_id: ProgramId,
    pub payout_email: String,
    /// Positive.
    #[schema(value_type = values::Money)]
    pub amount: Money,
    pub status: PayoutStatus,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_ref: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Date)]
    pub paid_on: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

impl From<&settlement::Payout> for Payout {
    fn from(payout: &settlement::Payout) -> Self {
        Self {
            id: payout.id.to_string(),
            date: payout.date.to_string(),
            creator_id: payout.creator_id.clone(),
            program_id: payout.program_id.clone(),
            payout_email: payout.payout_email.clone(),
            amount: payout.amount,
            status: payout.status.into(),
            created_at: payout.created_at,
            external_ref: payout.external_ref.clone(),
            paid_on: payout.paid_on.map(|date| date.to_string()),
            failure: payout.failure.clone(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSettlement {
    /// The UTC date to settle (`YYYY-MM-DD`): entries available before its end are paid.
    pub date: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaidPayout {
    /// The payment's reference at the bank or PayPal.
    pub external_ref: String,
    /// `YYYY-MM-DD`.
    pub paid_on: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FailedPayout {
    pub reason: String,
}
