//! Settlements and payouts: run a date, read its report (JSON, CSV, PayPal batch file), mark
//! payouts paid or failed.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use time::{Date, OffsetDateTime};
use utoipa::IntoParams;

use linkledger_core::api_key::Role;
use linkledger_core::audit::{Actor, AuditEntry};
use linkledger_core::ledger::LedgerEntry;
use linkledger_core::manage::payouts::{self, PayoutError};
use linkledger_core::money::Currency;
use linkledger_http::{ErrorCode, HttpError, Json, Path, Query};
use linkledger_store::ports::StoreError;
use linkledger_store::settlement::{
    plan, settle, LineStatus, Payout, SettleError, SettlementLine, SettlementRun, CHUNK_SIZE,
};

use crate::auth::Caller;
use crate::pages::{creator_scope, Page, PageParams};
use crate::wire;
use crate::wire::settlements::{FailedPayout, NewSettlement, PaidPayout, SettlementReport};
use crate::ApiState;

const FINANCE: &[Role] = &[Role::Admin, Role::Finance];

fn parse_date(text: &str) -> Result<Date, HttpError> {
    linkledger_core::parse_date(text).ok_or_else(|| {
        HttpError::bad_request(
            ErrorCode::InvalidDate,
            format!("{text:?} is not a date (YYYY-MM-DD)"),
        )
    })
}

#[utoipa::path(post, path = "/api/settlements", tag = "settlements", request_body = NewSettlement,
    security(("bearer" = [])),
    responses((status = 200, body = wire::settlements::SettlementRun, description = "the run: completed (locally), or `running` with its chunks enqueued (on AWS, the settlement function completes it). A creator whose line cannot be settled gets a `failed` line with its reason and the run completes for everyone else (`failed_lines`). Running a completed date again pays nothing twice: while it is the latest run it retries its failed lines (and failed click roll-ups) and answers the refreshed run"),
        (status = 400, body = linkledger_http::ErrorBody, description = "`invalid_date`: not a date, a day not over yet in UTC (today or later), or before 2000-01-01"), (status = 409, body = linkledger_http::ErrorBody, description = "a later date was already settled")))]
pub async fn run_settlement(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Json(input): Json<NewSettlement>,
) -> Result<Json<wire::settlements::SettlementRun>, HttpError> {
    caller.require(FINANCE)?;
    let date = parse_date(&input.date)?;
    // Today, a future date or one before 2000 is refused by the one rule every path shares
    // (`settlement::settleable_date`, applied when the run begins).
    let run = match state.settlement_queue() {
        Some(chunks) => plan(&state.store, date, CHUNK_SIZE, chunks, state.finance()).await,
        None => settle(&state.store, date, state.finance(), |_| {}).await,
    };
    match run {
        Ok(run) => Ok(Json((&run).into())),
        Err(e @ SettleError::LaterRunExists(_)) => Err(HttpError::new(
            StatusCode::CONFLICT,
            ErrorCode::LaterRunExists,
            e.to_string(),
        )),
        Err(e @ (SettleError::NotPast { .. } | SettleError::TooEarly(_))) => Err(
            HttpError::bad_request(ErrorCode::InvalidDate, e.to_string()),
        ),
        Err(SettleError::Store(e)) => Err(e.into()),
        // A creator's money or unreadable record fails that creator's line, never the run;
        // reaching here means the run itself could not go on: retryable.
        Err(e @ (SettleError::Money(_) | SettleError::Unreadable(_))) => {
            Err(HttpError::unavailable().with_cause(RunFailed { date, cause: e }))
        }
    }
}

/// A run that could not go on, as the 5xx log names it.
#[derive(Debug, thiserror::Error)]
#[error("settlement run of {date} failed")]
struct RunFailed {
    date: Date,
    #[source]
    cause: SettleError,
}

#[utoipa::path(get, path = "/api/settlements", tag = "settlements", params(PageParams), security(("bearer" = [])),
    responses((status = 200, body = Page<wire::settlements::SettlementRun>)))]
pub async fn list_settlements(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<wire::settlements::SettlementRun>>, HttpError> {
    caller.require(FINANCE)?;
    Ok(Json(
        state.store.runs(page.limit(), page.cursor).await?.into(),
    ))
}

/// A run and its lines, read for one date.
struct Report {
    run: SettlementRun,
    lines: Vec<SettlementLine>,
}

async fn report(state: &ApiState, caller: &Caller, date: &str) -> Result<Report, HttpError> {
    caller.require(FINANCE)?;
    let date = parse_date(date)?;
    let run = state
        .store
        .run(date)
        .await?
        .ok_or_else(|| HttpError::not_found("no settlement for this date"))?
        .record;
    let lines = state.store.settlement_lines(date).await?;
    Ok(Report { run, lines })
}

#[utoipa::path(get, path = "/api/settlements/{date}", tag = "settlements", security(("bearer" = [])),
    params(("date" = String, Path, description = "YYYY-MM-DD")),
    responses((status = 200, body = SettlementReport), (status = 404, body = linkledger_http::ErrorBody)))]
pub async fn get_settlement(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(date): Path<String>,
) -> Result<Json<SettlementReport>, HttpError> {
    let report = report(&state, &caller, &date).await?;
    Ok(Json(SettlementReport {
        run: (&report.run).into(),
        lines: report.lines.iter().map(Into::into).collect(),
    }))
}

/// One CSV field: quoted when it holds a comma, a quote or a line break (RFC 4180).
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// A CSV download (`text/csv`, saved as `filename`).
pub(crate) fn csv(rows: Vec<Vec<String>>, filename: &str) -> Response {
    let mut body = String::new();
    for row in rows {
        let fields: Vec<String> = row.iter().map(|f| csv_field(f)).collect();
        body.push_str(&fields.join(","));
        body.push_str("\r\n");
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response()
}

#[utoipa::path(get, path = "/api/settlements/{date}/report.csv", tag = "settlements", security(("bearer" = [])),
    params(("date" = String, Path, description = "YYYY-MM-DD")),
    responses((status = 200, content_type = "text/csv", description = "one row per creator and currency, with a header row"), (status = 404, body = linkledger_http::ErrorBody)))]
pub async fn report_csv(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(date): Path<String>,
) -> Result<Response, HttpError> {
    let report = report(&state, &caller, &date).await?;
    let mut rows = vec![[
        "date",
        "creator_id",
        "payout_email",
        "currency",
        "amount",
        "carried_balance",
        "owed",
        "balance",
        "entries_settled",
        "payout_id",
        "status",
        "failure",
    ]
    .map(String::from)
    .to_vec()];
    for l in &report.lines {
        rows.push(vec![
            l.date.to_string(),
            l.creator_id.to_string(),
            l.payout_email.clone(),
            l.currency.to_string(),
            l.amount.to_decimal_string(),
            l.carried.to_decimal_string(),
            l.owed.to_decimal_string(),
            l.balance.map(|b| b.to_decimal_string()).unwrap_or_default(),
            l.entries_settled.to_string(),
            l.payout_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            line_status(l.status).to_string(),
            l.failure.clone().unwrap_or_default(),
        ]);
    }
    Ok(csv(rows, &format!("settlement-{}.csv", report.run.date)))
}

fn line_status(status: LineStatus) -> &'static str {
    match status {
        LineStatus::Paid => "paid",
        LineStatus::Carried => "carried",
        LineStatus::Failed => "failed",
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PaypalQuery {
    /// PayPal wants one currency per file; required when the run paid in several.
    pub currency: Option<String>,
}

/// PayPal Payouts' batch upload file (<https://developer.paypal.com/docs/payouts/integrate/ui-integration/>):
/// no header; recipient e-mail, amount in major units with the currency's decimals, currency,
/// a unique item id (the payout id, ≤ 30 characters), a note, the wallet `PAYPAL`.
#[utoipa::path(get, path = "/api/settlements/{date}/paypal.csv", tag = "settlements", security(("bearer" = [])),
    params(("date" = String, Path, description = "YYYY-MM-DD"), PaypalQuery),
    responses((status = 200, content_type = "text/csv", description = "PayPal Payouts batch file"), (status = 400, body = linkledger_http::ErrorBody), (status = 404, body = linkledger_http::ErrorBody)))]
pub async fn paypal_csv(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(date): Path<String>,
    Query(query): Query<PaypalQuery>,
) -> Result<Response, HttpError> {
    let report = report(&state, &caller, &date).await?;
    let paid: Vec<&SettlementLine> = report
        .lines
        .iter()
        .filter(|l| l.payout_id.is_some())
        .collect();
    let currencies: std::collections::BTreeSet<Currency> =
        paid.iter().map(|l| l.currency).collect();
    let currency = match &query.currency {
        Some(code) => Currency::parse(&code.to_ascii_uppercase())
            .map_err(|e| HttpError::bad_request(ErrorCode::InvalidQuery, e.to_string()))?,
        None if currencies.len() <= 1 => match currencies.iter().next() {
            Some(c) => *c,
            None => return Ok(csv(Vec::new(), &format!("paypal-{}.csv", report.run.date))),
        },
        None => {
            return Err(HttpError::bad_request(
                ErrorCode::CurrencyRequired,
                format!(
                    "this run paid in {} currencies: ask for one file each with ?currency=",
                    currencies.len()
                ),
            ))
        }
    };
    let rows = paid
        .iter()
        .filter(|l| l.currency == currency)
        .map(|l| {
            vec![
                l.payout_email.clone(),
                l.amount.to_decimal_string(),
                l.currency.to_string(),
                l.payout_id
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                format!("Commission settled {}", l.date),
                "PAYPAL".to_string(),
            ]
        })
        .collect();
    Ok(csv(
        rows,
        &format!("paypal-{}-{currency}.csv", report.run.date),
    ))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PayoutQuery {
    pub creator: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/payouts", tag = "settlements", params(PayoutQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<wire::settlements::Payout>), (status = 400, body = linkledger_http::ErrorBody)))]
pub async fn list_payouts(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Query(query): Query<PayoutQuery>,
) -> Result<Json<Page<wire::settlements::Payout>>, HttpError> {
    let Some(creator) = creator_scope(&caller, query.creator.as_deref())? else {
        return Ok(Json(Page::empty()));
    };
    let creator = creator.ok_or_else(|| {
        HttpError::bad_request(
            ErrorCode::FilterRequired,
            "ask per creator (`creator=`); a run's payouts are in its report",
        )
    })?;
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor,
    };
    Ok(Json(
        state
            .store
            .payouts_of_creator(&creator, page.limit(), page.cursor)
            .await?
            .into(),
    ))
}

/// Reads the payout, lets `decide` change it (with the ledger entry to append, if any), writes.
async fn change_payout(
    state: &ApiState,
    caller: &Caller,
    id: &str,
    decide: impl FnOnce(
        &Payout,
        OffsetDateTime,
        &Actor,
    ) -> Result<(Payout, Option<LedgerEntry>, AuditEntry), PayoutError>,
) -> Result<Json<wire::settlements::Payout>, HttpError> {
    caller.require(FINANCE)?;
    let found = state
        .store
        .payout(id)
        .await?
        .ok_or_else(|| HttpError::not_found("no such payout"))?;
    let (payout, entry, audit) =
        decide(&found.record, state.store.now(), &caller.actor()).map_err(payout_refused)?;
    match state
        .store
        .update_payout(&payout, found.version, entry.as_ref(), &audit)
        .await
    {
        Ok(()) => Ok(Json((&payout).into())),
        Err(StoreError::ConditionFailed { .. }) => Err(HttpError::conflict(
            "the payout changed meanwhile; read it again",
        )),
        Err(other) => Err(other.into()),
    }
}

fn payout_refused(err: PayoutError) -> HttpError {
    let code = match err {
        PayoutError::Reference => ErrorCode::InvalidReference,
        PayoutError::Reason => ErrorCode::InvalidReason,
        PayoutError::NotPending(_) => {
            return HttpError::new(
                StatusCode::CONFLICT,
                ErrorCode::PayoutNotPending,
                err.to_string(),
            )
        }
    };
    HttpError::bad_request(code, err.to_string())
}

#[utoipa::path(post, path = "/api/payouts/{id}/paid", tag = "settlements", request_body = PaidPayout,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = wire::settlements::Payout), (status = 404, body = linkledger_http::ErrorBody), (status = 409, body = linkledger_http::ErrorBody)))]
pub async fn mark_paid(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(id): Path<String>,
    Json(input): Json<PaidPayout>,
) -> Result<Json<wire::settlements::Payout>, HttpError> {
    let paid_on = parse_date(&input.paid_on)?;
    let reference = payouts::Reference::parse(&input.external_ref).map_err(payout_refused)?;
    change_payout(&state, &caller, &id, |payout, now, actor| {
        let (paid, audit) = payouts::paid(payout, paid_on, reference, now, actor)?;
        Ok((paid, None, audit))
    })
    .await
}

#[utoipa::path(post, path = "/api/payouts/{id}/failed", tag = "settlements", request_body = FailedPayout,
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = wire::settlements::Payout, description = "failed: the amount is back on the creator's balance (an adjustment entry)"),
        (status = 404, body = linkledger_http::ErrorBody), (status = 409, body = linkledger_http::ErrorBody)))]
pub async fn mark_failed(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(id): Path<String>,
    Json(input): Json<FailedPayout>,
) -> Result<Json<wire::settlements::Payout>, HttpError> {
    let reason = payouts::FailureReason::parse(&input.reason).map_err(payout_refused)?;
    change_payout(&state, &caller, &id, |payout, now, actor| {
        let (failed, recredit, audit) = payouts::failed(payout, reason, now, actor)?;
        Ok((failed, Some(recredit), audit))
    })
    .await
}
