//! The crash test (issue 10): `linkledger serve` killed with `kill -9` at random moments during
//! a storm of signed postbacks, restarted each time on the same database. Every delivery that
//! was answered 2xx is booked exactly once: one conversion per order id, one accrual per
//! conversion, whatever was in flight when the process died. Loopback only, bounded in time
//! (the last kill's in-flight messages come back after the worker's 60 s visibility timeout).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test may unwrap

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use rand::Rng;
use serde_json::{json, Value};
use sha2::Sha256;

mod common;
const KILLS: usize = 3;
const SENDERS: usize = 8;

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn linkledger(db: &Path) -> Command {
    let mut command = common::linkledger();
    command.env("RUST_LOG", "warn").arg("--db").arg(db);
    command
}

fn start(db: &Path, addr: SocketAddr) -> Child {
    let mut child = linkledger(db)
        .args(["serve", "--no-settle", "--addr", &addr.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("linkledger serve starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if matches!(call(addr, "GET", "/health", &[], b""), Ok((200, _))) {
            return child;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("linkledger serve did not answer /health within 30 s");
}

/// One HTTP/1.1 exchange on a fresh connection: the status and the body.
fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line"))?;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers"))?;
    Ok((status, answer[split + 4..].to_vec()))
}

fn api(addr: SocketAddr, key: &str, method: &str, path: &str, body: Value) -> Value {
    let body = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    let (status, answer) = call(
        addr,
        method,
        path,
        &[
            ("Authorization", format!("Bearer {key}")),
            ("Content-Type", "application/json".into()),
        ],
        &body,
    )
    .expect("the API answers");
    let json: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {json}"
    );
    json
}

fn all_pages(addr: SocketAddr, key: &str, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page_path = match &cursor {
            Some(c) => format!("{path}&cursor={c}"),
            None => path.to_string(),
        };
        let page = api(addr, key, "GET", &page_path, Value::Null);
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return items,
        }
    }
}

fn signed_postback(secret: &str, order: &str) -> (Vec<(&'static str, String)>, Vec<u8>) {
    let body = json!({
        "event": "sale", "order_id": order, "amount": "100.00", "currency": "USD",
        "coupon": "ANNA10"
    })
    .to_string()
    .into_bytes();
    let t = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(&body);
    let signature = hex::encode(mac.finalize().into_bytes());
    (
        vec![
            ("Content-Type", "application/json".into()),
            ("Linkledger-Signature", format!("t={t},v1={signature}")),
        ],
        body,
    )
}

/// Senders post new orders (and, now and then, one already answered) until `stop`; every order
/// answered 200 is recorded.
fn storm(
    addr: SocketAddr,
    program: &str,
    secret: &str,
    next_order: &Arc<AtomicU64>,
    accepted: &Arc<Mutex<BTreeSet<String>>>,
    stop: &Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..SENDERS)
        .map(|_| {
            let (program, secret) = (program.to_string(), secret.to_string());
            let (next_order, accepted, stop) = (next_order.clone(), accepted.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut rng = rand::rng();
                while !stop.load(Ordering::Relaxed) {
                    let resend = rng.random_ratio(1, 10);
                    let order = match accepted.lock().ok().and_then(|a| a.last().cloned()) {
                        Some(old) if resend => old,
                        _ => format!("order-{}", next_order.fetch_add(1, Ordering::Relaxed)),
                    };
                    let (headers, body) = signed_postback(&secret, &order);
                    let path = format!("/postback/{program}");
                    match call(addr, "POST", &path, &headers, &body) {
                        Ok((200, _)) => {
                            if let Ok(mut accepted) = accepted.lock() {
                                accepted.insert(order);
                            }
                        }
                        Ok((status, answer)) if status < 500 => panic!(
                            "postback answered {status}: {}",
                            String::from_utf8_lossy(&answer)
                        ),
                        // Killed mid-request, or not up yet: the platform would retry.
                        _ => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        })
        .collect()
}

#[test]
fn every_postback_answered_200_is_booked_exactly_once_across_kill_9() {
    let dir = std::env::temp_dir().join(format!(
        "linkledger-crash-{}-{}",
        std::process::id(),
        time::OffsetDateTime::now_utc().unix_timestamp_nanos()
    ));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let _cleanup = TempDir(dir.clone());
    let db = dir.join("crash.db");

    let out = linkledger(&db)
        .args(["keys", "create", "--role", "admin"])
        .output()
        .expect("keys create runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8_lossy(&out.stdout).trim().to_string();

    let addr: SocketAddr = format!("127.0.0.1:{}", free_port())
        .parse()
        .expect("an address");
    let mut server = start(&db, addr);

    let program = api(
        addr,
        &key,
        "POST",
        "/api/programs",
        json!({
            "name": "Crash", "currency": "USD", "allowed_domains": ["brand.com"],
            "plan": {"sale": {"rate_bps": 1000}}
        }),
    )["id"]
        .as_str()
        .expect("a program id")
        .to_string();
    let creator = api(
        addr,
        &key,
        "POST",
        "/api/creators",
        json!({
            "name": "Anna", "payout_email": "anna@example.com"
        }),
    )["id"]
        .as_str()
        .expect("a creator id")
        .to_string();
    api(
        addr,
        &key,
        "POST",
        &format!("/api/programs/{program}/enrolments"),
        json!({"creator_id": creator}),
    );
    api(
        addr,
        &key,
        "POST",
        &format!("/api/programs/{program}/promo-codes"),
        json!({"code": "ANNA10", "creator_id": creator}),
    );
    let secret = api(
        addr,
        &key,
        "PUT",
        &format!("/api/programs/{program}/webhook-secrets/postback"),
        json!({}),
    )["secret"]
        .as_str()
        .expect("the postback secret")
        .to_string();

    let next_order = Arc::new(AtomicU64::new(0));
    let accepted = Arc::new(Mutex::new(BTreeSet::new()));
    let mut rng = rand::rng();
    for _ in 0..KILLS {
        let stop = Arc::new(AtomicBool::new(false));
        let senders = storm(addr, &program, &secret, &next_order, &accepted, &stop);
        std::thread::sleep(Duration::from_millis(rng.random_range(300..2500)));
        server.kill().expect("kill -9");
        server.wait().expect("reaped");
        stop.store(true, Ordering::Relaxed);
        for sender in senders {
            sender.join().expect("a sender never panics");
        }
        server = start(&db, addr);
    }
    let accepted = accepted.lock().expect("senders are done").clone();
    assert!(
        accepted.len() > 50,
        "the storm got through: {}",
        accepted.len()
    );

    // Messages the killed processes had received come back after their visibility timeout.
    let deadline = Instant::now() + Duration::from_secs(150);
    let mut booked: BTreeMap<String, usize> = BTreeMap::new();
    while Instant::now() < deadline {
        booked.clear();
        for conversion in all_pages(
            addr,
            &key,
            &format!("/api/conversions?program={program}&limit=200"),
        ) {
            let order = conversion["order_id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            *booked.entry(order).or_default() += 1;
        }
        if accepted.iter().all(|order| booked.contains_key(order)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let _ = server.kill();
    let _ = server.wait();
    let missing: Vec<_> = accepted
        .iter()
        .filter(|o| !booked.contains_key(*o))
        .collect();
    assert!(
        missing.is_empty(),
        "answered 200 but never booked: {missing:?}"
    );
    assert!(booked.values().all(|&n| n == 1), "an order booked twice");

    // One accrual per conversion, none twice.
    let mut server = start(&db, addr);
    let ledger = all_pages(
        addr,
        &key,
        &format!("/api/ledger?creator={creator}&limit=200"),
    );
    let mut accruals: BTreeMap<String, usize> = BTreeMap::new();
    for entry in &ledger {
        assert_eq!(entry["kind"], "accrual", "{entry}");
        assert_eq!(entry["amount"]["amount"], "10.00", "{entry}");
        *accruals
            .entry(
                entry["conversion_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
            .or_default() += 1;
    }
    assert_eq!(accruals.len(), booked.len(), "one accrual per booked order");
    assert!(
        accruals.values().all(|&n| n == 1),
        "a conversion accrued twice"
    );
    let _ = server.kill();
    let _ = server.wait();
}
