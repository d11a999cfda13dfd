//! Tracking links and their clicks as the API reads and shows them.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use linkledger_core::click;
use linkledger_core::destination::Destination;
use linkledger_core::ids::{ClickId, CreatorId, LinkCode, ProgramId};
use linkledger_core::link;

use super::values;

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Link {
    #[schema(value_type = values::LinkCode)]
    pub code: LinkCode,
    #[schema(value_type = values::ProgramId)]
    pub program_id: ProgramId,
    #[schema(value_type = values::CreatorId)]
    pub creator_id: CreatorId,
    #[schema(value_type = values::Destination)]
    pub destination: Destination,
    pub disabled: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<&link::Link> for Link {
    fn from(l: &link::Link) -> Self {
        Self {
            code: l.code.clone(),
            program_id: l.program_id.clone(),
            creator_id: l.creator_id.clone(),
            destination: l.destination.clone(),
            disabled: l.disabled,
            expires_at: l.expires_at,
            created_at: l.created_at,
        }
    }
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLink {
    #[schema(value_type = values::ProgramId)]
    pub program_id: ProgramId,
    /// Required for admin keys; a creator key may omit it (or must name itself).
    #[schema(value_type = Option<values::CreatorId>)]
    pub creator_id: Option<CreatorId>,
    pub destination: String,
    /// A chosen short code; generated when absent.
    pub code: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Click {
    #[schema(value_type = values::ClickId)]
    pub id: ClickId,
    #[schema(value_type = values::LinkCode)]
    pub link_code: LinkCode,
    #[schema(value_type = values::ProgramId)]
    pub program_id: ProgramId,
    #[schema(value_type = values::CreatorId)]
    pub creator_id: CreatorId,
    /// Unix milliseconds.
    pub at_ms: i64,
    /// Keyed hash of IP + user agent: the same visitor gives the same value, the raw IP is
    /// never stored and cannot be recovered without the secret.
    pub visitor: String,
    /// Bot or link-preview user agent: recorded, never paid.
    pub bot: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrer_host: Option<String>,
}

impl From<&click::Click> for Click {
    fn from(c: &click::Click) -> Self {
        Self {
            id: c.id.clone(),
            link_code: c.link_code.clone(),
            program_id: c.program_id.clone(),
            creator_id: c.creator_id.clone(),
            at_ms: c.at_ms,
            visitor: c.visitor.clone(),
            bot: c.bot,
            country: c.country.clone(),
            referrer_host: c.referrer_host.clone(),
        }
    }
}

/// A click as the API shows it: with its derived uniqueness.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ClickView {
    #[serde(flatten)]
    pub click: Click,
    /// False when the same link saw the same visitor within the hour before.
    pub unique: bool,
}
