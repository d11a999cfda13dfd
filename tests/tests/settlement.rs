//! Flow 4, settlement, end to end on both backends: what finance sees after runs of several
//! dates, reruns, late entries, refunds after payout, holds, faults and concurrent runs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use http::{Method, StatusCode};
use serde_json::{json, Value};
use time::{Date, Duration};

use linkledger_core::click::Click;
use linkledger_core::conversion::Platform;
use linkledger_core::ids::{ClickId, CreatorId, EntryId, LinkCode, ProgramId};
use linkledger_core::ledger::LedgerEntry;
use linkledger_core::money::{Currency, Money};
use linkledger_store::ports::{
    Condition, Index, IndexKey, Item, Key, OpCounts, Page, Query, SkRange, StoreError, Table,
    WriteOp,
};
use linkledger_store::settlement::settle;
use linkledger_store::Store;
use linkledger_tests::app::TestApp;
use linkledger_tests::faults::{unavailable, Call, FaultyTable};
use linkledger_tests::on_both_backends;
use linkledger_tests::webhooks::{now_unix, postback_headers};

fn today() -> Date {
    time::OffsetDateTime::now_utc().date()
}

fn days_ago(n: i64) -> Date {
    today() - Duration::days(n)
}

/// Midday of `date`, RFC 3339.
fn at(date: Date) -> String {
    format!("{date}T12:00:00Z")
}

/// A program paying 10 % with no holding period and a 10.00 minimum, its postback secret, and a
/// creator per name (each with her promo code `NAME10`).
struct Books {
    program: String,
    secret: String,
    creators: HashMap<&'static str, String>,
}

async fn books(app: &TestApp, names: &[&'static str]) -> Books {
    let program = app.program().await;
    let reply = app
        .call(
            Method::PATCH,
            &format!("/api/programs/{program}"),
            Some(&app.admin),
            Some(json!({"holding_days": 0, "min_payout": {"amount": "10.00", "currency": "USD"}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let secret = app.webhook_secret(&program, Platform::Postback, None).await;
    let mut creators = HashMap::new();
    for name in names {
        let (id, _) = app.creator(&program, name).await;
        app.promo_code(&program, &format!("{}10", name.to_uppercase()), &id)
            .await;
        creators.insert(*name, id);
    }
    Books {
        program,
        secret,
        creators,
    }
}

impl Books {
    /// A postback for `name`'s promo code, booked by the worker.
    async fn event(&self, app: &TestApp, body: Value) {
        self.send(app, body).await;
        app.drain().await;
    }

    /// A postback, answered and queued (not yet booked).
    async fn send(&self, app: &TestApp, body: Value) {
        let body = body.to_string();
        let reply = app
            .deliver(
                &format!("/postback/{}", self.program),
                &postback_headers(&self.secret, body.as_bytes(), now_unix()),
                body.as_bytes(),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    }

    fn sale_event(name: &str, order: &str, amount: &str, on: Date) -> Value {
        json!({"event": "sale", "order_id": order, "amount": amount, "currency": "USD",
            "coupon": format!("{}10", name.to_uppercase()), "occurred_at": at(on)})
    }

    async fn sale(&self, app: &TestApp, name: &str, order: &str, amount: &str, on: Date) {
        self.event(app, Self::sale_event(name, order, amount, on))
            .await;
    }

    async fn refund(&self, app: &TestApp, order: &str, total: &str, on: Date) {
        self.event(app, json!({"event": "refund", "order_id": order, "amount": total, "currency": "USD", "occurred_at": at(on)}))
            .await;
    }

    fn id(&self, name: &str) -> &str {
        &self.creators[name]
    }
}

async fn run(app: &TestApp, date: Date) -> Value {
    let reply = app
        .post(
            "/api/settlements",
            &app.admin,
            json!({"date": date.to_string()}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    reply.json
}

/// What each creator's line in a date's report says: (status, amount) — the amount paid, the
/// positive balance carried, what a negative balance owes, or the failure's reason.
async fn lines(app: &TestApp, date: Date) -> HashMap<String, (String, String)> {
    let reply = app
        .get(&format!("/api/settlements/{date}"), &app.admin)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    reply.json["lines"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|l| {
            let owes = l["owed"]["amount"].as_str().unwrap_or("") != "0.00";
            let said = match (l["status"].as_str().unwrap_or(""), owes) {
                ("paid", _) => paid(l["amount"]["amount"].as_str().unwrap_or("")),
                ("carried", false) => carried(l["carried"]["amount"].as_str().unwrap_or("")),
                ("carried", true) => owed(l["owed"]["amount"].as_str().unwrap_or("")),
                ("failed", _) => (
                    "failed".to_string(),
                    l["failure"].as_str().unwrap_or("").to_string(),
                ),
                (other, _) => (other.to_string(), l.to_string()),
            };
            (l["creator_id"].as_str().unwrap_or("").to_string(), said)
        })
        .collect()
}

async fn payouts(app: &TestApp, creator: &str) -> Vec<Value> {
    app.all_pages(&format!("/api/payouts?creator={creator}&limit=50"))
        .await
}

fn paid(amount: &str) -> (String, String) {
    ("paid".to_string(), amount.to_string())
}

fn carried(amount: &str) -> (String, String) {
    ("carried".to_string(), amount.to_string())
}

fn owed(amount: &str) -> (String, String) {
    ("owed".to_string(), amount.to_string())
}

async fn runs_pay_once_carry_small_and_negative_balances_and_pick_up_late_entries(app: TestApp) {
    let b = books(&app, &["anna", "ben", "cara"]).await;
    b.sale(&app, "anna", "a-1", "300.00", days_ago(6)).await; // 30.00
    b.sale(&app, "ben", "b-1", "50.00", days_ago(6)).await; // 5.00: below the minimum
                                                            // Cara buys with her own code: held for self-referral, not paid until approved.
    b.event(
        &app,
        json!({"event": "sale", "order_id": "c-1", "amount": "200.00", "currency": "USD",
    "coupon": "CARA10", "customer_email": "cara@example.com", "occurred_at": at(days_ago(6))}),
    )
    .await;

    let d1 = days_ago(3);
    let first = run(&app, d1).await;
    assert_eq!(first["status"], "completed");
    assert_eq!(
        lines(&app, d1).await,
        HashMap::from([
            (b.id("anna").to_string(), paid("30.00")),
            (b.id("ben").to_string(), carried("5.00")),
        ])
    );
    // Running the same date again changes nothing.
    assert_eq!(run(&app, d1).await, first);
    assert_eq!(payouts(&app, b.id("anna")).await.len(), 1);

    // After the run: a late sale of ben's for an earlier day, anna's order refunded in full,
    // cara's held order approved.
    b.sale(&app, "ben", "b-2", "100.00", days_ago(5)).await; // 10.00
    b.refund(&app, "a-1", "300.00", days_ago(4)).await; // -30.00 after 30.00 was paid
    let held = app
        .all_pages(&format!(
            "/api/conversions?program={}&status=held&limit=10",
            b.program
        ))
        .await;
    let cara = held[0]["id"].as_str().expect("held conversion").to_string();
    let reply = app
        .post(
            &format!("/api/conversions/{cara}/approve"),
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);

    let d2 = days_ago(2);
    run(&app, d2).await;
    assert_eq!(
        lines(&app, d2).await,
        HashMap::from([
            (b.id("anna").to_string(), owed("30.00")),
            (b.id("ben").to_string(), paid("15.00")),
            (b.id("cara").to_string(), paid("20.00")),
        ])
    );

    // Anna earns again: the negative balance is netted before she is paid.
    b.sale(&app, "anna", "a-2", "500.00", days_ago(2)).await; // 50.00
    let d3 = days_ago(1);
    run(&app, d3).await;
    assert_eq!(
        lines(&app, d3).await,
        HashMap::from([(b.id("anna").to_string(), paid("20.00"))])
    );

    // A completed date answers its run again; a date before the last run is refused.
    let reply = app
        .post(
            "/api/settlements",
            &app.admin,
            json!({"date": d1.to_string()}),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "an already completed date just answers its run"
    );
    let reply = app
        .post(
            "/api/settlements",
            &app.admin,
            json!({"date": days_ago(10).to_string()}),
        )
        .await;
    assert_eq!(
        (reply.status, reply.error_code()),
        (StatusCode::CONFLICT, "later_run_exists")
    );

    // Money is conserved: accruals − reversals = payouts + open balances.
    let mut paid_total = 0i64;
    let mut open_total = 0i64;
    for name in ["anna", "ben", "cara"] {
        for p in payouts(&app, b.id(name)).await {
            paid_total += cents(&p["amount"]["amount"]);
        }
        let reply = app
            .get(&format!("/api/balances?creator={}", b.id(name)), &app.admin)
            .await;
        for balance in reply.json["items"].as_array().cloned().unwrap_or_default() {
            open_total += cents(&balance["total"]["amount"]);
        }
    }
    // accruals 30 + 5 + 10 + 20 + 50, reversal 30
    assert_eq!((paid_total, open_total), (8500, 0));
}
on_both_backends!(runs_pay_once_carry_small_and_negative_balances_and_pick_up_late_entries);

fn cents(v: &Value) -> i64 {
    let text = v.as_str().unwrap_or("0");
    let (whole, frac) = text.split_once('.').unwrap_or((text, "00"));
    let sign = if whole.starts_with('-') { -1 } else { 1 };
    let whole: i64 = whole.trim_start_matches('-').parse().unwrap_or(0);
    sign * (whole * 100 + frac.parse::<i64>().unwrap_or(0))
}

/// Passes everything through; right after the first read of a creator's ledger (and before the
/// caller sees it), settles that creator for `earlier` on the real store, as a run of the
/// previous date in another process would at that moment.
struct EarlierRunInterleaves {
    inner: Arc<dyn Table>,
    earlier: Date,
    fired: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl Table for EarlierRunInterleaves {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        self.inner.put(item, condition).await
    }
    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.inner.transact(ops).await
    }
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        let page = self.inner.query(query).await?;
        if let Some(creator) = query.pk.strip_prefix("LEDGER#") {
            if !self.fired.swap(true, Ordering::SeqCst) {
                let store = Store::new(self.inner.clone());
                let creator = store
                    .creator(&CreatorId::parse(creator).expect("a creator id"))
                    .await
                    .expect("the store answers")
                    .expect("the creator");
                let outcomes = linkledger_store::settlement::settle_creator(
                    &store,
                    self.earlier,
                    &creator,
                    &HashMap::new(),
                )
                .await
                .expect("the earlier date settles");
                assert!(
                    matches!(
                        outcomes[..],
                        [linkledger_store::settlement::LineOutcome::Paid(_)]
                    ),
                    "{outcomes:?}"
                );
            }
        }
        Ok(page)
    }
    fn op_counts(&self) -> OpCounts {
        self.inner.op_counts()
    }
}

async fn a_run_of_the_previous_date_committing_meanwhile_is_never_paid_again(app: TestApp) {
    let b = books(&app, &["anna"]).await;
    b.sale(&app, "anna", "o-1", "200.00", days_ago(5)).await;
    // The run of yesterday reads Anna's ledger; the day before's run pays her 20.00 right
    // after, before yesterday's line is written.
    let interleaved = Store::new(Arc::new(EarlierRunInterleaves {
        inner: app.table.clone(),
        earlier: days_ago(2),
        fired: std::sync::atomic::AtomicBool::new(false),
    }));
    settle(&interleaved, days_ago(1), None, |_| {})
        .await
        .expect("yesterday settles");
    let all = payouts(&app, b.id("anna")).await;
    assert_eq!(all.len(), 1, "paid once: {all:?}");
    assert_eq!(all[0]["amount"]["amount"], "20.00");
    let ledger = app
        .all_pages(&format!("/api/ledger?creator={}&limit=50", b.id("anna")))
        .await;
    let paid: i64 = ledger
        .iter()
        .filter(|e| e["kind"] == "payout")
        .map(|e| cents(&e["amount"]["amount"]))
        .sum();
    assert_eq!(paid, -2000, "one payout entry of 20.00");
}
on_both_backends!(a_run_of_the_previous_date_committing_meanwhile_is_never_paid_again);

const FIVE: [&str; 5] = ["anna", "ben", "cara", "dan", "eve"];

async fn five_creators_owed(app: &TestApp) -> Books {
    let b = books(app, &FIVE).await;
    for (i, name) in FIVE.iter().enumerate() {
        b.sale(app, name, &format!("o-{i}"), "200.00", days_ago(5))
            .await;
    }
    b
}

async fn assert_paid_once_each(app: &TestApp, b: &Books, date: Date) {
    for name in FIVE {
        let all = payouts(app, b.id(name)).await;
        assert_eq!(all.len(), 1, "{name}: {all:?}");
        assert_eq!(all[0]["amount"]["amount"], "20.00");
        let ledger = app
            .all_pages(&format!("/api/ledger?creator={}&limit=50", b.id(name)))
            .await;
        let payout_entries = ledger.iter().filter(|e| e["kind"] == "payout").count();
        assert_eq!(payout_entries, 1, "{name}");
    }
    let report = app
        .get(&format!("/api/settlements/{date}"), &app.admin)
        .await;
    assert_eq!(report.json["run"]["status"], "completed");
    assert_eq!(report.json["run"]["totals"][0]["paid"]["amount"], "100.00");
    assert_eq!(report.json["run"]["totals"][0]["payouts"], 5);
}

async fn a_run_killed_halfway_pays_the_rest_exactly_once_when_run_again(app: TestApp) {
    let b = five_creators_owed(&app).await;
    let date = days_ago(1);
    // Every transaction after the first two fails, as a crash or an outage would
    // halfway through a run.
    let seen = AtomicUsize::new(0);
    let failing = Store::new(Arc::new(FaultyTable::over(
        app.table.clone(),
        move |call| {
            (matches!(call, Call::Transact(_)) && seen.fetch_add(1, Ordering::SeqCst) >= 2)
                .then(|| unavailable("injected failure"))
        },
    )));
    let crashed = settle(&failing, date, None, |_| {}).await;
    assert!(crashed.is_err(), "the injected failure stops the run");
    let halfway = app
        .get(&format!("/api/settlements/{date}"), &app.admin)
        .await;
    assert_eq!(halfway.json["run"]["status"], "running");
    assert_eq!(halfway.json["lines"].as_array().map(Vec::len), Some(2));
    run(&app, date).await;
    assert_paid_once_each(&app, &b, date).await;
}
on_both_backends!(a_run_killed_halfway_pays_the_rest_exactly_once_when_run_again);

async fn two_runs_of_one_date_at_the_same_moment_pay_once(app: TestApp) {
    let b = five_creators_owed(&app).await;
    let date = days_ago(1);
    let (one, two) = tokio::join!(
        settle(&app.store, date, None, |_| {}),
        settle(&app.store, date, None, |_| {})
    );
    let (one, two) = (one.expect("first run"), two.expect("second run"));
    assert_eq!(one.totals, two.totals);
    assert_paid_once_each(&app, &b, date).await;
}
on_both_backends!(two_runs_of_one_date_at_the_same_moment_pay_once);

fn parse_csv(text: &str) -> Vec<Vec<String>> {
    // The reports quote no field here (e-mails and ids have no commas).
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

async fn finance_downloads_the_reports_and_marks_payouts(app: TestApp) {
    let b = five_creators_owed(&app).await;
    b.sale(&app, "eve", "small", "10.00", days_ago(5)).await;
    let date = days_ago(1);
    let run_json = run(&app, date).await;

    let csv = app
        .get(&format!("/api/settlements/{date}/report.csv"), &app.admin)
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.header("content-type").starts_with("text/csv"));
    let rows = parse_csv(csv.json.as_str().unwrap_or(""));
    assert_eq!(
        rows[0][..5],
        ["date", "creator_id", "payout_email", "currency", "amount"]
    );
    let total: i64 = rows[1..].iter().map(|r| cents(&json!(r[4]))).sum();
    assert_eq!(total, cents(&run_json["totals"][0]["paid"]["amount"]));
    assert_eq!(rows.len() - 1, 5);

    let paypal = app
        .get(&format!("/api/settlements/{date}/paypal.csv"), &app.admin)
        .await;
    let rows = parse_csv(paypal.json.as_str().unwrap_or(""));
    assert_eq!(rows.len(), 5, "no header; one row per payout");
    for row in &rows {
        assert!(row[0].ends_with("@example.com"));
        assert_eq!(
            row[1],
            if row[0].starts_with("eve") {
                "21.00"
            } else {
                "20.00"
            }
        );
        assert_eq!((row[2].as_str(), row[5].as_str()), ("USD", "PAYPAL"));
        assert!(row[3].starts_with("pay_") && row[3].len() <= 30);
    }
    let total: i64 = rows.iter().map(|r| cents(&json!(r[1]))).sum();
    assert_eq!(total, cents(&run_json["totals"][0]["paid"]["amount"]));

    // Finance marks one paid and one failed; the failed amount returns to the balance.
    let anna = payouts(&app, b.id("anna")).await[0]["id"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let ben = payouts(&app, b.id("ben")).await[0]["id"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let finance = app
        .post("/api/keys", &app.admin, json!({"role": "finance"}))
        .await
        .json["key"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let reply = app
        .post(
            &format!("/api/payouts/{anna}/paid"),
            &finance,
            json!({"external_ref": "PP-123", "paid_on": today().to_string()}),
        )
        .await;
    assert_eq!(
        (reply.status, reply.json["status"].as_str()),
        (StatusCode::OK, Some("paid")),
        "{}",
        reply.json
    );
    let reply = app
        .post(
            &format!("/api/payouts/{anna}/failed"),
            &finance,
            json!({"reason": "late bounce"}),
        )
        .await;
    assert_eq!(
        (reply.status, reply.error_code()),
        (StatusCode::CONFLICT, "payout_not_pending")
    );
    let reply = app
        .post(
            &format!("/api/payouts/{ben}/failed"),
            &finance,
            json!({"reason": "PayPal account closed"}),
        )
        .await;
    assert_eq!(reply.json["status"], "failed", "{}", reply.json);
    let balance = app
        .get(
            &format!("/api/balances?creator={}", b.id("ben")),
            &app.admin,
        )
        .await;
    assert_eq!(
        balance.json["items"][0]["payable"]["amount"], "20.00",
        "{}",
        balance.json
    );
    // Creators see their own payouts, and only theirs.
    let anna_key = app
        .post(
            "/api/keys",
            &app.admin,
            json!({"role": "creator", "creator_id": b.id("anna")}),
        )
        .await
        .json["key"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let own = app.get("/api/payouts", &anna_key).await;
    assert_eq!(
        own.json["items"].as_array().map(Vec::len),
        Some(1),
        "{}",
        own.json
    );
    let other = app
        .get(&format!("/api/payouts?creator={}", b.id("ben")), &anna_key)
        .await;
    assert_eq!(
        other.json["items"].as_array().map(Vec::len),
        Some(0),
        "{}",
        other.json
    );
    let reply = app
        .post(
            "/api/settlements",
            &anna_key,
            json!({"date": date.to_string()}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
}
on_both_backends!(finance_downloads_the_reports_and_marks_payouts);

// The Lambda path of a run: the schedule plans it into chunks on the settlement queue, the
// queue's events settle them (one delivered twice), the last chunk completes the run, and
// finance gets exactly one message.
async fn a_fanned_out_run_settles_every_chunk_once_and_tells_finance_once(app: TestApp) {
    use linkledger_settlement::{handle_chunks, handle_schedule, Queues, SettleRequest};
    let b = five_creators_owed(&app).await;
    let date = days_ago(1);
    let finance_queue = app.another_queue().await;
    let finance = finance_queue.handle();
    let mut queues = Queues::new(app.queue.as_ref(), Some(finance.as_ref()));
    queues.chunk_size = 2;
    let planned = handle_schedule(
        &app.store,
        &queues,
        &SettleRequest {
            date: Some(date.to_string()),
        },
    )
    .await
    .expect("planned");
    assert_eq!(planned.chunks, Some(3), "five creators in chunks of two");

    let visibility = std::time::Duration::from_secs(30);
    let mut messages = Vec::new();
    loop {
        let got = app
            .queue
            .receive(10, visibility, std::time::Duration::ZERO)
            .await
            .expect("receive");
        if got.is_empty() {
            break;
        }
        messages.extend(got);
    }
    assert_eq!(messages.len(), 3);
    // The first chunk is delivered twice (at least once delivery).
    let mut bodies: Vec<String> = messages.iter().map(|m| m.body.clone()).collect();
    bodies.insert(1, bodies[0].clone());
    for (i, body) in bodies.iter().enumerate() {
        let event = sqs_event(&format!("m{i}"), body);
        let response = handle_chunks(&app.store, &queues, event).await;
        assert!(response.batch_item_failures.is_empty());
    }
    assert_paid_once_each(&app, &b, date).await;
    let told = finance
        .receive(10, visibility, std::time::Duration::ZERO)
        .await
        .expect("receive");
    assert_eq!(told.len(), 1, "finance is told once");
    let message: Value = serde_json::from_str(&told[0].body).expect("json");
    assert_eq!(message["date"], date.to_string());
    assert_eq!(message["totals"][0]["paid"]["amount"], "100.00");
    assert_eq!(
        message["report_csv"],
        format!("/api/settlements/{date}/report.csv")
    );
}
on_both_backends!(a_fanned_out_run_settles_every_chunk_once_and_tells_finance_once);

fn sqs_event(id: &str, body: &str) -> aws_lambda_events::event::sqs::SqsEvent {
    serde_json::from_value(json!({"Records": [{
        "messageId": id, "receiptHandle": "r", "body": body, "attributes": {}, "messageAttributes": {},
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:linkledger-SettlementQueue", "awsRegion": "eu-west-1"
    }]}))
    .expect("an SQS event")
}

async fn the_days_unique_human_clicks_earn_up_to_the_daily_cap_once(app: TestApp) {
    let program = app.program().await;
    let reply = app
    .call(Method::PATCH, &format!("/api/programs/{program}"), Some(&app.admin),
        Some(json!({"holding_days": 0, "plan": {"click": {"amount": {"amount": "0.10", "currency": "USD"}, "daily_cap": 3}}})))
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let (anna, anna_key) = app.creator(&program, "anna").await;
    let (ben, _) = app.creator(&program, "ben").await;
    app.link(&program, &anna, "anna-clicks", "https://brand.com/a")
        .await;
    app.link(&program, &ben, "ben-clicks", "https://brand.com/b")
        .await;
    // Yesterday's clicks (a day is settled once it is over), as the redirect records them.
    let date = days_ago(1);
    let noon =
        time::PrimitiveDateTime::new(date, time::Time::MIDNIGHT).assume_utc() + Duration::hours(12);
    let noon_ms = (noon.unix_timestamp_nanos() / 1_000_000) as i64;
    let click = |code: &str, creator: &str, minute: i64, visitor: &str, bot: bool| Click {
        id: ClickId::generate(noon_ms + minute * 60_000),
        link_code: LinkCode::parse(code).unwrap(),
        program_id: ProgramId::parse(&program).unwrap(),
        creator_id: CreatorId::parse(creator).unwrap(),
        at_ms: noon_ms + minute * 60_000,
        visitor: visitor.into(),
        bot,
        country: None,
        referrer_host: None,
    };
    // Anna: five different shoppers (capped at three), a repeat within the hour, a bot.
    let mut clicks: Vec<Click> = (0..5)
        .map(|i| click("anna-clicks", &anna, i, &format!("v{i}"), false))
        .collect();
    clicks.push(click("anna-clicks", &anna, 30, "v0", false));
    clicks.push(click("anna-clicks", &anna, 31, "bot", true));
    // Ben: one shopper twice within the hour (one unique click).
    clicks.push(click("ben-clicks", &ben, 1, "w", false));
    clicks.push(click("ben-clicks", &ben, 2, "w", false));
    for c in &clicks {
        app.store
            .record_click(c, noon + Duration::days(40))
            .await
            .unwrap();
    }
    run(&app, date).await;
    let report = lines(&app, date).await;
    assert_eq!(report.get(&anna), Some(&paid("0.30")), "{report:?}");
    assert_eq!(report.get(&ben), Some(&paid("0.10")), "{report:?}");
    // Run again: booked once.
    run(&app, date).await;
    let ledger = app
        .get(&format!("/api/ledger?creator={anna}"), &anna_key)
        .await;
    let accruals: Vec<&Value> = ledger.json["items"]
        .as_array()
        .map(|v| v.iter().filter(|e| e["kind"] == "accrual").collect())
        .unwrap_or_default();
    assert_eq!(accruals.len(), 1, "{}", ledger.json);
    assert_eq!(accruals[0]["amount"]["amount"], "0.30");
}
on_both_backends!(the_days_unique_human_clicks_earn_up_to_the_daily_cap_once);

/// The largest amount the API takes (`limits::MAX_AMOUNT_MINOR`, 10^13 cents) in USD.
const MAX_AMOUNT: &str = "100000000000.00";

async fn adjust(app: &TestApp, program: &str, creator: &str, amount: &str, note: &str) {
    let reply = app
        .post(
            "/api/adjustments",
            &app.admin,
            json!({"creator_id": creator, "program_id": program,
                "amount": {"amount": amount, "currency": "USD"}, "note": note}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
}

/// The items of `creator`'s ledger partition (the table's key layout, `LEDGER#{creator}`).
async fn ledger_items(app: &TestApp, creator: &str) -> Vec<Item> {
    let mut items = Vec::new();
    let mut after = None;
    loop {
        let query = Query::new(Index::Primary, format!("LEDGER#{creator}"), SkRange::All)
            .limit(1000)
            .after(after);
        let page = app.table.query(&query).await.expect("query the ledger");
        items.extend(page.items);
        match page.next {
            Some(next) => after = Some(next),
            None => return items,
        }
    }
}

/// Moves the adjustments of `creator` whose note is `note` back to midday of `to`, as if an
/// admin had made them then: adjustments are payable at once and the API has no clock to wind
/// back, while only days that are over can be settled.
async fn age_adjustments(app: &TestApp, creator: &str, note: &str, to: Date) {
    let mut aged = 0;
    for item in ledger_items(app, creator).await {
        let mut body: Value = serde_json::from_str(&item.body).expect("an entry");
        if body["kind"] != "adjustment" || body["note"] != note {
            continue;
        }
        body["available_at"] = json!(at(to));
        let version = item.version;
        let item = Item {
            body: body.to_string(),
            version: version + 1,
            ..item
        };
        app.table
            .put(item, Condition::VersionIs(version))
            .await
            .expect("rewrite the entry");
        aged += 1;
    }
    assert!(aged > 0, "no adjustment noted {note:?}");
}

/// Stores an entry in `creator`'s ledger that cannot be decoded (its currency is still
/// legible), as a bug or a hand edit would leave it; returns its item, to repair it later.
async fn corrupt_entry(app: &TestApp, creator: &str) -> Item {
    let id = ClickId::generate(linkledger_core::clock::unix_ms(
        time::OffsetDateTime::now_utc(),
    ))
    .to_string();
    let item = Item::new(
        Key::new(format!("LEDGER#{creator}"), id),
        json!({"amount": {"amount": "1.00", "currency": "USD"}, "kind": "mystery"}).to_string(),
    );
    app.table
        .put(item.clone(), Condition::NotExists)
        .await
        .expect("store the broken entry");
    item
}

/// Replaces the broken entry with a readable 1.00 adjustment of `program`, payable on `on`.
async fn repair_entry(app: &TestApp, broken: Item, creator: &str, program: &str, on: Date) {
    let mut entry = LedgerEntry::adjustment(
        CreatorId::parse(creator).unwrap(),
        ProgramId::parse(program).unwrap(),
        Money::from_minor(100, Currency::parse("USD").unwrap()),
        time::PrimitiveDateTime::new(on, time::macros::time!(12:00)).assume_utc(),
    );
    entry.id = EntryId::parse(&broken.key.sk).unwrap();
    let item = Item {
        body: serde_json::to_string(&entry).unwrap(),
        version: broken.version + 1,
        ..broken.clone()
    };
    app.table
        .put(item, Condition::VersionIs(broken.version))
        .await
        .expect("repair the entry");
}

async fn report(app: &TestApp, date: Date) -> Value {
    let reply = app
        .get(&format!("/api/settlements/{date}"), &app.admin)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    reply.json
}

// Finding 2 of issue 10: ten sales of 92233720368547758.07 used to make every run answer 400
// and stay `running`, and other creators were never paid. Now the creator whose balance is
// past the limit gets a failed line with its reason, everyone else is paid, the run completes;
// the next date's run settles her once she is back within the limit, and nothing is paid twice.
async fn a_creator_past_the_balance_limit_gets_a_failed_line_and_everyone_else_is_paid(
    app: TestApp,
) {
    // 40 creators with sales (fewer on the emulator, which is slow; same paths).
    let count = if app.aws { 12 } else { 40 };
    let names: Vec<&'static str> = (0..count)
        .map(|i| &*Box::leak(format!("c{i}").into_boxed_str()))
        .collect();
    let b = books(&app, &names).await;
    for (i, name) in names.iter().enumerate() {
        b.send(
            &app,
            Books::sale_event(name, &format!("s-{i}"), "200.00", days_ago(4)),
        )
        .await;
    }
    app.drain().await;
    // One more creator, credited 101 times the largest amount: 1.01 × 10^15 cents, past
    // the balance limit of 10^15.
    let (whale, _) = app.creator(&b.program, "whale").await;
    for _ in 0..101 {
        adjust(&app, &b.program, &whale, MAX_AMOUNT, "limit test").await;
    }
    age_adjustments(&app, &whale, "limit test", days_ago(4)).await;

    let d1 = days_ago(3);
    let first = run(&app, d1).await;
    assert_eq!(first["status"], "completed", "{first}");
    assert_eq!(first["failed_lines"], 1, "{first}");
    assert_eq!(first["lines"], count + 1);
    assert_eq!(first["totals"][0]["payouts"], count);
    assert_eq!(first["totals"][0]["failed_lines"], 1);
    assert_eq!(
        first["totals"][0]["paid"]["amount"],
        format!("{}.00", 20 * count)
    );
    let report1 = lines(&app, d1).await;
    for name in &names {
        assert_eq!(report1[b.id(name)], paid("20.00"), "{name}");
        assert_eq!(payouts(&app, b.id(name)).await.len(), 1, "{name}");
    }
    let (status, reason) = &report1[&whale];
    assert_eq!(status, "failed");
    assert!(reason.contains("beyond the limit"), "{reason}");
    assert!(payouts(&app, &whale).await.is_empty());
    let failed_line = report(&app, d1).await["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["creator_id"] == whale.as_str())
        .cloned()
        .unwrap();
    assert!(failed_line.get("balance").is_none(), "{failed_line}");
    assert_eq!(failed_line["amount"]["amount"], "0.00");
    let csv = app
        .get(&format!("/api/settlements/{d1}/report.csv"), &app.admin)
        .await;
    let rows = parse_csv(csv.json.as_str().unwrap_or(""));
    let whale_row = rows.iter().find(|r| r[1] == whale).expect("a CSV row");
    let status_col = rows[0].iter().position(|c| c == "status").unwrap();
    let failure_col = rows[0].iter().position(|c| c == "failure").unwrap();
    assert_eq!(whale_row[status_col], "failed");
    assert!(whale_row[failure_col].contains("beyond the limit"));

    // Running the date again retries the failed line: it fails again, nothing else moves.
    let again = run(&app, d1).await;
    assert_eq!(
        (again["status"].clone(), again["failed_lines"].clone()),
        (json!("completed"), json!(1))
    );
    assert_eq!(again["totals"], first["totals"]);
    assert!(payouts(&app, &whale).await.is_empty());

    // Corrected by two debits of the largest amount the next day: the next date's run pays
    // her whole balance once (it still holds everything the failed line did not pay).
    for _ in 0..2 {
        adjust(
            &app,
            &b.program,
            &whale,
            &format!("-{MAX_AMOUNT}"),
            "correction",
        )
        .await;
    }
    age_adjustments(&app, &whale, "correction", days_ago(2)).await;
    let d2 = days_ago(2);
    let second = run(&app, d2).await;
    assert_eq!(
        (second["status"].clone(), second["failed_lines"].clone()),
        (json!("completed"), json!(0)),
        "{second}"
    );
    assert_eq!(
        lines(&app, d2).await,
        HashMap::from([(whale.clone(), paid("9900000000000.00"))]),
        "only she had anything new"
    );
    // The first date still shows what happened then; running it again retries nothing
    // now that a later date has settled her.
    run(&app, d1).await;
    assert_eq!(lines(&app, d1).await[&whale].0, "failed");
    let paid_out = payouts(&app, &whale).await;
    assert_eq!(paid_out.len(), 1, "{paid_out:?}");
    assert_eq!(paid_out[0]["amount"]["amount"], "9900000000000.00");
    for name in &names {
        assert_eq!(payouts(&app, b.id(name)).await.len(), 1, "{name}");
    }
}
on_both_backends!(a_creator_past_the_balance_limit_gets_a_failed_line_and_everyone_else_is_paid);

// The on-demand retry: rerunning the latest date retries its failed lines (here an entry that
// cannot be read, then repaired), pays each once and refreshes the run's totals.
async fn rerunning_the_latest_date_retries_its_failed_lines_and_pays_once(app: TestApp) {
    let b = books(&app, &["anna", "ben"]).await;
    b.sale(&app, "anna", "a-1", "200.00", days_ago(3)).await;
    b.sale(&app, "ben", "b-1", "200.00", days_ago(3)).await;
    let broken = corrupt_entry(&app, b.id("ben")).await;
    let date = days_ago(1);
    let first = run(&app, date).await;
    assert_eq!(first["status"], "completed");
    assert_eq!(first["failed_lines"], 1);
    let report1 = lines(&app, date).await;
    assert_eq!(report1[b.id("anna")], paid("20.00"));
    assert_eq!(report1[b.id("ben")].0, "failed");
    assert!(
        report1[b.id("ben")]
            .1
            .contains("a ledger entry cannot be read"),
        "{report1:?}"
    );
    assert!(
        !report1[b.id("ben")].1.contains("mystery"),
        "the reason names the record, not its content"
    );

    repair_entry(&app, broken, b.id("ben"), &b.program, days_ago(3)).await;
    let retried = run(&app, date).await;
    assert_eq!(
        (retried["status"].clone(), retried["failed_lines"].clone()),
        (json!("completed"), json!(0)),
        "{retried}"
    );
    assert_eq!(retried["totals"][0]["payouts"], 2);
    assert_eq!(retried["totals"][0]["paid"]["amount"], "41.00");
    assert_eq!(
        lines(&app, date).await,
        HashMap::from([
            (b.id("anna").to_string(), paid("20.00")),
            (b.id("ben").to_string(), paid("21.00")),
        ])
    );
    // Again: nothing left to retry, nobody paid twice.
    assert_eq!(run(&app, date).await["totals"], retried["totals"]);
    for name in ["anna", "ben"] {
        assert_eq!(payouts(&app, b.id(name)).await.len(), 1, "{name}");
    }
}
on_both_backends!(rerunning_the_latest_date_retries_its_failed_lines_and_pays_once);

// The fan-out path isolates a failing creator the same way: its chunk is not reported as
// failed (it would only fail again), the run completes with the failed line.
async fn a_fanned_out_run_gives_a_failing_creator_a_failed_line_and_completes(app: TestApp) {
    use linkledger_settlement::{handle_chunks, handle_schedule, Queues, SettleRequest};
    let b = five_creators_owed(&app).await;
    corrupt_entry(&app, b.id("cara")).await;
    let date = days_ago(1);
    let mut queues = Queues::new(app.queue.as_ref(), None);
    queues.chunk_size = 2;
    let planned = handle_schedule(
        &app.store,
        &queues,
        &SettleRequest {
            date: Some(date.to_string()),
        },
    )
    .await
    .expect("planned");
    assert_eq!(planned.chunks, Some(3));
    let visibility = std::time::Duration::from_secs(30);
    let messages = app
        .queue
        .receive(10, visibility, std::time::Duration::ZERO)
        .await
        .expect("receive");
    assert_eq!(messages.len(), 3);
    for (i, message) in messages.iter().enumerate() {
        let response = handle_chunks(
            &app.store,
            &queues,
            sqs_event(&format!("m{i}"), &message.body),
        )
        .await;
        assert!(response.batch_item_failures.is_empty(), "chunk {i}");
    }
    let done = report(&app, date).await;
    assert_eq!(done["run"]["status"], "completed", "{done}");
    assert_eq!(done["run"]["failed_lines"], 1);
    assert_eq!(done["run"]["totals"][0]["payouts"], 4);
    assert_eq!(lines(&app, date).await[b.id("cara")].0, "failed");
    for name in ["anna", "ben", "dan", "eve"] {
        assert_eq!(payouts(&app, b.id(name)).await.len(), 1, "{name}");
    }
}
on_both_backends!(a_fanned_out_run_gives_a_failing_creator_a_failed_line_and_completes);

// A program whose click roll-up cannot be booked (a day's click commission past the largest
// amount) is recorded on the run; the other programs' clicks and every creator are settled.
async fn a_failing_click_roll_up_of_one_program_does_not_stop_the_run(app: TestApp) {
    let b = books(&app, &["anna"]).await;
    b.sale(&app, "anna", "a-1", "200.00", days_ago(3)).await;
    let greedy = app.program().await;
    let modest = app.program().await;
    for (program, amount) in [(&greedy, MAX_AMOUNT), (&modest, "0.10")] {
        let reply = app
            .call(Method::PATCH, &format!("/api/programs/{program}"), Some(&app.admin),
                Some(json!({"holding_days": 0, "plan": {"click": {"amount": {"amount": amount, "currency": "USD"}, "daily_cap": 3}}})))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    }
    let (cleo, _) = app.creator(&greedy, "cleo").await;
    let (dora, _) = app.creator(&modest, "dora").await;
    app.link(&greedy, &cleo, "cleo-clicks", "https://brand.com/c")
        .await;
    app.link(&modest, &dora, "dora-clicks", "https://brand.com/d")
        .await;
    let date = days_ago(1);
    let noon = time::PrimitiveDateTime::new(date, time::macros::time!(12:00)).assume_utc();
    let noon_ms = (noon.unix_timestamp_nanos() / 1_000_000) as i64;
    let click = |code: &str, program: &str, creator: &str, minute: i64| Click {
        id: ClickId::generate(noon_ms + minute * 60_000),
        link_code: LinkCode::parse(code).unwrap(),
        program_id: ProgramId::parse(program).unwrap(),
        creator_id: CreatorId::parse(creator).unwrap(),
        at_ms: noon_ms + minute * 60_000,
        visitor: format!("v{minute}"),
        bot: false,
        country: None,
        referrer_host: None,
    };
    // Two shoppers each: 2 × 10^13 cents on the greedy program is past the largest amount.
    for c in [
        click("cleo-clicks", &greedy, &cleo, 1),
        click("cleo-clicks", &greedy, &cleo, 2),
        click("dora-clicks", &modest, &dora, 1),
        click("dora-clicks", &modest, &dora, 2),
    ] {
        app.store
            .record_click(&c, noon + Duration::days(40))
            .await
            .unwrap();
    }
    let done = run(&app, date).await;
    assert_eq!(done["status"], "completed", "{done}");
    let failures = done["rollup_failures"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(failures.len(), 1, "{done}");
    assert_eq!(failures[0]["program_id"], greedy.as_str());
    assert!(failures[0]["reason"]
        .as_str()
        .unwrap_or("")
        .contains("limit"));
    let report = lines(&app, date).await;
    assert_eq!(report[b.id("anna")], paid("20.00"));
    assert_eq!(report[&dora], paid("0.20"), "{report:?}");
    assert!(!report.contains_key(&cleo));

    // Fixed, then the date run again: the roll-up is retried and booked once.
    let reply = app
        .call(Method::PATCH, &format!("/api/programs/{greedy}"), Some(&app.admin),
            Some(json!({"plan": {"click": {"amount": {"amount": "0.10", "currency": "USD"}, "daily_cap": 3}}})))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    for _ in 0..2 {
        let again = run(&app, date).await;
        assert!(again.get("rollup_failures").is_none(), "{again}");
    }
    let ledger = app
        .all_pages(&format!("/api/ledger?creator={cleo}&limit=50"))
        .await;
    let amounts: Vec<&Value> = ledger.iter().map(|e| &e["amount"]["amount"]).collect();
    assert_eq!(amounts, [&json!("0.20")], "booked once");
}
on_both_backends!(a_failing_click_roll_up_of_one_program_does_not_stop_the_run);

// Finding 4 of issue 10: today was accepted (paying commission whose holding period ended
// later that day) and then yesterday's nightly run answered 409. One rule, shared with the CLI.
async fn only_days_that_are_over_can_be_settled_through_the_api(app: TestApp) {
    for date in [
        today().to_string(),
        (today() + Duration::days(1)).to_string(),
        "9999-12-31".to_string(),
        "1999-12-31".to_string(),
    ] {
        let reply = app
            .post("/api/settlements", &app.admin, json!({"date": date}))
            .await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (StatusCode::BAD_REQUEST, "invalid_date"),
            "{date}: {}",
            reply.json
        );
    }
    let reply = app
        .post(
            "/api/settlements",
            &app.admin,
            json!({"date": today().to_string()}),
        )
        .await;
    assert!(
        reply.json["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("only a past date"),
        "{}",
        reply.json
    );
    let listed = app.get("/api/settlements", &app.admin).await;
    assert_eq!(listed.json["items"], json!([]), "no run was started");
    // So yesterday's nightly run still goes through.
    assert_eq!(run(&app, days_ago(1)).await["status"], "completed");
}
on_both_backends!(only_days_that_are_over_can_be_settled_through_the_api);

fn is_iso_date(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| linkledger_core::parse_date(s).is_some() && s.len() == 10)
}

// Finding 7 of issue 10: runs, lines and payouts carried dates as `[2026, 331]`; the OpenAPI
// document says `format: date`.
async fn runs_lines_and_payouts_show_dates_as_iso_strings(app: TestApp) {
    let b = books(&app, &["anna"]).await;
    b.sale(&app, "anna", "a-1", "200.00", days_ago(3)).await;
    let date = days_ago(1);
    let ran = run(&app, date).await;
    assert_eq!(ran["date"], date.to_string(), "{ran}");
    let listed = app.get("/api/settlements", &app.admin).await;
    assert_eq!(listed.json["items"][0]["date"], date.to_string());
    let report = report(&app, date).await;
    assert_eq!(report["run"]["date"], date.to_string());
    assert_eq!(report["lines"][0]["date"], date.to_string());
    let payout = payouts(&app, b.id("anna")).await[0].clone();
    assert_eq!(payout["date"], date.to_string(), "{payout}");
    let id = payout["id"].as_str().unwrap_or("").to_string();
    let reply = app
        .post(
            &format!("/api/payouts/{id}/paid"),
            &app.admin,
            json!({"external_ref": "PP-1", "paid_on": today().to_string()}),
        )
        .await;
    assert_eq!(reply.json["paid_on"], today().to_string(), "{}", reply.json);
    let payout = payouts(&app, b.id("anna")).await[0].clone();
    assert!(
        is_iso_date(&payout["date"]) && is_iso_date(&payout["paid_on"]),
        "{payout}"
    );
}
on_both_backends!(runs_lines_and_payouts_show_dates_as_iso_strings);

// Finding 11 of issue 10: a run's `carried` netted −20.00 and +1.00 into −19.00, hiding that a
// creator owes money. Carried (≥ 0) and owed (≥ 0) are now apart in the run, the JSON report,
// the CSV and the finance message.
async fn carried_and_owed_totals_are_never_netted(app: TestApp) {
    let b = books(&app, &["anna", "ben"]).await;
    b.sale(&app, "anna", "a-1", "200.00", days_ago(6)).await; // 20.00
    b.sale(&app, "ben", "b-1", "10.00", days_ago(6)).await; // 1.00: below the minimum
    run(&app, days_ago(5)).await;
    b.refund(&app, "a-1", "200.00", days_ago(4)).await; // anna owes 20.00
    let date = days_ago(3);
    let finance_queue = app.another_queue().await;
    let finance = finance_queue.handle();
    let done = settle(&app.store, date, Some(finance.as_ref()), |_| {})
        .await
        .expect("a run");
    let totals = serde_json::to_value(&done.totals).unwrap();
    let expected = json!({"currency": "USD", "paid": {"amount": "0.00", "currency": "USD"},
        "payouts": 0, "carried": {"amount": "1.00", "currency": "USD"}, "carried_lines": 1,
        "owed": {"amount": "20.00", "currency": "USD"}, "owed_lines": 1, "failed_lines": 0});
    assert_eq!(totals, json!([expected]));
    assert_eq!(report(&app, date).await["run"]["totals"], json!([expected]));
    assert_eq!(
        lines(&app, date).await,
        HashMap::from([
            (b.id("anna").to_string(), owed("20.00")),
            (b.id("ben").to_string(), carried("1.00")),
        ])
    );
    let csv = app
        .get(&format!("/api/settlements/{date}/report.csv"), &app.admin)
        .await;
    let rows = parse_csv(csv.json.as_str().unwrap_or(""));
    let col = |name: &str| rows[0].iter().position(|c| c == name).unwrap();
    let sum = |name: &str| -> i64 { rows[1..].iter().map(|r| cents(&json!(r[col(name)]))).sum() };
    assert_eq!((sum("carried_balance"), sum("owed")), (100, 2000));
    assert!(rows[1..]
        .iter()
        .all(|r| !r[col("carried_balance")].starts_with('-')));
    let told = finance
        .receive(
            10,
            std::time::Duration::from_secs(30),
            std::time::Duration::ZERO,
        )
        .await
        .expect("receive");
    let message: Value = serde_json::from_str(&told[0].body).expect("json");
    assert_eq!(message["totals"], json!([expected]));
}
on_both_backends!(carried_and_owed_totals_are_never_netted);

// One creator record that cannot be decoded (a bug, a hand edit) used to fail the page of
// creators, so `POST /api/settlements` answered 503 and the run stayed `running` for everyone.
async fn an_unreadable_creator_record_never_stops_the_run_for_the_others(app: TestApp) {
    let b = five_creators_owed(&app).await;
    let broken = CreatorId::generate();
    app.table
        .put(
            Item::new(
                Key::new(format!("CREATOR#{broken}"), "CREATOR"),
                "{\"name\": 7}".into(),
            )
            .with_gsi1(IndexKey::new("CREATORS", broken.to_string())),
            Condition::NotExists,
        )
        .await
        .expect("store the broken creator");
    let date = days_ago(1);
    let run_json = run(&app, date).await;
    assert_eq!(run_json["status"], "completed", "{run_json}");
    assert_paid_once_each(&app, &b, date).await;
}
on_both_backends!(an_unreadable_creator_record_never_stops_the_run_for_the_others);
