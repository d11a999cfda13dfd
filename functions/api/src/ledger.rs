//! The ledger and the balances derived from it.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use axum::http::StatusCode;

use linkledger_core::ids::CreatorId;
use linkledger_core::ledger::{balances, LedgerEntry};
use linkledger_core::manage::adjustments::{self, AdjustmentError};
use linkledger_core::money::MoneyError;
use linkledger_http::{ErrorCode, HttpError, Json, Query};

use crate::auth::Caller;
use crate::pages::{partition, Page, PageParams, Partition};
use crate::wire;
use crate::wire::ledger::{Balances, NewAdjustment};
use crate::ApiState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    pub program: Option<String>,
    pub creator: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/ledger", tag = "ledger", params(LedgerQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<wire::ledger::LedgerEntry>), (status = 400, body = linkledger_http::ErrorBody)))]
pub async fn list_ledger(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Query(query): Query<LedgerQuery>,
) -> Result<Json<Page<wire::ledger::LedgerEntry>>, HttpError> {
    let Some(Partition { program, creator }) =
        partition(&caller, query.program.as_deref(), query.creator.as_deref())?
    else {
        return Ok(Json(Page::empty()));
    };
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor,
    };
    Ok(Json(
        state
            .store
            .ledger(
                creator.as_ref(),
                program.as_ref(),
                page.limit(),
                page.cursor,
            )
            .await?
            .into(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BalanceQuery {
    pub program: Option<String>,
    pub creator: Option<String>,
}

fn balance_out_of_range(creator: &CreatorId) -> HttpError {
    HttpError::new(
        StatusCode::CONFLICT,
        ErrorCode::BalanceOutOfRange,
        format!(
            "the balance of {creator} is beyond the limit of {} minor units; ask support to review its ledger",
            linkledger_core::limits::MAX_BALANCE_MINOR
        ),
    )
}

#[utoipa::path(get, path = "/api/balances", tag = "ledger", params(BalanceQuery), security(("bearer" = [])),
    responses((status = 200, body = Balances),
        (status = 400, body = linkledger_http::ErrorBody),
        (status = 409, body = linkledger_http::ErrorBody, description = "`balance_out_of_range`: the creator asked about has a balance past 10^15 minor units")))]
pub async fn list_balances(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Query(query): Query<BalanceQuery>,
) -> Result<Json<Balances>, HttpError> {
    let Some(Partition { program, creator }) =
        partition(&caller, query.program.as_deref(), query.creator.as_deref())?
    else {
        return Ok(Json(Balances {
            items: Vec::new(),
            out_of_range: Vec::new(),
        }));
    };
    let entries = state
        .store
        .all_ledger_entries(creator.as_ref(), program.as_ref())
        .await?;
    // Each creator's sums on their own: one creator past the limit hides nobody else's.
    let mut by_creator: BTreeMap<CreatorId, Vec<LedgerEntry>> = BTreeMap::new();
    for entry in entries {
        by_creator
            .entry(entry.creator_id.clone())
            .or_default()
            .push(entry);
    }
    let now = state.store.now();
    let mut items = Vec::new();
    let mut out_of_range = Vec::new();
    for (who, entries) in by_creator {
        match balances(&entries, now) {
            Ok(found) => items.extend(found.iter().map(wire::ledger::Balance::from)),
            Err(MoneyError::BalanceTooLarge) => {
                tracing::warn!(creator = %who, "a balance is past the limit");
                if creator.as_ref() == Some(&who) {
                    return Err(balance_out_of_range(&who));
                }
                out_of_range.push(who);
            }
            Err(other) => {
                return Err(HttpError::bad_request(
                    ErrorCode::InvalidAmount,
                    other.to_string(),
                ))
            }
        }
    }
    Ok(Json(Balances {
        items,
        out_of_range,
    }))
}

#[utoipa::path(post, path = "/api/adjustments", tag = "ledger", request_body = NewAdjustment, security(("bearer" = [])),
    responses((status = 201, body = wire::ledger::LedgerEntry, description = "a manual correction, payable at once"),
        (status = 400, body = linkledger_http::ErrorBody), (status = 404, body = linkledger_http::ErrorBody)))]
pub async fn create_adjustment(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    linkledger_http::Json(input): linkledger_http::Json<NewAdjustment>,
) -> Result<(StatusCode, Json<wire::ledger::LedgerEntry>), HttpError> {
    caller.admin()?;
    let program = state
        .store
        .program(&input.program_id)
        .await?
        .ok_or_else(|| HttpError::not_found("no such program"))?
        .record;
    let enrolment = state
        .store
        .enrolment(&program.id, &input.creator_id)
        .await?;
    let input = adjustments::NewAdjustment {
        creator_id: input.creator_id,
        amount: input.amount,
        note: input.note,
    };
    let (entry, audit) = adjustments::create(
        &input,
        &program,
        enrolment.as_ref(),
        state.store.now(),
        &caller.actor(),
    )
    .map_err(|e| match e {
        AdjustmentError::NotEnrolled => HttpError::not_found(e.to_string()),
        other => HttpError::bad_request(ErrorCode::InvalidAdjustment, other.to_string()),
    })?;
    state
        .store
        .append_entries(std::slice::from_ref(&entry), &audit)
        .await?;
    Ok((StatusCode::CREATED, Json((&entry).into())))
}
