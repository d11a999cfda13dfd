//! Creators as the API reads and shows them.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use linkledger_core::creator;
use linkledger_core::ids::CreatorId;

use super::values;

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Creator {
    #[schema(value_type = values::CreatorId)]
    pub id: CreatorId,
    pub name: String,
    /// Where payouts go (PayPal e-mail).
    pub payout_email: String,
    /// SHA-256 of the trimmed, lower-cased payout e-mail, for self-referral checks.
    pub email_hash: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<&creator::Creator> for Creator {
    fn from(c: &creator::Creator) -> Self {
        Self {
            id: c.id.clone(),
            name: c.name.clone(),
            payout_email: c.payout_email.clone(),
            email_hash: c.email_hash.clone(),
            created_at: c.created_at,
        }
    }
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCreator {
    pub name: String,
    pub payout_email: String,
}

impl From<NewCreator> for creator::NewCreator {
    fn from(input: NewCreator) -> Self {
        Self {
            name: input.name,
            payout_email: input.payout_email,
        }
    }
}
