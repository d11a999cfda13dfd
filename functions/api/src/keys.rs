//! API keys: minted here, shown once.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;

use linkledger_core::api_key::ApiKey;
use linkledger_core::audit::Actor;
use linkledger_core::manage::keys::{self, KeyError};
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
    #[error(transparent)]
    Refused(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] linkledger_store::ports::StoreError),
}

/// Reads the facts, mints ([`keys::issue`]) and stores a key, minting again on the rare id
/// collision; used by the API, `linkledger keys create` and `serve --demo`.
pub async fn issue_key(
    store: &Store,
    input: NewApiKey,
    actor: &Actor,
) -> Result<IssuedKey, IssueError> {
    let input = keys::NewApiKey {
        role: input.role,
        creator_id: input.creator_id,
        label: input.label,
    };
    keys::check(&input)?;
    let creator_known = match &input.creator_id {
        Some(creator) => store.creator(creator).await?.is_some(),
        None => false,
    };
    loop {
        let (minted, audit) = keys::issue(&input, creator_known, store.now(), actor)?;
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
        Err(IssueError::Refused(KeyError::UnknownCreator)) => {
            Err(HttpError::not_found("no such creator"))
        }
        Err(IssueError::Refused(refused)) => Err(HttpError::bad_request(
            ErrorCode::InvalidKey,
            refused.to_string(),
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
