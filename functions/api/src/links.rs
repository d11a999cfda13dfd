//! Tracking links and their clicks.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;

use linkledger_core::ids::LinkCode;
use linkledger_core::link::Link;
use linkledger_core::manage::links::{self, LinkError};
use linkledger_http::{ErrorCode, HttpError, Json, Path, Query};
use linkledger_store::ports::{Created, StoreError};
use linkledger_store::{LinkFilter, Versioned};

use crate::auth::Caller;
use crate::pages::{creator_scope, program_filter, Page, PageParams};
use crate::wire;
use crate::wire::links::{ClickView, NewLink};
use crate::ApiState;

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
    let enrolment = state.store.enrolment(&program.id, &creator_id).await?;
    let input = links::NewLink {
        creator_id,
        destination: input.destination,
        code: input.code,
        expires_at: input.expires_at,
    };
    let mut codes_taken = 0_usize;
    loop {
        let (link, audit) = links::create(
            &input,
            &program,
            enrolment.as_ref(),
            codes_taken,
            state.store.now(),
            &caller.actor(),
        )
        .map_err(|e| link_refused(e, &caller))?;
        if state.store.create_link(&link, &audit).await? == Created::Created {
            return Ok((StatusCode::CREATED, Json((&link).into())));
        }
        codes_taken = codes_taken.saturating_add(1);
    }
}

/// A creator key is told a program it is not enrolled in does not exist, as if it could not
/// see it; an admin is told to enrol first.
fn link_refused(err: LinkError, caller: &Caller) -> HttpError {
    match err {
        LinkError::NotEnrolled => match caller.own_creator() {
            Some(_) => HttpError::not_found("no such program"),
            None => HttpError::bad_request(ErrorCode::NotEnrolled, err.to_string()),
        },
        LinkError::Destination(e) => {
            HttpError::bad_request(ErrorCode::InvalidDestination, e.to_string())
        }
        LinkError::ExpiryPassed => HttpError::bad_request(ErrorCode::InvalidLink, err.to_string()),
        LinkError::Code(e) => HttpError::bad_request(ErrorCode::InvalidCode, e.to_string()),
        LinkError::CodeTaken => HttpError::conflict(err.to_string()),
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
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
        let Some((link, audit)) =
            links::disable(&current.record, state.store.now(), &caller.actor())
        else {
            return Ok(Json((&current.record).into()));
        };
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
