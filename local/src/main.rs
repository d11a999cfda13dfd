//! `linkledger`: the whole product in one process on embedded SQLite: the same routers the
//! Lambdas serve, plus the CLI (`serve`, `keys create`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use linkledger::demo;
use linkledger_api::{issue_key, NewApiKey};
use linkledger_core::api_key::Role;
use linkledger_core::audit::Actor;
use linkledger_core::click::VisitorKey;
use linkledger_core::ids::{random_token, CreatorId};
use linkledger_store::ports::ErrorChain;
use linkledger_wiring::config::{Backend, Backends, Config};
use linkledger_worker::ConsumerOptions;

/// mimalloc instead of glibc's allocator: requests are allocated on the async threads and
/// freed on the SQLite writer's (and back); glibc spent ~7 % of the redirect's CPU there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "linkledger",
    version,
    about = "Tracking links, conversions and commission for creator marketing"
)]
struct Cli {
    /// SQLite database file (sets LINKLEDGER_BACKEND=sqlite).
    #[arg(long, global = true, env = "LINKLEDGER_DB")]
    db: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the redirect, the webhooks and the API on one address, and run the conversions
    /// worker in the same process.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: SocketAddr,
        /// Seed a demo program, creator, link and promo code (idempotent) and print an admin key
        /// with a curl walkthrough.
        #[arg(long)]
        demo: bool,
        /// Do not run the conversions worker in this process (run `linkledger work` instead).
        #[arg(long)]
        no_worker: bool,
        /// When the nightly settlement of the previous UTC day runs (HH:MM, UTC).
        #[arg(long, default_value = "02:00")]
        settle_at: String,
        /// Do not run the nightly settlement in this process.
        #[arg(long)]
        no_settle: bool,
        /// Do not roll up the stats in this process (a database whose roll-up ran before keeps
        /// the changes until a `serve` with it counts them).
        #[arg(long)]
        no_stats: bool,
    },
    /// Settle one UTC date (on whichever backend the configuration names): pay every creator's
    /// available balance that reaches the minimum, carry the rest. Safe to run again.
    Settle {
        /// The date to settle, YYYY-MM-DD (default: yesterday, UTC).
        #[arg(long)]
        date: Option<String>,
    },
    /// Book queued conversion events (the worker on its own).
    Work {
        /// Stop once the queue has nothing visible, and print what was booked.
        #[arg(long)]
        until_empty: bool,
        /// Batches booked at the same time (1 to 256; see BENCHMARKS.md, "Ingest").
        #[arg(long, default_value_t = ConsumerOptions::default().consumers,
              value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u16).range(1..=256), usize::from))]
        consumers: usize,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Mint a key and print it (shown once; stored hashed) on the configured backend.
    Create {
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The creator a creator key is bound to.
        #[arg(long)]
        creator: Option<String>,
        #[arg(long)]
        label: Option<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Admin,
    Finance,
    Creator,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Admin => Role::Admin,
            RoleArg::Finance => Role::Finance,
            RoleArg::Creator => Role::Creator,
        }
    }
}

type AnyError = Box<dyn std::error::Error + Send + Sync>;

/// Errors reach the user as one readable line (`error: …`, the error's `Display` and its
/// sources', never its `Debug`) and a non-zero exit status.
#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", ErrorChain(err.as_ref()));
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), AnyError> {
    let mut config = Config::from_env()?;
    if let Some(path) = cli.db {
        config.backend = Backend::Sqlite { path };
    }
    linkledger_wiring::telemetry::init_tracing(config.log_format);
    let backends = Backends::connect(&config.backend).await?;

    match cli.command {
        Command::Keys {
            command:
                KeysCommand::Create {
                    role,
                    creator,
                    label,
                },
        } => {
            let creator_id = creator.map(|c| CreatorId::parse(&c)).transpose()?;
            let issued = issue_key(
                &backends.store,
                NewApiKey {
                    role: role.into(),
                    creator_id,
                    label,
                },
                &Actor::operator("cli"),
            )
            .await?;
            println!("{}", issued.key);
            eprintln!(
                "key id {} ({:?}); it is shown only this once",
                issued.record.id, issued.record.role
            );
            Ok(())
        }
        Command::Serve {
            addr,
            demo,
            no_worker,
            settle_at,
            no_settle,
            no_stats,
        } => {
            let settle_at = if no_settle {
                None
            } else {
                Some(
                    time::Time::parse(
                        &settle_at,
                        time::macros::format_description!("[hour]:[minute]"),
                    )
                    .map_err(|_| format!("--settle-at {settle_at:?} is not HH:MM"))?,
                )
            };
            let run = InProcess {
                worker: !no_worker,
                settle_at,
                stats: !no_stats,
            };
            serve(config, backends, addr, demo, run).await
        }
        Command::Work {
            until_empty,
            consumers,
        } => work(backends, until_empty, consumers).await,
        Command::Settle { date } => settle(backends, date).await,
    }
}

/// What `serve` runs beside the routers.
struct InProcess {
    worker: bool,
    settle_at: Option<time::Time>,
    stats: bool,
}

async fn serve(
    config: Config,
    backends: Backends,
    addr: SocketAddr,
    demo: bool,
    run: InProcess,
) -> Result<(), AnyError> {
    let InProcess {
        worker,
        settle_at,
        stats,
    } = run;
    let secret = match &config.click_hash_secret {
        Some(secret) => secret.expose().to_vec(),
        None => backends
            .store
            .setting_or_init("click_hash_secret", || random_token(32))
            .await?
            .into_bytes(),
    };
    let conversions = backends
        .conversions
        .clone()
        .ok_or("the conversions queue is not configured")?;
    // A bad rate setting stops `serve` here, with its reason.
    linkledger_api::limits::Limits::from_env()?;
    let app = linkledger::app(
        backends.store.clone(),
        conversions.clone(),
        backends.finance.clone(),
        VisitorKey::new(&secret),
        config.link_cache_ttl,
    );
    if let Some(at) = settle_at {
        tokio::spawn(nightly_settlement(backends.clone(), at));
    }
    // The worker runs in-process against the same queue the webhooks fill.
    if worker {
        tokio::spawn(linkledger_worker::run_consumer(
            backends.store.clone(),
            conversions,
            ConsumerOptions::default(),
        ));
    }

    // The stats roll-up's feed keeps every change from here on, before anything is served.
    if let (Some(db), true) = (&backends.sqlite, stats) {
        linkledger_wiring::stats::register(&backends.store, db).await?;
    }
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let base = format!("http://{}", listener.local_addr()?);
    if demo {
        demo::seed_and_print(&backends.store, &base).await?;
    }
    tracing::info!(%base, "linkledger serving");
    if let Backend::Sqlite { .. } = config.backend {
        tokio::spawn(purge_expired_hourly(backends.clone()));
    }
    // The stats roll-up follows the SQLite change feed (on AWS: the stats function on the
    // table's stream).
    if let (Some(db), true) = (backends.sqlite.clone(), stats) {
        linkledger_wiring::stats::spawn_follower(backends.store.clone(), db)?;
    }
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

/// Settles the previous UTC day every day at `at` (UTC), as the EventBridge schedule does on AWS.
async fn nightly_settlement(backends: Backends, at: time::Time) {
    loop {
        let now = backends.store.now();
        let next = linkledger::next_settlement(now, at);
        let wait = (next - now).try_into().unwrap_or(Duration::from_secs(60));
        tracing::info!(next = %next, "nightly settlement scheduled");
        tokio::time::sleep(wait).await;
        let date = backends.store.clock().yesterday();
        match linkledger_store::settlement::settle(
            &backends.store,
            date,
            backends.finance.as_deref(),
            |_| {},
        )
        .await
        {
            Ok(run) => tracing::info!(
                %date,
                lines = run.lines,
                failed_lines = run.failed_lines,
                "nightly settlement completed"
            ),
            Err(err) => {
                tracing::error!(%date, error = %ErrorChain(&err), "nightly settlement failed; run `linkledger settle` to resume")
            }
        }
    }
}

async fn settle(backends: Backends, date: Option<String>) -> Result<(), AnyError> {
    use std::io::{IsTerminal, Write};
    let date = match date {
        Some(text) => linkledger_core::parse_date(&text)
            .ok_or_else(|| format!("--date {text:?} is not a date (YYYY-MM-DD)"))?,
        None => backends.store.clock().yesterday(),
    };
    // Today, a future date or a date before the latest run are refused by the rules every
    // path shares (`settlement::begin`), with the same message as the API's.
    let terminal = std::io::stderr().is_terminal();
    let started = std::time::Instant::now();
    let run = linkledger_store::settlement::settle(
        &backends.store,
        date,
        backends.finance.as_deref(),
        |p| {
            if terminal {
                eprint!(
                    "\rsettling {date}: {} creators, {} payouts, {} carried, {} failed",
                    p.creators, p.payouts, p.carried, p.failed
                );
                let _ = std::io::stderr().flush();
            } else {
                eprintln!(
                    "settling {date}: {} creators, {} payouts, {} carried, {} failed",
                    p.creators, p.payouts, p.carried, p.failed
                );
            }
        },
    )
    .await?;
    if terminal {
        eprintln!();
    }
    println!(
        "settlement {} {:?} in {:.1} s: {} lines",
        run.date,
        run.status,
        started.elapsed().as_secs_f64(),
        run.lines
    );
    println!(
        "{:<8} {:>14} {:>8} {:>14} {:>8} {:>14} {:>6} {:>7}",
        "currency", "paid", "payouts", "carried", "carried#", "owed", "owed#", "failed#"
    );
    for t in &run.totals {
        println!(
            "{:<8} {:>14} {:>8} {:>14} {:>8} {:>14} {:>6} {:>7}",
            t.currency.to_string(),
            t.paid.to_decimal_string(),
            t.payouts,
            t.carried.to_decimal_string(),
            t.carried_lines,
            t.owed.to_decimal_string(),
            t.owed_lines,
            t.failed_lines
        );
    }
    if run.failed_lines > 0 {
        eprintln!(
            "warning: {} line(s) could not be settled and paid nothing; their reasons are in the \
             report (GET /api/settlements/{date}). Fix the cause and run `linkledger settle \
             --date {date}` again to retry them; the next date's run includes their balances \
             anyway.",
            run.failed_lines
        );
    }
    for failure in &run.rollup_failures {
        eprintln!(
            "warning: the click roll-up of program {} failed: {}",
            failure.program_id, failure.reason
        );
    }
    Ok(())
}

async fn work(backends: Backends, until_empty: bool, consumers: usize) -> Result<(), AnyError> {
    let conversions = backends
        .conversions
        .clone()
        .ok_or("the conversions queue is not configured")?;
    let options = ConsumerOptions {
        consumers,
        ..ConsumerOptions::default()
    };
    if !until_empty {
        linkledger_worker::run_consumer(backends.store.clone(), conversions, options).await;
        return Ok(());
    }
    let started = std::time::Instant::now();
    let drained = linkledger_worker::drain(&backends.store, conversions.as_ref(), &options).await?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "booked {} events in {seconds:.3} s ({:.0}/s); {} to retry later, {} unbookable",
        drained.done,
        drained.done as f64 / seconds.max(1e-9),
        drained.retried,
        drained.poisoned
    );
    Ok(())
}

/// DynamoDB's TTL deletes expired items in the cloud; locally this does.
async fn purge_expired_hourly(backends: Backends) {
    let Some(db) = backends.sqlite.clone() else {
        return;
    };
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        match db.purge_expired().await {
            Ok(n) if n > 0 => tracing::info!(purged = n, "expired items removed"),
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %ErrorChain(&err), "purging expired items failed"),
        }
    }
}
