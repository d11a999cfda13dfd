//! Creators: the people who share links and get paid.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;

use linkledger_core::api_key::Role;
use linkledger_core::ids::CreatorId;
use linkledger_core::manage::creators;
use linkledger_http::{ErrorCode, HttpError, Json, Path, Query};
use linkledger_store::ports::Created;

use crate::auth::Caller;
use crate::pages::{Page, PageParams};
use crate::wire;
use crate::wire::creators::NewCreator;
use crate::ApiState;

#[utoipa::path(post, path = "/api/creators", tag = "creators", request_body = NewCreator, security(("bearer" = [])),
    responses((status = 201, body = wire::creators::Creator), (status = 400, body = linkledger_http::ErrorBody)))]
pub async fn create_creator(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Json(input): Json<NewCreator>,
) -> Result<(StatusCode, Json<wire::creators::Creator>), HttpError> {
    caller.admin()?;
    crate::bounds::text(ErrorCode::InvalidCreator, "name", &input.name)?;
    let (creator, audit) = creators::create(
        CreatorId::generate(),
        input.into(),
        state.store.now(),
        &caller.actor(),
    )
    .map_err(|e| HttpError::bad_request(ErrorCode::InvalidCreator, e.to_string()))?;
    match state.store.create_creator(&creator, &audit).await? {
        Created::Created => Ok((StatusCode::CREATED, Json((&creator).into()))),
        Created::AlreadyExists => Err(HttpError::conflict("creator id collision, retry")),
    }
}

#[utoipa::path(get, path = "/api/creators", tag = "creators", params(PageParams), security(("bearer" = [])),
    responses((status = 200, body = Page<wire::creators::Creator>)))]
pub async fn list_creators(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<wire::creators::Creator>>, HttpError> {
    if let Some(own) = caller.own_creator() {
        let me = state.store.creator(own).await?;
        return Ok(Json(Page {
            items: me.iter().map(Into::into).collect(),
            next_cursor: None,
        }));
    }
    caller.require(&[Role::Admin, Role::Finance])?;
    Ok(Json(
        state
            .store
            .creators(page.limit(), page.cursor)
            .await?
            .into(),
    ))
}

#[utoipa::path(get, path = "/api/creators/{id}", tag = "creators", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = wire::creators::Creator), (status = 404, body = linkledger_http::ErrorBody)))]
pub async fn get_creator(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<wire::creators::Creator>, HttpError> {
    let id = CreatorId::parse(&id).map_err(|_| HttpError::not_found("no such creator"))?;
    if !caller.may_see(&id) {
        return Err(HttpError::not_found("no such creator"));
    }
    let creator = state
        .store
        .creator(&id)
        .await?
        .ok_or_else(|| HttpError::not_found("no such creator"))?;
    Ok(Json((&creator).into()))
}
