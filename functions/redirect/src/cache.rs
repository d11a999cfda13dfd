//! The in-memory link cache: the warm redirect reads nothing from the store.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use linkledger_core::destination::Destination;
use linkledger_core::ids::LinkCode;
use linkledger_core::link::Link;
use linkledger_core::program::Program;

/// A link with the program it belongs to, as the redirect needs them, and its destination
/// already checked against the program's current domains and parsed (once per cache fill).
#[derive(Debug)]
pub struct ResolvedLink {
    pub link: Link,
    pub program: Program,
    /// The destination URL, or why it is no longer allowed.
    pub target: Result<url::Url, String>,
}

impl ResolvedLink {
    pub fn new(link: Link, program: Program) -> Self {
        // The program's domains may have changed since the link was made: check again.
        let target = Destination::for_program(link.destination.as_str(), &program.allowed_domains)
            .and_then(|d| d.url())
            .map_err(|e| e.to_string());
        Self {
            link,
            program,
            target,
        }
    }
}

/// Entries beyond this are dropped wholesale; a Lambda instance sees far fewer links.
const MAX_ENTRIES: usize = 100_000;

pub struct LinkCache {
    ttl: Duration,
    entries: RwLock<HashMap<LinkCode, (Instant, Arc<ResolvedLink>)>>,
    /// Codes whose refresh is under way, so a burst of taps starts one refresh, not many.
    refreshing: Mutex<HashSet<LinkCode>>,
}

pub enum Cached {
    Fresh(Arc<ResolvedLink>),
    /// Past its TTL: served as it is while one background refresh replaces it.
    Stale(Arc<ResolvedLink>),
    Missing,
}

impl LinkCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: RwLock::new(HashMap::new()),
            refreshing: Mutex::new(HashSet::new()),
        }
    }

    pub fn get(&self, code: &LinkCode) -> Cached {
        let Ok(entries) = self.entries.read() else {
            return Cached::Missing;
        };
        match entries.get(code) {
            Some((at, link)) if at.elapsed() < self.ttl => Cached::Fresh(link.clone()),
            Some((_, link)) => Cached::Stale(link.clone()),
            None => Cached::Missing,
        }
    }

    pub fn put(&self, code: LinkCode, link: Arc<ResolvedLink>) {
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(code, (Instant::now(), link));
        }
    }

    pub fn forget(&self, code: &LinkCode) {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(code);
        }
    }

    /// Claims the refresh of `code`; false when another one is already under way.
    pub fn begin_refresh(&self, code: &LinkCode) -> bool {
        self.refreshing
            .lock()
            .map(|mut set| set.insert(code.clone()))
            .unwrap_or(false)
    }

    pub fn end_refresh(&self, code: &LinkCode) {
        if let Ok(mut set) = self.refreshing.lock() {
            set.remove(code);
        }
    }
}
