//! The management API (`/api/...`), `GET /openapi.json` and `GET /health`.
//!
//! Every route is registered through `utoipa-axum`, so the OpenAPI document is generated from
//! the same list that routes requests: a route cannot exist undocumented.
#![cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]

mod audit;
mod auth;
mod bounds;
mod contract;
mod conversions;
mod creators;
mod dashboard;
mod keys;
mod ledger;
pub mod limits;
mod links;
mod pages;
mod paging;
mod programs;
mod promo_codes;
mod secrets;
mod settlements;
mod stats;
pub mod wire;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use linkledger_core::ids::{random_token, LinkCode};
use linkledger_store::ports::Queue;
use linkledger_store::ports::{ErrorChain, StoreError};
use linkledger_store::Store;

pub use auth::Caller;
pub use keys::{issue_key, IssueError, IssuedKey, NewApiKey};

/// The largest request body the API reads (JSON bodies; a program with hundreds of overrides
/// is ~100 KiB): 256 KiB. Larger: 413 `payload_too_large`.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Called after a link changes, so a redirect served by the same process forgets its copy.
pub type LinkChanged = Arc<dyn Fn(&LinkCode) + Send + Sync>;

pub struct ApiState {
    pub store: Store,
    link_changed: Option<LinkChanged>,
    /// Where completed settlements are announced (the finance queue).
    finance: Option<Arc<dyn Queue>>,
    /// On Lambda, `POST /api/settlements` plans the run onto this queue (the settlement function
    /// settles it) instead of settling inside the API's short timeout.
    settlement: Option<Arc<dyn Queue>>,
    /// The key sealing listing cursors (`paging.rs`), read from the store once.
    cursor_key: tokio::sync::OnceCell<Arc<[u8]>>,
    /// Rate limits of this process (`limits.rs`).
    limits: Arc<limits::Limits>,
}

impl ApiState {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            link_changed: None,
            finance: None,
            settlement: None,
            cursor_key: tokio::sync::OnceCell::new(),
            limits: Arc::new(limits::Limits::default()),
        }
    }

    /// Other rate limits than the defaults (tests, and a deployment's own).
    pub fn with_limits(mut self, limits: limits::Limits) -> Self {
        self.limits = Arc::new(limits);
        self
    }

    pub(crate) fn limits(&self) -> &limits::Limits {
        &self.limits
    }

    /// The cursor-sealing key: the store's `cursor_secret` setting (created at random by the
    /// first process that needs it), cached for the life of the process.
    pub(crate) async fn cursor_key(&self) -> Result<Arc<[u8]>, StoreError> {
        self.cursor_key
            .get_or_try_init(|| async {
                let secret = self
                    .store
                    .setting_or_init(paging::CURSOR_SECRET_SETTING, || random_token(32))
                    .await?;
                Ok(Arc::from(secret.into_bytes()))
            })
            .await
            .cloned()
    }

    pub fn with_settlement_queue(mut self, queue: Arc<dyn Queue>) -> Self {
        self.settlement = Some(queue);
        self
    }

    pub(crate) fn settlement_queue(&self) -> Option<&dyn Queue> {
        self.settlement.as_deref()
    }

    pub fn with_finance(mut self, queue: Arc<dyn Queue>) -> Self {
        self.finance = Some(queue);
        self
    }

    pub(crate) fn finance(&self) -> Option<&dyn Queue> {
        self.finance.as_deref()
    }

    pub fn on_link_change(mut self, hook: LinkChanged) -> Self {
        self.link_changed = Some(hook);
        self
    }

    fn link_changed(&self, code: &LinkCode) {
        if let Some(hook) = &self.link_changed {
            hook(code);
        }
    }
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "linkledger", description = "Tracking links, conversions and commission for creator marketing."),
    modifiers(&BearerAuth),
    components(schemas(linkledger_http::ErrorBody))
)]
struct ApiDoc;

/// Liveness; no store call.
#[utoipa::path(get, path = "/health", tag = "meta", responses((status = 200, description = "`{\"status\":\"ok\"}`")))]
async fn health() -> axum::Json<serde_json::Value> {
    linkledger_http::health().await
}

fn api_routes() -> OpenApiRouter<Arc<ApiState>> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health))
        .routes(routes!(keys::create_key, keys::list_keys))
        .routes(routes!(programs::create_program, programs::list_programs))
        .routes(routes!(programs::get_program, programs::update_program))
        .routes(routes!(programs::enrol_creator, programs::list_enrolments))
        .routes(routes!(
            promo_codes::create_promo_code,
            promo_codes::list_promo_codes
        ))
        .routes(routes!(promo_codes::disable_promo_code))
        .routes(routes!(creators::create_creator, creators::list_creators))
        .routes(routes!(creators::get_creator))
        .routes(routes!(links::create_link, links::list_links))
        .routes(routes!(links::get_link))
        .routes(routes!(links::disable_link))
        .routes(routes!(links::list_clicks))
        .routes(routes!(audit::list_audit))
        .routes(routes!(secrets::put_fx_rates))
        .routes(routes!(secrets::put_secret))
        .routes(routes!(secrets::list_secrets))
        .routes(routes!(conversions::list_conversions))
        .routes(routes!(conversions::get_conversion))
        .routes(routes!(conversions::approve_conversion))
        .routes(routes!(conversions::reject_conversion))
        .routes(routes!(ledger::list_ledger))
        .routes(routes!(ledger::list_balances))
        .routes(routes!(ledger::create_adjustment))
        .routes(routes!(
            settlements::run_settlement,
            settlements::list_settlements
        ))
        .routes(routes!(settlements::get_settlement))
        .routes(routes!(settlements::report_csv))
        .routes(routes!(settlements::paypal_csv))
        .routes(routes!(settlements::list_payouts))
        .routes(routes!(settlements::mark_paid))
        .routes(routes!(settlements::mark_failed))
        .routes(routes!(stats::get_stats))
}

/// The OpenAPI document of every public route (the redirect's and the webhooks' included),
/// completed by `contract.rs`.
pub fn openapi() -> serde_json::Value {
    let (_, mut doc) = api_routes().split_for_parts();
    doc.merge(linkledger_redirect::RedirectDoc::openapi());
    doc.merge(linkledger_webhooks::WebhooksDoc::openapi());
    contract::complete(&doc)
}

/// Each key's requests to `/api` (or each address's, without a key) are limited
/// ([`limits::API_PER_SECOND`]); past it, 429 with `Retry-After`.
async fn api_rate_limit(
    axum::extract::State(state): axum::extract::State<Arc<ApiState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if request.uri().path().starts_with("/api/") {
        let bucket = match request.headers().get(axum::http::header::AUTHORIZATION) {
            Some(value) => limits::bucket("key", value.to_str().unwrap_or("")),
            None => limits::bucket(
                "address",
                &linkledger_http::client_ip(request.headers(), request.extensions()),
            ),
        };
        if let Err(refused) = state.limits().api.check(&bucket) {
            return refused.into_api_response();
        }
    }
    next.run(request).await
}

/// `/api/...`, `/openapi.json`, `/health` and `/dashboard/...`, with a JSON 404 for anything
/// else.
pub fn router(state: Arc<ApiState>) -> Router {
    // Read the cursor key now, off any request's path (a listing would otherwise pay for it).
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let warm = state.clone();
        runtime.spawn(async move {
            if let Err(err) = warm.cursor_key().await {
                tracing::warn!(error = %ErrorChain(&err), "the cursor key is not readable yet; read at first use");
            }
        });
    }
    let (routes, _) = api_routes().split_for_parts();
    let document = Arc::new(openapi());
    let router = routes
        .route(
            "/openapi.json",
            get(move || {
                let document = document.clone();
                async move { axum::Json(document.as_ref().clone()) }
            }),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            paging::paging,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            api_rate_limit,
        ))
        .merge(dashboard::routes())
        .fallback(linkledger_http::not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state);
    linkledger_http::with_common_layers(router)
}
