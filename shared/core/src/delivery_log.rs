//! The webhook delivery log: what a program's store (or server) sent us lately and what we
//! answered, so a brand can see that its store is connected. One [`Delivery`] per recorded
//! request: when, which platform, a bounded topic and the result with its HTTP status. It never
//! holds a payload, a header's secret, an address or anything a shopper typed.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::conversion::Platform;
use crate::ids::ProgramId;

/// The longest topic kept (longer ones are cut).
pub const MAX_TOPIC_CHARS: usize = 64;
/// The topic of a delivery whose topic is absent, unread or not of the allowed characters.
pub const OTHER_TOPIC: &str = "other";

/// What we answered a delivery to a known program.
///
/// There is no "duplicate": the webhooks answer a resent delivery like the first (it is queued
/// again and the worker's dedupe books it once), so a duplicate is not an answer of theirs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryResult {
    /// 200: its facts are on the conversions queue.
    Accepted,
    /// 200: a topic or state we do not book (`{"ignored": topic}`).
    Ignored,
    /// 200: WooCommerce's unsigned creation ping (`{"pong": true}`).
    Ping,
    /// 401 `webhook_not_configured`: the program has no secret for this platform.
    NotConfigured,
    /// 401 `missing_signature` / `bad_signature`: no signature, or one that does not hold.
    BadSignature,
    /// 401 `stale_signature`: a signed timestamp outside the replay window.
    Stale,
    /// 400 `malformed_body`: not strict JSON, or a field missing, mistyped or out of bounds.
    Malformed,
    /// 503: the queue (or the store, after the program was found) refused; the platform retries.
    Unavailable,
}

impl DeliveryResult {
    pub const ALL: [DeliveryResult; 8] = [
        DeliveryResult::Accepted,
        DeliveryResult::Ignored,
        DeliveryResult::Ping,
        DeliveryResult::NotConfigured,
        DeliveryResult::BadSignature,
        DeliveryResult::Stale,
        DeliveryResult::Malformed,
        DeliveryResult::Unavailable,
    ];

    /// The HTTP status answered with this result.
    pub fn status(self) -> u16 {
        match self {
            DeliveryResult::Accepted | DeliveryResult::Ignored | DeliveryResult::Ping => 200,
            DeliveryResult::NotConfigured
            | DeliveryResult::BadSignature
            | DeliveryResult::Stale => 401,
            DeliveryResult::Malformed => 400,
            DeliveryResult::Unavailable => 503,
        }
    }

    /// Its name in JSON (`bad_signature`).
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryResult::Accepted => "accepted",
            DeliveryResult::Ignored => "ignored",
            DeliveryResult::Ping => "ping",
            DeliveryResult::NotConfigured => "not_configured",
            DeliveryResult::BadSignature => "bad_signature",
            DeliveryResult::Stale => "stale",
            DeliveryResult::Malformed => "malformed",
            DeliveryResult::Unavailable => "unavailable",
        }
    }

    /// Whether the platform was answered 2xx (it stops retrying).
    pub fn is_success(self) -> bool {
        self.status() == 200
    }
}

/// One delivery received for a program on one platform.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub program_id: ProgramId,
    pub platform: Platform,
    /// When it was answered (the store's clock).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The platform's topic (`orders/paid`, `checkout.session.completed`, `sale`), bounded by
    /// [`bound_topic`].
    pub topic: String,
    pub result: DeliveryResult,
    /// The HTTP status answered (`result.status()`).
    pub status: u16,
}

impl Delivery {
    /// A delivery answered `result` at `at`; `topic` is bounded here ([`bound_topic`]).
    pub fn new(
        program_id: ProgramId,
        platform: Platform,
        at: OffsetDateTime,
        topic: &str,
        result: DeliveryResult,
    ) -> Self {
        Self {
            program_id,
            platform,
            at,
            topic: bound_topic(topic),
            result,
            status: result.status(),
        }
    }
}

/// A topic as the log keeps it: the text cut to [`MAX_TOPIC_CHARS`] when it consists of ASCII
/// letters, digits and `_ . / -` only; otherwise (empty, a space, an `@`, anything else)
/// [`OTHER_TOPIC`]. So no e-mail address, free text or control character is ever kept.
pub fn bound_topic(raw: &str) -> String {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/' | b'-');
    if raw.is_empty() || !raw.bytes().all(allowed) {
        return OTHER_TOPIC.to_string();
    }
    // Every byte is ASCII, so any byte index is a character boundary.
    raw[..raw.len().min(MAX_TOPIC_CHARS)].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn topics_are_kept_only_in_the_allowed_characters_and_cut_to_64() {
        assert_eq!(bound_topic("orders/paid"), "orders/paid");
        assert_eq!(
            bound_topic("checkout.session.completed"),
            "checkout.session.completed"
        );
        assert_eq!(bound_topic("order_updated-2"), "order_updated-2");
        assert_eq!(bound_topic(&"a".repeat(200)), "a".repeat(64));
        for bad in [
            "",
            "anna@example.com",
            "orders paid",
            "orders/paid\n",
            "é",
            "a?b=c",
        ] {
            assert_eq!(bound_topic(bad), OTHER_TOPIC, "{bad:?}");
        }
    }

    #[test]
    fn results_answer_their_status_and_serialize_in_snake_case() {
        let statuses: Vec<(String, u16)> = DeliveryResult::ALL
            .iter()
            .map(|r| {
                (
                    serde_json::to_value(r)
                        .unwrap()
                        .as_str()
                        .unwrap()
                        .to_string(),
                    r.status(),
                )
            })
            .collect();
        assert_eq!(
            statuses,
            [
                ("accepted", 200),
                ("ignored", 200),
                ("ping", 200),
                ("not_configured", 401),
                ("bad_signature", 401),
                ("stale", 401),
                ("malformed", 400),
                ("unavailable", 503),
            ]
            .map(|(name, status)| (name.to_string(), status))
        );
        for result in DeliveryResult::ALL {
            assert_eq!(
                serde_json::to_value(result).unwrap().as_str(),
                Some(result.as_str())
            );
        }
    }

    #[test]
    fn a_delivery_reads_back_from_its_json() {
        let delivery = Delivery::new(
            ProgramId::parse("prg_demo000000000000000000").unwrap(),
            Platform::Shopify,
            datetime!(2026-12-01 10:00:00.250 UTC),
            "orders/paid",
            DeliveryResult::BadSignature,
        );
        let json = serde_json::to_value(&delivery).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "program_id": "prg_demo000000000000000000",
                "platform": "shopify",
                "at": "2026-12-01T10:00:00.25Z",
                "topic": "orders/paid",
                "result": "bad_signature",
                "status": 401
            })
        );
        assert_eq!(serde_json::from_value::<Delivery>(json).unwrap(), delivery);
    }
}
