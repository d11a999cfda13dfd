//! Repositories: every record the product stores, written once against the [`Table`] port.
//!
//! This crate is the only place that knows the single-table key layout: every key is built in
//! `keys.rs` (the table of records and keys is in ARCHITECTURE.md, "Storage layout"); handlers
//! and adapters never build keys themselves.
//!
//! Click ids start with their time, so an id range is a time range.
#![cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]

pub mod booking;
mod conversions;
mod deliveries;
mod keys;
pub mod ports;
mod scoped;
mod sessions;
pub mod settlement;
mod settlements;
pub mod stats;

pub use conversions::{
    BookingConflict, BookingWrite, ClickUse, ConversionFilter, Customer, MaskedSecret,
    WebhookSecret, DELIVERY_RETENTION_DAYS,
};
pub use deliveries::{DELIVERY_LOG_RETENTION_DAYS, MAX_RECENT_DELIVERIES};
pub use settlements::LineWrite;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use time::OffsetDateTime;

use crate::ports::{
    BackendError, Condition, Created, Index, Item, Key, Query, SkRange, StoreError, Table, WriteOp,
};
use linkledger_core::api_key::{key_hash, ApiKey};
use linkledger_core::audit::AuditEntry;
use linkledger_core::click::{is_repeat, Click, UNIQUE_WINDOW_MS};
use linkledger_core::clock::{Clock, SystemClock};
use linkledger_core::creator::{Creator, Enrolment};
use linkledger_core::ids::{ClickId, CreatorId, LinkCode, ProgramId};
use linkledger_core::link::{promo_key, Link, PromoCode};
use linkledger_core::program::Program;

/// A record and the version it was read at (for optimistic updates).
#[derive(Clone, Debug)]
pub struct Versioned<T> {
    pub record: T,
    pub version: u64,
}

/// One page of a listing.
#[derive(Clone, Debug)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct LinkFilter {
    pub program: Option<ProgramId>,
    pub creator: Option<CreatorId>,
}

/// The records of linkledger over any [`Table`].
#[derive(Clone)]
pub struct Store {
    table: Arc<dyn Table>,
    /// The clock every flow over this store reads (a [`ManualClock`] in tests).
    ///
    /// [`ManualClock`]: linkledger_core::clock::ManualClock
    clock: Arc<dyn Clock>,
}

fn encode<T: Serialize>(record: &T) -> Result<String, StoreError> {
    serde_json::to_string(record).map_err(|e| StoreError::Invalid(format!("encode: {e}")))
}

fn decode<T: DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    serde_json::from_str(&item.body).map_err(|e| StoreError::Corrupt {
        pk: item.key.pk.clone(),
        sk: item.key.sk.clone(),
        reason: e.to_string(),
    })
}

/// The fewest clicks before a listing's page that its uniqueness is judged against.
const PAGE_LOOKBACK: usize = 100;

fn decode_page<T: DeserializeOwned>(page: crate::ports::Page) -> Result<Listing<T>, StoreError> {
    let items = page
        .items
        .iter()
        .map(decode)
        .collect::<Result<Vec<T>, _>>()?;
    Ok(Listing {
        items,
        next: page.next,
    })
}

/// A write that creates `item` and fails if it exists (new ledger entries, audit entries, guards).
fn insert(item: Item) -> WriteOp {
    WriteOp::Put {
        item,
        condition: Condition::NotExists,
    }
}

/// A write of a record read at `version` (`None`: it was absent): it creates the item, or
/// replaces it only if nobody changed it meanwhile (optimistic concurrency).
fn put_at(item: Item, version: Option<u64>) -> WriteOp {
    match version {
        None => insert(item),
        Some(v) => WriteOp::Put {
            item: item.with_version(v.saturating_add(1)),
            condition: Condition::VersionIs(v),
        },
    }
}

/// The audit entry's write (every audited change carries one in its transaction).
fn audit_op(audit: &AuditEntry) -> Result<WriteOp, StoreError> {
    Ok(insert(keys::audit_item(audit, encode(audit)?)))
}

impl Store {
    /// The store over `table`, on the system clock.
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self {
            table,
            clock: Arc::new(SystemClock),
        }
    }

    /// The same store reading `clock` (tests move a manual clock instead of sleeping).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The time now, by this store's clock.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub fn table(&self) -> &Arc<dyn Table> {
        &self.table
    }

    async fn get_record<T: DeserializeOwned>(
        &self,
        key: Key,
    ) -> Result<Option<Versioned<T>>, StoreError> {
        match self.table.get(&key).await? {
            Some(item) => Ok(Some(Versioned {
                record: decode(&item)?,
                version: item.version,
            })),
            None => Ok(None),
        }
    }

    /// Every record a query finds, following its cursor to the last page.
    async fn query_all<T: DeserializeOwned>(&self, query: Query) -> Result<Vec<T>, StoreError> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page: Listing<T> =
                decode_page(self.table.query(&query.clone().after(after)).await?)?;
            all.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// Writes `item` if `condition` holds, and the audit entry, atomically.
    async fn put_audited(
        &self,
        item: Item,
        condition: Condition,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        self.table
            .transact(vec![WriteOp::Put { item, condition }, audit_op(audit)?])
            .await
    }

    /// Create-if-absent with its audit entry, atomically.
    async fn create_audited(&self, item: Item, audit: &AuditEntry) -> Result<Created, StoreError> {
        match self.put_audited(item, Condition::NotExists, audit).await {
            Ok(()) => Ok(Created::Created),
            Err(StoreError::ConditionFailed { index: 0 }) => Ok(Created::AlreadyExists),
            Err(other) => Err(other),
        }
    }

    /// The audit log, newest first.
    pub async fn audit_log(
        &self,
        limit: usize,
        after: Option<String>,
    ) -> Result<Listing<AuditEntry>, StoreError> {
        let query = Query::new(Index::Gsi1, keys::AUDIT, SkRange::All)
            .descending()
            .limit(limit)
            .after(after);
        decode_page(self.table.query(&query).await?)
    }

    // Programs

    pub async fn create_program(
        &self,
        program: &Program,
        audit: &AuditEntry,
    ) -> Result<Created, StoreError> {
        self.create_audited(keys::program_item(program, encode(program)?), audit)
            .await
    }

    pub async fn program(&self, id: &ProgramId) -> Result<Option<Versioned<Program>>, StoreError> {
        self.get_record(keys::program(id)).await
    }

    /// Replaces a program if it is still at `version`; `ConditionFailed` when someone else won.
    pub async fn update_program(
        &self,
        program: &Program,
        version: u64,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let item =
            keys::program_item(program, encode(program)?).with_version(version.saturating_add(1));
        self.put_audited(item, Condition::VersionIs(version), audit)
            .await
    }

    pub async fn programs(
        &self,
        limit: usize,
        after: Option<String>,
    ) -> Result<Listing<Program>, StoreError> {
        let query = Query::new(Index::Gsi1, keys::PROGRAMS, SkRange::All)
            .limit(limit)
            .after(after);
        decode_page(self.table.query(&query).await?)
    }

    // Creators and enrolments

    pub async fn create_creator(
        &self,
        creator: &Creator,
        audit: &AuditEntry,
    ) -> Result<Created, StoreError> {
        self.create_audited(keys::creator_item(creator, encode(creator)?), audit)
            .await
    }

    pub async fn creator(&self, id: &CreatorId) -> Result<Option<Creator>, StoreError> {
        Ok(self.get_record(keys::creator(id)).await?.map(|v| v.record))
    }

    pub async fn creators(
        &self,
        limit: usize,
        after: Option<String>,
    ) -> Result<Listing<Creator>, StoreError> {
        let query = Query::new(Index::Gsi1, keys::CREATORS, SkRange::All)
            .limit(limit)
            .after(after);
        decode_page(self.table.query(&query).await?)
    }

    /// Enrols or re-enrols (replacing the rate override).
    pub async fn enrol(&self, enrolment: &Enrolment, audit: &AuditEntry) -> Result<(), StoreError> {
        let item = keys::enrolment_item(enrolment, encode(enrolment)?);
        self.put_audited(item, Condition::None, audit).await
    }

    pub async fn enrolment(
        &self,
        program: &ProgramId,
        creator: &CreatorId,
    ) -> Result<Option<Enrolment>, StoreError> {
        Ok(self
            .get_record(keys::enrolment(program, creator))
            .await?
            .map(|v| v.record))
    }

    pub async fn enrolments_of_program(
        &self,
        program: &ProgramId,
        limit: usize,
        after: Option<String>,
    ) -> Result<Listing<Enrolment>, StoreError> {
        let query = Query::prefix(
            Index::Primary,
            keys::program(program).pk,
            keys::ENROL_PREFIX,
        )
        .limit(limit)
        .after(after);
        decode_page(self.table.query(&query).await?)
    }

    // Links

    /// Create-if-absent on the code: `AlreadyExists` when the code is taken.
    pub async fn create_link(
        &self,
        link: &Link,
        audit: &AuditEntry,
    ) -> Result<Created, StoreError> {
        self.create_audited(keys::link_item(link, encode(link)?), audit)
            .await
    }

    pub async fn link(&self, code: &LinkCode) -> Result<Option<Versioned<Link>>, StoreError> {
        self.get_record(keys::link(code)).await
    }

    pub async fn update_link(
        &self,
        link: &Link,
        version: u64,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let item = keys::link_item(link, encode(link)?).with_version(version.saturating_add(1));
        self.put_audited(item, Condition::VersionIs(version), audit)
            .await
    }

    pub async fn links(
        &self,
        filter: &LinkFilter,
        limit: usize,
        after: Option<String>,
    ) -> Result<Listing<Link>, StoreError> {
        let query = match (&filter.creator, &filter.program) {
            (Some(creator), program) => Query::prefix(
                Index::Gsi2,
                keys::creator(creator).pk,
                format!(
                    "LINK#{}",
                    program
                        .as_ref()
                        .map(|p| format!("{p}#"))
                        .unwrap_or_default()
                ),
            ),
            (None, Some(program)) => Query::prefix(Index::Gsi1, keys::LINKS, format!("{program}#")),
            (None, None) => Query::new(Index::Gsi1, keys::LINKS, SkRange::All),
        };
        decode_page(self.table.query(&query.limit(limit).after(after)).await?)
    }

    // Promo codes

    pub async fn create_promo_code(
        &self,
        promo: &PromoCode,
        audit: &AuditEntry,
    ) -> Result<Created, StoreError> {
        self.create_audited(keys::promo_item(promo, encode(promo)?), audit)
            .await
    }

    pub async fn promo_code(
        &self,
        program: &ProgramId,
        code: &str,
    ) -> Result<Option<PromoCode>, StoreError> {
        Ok(self
            .get_record(keys::promo(program, &promo_key(code)))
            .await?
            .map(|v| v.record))
    }

    /// A promo code with its version (for [`Store::update_promo_code`]).
    pub async fn promo_code_versioned(
        &self,
        program: &ProgramId,
        code: &str,
    ) -> Result<Option<Versioned<PromoCode>>, StoreError> {
        self.get_record(keys::promo(program, &promo_key(code)))
            .await
    }

    /// Replaces a promo code if it is still at `version`, with its audit entry.
    pub async fn update_promo_code(
        &self,
        promo: &PromoCode,
        version: u64,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let item = keys::promo_item(promo, encode(promo)?).with_version(version.saturating_add(1));
        self.put_audited(item, Condition::VersionIs(version), audit)
            .await
    }

    pub async fn promo_codes(
        &self,
        program: &ProgramId,
        limit: usize,
        after: Option<String>,
    ) -> Result<Listing<PromoCode>, StoreError> {
        let query = Query::prefix(
            Index::Primary,
            keys::program(program).pk,
            keys::PROMO_PREFIX,
        )
        .limit(limit)
        .after(after);
        decode_page(self.table.query(&query).await?)
    }

    // Clicks

    /// One write, no read: the redirect's whole storage cost.
    pub async fn record_click(
        &self,
        click: &Click,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let item = keys::click_item(click, encode(click)?).expiring_at(expires_at.unix_timestamp());
        self.table.put(item, Condition::None).await
    }

    pub async fn click(&self, id: &ClickId) -> Result<Option<Click>, StoreError> {
        Ok(self.get_record(keys::click(id)).await?.map(|v| v.record))
    }

    /// Clicks of one link, newest first.
    pub async fn clicks_of_link(
        &self,
        code: &LinkCode,
        limit: usize,
        after: Option<String>,
    ) -> Result<Listing<Click>, StoreError> {
        let query = Query::new(Index::Gsi1, keys::link_clicks(code), SkRange::All)
            .descending()
            .limit(limit)
            .after(after);
        decode_page(self.table.query(&query).await?)
    }

    /// Clicks of one link from `from_ms` up to (not including) `to_ms`, oldest first.
    pub async fn clicks_between(
        &self,
        code: &LinkCode,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<Click>, StoreError> {
        let range = SkRange::Between {
            from: ClickId::time_prefix(from_ms),
            to: ClickId::time_prefix(to_ms),
        };
        self.query_all(Query::new(Index::Gsi1, keys::link_clicks(code), range).limit(500))
            .await
    }

    /// Which clicks of one page of a link's listing are unique, judged from the page and at
    /// most `max(page, 100)` clicks of the hour before its oldest (one bounded query): a page
    /// costs reads in proportion to its size, however busy the link. A click whose visitor's
    /// previous visit lies further back than that (a link with more clicks in the hour than the
    /// lookback holds) is shown as unique; the settlement's per-click commission judges
    /// uniqueness exactly, over the whole day ([`Store::unique_clicks`]).
    pub async fn unique_clicks_of_page(
        &self,
        page: &[Click],
    ) -> Result<HashSet<ClickId>, StoreError> {
        let (Some(code), Some(oldest)) = (
            page.first().map(|c| c.link_code.clone()),
            page.iter().min_by(|a, b| a.id.cmp(&b.id)),
        ) else {
            return Ok(HashSet::new());
        };
        let lookback = page.len().max(PAGE_LOOKBACK);
        let range = SkRange::Between {
            from: ClickId::time_prefix(oldest.at_ms.saturating_sub(UNIQUE_WINDOW_MS - 1)),
            to: oldest.id.to_string(),
        };
        let query = Query::new(Index::Gsi1, keys::link_clicks(&code), range)
            .descending()
            .limit(lookback);
        let before: Vec<Click> = decode_page(self.table.query(&query).await?)?.items;
        let mut walk: Vec<&Click> = before.iter().chain(page.iter()).collect();
        walk.sort_by(|a, b| a.id.cmp(&b.id));
        walk.dedup_by(|a, b| a.id == b.id);
        let on_page: HashSet<&ClickId> = page.iter().map(|c| &c.id).collect();
        let mut last_seen: HashMap<&str, i64> = HashMap::new();
        let mut unique = HashSet::new();
        for click in walk {
            let repeat = last_seen
                .get(click.visitor.as_str())
                .is_some_and(|&earlier| is_repeat(earlier, click.at_ms));
            if !repeat && on_page.contains(&click.id) {
                unique.insert(click.id.clone());
            }
            last_seen.insert(click.visitor.as_str(), click.at_ms);
        }
        Ok(unique)
    }

    /// Which of `clicks` (all of one link) are unique: a click is unique unless the same link saw
    /// the same visitor in the hour before it. Derived on read from the link's time-ordered
    /// clicks, so the redirect stays at one write and a click carries one index entry.
    pub async fn unique_clicks(&self, clicks: &[Click]) -> Result<HashSet<ClickId>, StoreError> {
        let Some(code) = clicks.first().map(|c| c.link_code.clone()) else {
            return Ok(HashSet::new());
        };
        let (Some(oldest), Some(newest)) = (
            clicks.iter().map(|c| c.at_ms).min(),
            clicks.iter().map(|c| c.id.clone()).max(),
        ) else {
            return Ok(HashSet::new());
        };
        // Every click of the link from an hour before the oldest up to the newest, in time order.
        let range = SkRange::Between {
            from: ClickId::time_prefix(oldest.saturating_sub(UNIQUE_WINDOW_MS - 1)),
            to: format!("{newest}~"),
        };
        let mut last_seen: HashMap<String, i64> = HashMap::new();
        let mut unique = HashSet::new();
        let mut after = None;
        loop {
            let query = Query::new(Index::Gsi1, keys::link_clicks(&code), range.clone())
                .limit(500)
                .after(after);
            let page = self.table.query(&query).await?;
            for item in &page.items {
                let click: Click = decode(item)?;
                let repeat = last_seen
                    .get(&click.visitor)
                    .is_some_and(|&earlier| is_repeat(earlier, click.at_ms));
                if !repeat {
                    unique.insert(click.id.clone());
                }
                last_seen.insert(click.visitor, click.at_ms);
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(unique),
            }
        }
    }

    /// A named secret kept in the store, created once at random (local installs only).
    pub async fn setting_or_init(
        &self,
        name: &str,
        init: impl FnOnce() -> String,
    ) -> Result<String, StoreError> {
        let key = keys::setting(name);
        let item = Item::new(key.clone(), encode(&init())?);
        self.table.create(item).await?;
        let stored = self.table.get(&key).await?.ok_or(StoreError::Unavailable(
            BackendError::without_cause("setting vanished"),
        ))?;
        decode(&stored)
    }

    // API keys

    pub async fn create_api_key(
        &self,
        key: &ApiKey,
        secret: &str,
        audit: &AuditEntry,
    ) -> Result<Created, StoreError> {
        let item = keys::api_key_item(key, &key_hash(secret), encode(key)?);
        self.create_audited(item, audit).await
    }

    pub async fn api_key_by_secret(&self, secret: &str) -> Result<Option<ApiKey>, StoreError> {
        Ok(self
            .get_record(keys::api_key(&key_hash(secret)))
            .await?
            .map(|v| v.record))
    }

    /// The key with this public id, and its version (a lookup on the key index).
    pub async fn api_key_by_id(&self, id: &str) -> Result<Option<Versioned<ApiKey>>, StoreError> {
        Ok(self
            .api_key_item_by_id(id)
            .await?
            .map(|(record, item)| Versioned {
                record,
                version: item.version,
            }))
    }

    async fn api_key_item_by_id(&self, id: &str) -> Result<Option<(ApiKey, Item)>, StoreError> {
        let query =
            Query::new(Index::Gsi1, keys::API_KEYS, SkRange::Prefix(id.to_string())).limit(2);
        let page = self.table.query(&query).await?;
        for item in page.items {
            let key: ApiKey = decode(&item)?;
            if key.id == id {
                return Ok(Some((key, item)));
            }
        }
        Ok(None)
    }

    /// Stores `revoked` over the key of the same id if it is still at `version`, with its audit
    /// entry; `ConditionFailed` when it changed meanwhile, `Ok(false)` when there is no such key.
    pub async fn revoke_api_key(
        &self,
        revoked: &ApiKey,
        version: u64,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let Some((_, stored)) = self.api_key_item_by_id(&revoked.id).await? else {
            return Ok(false);
        };
        let item = Item {
            body: encode(revoked)?,
            version: version.saturating_add(1),
            ..stored
        };
        self.put_audited(item, Condition::VersionIs(version), audit)
            .await?;
        Ok(true)
    }

    pub async fn api_keys(
        &self,
        limit: usize,
        after: Option<String>,
    ) -> Result<Listing<ApiKey>, StoreError> {
        let query = Query::new(Index::Gsi1, keys::API_KEYS, SkRange::All)
            .limit(limit)
            .after(after);
        decode_page(self.table.query(&query).await?)
    }
}
