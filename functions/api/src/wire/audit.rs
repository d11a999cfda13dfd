//! The audit log as the API shows it. `before` and `after` are the records as they were
//! written (their stored JSON), kept verbatim.

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use linkledger_core::audit;

use super::keys::Role;

/// Who made a change: an API key, or the operator's CLI.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Actor {
    /// The API key's public id, or `cli` / `demo`.
    pub key_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

impl From<&audit::Actor> for Actor {
    fn from(actor: &audit::Actor) -> Self {
        Self {
            key_id: actor.key_id.clone(),
            role: actor.role.map(Into::into),
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    /// Time-ordered id (same scheme as click ids).
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    pub actor: Actor,
    /// `program.create`, `program.update`, `creator.create`, `enrolment.put`, `link.create`,
    /// `link.disable`, `promo_code.create`, `api_key.create`.
    pub action: String,
    /// The id or code of the record changed.
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<serde_json::Value>,
}

impl From<&audit::AuditEntry> for AuditEntry {
    fn from(entry: &audit::AuditEntry) -> Self {
        Self {
            id: entry.id.to_string(),
            at: entry.at,
            actor: (&entry.actor).into(),
            action: entry.action.clone(),
            target: entry.target.clone(),
            before: entry.before.clone(),
            after: entry.after.clone(),
        }
    }
}
