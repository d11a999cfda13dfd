//! The audit log: every management write, with who, what, when, and the record before and after.
//! An entry is written in the same atomic write as the change it describes.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::api_key::Role;
use crate::ids::ClickId;

/// Who made a change: an API key, or the operator's CLI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The API key's public id, or `cli` / `demo`.
    pub key_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

impl Actor {
    pub fn key(key_id: &str, role: Role) -> Self {
        Self {
            key_id: key_id.to_string(),
            role: Some(role),
        }
    }

    pub fn operator(name: &str) -> Self {
        Self {
            key_id: name.to_string(),
            role: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Time-ordered id (same scheme as click ids).
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: Actor,
    /// `program.create`, `program.update`, `program.fx_rates`, `creator.create`,
    /// `enrolment.put`, `link.create`, `link.disable`, `promo_code.create`,
    /// `webhook_secret.put` (masked), `api_key.create`, `ledger.adjust`, `payout.paid`,
    /// `payout.failed` (each made by its `manage` flow).
    pub action: String,
    /// The id or code of the record changed.
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<serde_json::Value>,
}

impl AuditEntry {
    /// The entry for `action` on `target` by `actor`, made `at` (the flow's clock).
    pub fn new<T: Serialize>(
        at: OffsetDateTime,
        actor: &Actor,
        action: &str,
        target: impl std::fmt::Display,
        before: Option<&T>,
        after: Option<&T>,
    ) -> Self {
        let json = |record: Option<&T>| record.and_then(|r| serde_json::to_value(r).ok());
        Self {
            id: ClickId::generate(next_audit_ms(
                (at.unix_timestamp_nanos() / 1_000_000) as i64,
            ))
            .to_string(),
            at,
            actor: actor.clone(),
            action: action.to_string(),
            target: target.to_string(),
            before: json(before),
            after: json(after),
        }
    }
}

/// Millisecond part of audit ids: the clock, but strictly increasing within a process, so entries
/// written in the same millisecond still list in the order they were written.
fn next_audit_ms(now_ms: i64) -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now_ms.max(last.saturating_add(1));
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}
