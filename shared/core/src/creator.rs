//! Creators (influencers) and their enrolment in programs.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::ids::{CreatorId, ProgramId};
use crate::program::SaleCommission;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Creator {
    pub id: CreatorId,
    pub name: String,
    /// Where payouts go (PayPal e-mail).
    pub payout_email: String,
    /// SHA-256 of the trimmed, lower-cased payout e-mail, for self-referral checks.
    pub email_hash: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCreator {
    pub name: String,
    pub payout_email: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct CreatorError {
    pub field: &'static str,
    pub reason: &'static str,
}

/// A deliberately small check: one `@`, a dotted domain, no spaces; the PayPal payout is the
/// real proof.
pub fn parse_email(text: &str) -> Result<String, CreatorError> {
    let email = text.trim();
    let bad = CreatorError {
        field: "payout_email",
        reason: "must be an e-mail address",
    };
    let (local, domain) = email.split_once('@').ok_or(bad.clone())?;
    let ok = !local.is_empty()
        && email.len() <= 254
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(email.to_string())
    } else {
        Err(bad)
    }
}

pub fn email_hash(email: &str) -> String {
    hex::encode(Sha256::digest(email.trim().to_lowercase().as_bytes()))
}

impl Creator {
    pub fn create(input: NewCreator, now: OffsetDateTime) -> Result<Self, CreatorError> {
        Self::create_with_id(CreatorId::generate(), input, now)
    }

    /// [`Creator::create`] under an id the caller drew (so a management flow stays deterministic).
    pub fn create_with_id(
        id: CreatorId,
        input: NewCreator,
        now: OffsetDateTime,
    ) -> Result<Self, CreatorError> {
        let name = input.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(CreatorError {
                field: "name",
                reason: "must be 1 to 200 characters",
            });
        }
        let payout_email = parse_email(&input.payout_email)?;
        Ok(Creator {
            id,
            name,
            email_hash: email_hash(&payout_email),
            payout_email,
            created_at: now,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolment {
    pub program_id: ProgramId,
    pub creator_id: CreatorId,
    /// Sale commission for this creator in this program, winning over the program's plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_override: Option<SaleCommission>,
    #[serde(with = "time::serde::rfc3339")]
    pub enrolled_at: OffsetDateTime,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEnrolment {
    pub creator_id: CreatorId,
    pub rate_override: Option<SaleCommission>,
}
