//! Start-up wiring: configuration from `LINKLEDGER_*` variables, choosing and connecting the
//! backend it names, and telemetry. Only mains and the local binary use it. Which adapters are
//! linked is chosen by features: a Lambda enables `aws` only, so SQLite is not in its package.
#![cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]

pub mod config;
#[cfg(feature = "sqlite")]
pub mod stats;
pub mod telemetry;
