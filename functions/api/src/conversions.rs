//! Conversions: listing (by program or creator, status, date range), one conversion, and the
//! admin's decision on held ones.

use std::sync::Arc;

use axum::extract::State;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, Time};
use utoipa::IntoParams;

use linkledger_core::conversion::{Conversion, ConversionId, ConversionStatus};
use linkledger_http::{ErrorCode, HttpError, Json, Path, Query};
use linkledger_store::booking::{decide, Decision, DecisionError};
use linkledger_store::ConversionFilter;

use crate::auth::Caller;
use crate::pages::{partition, Page, PageParams, Partition};
use crate::wire;
use crate::ApiState;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConversionQuery {
    /// Program id (admin and finance list per program or per creator).
    pub program: Option<String>,
    pub creator: Option<String>,
    /// `approved`, `held`, `rejected` or `unattributed`.
    pub status: Option<String>,
    /// Orders that occurred at or after this (RFC 3339, or a date `YYYY-MM-DD` = its start, UTC).
    pub from: Option<String>,
    /// Orders that occurred before this (a date means the end of that day).
    pub to: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

fn instant(text: &str, end_of_day: bool) -> Result<OffsetDateTime, HttpError> {
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(at);
    }
    let date = linkledger_core::parse_date(text).ok_or_else(|| {
        HttpError::bad_request(
            ErrorCode::InvalidQuery,
            format!("{text:?} is neither a date (YYYY-MM-DD) nor an RFC 3339 date-time"),
        )
    })?;
    let date = if end_of_day {
        date.next_day().unwrap_or(date)
    } else {
        date
    };
    Ok(date.with_time(Time::MIDNIGHT).assume_utc())
}

#[utoipa::path(get, path = "/api/conversions", tag = "conversions", params(ConversionQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<wire::conversions::Conversion>), (status = 400, body = linkledger_http::ErrorBody)))]
pub async fn list_conversions(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Query(query): Query<ConversionQuery>,
) -> Result<Json<Page<wire::conversions::Conversion>>, HttpError> {
    let Some(Partition { program, creator }) =
        partition(&caller, query.program.as_deref(), query.creator.as_deref())?
    else {
        return Ok(Json(Page::empty()));
    };
    let status = query
        .status
        .as_deref()
        .map(|s| {
            ConversionStatus::parse(s).ok_or_else(|| {
                HttpError::bad_request(
                    ErrorCode::InvalidQuery,
                    "status is one of approved, held, rejected, unattributed",
                )
            })
        })
        .transpose()?;
    let filter = ConversionFilter {
        program,
        creator,
        status,
        from: query
            .from
            .as_deref()
            .map(|t| instant(t, false))
            .transpose()?,
        to: query.to.as_deref().map(|t| instant(t, true)).transpose()?,
    };
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor,
    };
    Ok(Json(
        state
            .store
            .conversions(&filter, page.limit(), page.cursor)
            .await?
            .into(),
    ))
}

async fn visible_conversion(
    state: &ApiState,
    caller: &Caller,
    id: &str,
) -> Result<Conversion, HttpError> {
    let unknown = || HttpError::not_found("no such conversion");
    let id = ConversionId::parse(id).ok_or_else(unknown)?;
    let conversion = state
        .store
        .conversion(&id)
        .await?
        .ok_or_else(unknown)?
        .record;
    let visible = caller.reads_all()
        || conversion
            .creator_id
            .as_ref()
            .is_some_and(|c| caller.may_see(c));
    if visible {
        Ok(conversion)
    } else {
        Err(unknown())
    }
}

#[utoipa::path(get, path = "/api/conversions/{id}", tag = "conversions", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = wire::conversions::Conversion), (status = 404, body = linkledger_http::ErrorBody)))]
pub async fn get_conversion(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<wire::conversions::Conversion>, HttpError> {
    Ok(Json(
        (&visible_conversion(&state, &caller, &id).await?).into(),
    ))
}

async fn decide_on(
    state: &ApiState,
    caller: &Caller,
    id: &str,
    decision: Decision,
) -> Result<Json<wire::conversions::Conversion>, HttpError> {
    caller.admin()?;
    let conversion = visible_conversion(state, caller, id).await?;
    match decide(&state.store, &conversion.id, decision, &caller.actor()).await {
        Ok(decided) => Ok(Json((&decided).into())),
        Err(DecisionError::NotFound) => Err(HttpError::not_found("no such conversion")),
        Err(e @ DecisionError::NotHeld(_)) => Err(HttpError::new(
            axum::http::StatusCode::CONFLICT,
            ErrorCode::NotHeld,
            e.to_string(),
        )),
        Err(e @ DecisionError::FxRateMissing(_)) => Err(HttpError::new(
            axum::http::StatusCode::CONFLICT,
            ErrorCode::FxRateMissing,
            e.to_string(),
        )),
        Err(DecisionError::Money(e)) => Err(HttpError::bad_request(
            ErrorCode::InvalidAmount,
            e.to_string(),
        )),
        Err(DecisionError::Store(e)) => Err(e.into()),
    }
}

#[utoipa::path(post, path = "/api/conversions/{id}/approve", tag = "conversions", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = wire::conversions::Conversion, description = "approved: its accrual is booked"),
        (status = 404, body = linkledger_http::ErrorBody), (status = 409, body = linkledger_http::ErrorBody, description = "not held, or still no exchange rate")))]
pub async fn approve_conversion(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<wire::conversions::Conversion>, HttpError> {
    decide_on(&state, &caller, &id, Decision::Approve).await
}

#[utoipa::path(post, path = "/api/conversions/{id}/reject", tag = "conversions", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = wire::conversions::Conversion, description = "rejected: it never pays"),
        (status = 404, body = linkledger_http::ErrorBody), (status = 409, body = linkledger_http::ErrorBody)))]
pub async fn reject_conversion(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<wire::conversions::Conversion>, HttpError> {
    decide_on(&state, &caller, &id, Decision::Reject).await
}
