//! The HTTP pieces every linkledger function shares, so each rule is written once:
//! the `{"error":{"code","message"}}` shape, a JSON extractor whose rejections use it,
//! and how a client's address is read.
#![cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use utoipa::ToSchema;

use linkledger_store::ports::{ErrorChain, StoreError};

mod strict;

/// Declares [`ErrorCode`] with each variant's code. A code is its variant's name in snake case
/// (serde's `rename_all`, which utoipa reads for the schema); a test checks `as_str` agrees.
macro_rules! error_codes {
    ($($variant:ident = $code:literal,)*) => {
        /// Every `code` an error answer carries: stable and machine-readable. The OpenAPI
        /// document lists them (the `ErrorCode` schema).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $($variant,)*
        }

        impl ErrorCode {
            /// Every code, in the order declared.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }
        }
    };
}

error_codes! {
    // The request itself (any route).
    InvalidJson = "invalid_json",
    InvalidRequest = "invalid_request",
    InvalidQuery = "invalid_query",
    InvalidPath = "invalid_path",
    InvalidCursor = "invalid_cursor",
    FilterRequired = "filter_required",
    PayloadTooLarge = "payload_too_large",
    UriTooLong = "uri_too_long",
    HeadersTooLarge = "headers_too_large",
    UnsupportedMediaType = "unsupported_media_type",
    MethodNotAllowed = "method_not_allowed",
    Unauthorized = "unauthorized",
    Forbidden = "forbidden",
    NotFound = "not_found",
    Conflict = "conflict",
    RateLimited = "rate_limited",
    // A field of a management request, per route.
    InvalidProgram = "invalid_program",
    InvalidEnrolment = "invalid_enrolment",
    InvalidCreator = "invalid_creator",
    InvalidKey = "invalid_key",
    InvalidLink = "invalid_link",
    InvalidCode = "invalid_code",
    InvalidDestination = "invalid_destination",
    InvalidAdjustment = "invalid_adjustment",
    InvalidAmount = "invalid_amount",
    InvalidSecret = "invalid_secret",
    InvalidDate = "invalid_date",
    InvalidReference = "invalid_reference",
    InvalidReason = "invalid_reason",
    CurrencyRequired = "currency_required",
    NotEnrolled = "not_enrolled",
    // The state of a record.
    NotHeld = "not_held",
    FxRateMissing = "fx_rate_missing",
    LaterRunExists = "later_run_exists",
    PayoutNotPending = "payout_not_pending",
    BalanceOutOfRange = "balance_out_of_range",
    // The redirect.
    LinkDisabled = "link_disabled",
    LinkExpired = "link_expired",
    DestinationNotAllowed = "destination_not_allowed",
    // Webhooks and postbacks.
    WebhookNotConfigured = "webhook_not_configured",
    MissingSignature = "missing_signature",
    BadSignature = "bad_signature",
    StaleSignature = "stale_signature",
    MalformedBody = "malformed_body",
    // Ours: retry, or report.
    Unavailable = "unavailable",
    Internal = "internal",
    // Any other status answered without a code of its own.
    Error = "error",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `invalid_json`, `not_found`, `conflict`, ... (every one is
    /// listed in `ErrorCode`).
    pub code: ErrorCode,
    /// For humans; never contains secrets.
    pub message: String,
}

/// Every error answer: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What failed behind a server error, for the log only (never the answer).
pub type Cause = Arc<dyn std::error::Error + Send + Sync>;

/// An error answer with its status.
#[derive(Debug)]
pub struct HttpError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    /// Why a 5xx happened: logged once by [`with_common_layers`], with its source chain.
    cause: Option<Cause>,
}

/// Put on a 5xx answer for the logging layer: its code and what failed.
#[derive(Clone, Debug)]
struct ServerError {
    code: ErrorCode,
    cause: Option<Cause>,
}

impl HttpError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            cause: None,
        }
    }
    /// The error behind this answer, logged (with its sources) if the answer is a 5xx.
    pub fn with_cause(
        mut self,
        cause: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        self.cause = Some(Arc::from(cause.into()));
        self
    }
    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, ErrorCode::Conflict, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
    }
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "the store is unavailable, retry shortly",
        )
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status.is_server_error() {
            response.extensions_mut().insert(ServerError {
                code: self.code,
                cause: self.cause,
            });
        }
        response
    }
}

/// Store failures are ours, never the caller's: answered 503 (retry), the store's error kept as
/// the cause that the logging layer writes down.
impl From<StoreError> for HttpError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::InvalidCursor => {
                Self::bad_request(ErrorCode::InvalidCursor, "the cursor is not one we issued")
            }
            other => Self::unavailable().with_cause(other),
        }
    }
}

/// Every 5xx answered is logged here, once, in the request's span (method and route): its
/// status, code and cause chain. Causes are our own errors (store, settlement, ...), which name
/// ids and reasons, never a request's body, query or headers.
async fn log_server_errors(request: Request, next: axum::middleware::Next) -> Response {
    let mut response = next.run(request).await;
    let status = response.status();
    if status.is_server_error() {
        let error = response.extensions_mut().remove::<ServerError>();
        let code = error.as_ref().map_or("<none>", |e| e.code.as_str());
        match error.and_then(|e| e.cause) {
            Some(cause) => tracing::error!(
                status = status.as_u16(),
                code,
                cause = %ErrorChain(cause.as_ref()),
                "server error answered"
            ),
            None => tracing::error!(status = status.as_u16(), code, "server error answered"),
        }
    }
    response
}

/// 413 in our shape: the body is larger than the route accepts.
pub fn payload_too_large() -> HttpError {
    HttpError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::PayloadTooLarge,
        "the request body is too large",
    )
}

/// `axum::Json`, but a rejection answers in our error shape, naming what was wrong.
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // Parsed first, then read strictly: an array is never taken for an object.
        match axum::Json::<serde_json::Value>::from_request(req, state).await {
            Ok(axum::Json(value)) => strict::from_value(&value)
                .map(Json)
                .map_err(|message| HttpError::bad_request(ErrorCode::InvalidRequest, message)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> HttpError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return payload_too_large();
    }
    match rejection {
        JsonRejection::MissingJsonContentType(_) => HttpError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "send Content-Type: application/json",
        ),
        JsonRejection::JsonSyntaxError(e) => {
            HttpError::bad_request(ErrorCode::InvalidJson, e.body_text())
        }
        JsonRejection::JsonDataError(e) => {
            HttpError::bad_request(ErrorCode::InvalidRequest, e.body_text())
        }
        other => HttpError::bad_request(ErrorCode::InvalidRequest, other.body_text()),
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Query` with our error shape.
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e: QueryRejection| {
                HttpError::bad_request(ErrorCode::InvalidQuery, e.body_text())
            })
    }
}

/// `axum::extract::Path` with our error shape.
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|e: PathRejection| {
                HttpError::bad_request(ErrorCode::InvalidPath, e.body_text())
            })
    }
}

/// The client's address: the socket peer when served locally, else the first
/// `X-Forwarded-For` hop (API Gateway sets it). Only ever hashed, never stored or logged.
pub fn client_ip(headers: &HeaderMap, extensions: &axum::http::Extensions) -> String {
    if let Some(ConnectInfo(addr)) = extensions.get::<ConnectInfo<SocketAddr>>() {
        return addr.ip().to_string();
    }
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|ip| ip.trim().to_string())
        .unwrap_or_default()
}

/// `GET /health`.
pub async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

/// Unknown routes: 404 in our error shape.
pub async fn not_found() -> HttpError {
    HttpError::not_found("no such route")
}

/// The longest request target (path and query) any route accepts: 8 KiB, what CDNs such as
/// CloudFront pass. Longer: 414 `uri_too_long`.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// The most header bytes (names and values together) any request may carry: 16 KiB.
/// More: 431 `headers_too_large`. (hyper refuses heads past ~400 KiB or 100 headers itself,
/// before any of our code runs, with a bare 431.)
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Requests past the URI or header bounds are refused before the handler runs.
async fn bounded_request(request: Request, next: axum::middleware::Next) -> Response {
    let target = request
        .uri()
        .path_and_query()
        .map_or(0, |pq| pq.as_str().len());
    if target > MAX_URI_BYTES {
        return HttpError::new(
            StatusCode::URI_TOO_LONG,
            ErrorCode::UriTooLong,
            format!("the request target is longer than {MAX_URI_BYTES} bytes"),
        )
        .into_response();
    }
    let header_bytes = request.headers().iter().fold(0usize, |sum, (name, value)| {
        sum.saturating_add(name.as_str().len())
            .saturating_add(value.len())
    });
    if header_bytes > MAX_HEADER_BYTES {
        return HttpError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorCode::HeadersTooLarge,
            format!("the request headers are larger than {MAX_HEADER_BYTES} bytes"),
        )
        .into_response();
    }
    json_errors(next.run(request).await).await
}

/// The error code a bare status answer gets.
fn code_for(status: StatusCode) -> ErrorCode {
    match status {
        StatusCode::BAD_REQUEST => ErrorCode::InvalidRequest,
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::URI_TOO_LONG => ErrorCode::UriTooLong,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ErrorCode::HeadersTooLarge,
        StatusCode::SERVICE_UNAVAILABLE => ErrorCode::Unavailable,
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
        s if s.is_server_error() => ErrorCode::Internal,
        _ => ErrorCode::Error,
    }
}

/// Every error answer is our JSON (or one of the dashboard's own HTML pages): an error response
/// that is neither (axum's 405 with an empty body, a plain-text extractor rejection such as a
/// body past its limit) is rewritten, keeping its status and headers (`Allow` on a 405).
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Plain-text rejections are short; their text says what was wrong.
    let text = axum::body::to_bytes(body, 1024)
        .await
        .ok()
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("request refused")
                .to_string()
        });
    parts.headers.remove(axum::http::header::CONTENT_TYPE);
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    let rewritten = HttpError::new(status, code_for(status), text).into_response();
    let (new_parts, new_body) = rewritten.into_parts();
    parts.headers.extend(new_parts.headers);
    Response::from_parts(parts, new_body)
}

/// The request's span: method and matched route only (`<unmatched>` when no route matched: a
/// raw path can carry an e-mail too), never the query string (it can carry e-mails in `utm_*`)
/// nor headers (keys, signatures), at any level.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("<unmatched>", |m| m.as_str());
    tracing::debug_span!("request", method = %request.method(), route = %route)
}

/// Layers every function's router gets: requests past the URI and header bounds are refused
/// (414, 431), every error answer is our JSON (405, 413, ...), a panic anywhere becomes a JSON
/// 500 instead of a dropped connection (there should be none: no `unwrap` on request data),
/// and requests are traced at debug level (method and route; never the query, never headers).
pub fn with_common_layers(router: axum::Router) -> axum::Router {
    router
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                HttpError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::Internal,
                    "unexpected error",
                )
                .with_cause("a request handler panicked")
                .into_response()
            },
        ))
        .layer(axum::middleware::from_fn(bounded_request))
        .layer(axum::middleware::from_fn(log_server_errors))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(request_span))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_code_answers_as_spelled() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ErrorCode::ALL {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::json!(code.as_str())
            );
            assert!(seen.insert(code.as_str()), "{code} twice");
        }
    }

    #[test]
    fn an_error_answer_names_its_code() {
        let body = ErrorBody {
            error: ErrorDetail {
                code: ErrorCode::PayoutNotPending,
                message: "this payout is already paid".into(),
            },
        };
        assert_eq!(
            serde_json::to_value(body).unwrap(),
            serde_json::json!({"error": {"code": "payout_not_pending", "message": "this payout is already paid"}})
        );
    }
}
