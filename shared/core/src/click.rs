//! Clicks: one per redirect, keyed by a click id that travels to the store and back.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::ids::{ClickId, CreatorId, LinkCode, ProgramId};

/// A repeat visit of the same link by the same visitor within this window is not unique.
pub const UNIQUE_WINDOW_MS: i64 = 60 * 60 * 1000;
/// Clicks live this long past their program's attribution window, then expire (TTL).
pub const RETENTION_MARGIN_DAYS: i64 = 7;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Click {
    pub id: ClickId,
    pub link_code: LinkCode,
    pub program_id: ProgramId,
    pub creator_id: CreatorId,
    /// Unix milliseconds.
    pub at_ms: i64,
    /// Keyed hash of IP + user agent: the same visitor gives the same value, the raw IP is
    /// never stored and cannot be recovered without the secret.
    pub visitor: String,
    /// Bot or link-preview user agent: recorded, never paid.
    pub bot: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer_host: Option<String>,
}

/// A click as the API shows it: with its derived uniqueness.
#[derive(Clone, Debug, Serialize)]
pub struct ClickView {
    #[serde(flatten)]
    pub click: Click,
    /// False when the same link saw the same visitor within the hour before.
    pub unique: bool,
}

/// The HMAC key for visitor hashes (from `LINKLEDGER_CLICK_HASH_SECRET`).
#[derive(Clone)]
pub struct VisitorKey(Vec<u8>);

impl VisitorKey {
    pub fn new(secret: &[u8]) -> Self {
        Self(secret.to_vec())
    }

    /// HMAC-SHA256(secret, ip ‖ 0x00 ‖ user agent), first 16 bytes, hex.
    pub fn visitor(&self, ip: &str, user_agent: &str) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            return String::new();
        };
        mac.update(ip.as_bytes());
        mac.update(&[0]);
        mac.update(user_agent.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }
}

impl std::fmt::Debug for VisitorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VisitorKey(<redacted>)")
    }
}

/// Substrings (lower-case) of user agents that are crawlers, monitors or link-preview fetchers:
/// a shared link is fetched by the chat app before any human taps it.
const BOT_MARKERS: &[&str] = &[
    "bot",
    "crawler",
    "spider",
    "slurp",
    "facebookexternalhit",
    "facebookcatalog",
    "meta-externalagent",
    "embedly",
    "quora link preview",
    "outbrain",
    "pinterest",
    "vkshare",
    "w3c_validator",
    "whatsapp",
    "telegram",
    "discord",
    "skypeuripreview",
    "slack",
    "linkedin",
    "redditbot",
    "preview",
    "headless",
    "lighthouse",
    "pingdom",
    "uptime",
    "monitor",
    "python-requests",
    "go-http-client",
    "okhttp",
    "java/",
    "wget",
    "curl/",
    "httpclient",
    "scrapy",
    "phantomjs",
];

/// All of [`BOT_MARKERS`] searched in one pass, ignoring ASCII case (built once; `None` only
/// if the automaton could not be built, and then the markers are searched one by one).
static BOT_SEARCH: std::sync::LazyLock<Option<aho_corasick::AhoCorasick>> =
    std::sync::LazyLock::new(|| {
        aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(BOT_MARKERS)
            .ok()
    });

/// True for empty or known automated user agents.
pub fn is_bot(user_agent: &str) -> bool {
    let ua = user_agent.trim();
    if ua.is_empty() {
        return true;
    }
    match BOT_SEARCH.as_ref() {
        Some(search) => search.is_match(ua),
        None => {
            let lower = ua.to_ascii_lowercase();
            BOT_MARKERS.iter().any(|marker| lower.contains(marker))
        }
    }
}

/// Whether `earlier` (same link, same visitor) makes a click at `at_ms` a repeat.
pub fn is_repeat(earlier_at_ms: i64, at_ms: i64) -> bool {
    at_ms.saturating_sub(earlier_at_ms) < UNIQUE_WINDOW_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_bots_and_previewers_but_not_browsers() {
        for ua in [
            "",
            "Twitterbot/1.0",
            "facebookexternalhit/1.1",
            "WhatsApp/2.23",
            "Slackbot-LinkExpanding 1.0",
            "curl/8.5.0",
            "Mozilla/5.0 (compatible; Googlebot/2.1)",
        ] {
            assert!(is_bot(ua), "{ua}");
        }
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        assert!(!is_bot(safari));
    }

    #[test]
    fn visitor_hash_is_keyed_and_stable() {
        let a = VisitorKey::new(b"secret-a");
        let b = VisitorKey::new(b"secret-b");
        assert_eq!(a.visitor("1.2.3.4", "ua"), a.visitor("1.2.3.4", "ua"));
        assert_ne!(a.visitor("1.2.3.4", "ua"), b.visitor("1.2.3.4", "ua"));
        assert!(!a.visitor("1.2.3.4", "ua").contains("1.2.3.4"));
    }
}
