//! Webhook signing secrets per program and platform, and a program's exchange rates.

use std::sync::Arc;

use axum::extract::State;

use linkledger_core::audit::AuditEntry;
use linkledger_core::conversion::Platform;
use linkledger_core::ids::random_token;
use linkledger_http::{ErrorCode, HttpError, Json, Path};
use linkledger_store::WebhookSecret;

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
    let secret = match input.secret {
        Some(s) if s.trim().len() < 8 || s.len() > 512 => {
            return Err(HttpError::bad_request(
                ErrorCode::InvalidSecret,
                "secret must be 8 to 512 characters",
            ))
        }
        Some(s) => s.trim().to_string(),
        None => format!("llwh_{}", random_token(32)),
    };
    let record = WebhookSecret {
        program_id: program.id.clone(),
        platform,
        secret,
        created_at: state.store.now(),
    };
    let before = state
        .store
        .webhook_secret(&program.id, platform)
        .await?
        .map(|s| s.masked());
    // The audit log keeps the masked form only.
    let audit = AuditEntry::new(
        state.store.now(),
        &caller.actor(),
        "webhook_secret.put",
        format!("{}/{}", program.id, platform.as_str()),
        before.as_ref(),
        Some(&record.masked()),
    );
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
    let mut updated = program.clone();
    updated.fx_rates = input.rates;
    updated.updated_at = state.store.now();
    updated
        .validate()
        .map_err(|e| HttpError::bad_request(ErrorCode::InvalidProgram, e.to_string()))?;
    save_program(
        &state,
        &caller,
        "program.fx_rates",
        &program,
        updated,
        version,
    )
    .await
}
