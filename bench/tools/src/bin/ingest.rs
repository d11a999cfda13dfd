//! The load generator and report of `scripts/bench-ingest`:
//!
//!   bench-ingest LINKLEDGER_BIN BARE302_BIN FIXTURE BENCHMARKS_MD COMMAND_LINE
//!
//! 1. A fresh SQLite file; an admin key from `linkledger keys create`; `linkledger serve
//!    --no-worker` (so the webhook figure is the webhooks alone); a program with a Shopify
//!    secret, a creator and her promo code through the API; `bare302` (reads each POST body and
//!    answers 200) as the baseline.
//! 2. ROUNDS interleaved rounds (bare, ours, ...) of DURATION seconds at CONNECTIONS keep-alive
//!    connections, each request a **unique** Shopify `orders/paid` delivery (the documented
//!    fixture, 8 KB, new order id and webhook id, signed with the program's secret).
//! 3. The server is stopped; `linkledger work --until-empty` books everything queued; every
//!    delivery answered 200 must have been booked (nothing accepted is lost).
//! 4. Figures printed and written to the `## Ingest` section of BENCHMARKS.md.
//!
//! Environment: ROUNDS (3), DURATION (5, seconds), CONNECTIONS (64), WARMUP (2, seconds).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use bench_tools::write_section;
use linkledger_core::signature::sign_body_base64;

type AnyError = Box<dyn std::error::Error + Send + Sync>;

const SECRET: &str = "shpss_bench_secret_0123456789";
/// Stands for the order id in the body template.
const ORDER_MARK: &str = "987654321987654321";

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> Result<u16, AnyError> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// One keep-alive HTTP/1.1 connection that sends a request and reads the whole answer.
struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    async fn open(port: u16) -> Result<Self, AnyError> {
        let stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            reader: BufReader::new(stream),
        })
    }

    async fn request(&mut self, head: &str, body: &[u8]) -> Result<(u16, Vec<u8>), AnyError> {
        let stream = self.reader.get_mut();
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body).await?;
        let mut line = String::new();
        self.reader.read_line(&mut line).await?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or("bad status line")?;
        let mut length = 0usize;
        loop {
            line.clear();
            self.reader.read_line(&mut line).await?;
            if line == "\r\n" || line.is_empty() {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse()?;
            }
        }
        let mut answer = vec![0u8; length];
        self.reader.read_exact(&mut answer).await?;
        Ok((status, answer))
    }
}

fn post_head(path: &str, headers: &[(&str, String)], length: usize) -> String {
    let mut head =
        format!("POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {length}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head
}

async fn call(
    port: u16,
    method: &str,
    path: &str,
    key: &str,
    body: &str,
) -> Result<serde_json::Value, AnyError> {
    let mut conn = Conn::open(port).await?;
    let head = post_head(
        path,
        &[
            ("authorization", format!("Bearer {key}")),
            ("content-type", "application/json".into()),
        ],
        body.len(),
    )
    .replacen("POST", method, 1);
    let (status, answer) = conn.request(&head, body.as_bytes()).await?;
    if !(200..300).contains(&status) {
        return Err(format!(
            "{method} {path}: {status} {}",
            String::from_utf8_lossy(&answer)
        )
        .into());
    }
    Ok(serde_json::from_slice(&answer)?)
}

struct Deliveries {
    pre: String,
    post: String,
    next: AtomicU64,
    path: String,
}

impl Deliveries {
    /// A unique signed `orders/paid` delivery: (head, body).
    fn next(&self) -> (String, Vec<u8>) {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let body = format!("{}{}{}", self.pre, 5_000_000_000_000 + n, self.post).into_bytes();
        let headers = [
            ("content-type", "application/json".to_string()),
            ("x-shopify-topic", "orders/paid".to_string()),
            (
                "x-shopify-hmac-sha256",
                sign_body_base64(SECRET.as_bytes(), &body),
            ),
            ("x-shopify-webhook-id", format!("bench-{n}")),
        ];
        (post_head(&self.path, &headers, body.len()), body)
    }
}

#[derive(Clone, Debug, Default)]
struct Run {
    requests: u64,
    ok: u64,
    seconds: f64,
    latencies_us: Vec<u64>,
}

impl Run {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.seconds.max(1e-9)
    }
    fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.latencies_us.clone();
        sorted.sort_unstable();
        if sorted.is_empty() {
            return 0.0;
        }
        let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[at] as f64 / 1000.0
    }
}

async fn load(
    port: u16,
    deliveries: Arc<Deliveries>,
    connections: u64,
    seconds: u64,
) -> Result<Run, AnyError> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let deliveries = deliveries.clone();
        tasks.push(tokio::spawn(async move {
            let mut run = Run::default();
            let mut conn = Conn::open(port).await?;
            while Instant::now() < deadline {
                let (head, body) = deliveries.next();
                let sent = Instant::now();
                let (status, _) = conn.request(&head, &body).await?;
                run.latencies_us.push(sent.elapsed().as_micros() as u64);
                run.requests += 1;
                if status == 200 {
                    run.ok += 1;
                }
            }
            Ok::<Run, AnyError>(run)
        }));
    }
    let mut total = Run::default();
    for task in tasks {
        let run = task.await??;
        total.requests += run.requests;
        total.ok += run.ok;
        total.latencies_us.extend(run.latencies_us);
    }
    total.seconds = started.elapsed().as_secs_f64();
    Ok(total)
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

async fn wait_health(port: u16) -> Result<(), AnyError> {
    for _ in 0..300 {
        if let Ok(mut conn) = Conn::open(port).await {
            let head = "GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n";
            if let Ok((200, _)) = conn.request(head, b"").await {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("the server did not become healthy".into())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// One linkledger under test: its own database and server, and the deliveries signed for its
/// program.
struct Instance {
    bin: String,
    db: String,
    server: Option<Server>,
    port: u16,
    deliveries: Arc<Deliveries>,
    accepted: u64,
    runs: Vec<Run>,
    ratios: Vec<f64>,
}

fn quiet(cmd: &mut Command) -> &mut Command {
    cmd.env("RUST_LOG", "warn")
        .env("LINKLEDGER_LOG_FORMAT", "json")
}

/// What `linkledger work --until-empty` printed: conversions booked and seconds taken.
struct Booked {
    booked: u64,
    seconds: f64,
}

impl Booked {
    fn rate(&self) -> f64 {
        self.booked as f64 / self.seconds.max(1e-9)
    }
}

impl Instance {
    /// A fresh database, an admin key, `serve --no-worker`, and through the API a program with a
    /// Shopify secret, a creator and her promo code; the documented fixture attributed by that
    /// promo code, with a unique order id per request.
    async fn start(bin: &str, db: PathBuf, fixture: &str) -> Result<Self, AnyError> {
        let db = db.to_string_lossy().to_string();
        let out = quiet(&mut Command::new(bin))
            .args(["--db", &db, "keys", "create", "--role", "admin"])
            .output()?;
        let key = String::from_utf8(out.stdout)?.trim().to_string();
        let port = free_port()?;
        let server = Server(
            quiet(&mut Command::new(bin))
                .args([
                    "--db",
                    &db,
                    "serve",
                    "--no-worker",
                    "--addr",
                    &format!("127.0.0.1:{port}"),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?,
        );
        wait_health(port).await?;
        let program = call(port, "POST", "/api/programs", &key,
            r#"{"name":"Bench","currency":"USD","allowed_domains":["brand.com"],"plan":{"sale":{"rate_bps":1000}}}"#).await?;
        let program = program["id"].as_str().ok_or("program id")?.to_string();
        let creator = call(
            port,
            "POST",
            "/api/creators",
            &key,
            r#"{"name":"Anna","payout_email":"anna@example.com"}"#,
        )
        .await?;
        let creator = creator["id"].as_str().ok_or("creator id")?.to_string();
        call(
            port,
            "POST",
            &format!("/api/programs/{program}/enrolments"),
            &key,
            &format!(r#"{{"creator_id":"{creator}"}}"#),
        )
        .await?;
        call(
            port,
            "POST",
            &format!("/api/programs/{program}/promo-codes"),
            &key,
            &format!(r#"{{"code":"ANNA10","creator_id":"{creator}"}}"#),
        )
        .await?;
        call(
            port,
            "PUT",
            &format!("/api/programs/{program}/webhook-secrets/shopify"),
            &key,
            &format!(r#"{{"secret":"{SECRET}"}}"#),
        )
        .await?;

        let mut order: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(fixture)?.replace("PLACEHOLDER_CLICK_ID", "none"),
        )?;
        order["id"] = serde_json::json!(ORDER_MARK.parse::<u64>()?);
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)?;
        order["processed_at"] = serde_json::json!(now);
        let template = order.to_string();
        let (pre, post) = template.split_once(ORDER_MARK).ok_or("order id mark")?;
        Ok(Self {
            bin: bin.to_string(),
            db,
            server: Some(server),
            port,
            deliveries: Arc::new(Deliveries {
                pre: pre.to_string(),
                post: post.to_string(),
                next: AtomicU64::new(0),
                path: format!("/webhooks/shopify/{program}"),
            }),
            accepted: 0,
            runs: Vec::new(),
            ratios: Vec::new(),
        })
    }

    fn body_bytes(&self) -> usize {
        self.deliveries.next().1.len()
    }

    /// One round (or the warm-up when `bare` is `None`); every delivery must be answered 200.
    async fn round(
        &mut self,
        connections: u64,
        seconds: u64,
        bare: Option<&Run>,
    ) -> Result<Run, AnyError> {
        let run = load(self.port, self.deliveries.clone(), connections, seconds).await?;
        self.accepted += run.ok;
        if run.ok != run.requests {
            return Err(format!(
                "{}: {} of {} deliveries were not answered 200",
                self.bin,
                run.requests - run.ok,
                run.requests
            )
            .into());
        }
        if let Some(bare) = bare {
            self.ratios.push(run.rps() / bare.rps());
            self.runs.push(run.clone());
        }
        Ok(run)
    }

    /// Stops the server, books everything queued with `work --until-empty` (and `--consumers`
    /// when given), and checks that every delivery answered 200 was booked.
    fn book(&mut self, consumers: Option<&str>) -> Result<Booked, AnyError> {
        self.server = None;
        let mut args = vec!["--db", &self.db, "work", "--until-empty"];
        if let Some(consumers) = consumers {
            args.extend(["--consumers", consumers]);
        }
        let out = quiet(&mut Command::new(&self.bin)).args(args).output()?;
        let output = String::from_utf8(out.stdout)?;
        // Logs share stdout; the summary is the line that starts with "booked".
        let summary = output
            .lines()
            .find(|l| l.starts_with("booked "))
            .unwrap_or("")
            .to_string();
        let field = |n: usize| summary.split_whitespace().nth(n);
        let booked: u64 = field(1).and_then(|n| n.parse().ok()).ok_or_else(|| {
            format!(
                "work summary: {summary:?} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
        let seconds: f64 = field(4)
            .and_then(|n| n.parse().ok())
            .ok_or("work seconds")?;
        eprintln!("{}: {}", self.bin, summary.trim());
        if booked != self.accepted {
            return Err(format!(
                "{}: {} deliveries were accepted but {booked} booked",
                self.bin, self.accepted
            )
            .into());
        }
        Ok(Booked { booked, seconds })
    }

    fn median_rps(&self) -> f64 {
        median(self.runs.iter().map(Run::rps).collect())
    }

    fn median_p99(&self) -> f64 {
        median(self.runs.iter().map(|r| r.percentile(0.99)).collect())
    }
}

fn row(round: u64, server: &str, run: &Run) -> String {
    format!(
        "| {round} | {server} | {:.0} | {:.2} | {:.2} | {} |",
        run.rps(),
        run.percentile(0.5),
        run.percentile(0.99),
        run.requests
    )
}

fn list(values: &[f64]) -> String {
    values
        .iter()
        .map(|r| format!("{r:.3}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::main]
async fn main() -> Result<(), AnyError> {
    let args: Vec<String> = std::env::args().collect();
    let (linkledger, bare, fixture, benchmarks, command, baseline) = match args.as_slice() {
        [_, l, b, f, m, c] => (l, b, f, m, c, None),
        [_, l, b, f, m, c, base, rev] => (l, b, f, m, c, Some((base, rev))),
        _ => {
            return Err(
                "usage: bench-ingest LINKLEDGER_BIN BARE302_BIN FIXTURE BENCHMARKS_MD \
                        COMMAND_LINE [BASELINE_LINKLEDGER_BIN BASELINE_REV]"
                    .into(),
            )
        }
    };
    let rounds = env_u64("ROUNDS", 3).max(1);
    let duration = env_u64("DURATION", 5).max(1);
    let connections = env_u64("CONNECTIONS", 64).max(1);
    let warmup = env_u64("WARMUP", 2);
    let consumers = std::env::var("BOOK_CONSUMERS").unwrap_or_else(|_| "16".into());

    let tmp: PathBuf = std::env::temp_dir().join(format!("bench-ingest-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let mut ours = Instance::start(linkledger, tmp.join("bench.db"), fixture).await?;
    let mut before = match baseline {
        Some((bin, _)) => Some(Instance::start(bin, tmp.join("baseline.db"), fixture).await?),
        None => None,
    };
    let body_bytes = ours.body_bytes();

    let bare_port = free_port()?;
    let _bare = Server(
        Command::new(bare)
            .arg(format!("127.0.0.1:{bare_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    wait_for_port(bare_port).await?;

    if warmup > 0 {
        load(bare_port, ours.deliveries.clone(), connections, warmup).await?;
        ours.round(connections, warmup, None).await?;
        if let Some(before) = before.as_mut() {
            before.round(connections, warmup, None).await?;
        }
    }
    let mut rows = Vec::new();
    for round in 1..=rounds {
        let b = load(bare_port, ours.deliveries.clone(), connections, duration).await?;
        rows.push(row(round, "bare302", &b));
        let o = ours.round(connections, duration, Some(&b)).await?;
        rows.push(row(round, "linkledger", &o));
        let mut line = format!(
            "round {round}: bare {:.0}/s, linkledger {:.0}/s",
            b.rps(),
            o.rps()
        );
        if let Some(before) = before.as_mut() {
            let p = before.round(connections, duration, Some(&b)).await?;
            rows.push(row(round, "baseline", &p));
            line.push_str(&format!(", baseline {:.0}/s", p.rps()));
        }
        eprintln!("{line}");
    }

    // Book everything each server accepted, ours first (the larger database).
    let booked = ours.book(Some(&consumers))?;
    let booked_before = match before.as_mut() {
        Some(before) => Some(before.book(None)?),
        None => None,
    };

    let ours_rps = ours.median_rps();
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let at = time::OffsetDateTime::now_utc();
    let date = format!("{} {:02}:{:02}", at.date(), at.hour(), at.minute());
    let baseline_lines = match (&before, &booked_before, baseline) {
        (Some(before), Some(b), Some((_, rev))) => format!(
            "- Baseline: `linkledger` built from commit {rev} (main before issue 11), the same \
             rounds interleaved (bare, ours, baseline); its webhooks: median **{:.0}/s**, ratio to \
             bare302 per round: {}; **median ratio {:.3}**\n\
             - Baseline booking (its own `work --until-empty`): {} conversions in {:.2} s = \
             {:.0}/s; **ours / baseline = {:.2}×**\n",
            before.median_rps(),
            list(&before.ratios),
            median(before.ratios.clone()),
            b.booked,
            b.seconds,
            b.rate(),
            booked.rate() / b.rate().max(1e-9),
        ),
        _ => String::new(),
    };
    let section = format!(
        "## Ingest\n\n\
Written by `scripts/bench-ingest` on {date} UTC; rerunning it rewrites this section only.\n\n\
Signed Shopify `orders/paid` webhooks (the documented fixture, {body_bytes} bytes, each request a new order\n\
and delivery id, HMAC-SHA256 signed) POSTed to `linkledger serve --no-worker` (SQLite, the event\n\
verified, normalized and committed to the queue table before the 200) and to `bare302` (reads the\n\
body, answers 200), in interleaved rounds, by the same in-process load generator\n\
(`bench/ingest`, {connections} keep-alive connections, {duration} s per round, after {warmup} s of warm-up each), on\n\
127.0.0.1; logs at `warn`. Then `linkledger work --until-empty --consumers {consumers}` books everything queued.\n\n\
- Machine: {cpus} CPUs; load generator, server and worker on the same machine\n\
- Command: `{command}`\n\n\
| Round | Server | Requests/s | p50 ms | p99 ms | Requests |\n|---:|---|---:|---:|---:|---:|\n{rows}\n\n\
- Webhooks accepted: median **{ours_rps:.0}/s**, p99 {ours_p99:.2} ms; ratio to bare302 per round: {ratio_list}; **median ratio {ratio:.3}**\n\
- Booked by the worker: **{booked_n} conversions in {booking_seconds:.2} s = {booked_rate:.0}/s** (each: attribution by promo code, commission, conversion + delivery record + accrual in one transaction); {vs:.2}× the webhook acceptance rate\n\
- Every delivery answered 200 was booked: {accepted} accepted, {booked_n} booked\n\
{baseline_lines}\n\
Per booked conversion on the AWS adapters (counted by their operation counters against the\n\
emulator, asserted by `tests/tests/conversion_costs.rs`): the webhook costs **one SQS\n\
`SendMessage`** and no read while its program's terms are kept (two `GetItem`, program and\n\
secret, for the first delivery of a second per instance); the worker costs **one\n\
`TransactWriteItems`** and five or six `GetItem` (program, order dedupe, click, click use\n\
count, enrolment; the creator when the order carries an e-mail), plus its share of the\n\
batch's `ReceiveMessage`/`DeleteMessage`.\n",
        rows = rows.join("\n"),
        ours_p99 = ours.median_p99(),
        ratio_list = list(&ours.ratios),
        ratio = median(ours.ratios.clone()),
        booked_n = booked.booked,
        booking_seconds = booked.seconds,
        booked_rate = booked.rate(),
        accepted = ours.accepted,
        vs = booked.rate() / ours_rps.max(1e-9),
    );
    println!("{section}");
    write_section(Path::new(benchmarks), "## Ingest", &section)?;
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

async fn wait_for_port(port: u16) -> Result<(), AnyError> {
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err("the baseline did not start".into())
}
