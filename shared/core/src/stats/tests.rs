//! The stats rules without a store: zones and days, contributions and their deltas, balances
//! split at the cutoff, rows by period and the derived figures. The property tests check against
//! a model built from the generated steps (sums of the entries themselves), never against the
//! code's own totals.

use proptest::prelude::*;
use time::macros::{date, datetime};
use time::Duration;

use super::*;
use crate::ids::EntryId;
use crate::money::{Currency, Money};

fn usd() -> Currency {
    Currency::parse("USD").unwrap()
}

fn program() -> ProgramId {
    ProgramId::parse("prg_demo000000000000000000").unwrap()
}

fn anna() -> CreatorId {
    CreatorId::parse("cre_anna000000000000000000").unwrap()
}

fn entry(kind: EntryKind, minor: i64, available_at: OffsetDateTime) -> LedgerEntry {
    LedgerEntry {
        id: EntryId::generate(0),
        creator_id: anna(),
        program_id: program(),
        kind,
        amount: Money::from_minor(minor, usd()),
        conversion_id: None,
        available_at,
        created_at: datetime!(2026-11-01 10:00 UTC),
        fx: None,
        note: None,
    }
}

#[test]
fn a_day_is_the_program_zone_day() {
    let berlin = Zone::parse("Europe/Berlin").unwrap();
    let la = Zone::parse("America/Los_Angeles").unwrap();
    let utc = Zone::utc();
    // 23:30 UTC on 30 November is already 1 December in Berlin, still 30 November in LA.
    let at = datetime!(2026-11-30 23:30 UTC);
    assert_eq!(utc.day_of(at), date!(2026 - 11 - 30));
    assert_eq!(berlin.day_of(at), date!(2026 - 12 - 01));
    assert_eq!(la.day_of(at), date!(2026 - 11 - 30));
    // 07:59 UTC is still the day before in LA (UTC-8 in winter), 08:00 is not.
    assert_eq!(
        la.day_of(datetime!(2026-12-01 07:59 UTC)),
        date!(2026 - 11 - 30)
    );
    assert_eq!(
        la.day_of(datetime!(2026-12-01 08:00 UTC)),
        date!(2026 - 12 - 01)
    );
    // Summer time: LA is UTC-7 in July.
    assert_eq!(
        la.day_of(datetime!(2026-07-02 06:59 UTC)),
        date!(2026 - 07 - 01)
    );
    assert_eq!(
        la.day_of(datetime!(2026-07-02 07:00 UTC)),
        date!(2026 - 07 - 02)
    );
}

#[test]
fn only_iana_names_are_zones() {
    for good in [
        "UTC",
        "Europe/Berlin",
        "America/Argentina/Buenos_Aires",
        "Etc/GMT+5",
    ] {
        assert_eq!(Zone::parse(good).unwrap().name(), good);
    }
    for bad in [
        "",
        "Mars/Olympus",
        "../../etc/passwd",
        "Europe/Berlin ",
        &"A".repeat(65),
    ] {
        assert_eq!(Zone::parse(bad), Err(ZoneError), "{bad:?}");
    }
}

#[test]
fn periods_are_labelled_as_documented() {
    let day = date!(2026 - 11 - 30); // a Monday of ISO week 49
    assert_eq!(Period::Total.label(day), None);
    assert_eq!(Period::Day.label(day).unwrap(), "2026-11-30");
    assert_eq!(Period::Week.label(day).unwrap(), "2026-W49");
    assert_eq!(Period::Month.label(day).unwrap(), "2026-11");
    // 1 January 2027 is a Friday: ISO week 53 of 2026.
    assert_eq!(
        Period::Week.label(date!(2027 - 01 - 01)).unwrap(),
        "2026-W53"
    );
}

#[test]
fn the_figures_round_once_half_to_even() {
    let c = Counters {
        clicks: 400,
        unique_clicks: 300,
        sales: 9,
        revenue: 100_000,
        accrued: 10_050,
        reversed: 50,
        ..Counters::default()
    };
    let f = Figures::of(&c);
    assert_eq!(f.conversion_rate_bps, Some(300)); // 9 / 300 = 3 %
    assert_eq!(f.average_order_value, Some(11_111)); // 11 111.1…
    assert_eq!(f.earnings_per_click, Some(25)); // 10 000 / 400
    assert_eq!(f.roas_hundredths, Some(1_000)); // 100 000 / 10 000 = 10.00×
                                                // Half to even: 5 / 2 = 2.5 → 2; 7 / 2 = 3.5 → 4.
    assert_eq!(ratio(5, 2, 1), Some(2));
    assert_eq!(ratio(7, 2, 1), Some(4));
    let empty = Figures::of(&Counters::default());
    assert_eq!(empty.conversion_rate_bps, None);
    assert_eq!(empty.roas_hundredths, None);
}

#[test]
fn a_payout_counts_in_the_balance_only() {
    let e = entry(EntryKind::Payout, -500, datetime!(2026-11-01 23:59 UTC));
    assert!(super::entry(&e, None, None, &Zone::utc())
        .unwrap()
        .is_empty());
    let mut balance = Balance::default();
    balance.apply(&e, 1).unwrap();
    assert_eq!(balance.paid, 500);
}

fn bucket(dimension: Dimension, key: &str, day: Date) -> Bucket {
    Bucket {
        program: program(),
        dimension,
        key: key.to_string(),
        creator: Some(anna()),
        day,
    }
}

fn arb_counters() -> impl Strategy<Value = Counters> {
    proptest::collection::vec(-1_000i64..1_000, 12).prop_map(|v| {
        let mut f = [0i64; 12];
        f.copy_from_slice(&v);
        Counters::from_fields(f)
    })
}

fn arb_contribution() -> impl Strategy<Value = Contribution> {
    proptest::collection::btree_map(
        (0usize..4, 0u8..3, 0i64..3).prop_map(|(d, k, day)| {
            bucket(
                Dimension::ALL[d],
                &format!("k{k}"),
                date!(2026 - 11 - 01) + Duration::days(day),
            )
        }),
        arb_counters(),
        0..6,
    )
}

proptest! {
    /// What was counted plus the delta is what counts now, bucket by bucket.
    #[test]
    fn old_plus_delta_is_new(old in arb_contribution(), new in arb_contribution()) {
        let d = delta(&old, &new).unwrap();
        let mut buckets: Vec<&Bucket> = old.keys().chain(new.keys()).collect();
        buckets.sort();
        buckets.dedup();
        for b in buckets {
            let before = old.get(b).copied().unwrap_or_default();
            let change = d.get(b).copied().unwrap_or_default();
            let want = new.get(b).copied().unwrap_or_default();
            prop_assert_eq!(before.checked_add(&change).unwrap(), want);
            if let Some(change) = d.get(b) {
                prop_assert!(!change.is_zero(), "a zero change is left out");
            }
        }
    }

    /// Pending, payable and paid at any moment equal the sums of the entries themselves: an
    /// entry is payable once the settlement of its available date has run (that date is today or
    /// before), payouts are paid and payable's negative; folding old dates changes nothing.
    #[test]
    fn a_balance_splits_like_its_entries(
        steps in proptest::collection::vec((0u8..4, -5_000i64..5_000, 0i64..40, 0i64..3, any::<bool>()), 1..60),
    ) {
        let start = datetime!(2026-11-01 00:00 UTC);
        let mut balance = Balance::default();
        let mut entries: Vec<LedgerEntry> = Vec::new();
        let mut today = start;
        for (kind, amount, available_in, advance, fold) in steps {
            today += Duration::days(advance);
            let kind = [EntryKind::Accrual, EntryKind::Reversal, EntryKind::Adjustment, EntryKind::Payout][usize::from(kind)];
            let available_at = today + Duration::days(available_in) + Duration::hours(amount.rem_euclid(24));
            let e = entry(kind, amount, available_at);
            balance.apply(&e, 1).unwrap();
            entries.push(e);
            if fold {
                balance.fold_before(today.date()).unwrap();
            }
            for now in [today, today + Duration::hours(13), today + Duration::days(45)] {
                let day = now.date();
                let (mut pending, mut payable, mut paid) = (0i64, 0i64, 0i64);
                for e in &entries {
                    let m = e.amount.minor();
                    if e.kind == EntryKind::Payout {
                        paid -= m;
                        payable += m;
                    } else if e.available_at.date() > day {
                        pending += m;
                    } else {
                        payable += m;
                    }
                }
                prop_assert_eq!(balance.split(now).unwrap(), Split { pending, payable, paid });
            }
        }
    }

    /// Rows by period hold every bucket once: their sum is the buckets' sum, per key.
    #[test]
    fn rows_sum_their_buckets(
        cells in proptest::collection::vec((0u8..3, 0i64..120, arb_counters()), 0..40),
        period in prop_oneof![Just(Period::Total), Just(Period::Day), Just(Period::Week), Just(Period::Month)],
    ) {
        let first = date!(2026 - 10 - 01);
        let input: Vec<(String, Date, Counters)> = cells
            .iter()
            .map(|(k, d, c)| (format!("k{k}"), first + Duration::days(*d), *c))
            .collect();
        let out = rows(input.clone(), period).unwrap();
        for key in ["k0", "k1", "k2"] {
            let want = input.iter().filter(|(k, _, _)| k == key)
                .fold(Counters::default(), |s, (_, _, c)| s.checked_add(c).unwrap());
            let got = out.iter().filter(|r| r.key == key)
                .fold(Counters::default(), |s, r| s.checked_add(&r.counters).unwrap());
            prop_assert_eq!(got, want);
        }
        for row in &out {
            prop_assert_eq!(row.period.is_none(), period == Period::Total);
        }
        let mut labels: Vec<(Option<String>, String)> = out.iter().map(|r| (r.period.clone(), r.key.clone())).collect();
        let before = labels.clone();
        labels.sort();
        labels.dedup();
        prop_assert_eq!(labels, before, "one row per period and key, in order");
    }
}
