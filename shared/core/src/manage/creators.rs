//! Creators and their enrolment in programs (with an optional rate override).

use time::OffsetDateTime;

use crate::audit::{Actor, AuditEntry};
use crate::creator::{Creator, CreatorError, Enrolment, NewCreator, NewEnrolment};
use crate::ids::CreatorId;
use crate::money::{Currency, Money, MoneyError};
use crate::program::{Program, SaleCommission};

/// The creator to create (name trimmed, e-mail checked and hashed) and its audit entry. `id` is
/// drawn by the caller (`CreatorId::generate()`, or the demo's own).
pub fn create(
    id: CreatorId,
    input: NewCreator,
    now: OffsetDateTime,
    actor: &Actor,
) -> Result<(Creator, AuditEntry), CreatorError> {
    let creator = Creator::create_with_id(id, input, now)?;
    let audit = AuditEntry::new(
        now,
        actor,
        "creator.create",
        &creator.id,
        None,
        Some(&creator),
    );
    Ok((creator, audit))
}

/// Each message is the one the API answers.
#[derive(Debug, thiserror::Error)]
pub enum EnrolmentError {
    #[error("no such creator")]
    UnknownCreator,
    #[error("rate_override.fixed: {0}")]
    RateOutOfRange(#[source] MoneyError),
    #[error("rate_override.fixed must be a non-negative amount in {0}")]
    RateNotInProgramCurrency(Currency),
}

/// The checks of an enrolment in `program`, run before reading the enrolment it replaces.
/// `creator_known` says whether the creator exists.
pub fn check_enrolment(
    input: &NewEnrolment,
    program: &Program,
    creator_known: bool,
) -> Result<(), EnrolmentError> {
    if !creator_known {
        return Err(EnrolmentError::UnknownCreator);
    }
    if let Some(SaleCommission::Fixed(fixed)) = &input.rate_override {
        Money::bounded(fixed.minor(), fixed.currency()).map_err(EnrolmentError::RateOutOfRange)?;
        if fixed.currency() != program.currency || fixed.is_negative() {
            return Err(EnrolmentError::RateNotInProgramCurrency(program.currency));
        }
    }
    Ok(())
}

/// The enrolment to put (enrolling again replaces the rate override and the date) and its audit
/// entry; `before` is the creator's current enrolment in `program`, if any.
pub fn enrol(
    input: &NewEnrolment,
    program: &Program,
    creator_known: bool,
    before: Option<&Enrolment>,
    now: OffsetDateTime,
    actor: &Actor,
) -> Result<(Enrolment, AuditEntry), EnrolmentError> {
    check_enrolment(input, program, creator_known)?;
    let enrolment = Enrolment {
        program_id: program.id.clone(),
        creator_id: input.creator_id.clone(),
        rate_override: input.rate_override.clone(),
        enrolled_at: now,
    };
    let audit = AuditEntry::new(
        now,
        actor,
        "enrolment.put",
        format!("{}/{}", enrolment.program_id, enrolment.creator_id),
        before,
        Some(&enrolment),
    );
    Ok((enrolment, audit))
}
