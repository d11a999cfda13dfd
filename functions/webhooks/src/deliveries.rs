//! The delivery log's writer: once a request to a known program is answered, what it was
//! answered is logged (`Store::record_delivery`), so a brand's dashboard can show its last
//! deliveries per platform. Nothing is logged for a program we do not know (404: no writes for
//! strangers), nor for a body refused before the handler runs (413, a broken stream).
//!
//! Ingestion stays cheap: an instance logs at most one delivery per (program, platform, result)
//! per [`INTERVAL`] of the store's clock ([`Throttle`]), so a burst of accepted orders costs one
//! write a second, however many arrive. A failed write is logged with its cause and never
//! changes the answer.
//!
//! The log holds no payload: the topic is the platform's topic header (Shopify, WooCommerce) or,
//! only once the signature held, the body's `type` (Stripe) or `event` (postback), bounded to 64
//! characters of `[A-Za-z0-9_./-]` (else `other`) by `delivery_log::bound_topic`.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::HeaderMap;
use serde::Deserialize;
use time::{Duration, OffsetDateTime};

use linkledger_core::conversion::Platform;
use linkledger_core::delivery_log::{Delivery, DeliveryResult, OTHER_TOPIC};
use linkledger_core::ids::ProgramId;
use linkledger_http::{ErrorCode, HttpError};
use linkledger_store::ports::ErrorChain;

use crate::{signature_header, Accepted, WebhookState};

/// At most one logged delivery per (program, platform, result) per instance in this time.
pub const INTERVAL: Duration = Duration::SECOND;
/// Keys remembered at most (past it, the memory starts over: a few extra writes).
const CAPACITY: usize = 10_000;

/// What the ingest learned on its way that the log needs.
#[derive(Debug, Default)]
pub struct Seen {
    /// The program, once found: nothing is logged without it.
    pub program: Option<ProgramId>,
    /// Whether the signature held (only then is the body read for its topic).
    pub verified: bool,
}

type ThrottleKey = (ProgramId, Platform, DeliveryResult);

/// When each (program, platform, result) was last logged by this instance.
#[derive(Default)]
pub struct Throttle {
    last: Mutex<HashMap<ThrottleKey, OffsetDateTime>>,
}

impl Throttle {
    /// Whether a delivery answered `result` at `at` is to be logged; if so, it takes the slot
    /// (so of two concurrent deliveries, one writes).
    fn claim(
        &self,
        program: &ProgramId,
        platform: Platform,
        result: DeliveryResult,
        at: OffsetDateTime,
    ) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let key = (program.clone(), platform, result);
        if let Some(&then) = last.get(&key) {
            // A clock that went back (`at` before `then`) logs again rather than go quiet.
            let recent = then <= at && then.checked_add(INTERVAL).is_some_and(|until| at < until);
            if recent {
                return false;
            }
        } else if last.len() >= CAPACITY {
            last.clear();
        }
        last.insert(key, at);
        true
    }
}

/// The result an answer logs as; `None` for an answer that is not about a known program's
/// delivery (404, or anything unforeseen below 500).
fn result_of(answer: &Result<Accepted, HttpError>) -> Option<DeliveryResult> {
    Some(match answer {
        Ok(Accepted::Queued { .. }) => DeliveryResult::Accepted,
        Ok(Accepted::Ignored { .. }) => DeliveryResult::Ignored,
        Ok(Accepted::Pong { .. }) => DeliveryResult::Ping,
        Err(err) => match err.code {
            ErrorCode::WebhookNotConfigured => DeliveryResult::NotConfigured,
            ErrorCode::MissingSignature | ErrorCode::BadSignature => DeliveryResult::BadSignature,
            ErrorCode::StaleSignature => DeliveryResult::Stale,
            ErrorCode::MalformedBody => DeliveryResult::Malformed,
            _ if err.status.is_server_error() => DeliveryResult::Unavailable,
            _ => return None,
        },
    })
}

/// The `type` of a Stripe event.
#[derive(Deserialize)]
struct StripeTopic {
    #[serde(rename = "type")]
    kind: String,
}

/// The `event` of a postback.
#[derive(Deserialize)]
struct PostbackTopic {
    event: String,
}

/// The delivery's topic as the platform names it (bounded later by `Delivery::new`).
fn topic(platform: Platform, headers: &HeaderMap, body: &[u8], verified: bool) -> String {
    let found = match platform {
        Platform::Shopify => signature_header(headers, "x-shopify-topic").map(str::to_string),
        Platform::Woocommerce => {
            signature_header(headers, "x-wc-webhook-topic").map(str::to_string)
        }
        // An unverified body is never read.
        Platform::Stripe if verified => serde_json::from_slice::<StripeTopic>(body)
            .ok()
            .map(|t| t.kind),
        Platform::Postback if verified => serde_json::from_slice::<PostbackTopic>(body)
            .ok()
            .map(|t| t.event),
        Platform::Stripe | Platform::Postback => None,
    };
    found.unwrap_or_else(|| OTHER_TOPIC.to_string())
}

/// Logs the answer of one delivery if it was to a known program and its (program, platform,
/// result) was not logged in the last [`INTERVAL`]. Never fails: a failed write is logged.
pub(crate) async fn record(
    state: &WebhookState,
    platform: Platform,
    seen: Seen,
    headers: &HeaderMap,
    body: &[u8],
    answer: &Result<Accepted, HttpError>,
) {
    let Some(program) = seen.program else {
        return;
    };
    let Some(result) = result_of(answer) else {
        return;
    };
    let at = state.store.now();
    if !state.deliveries.claim(&program, platform, result, at) {
        return;
    }
    let topic = topic(platform, headers, body, seen.verified);
    let delivery = Delivery::new(program, platform, at, &topic, result);
    if let Err(err) = state.store.record_delivery(&delivery).await {
        tracing::warn!(
            error = %ErrorChain(&err),
            result = result.as_str(),
            "delivery log write failed"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use time::macros::datetime;

    fn program(n: usize) -> ProgramId {
        ProgramId::parse(&format!("prg_{n:022}")).unwrap()
    }

    #[test]
    fn one_delivery_per_program_platform_and_result_per_second() {
        let throttle = Throttle::default();
        let t0 = datetime!(2026-12-01 10:00:00 UTC);
        let (p, q) = (program(1), program(2));
        let ok = DeliveryResult::Accepted;
        assert!(throttle.claim(&p, Platform::Shopify, ok, t0));
        assert!(!throttle.claim(&p, Platform::Shopify, ok, t0));
        assert!(!throttle.claim(&p, Platform::Shopify, ok, t0 + Duration::milliseconds(999)));
        // Another result, platform or program has its own slot.
        assert!(throttle.claim(&p, Platform::Shopify, DeliveryResult::BadSignature, t0));
        assert!(throttle.claim(&p, Platform::Stripe, ok, t0));
        assert!(throttle.claim(&q, Platform::Shopify, ok, t0));
        // A second later, again; a clock gone back logs rather than go quiet.
        assert!(throttle.claim(&p, Platform::Shopify, ok, t0 + Duration::SECOND));
        assert!(throttle.claim(&p, Platform::Shopify, ok, t0));
    }

    #[test]
    fn the_memory_starts_over_when_full() {
        let throttle = Throttle::default();
        let t0 = datetime!(2026-12-01 10:00:00 UTC);
        for n in 0..CAPACITY {
            assert!(throttle.claim(
                &program(n),
                Platform::Postback,
                DeliveryResult::Accepted,
                t0
            ));
        }
        assert_eq!(throttle.last.lock().unwrap().len(), CAPACITY);
        // A known key stays throttled; a new one empties the memory first.
        assert!(!throttle.claim(
            &program(0),
            Platform::Postback,
            DeliveryResult::Accepted,
            t0
        ));
        assert!(throttle.claim(
            &program(CAPACITY),
            Platform::Postback,
            DeliveryResult::Accepted,
            t0
        ));
        assert_eq!(throttle.last.lock().unwrap().len(), 1);
    }

    #[test]
    fn answers_map_to_their_results() {
        let err = |status, code| Err(HttpError::new(status, code, "x"));
        let cases: Vec<(Result<Accepted, HttpError>, Option<DeliveryResult>)> = vec![
            (
                Ok(Accepted::Queued { queued: vec![] }),
                Some(DeliveryResult::Accepted),
            ),
            (
                Ok(Accepted::Ignored {
                    ignored: "a".into(),
                }),
                Some(DeliveryResult::Ignored),
            ),
            (
                Ok(Accepted::Pong { pong: true }),
                Some(DeliveryResult::Ping),
            ),
            (
                err(StatusCode::UNAUTHORIZED, ErrorCode::WebhookNotConfigured),
                Some(DeliveryResult::NotConfigured),
            ),
            (
                err(StatusCode::UNAUTHORIZED, ErrorCode::MissingSignature),
                Some(DeliveryResult::BadSignature),
            ),
            (
                err(StatusCode::UNAUTHORIZED, ErrorCode::BadSignature),
                Some(DeliveryResult::BadSignature),
            ),
            (
                err(StatusCode::UNAUTHORIZED, ErrorCode::StaleSignature),
                Some(DeliveryResult::Stale),
            ),
            (
                err(StatusCode::BAD_REQUEST, ErrorCode::MalformedBody),
                Some(DeliveryResult::Malformed),
            ),
            (
                Err(HttpError::unavailable()),
                Some(DeliveryResult::Unavailable),
            ),
            (Err(HttpError::not_found("no such program")), None),
        ];
        for (answer, expected) in cases {
            let status = match &answer {
                Ok(_) => 200,
                Err(e) => e.status.as_u16(),
            };
            let result = result_of(&answer);
            assert_eq!(result, expected);
            if let Some(result) = result {
                assert_eq!(result.status(), status, "{result:?}");
            }
        }
    }

    #[test]
    fn topics_come_from_headers_or_a_verified_body_only() {
        let mut headers = HeaderMap::new();
        headers.insert("x-shopify-topic", "orders/paid".parse().unwrap());
        headers.insert("x-wc-webhook-topic", "order.updated".parse().unwrap());
        let stripe = br#"{"id":"evt_1","type":"checkout.session.completed"}"#;
        let postback = br#"{"event":"sale","email":"anna@example.com"}"#;
        assert_eq!(
            topic(Platform::Shopify, &headers, b"", false),
            "orders/paid"
        );
        assert_eq!(
            topic(Platform::Woocommerce, &headers, b"", false),
            "order.updated"
        );
        assert_eq!(
            topic(Platform::Stripe, &headers, stripe, true),
            "checkout.session.completed"
        );
        assert_eq!(
            topic(Platform::Stripe, &headers, stripe, false),
            OTHER_TOPIC
        );
        assert_eq!(topic(Platform::Postback, &headers, postback, true), "sale");
        assert_eq!(
            topic(Platform::Postback, &headers, postback, false),
            OTHER_TOPIC
        );
        assert_eq!(
            topic(Platform::Postback, &headers, b"not json", true),
            OTHER_TOPIC
        );
        assert_eq!(
            topic(Platform::Shopify, &HeaderMap::new(), b"", true),
            OTHER_TOPIC
        );
    }
}
