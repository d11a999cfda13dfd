//! Tracking links and their clicks.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;

use linkledger_core::audit::AuditEntry;
use linkledger_core::destination::Destination;
use linkledger_core::ids::LinkCode;
use linkledger_core::link::Link;
use linkledger_http::{ErrorCode, HttpError, Json, Path, Query};
use linkledger_store::ports::{Created, StoreError};
use linkledger_store::{LinkFilter, Versioned};

use crate::auth::Caller;
use crate::pages::{creator_scope, program_filter, Page, PageParams};
use crate::wire;
use crate::wire::links::{ClickView, NewLink};
use crate::ApiState;

/// Attempts at a fresh generated code before giving up (8 characters: collisions are rare).
const GENERATE_ATTEMPTS: usize = 5;

#[utoipa::path(post, path = "/api/links", tag = "links", request_body = NewLink, security(("bearer" = [])),
    responses((status = 201, body = wire::links::Link), (status = 400, body = linkledger_http::ErrorBody),
        (status = 403, body = linkledger_http::ErrorBody), (status = 409, body = linkledger_http::ErrorBody)))]
pub async fn create_link(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Json(input): Json<NewLink>,
) -> Result<(StatusCode, Json<wire::links::Link>), HttpError> {
    let creator_id = match (caller.own_creator(), input.creator_id) {
        (Some(own), Some(named)) if own != &named => {
            return Err(HttpError::forbidden(
                "a creator key may create links for itself only",
            ))
        }
        (Some(own), _) => own.clone(),
        (None, Some(named)) => {
            caller.admin()?;
            named
        }
        (None, None) => {
            return Err(HttpError::bad_request(
                ErrorCode::InvalidLink,
                "creator_id is required",
            ))
        }
    };
    let program = state
        .store
        .program(&input.program_id)
        .await?
        .ok_or_else(|| HttpError::not_found("no such program"))?
        .record;
    if state
        .store
        .enrolment(&program.id, &creator_id)
        .await?
        .is_none()
    {
        return Err(match caller.own_creator() {
            Some(_) => HttpError::not_found("no such program"),
            None => HttpError::bad_request(
                ErrorCode::NotEnrolled,
                "enrol the creator in the program first",
            ),
        });
    }
    let destination = Destination::for_program(&input.destination, &program.allowed_domains)
        .map_err(|e| HttpError::bad_request(ErrorCode::InvalidDestination, e.to_string()))?;
    let now = state.store.now();
    if input.expires_at.is_some_and(|at| at <= now) {
        return Err(HttpError::bad_request(
            ErrorCode::InvalidLink,
            "expires_at must be in the future",
        ));
    }
    let chosen = match &input.code {
        Some(code) => Some(
            LinkCode::parse(code)
                .map_err(|e| HttpError::bad_request(ErrorCode::InvalidCode, e.to_string()))?,
        ),
        None => None,
    };
    let attempts = if chosen.is_some() {
        1
    } else {
        GENERATE_ATTEMPTS
    };
    for _ in 0..attempts {
        let link = Link {
            code: chosen.clone().unwrap_or_else(LinkCode::generate),
            program_id: program.id.clone(),
            creator_id: creator_id.clone(),
            destination: destination.clone(),
            disabled: false,
            expires_at: input.expires_at,
            created_at: now,
        };
        let audit = AuditEntry::new(
            state.store.now(),
            &caller.actor(),
            "link.create",
            &link.code,
            None,
            Some(&link),
        );
        if state.store.create_link(&link, &audit).await? == Created::Created {
            return Ok((StatusCode::CREATED, Json((&link).into())));
        }
    }
    Err(HttpError::conflict("that code is taken"))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LinkQuery {
    pub program: Option<String>,
    pub creator: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/links", tag = "links", params(LinkQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<wire::links::Link>)))]
pub async fn list_links(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Query(query): Query<LinkQuery>,
) -> Result<Json<Page<wire::links::Link>>, HttpError> {
    let program = program_filter(query.program.as_deref())?;
    let Some(creator) = creator_scope(&caller, query.creator.as_deref())? else {
        return Ok(Json(Page::empty()));
    };
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor,
    };
    let listing = state
        .store
        .links(
            &LinkFilter { program, creator },
            page.limit(),
            page.cursor.clone(),
        )
        .await?;
    Ok(Json(listing.into()))
}

/// Loads a link the caller may see; another creator's link is simply not found.
async fn visible_link(
    state: &ApiState,
    caller: &Caller,
    code: &str,
) -> Result<Versioned<Link>, HttpError> {
    let code = LinkCode::parse(code).map_err(|_| HttpError::not_found("no such link"))?;
    let link = state
        .store
        .link(&code)
        .await?
        .ok_or_else(|| HttpError::not_found("no such link"))?;
    if !caller.may_see(&link.record.creator_id) {
        return Err(HttpError::not_found("no such link"));
    }
    Ok(link)
}

#[utoipa::path(get, path = "/api/links/{code}", tag = "links", params(("code" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = wire::links::Link), (status = 404, body = linkledger_http::ErrorBody)))]
pub async fn get_link(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(code): Path<String>,
) -> Result<Json<wire::links::Link>, HttpError> {
    Ok(Json(
        (&visible_link(&state, &caller, &code).await?.record).into(),
    ))
}

#[utoipa::path(post, path = "/api/links/{code}/disable", tag = "links", params(("code" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = wire::links::Link), (status = 404, body = linkledger_http::ErrorBody)))]
pub async fn disable_link(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(code): Path<String>,
) -> Result<Json<wire::links::Link>, HttpError> {
    caller.require(&[
        linkledger_core::api_key::Role::Admin,
        linkledger_core::api_key::Role::Creator,
    ])?;
    for _ in 0..3 {
        let current = visible_link(&state, &caller, &code).await?;
        if current.record.disabled {
            return Ok(Json((&current.record).into()));
        }
        let before = current.record;
        let mut link = before.clone();
        link.disabled = true;
        let audit = AuditEntry::new(
            state.store.now(),
            &caller.actor(),
            "link.disable",
            &link.code,
            Some(&before),
            Some(&link),
        );
        match state
            .store
            .update_link(&link, current.version, &audit)
            .await
        {
            Ok(()) => {
                state.link_changed(&link.code);
                return Ok(Json((&link).into()));
            }
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(HttpError::conflict("the link kept changing; retry"))
}

#[utoipa::path(get, path = "/api/links/{code}/clicks", tag = "links", params(("code" = String, Path), PageParams),
    security(("bearer" = [])), responses((status = 200, body = Page<ClickView>), (status = 404, body = linkledger_http::ErrorBody)))]
pub async fn list_clicks(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(code): Path<String>,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<ClickView>>, HttpError> {
    let link = visible_link(&state, &caller, &code).await?;
    let listing = state
        .store
        .clicks_of_link(&link.record.code, page.limit(), page.cursor)
        .await?;
    let unique = state.store.unique_clicks_of_page(&listing.items).await?;
    let items = listing
        .items
        .into_iter()
        .map(|click| ClickView {
            unique: unique.contains(&click.id),
            click: (&click).into(),
        })
        .collect();
    Ok(Json(Page {
        items,
        next_cursor: listing.next,
    }))
}
