//! Ledger entries, balances, adjustments, and the exchange rate an amount was converted at.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use linkledger_core::conversion::ConversionId;
use linkledger_core::fx::{self, Rate};
use linkledger_core::ids::{CreatorId, ProgramId};
use linkledger_core::ledger;
use linkledger_core::money::{Currency, Money};

use super::values;

#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// Commission earned (positive).
    Accrual,
    /// Commission taken back by a refund (negative).
    Reversal,
    /// A manual correction (either sign).
    Adjustment,
    /// Money paid out (negative).
    Payout,
}

impl From<ledger::EntryKind> for EntryKind {
    fn from(kind: ledger::EntryKind) -> Self {
        match kind {
            ledger::EntryKind::Accrual => Self::Accrual,
            ledger::EntryKind::Reversal => Self::Reversal,
            ledger::EntryKind::Adjustment => Self::Adjustment,
            ledger::EntryKind::Payout => Self::Payout,
        }
    }
}

/// The rate used for one conversion, kept on the conversion and its ledger entries.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AppliedRate {
    #[schema(value_type = values::Currency)]
    pub from: Currency,
    #[schema(value_type = values::Currency)]
    pub to: Currency,
    #[schema(value_type = values::Rate)]
    pub rate: Rate,
}

impl From<&fx::AppliedRate> for AppliedRate {
    fn from(applied: &fx::AppliedRate) -> Self {
        Self {
            from: applied.from,
            to: applied.to,
            rate: applied.rate,
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LedgerEntry {
    /// Time-ordered id.
    pub id: String,
    #[schema(value_type = values::CreatorId)]
    pub creator_id: CreatorId,
    #[schema(value_type = values::ProgramId)]
    pub program_id: ProgramId,
    pub kind: EntryKind,
    /// Signed, in the program currency.
    #[schema(value_type = values::Money)]
    pub amount: Money,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<values::ConversionId>)]
    pub conversion_id: Option<ConversionId>,
    /// When the entry counts as payable.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub available_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// The exchange rate that produced the amount, when the order was in another currency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fx: Option<AppliedRate>,
    /// Why, for adjustments (and payouts' references).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl From<&ledger::LedgerEntry> for LedgerEntry {
    fn from(entry: &ledger::LedgerEntry) -> Self {
        Self {
            id: entry.id.to_string(),
            creator_id: entry.creator_id.clone(),
            program_id: entry.program_id.clone(),
            kind: entry.kind.into(),
            amount: entry.amount,
            conversion_id: entry.conversion_id.clone(),
            available_at: entry.available_at,
            created_at: entry.created_at,
            fx: entry.fx.as_ref().map(AppliedRate::from),
            note: entry.note.clone(),
        }
    }
}

/// A creator's money in one currency, derived from the ledger.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Balance {
    #[schema(value_type = values::CreatorId)]
    pub creator_id: CreatorId,
    #[schema(value_type = values::Currency)]
    pub currency: Currency,
    /// Earned but still inside the holding period.
    #[schema(value_type = values::Money)]
    pub pending: Money,
    /// Available now, after payouts (negative after refunds of paid commission).
    #[schema(value_type = values::Money)]
    pub payable: Money,
    /// Paid out so far.
    #[schema(value_type = values::Money)]
    pub paid: Money,
    /// pending + payable: the sum of every entry.
    #[schema(value_type = values::Money)]
    pub total: Money,
}

impl From<&ledger::Balance> for Balance {
    fn from(balance: &ledger::Balance) -> Self {
        Self {
            creator_id: balance.creator_id.clone(),
            currency: balance.currency,
            pending: balance.pending,
            payable: balance.payable,
            paid: balance.paid,
            total: balance.total,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Balances {
    /// One per creator and currency.
    pub items: Vec<Balance>,
    /// Creators (of a per-program listing) whose balance is past the limit of 10^15 minor
    /// units: their sums cannot be shown; everyone else's are in `items`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<values::CreatorId>)]
    pub out_of_range: Vec<CreatorId>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAdjustment {
    #[schema(value_type = values::CreatorId)]
    pub creator_id: CreatorId,
    #[schema(value_type = values::ProgramId)]
    pub program_id: ProgramId,
    /// Signed, in the program currency: positive credits the creator, negative debits.
    #[schema(value_type = values::Money)]
    pub amount: Money,
    /// Why (shown to the creator and kept in the audit log).
    pub note: String,
}
