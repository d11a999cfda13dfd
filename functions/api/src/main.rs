//! Lambda entry point: configuration, logging, adapters, then `lambda_http::run`.

use std::sync::Arc;

use linkledger_api::limits::Limits;
use linkledger_api::{router, ApiState};
use linkledger_wiring::config::{Backends, Config};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let config = Config::from_env()?;
    linkledger_wiring::telemetry::init_tracing(config.log_format);
    let backends = Backends::connect_on_lambda(&config.backend).await?;
    let mut state = ApiState::new(backends.store).with_limits(Limits::from_env()?);
    if let Some(queue) = backends.settlement {
        state = state.with_settlement_queue(queue);
    }
    if let Some(queue) = backends.finance {
        state = state.with_finance(queue);
    }
    lambda_http::run(router(Arc::new(state))).await
}
