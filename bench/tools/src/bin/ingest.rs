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

#[tokio::main]
async fn main() -> Result<(), AnyError> {
    let args: Vec<String> = std::env::args().collect();
    let [_, linkledger, bare, fixture, benchmarks, command] = args.as_slice() else {
        return Err(
            "usage: bench-ingest LINKLEDGER_BIN BARE302_BIN FIXTURE BENCHMARKS_MD COMMAND_LINE"
                .into(),
        );
    };
    let rounds = env_u64("ROUNDS", 3).max(1);
    let duration = env_u64("DURATION", 5).max(1);
    let connections = env_u64("CONNECTIONS", 64).max(1);
    let warmup = env_u64("WARMUP", 2);

    let tmp: PathBuf = std::env::temp_dir().join(format!("bench-ingest-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let db = tmp.join("bench.db");
    let db_arg = db.to_string_lossy().to_string();
    let quiet = |cmd: &mut Command| {
        cmd.env("RUST_LOG", "warn")
            .env("LINKLEDGER_LOG_FORMAT", "json");
    };

    let mut keys = Command::new(linkledger);
    quiet(&mut keys);
    let out = keys
        .args(["--db", &db_arg, "keys", "create", "--role", "admin"])
        .output()?;
    let key = String::from_utf8(out.stdout)?.trim().to_string();

    let ours_port = free_port()?;
    let mut serve = Command::new(linkledger);
    quiet(&mut serve);
    let ours = Server(
        serve
            .args([
                "--db",
                &db_arg,
                "serve",
                "--no-worker",
                "--addr",
                &format!("127.0.0.1:{ours_port}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    wait_health(ours_port).await?;
    let program = call(ours_port, "POST", "/api/programs", &key,
        r#"{"name":"Bench","currency":"USD","allowed_domains":["brand.com"],"plan":{"sale":{"rate_bps":1000}}}"#).await?;
    let program = program["id"].as_str().ok_or("program id")?.to_string();
    let creator = call(
        ours_port,
        "POST",
        "/api/creators",
        &key,
        r#"{"name":"Anna","payout_email":"anna@example.com"}"#,
    )
    .await?;
    let creator = creator["id"].as_str().ok_or("creator id")?.to_string();
    call(
        ours_port,
        "POST",
        &format!("/api/programs/{program}/enrolments"),
        &key,
        &format!(r#"{{"creator_id":"{creator}"}}"#),
    )
    .await?;
    call(
        ours_port,
        "POST",
        &format!("/api/programs/{program}/promo-codes"),
        &key,
        &format!(r#"{{"code":"ANNA10","creator_id":"{creator}"}}"#),
    )
    .await?;
    call(
        ours_port,
        "PUT",
        &format!("/api/programs/{program}/webhook-secrets/shopify"),
        &key,
        &format!(r#"{{"secret":"{SECRET}"}}"#),
    )
    .await?;

    // The documented fixture, attributed by its promo code, with a unique order id per request.
    let mut order: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture)?.replace("PLACEHOLDER_CLICK_ID", "none"),
    )?;
    order["id"] = serde_json::json!(ORDER_MARK.parse::<u64>()?);
    let now =
        time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339)?;
    order["processed_at"] = serde_json::json!(now);
    let template = order.to_string();
    let (pre, post) = template.split_once(ORDER_MARK).ok_or("order id mark")?;
    let body_bytes = template.len();
    let deliveries = Arc::new(Deliveries {
        pre: pre.to_string(),
        post: post.to_string(),
        next: AtomicU64::new(0),
        path: format!("/webhooks/shopify/{program}"),
    });

    let bare_port = free_port()?;
    let _bare = Server(
        Command::new(bare)
            .arg(format!("127.0.0.1:{bare_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    wait_for_port(bare_port).await?;

    let mut accepted = 0u64;
    if warmup > 0 {
        load(bare_port, deliveries.clone(), connections, warmup).await?;
        accepted += load(ours_port, deliveries.clone(), connections, warmup)
            .await?
            .ok;
    }
    let mut rows = Vec::new();
    let mut ratios = Vec::new();
    let mut ours_runs = Vec::new();
    for round in 1..=rounds {
        let b = load(bare_port, deliveries.clone(), connections, duration).await?;
        let o = load(ours_port, deliveries.clone(), connections, duration).await?;
        accepted += o.ok;
        if o.ok != o.requests {
            return Err(format!(
                "round {round}: {} of {} deliveries were not answered 200",
                o.requests - o.ok,
                o.requests
            )
            .into());
        }
        eprintln!(
            "round {round}: bare {:.0}/s, linkledger {:.0}/s",
            b.rps(),
            o.rps()
        );
        ratios.push(o.rps() / b.rps());
        rows.push(format!(
            "| {round} | bare302 | {:.0} | {:.2} | {:.2} | {} |",
            b.rps(),
            b.percentile(0.5),
            b.percentile(0.99),
            b.requests
        ));
        rows.push(format!(
            "| {round} | linkledger | {:.0} | {:.2} | {:.2} | {} |",
            o.rps(),
            o.percentile(0.5),
            o.percentile(0.99),
            o.requests
        ));
        ours_runs.push(o);
    }
    drop(ours);

    // Book everything the webhooks accepted.
    let mut work = Command::new(linkledger);
    quiet(&mut work);
    let consumers = std::env::var("BOOK_CONSUMERS").unwrap_or_else(|_| "16".into());
    let out = work
        .args([
            "--db",
            &db_arg,
            "work",
            "--until-empty",
            "--consumers",
            &consumers,
        ])
        .output()?;
    let output = String::from_utf8(out.stdout)?;
    // Logs share stdout; the summary is the line that starts with "booked".
    let summary = output
        .lines()
        .find(|l| l.starts_with("booked "))
        .unwrap_or("")
        .to_string();
    let booked: u64 = summary
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            format!(
                "work summary: {summary:?} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    let booking_seconds: f64 = summary
        .split_whitespace()
        .nth(4)
        .and_then(|n| n.parse().ok())
        .ok_or("work seconds")?;
    let booked_rate = booked as f64 / booking_seconds.max(1e-9);
    eprintln!("{}", summary.trim());
    if booked != accepted {
        return Err(format!("{accepted} deliveries were accepted but {booked} booked").into());
    }

    let ours_rps = median(ours_runs.iter().map(Run::rps).collect());
    let ours_p99 = median(ours_runs.iter().map(|r| r.percentile(0.99)).collect());
    let ratio = median(ratios.clone());
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let at = time::OffsetDateTime::now_utc();
    let date = format!("{} {:02}:{:02}", at.date(), at.hour(), at.minute());
    let section = format!(
        "## Ingest\n\n\
Written by `scripts/bench-ingest` on {date} UTC; rerunning it rewrites this section only.\n\n\
Signed Shopify `orders/paid` webhooks (the documented fixture, {body_bytes} bytes, each request a new order\n\
and delivery id, HMAC-SHA256 signed) POSTed to `linkledger serve --no-worker` (SQLite, the event\n\
verified, normalized and committed to the queue table before the 200) and to `bare302` (reads the\n\
body, answers 200), in interleaved rounds, by the same in-process load generator\n\
(`bench/ingest`, {connections} keep-alive connections, {duration} s per round, after {warmup} s of warm-up each), on\n\
127.0.0.1; logs at `warn`. Then `linkledger work --until-empty` books everything queued.\n\n\
- Machine: {cpus} CPUs; load generator, server and worker on the same machine\n\
- Command: `{command}`\n\n\
| Round | Server | Requests/s | p50 ms | p99 ms | Requests |\n|---:|---|---:|---:|---:|---:|\n{rows}\n\n\
- Webhooks accepted: median **{ours_rps:.0}/s**, p99 {ours_p99:.2} ms; ratio to bare302 per round: {ratio_list}; **median ratio {ratio:.3}**\n\
- Booked by the worker: **{booked} conversions in {booking_seconds:.2} s = {booked_rate:.0}/s** (each: attribution by promo code, commission, conversion + delivery record + accrual in one transaction); {vs:.2}× the webhook acceptance rate\n\
- Every delivery answered 200 was booked: {accepted} accepted, {booked} booked\n\n\
Per booked conversion on the AWS adapters (counted by their operation counters against the\n\
emulator, asserted by `tests/tests/conversion_costs.rs`): the webhook costs **one SQS\n\
`SendMessage`** and two `GetItem` (program, secret); the worker costs **one\n\
`TransactWriteItems`** and six `GetItem` (program, order dedupe, click, click use count,\n\
enrolment, creator), plus its share of the batch's `ReceiveMessage`/`DeleteMessage`.\n",
        rows = rows.join("\n"),
        ratio_list = ratios.iter().map(|r| format!("{r:.3}")).collect::<Vec<_>>().join(", "),
        vs = booked_rate / ours_rps.max(1e-9),
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
