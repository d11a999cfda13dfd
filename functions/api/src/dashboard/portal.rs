//! The creator's own pages: earnings by day with pending, payable and paid balances (and the
//! date each pending amount becomes payable), payouts, and the QR code of a link.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;

use linkledger_core::ids::ProgramId;
use linkledger_core::money::{Currency, Money};
use linkledger_http::{HttpError, Query};

use super::finance::word;
use super::layout;
use super::session::Viewer;
use super::{ok, programs_of, qr, PageError, PageResult};
use crate::settlements::PayoutQuery;
use crate::stats::{report, StatsParams};
use crate::ApiState;

fn creator_only(viewer: &Viewer) -> Result<&linkledger_core::ids::CreatorId, PageError> {
    viewer
        .caller
        .own_creator()
        .ok_or_else(|| HttpError::not_found("this page is a creator's; brands see Creators").into())
}

/// `GET /dashboard/earnings`.
pub(crate) async fn earnings(State(state): State<Arc<ApiState>>, viewer: Viewer) -> PageResult {
    let creator = creator_only(&viewer)?.clone();
    let programs = programs_of(&state, &viewer).await?;
    let mut sections = Vec::new();
    for (id, name, currency) in &programs {
        let Ok(program) = ProgramId::parse(id) else {
            continue;
        };
        let Ok(currency) = Currency::parse(currency) else {
            continue;
        };
        let (split, schedule) = state.store.balance_schedule(&program, &creator).await?;
        let (days, _) = report(
            &state,
            &viewer.caller,
            &StatsParams {
                program: id.clone(),
                group_by: Some("day".into()),
                ..StatsParams::default()
            },
        )
        .await?;
        sections.push((id.clone(), name.clone(), currency, split, schedule, days));
    }
    let m = |minor: i64, currency: Currency| layout::money(&Money::from_minor(minor, currency));
    ok(layout::page(
        &viewer,
        "Earnings",
        "/dashboard/earnings",
        html! {
            @if sections.is_empty() { p { "You are not enrolled in any program yet." } }
            @for (id, name, currency, split, schedule, days) in &sections {
                section class="card" aria-labelledby={ "earn-" (id) } {
                    h2 id={ "earn-" (id) } { (name) }
                    dl class="figures" {
                        div { dt { "Pending" } dd data-figure="pending" { (m(split.pending, *currency)) } }
                        div { dt { "Payable" } dd data-figure="payable" { (m(split.payable, *currency)) } }
                        div { dt { "Paid" } dd data-figure="paid" { (m(split.paid, *currency)) } }
                    }
                    @if !schedule.is_empty() {
                        h3 { "When pending amounts become payable" }
                        (layout::table(&format!("Pending amounts of {name}"), &["Payable from", "Amount"], html! {
                            @for (date, amount) in schedule { tr { td { (date) } td { (m(*amount, *currency)) } } }
                        }))
                        p class="hint" { "An amount is paid by the nightly settlement of the day it becomes payable, once your payable balance reaches the program's minimum payout." }
                    }
                    h3 { "By day (last 30 days)" }
                    (layout::table(&format!("Earnings by day in {name}"), &["Day", "Clicks", "Sales", "Commission"], html! {
                        @for row in &days.rows {
                            tr {
                                td { (row.period.clone().unwrap_or_default()) }
                                td { (row.figures.clicks) } td { (row.figures.sales) }
                                td { (layout::money(&row.figures.commission)) }
                            }
                        }
                    }))
                }
            }
        },
    ))
}

/// `GET /dashboard/payouts`.
pub(crate) async fn payouts(State(state): State<Arc<ApiState>>, viewer: Viewer) -> PageResult {
    creator_only(&viewer)?;
    let page = crate::settlements::list_payouts(
        State(state.clone()),
        viewer.caller.clone(),
        Query(PayoutQuery {
            limit: Some(crate::pages::MAX_LIMIT),
            ..PayoutQuery::default()
        }),
    )
    .await?
    .0;
    ok(layout::page(
        &viewer,
        "Payouts",
        "/dashboard/payouts",
        html! {
            @if page.items.is_empty() {
                p { "No payouts yet. Payable balances are paid by the nightly settlement." }
            } @else {
                (layout::table("Payouts", &["Date", "Amount", "Status", "Reference", "Paid on"], html! {
                    @for p in &page.items {
                        tr {
                            td { (p.date) } td { (layout::money(&p.amount)) } td { (word(&p.status)) }
                            td { (p.external_ref.clone().unwrap_or_default()) }
                            td { (p.paid_on.clone().unwrap_or_default()) }
                        }
                    }
                }))
            }
        },
    ))
}

/// `GET /dashboard/links/{code}/qr.svg`: the short link's QR code, for whoever may see the link.
pub(crate) async fn qr_svg(
    State(state): State<Arc<ApiState>>,
    viewer: Viewer,
    Path(code): Path<String>,
) -> Result<Response, PageError> {
    let link = crate::links::get_link(
        State(state),
        viewer.caller.clone(),
        linkledger_http::Path(code),
    )
    .await?
    .0;
    let url = format!("{}/{}", viewer.origin, link.code);
    let Some(svg) = qr::svg_of(&url, &format!("QR code of {url}")) else {
        return Ok(layout::error_page(
            StatusCode::NOT_FOUND,
            "This link has no QR code.",
        ));
    };
    let mut response = svg.into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("image/svg+xml"));
    layout::secure_headers(response.headers_mut());
    Ok(response)
}
