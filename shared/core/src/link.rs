//! Tracking links and promo codes: what a creator shares.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::destination::Destination;
use crate::ids::{CreatorId, LinkCode, ProgramId};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub code: LinkCode,
    pub program_id: ProgramId,
    pub creator_id: CreatorId,
    pub destination: Destination,
    pub disabled: bool,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Why a known link does not redirect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    Active,
    Disabled,
    Expired,
}

impl Link {
    pub fn state(&self, now: OffsetDateTime) -> LinkState {
        if self.disabled {
            LinkState::Disabled
        } else if self.expires_at.is_some_and(|at| at <= now) {
            LinkState::Expired
        } else {
            LinkState::Active
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewLink {
    pub program_id: ProgramId,
    /// Required for admin keys; a creator key may omit it (or must name itself).
    pub creator_id: Option<CreatorId>,
    pub destination: String,
    /// A chosen short code; generated when absent.
    pub code: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// A promo code a creator shares; matched case-insensitively within its program.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromoCode {
    pub code: String,
    pub program_id: ProgramId,
    pub creator_id: CreatorId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// A disabled code attributes nothing from then on (orders that used it are booked as
    /// unattributed unless a click names their creator); disabling is final.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPromoCode {
    pub code: String,
    pub creator_id: CreatorId,
}

/// Promo codes as stores print them: 2 to 64 letters, digits, `-` or `_`.
pub fn parse_promo_code(text: &str) -> Result<String, &'static str> {
    let code = text.trim();
    if (2..=64).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(code.to_string())
    } else {
        Err("promo codes are 2 to 64 letters, digits, '-' or '_'")
    }
}

/// The case-insensitive identity of a promo code.
pub fn promo_key(code: &str) -> String {
    code.trim().to_ascii_lowercase()
}
