//! Webhook signatures: the two schemes our platforms use, written once.
//!
//! - **Body HMAC, base64** — Shopify (`X-Shopify-Hmac-Sha256`) and WooCommerce
//!   (`X-WC-Webhook-Signature`): base64 of HMAC-SHA256 over the raw request body.
//! - **Timestamped HMAC, hex** — Stripe (`Stripe-Signature`) and our own postback
//!   (`Linkledger-Signature`): `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`, several `v1`
//!   allowed (secret rotation), and the timestamp must lie within a tolerance of now, in both
//!   directions (replay window).
//!
//! Comparisons are constant-time (`Mac::verify_slice`). Nothing here logs.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Stripe's default tolerance, also ours for postbacks.
pub const TOLERANCE_SECONDS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is missing")]
    Missing,
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the signature does not match the body")]
    Mismatch,
    #[error("the signature timestamp is {age_seconds} s away from now (tolerance {TOLERANCE_SECONDS} s)")]
    Stale { age_seconds: i64 },
}

fn mac(secret: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length; this cannot fail.
    <HmacSha256 as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!())
}

/// Base64 HMAC-SHA256 of `body` (how Shopify and WooCommerce sign).
pub fn sign_body_base64(secret: &[u8], body: &[u8]) -> String {
    let mut m = mac(secret);
    m.update(body);
    STANDARD.encode(m.finalize().into_bytes())
}

/// Checks a base64 body signature.
pub fn verify_body_base64(
    secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let expected = STANDARD
        .decode(header.trim())
        .map_err(|_| SignatureError::Malformed)?;
    let mut m = mac(secret);
    m.update(body);
    m.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// `t=…,v1=…` for `body` at `timestamp` (how Stripe and our postback sign).
pub fn sign_timestamped(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut m = mac(secret);
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(m.finalize().into_bytes())
    )
}

/// Checks a `t=…,v1=…[,v1=…]` header: any `v1` may match; other schemes (`v0`) are ignored.
pub fn verify_timestamped(
    secret: &[u8],
    body: &[u8],
    header: Option<&str>,
    now_unix: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (name, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match name {
            "t" => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                )
            }
            "v1" => signatures.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let mut m = mac(secret);
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    // Every candidate is compared in constant time; which one matched is not observable.
    let matched = signatures
        .iter()
        .fold(false, |ok, sig| m.clone().verify_slice(sig).is_ok() | ok);
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    // `abs_diff` cannot overflow: a `t` of `now - 2^63` or `i64::MIN` is far away, not near.
    if now_unix.abs_diff(timestamp) > TOLERANCE_SECONDS.unsigned_abs() {
        return Err(SignatureError::Stale {
            age_seconds: now_unix.saturating_sub(timestamp),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_body_signature_round_trips_and_rejects_tampering() {
        let sig = sign_body_base64(b"s3cret", b"{\"id\":1}");
        assert_eq!(
            verify_body_base64(b"s3cret", b"{\"id\":1}", Some(&sig)),
            Ok(())
        );
        assert_eq!(
            verify_body_base64(b"s3cret", b"{\"id\":2}", Some(&sig)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_body_base64(b"other", b"{\"id\":1}", Some(&sig)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_body_base64(b"s3cret", b"x", None),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_body_base64(b"s3cret", b"x", Some("%%%")),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn stripe_documented_example_verifies() {
        // Stripe's docs: signed_payload = "{t}.{body}", HMAC-SHA256 with the endpoint secret, hex.
        let header = sign_timestamped(b"whsec_test", 1_700_000_000, b"{}");
        assert!(header.starts_with("t=1700000000,v1="));
        assert_eq!(
            verify_timestamped(b"whsec_test", b"{}", Some(&header), 1_700_000_100),
            Ok(())
        );
    }

    #[test]
    fn timestamped_signature_accepts_any_v1_and_enforces_the_window_both_ways() {
        let good = sign_timestamped(b"new", 1000, b"body");
        let sig = good.split("v1=").nth(1).unwrap_or_default();
        let rotated = format!("t=1000,v1={},v1={sig},v0=abc", "00".repeat(32));
        assert_eq!(
            verify_timestamped(b"new", b"body", Some(&rotated), 1000),
            Ok(())
        );
        assert_eq!(
            verify_timestamped(b"new", b"body", Some(&good), 1000 + 301),
            Err(SignatureError::Stale { age_seconds: 301 })
        );
        assert_eq!(
            verify_timestamped(b"new", b"body", Some(&good), 1000 - 301),
            Err(SignatureError::Stale { age_seconds: -301 })
        );
        assert_eq!(
            verify_timestamped(b"new", b"body", Some(&good), 1300),
            Ok(())
        );
        assert_eq!(
            verify_timestamped(b"new", b"bodY", Some(&good), 1000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_timestamped(b"new", b"body", Some("v1=00"), 1000),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_timestamped(b"new", b"body", Some("t=1000"), 1000),
            Err(SignatureError::Malformed)
        );
    }

    /// Finding 8 of issue 10: `now - t` wrapped for a `t` near `i64::MIN` and `abs()` stayed
    /// negative, so a signature from 2^63 seconds ago passed the window.
    #[test]
    fn timestamps_at_the_ends_of_i64_are_stale() {
        let now: i64 = 1_800_000_000;
        let far_past = i64::MIN + now; // now - 2^63
        for t in [far_past, i64::MIN, i64::MIN + 1, i64::MAX, -1, 0] {
            let header = sign_timestamped(b"k", t, b"body");
            assert!(
                matches!(
                    verify_timestamped(b"k", b"body", Some(&header), now),
                    Err(SignatureError::Stale { .. })
                ),
                "t = {t} must be stale"
            );
        }
        let header = sign_timestamped(b"k", i64::MIN, b"body");
        assert!(matches!(
            verify_timestamped(b"k", b"body", Some(&header), i64::MAX),
            Err(SignatureError::Stale {
                age_seconds: i64::MAX
            })
        ));
        let header = sign_timestamped(b"k", i64::MAX, b"body");
        assert!(matches!(
            verify_timestamped(b"k", b"body", Some(&header), i64::MIN),
            Err(SignatureError::Stale {
                age_seconds: i64::MIN
            })
        ));
        let header = sign_timestamped(b"k", i64::MAX, b"body");
        assert_eq!(
            verify_timestamped(b"k", b"body", Some(&header), i64::MAX),
            Ok(())
        );
    }
}
