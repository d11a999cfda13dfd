//! Conversions with filters, the holds queue (each reason in plain words; approve or reject),
//! settlement runs with their lines, failed lines and downloads, and payouts marked paid or
//! failed.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde::Serialize;
use serde_json::json;

use linkledger_http::{ErrorCode, HttpError, Json, Query};

use super::forms::input;
use super::layout::{self, Notice};
use super::session::{see_other, Viewer};
use super::{ok, outcome, programs_of, query, PageError, PageResult};
use crate::conversions::ConversionQuery;
use crate::pages::PageParams;
use crate::settlements::PaypalQuery;
use crate::wire::conversions::{Conversion, HoldReason};
use crate::ApiState;

/// An enum as the API spells it (`too_fast_after_click`), with spaces.
pub(crate) fn word<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
        .unwrap_or_default()
}

/// Why a conversion is held, as a brand manager would say it.
fn reason(reason: &HoldReason) -> &'static str {
    match reason {
        HoldReason::SelfReferral => "The buyer's e-mail is the creator's own (self-referral).",
        HoldReason::ClickReused => "The click already brought the most orders one click may bring.",
        HoldReason::TooFastAfterClick => {
            "The order came seconds after the click, faster than a person shops."
        }
        HoldReason::FxRateMissing => {
            "The order is in a currency the program has no exchange rate for."
        }
        HoldReason::AmountOutOfRange => "An amount is beyond what linkledger books.",
    }
}

fn conversions_table(viewer: &Viewer, items: &[Conversion], decide: bool) -> Markup {
    let mut head = vec![
        "Order",
        "Kind",
        "Occurred",
        "Creator",
        "Net",
        "Commission",
        "Status",
    ];
    if decide {
        head.extend(["Why held", "Decision"]);
    }
    layout::table(
        "Conversions",
        &head,
        html! {
            @for c in items {
                tr {
                    td { (c.order_id) br; small { (c.id) } }
                    td { (word(&c.kind)) }
                    td { (layout::when(&c.occurred_at)) }
                    td { @match &c.creator_id { Some(id) => (id), None => "unattributed" } }
                    td { (layout::money(&c.net)) }
                    td { (layout::money(&c.commission)) }
                    td { (word(&c.status)) }
                    @if decide {
                        td { ul class="plain" { @for r in &c.hold_reasons { li { (reason(r)) } } } }
                        td class="actions" {
                            (layout::button_form(viewer, &format!("/dashboard/conversions/{}/approve", c.id), "Approve", &format!("Approve order {}", c.order_id)))
                            (layout::button_form(viewer, &format!("/dashboard/conversions/{}/reject", c.id), "Reject", &format!("Reject order {}", c.order_id)))
                        }
                    }
                }
            }
        },
    )
}

/// `GET /dashboard/conversions?program&status&creator&from&to`.
pub(crate) async fn conversions(
    State(state): State<Arc<ApiState>>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> PageResult {
    super::brand_only(&viewer)?;
    let q = query(raw);
    let programs = programs_of(&state, &viewer).await?;
    let program = q
        .get("program")
        .map(str::to_string)
        .or_else(|| programs.first().map(|p| p.0.clone()));
    let found = match &program {
        Some(program) => crate::conversions::list_conversions(
            State(state.clone()),
            viewer.caller.clone(),
            Query(ConversionQuery {
                program: Some(program.clone()),
                creator: q.get("creator").map(str::to_string),
                status: q.get("status").map(str::to_string),
                from: q.get("from").map(str::to_string),
                to: q.get("to").map(str::to_string),
                limit: Some(crate::pages::MAX_LIMIT),
                cursor: None,
            }),
        )
        .await
        .map(|page| page.0.items),
        None => Ok(Vec::new()),
    };
    let (items, notice) = match found {
        Ok(items) => (items, None),
        Err(err) if err.status.is_client_error() => (Vec::new(), Some(Notice::Error(err.message))),
        Err(err) => return Err(err.into()),
    };
    let options: Vec<(String, String)> = programs
        .iter()
        .map(|(id, name, _)| (id.clone(), name.clone()))
        .collect();
    let statuses: Vec<(String, String)> = ["", "approved", "held", "rejected", "unattributed"]
        .iter()
        .map(|s| {
            (
                s.to_string(),
                if s.is_empty() {
                    "any".to_string()
                } else {
                    s.to_string()
                },
            )
        })
        .collect();
    ok(layout::page(
        &viewer,
        "Conversions",
        "/dashboard/conversions",
        html! {
            (layout::notice(notice.as_ref()))
            form method="get" action="/dashboard/conversions" class="filters" {
                (layout::select("conv-program", "Program", "program", &options, program.as_deref()))
                (layout::select("conv-status", "Status", "status", &statuses, q.get("status")))
                (layout::field("conv-creator", "Creator id", "creator", "text", q.get("creator").unwrap_or(""), ""))
                (layout::field("conv-from", "From", "from", "date", q.get("from").unwrap_or(""), ""))
                (layout::field("conv-to", "To", "to", "date", q.get("to").unwrap_or(""), ""))
                p class="field" { button type="submit" { "Filter" } }
            }
            (conversions_table(&viewer, &items, false))
        },
    ))
}

async fn holds_markup(
    state: &Arc<ApiState>,
    viewer: &Viewer,
    notice: Option<Notice>,
) -> Result<Markup, PageError> {
    super::brand_only(viewer)?;
    let programs = programs_of(state, viewer).await?;
    let mut held = Vec::new();
    for (program, ..) in &programs {
        let page = crate::conversions::list_conversions(
            State(state.clone()),
            viewer.caller.clone(),
            Query(ConversionQuery {
                program: Some(program.clone()),
                status: Some("held".into()),
                limit: Some(crate::pages::MAX_LIMIT),
                ..ConversionQuery::default()
            }),
        )
        .await?
        .0;
        held.extend(page.items);
    }
    Ok(layout::page(
        viewer,
        "Holds",
        "/dashboard/holds",
        html! {
            (layout::notice(notice.as_ref()))
            @if held.is_empty() {
                p { "Nothing is held. Conversions that look wrong wait here for a decision before they earn." }
            } @else {
                p { "These conversions earn nothing until approved. Rejecting one books nothing." }
                (conversions_table(viewer, &held, true))
            }
        },
    ))
}

/// `GET /dashboard/holds`.
pub(crate) async fn holds(State(state): State<Arc<ApiState>>, viewer: Viewer) -> PageResult {
    ok(holds_markup(&state, &viewer, None).await?)
}

/// `POST /dashboard/conversions/{id}/approve|reject`.
pub(crate) async fn decide(
    State(state): State<Arc<ApiState>>,
    viewer: Viewer,
    Path((id, decision)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    viewer.form(&headers, &body)?;
    let path = linkledger_http::Path(id);
    let decided = match decision.as_str() {
        "approve" => {
            crate::conversions::approve_conversion(
                State(state.clone()),
                viewer.caller.clone(),
                path,
            )
            .await
        }
        "reject" => {
            crate::conversions::reject_conversion(State(state.clone()), viewer.caller.clone(), path)
                .await
        }
        _ => Err(HttpError::not_found("approve or reject")),
    };
    let (notice, status) = outcome(decided, |Json(c)| {
        format!("Order {} {}.", c.order_id, word(&c.status))
    })?;
    let markup = holds_markup(&state, &viewer, Some(notice)).await?;
    Ok(layout::html(status, markup))
}

async fn settlements_markup(
    state: &Arc<ApiState>,
    viewer: &Viewer,
    notice: Option<Notice>,
) -> Result<Markup, PageError> {
    super::brand_only(viewer)?;
    let runs = crate::settlements::list_settlements(
        State(state.clone()),
        viewer.caller.clone(),
        Query(PageParams {
            limit: Some(60),
            cursor: None,
        }),
    )
    .await?
    .0;
    // The latest date that can be settled: yesterday (UTC), as the nightly run does.
    let now = state.store.now().to_offset(time::UtcOffset::UTC).date();
    let yesterday = now.previous_day().unwrap_or(now).to_string();
    let may_run = viewer
        .caller
        .require(&[
            linkledger_core::api_key::Role::Admin,
            linkledger_core::api_key::Role::Finance,
        ])
        .is_ok();
    Ok(layout::page(
        viewer,
        "Settlements",
        "/dashboard/settlements",
        html! {
            (layout::notice(notice.as_ref()))
            @if may_run {
                form method="post" action="/dashboard/settlements" class="card filters" {
                    h2 { "Run settlement" }
                    (layout::csrf(viewer))
                    (layout::field("settle-date", "Settle through", "date", "date", &yesterday, "required"))
                    p class="hint" { "Pays every balance payable by the end of that day (UTC). Running a date again pays nothing twice." }
                    p class="field" { button type="submit" { "Run settlement" } }
                }
            }
            (layout::table("Settlement runs", &["Date", "Status", "Lines", "Failed lines", "Totals"], html! {
                @for run in &runs.items {
                    tr {
                        td { a href={ "/dashboard/settlements/" (run.date) } { (run.date) } }
                        td { (word(&run.status)) }
                        td { (run.lines) }
                        td { (run.failed_lines) }
                        td { @for t in &run.totals {
                        (layout::money(&t.paid)) " paid in " (t.payouts) " payouts; "
                        (layout::money(&t.carried)) " carried, " (layout::money(&t.owed)) " owed. "
                    } }
                    }
                }
            }))
        },
    ))
}

/// `GET /dashboard/settlements`.
pub(crate) async fn settlements(State(state): State<Arc<ApiState>>, viewer: Viewer) -> PageResult {
    ok(settlements_markup(&state, &viewer, None).await?)
}

/// `POST /dashboard/settlements`: runs (or, on Lambda, plans) the date, then shows its run.
pub(crate) async fn run_settlement(
    State(state): State<Arc<ApiState>>,
    viewer: Viewer,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let form = viewer.form(&headers, &body)?;
    let ran = async {
        let input = input(json!({"date": form.string("date")}))?;
        crate::settlements::run_settlement(State(state.clone()), viewer.caller.clone(), Json(input))
            .await
    }
    .await;
    match ran {
        Ok(Json(run)) => Ok(see_other(&format!("/dashboard/settlements/{}", run.date))),
        Err(err) => {
            let markup =
                settlements_markup(&state, &viewer, Some(Notice::Error(err.message.clone())))
                    .await?;
            Ok(layout::html(
                err.status.max(StatusCode::BAD_REQUEST),
                markup,
            ))
        }
    }
}

async fn settlement_markup(
    state: &Arc<ApiState>,
    viewer: &Viewer,
    date: &str,
    notice: Option<Notice>,
) -> Result<Markup, PageError> {
    super::brand_only(viewer)?;
    let report = crate::settlements::get_settlement(
        State(state.clone()),
        viewer.caller.clone(),
        linkledger_http::Path(date.to_string()),
    )
    .await?
    .0;
    let may_mark = viewer
        .caller
        .require(&[
            linkledger_core::api_key::Role::Admin,
            linkledger_core::api_key::Role::Finance,
        ])
        .is_ok();
    let failed: Vec<_> = report
        .lines
        .iter()
        .filter(|l| l.failure.is_some())
        .collect();
    let title = format!("Settlement of {}", report.run.date);
    Ok(layout::page(
        viewer,
        &title,
        "/dashboard/settlements",
        html! {
            (layout::notice(notice.as_ref()))
            p { "Status: " (word(&report.run.status)) ". Cutoff " (layout::when(&report.run.cutoff)) ". "
                (report.run.lines) " lines, " (report.run.failed_lines) " failed." }
            p class="downloads" {
                a href={ "/dashboard/settlements/" (report.run.date) "/report.csv" } download { "Download CSV" } " · "
                a href={ "/dashboard/settlements/" (report.run.date) "/paypal.csv" } download { "Download PayPal CSV" }
            }
            (layout::table("Settlement lines", &["Creator", "Status", "Amount", "Carried", "Owed", "Payout", "Mark"], html! {
                @for line in &report.lines {
                    tr {
                        td { (line.creator_id) br; small { (line.payout_email) } }
                        td { (word(&line.status)) }
                        td { (layout::money(&line.amount)) }
                        td { (layout::money(&line.carried)) }
                        td { (layout::money(&line.owed)) }
                        td { @if let Some(p) = &line.payout_id { (layout::code(p)) } }
                        td class="actions" {
                            @if let (Some(payout), true) = (&line.payout_id, may_mark) {
                                form method="post" action={ "/dashboard/payouts/" (payout) "/paid?date=" (report.run.date) } class="inline" {
                                    (layout::csrf(viewer))
                                    label for={ "ref-" (payout) } class="sr" { "Payment reference for " (line.creator_id) }
                                    input id={ "ref-" (payout) } name="external_ref" type="text" placeholder="payment reference" required;
                                    button type="submit" aria-label={ "Mark paid: payout to " (line.creator_id) } { "Mark paid" }
                                }
                                form method="post" action={ "/dashboard/payouts/" (payout) "/failed?date=" (report.run.date) } class="inline" {
                                    (layout::csrf(viewer))
                                    label for={ "why-" (payout) } class="sr" { "Why the payout to " (line.creator_id) " failed" }
                                    input id={ "why-" (payout) } name="reason" type="text" placeholder="reason" required;
                                    button type="submit" aria-label={ "Mark failed: payout to " (line.creator_id) } { "Mark failed" }
                                }
                            }
                        }
                    }
                }
            }))
            @if !failed.is_empty() {
                section aria-labelledby="failed-lines" {
                    h2 id="failed-lines" { "Failed lines" }
                    p { "Nothing was paid on these; rerunning the date retries them." }
                    ul { @for line in &failed { li { (line.creator_id) ": " (line.failure.clone().unwrap_or_default()) } } }
                }
            }
        },
    ))
}

/// `GET /dashboard/settlements/{date}`.
pub(crate) async fn settlement(
    State(state): State<Arc<ApiState>>,
    viewer: Viewer,
    Path(date): Path<String>,
) -> PageResult {
    ok(settlement_markup(&state, &viewer, &date, None).await?)
}

/// `GET /dashboard/settlements/{date}/report.csv`: the API's report download.
pub(crate) async fn report_csv(
    State(state): State<Arc<ApiState>>,
    viewer: Viewer,
    Path(date): Path<String>,
) -> Result<Response, PageError> {
    Ok(
        crate::settlements::report_csv(State(state), viewer.caller, linkledger_http::Path(date))
            .await?,
    )
}

/// `GET /dashboard/settlements/{date}/paypal.csv`: the API's PayPal payouts file.
pub(crate) async fn paypal_csv(
    State(state): State<Arc<ApiState>>,
    viewer: Viewer,
    Path(date): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let q = query(raw);
    Ok(crate::settlements::paypal_csv(
        State(state),
        viewer.caller,
        linkledger_http::Path(date),
        Query(PaypalQuery {
            currency: q.get("currency").map(str::to_string),
        }),
    )
    .await?)
}

/// `POST /dashboard/payouts/{id}/paid|failed?date=`: then back to the run.
pub(crate) async fn mark_payout(
    State(state): State<Arc<ApiState>>,
    viewer: Viewer,
    Path((id, marking)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let form = viewer.form(&headers, &body)?;
    let date = query(raw).get("date").unwrap_or("").to_string();
    let path = linkledger_http::Path(id);
    let marked = async {
        match marking.as_str() {
            "paid" => {
                let paid_on = state.store.now().date().to_string();
                let input = input(
                    json!({"external_ref": form.string("external_ref"), "paid_on": paid_on}),
                )?;
                crate::settlements::mark_paid(
                    State(state.clone()),
                    viewer.caller.clone(),
                    path,
                    Json(input),
                )
                .await
            }
            "failed" => {
                let input = input(json!({"reason": form.string("reason")}))?;
                crate::settlements::mark_failed(
                    State(state.clone()),
                    viewer.caller.clone(),
                    path,
                    Json(input),
                )
                .await
            }
            _ => Err(HttpError::bad_request(
                ErrorCode::InvalidPath,
                "paid or failed",
            )),
        }
    }
    .await;
    let (notice, status) = outcome(marked, |Json(p)| {
        format!("Payout {} is {}.", p.id, word(&p.status))
    })?;
    let markup = settlement_markup(&state, &viewer, &date, Some(notice)).await?;
    Ok(layout::html(status, markup))
}
