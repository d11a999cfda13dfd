//! The last webhook deliveries of a program and platform, as the connections page shows them.

use std::sync::Arc;

use time::OffsetDateTime;

use linkledger_core::conversion::Platform;
use linkledger_core::ids::ProgramId;

use super::PageError;
use crate::ApiState;

pub(crate) struct Shown {
    pub at: OffsetDateTime,
    pub topic: String,
    pub result: String,
}

pub(crate) async fn recent(
    _state: &Arc<ApiState>,
    _program: &ProgramId,
    _platform: Platform,
) -> Result<Vec<Shown>, PageError> {
    Ok(Vec::new())
}
