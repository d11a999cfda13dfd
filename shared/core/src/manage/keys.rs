//! API keys: which may be issued, minted with their audit entry.

use time::OffsetDateTime;

use crate::api_key::{ApiKey, MintedKey, Role};
use crate::audit::{Actor, AuditEntry};
use crate::ids::CreatorId;
use crate::limits;

/// A key asked for (the API's body and `linkledger keys create`'s input).
#[derive(Clone, Debug)]
pub struct NewApiKey {
    pub role: Role,
    /// Required for, and only for, creator keys.
    pub creator_id: Option<CreatorId>,
    pub label: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("creator keys need a creator_id, and only creator keys take one")]
    CreatorBinding,
    #[error("label: must be at most 100 characters, without control characters")]
    Label,
    #[error("no such creator")]
    UnknownCreator,
    #[error("this key is already revoked")]
    AlreadyRevoked,
}

/// The checks that need no facts: run before reading the creator a key is for.
pub fn check(input: &NewApiKey) -> Result<(), KeyError> {
    if (input.role == Role::Creator) != input.creator_id.is_some() {
        return Err(KeyError::CreatorBinding);
    }
    if input
        .label
        .as_ref()
        .is_some_and(|l| l.chars().count() > 100 || limits::check_text(l).is_err())
    {
        return Err(KeyError::Label);
    }
    Ok(())
}

/// A freshly minted key and its audit entry (the record only: the secret is never audited).
/// `creator_known` says whether the key's creator exists (ignored without one).
pub fn issue(
    input: &NewApiKey,
    creator_known: bool,
    now: OffsetDateTime,
    actor: &Actor,
) -> Result<(MintedKey, AuditEntry), KeyError> {
    check(input)?;
    if input.creator_id.is_some() && !creator_known {
        return Err(KeyError::UnknownCreator);
    }
    let minted = ApiKey::mint(
        input.role,
        input.creator_id.clone(),
        input.label.clone(),
        now,
    );
    let audit = AuditEntry::new(
        now,
        actor,
        "api_key.create",
        &minted.record.id,
        None,
        Some(&minted.record),
    );
    Ok((minted, audit))
}

/// The key revoked, with its audit entry: a revoked key signs nothing in again, and revoking is
/// final (a new key is issued instead).
pub fn revoke(
    key: &ApiKey,
    now: OffsetDateTime,
    actor: &Actor,
) -> Result<(ApiKey, AuditEntry), KeyError> {
    if key.revoked {
        return Err(KeyError::AlreadyRevoked);
    }
    let revoked = ApiKey {
        revoked: true,
        ..key.clone()
    };
    let audit = AuditEntry::new(
        now,
        actor,
        "api_key.revoke",
        &key.id,
        Some(key),
        Some(&revoked),
    );
    Ok((revoked, audit))
}
