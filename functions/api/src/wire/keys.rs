//! API keys as the API mints and lists them.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use linkledger_core::api_key;
use linkledger_core::ids::CreatorId;

use super::values;

#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything.
    Admin,
    /// Read everything, run settlements, mark payouts.
    Finance,
    /// One creator's own links, clicks, ledger and payouts.
    Creator,
}

impl From<api_key::Role> for Role {
    fn from(role: api_key::Role) -> Self {
        match role {
            api_key::Role::Admin => Self::Admin,
            api_key::Role::Finance => Self::Finance,
            api_key::Role::Creator => Self::Creator,
        }
    }
}

/// What is stored: never the key itself.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ApiKey {
    /// Public handle: the key's first characters, for listing and revoking.
    pub id: String,
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<values::CreatorId>)]
    pub creator_id: Option<CreatorId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[schema(required = false)]
    pub revoked: bool,
}

impl From<&api_key::ApiKey> for ApiKey {
    fn from(key: &api_key::ApiKey) -> Self {
        Self {
            id: key.id.clone(),
            role: key.role.into(),
            creator_id: key.creator_id.clone(),
            label: key.label.clone(),
            created_at: key.created_at,
            revoked: key.revoked,
        }
    }
}

/// The request for a key (the API's body and `linkledger keys create`'s input).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    #[schema(value_type = Role)]
    pub role: api_key::Role,
    /// Required for, and only for, creator keys.
    #[schema(value_type = Option<values::CreatorId>)]
    pub creator_id: Option<CreatorId>,
    pub label: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedKey {
    /// The key itself: shown this once, stored only as a hash.
    pub key: String,
    #[serde(flatten)]
    pub record: ApiKey,
}

impl From<&crate::keys::IssuedKey> for IssuedKey {
    fn from(issued: &crate::keys::IssuedKey) -> Self {
        Self {
            key: issued.key.clone(),
            record: (&issued.record).into(),
        }
    }
}
