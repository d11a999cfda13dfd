//! Dashboard sessions, kept by their token's hash until they expire (the item's TTL) or are
//! signed out, and the API key a session signed in with, read by its hash.

use linkledger_core::api_key::ApiKey;
use linkledger_core::session::Session;

use crate::ports::{Condition, Item, StoreError, WriteOp};
use crate::{decode, encode, keys, Store};

impl Store {
    /// Keeps a session just signed in; it vanishes by itself at its expiry.
    pub async fn start_session(
        &self,
        token_hash: &str,
        session: &Session,
    ) -> Result<(), StoreError> {
        let mut item = Item::new(keys::session(token_hash), encode(session)?);
        item.expires_at = Some(session.expires_at.unix_timestamp());
        self.table().put(item, Condition::NotExists).await
    }

    /// The live session of this token hash, if any (an expired record is none).
    pub async fn session(&self, token_hash: &str) -> Result<Option<Session>, StoreError> {
        let Some(item) = self.table().get(&keys::session(token_hash)).await? else {
            return Ok(None);
        };
        let session: Session = decode(&item)?;
        Ok(session.is_live(self.now()).then_some(session))
    }

    /// Signs a session out: its record is deleted (signing out twice is fine).
    pub async fn end_session(&self, token_hash: &str) -> Result<(), StoreError> {
        self.table()
            .transact(vec![WriteOp::Delete {
                key: keys::session(token_hash),
                condition: Condition::None,
            }])
            .await
    }

    /// The API key whose SHA-256 is `key_hash` (what a session keeps instead of the key).
    pub async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>, StoreError> {
        match self.table().get(&keys::api_key(key_hash)).await? {
            Some(item) => Ok(Some(decode(&item)?)),
            None => Ok(None),
        }
    }
}
