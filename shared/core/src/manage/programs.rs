//! Programs: created under an id the caller drew, edited (name, domains, plan, ...) and given
//! exchange rates; every write audited with the program before and after.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::audit::{Actor, AuditEntry};
use crate::fx::Rate;
use crate::ids::ProgramId;
use crate::money::Currency;
use crate::program::{NewProgram, Program, ProgramError, ProgramPatch};

/// The program to create (defaults filled in, every rule of [`Program::validate`] checked) and
/// its audit entry. `id` is drawn by the caller (`ProgramId::generate()`, or the demo's own).
pub fn create(
    id: ProgramId,
    input: NewProgram,
    now: OffsetDateTime,
    actor: &Actor,
) -> Result<(Program, AuditEntry), ProgramError> {
    let program = Program::create_with_id(id, input, now)?;
    let audit = AuditEntry::new(
        now,
        actor,
        "program.create",
        &program.id,
        None,
        Some(&program),
    );
    Ok((program, audit))
}

/// `current` with the patch's fields applied, revalidated, and its audit entry.
pub fn update(
    current: &Program,
    patch: ProgramPatch,
    now: OffsetDateTime,
    actor: &Actor,
) -> Result<(Program, AuditEntry), ProgramError> {
    let updated = current.apply(patch, now)?;
    Ok(changed(current, updated, "program.update", now, actor))
}

/// `current` with its exchange rates replaced by `rates` (an empty map removes them all).
pub fn set_fx_rates(
    current: &Program,
    rates: BTreeMap<Currency, Rate>,
    now: OffsetDateTime,
    actor: &Actor,
) -> Result<(Program, AuditEntry), ProgramError> {
    let mut updated = current.clone();
    updated.fx_rates = rates;
    updated.updated_at = now;
    updated.validate()?;
    Ok(changed(current, updated, "program.fx_rates", now, actor))
}

fn changed(
    before: &Program,
    after: Program,
    action: &str,
    now: OffsetDateTime,
    actor: &Actor,
) -> (Program, AuditEntry) {
    let audit = AuditEntry::new(now, actor, action, &before.id, Some(before), Some(&after));
    (after, audit)
}
