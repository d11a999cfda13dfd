//! Programs: what a brand runs, with its allowed domains and commission plan.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use linkledger_core::audit::AuditEntry;
use linkledger_core::commission::creator_rate;
use linkledger_core::creator::{Enrolment, NewEnrolment};
use linkledger_core::destination::{Destination, Domain};
use linkledger_core::ids::ProgramId;
use linkledger_core::money::{Currency, Money};
use linkledger_core::program::{
    ClickCommission, NewProgram, Precedence, Program, ProgramError, ProgramPatch, SaleCommission,
};
use linkledger_http::{HttpError, Json, Path, Query};
use linkledger_store::ports::{Created, StoreError};

use crate::auth::Caller;
use crate::bounds;
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

/// What a creator's key sees of a program: the program's public terms and this creator's own
/// sale rate, nothing about other creators (no `creator_overrides`, no enrolments), and none
/// of the brand's internal settings (exchange rates, the click-reuse threshold).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatorProgramView {
    pub id: ProgramId,
    pub name: String,
    pub currency: Currency,
    pub allowed_domains: Vec<Domain>,
    pub click_param: String,
    pub attribution_window_days: u16,
    pub holding_days: u16,
    pub min_payout: Money,
    pub precedence: Precedence,
    pub plan: CreatorPlan,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_url: Option<Destination>,
    /// When this creator was enrolled in the program.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub enrolled_at: OffsetDateTime,
}

/// A plan as one creator earns by it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatorPlan {
    /// This creator's sale commission: the rate negotiated for them, else the program's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sale: Option<SaleCommission>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub click: Option<ClickCommission>,
    /// Per-product sale commission, the same for every creator, winning over the sale rate.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub product_overrides: BTreeMap<String, SaleCommission>,
    pub recurring_months: u16,
}

impl CreatorProgramView {
    pub fn of(program: Program, enrolment: &Enrolment) -> Self {
        let plan = &program.plan;
        let sale = creator_rate(
            plan,
            &enrolment.creator_id,
            enrolment.rate_override.as_ref(),
        )
        .cloned();
        let plan = CreatorPlan {
            sale,
            lead: plan.lead,
            click: plan.click.clone(),
            product_overrides: plan.product_overrides.clone(),
            recurring_months: plan.recurring_months,
        };
        CreatorProgramView {
            id: program.id,
            name: program.name,
            currency: program.currency,
            allowed_domains: program.allowed_domains,
            click_param: program.click_param,
            attribution_window_days: program.attribution_window_days,
            holding_days: program.holding_days,
            min_payout: program.min_payout,
            precedence: program.precedence,
            plan,
            fallback_url: program.fallback_url,
            enrolled_at: enrolment.enrolled_at,
        }
    }
}

/// A program as the caller may see it: whole for admin and finance keys, a
/// [`CreatorProgramView`] for creator keys.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ProgramView {
    Program(Program),
    Creator(CreatorProgramView),
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
    bounds::text("invalid_program", "name", &input.name)?;
    if let Some(min) = &input.min_payout {
        bounds::amount("invalid_program", "min_payout", min)?;
    }
    if let Some(plan) = &input.plan {
        bounds::plan("invalid_program", plan)?;
    }
    let program = Program::create(input, linkledger_core::now()).map_err(invalid_program)?;
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
                    p.record, enrolment,
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
            .into_iter()
            .map(ProgramView::Program)
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
            program, &enrolment,
        )))),
        (program, _, None) => Ok(Json(ProgramView::Program(program))),
    }
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
    if let Some(name) = &patch.name {
        bounds::text("invalid_program", "name", name)?;
    }
    if let Some(min) = &patch.min_payout {
        bounds::amount("invalid_program", "min_payout", min)?;
    }
    if let Some(plan) = &patch.plan {
        bounds::plan("invalid_program", plan)?;
    }
    let (program, version) = visible_program(&state, &caller, &id).await?;
    let updated = program
        .apply(patch, linkledger_core::now())
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
    if let Some(SaleCommission::Fixed(m)) = &input.rate_override {
        bounds::amount("invalid_enrolment", "rate_override.fixed", m)?;
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
        enrolled_at: linkledger_core::now(),
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
