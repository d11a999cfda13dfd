//! A payout's outcome as finance reports it: paid (with the bank's reference) or failed (the
//! amount goes back on the creator's balance).

use time::{Date, OffsetDateTime};

use crate::audit::{Actor, AuditEntry};
use crate::ledger::LedgerEntry;
use crate::settlement::{Payout, PayoutStatus};

/// The payment's reference at the bank or PayPal: trimmed, 1 to 200 bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference(String);

impl Reference {
    pub fn parse(text: &str) -> Result<Self, PayoutError> {
        let text = text.trim();
        if text.is_empty() || text.len() > 200 {
            return Err(PayoutError::Reference);
        }
        Ok(Self(text.to_string()))
    }
}

/// Why a payout failed: trimmed, 1 to 500 bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailureReason(String);

impl FailureReason {
    pub fn parse(text: &str) -> Result<Self, PayoutError> {
        let text = text.trim();
        if text.is_empty() || text.len() > 500 {
            return Err(PayoutError::Reason);
        }
        Ok(Self(text.to_string()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PayoutError {
    #[error("external_ref must be 1 to 200 characters")]
    Reference,
    #[error("reason must be 1 to 500 characters")]
    Reason,
    #[error("this payout is already {}", status_word(*.0))]
    NotPending(PayoutStatus),
}

fn status_word(status: PayoutStatus) -> &'static str {
    match status {
        PayoutStatus::Pending => "pending",
        PayoutStatus::Paid => "paid",
        PayoutStatus::Failed => "failed",
    }
}

fn pending(payout: &Payout) -> Result<(), PayoutError> {
    match payout.status {
        PayoutStatus::Pending => Ok(()),
        other => Err(PayoutError::NotPending(other)),
    }
}

/// The payout marked paid, and its audit entry.
pub fn paid(
    payout: &Payout,
    paid_on: Date,
    reference: Reference,
    now: OffsetDateTime,
    actor: &Actor,
) -> Result<(Payout, AuditEntry), PayoutError> {
    pending(payout)?;
    let mut changed = payout.clone();
    changed.status = PayoutStatus::Paid;
    changed.external_ref = Some(reference.0);
    changed.paid_on = Some(paid_on);
    let audit = AuditEntry::new(
        now,
        actor,
        "payout.paid",
        &changed.id,
        Some(payout),
        Some(&changed),
    );
    Ok((changed, audit))
}

/// The payout marked failed, the adjustment that puts its amount back on the creator's balance
/// (listed under the program of the payout's own entry), and the audit entry.
pub fn failed(
    payout: &Payout,
    reason: FailureReason,
    now: OffsetDateTime,
    actor: &Actor,
) -> Result<(Payout, LedgerEntry, AuditEntry), PayoutError> {
    pending(payout)?;
    let mut changed = payout.clone();
    changed.status = PayoutStatus::Failed;
    changed.failure = Some(reason.0.clone());
    let recredit = LedgerEntry::adjustment(
        payout.creator_id.clone(),
        payout.program_id.clone(),
        payout.amount,
        now,
    )
    .with_note(format!("payout {} failed: {}", payout.id, reason.0));
    let audit = AuditEntry::new(
        now,
        actor,
        "payout.failed",
        &changed.id,
        Some(payout),
        Some(&changed),
    );
    Ok((changed, recredit, audit))
}
