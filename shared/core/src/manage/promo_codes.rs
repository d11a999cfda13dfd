//! Promo codes: a creator's code in a program it is enrolled in.

use time::OffsetDateTime;

use crate::audit::{Actor, AuditEntry};
use crate::creator::Enrolment;
use crate::link::{parse_promo_code, NewPromoCode, PromoCode};
use crate::program::Program;

#[derive(Debug, thiserror::Error)]
pub enum PromoCodeError {
    #[error("{0}")]
    Code(&'static str),
    #[error("enrol the creator in the program first")]
    NotEnrolled,
    #[error("this promo code is already disabled")]
    AlreadyDisabled,
}

/// The checks that need no facts: run before reading the creator's enrolment.
pub fn check(input: &NewPromoCode) -> Result<(), PromoCodeError> {
    parse_promo_code(&input.code)
        .map(|_| ())
        .map_err(PromoCodeError::Code)
}

/// The promo code to create (trimmed; its uniqueness in the program, whatever the case, is the
/// store's conditional write) and its audit entry. `enrolment` is the creator's enrolment in
/// `program`, if any.
pub fn create(
    input: &NewPromoCode,
    program: &Program,
    enrolment: Option<&Enrolment>,
    now: OffsetDateTime,
    actor: &Actor,
) -> Result<(PromoCode, AuditEntry), PromoCodeError> {
    let code = parse_promo_code(&input.code).map_err(PromoCodeError::Code)?;
    if !enrolment.is_some_and(|e| e.program_id == program.id && e.creator_id == input.creator_id) {
        return Err(PromoCodeError::NotEnrolled);
    }
    let promo = PromoCode {
        code,
        program_id: program.id.clone(),
        creator_id: input.creator_id.clone(),
        created_at: now,
        disabled: false,
    };
    let audit = AuditEntry::new(
        now,
        actor,
        "promo_code.create",
        &promo.code,
        None,
        Some(&promo),
    );
    Ok((promo, audit))
}

/// The promo code disabled, with its audit entry.
pub fn disable(
    promo: &PromoCode,
    now: OffsetDateTime,
    actor: &Actor,
) -> Result<(PromoCode, AuditEntry), PromoCodeError> {
    if promo.disabled {
        return Err(PromoCodeError::AlreadyDisabled);
    }
    let disabled = PromoCode {
        disabled: true,
        ..promo.clone()
    };
    let audit = AuditEntry::new(
        now,
        actor,
        "promo_code.disable",
        &promo.code,
        Some(promo),
        Some(&disabled),
    );
    Ok((disabled, audit))
}
