//! Webhook signing secrets: set (or rotated) per program and platform, given or generated, and
//! audited in their masked form only.

use time::OffsetDateTime;

use crate::audit::{Actor, AuditEntry};
use crate::conversion::Platform;
use crate::ids::{random_token, ProgramId};
use crate::webhook_secret::WebhookSecret;

/// A secret asked for.
#[derive(Clone)]
pub struct NewSecret {
    pub program_id: ProgramId,
    pub platform: Platform,
    /// The platform's own secret (Shopify's app secret, Stripe's `whsec_…`); generated when absent.
    pub given: Option<String>,
}

impl std::fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "NewSecret({:?}, {}, <redacted>)",
            self.program_id,
            self.platform.as_str()
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret must be 8 to 512 characters")]
    Length,
}

/// A fresh secret, for [`put`] to draw when none is given: `llwh_` and 256 random bits.
pub fn generate() -> String {
    format!("llwh_{}", random_token(32))
}

/// The checks that need no facts: run before reading the secret it replaces.
pub fn check(input: &NewSecret) -> Result<(), SecretError> {
    match &input.given {
        Some(s) if s.trim().len() < 8 || s.len() > 512 => Err(SecretError::Length),
        _ => Ok(()),
    }
}

/// The secret to store (the given one trimmed, else one drawn from `generate`, which the caller
/// passes: [`generate`] in production, a fixed value in tests) and its audit entry, which holds
/// `current` (the secret it replaces, if any) and the new one masked: a secret never reaches the
/// audit log.
pub fn put(
    input: &NewSecret,
    generate: impl FnOnce() -> String,
    current: Option<&WebhookSecret>,
    now: OffsetDateTime,
    actor: &Actor,
) -> Result<(WebhookSecret, AuditEntry), SecretError> {
    check(input)?;
    let secret = match &input.given {
        Some(given) => given.trim().to_string(),
        None => generate(),
    };
    let record = WebhookSecret {
        program_id: input.program_id.clone(),
        platform: input.platform,
        secret,
        created_at: now,
    };
    let audit = AuditEntry::new(
        now,
        actor,
        "webhook_secret.put",
        format!("{}/{}", record.program_id, record.platform.as_str()),
        current.map(WebhookSecret::masked).as_ref(),
        Some(&record.masked()),
    );
    Ok((record, audit))
}
