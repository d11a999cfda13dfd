//! The stats benchmark of `scripts/bench-stats`:
//!
//!   bench-stats BENCHMARKS_MD COMMAND_LINE
//!
//! 1. **Keeping up.** A fresh SQLite file; WRITERS tasks record clicks through the store as fast
//!    as it takes them (faster than through HTTP: the redirect benchmark's click rate is a
//!    fraction of this) for DURATION seconds, over LINKS links, while
//!    the roll-up follows the change feed in the same process, as `linkledger serve` runs it.
//!    VISITORS (1: the redirect benchmark's wrk is one visitor) visitors click at random.
//!    Sampled every second: clicks written, clicks counted, and the backlog (written − counted).
//!    Then how long the roll-up takes to drain what is left.
//! 2. **A 90-day query over CREATORS creators.** One click per creator per day for 90 days
//!    (rolled up), then the stats of the program by creator over the 90 days, against a plain
//!    indexed read of the same bucket items (one key range of the table, all pages, not decoded)
//!    in the same run, each timed REPEAT times (median).
//! 3. Figures written to the `## Stats` section of BENCHMARKS.md.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use time::{Duration, OffsetDateTime};

use bench_tools::{write_section, AnyError};
use linkledger_core::audit::{Actor, AuditEntry};
use linkledger_core::click::Click;
use linkledger_core::destination::Domain;
use linkledger_core::ids::{ClickId, CreatorId, LinkCode, ProgramId};
use linkledger_core::money::{Currency, Money};
use linkledger_core::program::{NewProgram, Program};
use linkledger_core::stats::{Dimension, Period};
use linkledger_sqlite::SqliteDb;
use linkledger_store::ports::{Index, Query, SkRange, Table};
use linkledger_store::stats::{Guard, RollUp, StatsQuery};
use linkledger_store::Store;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn program(store: &Store) -> Result<ProgramId, AnyError> {
    let usd = Currency::parse("USD")?;
    let now = OffsetDateTime::now_utc();
    let program = Program::create(
        NewProgram {
            name: "Bench".into(),
            currency: usd,
            allowed_domains: vec![Domain::parse("brand.com")?],
            click_param: None,
            attribution_window_days: None,
            holding_days: None,
            min_payout: Some(Money::parse_decimal("10.00", usd)?),
            precedence: None,
            plan: None,
            fallback_url: None,
            max_orders_per_click: None,
            time_zone: None,
        },
        now,
    )?;
    let actor = Actor::operator("bench");
    store
        .create_program(
            &program,
            &AuditEntry::new::<()>(now, &actor, "program.create", &program.id, None, None),
        )
        .await?;
    Ok(program.id)
}

fn click(
    program: &ProgramId,
    creator: &CreatorId,
    link: &LinkCode,
    visitor: u64,
    at_ms: i64,
) -> Click {
    Click {
        id: ClickId::generate(at_ms),
        link_code: link.clone(),
        program_id: program.clone(),
        creator_id: creator.clone(),
        at_ms,
        visitor: format!("{visitor:032x}"),
        bot: false,
        country: None,
        referrer_host: None,
    }
}

fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

struct KeepingUp {
    written: u64,
    seconds: f64,
    samples: Vec<(u64, u64)>,
    drain_seconds: f64,
    counted: u64,
}

/// Part 1: writers and (`with_roll_up`) the roll-up at the same time.
async fn keeping_up(
    writers: usize,
    seconds: u64,
    links: usize,
    visitors: u64,
    with_roll_up: bool,
) -> Result<KeepingUp, AnyError> {
    let tmp = std::env::temp_dir().join(format!(
        "bench-stats-{}-a{}",
        std::process::id(),
        u8::from(with_roll_up)
    ));
    std::fs::create_dir_all(&tmp)?;
    let db = SqliteDb::open(&tmp.join("bench.db"))?;
    let store = Store::new(Arc::new(db.table()));
    linkledger_wiring::stats::register(&store, &db).await?;
    let program = program(&store).await?;
    let creators: Vec<CreatorId> = (0..links).map(|_| CreatorId::generate()).collect();
    let codes: Vec<LinkCode> = (0..links)
        .map(|i| LinkCode::parse(&format!("bench{i:05}")))
        .collect::<Result<_, _>>()?;
    let written = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (store, program, creators, codes, written, stop) = (
            store.clone(),
            program.clone(),
            creators.clone(),
            codes.clone(),
            written.clone(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut n = w as u64;
            while !stop.load(Ordering::Relaxed) {
                n = n
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let link = (n >> 33) as usize % codes.len();
                let visitor = (n >> 13) % visitors;
                let c = click(&program, &creators[link], &codes[link], visitor, now_ms());
                let expires = OffsetDateTime::now_utc() + Duration::days(40);
                if store.record_click(&c, expires).await.is_ok() {
                    written.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let counted = Arc::new(AtomicU64::new(0));
    let roll_stop = Arc::new(AtomicBool::new(false));
    // The roll-up on a thread of its own, as `linkledger serve` runs it.
    let follower = {
        let (store, db, counted, roll_stop) = (
            store.clone(),
            db.clone(),
            counted.clone(),
            roll_stop.clone(),
        );
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let roll_up = RollUp::new(Guard::Cursor);
                while with_roll_up && !roll_stop.load(Ordering::Relaxed) {
                    // As `linkledger serve` follows the feed: passes while behind, a second's
                    // pause once caught up.
                    match linkledger_wiring::stats::roll_up_pass(&store, &db, &roll_up).await {
                        Ok(pass) => {
                            counted.fetch_add(pass.rolled.counted as u64, Ordering::Relaxed);
                            if pass.caught_up {
                                tokio::time::sleep(StdDuration::from_secs(1)).await;
                            }
                        }
                        Err(e) => {
                            eprintln!("roll-up failed: {e}");
                            tokio::time::sleep(StdDuration::from_secs(1)).await;
                        }
                    }
                }
            })
        })
    };
    let started = Instant::now();
    let mut samples = Vec::new();
    for _ in 0..seconds {
        tokio::time::sleep(StdDuration::from_secs(1)).await;
        let sample = (
            written.load(Ordering::Relaxed),
            counted.load(Ordering::Relaxed),
        );
        eprintln!(
            "written {}, counted {}, backlog {}",
            sample.0,
            sample.1,
            sample.0.saturating_sub(sample.1)
        );
        samples.push(sample);
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await?;
    }
    let run_seconds = started.elapsed().as_secs_f64();
    let total = written.load(Ordering::Relaxed);
    let drain = Instant::now();
    while with_roll_up
        && counted.load(Ordering::Relaxed) < total
        && drain.elapsed() < StdDuration::from_secs(600)
    {
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    let drain_seconds = drain.elapsed().as_secs_f64();
    roll_stop.store(true, Ordering::Relaxed);
    follower.join().map_err(|_| "the roll-up thread panicked")?;
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(KeepingUp {
        written: total,
        seconds: run_seconds,
        samples,
        drain_seconds,
        counted: counted.load(Ordering::Relaxed),
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

struct Query90 {
    clicks: usize,
    seed_seconds: f64,
    rows: usize,
    items: usize,
    stats_ms: f64,
    plain_ms: f64,
    day_ms: f64,
}

/// Part 2: a 90-day query over `creators` creators.
async fn query_90(creators: usize, repeat: usize) -> Result<Query90, AnyError> {
    let tmp = std::env::temp_dir().join(format!("bench-stats-{}-b", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let db = SqliteDb::open(&tmp.join("bench.db"))?;
    let table = Arc::new(db.table());
    let store = Store::new(table.clone());
    linkledger_wiring::stats::register(&store, &db).await?;
    let program = program(&store).await?;
    let today = OffsetDateTime::now_utc().date();
    let first = today - Duration::days(89);
    let started = Instant::now();
    let mut clicks = 0usize;
    for c in 0..creators {
        let creator = CreatorId::generate();
        let link = LinkCode::parse(&format!("crt{c:05}"))?;
        let writes = (0..90i64).map(|d| {
            let at = (first + Duration::days(d)).midnight().assume_utc() + Duration::hours(12);
            let at_ms = i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
            let click = click(&program, &creator, &link, c as u64, at_ms);
            let store = store.clone();
            async move {
                store
                    .record_click(&click, OffsetDateTime::now_utc() + Duration::days(40))
                    .await
            }
        });
        for result in futures_util::future::join_all(writes).await {
            result?;
        }
        clicks += 90;
    }
    let roll_up = RollUp::new(Guard::Cursor);
    linkledger_wiring::stats::roll_up_pending(&store, &db, &roll_up).await?;
    let seed_seconds = started.elapsed().as_secs_f64();
    eprintln!("seeded and rolled up {clicks} clicks in {seed_seconds:.1} s");

    let query = StatsQuery {
        program: program.clone(),
        dimension: Dimension::Creator,
        from: first,
        to: today,
        period: Period::Total,
        creator: None,
    };
    let by_day = StatsQuery {
        dimension: Dimension::Program,
        period: Period::Day,
        ..query.clone()
    };
    let plain = Query::new(
        Index::Primary,
        format!("STATS#{program}#creator"),
        SkRange::Between {
            from: first.to_string(),
            to: format!("{today}~"),
        },
    )
    .limit(500);
    let (mut stats_ms, mut plain_ms, mut day_ms) = (Vec::new(), Vec::new(), Vec::new());
    let (mut rows, mut items) = (0, 0);
    for _ in 0..repeat {
        let t = Instant::now();
        let mut after = None;
        let mut n = 0;
        loop {
            let page = table.query(&plain.clone().after(after)).await?;
            n += page.items.len();
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        plain_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        items = n;
        let t = Instant::now();
        rows = store.stats(&query).await?.len();
        stats_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        store.stats(&by_day).await?;
        day_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(Query90 {
        clicks,
        seed_seconds,
        rows,
        items,
        stats_ms: median(stats_ms),
        plain_ms: median(plain_ms),
        day_ms: median(day_ms),
    })
}

#[tokio::main]
async fn main() -> Result<(), AnyError> {
    let args: Vec<String> = std::env::args().collect();
    let [_, benchmarks, command] = args.as_slice() else {
        return Err("usage: bench-stats BENCHMARKS_MD COMMAND_LINE".into());
    };
    let writers = env_usize("WRITERS", 64).max(1);
    let seconds = env_usize("DURATION", 10).max(3) as u64;
    let links = env_usize("LINKS", 1000).max(1);
    let visitors = env_usize("VISITORS", 1).max(1) as u64;
    let creators = env_usize("CREATORS", 1000).max(1);
    let repeat = env_usize("REPEAT", 5).max(1);

    // The same writers alone first (on a database of their own): the click rate without the
    // roll-up, measured in the same run.
    let alone = keeping_up(writers, seconds, links, visitors, false).await?;
    let a = keeping_up(writers, seconds, links, visitors, true).await?;
    let alone_rate = alone.written as f64 / alone.seconds;
    let b = query_90(creators, repeat).await?;

    let rate = a.written as f64 / a.seconds;
    let third = a.samples.len() / 3;
    let backlog = |i: usize| a.samples.get(i).map_or(0, |(w, c)| w.saturating_sub(*c));
    let (early, late) = (backlog(third.max(1) - 1), backlog(a.samples.len() - 1));
    let max_backlog = a
        .samples
        .iter()
        .map(|(w, c)| w.saturating_sub(*c))
        .max()
        .unwrap_or(0);
    // Not growing: the backlog at the end is no more than a second of clicks above the one a
    // third of the way in.
    let keeps_up = late <= early + rate as u64;
    let samples = a
        .samples
        .iter()
        .map(|(w, c)| w.saturating_sub(*c).to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let now = OffsetDateTime::now_utc();
    let section = format!(
        "## Stats\n\n\
Written by `scripts/bench-stats` on {date} {hh:02}:{mm:02} UTC; rerunning it rewrites this section only.\n\n\
- Machine: {cpus} CPUs; writers, roll-up and queries in one process on one SQLite file\n\
- Command: `{command}`\n\n\
**The roll-up keeps up with the clicks.** {writers} tasks record clicks through the store as fast as it takes\n\
them (over {links} links, by {visitors} visitor(s) as in the redirect benchmark; no HTTP, so faster than its rate) for {secs:.0} s, while the\n\
roll-up follows the SQLite change feed in the same process, as `linkledger serve` runs it:\n\n\
- Clicks written: {written} in {secs:.1} s = **{rate:.0}/s**; counted by the roll-up meanwhile and after: {counted}\n\
- The same writers without the roll-up, just before (a database of their own): {alone_rate:.0}/s; **with the roll-up following: {cost:.2} of that rate**\n\
- Backlog (written − counted) each second: {samples}\n\
- Backlog a third of the way in {early}, at the end {late} (largest {max_backlog}); drained {drain:.1} s after the writers stopped\n\
- Verdict: {verdict}\n\n\
**A 90-day query over {creators} creators.** One click per creator per day for 90 days ({clicks} clicks, seeded and\n\
rolled up in {seed:.1} s), then `GET /api/stats?group_by=creator` over the 90 days (the store's `stats`: {items}\n\
bucket items read, decoded and summed into {rows} rows) against a plain indexed read of the same items (one\n\
key range, every page, not decoded) in the same run, median of {repeat}:\n\n\
| query | median ms | ratio to the plain read |\n|---|---:|---:|\n\
| plain indexed read of the {items} bucket items | {plain:.1} | 1.00 |\n\
| stats by creator, 90 days ({rows} rows) | {stats:.1} | {ratio:.2} |\n\
| stats of the program by day, 90 days (90 rows) | {day:.1} | {day_ratio:.3} |\n",
        date = now.date(),
        hh = now.hour(),
        mm = now.minute(),
        written = a.written,
        cost = rate / alone_rate.max(1e-9),
        secs = a.seconds,
        counted = a.counted,
        drain = a.drain_seconds,
        verdict = if keeps_up {
            "PASS: the backlog does not grow"
        } else {
            "FAIL: the backlog grows"
        },
        clicks = b.clicks,
        seed = b.seed_seconds,
        items = b.items,
        rows = b.rows,
        plain = b.plain_ms,
        stats = b.stats_ms,
        ratio = b.stats_ms / b.plain_ms.max(1e-9),
        day = b.day_ms,
        day_ratio = b.day_ms / b.plain_ms.max(1e-9),
    );
    write_section(std::path::Path::new(benchmarks), "## Stats", &section)?;
    println!("{section}");
    Ok(())
}
