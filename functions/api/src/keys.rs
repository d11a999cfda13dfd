//! API keys: minted here, shown once.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;

use linkledger_core::api_key::{ApiKey, Role};
use linkledger_core::audit::{Actor, AuditEntry};
use linkledger_http::{ErrorCode, HttpError, Json, Query};
use linkledger_store::ports::Created;
use linkledger_store::Store;

use crate::auth::Caller;
use crate::pages::{Page, PageParams};
use crate::wire;
pub use crate::wire::keys::NewApiKey;
use crate::ApiState;

/// A key just minted: the secret, shown this once, and what is stored of it.
#[derive(Debug)]
pub struct IssuedKey {
    /// The key itself: shown this once, stored only as a hash.
    pub key: String,
    pub record: ApiKey,
}

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("creator keys need a creator_id, and only creator keys take one")]
    CreatorBinding,
    #[error("no such creator")]
    UnknownCreator,
    #[error("label: must be at most 100 characters, without control characters")]
    Label,
    #[error(transparent)]
    Store(#[from] linkledger_store::ports::StoreError),
}

/// Mints and stores a key; used by the API and by `linkledger keys create`.
pub async fn issue_key(
    store: &Store,
    input: NewApiKey,
    actor: &Actor,
) -> Result<IssuedKey, IssueError> {
    if (input.role == Role::Creator) != input.creator_id.is_some() {
        return Err(IssueError::CreatorBinding);
    }
    if input
        .label
        .as_ref()
        .is_some_and(|l| l.chars().count() > 100 || linkledger_core::limits::check_text(l).is_err())
    {
        return Err(IssueError::Label);
    }
    if let Some(creator) = &input.creator_id {
        if store.creator(creator).await?.is_none() {
            return Err(IssueError::UnknownCreator);
        }
    }
    loop {
        let minted = ApiKey::mint(
            input.role,
            input.creator_id.clone(),
            input.label.clone(),
            store.now(),
        );
        let audit = AuditEntry::new(
            store.now(),
            actor,
            "api_key.create",
            &minted.record.id,
            None,
            Some(&minted.record),
        );
        if store
            .create_api_key(&minted.record, &minted.secret, &audit)
            .await?
            == Created::Created
        {
            return Ok(IssuedKey {
                key: minted.secret,
                record: minted.record,
            });
        }
    }
}

#[utoipa::path(post, path = "/api/keys", tag = "keys", request_body = NewApiKey, security(("bearer" = [])),
    responses((status = 201, body = wire::keys::IssuedKey), (status = 400, body = linkledger_http::ErrorBody)))]
pub async fn create_key(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Json(input): Json<NewApiKey>,
) -> Result<(StatusCode, Json<wire::keys::IssuedKey>), HttpError> {
    caller.admin()?;
    match issue_key(&state.store, input, &caller.actor()).await {
        Ok(issued) => {
            tracing::info!(key_id = %issued.record.id, by = %caller.key_id, "api key issued");
            Ok((StatusCode::CREATED, Json((&issued).into())))
        }
        Err(IssueError::Store(e)) => Err(e.into()),
        Err(IssueError::UnknownCreator) => Err(HttpError::not_found("no such creator")),
        Err(other) => Err(HttpError::bad_request(
            ErrorCode::InvalidKey,
            other.to_string(),
        )),
    }
}

#[utoipa::path(get, path = "/api/keys", tag = "keys", params(PageParams), security(("bearer" = [])),
    responses((status = 200, body = Page<wire::keys::ApiKey>)))]
pub async fn list_keys(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<wire::keys::ApiKey>>, HttpError> {
    caller.admin()?;
    Ok(Json(
        state
            .store
            .api_keys(page.limit(), page.cursor)
            .await?
            .into(),
    ))
}
