//! The ledger: append-only entries per creator. Balances are derived from the entries.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::conversion::ConversionId;
use crate::fx::AppliedRate;
use crate::ids::{ClickId, CreatorId, ProgramId};
use crate::money::{Currency, Money, MoneyError};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LedgerEntry {
    /// Time-ordered id.
    pub id: String,
    pub creator_id: CreatorId,
    pub program_id: ProgramId,
    pub kind: EntryKind,
    /// Signed, in the program currency.
    pub amount: Money,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion_id: Option<ConversionId>,
    /// When the entry counts as payable.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub available_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// The exchange rate that produced the amount, when the order was in another currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fx: Option<AppliedRate>,
    /// Why, for adjustments (and payouts' references).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl LedgerEntry {
    pub fn new(
        creator_id: CreatorId,
        program_id: ProgramId,
        kind: EntryKind,
        amount: Money,
        conversion_id: Option<ConversionId>,
        available_at: OffsetDateTime,
        fx: Option<AppliedRate>,
    ) -> Self {
        let created_at = crate::now();
        Self {
            id: ClickId::generate(crate::now_ms()).to_string(),
            creator_id,
            program_id,
            kind,
            amount,
            conversion_id,
            available_at,
            created_at,
            fx,
            note: None,
        }
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// A creator's money in one currency, derived from the ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Balance {
    pub creator_id: CreatorId,
    pub currency: Currency,
    /// Earned but still inside the holding period.
    pub pending: Money,
    /// Available now, after payouts (negative after refunds of paid commission).
    pub payable: Money,
    /// Paid out so far.
    pub paid: Money,
    /// pending + payable: the sum of every entry.
    pub total: Money,
}

/// Balances per creator and currency at `now`. Payouts count as paid and reduce payable;
/// every other entry is pending until its `available_at`.
pub fn balances(entries: &[LedgerEntry], now: OffsetDateTime) -> Result<Vec<Balance>, MoneyError> {
    let mut by: BTreeMap<(CreatorId, Currency), Balance> = BTreeMap::new();
    for e in entries {
        let currency = e.amount.currency();
        let zero = Money::zero(currency);
        let b = by
            .entry((e.creator_id.clone(), currency))
            .or_insert_with(|| Balance {
                creator_id: e.creator_id.clone(),
                currency,
                pending: zero,
                payable: zero,
                paid: zero,
                total: zero,
            });
        match e.kind {
            EntryKind::Payout => {
                b.payable = b.payable.checked_add(e.amount)?;
                b.paid = b.paid.checked_sub(e.amount)?;
            }
            _ if e.available_at > now => b.pending = b.pending.checked_add(e.amount)?,
            _ => b.payable = b.payable.checked_add(e.amount)?,
        }
        b.total = b.total.checked_add(e.amount)?;
    }
    Ok(by.into_values().collect())
}
