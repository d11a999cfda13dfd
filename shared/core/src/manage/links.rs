//! Tracking links: who may have one, where it may point, when it may expire, and its code.

use time::OffsetDateTime;

use crate::audit::{Actor, AuditEntry};
use crate::creator::Enrolment;
use crate::destination::{Destination, DestinationError};
use crate::ids::{CreatorId, IdError, LinkCode};
use crate::link::Link;
use crate::program::Program;

/// Codes tried before giving up when generating one (8 random characters: collisions are rare).
pub const GENERATE_ATTEMPTS: usize = 5;

/// A link asked for; the creator is already settled by the caller's rights.
#[derive(Clone, Debug)]
pub struct NewLink {
    pub creator_id: CreatorId,
    pub destination: String,
    /// A chosen short code; generated when absent.
    pub code: Option<String>,
    pub expires_at: Option<OffsetDateTime>,
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("enrol the creator in the program first")]
    NotEnrolled,
    #[error("the destination is refused")]
    Destination(#[source] DestinationError),
    #[error("expires_at must be in the future")]
    ExpiryPassed,
    #[error("the chosen code is not a valid link code")]
    Code(#[source] IdError),
    #[error("that code is taken")]
    CodeTaken,
}

/// The link to create and its audit entry. `enrolment` is the creator's enrolment in `program`
/// (if any); `codes_taken` is how many codes this request already found taken: a chosen code is
/// tried once, a generated one [`GENERATE_ATTEMPTS`] times.
pub fn create(
    input: &NewLink,
    program: &Program,
    enrolment: Option<&Enrolment>,
    codes_taken: usize,
    now: OffsetDateTime,
    actor: &Actor,
) -> Result<(Link, AuditEntry), LinkError> {
    if !enrolment.is_some_and(|e| e.program_id == program.id && e.creator_id == input.creator_id) {
        return Err(LinkError::NotEnrolled);
    }
    let destination = Destination::for_program(&input.destination, &program.allowed_domains)
        .map_err(LinkError::Destination)?;
    if input.expires_at.is_some_and(|at| at <= now) {
        return Err(LinkError::ExpiryPassed);
    }
    let code = match &input.code {
        Some(chosen) => {
            let code = LinkCode::parse(chosen).map_err(LinkError::Code)?;
            if codes_taken > 0 {
                return Err(LinkError::CodeTaken);
            }
            code
        }
        None if codes_taken >= GENERATE_ATTEMPTS => return Err(LinkError::CodeTaken),
        None => LinkCode::generate(),
    };
    let link = Link {
        code,
        program_id: program.id.clone(),
        creator_id: input.creator_id.clone(),
        destination,
        disabled: false,
        expires_at: input.expires_at,
        created_at: now,
    };
    let audit = AuditEntry::new(now, actor, "link.create", &link.code, None, Some(&link));
    Ok((link, audit))
}

/// The link disabled and its audit entry; `None` when it already is (nothing to write).
pub fn disable(current: &Link, now: OffsetDateTime, actor: &Actor) -> Option<(Link, AuditEntry)> {
    if current.disabled {
        return None;
    }
    let mut link = current.clone();
    link.disabled = true;
    let audit = AuditEntry::new(
        now,
        actor,
        "link.disable",
        &link.code,
        Some(current),
        Some(&link),
    );
    Some((link, audit))
}
