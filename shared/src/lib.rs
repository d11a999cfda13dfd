//! linkledger's domain crate: money, programs, creators, links, clicks, API keys, conversions,
//! attribution, commission and the ledger; the ports (storage and queue traits) and both adapters (SQLite locally, DynamoDB + SQS on AWS);
//! the repositories written once over the ports. It knows nothing of HTTP or Lambda.
//!
//! No arithmetic of this crate can panic or wrap: `clippy::arithmetic_side_effects` is on for
//! everything but its tests (and `scripts/test` runs clippy with `-D warnings`), so every `+`,
//! `-`, `*`, `/` and `%` is a `checked_*`, `saturating_*` or `wrapping_*` call whose choice is
//! visible where it is made.
#![cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]

pub mod adapters;
pub mod api_key;
pub mod attribution;
pub mod audit;
pub mod booking;
pub mod click;
pub mod commission;
pub mod config;
pub mod conversion;
pub mod creator;
pub mod destination;
pub mod fx;
pub mod ids;
pub mod ledger;
pub mod limits;
pub mod link;
pub mod money;
pub mod ports;
pub mod program;
pub mod settlement;
pub mod signature;
pub mod store;
pub mod telemetry;

/// Current UTC time; one place so tests and code agree on the clock's source.
pub fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// Current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// A calendar date as the API and the CLI write it: `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Option<time::Date> {
    time::Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()
}

/// The previous UTC day: what a nightly settlement run settles.
pub fn yesterday() -> time::Date {
    let today = now().date();
    today.previous_day().unwrap_or(today)
}
