//! Cursor pagination shared by every listing.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use linkledger_http::ErrorCode;
use linkledger_store::Listing;

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 200;

#[derive(Debug, Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1 to 200, default 50.
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageParams {
    pub fn limit(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A listing's page, each record in its wire shape.
impl<R, T: for<'a> From<&'a R>> From<Listing<R>> for Page<T> {
    fn from(listing: Listing<R>) -> Self {
        Page {
            items: listing.items.iter().map(T::from).collect(),
            next_cursor: listing.next,
        }
    }
}

/// A `program` query filter.
pub fn program_filter(
    text: Option<&str>,
) -> Result<Option<linkledger_core::ids::ProgramId>, linkledger_http::HttpError> {
    text.map(|p| {
        linkledger_core::ids::ProgramId::parse(p).map_err(|e| {
            linkledger_http::HttpError::bad_request(ErrorCode::InvalidQuery, e.to_string())
        })
    })
    .transpose()
}

/// The creator a listing is about: a creator key sees only its own records whatever it asks
/// for (`Err(None)`-like: `None` from this function means "nothing to show").
pub fn creator_scope(
    caller: &crate::auth::Caller,
    named: Option<&str>,
) -> Result<Option<Option<linkledger_core::ids::CreatorId>>, linkledger_http::HttpError> {
    let named = named
        .map(|c| {
            linkledger_core::ids::CreatorId::parse(c).map_err(|e| {
                linkledger_http::HttpError::bad_request(ErrorCode::InvalidQuery, e.to_string())
            })
        })
        .transpose()?;
    Ok(match caller.own_creator() {
        Some(own) if named.as_ref().is_some_and(|n| n != own) => None,
        Some(own) => Some(Some(own.clone())),
        None => Some(named),
    })
}

impl<T> Page<T> {
    pub fn empty() -> Self {
        Page {
            items: Vec::new(),
            next_cursor: None,
        }
    }
}

/// The partition a ledger or conversions listing reads: per creator, per program, or both.
pub struct Partition {
    pub program: Option<linkledger_core::ids::ProgramId>,
    pub creator: Option<linkledger_core::ids::CreatorId>,
}

/// The `program` / `creator` filters of a per-partition listing, scoped to the caller; `None`
/// when a creator key asks about someone else (nothing to show). Neither filter: 400
/// `filter_required`, since such listings never scan the whole table.
pub fn partition(
    caller: &crate::auth::Caller,
    program: Option<&str>,
    creator: Option<&str>,
) -> Result<Option<Partition>, linkledger_http::HttpError> {
    let program = program_filter(program)?;
    let Some(creator) = creator_scope(caller, creator)? else {
        return Ok(None);
    };
    if program.is_none() && creator.is_none() {
        return Err(linkledger_http::HttpError::bad_request(
            ErrorCode::FilterRequired,
            "ask per program (`program=`) or per creator (`creator=`)",
        ));
    }
    Ok(Some(Partition { program, creator }))
}
