//! The ledger: append-only entries per creator. Balances are derived from the entries.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::conversion::{Conversion, ConversionId};
use crate::fx::AppliedRate;
use crate::ids::{CreatorId, EntryId, ProgramId};
use crate::money::{Currency, Money, MoneyError};
use crate::settlement::{self, Payout};

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
    pub id: EntryId,
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

/// Every entry is made by one of these constructors, each taking the flow's time (`now`: the
/// entry's `created_at`, and the time part of its id); no clock is read here.
impl LedgerEntry {
    fn made(
        creator_id: CreatorId,
        program_id: ProgramId,
        kind: EntryKind,
        amount: Money,
        available_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            id: EntryId::generate(crate::clock::unix_ms(now)),
            creator_id,
            program_id,
            kind,
            amount,
            conversion_id: None,
            available_at,
            created_at: now,
            fx: None,
            note: None,
        }
    }

    /// The commission `conversion` earns `creator`: its whole commission, payable when the
    /// conversion is (`available_at`), with the exchange rate it was priced at.
    pub fn accrual(creator: &CreatorId, conversion: &Conversion, now: OffsetDateTime) -> Self {
        Self {
            conversion_id: Some(conversion.id.clone()),
            fx: conversion.fx,
            ..Self::made(
                creator.clone(),
                conversion.program_id.clone(),
                EntryKind::Accrual,
                conversion.commission,
                conversion.available_at,
                now,
            )
        }
    }

    /// A day's per-click commission of `creator` in `program` (the settlement's roll-up):
    /// `amount`, payable at `available_at`; `note` says how many clicks it pays.
    pub fn click_accrual(
        creator: CreatorId,
        program: ProgramId,
        amount: Money,
        available_at: OffsetDateTime,
        note: String,
        now: OffsetDateTime,
    ) -> Self {
        Self::made(
            creator,
            program,
            EntryKind::Accrual,
            amount,
            available_at,
            now,
        )
        .with_note(note)
    }

    /// Takes `reversed` (positive: what a refund takes back) of `conversion`'s commission
    /// from `creator`, payable at `available_at` ([`crate::booking::reversal`] decides both).
    pub fn reversal(
        creator: &CreatorId,
        conversion: &Conversion,
        reversed: Money,
        available_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Self, MoneyError> {
        let amount = Money::zero(reversed.currency()).checked_sub(reversed)?;
        Ok(Self {
            conversion_id: Some(conversion.id.clone()),
            fx: conversion.fx,
            ..Self::made(
                creator.clone(),
                conversion.program_id.clone(),
                EntryKind::Reversal,
                amount,
                available_at,
                now,
            )
        })
    }

    /// The negative entry of `payout`, listed under its program. It belongs to the payout's
    /// date: available just before that date's cutoff, so every later run's sum includes it
    /// (and no earlier date's can).
    pub fn payout(payout: &Payout, now: OffsetDateTime) -> Result<Self, MoneyError> {
        let amount = Money::zero(payout.amount.currency()).checked_sub(payout.amount)?;
        let available_at = settlement::cutoff(payout.date)
            .checked_sub(Duration::microseconds(1))
            .ok_or(MoneyError::Overflow)?;
        Ok(Self::made(
            payout.creator_id.clone(),
            payout.program_id.clone(),
            EntryKind::Payout,
            amount,
            available_at,
            now,
        )
        .with_note(format!("payout {} of {}", payout.id, payout.date)))
    }

    /// A manual correction of `amount` (either sign), payable at once (`now`). Say why with
    /// [`LedgerEntry::with_note`].
    pub fn adjustment(
        creator: CreatorId,
        program: ProgramId,
        amount: Money,
        now: OffsetDateTime,
    ) -> Self {
        Self::made(creator, program, EntryKind::Adjustment, amount, now, now)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ClickId, PayoutId};
    use crate::settlement::PayoutStatus;
    use time::macros::{date, datetime};

    const NOW: OffsetDateTime = datetime!(2026-11-28 02:00 UTC);

    fn usd(minor: i64) -> Money {
        Money::from_minor(minor, Currency::parse("USD").unwrap())
    }

    fn anna() -> CreatorId {
        CreatorId::parse("cre_anna000000000000000000").unwrap()
    }

    fn demo() -> ProgramId {
        ProgramId::parse("prg_demo000000000000000000").unwrap()
    }

    #[test]
    fn every_entry_takes_its_time_from_the_flow() {
        let e = LedgerEntry::adjustment(anna(), demo(), usd(-250), NOW).with_note("goodwill");
        assert_eq!(e.kind, EntryKind::Adjustment);
        assert_eq!(
            (e.amount, e.available_at, e.created_at),
            (usd(-250), NOW, NOW)
        );
        assert_eq!(e.note.as_deref(), Some("goodwill"));
        assert!(e
            .id
            .as_str()
            .starts_with(&ClickId::time_prefix(crate::clock::unix_ms(NOW))));
        assert_eq!((e.conversion_id, e.fx), (None, None));
    }

    #[test]
    fn a_payout_entry_takes_the_amount_back_just_before_its_dates_cutoff() {
        let date = date!(2026 - 11 - 27);
        let payout = Payout {
            id: PayoutId::for_line(date, &anna(), Currency::parse("USD").unwrap()),
            date,
            creator_id: anna(),
            program_id: demo(),
            payout_email: "anna@example.com".into(),
            amount: usd(3000),
            status: PayoutStatus::Pending,
            created_at: NOW,
            external_ref: None,
            paid_on: None,
            failure: None,
        };
        let e = LedgerEntry::payout(&payout, NOW).unwrap();
        assert_eq!((e.kind, e.amount), (EntryKind::Payout, usd(-3000)));
        assert_eq!(
            e.available_at,
            datetime!(2026-11-28 00:00 UTC) - Duration::microseconds(1)
        );
        assert_eq!(e.note, Some(format!("payout {} of 2026-11-27", payout.id)));
        assert_eq!(
            (e.creator_id, e.program_id, e.created_at),
            (anna(), demo(), NOW)
        );
    }
}
