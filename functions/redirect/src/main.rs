//! Lambda entry point: configuration, logging, adapters, then `lambda_http::run`.

use std::sync::Arc;

use linkledger_core::click::VisitorKey;
use linkledger_redirect::{router, RedirectState};
use linkledger_wiring::config::{Backends, Config};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let config = Config::from_env()?;
    linkledger_wiring::telemetry::init_tracing(config.log_format);
    let secret = config
        .click_hash_secret
        .clone()
        .ok_or("LINKLEDGER_CLICK_HASH_SECRET is required on Lambda")?;
    let backends = Backends::connect_on_lambda(&config.backend).await?;
    let state = RedirectState::new(
        backends.store,
        VisitorKey::new(secret.expose()),
        config.link_cache_ttl,
    );
    lambda_http::run(router(Arc::new(state))).await
}
