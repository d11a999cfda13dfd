//! Programs: what a brand runs, with its allowed domains and commission plan.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;

use linkledger_core::audit::AuditEntry;
use linkledger_core::creator::Enrolment;
use linkledger_core::ids::ProgramId;
use linkledger_core::manage::creators::{self, EnrolmentError};
use linkledger_core::manage::programs;
use linkledger_core::program::{Program, ProgramError, SaleCommission};
use linkledger_http::{ErrorCode, HttpError, Json, Path, Query};
use linkledger_store::ports::{Created, StoreError};

use crate::auth::Caller;
use crate::bounds;
use crate::pages::{Page, PageParams};
use crate::wire;
use crate::wire::programs::{
    CreatorProgramView, NewEnrolment, NewProgram, ProgramPatch, ProgramView,
};
use crate::ApiState;

fn invalid_program(err: ProgramError) -> HttpError {
    HttpError::bad_request(ErrorCode::InvalidProgram, err.to_string())
}

pub(crate) fn parse_program_id(id: &str) -> Result<ProgramId, HttpError> {
    ProgramId::parse(id).map_err(|_| HttpError::not_found("no such program"))
}

/// Loads a program the caller may see; creators see only programs they are enrolled in.
pub(crate) async fn visible_program(
    state: &ApiState,
    caller: &Caller,
    id: &str,
) -> Result<(Program, u64), HttpError> {
    let (program, version, _) = visible_program_and_enrolment(state, caller, id).await?;
    Ok((program, version))
}

/// [`visible_program`], with a creator key's enrolment in it (read once, for its view).
async fn visible_program_and_enrolment(
    state: &ApiState,
    caller: &Caller,
    id: &str,
) -> Result<(Program, u64, Option<Enrolment>), HttpError> {
    let id = parse_program_id(id)?;
    let found = state
        .store
        .program(&id)
        .await?
        .ok_or_else(|| HttpError::not_found("no such program"))?;
    let enrolment = match caller.own_creator() {
        Some(creator) => Some(
            state
                .store
                .enrolment(&id, creator)
                .await?
                .ok_or_else(|| HttpError::not_found("no such program"))?,
        ),
        None => None,
    };
    Ok((found.record, found.version, enrolment))
}

#[utoipa::path(post, path = "/api/programs", tag = "programs", request_body = NewProgram,
    security(("bearer" = [])),
    responses((status = 201, body = wire::programs::Program), (status = 400, body = linkledger_http::ErrorBody), (status = 403, body = linkledger_http::ErrorBody)))]
pub async fn create_program(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Json(input): Json<NewProgram>,
) -> Result<(StatusCode, Json<wire::programs::Program>), HttpError> {
    caller.admin()?;
    let input = linkledger_core::program::NewProgram::from(input);
    bounds::text(ErrorCode::InvalidProgram, "name", &input.name)?;
    if let Some(min) = &input.min_payout {
        bounds::amount(ErrorCode::InvalidProgram, "min_payout", min)?;
    }
    if let Some(plan) = &input.plan {
        bounds::plan(ErrorCode::InvalidProgram, plan)?;
    }
    let (program, audit) = programs::create(
        ProgramId::generate(),
        input,
        state.store.now(),
        &caller.actor(),
    )
    .map_err(invalid_program)?;
    match state.store.create_program(&program, &audit).await? {
        Created::Created => Ok((StatusCode::CREATED, Json((&program).into()))),
        Created::AlreadyExists => Err(HttpError::conflict("program id collision, retry")),
    }
}

#[utoipa::path(get, path = "/api/programs", tag = "programs", params(PageParams), security(("bearer" = [])),
    responses((status = 200, body = Page<ProgramView>, description = "every program (admin, finance), or the programs a creator key is enrolled in, each as its creator view")))]
pub async fn list_programs(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<ProgramView>>, HttpError> {
    if let Some(creator) = caller.own_creator() {
        // One page of the creator's own enrolments, then each program: reads ∝ limit.
        let enrolments = state
            .store
            .enrolments_of_creator_page(creator, page.limit(), page.cursor)
            .await?;
        let mut items = Vec::with_capacity(enrolments.items.len());
        for enrolment in &enrolments.items {
            if let Some(p) = state.store.program(&enrolment.program_id).await? {
                items.push(ProgramView::Creator(CreatorProgramView::of(
                    &p.record, enrolment,
                )));
            }
        }
        return Ok(Json(Page {
            items,
            next_cursor: enrolments.next,
        }));
    }
    let listing = state.store.programs(page.limit(), page.cursor).await?;
    Ok(Json(Page {
        items: listing
            .items
            .iter()
            .map(|p| ProgramView::Program(p.into()))
            .collect(),
        next_cursor: listing.next,
    }))
}

#[utoipa::path(get, path = "/api/programs/{id}", tag = "programs", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = ProgramView, description = "the whole program (admin, finance), or its creator view for a creator key enrolled in it"),
        (status = 404, body = linkledger_http::ErrorBody)))]
pub async fn get_program(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ProgramView>, HttpError> {
    match visible_program_and_enrolment(&state, &caller, &id).await? {
        (program, _, Some(enrolment)) => Ok(Json(ProgramView::Creator(CreatorProgramView::of(
            &program, &enrolment,
        )))),
        (program, _, None) => Ok(Json(ProgramView::Program((&program).into()))),
    }
}

#[utoipa::path(patch, path = "/api/programs/{id}", tag = "programs", request_body = ProgramPatch,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = wire::programs::Program), (status = 400, body = linkledger_http::ErrorBody), (status = 404, body = linkledger_http::ErrorBody), (status = 409, body = linkledger_http::ErrorBody)))]
pub async fn update_program(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(id): Path<String>,
    Json(patch): Json<ProgramPatch>,
) -> Result<Json<wire::programs::Program>, HttpError> {
    caller.admin()?;
    let patch = linkledger_core::program::ProgramPatch::from(patch);
    if let Some(name) = &patch.name {
        bounds::text(ErrorCode::InvalidProgram, "name", name)?;
    }
    if let Some(min) = &patch.min_payout {
        bounds::amount(ErrorCode::InvalidProgram, "min_payout", min)?;
    }
    if let Some(plan) = &patch.plan {
        bounds::plan(ErrorCode::InvalidProgram, plan)?;
    }
    let (program, version) = visible_program(&state, &caller, &id).await?;
    let (updated, audit) = programs::update(&program, patch, state.store.now(), &caller.actor())
        .map_err(invalid_program)?;
    save_program(&state, &updated, version, &audit).await
}

/// Replaces a program read at `version` with `updated`; 409 when someone else changed it
/// meanwhile.
pub(crate) async fn save_program(
    state: &ApiState,
    updated: &Program,
    version: u64,
    audit: &AuditEntry,
) -> Result<Json<wire::programs::Program>, HttpError> {
    match state.store.update_program(updated, version, audit).await {
        Ok(()) => Ok(Json(updated.into())),
        Err(StoreError::ConditionFailed { .. }) => Err(HttpError::conflict(
            "the program changed meanwhile; read it again and retry",
        )),
        Err(other) => Err(other.into()),
    }
}

#[utoipa::path(post, path = "/api/programs/{id}/enrolments", tag = "programs", request_body = NewEnrolment,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 201, body = wire::programs::Enrolment), (status = 400, body = linkledger_http::ErrorBody), (status = 404, body = linkledger_http::ErrorBody)))]
pub async fn enrol_creator(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(id): Path<String>,
    Json(input): Json<NewEnrolment>,
) -> Result<(StatusCode, Json<wire::programs::Enrolment>), HttpError> {
    caller.admin()?;
    let (program, _) = visible_program(&state, &caller, &id).await?;
    let creator_known = state.store.creator(&input.creator_id).await?.is_some();
    let input = linkledger_core::creator::NewEnrolment {
        creator_id: input.creator_id,
        rate_override: input.rate_override.map(SaleCommission::from),
    };
    creators::check_enrolment(&input, &program, creator_known).map_err(enrolment_refused)?;
    let before = state
        .store
        .enrolment(&program.id, &input.creator_id)
        .await?;
    let (enrolment, audit) = creators::enrol(
        &input,
        &program,
        creator_known,
        before.as_ref(),
        state.store.now(),
        &caller.actor(),
    )
    .map_err(enrolment_refused)?;
    state.store.enrol(&enrolment, &audit).await?;
    Ok((StatusCode::CREATED, Json((&enrolment).into())))
}

fn enrolment_refused(err: EnrolmentError) -> HttpError {
    match err {
        EnrolmentError::UnknownCreator => HttpError::not_found(err.to_string()),
        EnrolmentError::RateOutOfRange(_) | EnrolmentError::RateNotInProgramCurrency(_) => {
            HttpError::bad_request(ErrorCode::InvalidEnrolment, err.to_string())
        }
    }
}

#[utoipa::path(get, path = "/api/programs/{id}/enrolments", tag = "programs", security(("bearer" = [])),
    params(("id" = String, Path), PageParams), responses((status = 200, body = Page<wire::programs::Enrolment>)))]
pub async fn list_enrolments(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<wire::programs::Enrolment>>, HttpError> {
    caller.require(&[
        linkledger_core::api_key::Role::Admin,
        linkledger_core::api_key::Role::Finance,
    ])?;
    let (program, _) = visible_program(&state, &caller, &id).await?;
    Ok(Json(
        state
            .store
            .enrolments_of_program(&program.id, page.limit(), page.cursor)
            .await?
            .into(),
    ))
}
