//! The settlement benchmark of `scripts/bench-settle`:
//!
//!   bench-settle BENCHMARKS_MD COMMAND_LINE
//!
//! 1. A fresh SQLite file with one program (10.00 minimum payout), CREATORS creators and
//!    ENTRIES ledger entries spread over them (accruals of 1.00–5.00 over the last 60 days, one in
//!    ten reversed, one in ten still in its holding period), written through the store.
//! 2. `settlement::settle` of yesterday, timed: wall time, entries/s, creators/s.
//! 3. With `AWS_ENDPOINT_URL` set (moto, started by the script): the same on DynamoDB for a few
//!    creators, counting the adapter's reads and writes per settled creator.
//! 4. Figures written to the `## Settlement` section of BENCHMARKS.md.
//!
//! Environment: CREATORS (10000), ENTRIES (1000000), AWS_CREATORS (5).

use std::sync::Arc;
use std::time::Instant;

use futures_util::future::join_all;
use time::{Duration, OffsetDateTime};

use bench_tools::{write_section, AnyError};
use linkledger_aws::{create_table, sdk_config, DynamoTable};
use linkledger_core::audit::{Actor, AuditEntry};
use linkledger_core::creator::{Creator, NewCreator};
use linkledger_core::destination::Domain;
use linkledger_core::ledger::LedgerEntry;
use linkledger_core::money::{Currency, Money};
use linkledger_core::program::{NewProgram, Program};
use linkledger_sqlite::SqliteDb;
use linkledger_store::ports::{OpCounts, Table};
use linkledger_store::settlement::settle;
use linkledger_store::Store;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Seeds `creators` creators with `per_creator` entries each; returns the entry count.
async fn seed(store: &Store, creators: usize, per_creator: usize) -> Result<usize, AnyError> {
    let usd = Currency::parse("USD")?;
    let now = time::OffsetDateTime::now_utc();
    let actor = Actor::operator("bench");
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
    store
        .create_program(
            &program,
            &AuditEntry::new::<()>(now, &actor, "program.create", &program.id, None, None),
        )
        .await?;
    let mut seeded = 0usize;
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let ids: Vec<usize> = (0..creators).collect();
    for group in ids.chunks(32) {
        let mut work = Vec::new();
        for i in group {
            let creator = Creator::create(
                NewCreator {
                    name: format!("creator {i}"),
                    payout_email: format!("creator{i}@example.com"),
                },
                now,
            )?;
            let mut entries = Vec::with_capacity(per_creator);
            for n in 0..per_creator {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let cents = 100 + (rng % 400) as i64;
                let days_ago = (rng >> 20) % 60;
                // One in ten is still being held (available after the cutoff).
                let available = if n % 10 == 9 {
                    now + Duration::days(5)
                } else {
                    now - Duration::days(days_ago as i64 + 2)
                };
                // One in ten takes money back (a refund's reversal, as far as a run can tell).
                let entry = if n % 10 == 4 {
                    LedgerEntry::adjustment(
                        creator.id.clone(),
                        program.id.clone(),
                        Money::from_minor(-cents / 2, usd),
                        available,
                    )
                } else {
                    LedgerEntry::click_accrual(
                        creator.id.clone(),
                        program.id.clone(),
                        Money::from_minor(cents, usd),
                        available,
                        "seeded".into(),
                        now,
                    )
                };
                entries.push(entry);
            }
            seeded += entries.len();
            work.push((creator, entries));
        }
        let writes = work.iter().map(|(creator, entries)| {
            let actor = &actor;
            async move {
                store
                    .create_creator(
                        creator,
                        &AuditEntry::new::<()>(
                            now,
                            actor,
                            "creator.create",
                            &creator.id,
                            None,
                            None,
                        ),
                    )
                    .await?;
                for batch in entries.chunks(99) {
                    let audit =
                        AuditEntry::new::<()>(now, actor, "bench.seed", &creator.id, None, None);
                    store.append_entries(batch, &audit).await?;
                }
                Ok::<(), AnyError>(())
            }
        });
        for result in join_all(writes).await {
            result?;
        }
    }
    Ok(seeded)
}

#[tokio::main]
async fn main() -> Result<(), AnyError> {
    let args: Vec<String> = std::env::args().collect();
    let [_, benchmarks, command] = args.as_slice() else {
        return Err("usage: bench-settle BENCHMARKS_MD COMMAND_LINE".into());
    };
    let creators = env_usize("CREATORS", 10_000).max(1);
    let entries = env_usize("ENTRIES", 1_000_000).max(creators);
    let per_creator = entries / creators;

    let tmp = std::env::temp_dir().join(format!("bench-settle-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let db = SqliteDb::open(&tmp.join("bench.db"))?;
    let store = Store::new(Arc::new(db.table()));
    let started = Instant::now();
    let seeded = seed(&store, creators, per_creator).await?;
    let seed_seconds = started.elapsed().as_secs_f64();
    eprintln!("seeded {seeded} entries over {creators} creators in {seed_seconds:.1} s");

    let date = linkledger_core::clock::Clock::yesterday(&linkledger_core::clock::SystemClock);
    let started = Instant::now();
    let run = settle(&store, date, None, |p| {
        if p.creators % 2000 == 0 {
            eprintln!(
                "settling {date}: {} creators, {} payouts",
                p.creators, p.payouts
            );
        }
    })
    .await?;
    let seconds = started.elapsed().as_secs_f64();
    let paid = run
        .totals
        .first()
        .map(|t| (t.paid.to_decimal_string(), t.payouts, t.carried_lines))
        .unwrap_or_default();
    eprintln!("settled in {seconds:.1} s: {} lines, {paid:?}", run.lines);
    // A second run of the same date: nothing to do.
    let again = Instant::now();
    let rerun = settle(&store, date, None, |_| {}).await?;
    let rerun_seconds = again.elapsed().as_secs_f64();
    if rerun != run {
        return Err("the second run of the date changed the run".into());
    }

    let aws = match std::env::var("AWS_ENDPOINT_URL") {
        // The emulator is slow with many items: a few creators with short ledgers (one query
        // page each, as in production) show the per-creator cost.
        Ok(_) => Some(aws_costs(env_usize("AWS_CREATORS", 5), per_creator.min(20)).await?),
        Err(_) => None,
    };
    let aws_line = match aws {
        Some((n, ops)) => format!(
            "- DynamoDB (moto, the AWS adapter's operation counter): settling {n} creators of {} entries cost **{:.1} reads and {:.1} writes per settled creator** (reads: the creator's ledger query pages, its line and state `GetItem`s; writes: one `TransactWriteItems` per creator and currency, plus the run record's updates shared by all)",
            per_creator.min(20),
            ops.reads as f64 / n as f64,
            ops.writes as f64 / n as f64
        ),
        None => "- DynamoDB operation counts: not measured (run through `scripts/bench-settle`, which starts moto)".into(),
    };
    let at = OffsetDateTime::now_utc();
    let date_line = format!("{} {:02}:{:02}", at.date(), at.hour(), at.minute());
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let section = format!(
        "## Settlement\n\n\
Written by `scripts/bench-settle` on {date_line} UTC; rerunning it rewrites this section only.\n\n\
{seeded} ledger entries over {creators} creators (accruals of 1.00–5.00 spread over 60 days, one in\n\
ten a reversal, one in ten still held) in a fresh SQLite file, seeded through the store in\n\
{seed_seconds:.1} s; then `settlement::settle` of {date} (what `linkledger settle` and the nightly\n\
schedule run), in one process, {concurrency} creators at a time.\n\n\
- Machine: {cpus} CPUs\n- Command: `{command}`\n\n\
| run | wall time | entries/s | creators/s | lines | payouts | carried |\n|---|---:|---:|---:|---:|---:|---:|\n\
| first | {seconds:.1} s | {eps:.0} | {cps:.0} | {lines} | {payouts} | {carried} |\n\
| same date again | {rerun_seconds:.1} s | — | — | (unchanged) | 0 new | — |\n\n\
- Goal: under 60 s for 1,000,000 entries on this machine: **{verdict}**\n\
{aws_line}\n",
        concurrency = linkledger_store::settlement::CONCURRENCY,
        eps = seeded as f64 / seconds,
        cps = creators as f64 / seconds,
        lines = run.lines,
        payouts = paid.1,
        carried = paid.2,
        verdict = match (seeded >= 1_000_000, seconds < 60.0) {
            (false, _) => format!("not measured at this size ({seeded} entries)"),
            (true, true) => format!("met ({seconds:.1} s)"),
            (true, false) => format!("missed ({seconds:.1} s)"),
        },
    );
    println!("{section}");
    write_section(std::path::Path::new(benchmarks), "## Settlement", &section)?;
    drop(db);
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

/// Settles `n` seeded creators on DynamoDB (the emulator) and returns the table operations the
/// run made.
async fn aws_costs(n: usize, per_creator: usize) -> Result<(usize, OpCounts), AnyError> {
    let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    let name = format!("bench-settle-{}", std::process::id());
    create_table(&client, &name).await?;
    let table = Arc::new(DynamoTable::new(client, name));
    let store = Store::new(table.clone() as Arc<dyn Table>);
    seed(&store, n, per_creator).await?;
    let before = table.op_counts();
    settle(
        &store,
        linkledger_core::clock::Clock::yesterday(&linkledger_core::clock::SystemClock),
        None,
        |_| {},
    )
    .await?;
    let after = table.op_counts();
    Ok((
        n,
        OpCounts {
            reads: after.reads - before.reads,
            writes: after.writes - before.writes,
        },
    ))
}
