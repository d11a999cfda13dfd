//! Signing in and out, the session cookie, and the checks every form post passes (CSRF).
//!
//! Sign-in takes an API key once; the browser then holds only a random session token in an
//! `HttpOnly`, `SameSite=Strict` cookie (`Secure` when the request came over https). Every page
//! reads the session and the key it signed in with, so a revoked key ends its sessions at once.
//! Every form carries the session's form token (`form_token`), and a post whose token, origin or
//! fetch site is not this dashboard's is refused (403).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use axum::http::header::{COOKIE, HOST, ORIGIN, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use subtle::ConstantTimeEq;

use linkledger_core::api_key::{key_hash, ApiKey, Role};
use linkledger_core::session::{form_token, token_hash, Session, SESSION_HOURS};
use linkledger_store::ports::ErrorChain;

use super::forms::Form;
use super::layout::{self, Notice};
use super::PageError;
use crate::auth::Caller;
use crate::limits::{bucket, Refused};
use crate::ApiState;
use linkledger_http::HttpError;

const COOKIE_NAME: &str = "ll_session";
/// The cookie of a browser on the sign-in page, tying the sign-in form to it (login CSRF).
const SIGN_IN_COOKIE: &str = "ll_sign_in";
pub(crate) const SIGN_IN_PATH: &str = "/dashboard/sign-in";

/// Who is looking: the caller of every handler a page uses, and the session's form token.
pub(crate) struct Viewer {
    pub caller: Caller,
    pub form_token: String,
    /// What the header shows: the key's label, else its id.
    pub name: String,
    /// Where this dashboard is served (`https://host`): short links are shown under it.
    pub origin: String,
    token: String,
}

impl Viewer {
    pub fn is_creator(&self) -> bool {
        self.caller.role == Role::Creator
    }

    /// A form post's fields, if it came from one of this session's pages.
    pub fn form(&self, headers: &HeaderMap, body: &Bytes) -> Result<Form, PageError> {
        same_site(headers)?;
        let form = Form::parse(body);
        let sent = form.get("csrf").unwrap_or("");
        if !bool::from(sent.as_bytes().ct_eq(self.form_token.as_bytes())) {
            return Err(HttpError::forbidden(
                "this form has expired; reload the page and try again",
            )
            .into());
        }
        Ok(form)
    }
}

/// A post must come from this dashboard: the browser's `Sec-Fetch-Site` (when sent) is
/// `same-origin`, and its `Origin` (when sent) is this host.
fn same_site(headers: &HeaderMap) -> Result<(), PageError> {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if !matches!(site, "same-origin" | "none") {
            return Err(HttpError::forbidden("forms are accepted from this dashboard only").into());
        }
    }
    if let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers
            .get(HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
        if origin_host != host {
            return Err(HttpError::forbidden("forms are accepted from this dashboard only").into());
        }
    }
    Ok(())
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// Whether the browser reached us over https (API Gateway says so in `X-Forwarded-Proto`).
fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn set_cookie(
    headers: &HeaderMap,
    name: &str,
    value: &str,
    max_age: i64,
    path: &str,
) -> HeaderValue {
    let secure = if over_https(headers) { "; Secure" } else { "" };
    let text = format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    );
    HeaderValue::from_str(&text)
        .unwrap_or_else(|_| HeaderValue::from_static("ll_session=; Max-Age=0"))
}

pub(crate) fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response
            .headers_mut()
            .insert(axum::http::header::LOCATION, value);
    }
    response
}

/// A refused request of a page: too many of them.
fn too_many(refusal: Refused) -> Response {
    let mut response = layout::error_page(
        StatusCode::TOO_MANY_REQUESTS,
        &format!(
            "Too many requests. Try again in {} seconds.",
            refusal.retry_after_secs()
        ),
    );
    response
        .headers_mut()
        .insert(axum::http::header::RETRY_AFTER, refusal.header());
    response
}

impl FromRequestParts<Arc<ApiState>> for Viewer {
    /// Not signed in (or no longer): to the sign-in page.
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ApiState>,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = cookie(&parts.headers, COOKIE_NAME).map(str::to_string) else {
            return Err(see_other(SIGN_IN_PATH));
        };
        state
            .limits()
            .dashboard
            .check(&bucket("session", &token))
            .map_err(too_many)?;
        let unavailable = |err: linkledger_store::ports::StoreError| {
            tracing::error!(error = %ErrorChain(&err), "dashboard session not readable");
            layout::error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "The store is unavailable. Try again shortly.",
            )
        };
        let Some(session) = state
            .store
            .session(&token_hash(&token))
            .await
            .map_err(unavailable)?
        else {
            return Err(see_other(SIGN_IN_PATH));
        };
        // Per key too: one key's many sessions share its limit.
        state
            .limits()
            .dashboard
            .check(&bucket("key", &session.key_hash))
            .map_err(too_many)?;
        let key = state
            .store
            .api_key_by_hash(&session.key_hash)
            .await
            .map_err(unavailable)?;
        let Some(caller) = key.as_ref().and_then(caller_of) else {
            return Err(see_other(SIGN_IN_PATH));
        };
        let name = key
            .and_then(|k| k.label)
            .unwrap_or_else(|| caller.key_id.clone());
        let host = parts
            .headers
            .get(HOST)
            .and_then(|v| v.to_str().ok())
            .filter(|h| {
                h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
            })
            .unwrap_or("localhost");
        let scheme = if over_https(&parts.headers) {
            "https"
        } else {
            "http"
        };
        Ok(Viewer {
            caller,
            form_token: form_token(&token),
            name,
            origin: format!("{scheme}://{host}"),
            token,
        })
    }
}

/// The caller a stored key makes, unless it is revoked (or a creator key without a creator).
fn caller_of(key: &ApiKey) -> Option<Caller> {
    if key.revoked || (key.role == Role::Creator && key.creator_id.is_none()) {
        return None;
    }
    Some(Caller {
        key_id: key.id.clone(),
        role: key.role,
        creator_id: key.creator_id.clone(),
    })
}

fn sign_in_form(form_token: &str, notice: Option<Notice>) -> Markup {
    layout::bare(
        "Sign in",
        html! {
            h1 { "Sign in to linkledger" }
            (layout::notice(notice.as_ref()))
            form method="post" action=(SIGN_IN_PATH) class="card narrow" {
                input type="hidden" name="csrf" value=(form_token);
                p { label for="key" { "API key" } }
                p { input id="key" name="key" type="password" autocomplete="current-password" required maxlength="128" aria-describedby="key-hint"; }
                p id="key-hint" class="hint" { "A brand key (admin or finance) opens the dashboard; a creator key opens the creator's portal. The key is sent once; the browser keeps only a session." }
                p { button type="submit" { "Sign in" } }
            }
        },
    )
}

/// `GET /dashboard/sign-in`: the form, tied to this browser by a cookie of its own.
pub(crate) async fn sign_in_page(headers: HeaderMap) -> Response {
    let nonce = cookie(&headers, SIGN_IN_COOKIE)
        .map(str::to_string)
        .unwrap_or_else(|| linkledger_core::ids::random_token(24));
    let mut response = layout::html(StatusCode::OK, sign_in_form(&form_token(&nonce), None));
    response.headers_mut().append(
        SET_COOKIE,
        set_cookie(&headers, SIGN_IN_COOKIE, &nonce, 3600, SIGN_IN_PATH),
    );
    response
}

/// `POST /dashboard/sign-in`: a valid key starts a session; failures count against the
/// client's address ([`crate::limits::FailedSignIns`]).
pub(crate) async fn sign_in(
    State(state): State<Arc<ApiState>>,
    parts: Parts,
    body: Bytes,
) -> Response {
    let headers = &parts.headers;
    let client = bucket(
        "address",
        &linkledger_http::client_ip(headers, &parts.extensions),
    );
    let now = Instant::now();
    if let Err(refusal) = state.limits().sign_ins.check(&client, now) {
        tracing::warn!("dashboard sign-in refused: too many failures from one address");
        return too_many(refusal);
    }
    if let Err(refused) = same_site(headers) {
        return refused.into_response();
    }
    let Some(nonce) = cookie(headers, SIGN_IN_COOKIE) else {
        return see_other(SIGN_IN_PATH);
    };
    let expected = form_token(nonce);
    let form = Form::parse(&body);
    if !bool::from(
        form.get("csrf")
            .unwrap_or("")
            .as_bytes()
            .ct_eq(expected.as_bytes()),
    ) {
        return see_other(SIGN_IN_PATH);
    }
    let secret = form.get("key").unwrap_or("");
    let found = if secret.is_empty() || secret.len() > 128 {
        Ok(None)
    } else {
        state.store.api_key_by_secret(secret).await
    };
    let key = match found {
        Ok(key) => key,
        Err(err) => {
            tracing::error!(error = %ErrorChain(&err), "dashboard sign-in: key not readable");
            return layout::error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "The store is unavailable. Try again shortly.",
            );
        }
    };
    if key.as_ref().and_then(caller_of).is_none() {
        state.limits().sign_ins.fail(&client, now);
        tracing::info!("dashboard sign-in failed: unknown or revoked key");
        return layout::html(
            StatusCode::UNAUTHORIZED,
            sign_in_form(
                &expected,
                Some(Notice::Error("That key is unknown or revoked.".into())),
            ),
        );
    }
    let started = Session::start(key_hash(secret), state.store.now());
    if let Err(err) = state
        .store
        .start_session(&started.token_hash, &started.record)
        .await
    {
        tracing::error!(error = %ErrorChain(&err), "dashboard session not stored");
        return layout::error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The store is unavailable. Try again shortly.",
        );
    }
    if let Some(key) = &key {
        tracing::info!(key_id = %key.id, "dashboard sign-in");
    }
    let mut response = see_other("/dashboard");
    response.headers_mut().append(
        SET_COOKIE,
        set_cookie(
            headers,
            COOKIE_NAME,
            &started.token,
            SESSION_HOURS.saturating_mul(3600),
            "/dashboard",
        ),
    );
    response.headers_mut().append(
        SET_COOKIE,
        set_cookie(headers, SIGN_IN_COOKIE, "", 0, SIGN_IN_PATH),
    );
    response
}

/// `POST /dashboard/sign-out`: the session's record is deleted and its cookie cleared.
pub(crate) async fn sign_out(
    State(state): State<Arc<ApiState>>,
    viewer: Viewer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refused) = viewer.form(&headers, &body) {
        return refused.into_response();
    }
    if let Err(err) = state.store.end_session(&token_hash(&viewer.token)).await {
        tracing::error!(error = %ErrorChain(&err), "dashboard session not ended");
        return layout::error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The store is unavailable; you are still signed in. Try again shortly.",
        );
    }
    let mut response = see_other(SIGN_IN_PATH);
    response.headers_mut().append(
        SET_COOKIE,
        set_cookie(&headers, COOKIE_NAME, "", 0, "/dashboard"),
    );
    response
}
