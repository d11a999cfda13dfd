//! Lambda entry point: configuration, logging, adapters, then `lambda_http::run`.

use std::sync::Arc;

use linkledger_api::{router, ApiState};
use linkledger_shared::config::{Backends, Config};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let config = Config::from_env()?;
    linkledger_shared::telemetry::init_tracing(config.log_format);
    let backends = Backends::connect(&config.backend).await?;
    lambda_http::run(router(Arc::new(ApiState::new(backends.store)))).await
}
