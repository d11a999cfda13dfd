//! The local process's library: the one composed application (the same routers the Lambdas
//! serve) and the demo seed, so the binary and the end-to-end tests run the same thing.

pub mod demo;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;

use linkledger_api::ApiState;
use linkledger_core::click::VisitorKey;
use linkledger_redirect::RedirectState;
use linkledger_store::ports::Queue;
use linkledger_store::Store;
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
    let webhooks = Arc::new(WebhookState::new(store.clone(), conversions));
    // `serve` has checked the settings at start-up (`Limits::from_env`).
    let limits = linkledger_api::limits::Limits::from_env().unwrap_or_default();
    let mut api = ApiState::new(store)
        .with_limits(limits)
        .on_link_change(Arc::new(move |code| forget.forget(code)));
    if let Some(finance) = finance {
        api = api.with_finance(finance);
    }
    linkledger_api::router(Arc::new(api))
        .merge(linkledger_webhooks::router(webhooks))
        .merge(linkledger_redirect::router(redirect))
}

/// When the nightly settlement runs next: today at `at` (UTC) if that is still ahead, else
/// tomorrow. It then settles the day before the one it runs on.
pub fn next_settlement(now: time::OffsetDateTime, at: time::Time) -> time::OffsetDateTime {
    let today = now.to_offset(time::UtcOffset::UTC).replace_time(at);
    if today > now {
        today
    } else {
        today.checked_add(time::Duration::days(1)).unwrap_or(today)
    }
}

#[cfg(test)]
mod tests {
    use super::next_settlement;
    use time::macros::{datetime, time};

    #[test]
    fn the_nightly_run_is_the_next_occurrence_of_its_time() {
        assert_eq!(
            next_settlement(datetime!(2026-11-28 01:59 UTC), time!(02:00)),
            datetime!(2026-11-28 02:00 UTC)
        );
        assert_eq!(
            next_settlement(datetime!(2026-11-28 02:00 UTC), time!(02:00)),
            datetime!(2026-11-29 02:00 UTC)
        );
        assert_eq!(
            next_settlement(datetime!(2026-12-31 23:00 UTC), time!(02:00)),
            datetime!(2027-01-01 02:00 UTC)
        );
    }
}
