//! Stats: what a brand and a creator see of their results, and the rules that count them.
//!
//! Activity is counted per **bucket**: one program, one [`Dimension`] with its key (the program
//! itself, a creator, a link, a promo code) and one calendar day in the program's time zone
//! ([`Zone`]). Every stored record that counts (a click, a conversion, a ledger entry) has a
//! **contribution**: what it adds to which buckets ([`click`], [`conversion`], [`entry`]). The
//! roll-up (`linkledger_store::stats`) adds the [`delta`] between a record's contribution now and
//! the one it already added, so a record rolled up twice counts once, and a conversion refunded or
//! approved later moves its buckets by exactly the change.
//!
//! Balances (pending, payable, paid) are not per day: they are per creator and program, kept in
//! a [`Balance`] from the ledger entries, and split at the settlement's cutoff ([`Balance::split`]).
//!
//! Rounding: every figure is a sum of whole minor units except the refunded net of a conversion
//! (its net × refunded ÷ refund basis, half to even, capped at the net: the refund rule of
//! `commission::reversal_target`) and the derived ratios of [`Figures`] (each rounded once, half to
//! even, from the summed counters).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::{Date, Month, OffsetDateTime};

use crate::click::Click;
use crate::commission::reversal_target;
use crate::conversion::{Attribution, Conversion, ConversionKind, ConversionStatus};
use crate::ids::{CreatorId, LinkCode, ProgramId};
use crate::ledger::{EntryKind, LedgerEntry};
use crate::money::{div_round_half_even, MoneyError};

/// The time zone whose days a program's stats are counted in: an IANA name (`Europe/Berlin`),
/// `UTC` by default. The zone database is compiled into the binary (a Lambda has none).
#[derive(Clone, Debug)]
pub struct Zone {
    name: String,
    tz: jiff::tz::TimeZone,
}

pub const DEFAULT_ZONE: &str = "UTC";

/// Longest zone name accepted (the longest IANA name has 32 characters).
pub const MAX_ZONE_NAME_LEN: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone: expected an IANA name such as Europe/Berlin or UTC")]
pub struct ZoneError;

impl Zone {
    pub fn utc() -> Self {
        Self {
            name: DEFAULT_ZONE.to_string(),
            tz: jiff::tz::TimeZone::UTC,
        }
    }

    pub fn parse(name: &str) -> Result<Self, ZoneError> {
        if name.is_empty()
            || name.len() > MAX_ZONE_NAME_LEN
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_-+".contains(&b))
        {
            return Err(ZoneError);
        }
        let tz = jiff::tz::TimeZone::get(name).map_err(|_| ZoneError)?;
        Ok(Self {
            name: name.to_string(),
            tz,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The calendar day `at` falls on in this zone. (Timestamps are bounded at the edge, far
    /// inside the zone database's range; one outside it counts on its UTC day.)
    pub fn day_of(&self, at: OffsetDateTime) -> Date {
        let utc = at.to_offset(time::UtcOffset::UTC).date();
        let Ok(ts) = jiff::Timestamp::from_second(at.unix_timestamp()) else {
            return utc;
        };
        let civil = self.tz.to_datetime(ts);
        let month = u8::try_from(civil.month())
            .ok()
            .and_then(|m| Month::try_from(m).ok());
        let day = u8::try_from(civil.day()).ok();
        match (month, day) {
            (Some(month), Some(day)) => {
                Date::from_calendar_date(i32::from(civil.year()), month, day).unwrap_or(utc)
            }
            _ => utc,
        }
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Zone {}

impl Serialize for Zone {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name)
    }
}

impl<'de> Deserialize<'de> for Zone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Zone::parse(&name).map_err(serde::de::Error::custom)
    }
}

/// What a stats row is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Program,
    Creator,
    Link,
    Code,
}

impl Dimension {
    pub const ALL: [Dimension; 4] = [
        Dimension::Program,
        Dimension::Creator,
        Dimension::Link,
        Dimension::Code,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Dimension::Program => "program",
            Dimension::Creator => "creator",
            Dimension::Link => "link",
            Dimension::Code => "code",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == text)
    }
}

/// One counted cell: a program's dimension key on one day. `creator` is the creator the key
/// belongs to (a creator's own row, its link's, its code's), so a creator's queries read only
/// its own buckets.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bucket {
    pub program: ProgramId,
    pub dimension: Dimension,
    pub key: String,
    pub creator: Option<CreatorId>,
    pub day: Date,
}

/// The counters of a bucket. Money is in minor units of the program's currency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counters {
    pub clicks: i64,
    /// Clicks that are neither a bot's nor a repeat of the same visitor on the same link within
    /// the hour before (`click::UNIQUE_WINDOW_MS`): the clicks a per-click plan pays.
    pub unique_clicks: i64,
    pub bot_clicks: i64,
    pub leads: i64,
    /// Sales and renewals that were not rejected (unattributed ones count for the program).
    pub sales: i64,
    /// The sales' net (after discounts, without tax and shipping), in the program currency.
    pub revenue: i64,
    /// Sales with any refund.
    pub refunds: i64,
    /// The part of `revenue` refunded (pro rata to the refund basis).
    pub refunded: i64,
    /// Conversions on hold now.
    pub held: i64,
    /// Commission booked (accrual entries), reversed by refunds (reversal entries, positive)
    /// and adjusted by hand (either sign), by the day they were booked.
    pub accrued: i64,
    pub reversed: i64,
    pub adjusted: i64,
}

/// Arithmetic on counters past what an `i64` holds (the input bounds keep every real sum far
/// inside it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a stats counter overflowed")]
pub struct Overflow;

impl Counters {
    fn fields(&self) -> [i64; 12] {
        [
            self.clicks,
            self.unique_clicks,
            self.bot_clicks,
            self.leads,
            self.sales,
            self.revenue,
            self.refunds,
            self.refunded,
            self.held,
            self.accrued,
            self.reversed,
            self.adjusted,
        ]
    }

    fn from_fields(f: [i64; 12]) -> Self {
        let [clicks, unique_clicks, bot_clicks, leads, sales, revenue, refunds, refunded, held, accrued, reversed, adjusted] =
            f;
        Self {
            clicks,
            unique_clicks,
            bot_clicks,
            leads,
            sales,
            revenue,
            refunds,
            refunded,
            held,
            accrued,
            reversed,
            adjusted,
        }
    }

    fn combine(&self, other: &Self, op: fn(i64, i64) -> Option<i64>) -> Result<Self, Overflow> {
        let (a, b) = (self.fields(), other.fields());
        let mut out = [0i64; 12];
        for (slot, (x, y)) in out.iter_mut().zip(a.into_iter().zip(b)) {
            *slot = op(x, y).ok_or(Overflow)?;
        }
        Ok(Self::from_fields(out))
    }

    pub fn checked_add(&self, other: &Self) -> Result<Self, Overflow> {
        self.combine(other, i64::checked_add)
    }

    pub fn checked_sub(&self, other: &Self) -> Result<Self, Overflow> {
        self.combine(other, i64::checked_sub)
    }

    pub fn is_zero(&self) -> bool {
        self.fields().iter().all(|&f| f == 0)
    }

    /// Commission earned, net of refunds and adjustments.
    pub fn commission(&self) -> Result<i64, Overflow> {
        self.accrued
            .checked_sub(self.reversed)
            .and_then(|c| c.checked_add(self.adjusted))
            .ok_or(Overflow)
    }
}

/// What one record adds to which buckets.
pub type Contribution = BTreeMap<Bucket, Counters>;

fn add_to(
    contribution: &mut Contribution,
    bucket: Bucket,
    counters: Counters,
) -> Result<(), Overflow> {
    let slot = contribution.entry(bucket).or_default();
    *slot = slot.checked_add(&counters)?;
    Ok(())
}

/// The buckets a record of `program` and (maybe) `creator` counts in on `day`: the program's,
/// the creator's, and its link's and promo code's when it came through one.
fn buckets(
    program: &ProgramId,
    creator: Option<&CreatorId>,
    link: Option<&LinkCode>,
    code: Option<&str>,
    day: Date,
) -> Vec<Bucket> {
    let bucket = |dimension, key: String, creator: Option<&CreatorId>| Bucket {
        program: program.clone(),
        dimension,
        key,
        creator: creator.cloned(),
        day,
    };
    let mut out = vec![bucket(Dimension::Program, program.to_string(), None)];
    if let Some(creator) = creator {
        out.push(bucket(
            Dimension::Creator,
            creator.to_string(),
            Some(creator),
        ));
        if let Some(link) = link {
            out.push(bucket(Dimension::Link, link.to_string(), Some(creator)));
        }
        if let Some(code) = code {
            out.push(bucket(
                Dimension::Code,
                code.to_ascii_lowercase(),
                Some(creator),
            ));
        }
    }
    out
}

fn spread(targets: Vec<Bucket>, counters: Counters) -> Result<Contribution, Overflow> {
    let mut out = Contribution::new();
    for bucket in targets {
        add_to(&mut out, bucket, counters)?;
    }
    Ok(out)
}

/// A click: one click of its program, creator and link on its day; unique when `unique` (no
/// visit of the same visitor on the same link within the hour before) and not a bot's.
pub fn click(click: &Click, unique: bool, zone: &Zone) -> Result<Contribution, Overflow> {
    let at = OffsetDateTime::from_unix_timestamp_nanos(
        i128::from(click.at_ms).saturating_mul(1_000_000),
    )
    .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let counters = Counters {
        clicks: 1,
        unique_clicks: i64::from(unique && !click.bot),
        bot_clicks: i64::from(click.bot),
        ..Counters::default()
    };
    spread(
        buckets(
            &click.program_id,
            Some(&click.creator_id),
            Some(&click.link_code),
            None,
            zone.day_of(at),
        ),
        counters,
    )
}

/// The link a conversion came through (its click's), and its promo code.
pub fn conversion_code(c: &Conversion) -> Option<&str> {
    match &c.attribution {
        Attribution::Coupon { code } => Some(code),
        _ => None,
    }
}

/// A conversion as it stands: a lead or a sale of its program (and its creator, link or code)
/// on the day it occurred, with its net in the program currency, what of it was refunded, and
/// whether it is on hold. A rejected conversion counts nothing; one whose currency has no rate
/// yet (held, `fx_rate_missing`) counts as a sale without revenue until its rate is set.
/// `link` is the link of its click, when it was attributed by one.
pub fn conversion(
    c: &Conversion,
    link: Option<&LinkCode>,
    zone: &Zone,
) -> Result<Contribution, MoneyError> {
    if c.status == ConversionStatus::Rejected {
        return Ok(Contribution::new());
    }
    let program_currency = c.commission.currency();
    let net = match c.program_net {
        Some(net) => Some(net),
        None if c.net.currency() == program_currency => Some(c.net),
        None => None,
    };
    let (revenue, refunded) = match (net, c.kind) {
        (Some(net), ConversionKind::Sale | ConversionKind::Renewal) => {
            let refunded = reversal_target(net, c.refunded, c.refund_basis)?;
            (net.minor(), refunded.minor())
        }
        _ => (0, 0),
    };
    let is_sale = matches!(c.kind, ConversionKind::Sale | ConversionKind::Renewal);
    let counters = Counters {
        leads: i64::from(!is_sale),
        sales: i64::from(is_sale),
        revenue,
        refunds: i64::from(is_sale && c.refunded.minor() > 0),
        refunded,
        held: i64::from(c.status == ConversionStatus::Held),
        ..Counters::default()
    };
    let targets = buckets(
        &c.program_id,
        c.creator_id.as_ref(),
        link,
        conversion_code(c),
        zone.day_of(c.occurred_at),
    );
    spread(targets, counters).map_err(|_| MoneyError::Overflow)
}

/// A ledger entry's commission on the day it was booked: an accrual adds to `accrued`, a
/// reversal to `reversed` (as a positive amount), an adjustment to `adjusted`; a payout counts
/// in the creator's [`Balance`] only. `link` and `code` are those of the entry's conversion.
pub fn entry(
    e: &LedgerEntry,
    link: Option<&LinkCode>,
    code: Option<&str>,
    zone: &Zone,
) -> Result<Contribution, Overflow> {
    let amount = e.amount.minor();
    let counters = match e.kind {
        EntryKind::Accrual => Counters {
            accrued: amount,
            ..Counters::default()
        },
        EntryKind::Reversal => Counters {
            reversed: amount.checked_neg().ok_or(Overflow)?,
            ..Counters::default()
        },
        EntryKind::Adjustment => Counters {
            adjusted: amount,
            ..Counters::default()
        },
        EntryKind::Payout => return Ok(Contribution::new()),
    };
    spread(
        buckets(
            &e.program_id,
            Some(&e.creator_id),
            link,
            code,
            zone.day_of(e.created_at),
        ),
        counters,
    )
}

/// What moves `old` (a record's contribution already counted) to `new` (its contribution now):
/// the buckets to add to, without the unchanged ones.
pub fn delta(old: &Contribution, new: &Contribution) -> Result<Contribution, Overflow> {
    let mut out = Contribution::new();
    for (bucket, counters) in new {
        let before = old.get(bucket).copied().unwrap_or_default();
        let change = counters.checked_sub(&before)?;
        if !change.is_zero() {
            out.insert(bucket.clone(), change);
        }
    }
    for (bucket, counters) in old {
        if !new.contains_key(bucket) && !counters.is_zero() {
            out.insert(bucket.clone(), Counters::default().checked_sub(counters)?);
        }
    }
    Ok(out)
}

/// A creator's money in one program, from its ledger entries: what is paid, and every other
/// entry's amount by the UTC date it becomes payable (the settlement's day: an entry available
/// before the end of a date is paid by that date's run).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Balance {
    /// Paid out (the payouts' amounts, positive).
    pub paid: i64,
    /// Entries payable on or before `settled_through`, folded into one sum.
    pub due_before: i64,
    pub settled_through: Option<Date>,
    /// The other entries' amounts by the date they become payable.
    pub due: BTreeMap<Date, i64>,
}

/// A creator's balance at one moment, as the settlement would see it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Split {
    /// Not payable yet (inside the holding period).
    pub pending: i64,
    /// Payable by tonight's run (what it pays if above the minimum payout; negative when a
    /// refund after a payout is still to be netted out).
    pub payable: i64,
    pub paid: i64,
}

impl Split {
    pub fn checked_add(&self, other: &Split) -> Result<Split, Overflow> {
        Ok(Split {
            pending: self.pending.checked_add(other.pending).ok_or(Overflow)?,
            payable: self.payable.checked_add(other.payable).ok_or(Overflow)?,
            paid: self.paid.checked_add(other.paid).ok_or(Overflow)?,
        })
    }
}

impl Balance {
    /// Adds (`sign` 1) or takes back (`sign` -1) the entry's amount.
    pub fn apply(&mut self, e: &LedgerEntry, sign: i64) -> Result<(), Overflow> {
        let amount = e.amount.minor().checked_mul(sign).ok_or(Overflow)?;
        if e.kind == EntryKind::Payout {
            self.paid = self.paid.checked_sub(amount).ok_or(Overflow)?;
            return Ok(());
        }
        let date = e.available_at.to_offset(time::UtcOffset::UTC).date();
        if self.settled_through.is_some_and(|through| date <= through) {
            self.due_before = self.due_before.checked_add(amount).ok_or(Overflow)?;
        } else {
            let slot = self.due.entry(date).or_default();
            *slot = slot.checked_add(amount).ok_or(Overflow)?;
        }
        Ok(())
    }

    /// Folds the dates before `today` into one sum, so the balance stays small (at most one
    /// date per day of the holding period and after).
    pub fn fold_before(&mut self, today: Date) -> Result<(), Overflow> {
        let Some(through) = today.previous_day() else {
            return Ok(());
        };
        if self.settled_through.is_some_and(|t| t >= through) {
            return Ok(());
        }
        let later = self.due.split_off(&today);
        for amount in self.due.values() {
            self.due_before = self.due_before.checked_add(*amount).ok_or(Overflow)?;
        }
        self.due = later;
        self.settled_through = Some(through);
        Ok(())
    }

    /// Pending, payable and paid at `now`: payable is everything available by the end of
    /// `now`'s UTC date (tonight's cutoff), net of what was paid.
    /// The amounts not payable yet at `now`, by the date each becomes payable (the settlement
    /// of that date pays it), earliest first.
    pub fn pending_by_date(&self, now: OffsetDateTime) -> Vec<(Date, i64)> {
        let today = now.to_offset(time::UtcOffset::UTC).date();
        self.due
            .iter()
            .filter(|(date, amount)| **date > today && **amount != 0)
            .map(|(date, amount)| (*date, *amount))
            .collect()
    }

    pub fn split(&self, now: OffsetDateTime) -> Result<Split, Overflow> {
        let today = now.to_offset(time::UtcOffset::UTC).date();
        let mut pending = 0i64;
        let mut available = self.due_before;
        for (date, amount) in &self.due {
            let sum = if *date > today {
                &mut pending
            } else {
                &mut available
            };
            *sum = sum.checked_add(*amount).ok_or(Overflow)?;
        }
        Ok(Split {
            pending,
            payable: available.checked_sub(self.paid).ok_or(Overflow)?,
            paid: self.paid,
        })
    }
}

/// How rows are cut in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// One row per key for the whole range.
    #[default]
    Total,
    Day,
    /// ISO weeks (Monday to Sunday), written `2026-W48`.
    Week,
    /// Calendar months, written `2026-11`.
    Month,
}

impl Period {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "total" => Some(Self::Total),
            "day" => Some(Self::Day),
            "week" => Some(Self::Week),
            "month" => Some(Self::Month),
            _ => None,
        }
    }

    /// The label of the period `day` falls in (none for [`Period::Total`]).
    pub fn label(&self, day: Date) -> Option<String> {
        match self {
            Period::Total => None,
            Period::Day => Some(format!(
                "{:04}-{:02}-{:02}",
                day.year(),
                u8::from(day.month()),
                day.day()
            )),
            Period::Week => {
                let (year, week, _) = day.to_iso_week_date();
                Some(format!("{year:04}-W{week:02}"))
            }
            Period::Month => Some(format!("{:04}-{:02}", day.year(), u8::from(day.month()))),
        }
    }
}

/// One row of a stats answer: a key (a program, creator, link or code) in one period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub key: String,
    pub period: Option<String>,
    pub counters: Counters,
}

/// Sums day buckets into rows of `period`, ordered by period then key.
pub fn rows(
    buckets: impl IntoIterator<Item = (String, Date, Counters)>,
    period: Period,
) -> Result<Vec<Row>, Overflow> {
    let mut sums: BTreeMap<(Option<String>, String), Counters> = BTreeMap::new();
    for (key, day, counters) in buckets {
        let slot = sums.entry((period.label(day), key)).or_default();
        *slot = slot.checked_add(&counters)?;
    }
    Ok(sums
        .into_iter()
        .map(|((period, key), counters)| Row {
            key,
            period,
            counters,
        })
        .collect())
}

/// The ratios a brand reads off the counters, each rounded once, half to even; `None` where the
/// denominator is zero.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Figures {
    /// Sales ÷ unique clicks, in basis points (250 = 2.5 %).
    pub conversion_rate_bps: Option<i64>,
    /// Revenue ÷ sales, minor units.
    pub average_order_value: Option<i64>,
    /// Commission (net) ÷ clicks, minor units.
    pub earnings_per_click: Option<i64>,
    /// Revenue ÷ commission (net), in hundredths (1250 = 12.50×).
    pub roas_hundredths: Option<i64>,
}

fn ratio(numerator: i64, denominator: i64, scale: i64) -> Option<i64> {
    if denominator <= 0 {
        return None;
    }
    let exact = i128::from(numerator).checked_mul(i128::from(scale))?;
    i64::try_from(div_round_half_even(exact, i128::from(denominator))).ok()
}

impl Figures {
    pub fn of(c: &Counters) -> Self {
        let commission = c.commission().unwrap_or(0);
        Self {
            conversion_rate_bps: ratio(c.sales, c.unique_clicks, 10_000),
            average_order_value: ratio(c.revenue, c.sales, 1),
            earnings_per_click: ratio(commission, c.clicks, 1),
            roas_hundredths: ratio(c.revenue, commission, 100),
        }
    }
}

#[cfg(test)]
mod tests;
