//! The redirect function: `GET /{code}` records one click and answers `302` to the link's
//! destination with the click id appended; `HEAD` answers the same without recording.
#![cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]

mod cache;
mod target;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use linkledger_core::click::{is_bot, Click, VisitorKey, RETENTION_MARGIN_DAYS};
use linkledger_core::ids::{ClickId, LinkCode};
use linkledger_core::link::LinkState;
use linkledger_http::{client_ip, ErrorCode, HttpError, Path};
use linkledger_store::ports::ErrorChain;
use linkledger_store::Store;

pub use cache::{LinkCache, ResolvedLink};

/// The redirect's part of the OpenAPI document (merged by the API function).
#[derive(utoipa::OpenApi)]
#[openapi(paths(redirect))]
pub struct RedirectDoc;

pub struct RedirectState {
    store: Store,
    cache: LinkCache,
    visitor_key: VisitorKey,
    click_write_failures: AtomicU64,
}

impl RedirectState {
    pub fn new(store: Store, visitor_key: VisitorKey, cache_ttl: Duration) -> Self {
        Self {
            store,
            cache: LinkCache::new(cache_ttl),
            visitor_key,
            click_write_failures: AtomicU64::new(0),
        }
    }

    /// Clicks whose write failed while the shopper was still redirected.
    pub fn click_write_failures(&self) -> u64 {
        self.click_write_failures.load(Ordering::Relaxed)
    }

    /// Drops a link from this instance's cache (the API calls it after a change locally).
    pub fn forget(&self, code: &LinkCode) {
        self.cache.forget(code);
    }

    /// The link behind `code`. A cached copy past its TTL is served at once while one background
    /// task refreshes it (stale-while-revalidate): a shopper never waits on the store for a link
    /// we know, and keeps being redirected while the store is down.
    async fn resolve(
        self: &Arc<Self>,
        code: &LinkCode,
    ) -> Result<Option<Arc<ResolvedLink>>, HttpError> {
        match self.cache.get(code) {
            cache::Cached::Fresh(link) => Ok(Some(link)),
            cache::Cached::Stale(link) => {
                if self.cache.begin_refresh(code) {
                    let (state, code) = (self.clone(), code.clone());
                    tokio::spawn(async move {
                        if let Err(err) = state.refresh(&code).await {
                            tracing::warn!(error = %ErrorChain(&err), link = %code, "link refresh failed, serving the cached copy");
                        }
                        state.cache.end_refresh(&code);
                    });
                }
                Ok(Some(link))
            }
            cache::Cached::Missing => Ok(self.refresh(code).await?),
        }
    }

    /// Loads `code` from the store into the cache (or drops it when it is gone).
    async fn refresh(
        &self,
        code: &LinkCode,
    ) -> Result<Option<Arc<ResolvedLink>>, linkledger_store::ports::StoreError> {
        match self.load(code).await? {
            Some(resolved) => {
                let resolved = Arc::new(resolved);
                self.cache.put(code.clone(), resolved.clone());
                Ok(Some(resolved))
            }
            None => {
                self.cache.forget(code);
                Ok(None)
            }
        }
    }

    async fn load(
        &self,
        code: &LinkCode,
    ) -> Result<Option<ResolvedLink>, linkledger_store::ports::StoreError> {
        let Some(link) = self.store.link(code).await? else {
            return Ok(None);
        };
        let Some(program) = self.store.program(&link.record.program_id).await? else {
            return Ok(None);
        };
        Ok(Some(ResolvedLink::new(link.record, program.record)))
    }
}

/// The redirect routes; `/health` is served by the API function.
pub fn router(state: Arc<RedirectState>) -> Router {
    linkledger_http::with_common_layers(
        Router::new()
            .route("/{code}", get(redirect))
            .with_state(state),
    )
}

/// Shopper-facing redirect. The OpenAPI description lives in the API crate's document.
#[utoipa::path(
    get,
    path = "/{code}",
    tag = "redirect",
    params(("code" = String, Path, description = "The link's short code")),
    responses(
        (status = 302, description = "To the destination, with the click id appended; `HEAD` records nothing"),
        (status = 404, description = "Unknown code", body = linkledger_http::ErrorBody),
        (status = 410, description = "Disabled or expired link", body = linkledger_http::ErrorBody),
    )
)]
pub async fn redirect(
    State(state): State<Arc<RedirectState>>,
    Path(code): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Result<Response, HttpError> {
    let Ok(code) = LinkCode::parse(&code) else {
        return Err(HttpError::not_found("no such link"));
    };
    let Some(resolved) = state.resolve(&code).await? else {
        return Err(HttpError::not_found("no such link"));
    };
    let now = state.store.now();
    let dead = match resolved.link.state(now) {
        LinkState::Active => None,
        LinkState::Disabled => Some((ErrorCode::LinkDisabled, "this link was disabled")),
        LinkState::Expired => Some((ErrorCode::LinkExpired, "this link has expired")),
    };
    if let Some((code_name, message)) = dead {
        // A dead link goes to the program's fallback page when it has one; no click is recorded.
        return match &resolved.program.fallback_url {
            Some(fallback) => found(fallback.as_str()),
            None => Err(HttpError::new(StatusCode::GONE, code_name, message)),
        };
    }

    let at_ms = linkledger_core::clock::unix_ms(now);
    let click_id = ClickId::generate(at_ms);
    let location = target::location(&resolved, uri.query(), &click_id).map_err(|reason| {
        HttpError::new(StatusCode::GONE, ErrorCode::DestinationNotAllowed, reason)
    })?;

    if method == Method::GET {
        let user_agent = header_str(&headers, header::USER_AGENT);
        let ip = client_ip(&headers, request.extensions());
        let click = Click {
            id: click_id,
            link_code: code,
            program_id: resolved.link.program_id.clone(),
            creator_id: resolved.link.creator_id.clone(),
            at_ms,
            visitor: state.visitor_key.visitor(&ip, user_agent),
            bot: is_bot(user_agent),
            country: country(&headers),
            referrer_host: referrer_host(&headers),
        };
        let retention = time::Duration::days(
            i64::from(resolved.program.attribution_window_days)
                .saturating_add(RETENTION_MARGIN_DAYS),
        );
        let expires = now.checked_add(retention).unwrap_or(now);
        if let Err(err) = state.store.record_click(&click, expires).await {
            // The shopper still gets where they were going; the loss is logged and counted.
            state.click_write_failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %ErrorChain(&err), link = %click.link_code, "click write failed; redirecting anyway");
        }
    }

    found(&location)
}

/// `302` to `location`, never cached: every tap must reach us to be counted.
fn found(location: &str) -> Result<Response, HttpError> {
    let location = HeaderValue::from_str(location).map_err(|_| {
        HttpError::new(
            StatusCode::GONE,
            ErrorCode::DestinationNotAllowed,
            "destination is not a valid header",
        )
    })?;
    Ok((
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response())
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Two upper-case letters from CloudFront's viewer-country header, else nothing.
fn country(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("cloudfront-viewer-country")?.to_str().ok()?;
    (value.len() == 2 && value.bytes().all(|b| b.is_ascii_uppercase())).then(|| value.to_string())
}

/// The referrer's host only: paths and queries can carry personal data.
fn referrer_host(headers: &HeaderMap) -> Option<String> {
    let referer = headers.get(header::REFERER)?.to_str().ok()?;
    let url = url::Url::parse(referer).ok()?;
    url.host_str().map(|h| h.chars().take(253).collect())
}
