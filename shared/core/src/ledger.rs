//! The ledger: append-only entries per creator. Balances are derived from the entries.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::conversion::ConversionId;
use crate::fx::AppliedRate;
use crate::ids::{ClickId, CreatorId, ProgramId};
use crate::money::{Currency, Money, MoneyError};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    pub available_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
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
        let created_at = OffsetDateTime::now_utc();
        Self {
            id: ClickId::generate(crate::clock::unix_ms(created_at)).to_string(),
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
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
/// every other entry is pending until its `available_at`. Sums are added in `i128` (no entry
/// count can overflow them) and each must lie within ±[`crate::limits::MAX_BALANCE_MINOR`]:
/// past it, `MoneyError::BalanceTooLarge` (one creator's problem, reported as such).
pub fn balances(entries: &[LedgerEntry], now: OffsetDateTime) -> Result<Vec<Balance>, MoneyError> {
    #[derive(Default)]
    struct Sums {
        pending: i128,
        payable: i128,
        paid: i128,
        total: i128,
    }
    let mut by: BTreeMap<(CreatorId, Currency), Sums> = BTreeMap::new();
    for e in entries {
        let sums = by
            .entry((e.creator_id.clone(), e.amount.currency()))
            .or_default();
        let amount = i128::from(e.amount.minor());
        match e.kind {
            EntryKind::Payout => {
                sums.payable = sums.payable.saturating_add(amount);
                sums.paid = sums.paid.saturating_sub(amount);
            }
            _ if e.available_at > now => sums.pending = sums.pending.saturating_add(amount),
            _ => sums.payable = sums.payable.saturating_add(amount),
        }
        sums.total = sums.total.saturating_add(amount);
    }
    by.into_iter()
        .map(|((creator_id, currency), sums)| {
            let money = |sum: i128| {
                crate::limits::check_balance(sum)
                    .map(|minor| Money::from_minor(minor, currency))
                    .map_err(|_| MoneyError::BalanceTooLarge)
            };
            Ok(Balance {
                creator_id,
                currency,
                pending: money(sums.pending)?,
                payable: money(sums.payable)?,
                paid: money(sums.paid)?,
                total: money(sums.total)?,
            })
        })
        .collect()
}
