//! Rate limits: per key on `/api` and per session on `/dashboard` (429 with `Retry-After`), and
//! failed sign-ins per client address.
//!
//! The limits are kept in the memory of each process (GCRA buckets, `governor`): locally that is
//! the whole server; on Lambda every warm instance keeps its own, so the limit a key meets is
//! per instance, and API Gateway's stage throttling (`template.yaml`) bounds the whole. A key is
//! named by a hash of what the client sent (its bearer key, its session cookie, or its address
//! when it sent neither), so unknown keys are limited before they cost a store read, and no
//! secret or raw address is kept.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use sha2::{Digest, Sha256};

use linkledger_http::{ErrorCode, HttpError};

/// Requests per second one key may make to `/api`, sustained, and the burst it may spend at once.
pub const API_PER_SECOND: u32 = 100;
pub const API_BURST: u32 = 1000;
/// Page views and form posts per second of one dashboard session, and of all the sessions of one
/// key together.
pub const DASHBOARD_PER_SECOND: u32 = 20;
pub const DASHBOARD_BURST: u32 = 200;
/// Failed sign-ins one client address may make in [`SIGN_IN_WINDOW`]; then sign-in is refused
/// (429) until the window that began with the first failure has passed.
pub const MAX_FAILED_SIGN_INS: u32 = 10;
pub const SIGN_IN_WINDOW: Duration = Duration::from_secs(15 * 60);
/// The most keys a limiter remembers before it forgets idle ones (bounded memory under a flood
/// of made-up keys).
const MAX_TRACKED: usize = 100_000;

/// A rate limit's refusal: how long to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub retry_after: Duration,
}

impl Refused {
    /// Whole seconds, at least one, for `Retry-After`.
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs().saturating_add(1)
    }

    /// The header value of this refusal.
    pub fn header(&self) -> HeaderValue {
        HeaderValue::from(self.retry_after_secs())
    }

    /// The API's answer: 429 `rate_limited` with `Retry-After`.
    pub fn into_api_response(self) -> Response {
        let mut response = HttpError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            format!("too many requests; retry in {} s", self.retry_after_secs()),
        )
        .into_response();
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, self.header());
        response
    }
}

type Keyed = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>;

/// Requests per second per key, with a burst.
pub struct RequestLimit {
    limiter: Keyed,
    clock: DefaultClock,
}

impl RequestLimit {
    pub fn new(per_second: u32, burst: u32) -> Self {
        let per_second = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(per_second);
        Self {
            limiter: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one request from `key`'s bucket.
    pub fn check(&self, key: &str) -> Result<(), Refused> {
        if self.limiter.len() > MAX_TRACKED {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&key.to_string())
            .map_err(|not_until| Refused {
                retry_after: not_until.wait_time_from(self.clock.now()),
            })
    }
}

/// Failed sign-ins per client address, in a window opened by the first failure.
#[derive(Default)]
pub struct FailedSignIns {
    strikes: Mutex<HashMap<String, (u32, Instant)>>,
}

impl FailedSignIns {
    /// Refused while `client` has failed [`MAX_FAILED_SIGN_INS`] times in its window.
    pub fn check(&self, client: &str, now: Instant) -> Result<(), Refused> {
        let strikes = self.strikes.lock().map_err(|_| Refused {
            retry_after: SIGN_IN_WINDOW,
        })?;
        match strikes.get(client) {
            Some(&(count, since)) if count >= MAX_FAILED_SIGN_INS => {
                let ends = since.checked_add(SIGN_IN_WINDOW).unwrap_or(now);
                match ends.checked_duration_since(now) {
                    Some(left) if !left.is_zero() => Err(Refused { retry_after: left }),
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// Counts one failure of `client`.
    pub fn fail(&self, client: &str, now: Instant) {
        let Ok(mut strikes) = self.strikes.lock() else {
            return;
        };
        if strikes.len() >= MAX_TRACKED {
            strikes.retain(|_, (_, since)| now.saturating_duration_since(*since) < SIGN_IN_WINDOW);
            if strikes.len() >= MAX_TRACKED {
                strikes.clear();
            }
        }
        let entry = strikes.entry(client.to_string()).or_insert((0, now));
        if now.saturating_duration_since(entry.1) >= SIGN_IN_WINDOW {
            *entry = (0, now);
        }
        entry.0 = entry.0.saturating_add(1);
    }
}

/// Every limit of one process.
pub struct Limits {
    pub api: RequestLimit,
    pub dashboard: RequestLimit,
    pub sign_ins: FailedSignIns,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            api: RequestLimit::new(API_PER_SECOND, API_BURST),
            dashboard: RequestLimit::new(DASHBOARD_PER_SECOND, DASHBOARD_BURST),
            sign_ins: FailedSignIns::default(),
        }
    }
}

/// A rate setting that is not `PER_SECOND/BURST` in whole numbers above zero.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {value:?} is not PER_SECOND/BURST (two whole numbers above zero, e.g. 100/1000)")]
pub struct RateSettingError {
    name: &'static str,
    value: String,
}

/// `PER_SECOND/BURST` from the environment variable `name`, or `default` when it is unset.
fn rate_from_env(
    name: &'static str,
    default: (u32, u32),
) -> Result<RequestLimit, RateSettingError> {
    let Ok(value) = std::env::var(name) else {
        return Ok(RequestLimit::new(default.0, default.1));
    };
    match parse_rate(&value) {
        Some((rate, burst)) => Ok(RequestLimit::new(rate, burst)),
        None => Err(RateSettingError { name, value }),
    }
}

fn parse_rate(value: &str) -> Option<(u32, u32)> {
    let (rate, burst) = value.split_once('/')?;
    let rate: u32 = rate.trim().parse().ok()?;
    let burst: u32 = burst.trim().parse().ok()?;
    (rate > 0 && burst > 0).then_some((rate, burst))
}

impl Limits {
    /// The defaults, or what `LINKLEDGER_API_RATE` and `LINKLEDGER_DASHBOARD_RATE` set
    /// (`PER_SECOND/BURST`, e.g. `100/1000`).
    pub fn from_env() -> Result<Self, RateSettingError> {
        Ok(Self {
            api: rate_from_env("LINKLEDGER_API_RATE", (API_PER_SECOND, API_BURST))?,
            dashboard: rate_from_env(
                "LINKLEDGER_DASHBOARD_RATE",
                (DASHBOARD_PER_SECOND, DASHBOARD_BURST),
            )?,
            sign_ins: FailedSignIns::default(),
        })
    }
}

/// The name a limit keeps for a credential or an address: a short hash, never the thing itself.
pub fn bucket(kind: &str, value: &str) -> String {
    let digest = Sha256::digest(format!("{kind}|{value}").as_bytes());
    hex::encode(&digest[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_refused_with_a_wait() {
        let limit = RequestLimit::new(1, 3);
        for _ in 0..3 {
            assert_eq!(limit.check("a"), Ok(()));
        }
        let refused = limit.check("a").unwrap_err();
        assert!(refused.retry_after <= Duration::from_secs(1));
        assert!(refused.retry_after_secs() >= 1);
        // Another key has its own bucket.
        assert_eq!(limit.check("b"), Ok(()));
    }

    #[test]
    fn a_rate_setting_is_per_second_slash_burst() {
        assert_eq!(parse_rate("100/1000"), Some((100, 1000)));
        assert_eq!(parse_rate(" 5 / 7 "), Some((5, 7)));
        for bad in ["", "100", "0/10", "10/0", "-1/5", "a/b", "1/2/3"] {
            assert_eq!(parse_rate(bad), None, "{bad}");
        }
    }

    #[test]
    fn failed_sign_ins_lock_an_address_for_the_rest_of_its_window() {
        let limits = FailedSignIns::default();
        let start = Instant::now();
        for _ in 0..MAX_FAILED_SIGN_INS {
            assert_eq!(limits.check("ip", start), Ok(()));
            limits.fail("ip", start);
        }
        let refused = limits.check("ip", start).unwrap_err();
        assert_eq!(refused.retry_after, SIGN_IN_WINDOW);
        assert_eq!(limits.check("other", start), Ok(()));
        let later = start + SIGN_IN_WINDOW;
        assert_eq!(limits.check("ip", later), Ok(()));
        // A new failure after the window opens a new one.
        limits.fail("ip", later);
        assert_eq!(limits.check("ip", later), Ok(()));
    }
}
