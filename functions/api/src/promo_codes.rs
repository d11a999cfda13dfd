//! Promo codes: unique per program whatever their case.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;

use linkledger_core::manage::promo_codes::{self, PromoCodeError};
use linkledger_http::{ErrorCode, HttpError, Json, Path, Query};
use linkledger_store::ports::Created;

use crate::auth::Caller;
use crate::pages::{Page, PageParams};
use crate::programs::visible_program;
use crate::wire;
use crate::wire::programs::NewPromoCode;
use crate::ApiState;

#[utoipa::path(post, path = "/api/programs/{id}/promo-codes", tag = "promo codes", request_body = NewPromoCode,
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 201, body = wire::programs::PromoCode), (status = 400, body = linkledger_http::ErrorBody), (status = 409, body = linkledger_http::ErrorBody)))]
pub async fn create_promo_code(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(id): Path<String>,
    Json(input): Json<NewPromoCode>,
) -> Result<(StatusCode, Json<wire::programs::PromoCode>), HttpError> {
    caller.admin()?;
    let (program, _) = visible_program(&state, &caller, &id).await?;
    let input = linkledger_core::link::NewPromoCode {
        code: input.code,
        creator_id: input.creator_id,
    };
    promo_codes::check(&input).map_err(promo_code_refused)?;
    let enrolment = state
        .store
        .enrolment(&program.id, &input.creator_id)
        .await?;
    let (promo, audit) = promo_codes::create(
        &input,
        &program,
        enrolment.as_ref(),
        state.store.now(),
        &caller.actor(),
    )
    .map_err(promo_code_refused)?;
    match state.store.create_promo_code(&promo, &audit).await? {
        Created::Created => Ok((StatusCode::CREATED, Json((&promo).into()))),
        Created::AlreadyExists => Err(HttpError::conflict(
            "that promo code exists in this program (codes ignore case)",
        )),
    }
}

fn promo_code_refused(err: PromoCodeError) -> HttpError {
    let code = match err {
        PromoCodeError::Code(_) => ErrorCode::InvalidCode,
        PromoCodeError::NotEnrolled => ErrorCode::NotEnrolled,
        PromoCodeError::AlreadyDisabled => return HttpError::conflict(err.to_string()),
    };
    HttpError::bad_request(code, err.to_string())
}

#[utoipa::path(get, path = "/api/programs/{id}/promo-codes", tag = "promo codes", params(("id" = String, Path), PageParams),
    security(("bearer" = [])), responses((status = 200, body = Page<wire::programs::PromoCode>)))]
pub async fn list_promo_codes(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<wire::programs::PromoCode>>, HttpError> {
    let (program, _) = visible_program(&state, &caller, &id).await?;
    // A creator key reads its own partition of the program's codes (the scope before paging).
    let listing = match caller.own_creator() {
        Some(creator) => {
            state
                .store
                .promo_codes_of_creator(creator, &program.id, page.limit(), page.cursor)
                .await?
        }
        None => {
            state
                .store
                .promo_codes(&program.id, page.limit(), page.cursor)
                .await?
        }
    };
    Ok(Json(listing.into()))
}

#[utoipa::path(post, path = "/api/programs/{id}/promo-codes/{promo}/disable", tag = "promo codes",
    params(("id" = String, Path), ("promo" = String, Path, description = "the promo code, in any case")),
    security(("bearer" = [])),
    responses((status = 200, body = wire::programs::PromoCode, description = "the code, disabled: it attributes no further orders"),
        (status = 409, body = linkledger_http::ErrorBody, description = "already disabled, or changed meanwhile")))]
pub async fn disable_promo_code(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path((id, promo)): Path<(String, String)>,
) -> Result<Json<wire::programs::PromoCode>, HttpError> {
    caller.admin()?;
    let (program, _) = visible_program(&state, &caller, &id).await?;
    let code = linkledger_core::link::parse_promo_code(&promo)
        .map_err(|_| HttpError::not_found("no such promo code"))?;
    let found = state
        .store
        .promo_code_versioned(&program.id, &code)
        .await?
        .ok_or_else(|| HttpError::not_found("no such promo code"))?;
    let (disabled, audit) = promo_codes::disable(&found.record, state.store.now(), &caller.actor())
        .map_err(promo_code_refused)?;
    match state
        .store
        .update_promo_code(&disabled, found.version, &audit)
        .await
    {
        Ok(()) => Ok(Json((&disabled).into())),
        Err(linkledger_store::ports::StoreError::ConditionFailed { .. }) => Err(
            HttpError::conflict("the promo code changed meanwhile; reload and retry"),
        ),
        Err(other) => Err(other.into()),
    }
}
