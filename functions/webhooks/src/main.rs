//! Lambda entry point: configuration, logging, adapters, then `lambda_http::run`.

use std::sync::Arc;

use linkledger_webhooks::{router, WebhookState};
use linkledger_wiring::config::{Backends, Config};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let config = Config::from_env()?;
    linkledger_wiring::telemetry::init_tracing(config.log_format);
    let backends = Backends::connect_on_lambda(&config.backend).await?;
    let conversions = backends.conversions.ok_or(
        "LINKLEDGER_CONVERSIONS_QUEUE_URL and LINKLEDGER_CONVERSIONS_DLQ_URL are required",
    )?;
    let state = WebhookState::new(backends.store, conversions);
    // Alone on Lambda, unknown paths get the JSON 404 (locally the API router provides it).
    lambda_http::run(router(Arc::new(state)).fallback(linkledger_http::not_found)).await
}
