//! Promo codes: unique per program whatever their case.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;

use linkledger_core::audit::AuditEntry;
use linkledger_core::link::{parse_promo_code, PromoCode};
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
    let code = parse_promo_code(&input.code)
        .map_err(|e| HttpError::bad_request(ErrorCode::InvalidCode, e))?;
    if state
        .store
        .enrolment(&program.id, &input.creator_id)
        .await?
        .is_none()
    {
        return Err(HttpError::bad_request(
            ErrorCode::NotEnrolled,
            "enrol the creator in the program first",
        ));
    }
    let promo = PromoCode {
        code,
        program_id: program.id,
        creator_id: input.creator_id,
        created_at: state.store.now(),
    };
    let audit = AuditEntry::new(
        state.store.now(),
        &caller.actor(),
        "promo_code.create",
        &promo.code,
        None,
        Some(&promo),
    );
    match state.store.create_promo_code(&promo, &audit).await? {
        Created::Created => Ok((StatusCode::CREATED, Json((&promo).into()))),
        Created::AlreadyExists => Err(HttpError::conflict(
            "that promo code exists in this program (codes ignore case)",
        )),
    }
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
