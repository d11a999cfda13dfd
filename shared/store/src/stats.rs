//! Stats over the store: the roll-up of changed records into day buckets and balances, and the
//! queries that read them (the rules are `linkledger_core::stats`).
//!
//! **Roll-up.** A change feed (the SQLite adapter's, read by `linkledger serve`; DynamoDB Streams,
//! delivered to the `stats` function) names the keys of records written. [`RollUp::apply`] reads
//! each record as it is now, works out its contribution (the core's rules) and adds the change
//! since what it already added, in transactions: the touched buckets and
//! balances (each written at the version it was read: concurrent roll-ups never lose an update),
//! the conversions' snapshots (what each added so far), and the exactly-once guard of the rest:
//! - [`Guard::Cursor`] (a feed read in order, once, by one reader: the local one): the feed's
//!   position, written in the same transaction, so a chunk counts exactly when it commits;
//! - [`Guard::PerRecord`] (an at-least-once feed with redeliveries: DynamoDB Streams): a marker per
//!   click and ledger entry, created in the transaction (a redelivered record finds it).
//!
//! **Queries** read buckets, never clicks or ledger entries: a date range of one program's
//! dimension is one key range (`days × keys` items), a creator's own rows one range of its index.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use time::Date;

use crate::keys::{self, StatsSource};
use crate::ports::{Index, Item, Key, Query, SkRange, StoreError, WriteOp};
use crate::{decode, encode, insert, put_at, Store};
use linkledger_core::click::{is_repeat, Click};
use linkledger_core::conversion::{Attribution, Conversion, ConversionId};
use linkledger_core::ids::{ClickId, CreatorId, LinkCode, ProgramId};
use linkledger_core::ledger::LedgerEntry;
use linkledger_core::stats::{
    self, Balance, Bucket, Contribution, Counters, Dimension, Period, Row, Split, Zone,
};

/// The partition prefixes of the records the stats count (what a change feed passes on).
pub use crate::keys::STATS_SOURCE_PREFIXES as SOURCE_PREFIXES;

/// Attempts of one chunk when a concurrent roll-up touched the same buckets.
const ATTEMPTS: usize = 8;
/// The longest date range one stats query covers.
pub const MAX_RANGE_DAYS: i32 = 366;
/// Visitors remembered for uniqueness between chunks (past it, the memory starts over and the
/// store is asked).
const SEEN_CAPACITY: usize = 200_000;

/// How the roll-up makes sure each record counts once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Guard {
    /// The feed is read in order by one reader; each chunk's transaction moves its cursor.
    Cursor,
    /// The feed may deliver a record again: clicks and entries leave a marker.
    PerRecord,
}

/// One changed record, at its position in the feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub position: u64,
    pub key: Key,
}

/// What one roll-up call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rolled {
    /// Records whose contribution changed the stats.
    pub counted: usize,
    /// Records that were already counted (a redelivery) or count nothing.
    pub unchanged: usize,
    pub transactions: usize,
}

impl Rolled {
    /// Adds what another call did.
    pub fn add(&mut self, other: Rolled) {
        self.counted = self.counted.saturating_add(other.counted);
        self.unchanged = self.unchanged.saturating_add(other.unchanged);
        self.transactions = self.transactions.saturating_add(other.transactions);
    }
}

/// The stored form of a bucket (days as `YYYY-MM-DD`, never the date library's own format).
#[derive(Serialize, Deserialize)]
struct StoredBucket {
    program: ProgramId,
    dimension: Dimension,
    key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    creator: Option<CreatorId>,
    day: String,
    counters: Counters,
}

impl StoredBucket {
    fn new(bucket: &Bucket, counters: Counters) -> Self {
        Self {
            program: bucket.program.clone(),
            dimension: bucket.dimension,
            key: bucket.key.clone(),
            creator: bucket.creator.clone(),
            day: bucket.day.to_string(),
            counters,
        }
    }

    fn bucket(&self) -> Option<Bucket> {
        Some(Bucket {
            program: self.program.clone(),
            dimension: self.dimension,
            key: self.key.clone(),
            creator: self.creator.clone(),
            day: linkledger_core::parse_date(&self.day)?,
        })
    }
}

#[derive(Serialize, Deserialize, Default)]
struct StoredBalance {
    #[serde(default)]
    paid: i64,
    #[serde(default)]
    due_before: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    settled_through: Option<String>,
    #[serde(default)]
    due: BTreeMap<String, i64>,
}

impl StoredBalance {
    fn of(b: &Balance) -> Self {
        Self {
            paid: b.paid,
            due_before: b.due_before,
            settled_through: b.settled_through.map(|d| d.to_string()),
            due: b.due.iter().map(|(d, a)| (d.to_string(), *a)).collect(),
        }
    }

    fn balance(&self, key: &Key) -> Result<Balance, StoreError> {
        let date = |text: &str| {
            linkledger_core::parse_date(text).ok_or_else(|| StoreError::Corrupt {
                pk: key.pk.clone(),
                sk: key.sk.clone(),
                reason: format!("date {text:?}"),
            })
        };
        let mut due = BTreeMap::new();
        for (day, amount) in &self.due {
            due.insert(date(day)?, *amount);
        }
        Ok(Balance {
            paid: self.paid,
            due_before: self.due_before,
            settled_through: self.settled_through.as_deref().map(date).transpose()?,
            due,
        })
    }
}

/// A conversion's snapshot: what it added so far.
#[derive(Serialize, Deserialize, Default)]
struct Snapshot {
    #[serde(default)]
    buckets: Vec<StoredBucket>,
}

impl Snapshot {
    fn contribution(&self) -> Contribution {
        self.buckets
            .iter()
            .filter_map(|b| Some((b.bucket()?, b.counters)))
            .collect()
    }
}

#[derive(Serialize, Deserialize)]
struct Cursor {
    position: u64,
}

/// What one record changes: its buckets' delta, its balance's entry, its snapshot or marker.
struct Effect {
    delta: Contribution,
    entry: Option<LedgerEntry>,
    /// The snapshot write (conversions) or marker (`Guard::PerRecord`), if any.
    guard: Option<WriteOp>,
    /// Visitors this click was seen as (for the next chunks' uniqueness).
    seen: Option<((String, String), i64)>,
}

/// The roll-up of one process: it remembers each link's last visitors between calls, so a
/// click's uniqueness is judged without reading the link's clicks again.
pub struct RollUp {
    guard: Guard,
    seen: Mutex<HashMap<(String, String), i64>>,
}

impl RollUp {
    pub fn new(guard: Guard) -> Self {
        Self {
            guard,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// The position the local roll-up has counted through (0 before the first).
    pub async fn cursor(store: &Store) -> Result<u64, StoreError> {
        Ok(store
            .get_record::<Cursor>(keys::stats_cursor())
            .await?
            .map_or(0, |c| c.record.position))
    }

    /// Counts `changes` (in feed order; keys of records the stats do not count are passed
    /// over). With [`Guard::Cursor`], the cursor moves to the last position once all are
    /// counted; a crash in between leaves it at the last chunk that committed.
    pub async fn apply(&self, store: &Store, changes: &[Change]) -> Result<Rolled, StoreError> {
        let mut rolled = Rolled::default();
        let mut zones: HashMap<ProgramId, Zone> = HashMap::new();
        let mut start = 0;
        while start < changes.len() {
            let mut attempt = 0;
            loop {
                match self
                    .chunk(store, &changes[start..], &mut zones, &mut rolled)
                    .await
                {
                    Ok(taken) => {
                        start = start.saturating_add(taken.max(1));
                        break;
                    }
                    Err(StoreError::ConditionFailed { .. } | StoreError::Conflict)
                        if attempt < ATTEMPTS =>
                    {
                        attempt = attempt.saturating_add(1);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(rolled)
    }

    /// Counts a prefix of `changes` in one transaction; returns how many it took.
    async fn chunk(
        &self,
        store: &Store,
        changes: &[Change],
        zones: &mut HashMap<ProgramId, Zone>,
        rolled: &mut Rolled,
    ) -> Result<usize, StoreError> {
        let mut deltas: Contribution = BTreeMap::new();
        let mut entries: BTreeMap<Key, Vec<LedgerEntry>> = BTreeMap::new();
        let mut guards: Vec<WriteOp> = Vec::new();
        let mut seen_here: HashMap<(String, String), i64> = HashMap::new();
        let (mut taken, mut counted, mut unchanged) = (0usize, 0usize, 0usize);
        // Writes besides the buckets and balances: the guards, and the cursor.
        let fixed = usize::from(self.guard == Guard::Cursor);
        let max_writes = store.table.max_transaction_writes();
        // A record written twice since the last roll-up appears twice: its state now counts once.
        let mut keys_here: BTreeSet<&Key> = BTreeSet::new();
        for (n, change) in changes.iter().enumerate() {
            // A long chunk lets the other tasks of its thread run now and then (the reads of a
            // warm SQLite file answer without ever waiting).
            if n % 64 == 63 {
                yield_now().await;
            }
            if !keys_here.insert(&change.key) {
                taken = taken.saturating_add(1);
                unchanged = unchanged.saturating_add(1);
                continue;
            }
            let effect = self.effect(store, &change.key, zones, &seen_here).await?;
            let Some(effect) = effect else {
                taken = taken.saturating_add(1);
                unchanged = unchanged.saturating_add(1);
                continue;
            };
            // The writes this chunk would take with the record: the buckets and balances
            // touched so far, the record's new ones, the guards and the cursor.
            let new_buckets = effect
                .delta
                .keys()
                .filter(|b| !deltas.contains_key(*b))
                .count();
            let new_balance = effect.entry.as_ref().is_some_and(|e| {
                !entries.contains_key(&keys::balance(&e.program_id, &e.creator_id))
            });
            let writes = deltas
                .len()
                .saturating_add(new_buckets)
                .saturating_add(entries.len())
                .saturating_add(usize::from(new_balance))
                .saturating_add(guards.len())
                .saturating_add(usize::from(effect.guard.is_some()))
                .saturating_add(fixed);
            if writes > max_writes && taken > 0 {
                break;
            }
            for (bucket, change) in effect.delta {
                let slot = deltas.entry(bucket).or_default();
                *slot = slot.checked_add(&change).map_err(overflow)?;
            }
            if let Some(e) = effect.entry {
                entries
                    .entry(keys::balance(&e.program_id, &e.creator_id))
                    .or_default()
                    .push(e);
            }
            if let Some(guard) = effect.guard {
                guards.push(guard);
            }
            if let Some((visit, at)) = effect.seen {
                let slot = seen_here.entry(visit).or_insert(at);
                *slot = (*slot).max(at);
            }
            taken = taken.saturating_add(1);
            counted = counted.saturating_add(1);
        }
        let mut ops = Vec::new();
        for (bucket, change) in &deltas {
            if change.is_zero() {
                continue;
            }
            let key = keys::stats_bucket(bucket);
            let (now, version) = match store.table.get(&key).await? {
                Some(item) => (decode::<StoredBucket>(&item)?.counters, Some(item.version)),
                None => (Counters::default(), None),
            };
            let next = now.checked_add(change).map_err(overflow)?;
            let body = encode(&StoredBucket::new(bucket, next))?;
            ops.push(put_at(keys::stats_bucket_item(bucket, body), version));
        }
        let today = store.now().date();
        for (key, list) in &entries {
            let (mut balance, version) = match store.table.get(key).await? {
                Some(item) => (
                    decode::<StoredBalance>(&item)?.balance(key)?,
                    Some(item.version),
                ),
                None => (Balance::default(), None),
            };
            for e in list {
                balance.apply(e, 1).map_err(overflow)?;
            }
            balance.fold_before(today).map_err(overflow)?;
            let body = encode(&StoredBalance::of(&balance))?;
            ops.push(put_at(Item::new(key.clone(), body), version));
        }
        ops.extend(guards);
        if self.guard == Guard::Cursor {
            if let Some(last) = changes.get(taken.saturating_sub(1)) {
                let version = store
                    .table
                    .get(&keys::stats_cursor())
                    .await?
                    .map(|i| i.version);
                let body = encode(&Cursor {
                    position: last.position,
                })?;
                ops.push(put_at(Item::new(keys::stats_cursor(), body), version));
            }
        }
        if !ops.is_empty() {
            store.table.transact(ops).await?;
            rolled.transactions = rolled.transactions.saturating_add(1);
        }
        rolled.counted = rolled.counted.saturating_add(counted);
        rolled.unchanged = rolled.unchanged.saturating_add(unchanged);
        if let Ok(mut seen) = self.seen.lock() {
            if seen.len().saturating_add(seen_here.len()) > SEEN_CAPACITY {
                seen.clear();
            }
            for (visit, at) in seen_here {
                let slot = seen.entry(visit).or_insert(at);
                *slot = (*slot).max(at);
            }
        }
        Ok(taken)
    }

    /// What the record under `key` changes now; `None` when nothing (not a counted record,
    /// already counted, gone, or unchanged since its snapshot).
    async fn effect(
        &self,
        store: &Store,
        key: &Key,
        zones: &mut HashMap<ProgramId, Zone>,
        seen_here: &HashMap<(String, String), i64>,
    ) -> Result<Option<Effect>, StoreError> {
        let Some(source) = keys::stats_source(key) else {
            return Ok(None);
        };
        let marker = keys::rolled(key);
        match source {
            StatsSource::Conversion => {
                let snapshot = store.table.get(&marker).await?;
                let (old, version) = match &snapshot {
                    Some(item) => (decode::<Snapshot>(item)?.contribution(), Some(item.version)),
                    None => (Contribution::new(), None),
                };
                let new = match store.table.get(key).await? {
                    Some(item) => {
                        let c: Conversion = decode(&item)?;
                        let zone = zone(store, zones, &c.program_id).await?;
                        let link = conversion_link(store, &c).await?;
                        stats::conversion(&c, link.as_ref(), &zone).map_err(|e| {
                            StoreError::Invalid(format!("stats of conversion {}: {e}", c.id))
                        })?
                    }
                    None => Contribution::new(),
                };
                let delta = stats::delta(&old, &new).map_err(overflow)?;
                if delta.is_empty() {
                    return Ok(None);
                }
                let body = encode(&Snapshot {
                    buckets: new.iter().map(|(b, c)| StoredBucket::new(b, *c)).collect(),
                })?;
                Ok(Some(Effect {
                    delta,
                    entry: None,
                    guard: Some(put_at(Item::new(marker, body), version)),
                    seen: None,
                }))
            }
            StatsSource::Click | StatsSource::Entry => {
                if self.guard == Guard::PerRecord && store.table.get(&marker).await?.is_some() {
                    return Ok(None);
                }
                let Some(item) = store.table.get(key).await? else {
                    return Ok(None);
                };
                let guard = (self.guard == Guard::PerRecord).then(|| {
                    let mut marker = Item::new(marker, "{}".to_string());
                    marker.expires_at = item.expires_at;
                    insert(marker)
                });
                if source == StatsSource::Click {
                    let click: Click = decode(&item)?;
                    let zone = zone(store, zones, &click.program_id).await?;
                    let unique = self.is_unique(store, &click, seen_here).await?;
                    let delta = stats::click(&click, unique, &zone).map_err(overflow)?;
                    let visit = (click.link_code.to_string(), click.visitor.clone());
                    Ok(Some(Effect {
                        delta,
                        entry: None,
                        guard,
                        seen: Some((visit, click.at_ms)),
                    }))
                } else {
                    let entry: LedgerEntry = decode(&item)?;
                    let zone = zone(store, zones, &entry.program_id).await?;
                    let (link, code) = match &entry.conversion_id {
                        Some(id) => entry_attribution(store, id).await?,
                        None => (None, None),
                    };
                    let delta = stats::entry(&entry, link.as_ref(), code.as_deref(), &zone)
                        .map_err(overflow)?;
                    Ok(Some(Effect {
                        delta,
                        entry: Some(entry),
                        guard,
                        seen: None,
                    }))
                }
            }
        }
    }

    /// Unique unless the same visitor clicked the same link within the hour before: judged
    /// from the visits this process counted, else from the link's clicks before it (the same
    /// bounded look-back as the click listing's `unique`).
    async fn is_unique(
        &self,
        store: &Store,
        click: &Click,
        seen_here: &HashMap<(String, String), i64>,
    ) -> Result<bool, StoreError> {
        let visit = (click.link_code.to_string(), click.visitor.clone());
        let remembered = seen_here.get(&visit).copied().or_else(|| {
            self.seen
                .lock()
                .ok()
                .and_then(|seen| seen.get(&visit).copied())
        });
        match remembered {
            Some(earlier) if earlier <= click.at_ms => Ok(!is_repeat(earlier, click.at_ms)),
            _ => Ok(store
                .unique_clicks_of_page(std::slice::from_ref(click))
                .await?
                .contains(&click.id)),
        }
    }
}

/// Lets the executor run other tasks once (a future that is pending once, waking itself).
fn yield_now() -> impl std::future::Future<Output = ()> {
    let mut yielded = false;
    std::future::poll_fn(move |cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
}

fn overflow(e: stats::Overflow) -> StoreError {
    StoreError::Invalid(e.to_string())
}

async fn zone(
    store: &Store,
    zones: &mut HashMap<ProgramId, Zone>,
    program: &ProgramId,
) -> Result<Zone, StoreError> {
    if let Some(zone) = zones.get(program) {
        return Ok(zone.clone());
    }
    let zone = store
        .program(program)
        .await?
        .map_or_else(Zone::utc, |p| p.record.time_zone);
    zones.insert(program.clone(), zone.clone());
    Ok(zone)
}

/// The link of the click that attributed `c`, if it was one (and the click is still kept).
async fn conversion_link(store: &Store, c: &Conversion) -> Result<Option<LinkCode>, StoreError> {
    let Attribution::Click { click_id } = &c.attribution else {
        return Ok(None);
    };
    let Ok(id) = ClickId::parse(click_id) else {
        return Ok(None);
    };
    Ok(store.click(&id).await?.map(|click| click.link_code))
}

/// The link and promo code of an entry's conversion.
async fn entry_attribution(
    store: &Store,
    id: &ConversionId,
) -> Result<(Option<LinkCode>, Option<String>), StoreError> {
    let Some(c) = store.conversion(id).await? else {
        return Ok((None, None));
    };
    let link = conversion_link(store, &c.record).await?;
    Ok((link, stats::conversion_code(&c.record).map(str::to_string)))
}

/// One stats question: a program's rows by a dimension over a date range (inclusive, in the
/// program's days), cut by `period`; `creator` limits it to that creator's own rows.
#[derive(Clone, Debug)]
pub struct StatsQuery {
    pub program: ProgramId,
    pub dimension: Dimension,
    pub from: Date,
    pub to: Date,
    pub period: Period,
    pub creator: Option<CreatorId>,
}

impl Store {
    /// The rows of `q`, read from its day buckets only (one key range: days × keys items).
    pub async fn stats(&self, q: &StatsQuery) -> Result<Vec<Row>, StoreError> {
        let range = SkRange::Between {
            from: q.from.to_string(),
            to: format!("{}~", q.to),
        };
        let query = match &q.creator {
            // A creator's program row is its own creator row.
            Some(creator) => {
                let dimension = match q.dimension {
                    Dimension::Program => Dimension::Creator,
                    other => other,
                };
                Query::new(
                    Index::Gsi1,
                    keys::creator_stats_partition(creator, &q.program, dimension),
                    range,
                )
            }
            None => Query::new(
                Index::Primary,
                keys::stats_partition(&q.program, q.dimension),
                range,
            ),
        };
        let stored: Vec<StoredBucket> = self.query_all(query.limit(500)).await?;
        let cells = stored.into_iter().filter_map(|b| {
            let day = linkledger_core::parse_date(&b.day)?;
            let key = match (&q.creator, q.dimension) {
                (Some(_), Dimension::Program) => b.program.to_string(),
                _ => b.key,
            };
            Some((key, day, b.counters))
        });
        stats::rows(cells, q.period).map_err(overflow)
    }

    /// One creator's balance in `program` now, and its pending amounts by the date each becomes
    /// payable (one read).
    pub async fn balance_schedule(
        &self,
        program: &ProgramId,
        creator: &CreatorId,
    ) -> Result<(Split, Vec<(Date, i64)>), StoreError> {
        let Some(item) = self.table.get(&keys::balance(program, creator)).await? else {
            return Ok((Split::default(), Vec::new()));
        };
        let now = self.now();
        let balance = decode::<StoredBalance>(&item)?.balance(&item.key)?;
        Ok((
            balance.split(now).map_err(overflow)?,
            balance.pending_by_date(now),
        ))
    }

    /// Pending, payable and paid now, per creator of `program` (only `creator`'s when given).
    pub async fn balances(
        &self,
        program: &ProgramId,
        creator: Option<&CreatorId>,
    ) -> Result<BTreeMap<String, Split>, StoreError> {
        let now = self.now();
        let items: Vec<Item> = match creator {
            Some(creator) => self
                .table
                .get(&keys::balance(program, creator))
                .await?
                .into_iter()
                .collect(),
            None => {
                let mut all = Vec::new();
                let mut after = None;
                loop {
                    let page = self
                        .table
                        .query(
                            &Query::new(Index::Primary, keys::balances(program), SkRange::All)
                                .limit(500)
                                .after(after),
                        )
                        .await?;
                    all.extend(page.items);
                    match page.next {
                        Some(next) => after = Some(next),
                        None => break,
                    }
                }
                all
            }
        };
        let mut out = BTreeMap::new();
        for item in items {
            let balance = decode::<StoredBalance>(&item)?.balance(&item.key)?;
            out.insert(item.key.sk.clone(), balance.split(now).map_err(overflow)?);
        }
        Ok(out)
    }
}
