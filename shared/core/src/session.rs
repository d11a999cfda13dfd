//! Dashboard sessions: an API key signed in through the browser.
//!
//! The browser holds a random token (256 bits) in its cookie; the store keeps only the token's
//! hash, with the hash of the key it signed in with, so a session ends when it expires, when it
//! is signed out (its record deleted), or when its key is revoked (read on every request).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::ids::random_token;

/// How long a session lasts after sign-in: a working day.
pub const SESSION_HOURS: i64 = 8;

/// What the store keeps of a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// SHA-256 (hex) of the API key signed in with: the key's stored record is read by it.
    pub key_hash: String,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// A session just started: the token goes to the browser, and nowhere else.
pub struct StartedSession {
    pub token: String,
    pub token_hash: String,
    pub record: Session,
}

impl std::fmt::Debug for StartedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartedSession")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

impl Session {
    pub fn start(key_hash: String, now: OffsetDateTime) -> StartedSession {
        let token = random_token(32);
        StartedSession {
            token_hash: token_hash(&token),
            record: Session {
                key_hash,
                started_at: now,
                expires_at: now.saturating_add(Duration::hours(SESSION_HOURS)),
            },
            token,
        }
    }

    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        now < self.expires_at
    }
}

/// SHA-256 of a session token, hex: how the store names a session.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The form token of a session (CSRF): derived from the session's own secret token, so only a
/// page rendered for this session carries it, and it needs no storage of its own.
pub fn form_token(token: &str) -> String {
    let digest = Sha256::digest(format!("linkledger-form|{token}").as_bytes());
    hex::encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_session_lasts_a_working_day_and_names_itself_by_hash() {
        let now = datetime!(2026-12-03 09:00 UTC);
        let started = Session::start("abc".into(), now);
        assert_eq!(started.token_hash, token_hash(&started.token));
        assert_ne!(started.token, started.token_hash);
        assert!(started.record.is_live(datetime!(2026-12-03 16:59 UTC)));
        assert!(!started.record.is_live(datetime!(2026-12-03 17:00 UTC)));
    }

    #[test]
    fn form_tokens_differ_per_session() {
        assert_ne!(form_token("a"), form_token("b"));
        assert_eq!(form_token("a"), form_token("a"));
        assert_eq!(form_token("a").len(), 32);
    }
}
