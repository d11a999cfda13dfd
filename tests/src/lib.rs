//! Helpers shared by the end-to-end and contract tests.

pub mod app;
pub mod backends;
pub mod faults;
pub mod logs;
pub mod webhooks;
