//! Manual corrections of a creator's balance: payable at once, always with a note.

use time::OffsetDateTime;

use crate::audit::{Actor, AuditEntry};
use crate::creator::Enrolment;
use crate::ids::CreatorId;
use crate::ledger::LedgerEntry;
use crate::limits::{self, LimitError};
use crate::money::{Currency, Money, MoneyError};
use crate::program::Program;

/// An adjustment asked for, in `program`.
#[derive(Clone, Debug)]
pub struct NewAdjustment {
    pub creator_id: CreatorId,
    pub amount: Money,
    pub note: String,
}

/// Each message is the one the API answers (it names the field).
#[derive(Debug, thiserror::Error)]
pub enum AdjustmentError {
    #[error("the creator is not enrolled in this program")]
    NotEnrolled,
    #[error("amount: {0}")]
    AmountOutOfRange(#[source] MoneyError),
    #[error("amount: must be a non-zero amount in the program currency {0}")]
    NotInProgramCurrency(Currency),
    #[error("note: {0}")]
    NoteRefused(#[source] LimitError),
    #[error("note: must be 1 to 500 characters")]
    NoteEmpty,
}

/// The adjustment entry (its note trimmed) and its audit entry. `enrolment` is the creator's
/// enrolment in `program`, if any.
pub fn create(
    input: &NewAdjustment,
    program: &Program,
    enrolment: Option<&Enrolment>,
    now: OffsetDateTime,
    actor: &Actor,
) -> Result<(LedgerEntry, AuditEntry), AdjustmentError> {
    if !enrolment.is_some_and(|e| e.program_id == program.id && e.creator_id == input.creator_id) {
        return Err(AdjustmentError::NotEnrolled);
    }
    Money::bounded(input.amount.minor(), input.amount.currency())
        .map_err(AdjustmentError::AmountOutOfRange)?;
    if input.amount.currency() != program.currency || input.amount.minor() == 0 {
        return Err(AdjustmentError::NotInProgramCurrency(program.currency));
    }
    let note = input.note.trim();
    limits::check_text(note).map_err(AdjustmentError::NoteRefused)?;
    if note.is_empty() {
        return Err(AdjustmentError::NoteEmpty);
    }
    let entry = LedgerEntry::adjustment(
        input.creator_id.clone(),
        program.id.clone(),
        input.amount,
        now,
    )
    .with_note(note);
    let audit = AuditEntry::new(now, actor, "ledger.adjust", &entry.id, None, Some(&entry));
    Ok((entry, audit))
}
