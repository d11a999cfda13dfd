//! The last webhook deliveries of a program and platform, as the connections page shows them
//! (the webhooks log them: `linkledger_store::deliveries`).

use std::sync::Arc;

use time::OffsetDateTime;

use linkledger_core::conversion::Platform;
use linkledger_core::delivery_log::DeliveryResult;
use linkledger_core::ids::ProgramId;

use super::PageError;
use crate::ApiState;

/// How many deliveries the page shows per platform.
const SHOWN: usize = 10;

pub(crate) struct Shown {
    pub at: OffsetDateTime,
    pub topic: String,
    pub result: String,
}

/// A result as a brand manager reads it, with the status answered.
fn in_words(result: DeliveryResult) -> String {
    let words = match result {
        DeliveryResult::Accepted => "accepted",
        DeliveryResult::Ignored => "received, not a sale or refund we book",
        DeliveryResult::Ping => "test ping answered",
        DeliveryResult::NotConfigured => "refused: no secret set for this platform",
        DeliveryResult::BadSignature => "refused: the signature does not match the secret",
        DeliveryResult::Stale => "refused: signed too long ago (replay window)",
        DeliveryResult::Malformed => "refused: the body is not a payload we read",
        DeliveryResult::Unavailable => {
            "not taken: our queue was unavailable (the platform retries)"
        }
    };
    format!("{words} ({})", result.status())
}

pub(crate) async fn recent(
    state: &Arc<ApiState>,
    program: &ProgramId,
    platform: Platform,
) -> Result<Vec<Shown>, PageError> {
    Ok(state
        .store
        .recent_deliveries(program, platform, SHOWN)
        .await?
        .into_iter()
        .map(|d| Shown {
            at: d.at,
            topic: d.topic,
            result: in_words(d.result),
        })
        .collect())
}
