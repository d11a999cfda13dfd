//! What a delivery is checked against: its program's click parameter and its platform's signing
//! secret, read from the store and kept by this instance for [`TTL`] (the redirect keeps its
//! links the same way), so a burst of deliveries costs no store read per delivery.
//!
//! Only what exists is kept: an unknown program or a secret not set yet is read again on every
//! delivery, so setting one takes effect at once. A delivery whose signature fails against a kept
//! secret is checked once more against the stored one, so a rotated secret works at once too;
//! the secret it replaced is still accepted by an instance for at most [`TTL`] after the change.
//! A changed click parameter reaches an instance within [`TTL`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use linkledger_core::conversion::Platform;
use linkledger_core::ids::ProgramId;
use linkledger_store::ports::StoreError;
use linkledger_store::Store;

/// How long an instance keeps a program's terms.
pub const TTL: Duration = Duration::from_secs(1);
/// Programs kept at most (past it, the memory starts over).
const CAPACITY: usize = 10_000;

/// A program's terms for one platform.
#[derive(Clone)]
pub struct Terms {
    pub program: ProgramId,
    pub click_param: Arc<str>,
    /// `None`: no secret is set for the platform (never kept).
    pub secret: Option<Arc<[u8]>>,
}

#[derive(Default)]
pub struct TermsCache {
    kept: Mutex<HashMap<(String, Platform), (Instant, Terms)>>,
}

impl TermsCache {
    /// The terms of `program` for `platform`: kept ones while fresh, else read. `None`: no such
    /// program.
    pub async fn get(
        &self,
        store: &Store,
        program: &ProgramId,
        platform: Platform,
    ) -> Result<Option<Terms>, StoreError> {
        let key = (program.as_str().to_string(), platform);
        if let Ok(kept) = self.kept.lock() {
            if let Some((at, terms)) = kept.get(&key) {
                if at.elapsed() < TTL {
                    return Ok(Some(terms.clone()));
                }
            }
        }
        self.read(store, program, platform).await
    }

    /// Reads the terms from the store and keeps them if complete.
    pub async fn read(
        &self,
        store: &Store,
        program: &ProgramId,
        platform: Platform,
    ) -> Result<Option<Terms>, StoreError> {
        let Some(found) = store.program(program).await? else {
            return Ok(None);
        };
        let secret = store
            .webhook_secret(program, platform)
            .await?
            .map(|s| Arc::<[u8]>::from(s.secret.into_bytes()));
        let terms = Terms {
            program: found.record.id,
            click_param: Arc::from(found.record.click_param),
            secret,
        };
        if terms.secret.is_some() {
            if let Ok(mut kept) = self.kept.lock() {
                if kept.len() >= CAPACITY {
                    kept.clear();
                }
                kept.insert(
                    (program.as_str().to_string(), platform),
                    (Instant::now(), terms.clone()),
                );
            }
        }
        Ok(Some(terms))
    }
}
