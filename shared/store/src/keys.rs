//! The single-table key layout (documented in the module above). Nothing else builds keys.

use crate::ports::{IndexKey, Item, Key};
use linkledger_core::api_key::ApiKey;
use linkledger_core::audit::AuditEntry;
use linkledger_core::click::Click;
use linkledger_core::conversion::{Conversion, ConversionId, Platform};
use linkledger_core::creator::{Creator, Enrolment};
use linkledger_core::ids::{ClickId, CreatorId, LinkCode, ProgramId};
use linkledger_core::ledger::LedgerEntry;
use linkledger_core::link::{promo_key, Link, PromoCode};
use linkledger_core::money::Currency;
use linkledger_core::program::Program;
use linkledger_core::settlement::{Payout, SettlementRun};
use linkledger_core::stats::{Bucket, Dimension};
use time::Date;

pub const PROGRAMS: &str = "PROGRAMS";
pub const CREATORS: &str = "CREATORS";
pub const LINKS: &str = "LINKS";
pub const API_KEYS: &str = "APIKEYS";
pub const ENROL_PREFIX: &str = "ENROL#";
pub const PROMO_PREFIX: &str = "PROMO#";

pub fn program(id: &ProgramId) -> Key {
    Key::new(format!("PROGRAM#{id}"), "PROGRAM")
}

pub fn program_item(p: &Program, body: String) -> Item {
    Item::new(program(&p.id), body).with_gsi1(IndexKey::new(PROGRAMS, p.id.as_str()))
}

pub fn creator(id: &CreatorId) -> Key {
    Key::new(format!("CREATOR#{id}"), "CREATOR")
}

pub fn creator_item(c: &Creator, body: String) -> Item {
    Item::new(creator(&c.id), body).with_gsi1(IndexKey::new(CREATORS, c.id.as_str()))
}

pub fn enrolment(program_id: &ProgramId, creator_id: &CreatorId) -> Key {
    Key::new(
        program(program_id).pk,
        format!("{ENROL_PREFIX}{creator_id}"),
    )
}

pub fn enrolment_item(e: &Enrolment, body: String) -> Item {
    Item::new(enrolment(&e.program_id, &e.creator_id), body).with_gsi2(IndexKey::new(
        creator(&e.creator_id).pk,
        format!("{ENROL_PREFIX}{}", e.program_id),
    ))
}

pub fn link(code: &LinkCode) -> Key {
    Key::new(format!("LINK#{code}"), "LINK")
}

pub fn link_item(l: &Link, body: String) -> Item {
    Item::new(link(&l.code), body)
        .with_gsi1(IndexKey::new(LINKS, format!("{}#{}", l.program_id, l.code)))
        .with_gsi2(IndexKey::new(
            creator(&l.creator_id).pk,
            format!("LINK#{}#{}", l.program_id, l.code),
        ))
}

pub fn promo(program_id: &ProgramId, key: &str) -> Key {
    Key::new(program(program_id).pk, format!("{PROMO_PREFIX}{key}"))
}

pub fn promo_item(p: &PromoCode, body: String) -> Item {
    let key = promo_key(&p.code);
    Item::new(promo(&p.program_id, &key), body).with_gsi2(IndexKey::new(
        creator(&p.creator_id).pk,
        format!("{PROMO_PREFIX}{}#{key}", p.program_id),
    ))
}

pub fn click(id: &ClickId) -> Key {
    Key::new(format!("CLICK#{id}"), "CLICK")
}

pub fn link_clicks(code: &LinkCode) -> String {
    format!("LINKCLICKS#{code}")
}

/// Clicks carry one index entry, on their link's time-ordered stream (listing, uniqueness,
/// daily roll-ups); every extra entry would cost a write per click.
pub fn click_item(c: &Click, body: String) -> Item {
    Item::new(click(&c.id), body).with_gsi1(IndexKey::new(link_clicks(&c.link_code), c.id.as_str()))
}

pub fn api_key(hash: &str) -> Key {
    Key::new(format!("APIKEY#{hash}"), "APIKEY")
}

pub fn api_key_item(k: &ApiKey, hash: &str, body: String) -> Item {
    Item::new(api_key(hash), body).with_gsi1(IndexKey::new(API_KEYS, k.id.as_str()))
}

/// A dashboard session, by its token's hash.
pub fn session(token_hash: &str) -> Key {
    Key::new(format!("SESSION#{token_hash}"), "SESSION")
}

pub fn setting(name: &str) -> Key {
    Key::new(format!("SETTING#{name}"), "SETTING")
}

pub const AUDIT: &str = "AUDIT";

/// One partition per UTC day; `gsi1` lists the whole log in time order.
pub fn audit_item(entry: &AuditEntry, body: String) -> Item {
    let day = entry.at.date();
    Item::new(Key::new(format!("AUDIT#{day}"), entry.id.as_str()), body)
        .with_gsi1(IndexKey::new(AUDIT, entry.id.as_str()))
}

// Conversions, their dedupe records and the ledger.

pub fn conversion(id: &ConversionId) -> Key {
    Key::new(format!("CONV#{id}"), "CONV")
}

/// Another id of an order (a Stripe payment intent) pointing at its conversion.
pub fn conversion_alias(id: &ConversionId) -> Key {
    Key::new(format!("CONV#{id}"), "ALIAS")
}

pub fn program_conversions(program: &ProgramId) -> String {
    format!("PCONVS#{program}")
}

pub fn creator_conversions(creator: &CreatorId) -> String {
    format!("CCONVS#{creator}")
}

/// Sort key of a conversion in its listings: occurred time first, so a date range is a key range.
pub fn conversion_sort(c: &Conversion) -> String {
    let ms = (c.occurred_at.unix_timestamp_nanos() / 1_000_000) as i64;
    format!("{}#{}", ClickId::time_prefix(ms), c.id)
}

pub fn conversion_item(c: &Conversion, body: String) -> Item {
    let item = Item::new(conversion(&c.id), body).with_gsi1(IndexKey::new(
        program_conversions(&c.program_id),
        conversion_sort(c),
    ));
    match &c.creator_id {
        Some(creator) => item.with_gsi2(IndexKey::new(
            creator_conversions(creator),
            conversion_sort(c),
        )),
        None => item,
    }
}

pub fn delivery(program: &ProgramId, platform: Platform, delivery_id: &str) -> Key {
    Key::new(
        format!("DELIVERY#{program}#{}#{delivery_id}", platform.as_str()),
        "DELIVERY",
    )
}

/// How many orders a click id has carried; beside its click.
pub fn click_use(click_id: &str) -> Key {
    Key::new(format!("CLICK#{click_id}"), "USE")
}

pub fn customer(program_id: &ProgramId, platform: Platform, customer_ref: &str) -> Key {
    Key::new(
        program(program_id).pk,
        format!("CUSTOMER#{}#{customer_ref}", platform.as_str()),
    )
}

pub fn ledger_of_creator(creator: &CreatorId) -> String {
    format!("LEDGER#{creator}")
}

pub fn ledger_of_program(program: &ProgramId) -> String {
    format!("PLEDGER#{program}")
}

pub fn ledger_item(e: &LedgerEntry, body: String) -> Item {
    Item::new(
        Key::new(ledger_of_creator(&e.creator_id), e.id.as_str()),
        body,
    )
    .with_gsi1(IndexKey::new(
        ledger_of_program(&e.program_id),
        e.id.as_str(),
    ))
}

pub fn webhook_secret(program_id: &ProgramId, platform: Platform) -> Key {
    Key::new(
        program(program_id).pk,
        format!("{SECRET_PREFIX}{}", platform.as_str()),
    )
}

pub const SECRET_PREFIX: &str = "SECRET#";

// Settlement.

pub const SETTLEMENTS: &str = "SETTLEMENTS";
pub const LINE_PREFIX: &str = "LINE#";

pub fn settlement(date: Date) -> String {
    format!("SETTLEMENT#{date}")
}

pub fn run(date: Date) -> Key {
    Key::new(settlement(date), "RUN")
}

pub fn run_item(r: &SettlementRun, body: String) -> Item {
    Item::new(run(r.date), body).with_gsi1(IndexKey::new(SETTLEMENTS, r.date.to_string()))
}

pub fn line(date: Date, creator: &CreatorId, currency: Currency) -> Key {
    Key::new(
        settlement(date),
        format!("{LINE_PREFIX}{creator}#{currency}"),
    )
}

pub fn settle_state(creator: &CreatorId, currency: Currency) -> Key {
    Key::new(settle_states(creator), currency.code())
}

/// The partition of a creator's settlement states (one item per currency).
pub fn settle_states(creator: &CreatorId) -> String {
    format!("SETTLESTATE#{creator}")
}

pub fn payout(id: &str) -> Key {
    Key::new(format!("PAYOUT#{id}"), "PAYOUT")
}

pub fn creator_payouts(creator: &CreatorId) -> String {
    format!("CPAYOUTS#{creator}")
}

pub fn payout_item(p: &Payout, body: String) -> Item {
    Item::new(payout(p.id.as_str()), body).with_gsi2(IndexKey::new(
        creator_payouts(&p.creator_id),
        format!("{}#{}", p.date, p.id),
    ))
}

pub const CHUNK_PREFIX: &str = "CHUNK#";

/// A fanned-out run's chunk, once settled.
pub fn chunk(date: Date, index: u64) -> Key {
    Key::new(settlement(date), format!("{CHUNK_PREFIX}{index:06}"))
}

/// The guard of one day's click commission of a creator in a program (booked once).
pub fn click_rollup(date: Date, program: &ProgramId, creator: &CreatorId) -> Key {
    Key::new(
        format!("CLICKROLLUP#{date}"),
        format!("{program}#{creator}"),
    )
}

// Stats (`crate::stats`): day buckets, balances, the roll-up's snapshots and cursor.

pub fn stats_partition(program: &ProgramId, dimension: Dimension) -> String {
    format!("STATS#{program}#{}", dimension.as_str())
}

pub fn creator_stats_partition(
    creator: &CreatorId,
    program: &ProgramId,
    dimension: Dimension,
) -> String {
    format!("CSTATS#{creator}#{program}#{}", dimension.as_str())
}

/// A bucket's sort key: its day first, so a date range is a key range.
pub fn stats_sort(day: Date, key: &str) -> String {
    format!("{day}#{key}")
}

/// A day bucket: under its program and dimension; a creator's own buckets (its row, its
/// links', its codes') also under the creator (gsi1), so a creator's query reads only those.
pub fn stats_bucket_item(bucket: &Bucket, body: String) -> Item {
    let sort = stats_sort(bucket.day, &bucket.key);
    let item = Item::new(
        Key::new(
            stats_partition(&bucket.program, bucket.dimension),
            sort.clone(),
        ),
        body,
    );
    match &bucket.creator {
        Some(creator) => item.with_gsi1(IndexKey::new(
            creator_stats_partition(creator, &bucket.program, bucket.dimension),
            sort,
        )),
        None => item,
    }
}

pub fn stats_bucket(bucket: &Bucket) -> Key {
    Key::new(
        stats_partition(&bucket.program, bucket.dimension),
        stats_sort(bucket.day, &bucket.key),
    )
}

pub fn balances(program: &ProgramId) -> String {
    format!("BALANCE#{program}")
}

/// A creator's balance in a program (pending, payable, paid).
pub fn balance(program: &ProgramId, creator: &CreatorId) -> Key {
    Key::new(balances(program), creator.as_str())
}

/// What a record already added to the stats (a conversion's contribution; for the other
/// records, that they were counted).
pub fn rolled(source: &Key) -> Key {
    Key::new(format!("ROLLED#{}", source.pk), source.sk.clone())
}

/// How far the local roll-up has read the SQLite change feed.
pub fn stats_cursor() -> Key {
    Key::new("STATSFEED", "CURSOR")
}

/// A record the stats count, by its key: a click, a conversion or a ledger entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatsSource {
    Click,
    Conversion,
    Entry,
}

pub fn stats_source(key: &Key) -> Option<StatsSource> {
    if key.pk.starts_with("CLICK#") && key.sk == "CLICK" {
        Some(StatsSource::Click)
    } else if key.pk.starts_with("CONV#") && key.sk == "CONV" {
        Some(StatsSource::Conversion)
    } else if key.pk.starts_with("LEDGER#") {
        Some(StatsSource::Entry)
    } else {
        None
    }
}

/// The partition prefixes of the records the stats count (the change feeds' filters).
pub const STATS_SOURCE_PREFIXES: [&str; 3] = ["CLICK#", "CONV#", "LEDGER#"];

// The webhook delivery log (`crate::deliveries`): never a stats source (no prefix above).

/// The partition of one program's recent deliveries on one platform.
pub fn delivery_log(program: &ProgramId, platform: Platform) -> String {
    format!("DELIVERYLOG#{program}#{}", platform.as_str())
}

/// A logged delivery: its time in Unix nanoseconds (20 digits, zero-padded, so the sort key
/// orders exactly like the time: two deliveries answered within one millisecond still list
/// newest first) and `suffix` (random) so two deliveries of the same instant both stay.
/// (Entries keyed by milliseconds, 16 digits, written before this sort before every newer one.)
pub fn delivery_log_entry(
    program: &ProgramId,
    platform: Platform,
    unix_nanos: i128,
    suffix: &str,
) -> Key {
    Key::new(
        delivery_log(program, platform),
        format!("{:020}#{suffix}", unix_nanos.max(0)),
    )
}
