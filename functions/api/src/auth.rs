//! Who is calling: `Authorization: Bearer <key>`, looked up by the key's hash.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use linkledger_core::api_key::Role;
use linkledger_core::audit::Actor;
use linkledger_core::ids::CreatorId;
use linkledger_http::HttpError;

use crate::ApiState;

#[derive(Clone, Debug)]
pub struct Caller {
    pub key_id: String,
    pub role: Role,
    /// Set for creator keys: the only creator they may see.
    pub creator_id: Option<CreatorId>,
}

impl Caller {
    /// This caller as the audit log names it.
    pub fn actor(&self) -> Actor {
        Actor::key(&self.key_id, self.role)
    }

    pub fn require(&self, allowed: &[Role]) -> Result<(), HttpError> {
        if allowed.contains(&self.role) {
            Ok(())
        } else {
            Err(HttpError::forbidden(
                format!("a {:?} key may not do this", self.role).to_lowercase(),
            ))
        }
    }

    pub fn admin(&self) -> Result<(), HttpError> {
        self.require(&[Role::Admin])
    }

    /// Admin and finance read everything.
    pub fn reads_all(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Finance)
    }

    /// The creator a creator key is bound to.
    pub fn own_creator(&self) -> Option<&CreatorId> {
        match self.role {
            Role::Creator => self.creator_id.as_ref(),
            _ => None,
        }
    }

    /// Whether this caller may see records of `creator`.
    pub fn may_see(&self, creator: &CreatorId) -> bool {
        self.reads_all() || self.own_creator() == Some(creator)
    }
}

/// The caller a request's `Authorization: Bearer <key>` names.
pub(crate) async fn authenticate(
    state: &ApiState,
    headers: &axum::http::HeaderMap,
) -> Result<Caller, HttpError> {
    let header = headers
        .get(AUTHORIZATION)
        .ok_or_else(|| HttpError::unauthorized("send Authorization: Bearer <api key>"))?;
    let secret = header
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= 128)
        .ok_or_else(|| HttpError::unauthorized("send Authorization: Bearer <api key>"))?;
    let key = state
        .store
        .api_key_by_secret(secret)
        .await?
        .filter(|k| !k.revoked)
        .ok_or_else(|| HttpError::unauthorized("unknown or revoked API key"))?;
    if key.role == Role::Creator && key.creator_id.is_none() {
        return Err(HttpError::unauthorized("creator key without a creator"));
    }
    Ok(Caller {
        key_id: key.id,
        role: key.role,
        creator_id: key.creator_id,
    })
}

impl FromRequestParts<Arc<ApiState>> for Caller {
    type Rejection = HttpError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ApiState>,
    ) -> Result<Self, Self::Rejection> {
        // The paging layer already authenticated this request (listings): one lookup only.
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        authenticate(state, &parts.headers).await
    }
}
