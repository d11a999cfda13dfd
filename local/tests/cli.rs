//! The `linkledger` binary as a user runs it: `--help`, `keys create` on both backends, and
//! `serve --demo` with its printed walkthrough pasted into a shell.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test may unwrap

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use linkledger_aws::{create_table, sdk_config, DynamoTable};
use linkledger_core::api_key::Role;
use linkledger_sqlite::SqliteDb;
use linkledger_store::Store;

mod common;
use common::linkledger;

fn temp_db(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!(
        "linkledger-cli-{tag}-{}-{nanos}.db",
        std::process::id()
    ))
}

/// Runs `keys create`, which must succeed, and returns the key it printed.
fn printed_key(command: &mut Command) -> String {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn every_command_has_help() {
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["keys", "--help"],
        &["keys", "create", "--help"],
        &["settle", "--help"],
        &["work", "--help"],
    ] {
        let out = linkledger().args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}

#[tokio::test]
async fn keys_create_bootstraps_an_admin_key_on_sqlite() {
    let db = temp_db("keys");
    let mut command = linkledger();
    command.args([
        "--db",
        db.to_str().unwrap(),
        "keys",
        "create",
        "--role",
        "admin",
    ]);
    let key = printed_key(&mut command);
    assert!(key.starts_with("llk_"));

    let store = Store::new(std::sync::Arc::new(SqliteDb::open(&db).unwrap().table()));
    let stored = store
        .api_key_by_secret(&key)
        .await
        .unwrap()
        .expect("the key is stored");
    assert_eq!(stored.role, Role::Admin);
    let raw = std::fs::read(&db).unwrap();
    assert!(
        !raw.windows(key.len()).any(|w| w == key.as_bytes()),
        "only the hash is stored"
    );
}

#[tokio::test]
async fn keys_create_bootstraps_an_admin_key_on_dynamodb() {
    if std::env::var("AWS_ENDPOINT_URL").is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true needs AWS_ENDPOINT_URL (moto_server)"
        );
        eprintln!("note: AWS_ENDPOINT_URL is not set, skipping");
        return;
    }
    let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    let table = format!(
        "cli-{}-{}",
        std::process::id(),
        linkledger_core::clock::unix_ms(time::OffsetDateTime::now_utc())
    );
    create_table(&client, &table).await.unwrap();

    let mut command = linkledger();
    command
        .env("LINKLEDGER_BACKEND", "aws")
        .env("LINKLEDGER_TABLE", &table)
        .args(["keys", "create", "--role", "finance", "--label", "books"]);
    let key = printed_key(&mut command);
    let store = Store::new(std::sync::Arc::new(DynamoTable::new(client, table)));
    assert_eq!(
        store.api_key_by_secret(&key).await.unwrap().unwrap().role,
        Role::Finance
    );
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `serve --demo` on a free port and returns the walkthrough it printed.
fn serve_demo(db: &std::path::Path) -> (Server, String) {
    let mut child = linkledger()
        .args([
            "--db",
            db.to_str().unwrap(),
            "serve",
            "--demo",
            "--addr",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut lines = BufReader::new(stdout).lines();
    while Instant::now() < deadline {
        match lines.next() {
            Some(Ok(line)) => {
                // The last line of the walkthrough (reading stops there: a line printed after
                // the test let go of the pipe would kill the server with a broken pipe).
                let done = line.contains("group_by=day&format=csv");
                text.push_str(&line);
                text.push('\n');
                if done {
                    break;
                }
            }
            _ => break,
        }
    }
    (server, text)
}

#[test]
fn serve_demo_prints_a_walkthrough_that_works_when_pasted() {
    let db = temp_db("demo");
    let (server, walkthrough) = serve_demo(&db);
    let script: Vec<&str> = walkthrough
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("export LL="))
        .collect();
    assert!(!script.is_empty(), "walkthrough printed:\n{walkthrough}");
    let out = Command::new("bash")
        .arg("-c")
        .arg(script.join("\n"))
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{printed}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(printed.contains(r#"{"status":"ok"}"#), "{printed}");
    assert!(
        printed.contains(
            "302 -> https://shop.example.com/serum?ref=ig&utm_source=instagram&ll_click="
        ),
        "{printed}"
    );
    assert!(
        printed.contains(r#""link_code":"anna10""#),
        "the click is listed: {printed}"
    );
    assert!(
        printed.contains(r#""code":"anna-mask""#),
        "a new link: {printed}"
    );
    assert!(
        printed.contains("invalid_destination"),
        "the trick is refused: {printed}"
    );
    assert!(printed.contains(r#""openapi""#), "{printed}");
    // The stats commands answer: by creator as JSON, the program by day as CSV.
    assert!(printed.contains(r#""group_by":"creator""#), "{printed}");
    assert!(
        printed.contains("key,period,clicks,unique_clicks"),
        "{printed}"
    );
    assert!(
        printed.contains(r#""queued""#),
        "the postback is accepted: {printed}"
    );
    assert!(
        printed.contains(r#""kind":"accrual""#) && printed.contains(r#""amount":"10.00""#),
        "the worker booked 10 % of 100.00: {printed}"
    );
    drop(server);

    // Seeding again on the same database is a no-op, and the old data is still there.
    let (_server, again) = serve_demo(&db);
    assert!(again.contains("export LL="), "second start:\n{again}");
}

#[test]
fn settle_runs_a_past_date_and_prints_its_summary_and_refuses_today() {
    let db = temp_db("settle");
    let yesterday = time::OffsetDateTime::now_utc()
        .date()
        .previous_day()
        .unwrap();
    let run = |date: &str| {
        linkledger()
            .args(["--db", db.to_str().unwrap(), "settle", "--date", date])
            .output()
            .unwrap()
    };
    let out = run(&yesterday.to_string());
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        printed.contains(&format!("settlement {yesterday} Completed")),
        "{printed}"
    );
    assert!(printed.contains("currency"), "the summary table: {printed}");
    // Again: the same completed run, nothing new.
    let again = run(&yesterday.to_string());
    assert!(again.status.success());
    let today = time::OffsetDateTime::now_utc().date().to_string();
    let refused = run(&today);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.starts_with("error: only a past date"), "{said}");
}

/// Finding 11 of issue 10: the CLI printed Rust's debug form (`Error: LaterRunExists(2026-11-30)`).
#[test]
fn settle_explains_its_errors_in_words_and_exits_non_zero() {
    let db = temp_db("settle-errors");
    let yesterday = time::OffsetDateTime::now_utc()
        .date()
        .previous_day()
        .unwrap();
    let run = |date: &str| {
        linkledger()
            .args(["--db", db.to_str().unwrap(), "settle", "--date", date])
            .output()
            .unwrap()
    };
    assert!(run(&yesterday.to_string()).status.success());
    let earlier = yesterday.previous_day().unwrap().to_string();
    for (date, expected) in [
        (
            earlier.as_str(),
            format!(
                "error: a later date ({yesterday}) has already been settled; dates settle in order"
            ),
        ),
        (
            "2026-13-01",
            "error: --date \"2026-13-01\" is not a date (YYYY-MM-DD)".to_string(),
        ),
        (
            "1999-12-31",
            "error: 1999-12-31 is before 2000-01-01".to_string(),
        ),
    ] {
        let out = run(date);
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{date}: {said}");
        assert!(said.starts_with(&expected), "{date}: {said}");
        assert!(
            !said.contains("Error:") && !said.contains("LaterRunExists"),
            "{said}"
        );
    }
}

/// `work --consumers` is bounded (1 to 256): outside, clap refuses it naming the option; inside,
/// an empty queue is drained at once.
#[test]
fn work_consumers_is_bounded() {
    let db = temp_db("work-consumers");
    let work = |n: &str| {
        linkledger()
            .args(["--db", db.to_str().unwrap(), "work", "--until-empty"])
            .arg(format!("--consumers={n}"))
            .output()
            .unwrap()
    };
    for n in ["0", "257", "-1", "many"] {
        let out = work(n);
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{n}: {said}");
        assert!(said.contains("--consumers"), "{n}: {said}");
    }
    let out = work("256");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("booked 0 events"));
}

/// Finding 11 of issue 10: `serve --demo` printed a key without saying it is the admin key.
#[test]
fn serve_demo_says_the_printed_key_is_the_admin_key_and_what_that_allows() {
    let db = temp_db("demo-admin");
    let (_server, walkthrough) = serve_demo(&db);
    let intro: String = walkthrough
        .lines()
        .take_while(|l| !l.trim_start().starts_with("export LL="))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(intro.contains("ADMIN key"), "{walkthrough}");
    assert!(intro.contains("can do everything"), "{intro}");
    assert!(intro.contains("shown only this once"), "{intro}");
    assert!(
        intro.contains("--role creator") && intro.contains("--role finance"),
        "how to mint a narrower key: {intro}"
    );
}

/// A demo server whose stdout nobody reads any more (the pipe closed before the walkthrough is
/// printed) goes on serving: the walkthrough is a courtesy, not a reason to stop.
#[test]
fn serve_demo_keeps_serving_when_its_stdout_is_closed() {
    let db = temp_db("demo-closed-stdout");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = linkledger()
        .args([
            "--db",
            db.to_str().unwrap(),
            "serve",
            "--demo",
            "--addr",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut healthy = 0;
    while Instant::now() < deadline && healthy < 3 {
        let answer = Command::new("curl")
            .args(["-s", &format!("http://127.0.0.1:{port}/health")])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&answer.stdout).contains(r#"{"status":"ok"}"#) {
            healthy += 1;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(healthy, 3, "the server stopped answering");
    drop(server);
}
