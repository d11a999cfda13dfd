//! Programs: what a brand runs, with its allowed domains and commission plan.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;

use linkledger_http::{HttpError, Json, Path, Query};
use linkledger_shared::audit::AuditEntry;
use linkledger_shared::creator::{Enrolment, NewEnrolment};
use linkledger_shared::ids::ProgramId;
use linkledger_shared::ports::{Created, StoreError};
use linkledger_shared::program::{NewProgram, Program, ProgramError, ProgramPatch};

use crate::auth::Caller;
use crate::pages::{Page, PageParams};
use crate::ApiState;

fn invalid_program(err: ProgramError) -> HttpError {
    HttpError::bad_request("invalid_program", err.to_string())
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
    let id = parse_program_id(id)?;
    let found = state
        .store
        .program(&id)
        .await?
        .ok_or_else(|| HttpError::not_found("no such program"))?;
    if let Some(creator) = caller.own_creator() {
        if state.store.enrolment(&id, creator).await?.is_none() {
            return Err(HttpError::not_found("no such program"));
        }
    }
    Ok((found.record, found.version))
}

#[utoipa::path(post, path = "/api/programs", tag = "programs", request_body = NewProgram,
    security(("bearer" = [])),
    responses((status = 201, body = Program), (status = 400, body = linkledger_http::ErrorBody), (status = 403, body = linkledger_http::ErrorBody)))]
pub async fn create_program(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Json(input): Json<NewProgram>,
) -> Result<(StatusCode, Json<Program>), HttpError> {
    caller.admin()?;
    let program = Program::create(input, linkledger_shared::now()).map_err(invalid_program)?;
    let audit = AuditEntry::new(
        &caller.actor(),
        "program.create",
        &program.id,
        None,
        Some(&program),
    );
    match state.store.create_program(&program, &audit).await? {
        Created::Created => Ok((StatusCode::CREATED, Json(program))),
        Created::AlreadyExists => Err(HttpError::conflict("program id collision, retry")),
    }
}

#[utoipa::path(get, path = "/api/programs", tag = "programs", params(PageParams), security(("bearer" = [])),
    responses((status = 200, body = Page<Program>)))]
pub async fn list_programs(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<Program>>, HttpError> {
    if let Some(creator) = caller.own_creator() {
        let mut programs = Vec::new();
        for enrolment in state.store.enrolments_of_creator(creator).await? {
            if let Some(p) = state.store.program(&enrolment.program_id).await? {
                programs.push(p.record);
            }
        }
        return Ok(Json(Page {
            items: programs,
            next_cursor: None,
        }));
    }
    Ok(Json(
        state
            .store
            .programs(page.limit(), page.cursor)
            .await?
            .into(),
    ))
}

#[utoipa::path(get, path = "/api/programs/{id}", tag = "programs", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Program), (status = 404, body = linkledger_http::ErrorBody)))]
pub async fn get_program(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Program>, HttpError> {
    Ok(Json(visible_program(&state, &caller, &id).await?.0))
}

#[utoipa::path(patch, path = "/api/programs/{id}", tag = "programs", request_body = ProgramPatch,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Program), (status = 400, body = linkledger_http::ErrorBody), (status = 404, body = linkledger_http::ErrorBody), (status = 409, body = linkledger_http::ErrorBody)))]
pub async fn update_program(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(id): Path<String>,
    Json(patch): Json<ProgramPatch>,
) -> Result<Json<Program>, HttpError> {
    caller.admin()?;
    let (program, version) = visible_program(&state, &caller, &id).await?;
    let updated = program
        .apply(patch, linkledger_shared::now())
        .map_err(invalid_program)?;
    save_program(
        &state,
        &caller,
        "program.update",
        &program,
        updated,
        version,
    )
    .await
}

/// Replaces a program read at `version` with `updated`, audited as `action`; 409 when someone
/// else changed it meanwhile.
pub(crate) async fn save_program(
    state: &ApiState,
    caller: &Caller,
    action: &str,
    before: &Program,
    updated: Program,
    version: u64,
) -> Result<Json<Program>, HttpError> {
    let audit = AuditEntry::new(
        &caller.actor(),
        action,
        &before.id,
        Some(before),
        Some(&updated),
    );
    match state.store.update_program(&updated, version, &audit).await {
        Ok(()) => Ok(Json(updated)),
        Err(StoreError::ConditionFailed { .. }) => Err(HttpError::conflict(
            "the program changed meanwhile; read it again and retry",
        )),
        Err(other) => Err(other.into()),
    }
}

#[utoipa::path(post, path = "/api/programs/{id}/enrolments", tag = "programs", request_body = NewEnrolment,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 201, body = Enrolment), (status = 400, body = linkledger_http::ErrorBody), (status = 404, body = linkledger_http::ErrorBody)))]
pub async fn enrol_creator(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(id): Path<String>,
    Json(input): Json<NewEnrolment>,
) -> Result<(StatusCode, Json<Enrolment>), HttpError> {
    caller.admin()?;
    let (program, _) = visible_program(&state, &caller, &id).await?;
    if state.store.creator(&input.creator_id).await?.is_none() {
        return Err(HttpError::not_found("no such creator"));
    }
    if let Some(linkledger_shared::program::SaleCommission::Fixed(m)) = &input.rate_override {
        if m.currency() != program.currency || m.is_negative() {
            return Err(HttpError::bad_request(
                "invalid_enrolment",
                format!(
                    "rate_override.fixed must be a non-negative amount in {}",
                    program.currency
                ),
            ));
        }
    }
    let before = state
        .store
        .enrolment(&program.id, &input.creator_id)
        .await?;
    let enrolment = Enrolment {
        program_id: program.id,
        creator_id: input.creator_id,
        rate_override: input.rate_override,
        enrolled_at: linkledger_shared::now(),
    };
    let audit = AuditEntry::new(
        &caller.actor(),
        "enrolment.put",
        format!("{}/{}", enrolment.program_id, enrolment.creator_id),
        before.as_ref(),
        Some(&enrolment),
    );
    state.store.enrol(&enrolment, &audit).await?;
    Ok((StatusCode::CREATED, Json(enrolment)))
}

#[utoipa::path(get, path = "/api/programs/{id}/enrolments", tag = "programs", security(("bearer" = [])),
    params(("id" = String, Path), PageParams), responses((status = 200, body = Page<Enrolment>)))]
pub async fn list_enrolments(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<Enrolment>>, HttpError> {
    caller.require(&[
        linkledger_shared::api_key::Role::Admin,
        linkledger_shared::api_key::Role::Finance,
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
