//! The brand dashboard and the creator portal at `/dashboard`: server-rendered HTML (maud
//! templates, compiled into the binary, with one small vendored script for live refresh and
//! copy buttons), signed in with an API key into a session (`session.rs`).
//!
//! Every page answers from the API's own handlers (`crate::programs`, `crate::stats`, ...),
//! called as functions with the session's [`Caller`](crate::Caller): what a key may see and do
//! is decided in one place for the API and the pages alike, so a creator's portal shows nothing
//! the creator's key could not read from `/api`. Forms become the API's JSON inputs
//! (`forms.rs`), checked by the same wire types.

mod chart;
mod deliveries;
mod finance;
mod forms;
mod layout;
mod manage;
mod overview;
mod portal;
mod qr;
mod session;
mod setup;

use std::sync::Arc;

use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use linkledger_http::HttpError;

use crate::pages::PageParams;
use crate::wire::programs::ProgramView;
use crate::ApiState;
use forms::Form;
use session::Viewer;

/// A page's failure: the API's error, shown as a page (a 5xx keeps its cause for the log).
pub(crate) struct PageError(HttpError);

impl From<HttpError> for PageError {
    fn from(err: HttpError) -> Self {
        Self(err)
    }
}

impl From<linkledger_store::ports::StoreError> for PageError {
    fn from(err: linkledger_store::ports::StoreError) -> Self {
        Self(err.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status;
        let message = if status.is_server_error() {
            "Something failed on our side. Try again shortly.".to_string()
        } else {
            self.0.message.clone()
        };
        let mut api = self.0.into_response();
        let mut page = layout::error_page(status, &message);
        *page.extensions_mut() = std::mem::take(api.extensions_mut());
        page
    }
}

pub(crate) type PageResult = Result<Response, PageError>;

/// A form post's outcome as its page shows it: the notice, and the status to answer with (200;
/// the refusal's own, at least 400). A server error is the error page (its cause logged).
pub(crate) fn outcome<T>(
    result: Result<T, HttpError>,
    done: impl FnOnce(&T) -> String,
) -> Result<(layout::Notice, StatusCode), PageError> {
    match result {
        Ok(value) => Ok((layout::Notice::Done(done(&value)), StatusCode::OK)),
        Err(err) if err.status.is_server_error() => Err(err.into()),
        Err(err) => Ok((
            layout::Notice::Error(err.message),
            err.status.max(StatusCode::BAD_REQUEST),
        )),
    }
}

/// A signed-in page, answered 200.
pub(crate) fn ok(markup: maud::Markup) -> PageResult {
    Ok(layout::html(StatusCode::OK, markup))
}

/// Brand pages (programs, creators, conversions, holds, settlements, connections, audit, keys)
/// are not a creator's: 404, as for a record a key may not see.
pub(crate) fn brand_only(viewer: &Viewer) -> Result<(), PageError> {
    if viewer.caller.reads_all() {
        Ok(())
    } else {
        Err(HttpError::not_found("this page is the brand's; your portal is at /dashboard").into())
    }
}

/// The programs this viewer may see, as `(id, name, currency)`: every program for a brand key
/// (the first 200), the enrolled ones for a creator key.
pub(crate) async fn programs_of(
    state: &Arc<ApiState>,
    viewer: &Viewer,
) -> Result<Vec<(String, String, String)>, PageError> {
    let page = crate::programs::list_programs(
        axum::extract::State(state.clone()),
        viewer.caller.clone(),
        linkledger_http::Query(PageParams {
            limit: Some(crate::pages::MAX_LIMIT),
            cursor: None,
        }),
    )
    .await?
    .0;
    Ok(page
        .items
        .into_iter()
        .map(|view| match view {
            ProgramView::Program(p) => (p.id.to_string(), p.name, p.currency.to_string()),
            ProgramView::Creator(p) => (p.id.to_string(), p.name, p.currency.to_string()),
        })
        .collect())
}

/// The query string of a page as fields.
pub(crate) fn query(raw: Option<String>) -> Form {
    Form::parse(raw.unwrap_or_default().as_bytes())
}

const APP_CSS: &str = include_str!("../../assets/app.css");
const APP_JS: &str = include_str!("../../assets/app.js");

fn asset(kind: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

async fn not_found() -> Response {
    layout::error_page(StatusCode::NOT_FOUND, "There is no such page.")
}

/// Every `/dashboard` route.
pub(crate) fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/dashboard", get(overview::show))
        .route("/dashboard/", get(overview::show))
        .route("/dashboard/live", get(overview::live))
        .route("/dashboard/stats.csv", get(overview::stats_csv))
        .route(
            "/dashboard/sign-in",
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/dashboard/sign-out", post(session::sign_out))
        .route(
            "/dashboard/assets/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
        .route(
            "/dashboard/assets/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/dashboard/programs",
            get(manage::programs).post(manage::create_program),
        )
        .route(
            "/dashboard/programs/{id}",
            get(manage::program).post(manage::update_program),
        )
        .route("/dashboard/programs/{id}/codes", post(manage::create_code))
        .route(
            "/dashboard/programs/{id}/codes/{code}/disable",
            post(manage::disable_code),
        )
        .route(
            "/dashboard/creators",
            get(manage::creators).post(manage::create_creator),
        )
        .route("/dashboard/creators/{id}", get(manage::creator))
        .route("/dashboard/creators/{id}/enrol", post(manage::enrol))
        .route(
            "/dashboard/creators/{id}/keys",
            post(manage::issue_creator_key),
        )
        .route(
            "/dashboard/links",
            get(manage::links).post(manage::create_link),
        )
        .route(
            "/dashboard/links/{code}/disable",
            post(manage::disable_link),
        )
        .route("/dashboard/links/{code}/qr.svg", get(portal::qr_svg))
        .route("/dashboard/conversions", get(finance::conversions))
        .route("/dashboard/holds", get(finance::holds))
        .route(
            "/dashboard/conversions/{id}/{decision}",
            post(finance::decide),
        )
        .route(
            "/dashboard/settlements",
            get(finance::settlements).post(finance::run_settlement),
        )
        .route("/dashboard/settlements/{date}", get(finance::settlement))
        .route(
            "/dashboard/settlements/{date}/report.csv",
            get(finance::report_csv),
        )
        .route(
            "/dashboard/settlements/{date}/paypal.csv",
            get(finance::paypal_csv),
        )
        .route(
            "/dashboard/payouts/{id}/{outcome}",
            post(finance::mark_payout),
        )
        .route("/dashboard/connections", get(setup::connections))
        .route(
            "/dashboard/connections/{program}/{platform}",
            post(setup::set_secret),
        )
        .route("/dashboard/audit", get(setup::audit))
        .route("/dashboard/keys", get(setup::keys).post(setup::issue_key))
        .route("/dashboard/keys/{id}/{action}", post(setup::key_action))
        .route("/dashboard/earnings", get(portal::earnings))
        .route("/dashboard/payouts", get(portal::payouts))
        .route("/dashboard/{*rest}", get(not_found).post(not_found))
}
