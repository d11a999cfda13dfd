//! The paging rules of every listing, applied by one layer so no listing can forget them:
//!
//! - `limit` is an integer 1 to 200 (400 `invalid_query` otherwise).
//! - Cursors are **sealed**: the `next_cursor` a listing answers is
//!   `base64url(HMAC-SHA256(key, binding ‖ inner) ‖ inner)`, where `inner` is the store's own
//!   cursor and `binding` is the request's path (route and path ids), the caller's scope
//!   (`admin`, `finance` or `creator:{id}`) and its filters (every query parameter but `cursor`
//!   and `limit`). A cursor comes back only on the listing, caller scope and filters it was
//!   issued for, unmodified (checked in constant time), else 400 `invalid_cursor`. So a cursor
//!   can neither be forged to start a page elsewhere in the table nor carried from one creator
//!   or filter to another. The inner cursor names the last item the store read, which is always
//!   in a partition the caller may read (scope filters choose the partition, before paging).
//! - The key is a random secret kept in the store's settings (`cursor_secret`, created once,
//!   create-if-absent, so every process and Lambda instance on a table shares it), read once
//!   per process (in the background when the router is built, else at first use) and cached
//!   in [`crate::ApiState`]. An empty `cursor` is the first page.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::value::RawValue;
use sha2::Sha256;

use linkledger_core::api_key::Role;
use linkledger_http::ErrorCode;
use linkledger_http::HttpError;

use crate::auth::{authenticate, Caller};
use crate::pages::MAX_LIMIT;
use crate::ApiState;

type HmacSha256 = Hmac<Sha256>;

/// The setting holding the sealing key.
pub const CURSOR_SECRET_SETTING: &str = "cursor_secret";

const TAG_LEN: usize = 32;

/// Listing pages are small (≤ 200 items); a body past this is not re-read for its cursor.
const MAX_PAGE_BYTES: usize = 64 << 20;

fn invalid_cursor() -> HttpError {
    HttpError::bad_request(
        ErrorCode::InvalidCursor,
        "the cursor is not one this listing issued to this caller with these filters",
    )
}

/// What a cursor is bound to.
struct Binding(String);

impl Binding {
    fn of(caller: &Caller, uri: &Uri) -> Self {
        let scope = match (caller.role, caller.own_creator()) {
            (Role::Creator, Some(creator)) => format!("creator:{creator}"),
            (Role::Creator, None) => "creator:".to_string(),
            (Role::Admin, _) => "admin".to_string(),
            (Role::Finance, _) => "finance".to_string(),
        };
        let mut filters: Vec<(String, String)> = query_pairs(uri)
            .into_iter()
            .filter(|(k, _)| k != "cursor" && k != "limit")
            .collect();
        filters.sort();
        let filters = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(filters)
            .finish();
        Binding(format!("v1\n{}\n{scope}\n{filters}\n", uri.path()))
    }

    fn mac(&self, key: &[u8], inner: &[u8]) -> HmacSha256 {
        // HMAC takes keys of any length.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
        mac.update(self.0.as_bytes());
        mac.update(inner);
        mac
    }

    fn seal(&self, key: &[u8], inner: &str) -> String {
        let tag = self.mac(key, inner.as_bytes()).finalize().into_bytes();
        let mut sealed = Vec::with_capacity(TAG_LEN.saturating_add(inner.len()));
        sealed.extend_from_slice(&tag);
        sealed.extend_from_slice(inner.as_bytes());
        URL_SAFE_NO_PAD.encode(sealed)
    }

    fn open(&self, key: &[u8], sealed: &str) -> Result<String, HttpError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(sealed)
            .map_err(|_| invalid_cursor())?;
        if bytes.len() <= TAG_LEN {
            return Err(invalid_cursor());
        }
        let (tag, inner) = bytes.split_at(TAG_LEN);
        self.mac(key, inner)
            .verify_slice(tag)
            .map_err(|_| invalid_cursor())?;
        String::from_utf8(inner.to_vec()).map_err(|_| invalid_cursor())
    }
}

fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn invalid_limit() -> HttpError {
    HttpError::bad_request(
        ErrorCode::InvalidQuery,
        format!("limit must be an integer from 1 to {MAX_LIMIT}"),
    )
}

/// Checks `limit` and swaps a sealed `cursor` for the store's own; `None` when the query has
/// no cursor (nothing to rewrite).
async fn open_query(
    state: &ApiState,
    binding: &Binding,
    uri: &Uri,
) -> Result<Option<Uri>, HttpError> {
    let pairs = query_pairs(uri);
    for (_, limit) in pairs.iter().filter(|(k, _)| k == "limit") {
        match limit.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => {}
            _ => return Err(invalid_limit()),
        }
    }
    let mut cursors = pairs.iter().filter(|(k, _)| k == "cursor");
    let Some((_, sealed)) = cursors.next() else {
        return Ok(None);
    };
    if cursors.next().is_some() {
        return Err(invalid_cursor());
    }
    // An empty cursor is the first page (as if none were sent).
    let inner = match sealed.as_str() {
        "" => None,
        sealed => Some(binding.open(&state.cursor_key().await?, sealed)?),
    };
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            pairs
                .iter()
                .filter_map(|(k, v)| match (k.as_str(), &inner) {
                    ("cursor", Some(inner)) => Some((k.as_str(), inner.as_str())),
                    ("cursor", None) => None,
                    _ => Some((k.as_str(), v.as_str())),
                }),
        )
        .finish();
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(
        format!("{}?{query}", uri.path())
            .parse()
            .map_err(|_| invalid_cursor())?,
    );
    Uri::from_parts(parts)
        .map_err(|_| invalid_cursor())
        .map(Some)
}

/// Seals the `next_cursor` of a listing's answer.
async fn seal_answer(state: &ApiState, binding: &Binding, response: Response) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if response.status() != StatusCode::OK || !is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_PAGE_BYTES).await {
        Ok(bytes) => bytes,
        Err(e) => {
            return HttpError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                "unexpected error",
            )
            .with_cause(format!(
                "a listing's answer could not be read to seal its cursor: {e}"
            ))
            .into_response()
        }
    };
    let found = serde_json::from_slice::<BTreeMap<String, Box<RawValue>>>(&bytes)
        .ok()
        .and_then(|fields| {
            let inner: String = serde_json::from_str(fields.get("next_cursor")?.get()).ok()?;
            Some((fields, inner))
        });
    let sealed = match found {
        Some((mut fields, inner)) => {
            let key = match state.cursor_key().await {
                Ok(key) => key,
                Err(err) => return HttpError::from(err).into_response(),
            };
            serde_json::to_string(&binding.seal(&key, &inner))
                .ok()
                .and_then(|value| RawValue::from_string(value).ok())
                .and_then(|value| {
                    fields.insert("next_cursor".into(), value);
                    serde_json::to_vec(&fields).ok()
                })
        }
        None => None,
    };
    match sealed {
        Some(body) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(body))
        }
        None => Response::from_parts(parts, Body::from(bytes)),
    }
}

/// The layer: on `GET` (and `HEAD`, which axum routes to the same handlers), authenticates the caller (the handler's [`Caller`] reuses it), checks
/// `limit`, opens the request's cursor and seals the answer's.
pub(crate) async fn paging(
    State(state): State<Arc<ApiState>>,
    mut request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return next.run(request).await;
    }
    // Without a valid key the handler answers 401 (or 503) itself; nothing is listed.
    let Ok(caller) = authenticate(&state, request.headers()).await else {
        return next.run(request).await;
    };
    let binding = Binding::of(&caller, request.uri());
    match open_query(&state, &binding, request.uri()).await {
        Ok(Some(uri)) => *request.uri_mut() = uri,
        Ok(None) => {}
        Err(err) => return err.into_response(),
    }
    request.extensions_mut().insert(caller);
    let response = next.run(request).await;
    seal_answer(&state, &binding, response).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use linkledger_core::ids::CreatorId;

    fn caller(role: Role, creator: Option<CreatorId>) -> Caller {
        Caller {
            key_id: "key_1".into(),
            role,
            creator_id: creator,
        }
    }

    #[test]
    fn a_sealed_cursor_opens_only_on_its_binding() {
        let key = b"0123456789abcdef0123456789abcdef";
        let anna = caller(Role::Creator, Some(CreatorId::generate()));
        let ben = caller(Role::Creator, Some(CreatorId::generate()));
        let uri: Uri = "/api/links?program=p1&limit=2".parse().unwrap();
        let sealed = Binding::of(&anna, &uri).seal(key, "inner");
        assert_eq!(
            Binding::of(&anna, &uri).open(key, &sealed).unwrap(),
            "inner"
        );
        let other_limit: Uri = "/api/links?limit=5&program=p1".parse().unwrap();
        assert_eq!(
            Binding::of(&anna, &other_limit).open(key, &sealed).unwrap(),
            "inner",
            "the page size may change between pages"
        );
        let other_filter: Uri = "/api/links?program=p2".parse().unwrap();
        let other_path: Uri = "/api/creators?program=p1".parse().unwrap();
        for (who, uri) in [(&ben, &uri), (&anna, &other_filter), (&anna, &other_path)] {
            assert!(Binding::of(who, uri).open(key, &sealed).is_err());
        }
        assert!(Binding::of(&anna, &uri)
            .open(b"another key", &sealed)
            .is_err());
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = URL_SAFE_NO_PAD.encode(bytes);
        assert!(Binding::of(&anna, &uri).open(key, &tampered).is_err());
        assert!(Binding::of(&anna, &uri).open(key, "!!").is_err());
        assert!(Binding::of(&anna, &uri).open(key, "").is_err());
    }
}
