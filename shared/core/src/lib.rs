//! linkledger's core: money, programs, creators, links, clicks, API keys, conversions,
//! attribution, commission, the ledger and the settlement records, and the pure decisions of the
//! money flows. It does no I/O: it depends on no storage, no AWS SDK, no SQLite, no HTTP
//! framework (Cargo enforces it: none of them is a dependency of this crate).
//!
//! No arithmetic of this crate can panic or wrap: `clippy::arithmetic_side_effects` is on for
//! everything but its tests (and `scripts/test` runs clippy with `-D warnings`), so every `+`,
//! `-`, `*`, `/` and `%` is a `checked_*`, `saturating_*` or `wrapping_*` call whose choice is
//! visible where it is made.
#![cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]

pub mod api_key;
pub mod attribution;
pub mod audit;
pub mod booking;
pub mod click;
pub mod clock;
pub mod commission;
pub mod conversion;
pub mod creator;
pub mod delivery_log;
pub mod destination;
pub mod fx;
pub mod ids;
pub mod ledger;
pub mod limits;
pub mod link;
pub mod manage;
pub mod money;
pub mod program;
pub mod session;
pub mod settlement;
pub mod signature;
pub mod stats;
pub mod webhook_secret;

/// A calendar date as the API and the CLI write it: `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Option<time::Date> {
    time::Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()
}
