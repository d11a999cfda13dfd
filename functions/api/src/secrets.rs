//! Webhook signing secrets per program and platform, and a program's exchange rates.

use std::sync::Arc;

use axum::extract::State;

use linkledger_core::conversion::Platform;
use linkledger_core::manage::{programs, secrets};
use linkledger_http::{ErrorCode, HttpError, Json, Path};

use crate::auth::Caller;
use crate::programs::{save_program, visible_program};
use crate::wire;
use crate::wire::programs::{FxRates, MaskedSecret, NewSecret, Secrets, SetSecret};
use crate::ApiState;

#[utoipa::path(put, path = "/api/programs/{id}/webhook-secrets/{platform}", tag = "webhooks", request_body = NewSecret,
    security(("bearer" = [])), params(("id" = String, Path), ("platform" = String, Path, description = "shopify, stripe, woocommerce or postback")),
    responses((status = 200, body = SetSecret), (status = 400, body = linkledger_http::ErrorBody), (status = 404, body = linkledger_http::ErrorBody)))]
pub async fn put_secret(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path((id, platform)): Path<(String, String)>,
    Json(input): Json<NewSecret>,
) -> Result<Json<SetSecret>, HttpError> {
    caller.admin()?;
    let (program, _) = visible_program(&state, &caller, &id).await?;
    let platform = Platform::parse(&platform).ok_or_else(|| {
        HttpError::not_found("platform is one of shopify, stripe, woocommerce, postback")
    })?;
    let input = secrets::NewSecret {
        program_id: program.id.clone(),
        platform,
        given: input.secret,
    };
    let refused =
        |e: secrets::SecretError| HttpError::bad_request(ErrorCode::InvalidSecret, e.to_string());
    secrets::check(&input).map_err(refused)?;
    let current = state.store.webhook_secret(&program.id, platform).await?;
    let (record, audit) = secrets::put(
        &input,
        secrets::generate,
        current.as_ref(),
        state.store.now(),
        &caller.actor(),
    )
    .map_err(refused)?;
    state.store.put_webhook_secret(&record, &audit).await?;
    let path = match platform {
        Platform::Postback => format!("/postback/{}", program.id),
        other => format!("/webhooks/{}/{}", other.as_str(), program.id),
    };
    Ok(Json(SetSecret::new(platform, record.secret, path)))
}

#[utoipa::path(get, path = "/api/programs/{id}/webhook-secrets", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Secrets)))]
pub async fn list_secrets(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Secrets>, HttpError> {
    caller.admin()?;
    let (program, _) = visible_program(&state, &caller, &id).await?;
    let items = state
        .store
        .webhook_secrets(&program.id)
        .await?
        .iter()
        .map(|secret| MaskedSecret::from(&secret.masked()))
        .collect();
    Ok(Json(Secrets { items }))
}

#[utoipa::path(put, path = "/api/programs/{id}/fx-rates", tag = "programs", request_body = FxRates,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = wire::programs::Program), (status = 400, body = linkledger_http::ErrorBody), (status = 404, body = linkledger_http::ErrorBody), (status = 409, body = linkledger_http::ErrorBody)))]
pub async fn put_fx_rates(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(id): Path<String>,
    Json(input): Json<FxRates>,
) -> Result<Json<wire::programs::Program>, HttpError> {
    caller.admin()?;
    linkledger_core::limits::check_list_len(input.rates.len())
        .map_err(|e| HttpError::bad_request(ErrorCode::InvalidProgram, format!("rates: {e}")))?;
    for (currency, rate) in &input.rates {
        crate::bounds::fx_rate(
            ErrorCode::InvalidProgram,
            &format!("rates.{currency}"),
            rate,
        )?;
    }
    let (program, version) = visible_program(&state, &caller, &id).await?;
    let (updated, audit) =
        programs::set_fx_rates(&program, input.rates, state.store.now(), &caller.actor())
            .map_err(|e| HttpError::bad_request(ErrorCode::InvalidProgram, e.to_string()))?;
    save_program(&state, &updated, version, &audit).await
}
