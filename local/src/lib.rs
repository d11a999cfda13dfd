//! The local process's library: the one composed application (the same routers the Lambdas
//! serve) and the demo seed, so the binary and the end-to-end tests run the same thing.

pub mod demo;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;

use linkledger_api::ApiState;
use linkledger_redirect::RedirectState;
use linkledger_shared::click::VisitorKey;
use linkledger_shared::ports::Queue;
use linkledger_shared::store::Store;
use linkledger_webhooks::WebhookState;

/// Redirect at `/{code}`, API at `/api`, webhooks at `/webhooks/...` and `/postback/...`,
/// `/openapi.json`, `/health`, on one router. A link changed through the API is dropped from the
/// redirect's cache at once.
pub fn app(
    store: Store,
    conversions: Arc<dyn Queue>,
    finance: Option<Arc<dyn Queue>>,
    visitor_key: VisitorKey,
    link_cache_ttl: Duration,
) -> Router {
    let redirect = Arc::new(RedirectState::new(
        store.clone(),
        visitor_key,
        link_cache_ttl,
    ));
    let forget = redirect.clone();
    let webhooks = Arc::new(WebhookState {
        store: store.clone(),
        conversions,
    });
    let mut api = ApiState::new(store).on_link_change(Arc::new(move |code| forget.forget(code)));
    if let Some(finance) = finance {
        api = api.with_finance(finance);
    }
    linkledger_api::router(Arc::new(api))
        .merge(linkledger_webhooks::router(webhooks))
        .merge(linkledger_redirect::router(redirect))
}
