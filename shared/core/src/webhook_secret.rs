//! A program's webhook signing secret per platform, and the masked form shown (and audited) after
//! it was set.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::conversion::Platform;
use crate::ids::ProgramId;

/// A program's signing secret for one platform. Stored as given (HMAC needs it); the API shows
/// it only masked after creation, and it never reaches a log (`Debug` redacts it).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSecret {
    pub program_id: ProgramId,
    pub platform: Platform,
    pub secret: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "WebhookSecret({:?}, {}, <redacted>)",
            self.program_id,
            self.platform.as_str()
        )
    }
}

/// A secret as the API shows it after creation.
#[derive(Clone, Debug, Serialize)]
pub struct MaskedSecret {
    pub platform: Platform,
    /// The first and last characters only.
    pub secret_hint: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl WebhookSecret {
    pub fn masked(&self) -> MaskedSecret {
        let chars: Vec<char> = self.secret.chars().collect();
        let hint = if chars.len() >= 12 {
            let head: String = chars[..4].iter().collect();
            let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
            format!("{head}…{tail}")
        } else {
            "…".to_string()
        };
        MaskedSecret {
            platform: self.platform,
            secret_hint: hint,
            created_at: self.created_at,
        }
    }
}
