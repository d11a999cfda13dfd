//! The audit log, for admins.

use std::sync::Arc;

use axum::extract::State;

use linkledger_http::{HttpError, Json, Query};

use crate::auth::Caller;
use crate::pages::{Page, PageParams};
use crate::wire;
use crate::ApiState;

#[utoipa::path(get, path = "/api/audit", tag = "audit", params(PageParams), security(("bearer" = [])),
    responses((status = 200, body = Page<wire::audit::AuditEntry>, description = "Every management write, newest first")))]
pub async fn list_audit(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<wire::audit::AuditEntry>>, HttpError> {
    caller.admin()?;
    Ok(Json(
        state
            .store
            .audit_log(page.limit(), page.cursor)
            .await?
            .into(),
    ))
}
