//! API keys: random, shown once, stored only as a hash.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::ids::{random_token, CreatorId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything.
    Admin,
    /// Read everything, run settlements, mark payouts.
    Finance,
    /// One creator's own links, clicks, ledger and payouts.
    Creator,
}

/// What is stored: never the key itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Public handle: the key's first characters, for listing and revoking.
    pub id: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator_id: Option<CreatorId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(default)]
    pub revoked: bool,
}

/// A freshly minted key: the secret is in `secret` and nowhere else.
pub struct MintedKey {
    pub secret: String,
    pub record: ApiKey,
}

impl std::fmt::Debug for MintedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedKey")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

/// Prefix that makes a leaked key recognisable to secret scanners.
pub const KEY_PREFIX: &str = "llk_";

impl ApiKey {
    /// 256 random bits; the id is the prefix plus the first 8 characters.
    pub fn mint(
        role: Role,
        creator_id: Option<CreatorId>,
        label: Option<String>,
        now: OffsetDateTime,
    ) -> MintedKey {
        let secret = format!("{KEY_PREFIX}{}", random_token(32));
        let id = secret
            .chars()
            .take(KEY_PREFIX.len().saturating_add(8))
            .collect();
        MintedKey {
            record: ApiKey {
                id,
                role,
                creator_id,
                label,
                created_at: now,
                revoked: false,
            },
            secret,
        }
    }
}

/// SHA-256 of the key, hex. A key has 256 random bits, so a fast hash is enough: there is
/// nothing to brute-force.
pub fn key_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}
