//! What every fuzz target shares: the request headers a platform sends, a fixed clock, and the
//! post-condition of the normalizers (an event they return always passes the worker's own
//! `ConversionEvent::check_bounds`, so nothing answered 200 can be parked as poison), and that
//! the strict-JSON check's quick pass agrees with its full one.

use http::{HeaderMap, HeaderValue};
use time::macros::datetime;
use time::OffsetDateTime;

use linkledger_core::conversion::{ConversionEvent, Platform};
use linkledger_core::ids::ProgramId;
use linkledger_webhooks::{normalize, Normalized, Strict};

/// A fixed clock, so a crash input reproduces on any day (the fixtures are dated before it).
pub const NOW: OffsetDateTime = datetime!(2026-12-01 12:00 UTC);

/// The first byte picks one of `topics`; the rest is the body. The seed corpus is written in
/// this form by `scripts/fuzz`.
pub fn split_topic<'a>(
    data: &'a [u8],
    topics: &[&'static str],
) -> Option<(&'static str, &'a [u8])> {
    let (first, body) = data.split_first()?;
    let topic = topics.get(usize::from(*first) % topics.len())?;
    Some((topic, body))
}

fn headers(platform: Platform, topic: &'static str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let (topic_header, delivery_header) = match platform {
        Platform::Shopify => ("x-shopify-topic", "x-shopify-webhook-id"),
        Platform::Woocommerce => ("x-wc-webhook-topic", "x-wc-webhook-delivery-id"),
        Platform::Stripe | Platform::Postback => return headers,
    };
    headers.insert(topic_header, HeaderValue::from_static(topic));
    headers.insert(delivery_header, HeaderValue::from_static("fuzz-delivery-1"));
    headers
}

/// Normalizes `body` as `platform` sends it under `topic` and checks the post-condition.
pub fn normalize_and_check(platform: Platform, topic: &'static str, body: &[u8]) {
    // The strict-JSON check's quick pass never takes a body its full check refuses.
    assert_eq!(
        Strict::check(body).map(|s| s.bytes().len()),
        Strict::check_fully(body).map(|s| s.bytes().len()),
        "the quick and the full check disagree"
    );
    match normalize(platform, &headers(platform, topic), body, "ll_click", NOW) {
        Err(field) => {
            // A refusal names a field and never carries control characters (it is shown and
            // may be logged); duplicate-key paths are the sender's keys, so they are bounded.
            let text = field.to_string();
            assert!(!text.chars().any(char::is_control), "{text:?}");
            assert!(
                field.path.len() <= 300,
                "path of {} bytes",
                field.path.len()
            );
        }
        Ok(Normalized::Ignored(topic)) => {
            assert!(topic.len() <= 300 && !topic.chars().any(char::is_control));
        }
        Ok(Normalized::Facts(facts)) => {
            assert!(!facts.is_empty());
            for (delivery_id, fact) in facts {
                let event = ConversionEvent {
                    program_id: ProgramId::generate(),
                    platform,
                    delivery_id,
                    received_at: NOW,
                    fact,
                };
                if let Err(reason) = event.check_bounds(NOW) {
                    panic!("an accepted event is outside the bounds: {reason}: {event:?}");
                }
            }
        }
    }
}
