//! Flow 2, ingest: `POST /webhooks/{shopify,stripe,woocommerce}/{program}` and
//! `POST /postback/{program}`.
//!
//! Each request is checked in this order: the program exists (404), it has a secret for the
//! platform (401), the platform's signature over the raw body holds (401, Stripe and postback
//! also within 300 s of now; the window is compared without overflow), the body is strict JSON
//! (no duplicate keys) and every field we need is there, well-typed and inside the domain's
//! limits (400 `malformed_body` naming the field, never echoing its value). Then each fact is
//! normalized into a [`ConversionEvent`], checked once more with the worker's own
//! `check_bounds`, and sent to the conversions queue; only once the queue holds it do we answer
//! 200. Topics we do not book get 200 `{"ignored": "<topic>"}` so the platform stops retrying.

// No arithmetic on a delivery's path can panic or wrap (amounts, quantities, paths' indices).
#![cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]

mod deliveries;
mod fields;
mod json;
mod postback;
mod shopify;
mod stripe;
mod terms;
mod woocommerce;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::OpenApi;

use linkledger_core::conversion::{self, ConversionEvent, Fact};
use linkledger_core::ids::ProgramId;
use linkledger_core::limits::{self, LimitError};
use linkledger_core::signature::SignatureError;
use linkledger_http::{ErrorCode, HttpError, Path};
use linkledger_store::ports::Queue;
use linkledger_store::Store;

pub use fields::BadField;
pub use json::Strict;
pub use postback::{Postback, SIGNATURE as POSTBACK_SIGNATURE};
pub use shopify::Shopify;
pub use stripe::Stripe;
pub use woocommerce::Woocommerce;

/// Largest body accepted (Shopify orders with many lines run to a few hundred KiB).
pub const MAX_BODY_BYTES: usize = 1 << 20;

pub struct WebhookState {
    pub store: Store,
    pub conversions: Arc<dyn Queue>,
    /// Each program's click parameter and signing secrets, kept for a second (`terms.rs`).
    terms: terms::TermsCache,
    /// When each (program, platform, result) was last written to the delivery log.
    deliveries: deliveries::Throttle,
}

impl WebhookState {
    pub fn new(store: Store, conversions: Arc<dyn Queue>) -> Self {
        Self {
            store,
            conversions,
            terms: terms::TermsCache::default(),
            deliveries: deliveries::Throttle::default(),
        }
    }
}

/// What a payload turned into.
pub enum Normalized {
    /// Facts to book, each with its delivery key.
    Facts(Vec<(String, Fact)>),
    /// A topic or state we do not book.
    Ignored(String),
}

/// One platform's room: how it signs a delivery and what its payloads mean. Each platform file
/// implements it once; the route, the checks' order and the answers are the same for all
/// ([`ingest`]).
pub trait Platform: Sync {
    /// The platform the events it yields carry (and whose secret signs them).
    fn kind(&self) -> conversion::Platform;

    /// A delivery answered `{"pong": true}` before any secret is read (WooCommerce's unsigned
    /// creation ping); none by default.
    fn is_ping(&self, _headers: &HeaderMap, _body: &[u8]) -> bool {
        false
    }

    /// Checks the delivery's signature over the raw body with the program's secret for this
    /// platform; `now` bounds a signed timestamp.
    fn verify(
        &self,
        secret: &[u8],
        headers: &HeaderMap,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<(), SignatureError>;

    /// Turns a strict body into the facts to book (or the topic we ignore), applying every input
    /// limit on the way, reading only the fields it needs. It never panics, whatever the bytes.
    fn normalize(
        &self,
        headers: &HeaderMap,
        body: Strict<'_>,
        click_param: &str,
        now: OffsetDateTime,
    ) -> Result<Normalized, BadField>;
}

/// The room of each platform.
pub fn platform(kind: conversion::Platform) -> &'static dyn Platform {
    match kind {
        conversion::Platform::Shopify => &Shopify,
        conversion::Platform::Stripe => &Stripe,
        conversion::Platform::Woocommerce => &Woocommerce,
        conversion::Platform::Postback => &Postback,
    }
}

/// A required platform header (a topic, a delivery id): an id by [`limits::check_id`].
pub(crate) fn header(headers: &HeaderMap, name: &str) -> Result<String, BadField> {
    let path = || format!("header {name}");
    let value = headers
        .get(name)
        .ok_or_else(|| BadField::new(&path(), "is required"))?;
    let text = value
        .to_str()
        .map_err(|_| BadField::new(&path(), LimitError::Charset.to_string()))?;
    limits::check_id(text)
        .map(str::to_string)
        .map_err(|e| BadField::new(&path(), e.to_string()))
}

/// A signature header's text (absent, or not visible ASCII: none).
pub(crate) fn signature_header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Turns a verified body into the facts to book (or the topic we ignore), applying every input
/// limit on the way: the body must be strict JSON ([`Strict::check`], before anything else),
/// then the platform reads its headers and fields. The handlers, the property tests and the
/// fuzz targets call it. `click_param` is the program's click parameter; `now` bounds the
/// timestamps. It never panics, whatever the bytes.
pub fn normalize(
    kind: conversion::Platform,
    headers: &HeaderMap,
    body: &[u8],
    click_param: &str,
    now: OffsetDateTime,
) -> Result<Normalized, BadField> {
    platform(kind).normalize(headers, Strict::check(body)?, click_param, now)
}

/// The raw body (the signatures are over its bytes), at most [`MAX_BODY_BYTES`]. Reading it fails
/// in our error shape: 413 `payload_too_large` past the limit, 400 `invalid_request` when the
/// stream breaks off (axum's own rejections are plain text).
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = HttpError;

    async fn from_request(request: Request, state: &S) -> Result<Self, HttpError> {
        Bytes::from_request(request, state)
            .await
            .map(RawBody)
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    HttpError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        ErrorCode::PayloadTooLarge,
                        format!("the body is larger than {MAX_BODY_BYTES} bytes"),
                    )
                } else {
                    HttpError::bad_request(
                        ErrorCode::InvalidRequest,
                        "the request body could not be read",
                    )
                }
            })
    }
}

fn malformed(field: BadField) -> HttpError {
    HttpError::bad_request(ErrorCode::MalformedBody, field.to_string())
}

fn signature_error(err: SignatureError) -> HttpError {
    let code = match err {
        SignatureError::Stale { .. } => ErrorCode::StaleSignature,
        SignatureError::Missing => ErrorCode::MissingSignature,
        SignatureError::Malformed | SignatureError::Mismatch => ErrorCode::BadSignature,
    };
    HttpError::new(StatusCode::UNAUTHORIZED, code, err.to_string())
}

/// The 200 answers of the ingest routes.
#[derive(Serialize)]
#[serde(untagged)]
enum Accepted {
    /// Every fact is on the queue: their delivery ids.
    Queued { queued: Vec<String> },
    /// A topic or state we do not book, acknowledged so the platform stops retrying.
    Ignored { ignored: String },
    /// WooCommerce's creation ping.
    Pong { pong: bool },
}

impl IntoResponse for Accepted {
    fn into_response(self) -> Response {
        (StatusCode::OK, Json(self)).into_response()
    }
}

async fn ingest(
    state: &WebhookState,
    platform: &dyn Platform,
    program: &str,
    headers: &HeaderMap,
    body: &[u8],
    seen: &mut deliveries::Seen,
) -> Result<Accepted, HttpError> {
    let kind = platform.kind();
    let unknown = || HttpError::not_found("no such program");
    let program_id = ProgramId::parse(program).map_err(|_| unknown())?;
    let terms = state
        .terms
        .get(&state.store, &program_id, kind)
        .await?
        .ok_or_else(unknown)?;
    seen.program = Some(terms.program.clone());
    if platform.is_ping(headers, body) {
        return Ok(Accepted::Pong { pong: true });
    }
    let not_configured = || {
        HttpError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::WebhookNotConfigured,
            format!("no {} secret is set for this program", kind.as_str()),
        )
    };
    let secret = terms.secret.clone().ok_or_else(not_configured)?;
    let now = state.store.now();
    if let Err(err) = platform.verify(&secret, headers, body, now) {
        // A kept secret may just have been rotated: check once against the stored one.
        let stored = state
            .terms
            .read(&state.store, &program_id, kind)
            .await?
            .and_then(|t| t.secret)
            .ok_or_else(not_configured)?;
        if stored == secret {
            return Err(signature_error(err));
        }
        platform
            .verify(&stored, headers, body, now)
            .map_err(signature_error)?;
    }
    seen.verified = true;
    let strict = Strict::check(body).map_err(malformed)?;
    let facts = match platform
        .normalize(headers, strict, &terms.click_param, now)
        .map_err(malformed)?
    {
        Normalized::Ignored(topic) => {
            tracing::info!(platform = kind.as_str(), %topic, "webhook ignored");
            return Ok(Accepted::Ignored { ignored: topic });
        }
        Normalized::Facts(facts) => facts,
    };
    // The delivery's span (opened by the route) names what it carries: the first fact's
    // delivery key and order (a delivery with several facts is about one order).
    if let Some((delivery_id, fact)) = facts.first() {
        let span = tracing::Span::current();
        span.record("delivery", delivery_id.as_str());
        span.record("order", fact.order_ref());
        span.record("facts", facts.len());
    }
    // Every normalizer applies the limits field by field; the worker's own check runs here too,
    // on every event before any is sent, so nothing answered 200 can be parked as poison later.
    let mut messages = Vec::with_capacity(facts.len());
    for (delivery_id, fact) in facts {
        let event = ConversionEvent {
            program_id: terms.program.clone(),
            platform: kind,
            delivery_id,
            received_at: now,
            fact,
        };
        event
            .check_bounds(now)
            .map_err(|reason| HttpError::bad_request(ErrorCode::MalformedBody, reason))?;
        let message = serde_json::to_string(&event)
            .map_err(|e| HttpError::bad_request(ErrorCode::MalformedBody, e.to_string()))?;
        messages.push((event.delivery_id, message));
    }
    let mut queued = Vec::with_capacity(messages.len());
    for (delivery_id, message) in messages {
        // Only a message the queue holds may be answered 2xx; otherwise the platform retries.
        // The 503 is logged once, with this cause, by the common layers (the route names the
        // platform).
        state
            .conversions
            .send(&message)
            .await
            .map_err(|err| HttpError::unavailable().with_cause(err))?;
        queued.push(delivery_id);
    }
    tracing::info!(platform = kind.as_str(), program = %terms.program, queued = queued.len(), "webhook accepted");
    Ok(Accepted::Queued { queued })
}

/// The span of one delivery: its platform and program, then (once normalized) the delivery
/// key, the order and how many facts it carried. Every log line of the delivery carries them,
/// including the 5xx line of the common layers.
fn delivery_span(kind: conversion::Platform, program: &str) -> tracing::Span {
    // The path's program is echoed only once it has the shape of an id (it is the caller's text).
    let program = ProgramId::parse(program).map_or("<invalid>", |_| program);
    tracing::info_span!(
        "webhook_delivery",
        platform = kind.as_str(),
        program,
        delivery = tracing::field::Empty,
        order = tracing::field::Empty,
        facts = tracing::field::Empty,
    )
}

macro_rules! platform_route {
    ($name:ident, $platform:expr, $path:literal, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "webhooks", params(("program" = String, Path)),
            request_body(content = String, description = "The platform's payload, as it sends it"),
            responses(
                (status = 200, description = "`{\"queued\": [delivery ids]}`, or `{\"ignored\": topic}`"),
                (status = 400, body = linkledger_http::ErrorBody, description = "malformed body (the message names the field)"),
                (status = 401, body = linkledger_http::ErrorBody, description = "missing, bad or stale signature; no secret configured"),
                (status = 413, body = linkledger_http::ErrorBody, description = "the body is over 1 MiB (`payload_too_large`)"),
                (status = 404, body = linkledger_http::ErrorBody, description = "unknown program"),
                (status = 503, body = linkledger_http::ErrorBody, description = "the queue is unavailable: retry")))]
        pub async fn $name(
            State(state): State<Arc<WebhookState>>,
            Path(program): Path<String>,
            headers: HeaderMap,
            RawBody(body): RawBody,
        ) -> Result<Response, HttpError> {
            let kind = Platform::kind($platform);
            let span = delivery_span(kind, &program);
            let mut seen = deliveries::Seen::default();
            let answer = tracing::Instrument::instrument(
                ingest(&state, $platform, &program, &headers, &body, &mut seen),
                span.clone(),
            )
            .await;
            // Once the answer is decided: logged for a known program, never changing it.
            let record = deliveries::record(&state, kind, seen, &headers, &body, &answer);
            tracing::Instrument::instrument(record, span).await;
            answer.map(IntoResponse::into_response)
        }
    };
}

platform_route!(shopify_webhook, &Shopify, "/webhooks/shopify/{program}",
    "Shopify: `X-Shopify-Hmac-Sha256` (base64 HMAC-SHA256 of the body), `X-Shopify-Topic`, `X-Shopify-Webhook-Id`.");
platform_route!(
    stripe_webhook,
    &Stripe,
    "/webhooks/stripe/{program}",
    "Stripe: `Stripe-Signature: t=…,v1=…` (hex HMAC-SHA256 of `t.body`, 300 s tolerance)."
);
platform_route!(woocommerce_webhook, &Woocommerce, "/webhooks/woocommerce/{program}",
    "WooCommerce: `X-WC-Webhook-Signature` (base64 HMAC-SHA256 of the body), `X-WC-Webhook-Topic`, `X-WC-Webhook-Delivery-ID`; the creation ping gets 200.");
platform_route!(
    postback,
    &Postback,
    "/postback/{program}",
    "Our server-to-server format (README), signed `Linkledger-Signature: t=…,v1=…` like Stripe."
);

/// The OpenAPI description of the ingest routes (merged into `/openapi.json` by the API).
#[derive(OpenApi)]
#[openapi(paths(shopify_webhook, stripe_webhook, woocommerce_webhook, postback))]
pub struct WebhooksDoc;

pub fn router(state: Arc<WebhookState>) -> Router {
    let router = Router::new()
        .route("/webhooks/shopify/{program}", post(shopify_webhook))
        .route("/webhooks/stripe/{program}", post(stripe_webhook))
        .route("/webhooks/woocommerce/{program}", post(woocommerce_webhook))
        .route("/postback/{program}", post(postback))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state);
    linkledger_http::with_common_layers(router)
}
