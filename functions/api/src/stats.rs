//! `GET /api/stats`: a program's results by program, creator, link or promo code, over a date
//! range of the program's days, as a whole or per day, week or month; JSON or CSV. A creator key
//! sees its own rows only, whatever it asks for. Read from the day buckets the roll-up keeps
//! (`linkledger_store::stats`), never from the clicks or the ledger.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use time::{Date, Duration};
use utoipa::IntoParams;

use linkledger_core::ids::{CreatorId, ProgramId};
use linkledger_core::stats::{Counters, Dimension, Period, Split};
use linkledger_http::{ErrorCode, HttpError, Json, Query};
use linkledger_store::stats::{StatsQuery, MAX_RANGE_DAYS};

use crate::auth::Caller;
use crate::pages::creator_scope;
use crate::settlements::csv;
use crate::wire::stats::{StatsFigures, StatsReport, StatsRow};
use crate::ApiState;

/// Days shown when no range is given: the last 30, today included.
const DEFAULT_DAYS: i64 = 30;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    /// The program (required).
    pub program: String,
    /// `program` (default), `creator`, `link` or `code`; `day`, `week` and `month` mean the
    /// program by that period.
    pub group_by: Option<String>,
    /// `total` (default: one row per key), `day`, `week` or `month`.
    pub period: Option<String>,
    /// First day, `YYYY-MM-DD` in the program's time zone (default: 29 days before `to`).
    pub from: Option<String>,
    /// Last day, inclusive (default: today in the program's time zone). At most 366 days.
    pub to: Option<String>,
    /// Only this creator's rows (a creator key: always its own).
    pub creator: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

fn invalid(message: impl Into<String>) -> HttpError {
    HttpError::bad_request(ErrorCode::InvalidQuery, message)
}

fn date(name: &str, text: &str) -> Result<Date, HttpError> {
    linkledger_core::parse_date(text).ok_or_else(|| {
        HttpError::bad_request(
            ErrorCode::InvalidDate,
            format!("{name}: {text:?} is not a date (YYYY-MM-DD)"),
        )
    })
}

/// What `group_by` and `period` ask for.
fn shape(params: &StatsParams) -> Result<(Dimension, Period), HttpError> {
    let period = params
        .period
        .as_deref()
        .map(|p| Period::parse(p).ok_or_else(|| invalid("period: total, day, week or month")))
        .transpose()?;
    let group = params.group_by.as_deref().unwrap_or("program");
    let (dimension, implied) = match Period::parse(group) {
        Some(p @ (Period::Day | Period::Week | Period::Month)) => (Dimension::Program, Some(p)),
        _ => (
            Dimension::parse(group).ok_or_else(|| {
                invalid("group_by: program, creator, link, code, day, week or month")
            })?,
            None,
        ),
    };
    match (implied, period) {
        (Some(a), Some(b)) if a != b => Err(invalid(format!(
            "group_by={group} and period={} disagree",
            params.period.as_deref().unwrap_or("")
        ))),
        (Some(p), _) => Ok((dimension, p)),
        (None, p) => Ok((dimension, p.unwrap_or_default())),
    }
}

#[utoipa::path(get, path = "/api/stats", tag = "stats", params(StatsParams), security(("bearer" = [])),
    responses(
        (status = 200, body = StatsReport, description = "rows ordered by period then key, and their totals; `format=csv`: the same rows as CSV (`text/csv`, a header row, amounts as decimal strings)"),
        (status = 400, body = linkledger_http::ErrorBody, description = "`invalid_query` (unknown group, period or format; a range past 366 days or ending before it starts), `invalid_date`"),
        (status = 404, body = linkledger_http::ErrorBody, description = "no such program")))]
pub async fn get_stats(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Query(params): Query<StatsParams>,
) -> Result<Response, HttpError> {
    let csv_wanted = match params.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(invalid("format: json or csv")),
    };
    let (report, creator) = report(&state, &caller, &params).await?;
    if csv_wanted {
        Ok(csv_of(&report, creator.as_ref()))
    } else {
        Ok(Json(report).into_response())
    }
}

/// A report as its CSV download.
pub(crate) fn csv_of(report: &StatsReport, creator: Option<&CreatorId>) -> Response {
    csv(csv_rows(report), &stats_filename(report, creator))
}

/// The report `params` ask for, scoped to the caller, and the creator it was scoped to (the API
/// and the dashboard both answer from it).
pub(crate) async fn report(
    state: &ApiState,
    caller: &Caller,
    params: &StatsParams,
) -> Result<(StatsReport, Option<CreatorId>), HttpError> {
    let (dimension, period) = shape(params)?;
    let unknown = || HttpError::not_found("no such program");
    let program_id = ProgramId::parse(&params.program).map_err(|_| unknown())?;
    // A creator key asking about another creator sees nothing, as every listing does.
    let Some(creator) = creator_scope(caller, params.creator.as_deref())? else {
        return Err(HttpError::forbidden(
            "a creator key sees its own stats only",
        ));
    };
    let program = state
        .store
        .program(&program_id)
        .await?
        .ok_or_else(unknown)?
        .record;
    // A creator key sees only programs it is enrolled in (404 otherwise, as everywhere).
    if let Some(own) = caller.own_creator() {
        if state.store.enrolment(&program_id, own).await?.is_none() {
            return Err(unknown());
        }
    }
    let today = program.time_zone.day_of(state.store.now());
    let to = params
        .to
        .as_deref()
        .map(|t| date("to", t))
        .transpose()?
        .unwrap_or(today);
    let from = match params.from.as_deref() {
        Some(f) => date("from", f)?,
        None => to
            .checked_sub(Duration::days(DEFAULT_DAYS - 1))
            .unwrap_or(to),
    };
    if from > to {
        return Err(invalid("from: the range ends before it starts"));
    }
    if to.to_julian_day().saturating_sub(from.to_julian_day()) >= MAX_RANGE_DAYS {
        return Err(invalid(format!(
            "the range is longer than {MAX_RANGE_DAYS} days"
        )));
    }
    let rows = state
        .store
        .stats(&StatsQuery {
            program: program_id.clone(),
            dimension,
            from,
            to,
            period,
            creator: creator.clone(),
        })
        .await?;
    // Balances are "now", not per period: on whole-range rows of creators or the program.
    let balances = if period == Period::Total
        && matches!(dimension, Dimension::Program | Dimension::Creator)
    {
        Some(state.store.balances(&program_id, creator.as_ref()).await?)
    } else {
        None
    };
    // The store has scoped them to the caller (a creator key's own only): the program's (or the
    // creator's own) balance is their sum, computed once.
    let summed = balances.as_ref().and_then(|b| {
        b.values()
            .try_fold(Split::default(), |sum, b| sum.checked_add(b).ok())
    });
    let balance_of = |key: &str| -> Option<Split> {
        match dimension {
            Dimension::Creator => balances
                .as_ref()
                .map(|b| b.get(key).copied().unwrap_or_default()),
            _ => summed,
        }
    };
    let currency = program.currency;
    let mut total = Counters::default();
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        total = total
            .checked_add(&row.counters)
            .map_err(|e| HttpError::unavailable().with_cause(e))?;
        let balance = balance_of(&row.key);
        out.push(StatsRow {
            key: Some(row.key.clone()),
            period: row.period.clone(),
            figures: StatsFigures::new(&row.counters, currency, balance.as_ref()),
        });
    }
    let report = StatsReport {
        program: program_id,
        currency,
        time_zone: program.time_zone.name().to_string(),
        from: from.to_string(),
        to: to.to_string(),
        group_by: dimension.as_str().to_string(),
        period: period_name(period).to_string(),
        rows: out,
        totals: StatsFigures::new(&total, currency, summed.as_ref()),
    };
    Ok((report, creator))
}

fn period_name(period: Period) -> &'static str {
    match period {
        Period::Total => "total",
        Period::Day => "day",
        Period::Week => "week",
        Period::Month => "month",
    }
}

fn stats_filename(report: &StatsReport, creator: Option<&CreatorId>) -> String {
    let scope = creator.map_or(String::new(), |c| format!("-{c}"));
    format!(
        "stats-{}{scope}-{}-{}-{}-{}.csv",
        report.program, report.group_by, report.period, report.from, report.to
    )
}

/// The CSV of a report: a header row, then one row per stats row (amounts as decimal strings
/// in the program currency; empty where a ratio has no denominator).
fn csv_rows(report: &StatsReport) -> Vec<Vec<String>> {
    let header = [
        "key",
        "period",
        "clicks",
        "unique_clicks",
        "bot_clicks",
        "leads",
        "sales",
        "conversion_rate_bps",
        "revenue",
        "average_order_value",
        "refunds",
        "refunded",
        "held",
        "commission_accrued",
        "commission_reversed",
        "commission_adjusted",
        "commission",
        "earnings_per_click",
        "roas",
        "pending",
        "payable",
        "paid",
        "currency",
    ];
    let mut rows = vec![header.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
    let money = |m: &linkledger_core::money::Money| m.to_decimal_string();
    let opt_money =
        |m: &Option<linkledger_core::money::Money>| m.as_ref().map_or(String::new(), money);
    let opt = |n: &Option<i64>| n.map_or(String::new(), |n| n.to_string());
    for row in &report.rows {
        let f = &row.figures;
        rows.push(vec![
            row.key.clone().unwrap_or_default(),
            row.period.clone().unwrap_or_default(),
            f.clicks.to_string(),
            f.unique_clicks.to_string(),
            f.bot_clicks.to_string(),
            f.leads.to_string(),
            f.sales.to_string(),
            opt(&f.conversion_rate_bps),
            money(&f.revenue),
            opt_money(&f.average_order_value),
            f.refunds.to_string(),
            money(&f.refunded),
            f.held.to_string(),
            money(&f.commission_accrued),
            money(&f.commission_reversed),
            money(&f.commission_adjusted),
            money(&f.commission),
            opt_money(&f.earnings_per_click),
            f.roas.clone().unwrap_or_default(),
            opt_money(&f.pending),
            opt_money(&f.payable),
            opt_money(&f.paid),
            report.currency.to_string(),
        ]);
    }
    rows
}
