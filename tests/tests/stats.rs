//! `GET /api/stats` end to end: clicks through the redirect, sales and refunds through the
//! signed postback, the worker, the roll-up of the change feed, then what a brand and a creator
//! see (JSON and CSV), against what the steps made (counted by hand here, never read back from
//! the code's own totals).

use http::StatusCode;
use serde_json::{json, Value};

use linkledger_core::conversion::Platform;
use linkledger_tests::app::TestApp;
use linkledger_tests::webhooks::{now_unix, postback_headers, rfc3339_in};

struct Brand {
    program: String,
    anna: String,
    anna_key: String,
    ben: String,
    click: String,
    secret: String,
}

/// Anna (`anna10`, code `ANNA10`) and Ben (`ben5`) in one program; four clicks on `anna10` (one
/// a repeat of the same visitor, one a bot's), one on `ben5`.
async fn brand(app: &TestApp) -> Brand {
    let program = app.program().await;
    let (anna, anna_key) = app.creator(&program, "anna").await;
    let (ben, _) = app.creator(&program, "ben").await;
    for (creator, code) in [(&anna, "anna10"), (&ben, "ben5")] {
        let reply = app
            .link(&program, creator, code, "https://brand.com/serum")
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    }
    app.promo_code(&program, "ANNA10", &anna).await;
    let mut click = String::new();
    for (code, ip, agent) in [
        ("anna10", "203.0.113.9", "Mozilla/5.0 (iPhone)"),
        ("anna10", "203.0.113.9", "Mozilla/5.0 (iPhone)"),
        ("anna10", "198.51.100.4", "Mozilla/5.0 (Android)"),
        ("anna10", "198.51.100.7", "Twitterbot/1.0"),
        ("ben5", "203.0.113.9", "Mozilla/5.0 (iPhone)"),
    ] {
        let visit = app.visit(&format!("/{code}"), ip, agent).await;
        assert_eq!(visit.status, StatusCode::FOUND);
        if click.is_empty() {
            let location = url::Url::parse(visit.header("location")).expect("a location");
            click = location
                .query_pairs()
                .find(|(k, _)| k == "ll_click")
                .map(|(_, v)| v.into_owned())
                .expect("a click id");
        }
    }
    let secret = app
        .webhook_secret(&program, Platform::Postback, Some("postback_test_secret_1"))
        .await;
    Brand {
        program,
        anna,
        anna_key,
        ben,
        click,
        secret,
    }
}

async fn postback(app: &TestApp, brand: &Brand, body: Value) {
    let body = body.to_string().into_bytes();
    let reply = app
        .deliver(
            &format!("/postback/{}", brand.program),
            &postback_headers(&brand.secret, &body, now_unix()),
            &body,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
}

/// A sale of 100.00 through Anna's click, a sale of 40.00 with her promo code, a lead
/// through her click, and half of the first sale refunded.
async fn history(app: &TestApp, brand: &Brand) {
    postback(
        app,
        brand,
        json!({"event": "sale", "order_id": "o-1", "amount": "100.00", "currency": "USD",
               "click_id": brand.click, "occurred_at": rfc3339_in(60)}),
    )
    .await;
    postback(
        app,
        brand,
        json!({"event": "sale", "order_id": "o-2", "amount": "40.00", "currency": "USD",
               "coupon": "anna10", "occurred_at": rfc3339_in(60)}),
    )
    .await;
    app.drain().await;
    postback(
        app,
        brand,
        json!({"event": "refund", "order_id": "o-1", "amount": "50.00", "currency": "USD",
               "occurred_at": rfc3339_in(120)}),
    )
    .await;
    app.drain().await;
}

async fn stats(app: &TestApp, key: &str, query: &str) -> Value {
    let reply = app.get(&format!("/api/stats?{query}"), key).await;
    assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.json);
    reply.json
}

fn row<'a>(report: &'a Value, key: &str) -> &'a Value {
    report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["key"] == key)
        .unwrap_or_else(|| panic!("a row for {key} in {report}"))
}

fn keys(report: &Value) -> Vec<String> {
    report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["key"].as_str().expect("key").to_string())
        .collect()
}

/// Runs each test on SQLite (the roll-up following the SQLite feed) and on DynamoDB with the
/// table's stream on (its records handed to the `stats` function's handler).
macro_rules! with_change_feed {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    super::$name(super::TestApp::sqlite().await).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn dynamodb() {
                    if let Some(app) = super::TestApp::aws_with_stream().await {
                        super::$name(app).await;
                    }
                }
            }
        )+
    };
}

fn usd(amount: &str) -> Value {
    json!({"amount": amount, "currency": "USD"})
}

async fn a_brand_sees_clicks_sales_refunds_and_commission_by_program_creator_link_and_code(
    app: TestApp,
) {
    let brand = brand(&app).await;
    history(&app, &brand).await;
    let rolled = app.roll_up().await;
    assert!(rolled.counted > 0);

    let p = &brand.program;
    let total = stats(&app, &app.admin, &format!("program={p}")).await;
    let t = &total["totals"];
    assert_eq!(t["clicks"], 5);
    // The repeat and the bot's click are not unique.
    assert_eq!(t["unique_clicks"], 3);
    assert_eq!(t["bot_clicks"], 1);
    assert_eq!(t["sales"], 2);
    assert_eq!(t["leads"], 0);
    assert_eq!(t["revenue"], usd("140.00"));
    assert_eq!(t["average_order_value"], usd("70.00"));
    assert_eq!(t["refunds"], 1);
    assert_eq!(t["refunded"], usd("50.00"));
    // 10 % of 100 and of 40, then half of the first taken back.
    assert_eq!(t["commission_accrued"], usd("14.00"));
    assert_eq!(t["commission_reversed"], usd("5.00"));
    assert_eq!(t["commission"], usd("9.00"));
    // 2 sales over 3 unique clicks; 9.00 over 5 clicks; 140 over 9.
    assert_eq!(t["conversion_rate_bps"], 6667);
    assert_eq!(t["earnings_per_click"], usd("1.80"));
    assert_eq!(t["roas"], "15.56");
    // Everything is inside the 30-day holding period.
    assert_eq!(t["pending"], usd("9.00"));
    assert_eq!(t["payable"], usd("0.00"));
    assert_eq!(t["paid"], usd("0.00"));
    assert_eq!(total["time_zone"], "UTC");

    let by_creator = stats(&app, &app.admin, &format!("program={p}&group_by=creator")).await;
    let mut expected = vec![brand.anna.clone(), brand.ben.clone()];
    expected.sort();
    assert_eq!(keys(&by_creator), expected);
    let anna = row(&by_creator, &brand.anna);
    assert_eq!(anna["clicks"], 4);
    assert_eq!(anna["sales"], 2);
    assert_eq!(anna["commission"], usd("9.00"));
    assert_eq!(anna["pending"], usd("9.00"));
    let ben = row(&by_creator, &brand.ben);
    assert_eq!(ben["clicks"], 1);
    assert_eq!(ben["unique_clicks"], 1);
    assert_eq!(ben["sales"], 0);
    assert_eq!(ben["commission"], usd("0.00"));

    let by_link = stats(&app, &app.admin, &format!("program={p}&group_by=link")).await;
    assert_eq!(keys(&by_link), ["anna10", "ben5"]);
    let anna10 = row(&by_link, "anna10");
    assert_eq!(anna10["clicks"], 4);
    assert_eq!(anna10["unique_clicks"], 2);
    assert_eq!(
        anna10["sales"], 1,
        "the coupon sale is the code's, not the link's"
    );
    assert_eq!(anna10["revenue"], usd("100.00"));
    assert_eq!(anna10["commission"], usd("5.00"));
    assert!(anna10.get("pending").is_none(), "balances are per creator");

    let by_code = stats(&app, &app.admin, &format!("program={p}&group_by=code")).await;
    assert_eq!(keys(&by_code), ["anna10"]);
    assert_eq!(row(&by_code, "anna10")["revenue"], usd("40.00"));
    assert_eq!(row(&by_code, "anna10")["commission"], usd("4.00"));

    // By day: everything happened today (UTC).
    let by_day = stats(&app, &app.admin, &format!("program={p}&group_by=day")).await;
    assert_eq!(by_day["rows"].as_array().unwrap().len(), 1);
    let today = app.store.now().date().to_string();
    assert_eq!(by_day["rows"][0]["period"], today);
    assert_eq!(by_day["rows"][0]["clicks"], 5);

    // Counting the feed again changes nothing; on DynamoDB even when the stream delivers
    // every record a second time (clicks and entries find their markers, conversions their
    // snapshots).
    let again = app.roll_up().await;
    assert_eq!(again.counted, 0);
    if app.redeliver_stream() {
        let redelivered = app.roll_up().await;
        assert_eq!(redelivered.counted, 0);
        assert!(redelivered.unchanged >= 10, "{redelivered:?}");
    }
    assert_eq!(
        stats(&app, &app.admin, &format!("program={p}")).await,
        total
    );
}

async fn a_creator_sees_its_own_stats_only(app: TestApp) {
    let brand = brand(&app).await;
    history(&app, &brand).await;
    app.roll_up().await;
    let p = &brand.program;
    let key = &brand.anna_key;

    for group in ["creator", "program"] {
        let report = stats(&app, key, &format!("program={p}&group_by={group}")).await;
        assert_eq!(report["rows"].as_array().unwrap().len(), 1, "{report}");
        assert_eq!(report["totals"]["clicks"], 4, "Ben's click is not hers");
        assert_eq!(report["totals"]["pending"], usd("9.00"));
    }
    let links = stats(&app, key, &format!("program={p}&group_by=link")).await;
    assert_eq!(keys(&links), ["anna10"]);
    let reply = app
        .get(
            &format!("/api/stats?program={p}&creator={}", brand.ben),
            key,
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.json);
    // A program she is not enrolled in does not exist for her.
    let other = app.program().await;
    let reply = app.get(&format!("/api/stats?program={other}"), key).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.json);
    // Her CSV holds her rows only.
    let reply = app
        .get(
            &format!("/api/stats?program={p}&group_by=link&format=csv"),
            key,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let csv = reply.json.as_str().expect("a CSV body");
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.lines().nth(1).unwrap().starts_with("anna10,"), "{csv}");
}

async fn stats_come_as_csv(app: TestApp) {
    let brand = brand(&app).await;
    history(&app, &brand).await;
    app.roll_up().await;
    let reply = app
        .get(
            &format!(
                "/api/stats?program={}&group_by=creator&format=csv",
                brand.program
            ),
            &app.admin,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.header("content-type").starts_with("text/csv"));
    let response = reply.json.as_str().expect("a CSV body").to_string();
    let lines: Vec<&str> = response.lines().collect();
    assert!(lines[0].starts_with("key,period,clicks,unique_clicks,bot_clicks,leads,sales,"));
    assert_eq!(lines.len(), 3, "{response}");
    let anna = lines
        .iter()
        .find(|l| l.starts_with(&brand.anna))
        .expect("Anna's row");
    assert!(anna.contains(",4,2,1,0,2,"), "{anna}");
    assert!(anna.ends_with(",9.00,0.00,0.00,USD"), "{anna}");
}

async fn bad_stats_questions_get_400_or_404_naming_the_field(app: TestApp) {
    let program = app.program().await;
    for (query, status, code) in [
        ("group_by=colour", 400, "invalid_query"),
        ("period=fortnight", 400, "invalid_query"),
        ("group_by=day&period=month", 400, "invalid_query"),
        ("format=xml", 400, "invalid_query"),
        ("from=2026-13-01", 400, "invalid_date"),
        ("from=2026-11-30&to=2026-11-01", 400, "invalid_query"),
        ("from=2025-01-01&to=2026-11-30", 400, "invalid_query"),
        ("colour=red", 400, "invalid_query"),
    ] {
        let reply = app
            .get(&format!("/api/stats?program={program}&{query}"), &app.admin)
            .await;
        assert_eq!(reply.status.as_u16(), status, "{query}: {}", reply.json);
        assert_eq!(reply.error_code(), code, "{query}");
    }
    let reply = app
        .get(
            "/api/stats?program=prg_nosuchprogram00000000000",
            &app.admin,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let reply = app.get("/api/stats", &app.admin).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

with_change_feed!(
    a_brand_sees_clicks_sales_refunds_and_commission_by_program_creator_link_and_code,
    a_creator_sees_its_own_stats_only,
    stats_come_as_csv,
    bad_stats_questions_get_400_or_404_naming_the_field,
);

/// The SQLite writer trims the backlog its indexer has applied (within a second and a half of a
/// write), but never a change the roll-up, registered as the feed's reader, has not counted.
/// (The wait is the adapter's own background timing, as a queue's visibility timeout is.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sqlite_feed_keeps_what_the_roll_up_has_not_counted() {
    let app = TestApp::sqlite().await;
    let brand = brand(&app).await;
    for _ in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
        let visit = app
            .visit("/ben5", "192.0.2.1", "Mozilla/5.0 (Macintosh)")
            .await;
        assert_eq!(visit.status, StatusCode::FOUND);
    }
    tokio::time::sleep(std::time::Duration::from_millis(1_600)).await;
    app.roll_up().await;
    let total = stats(&app, &app.admin, &format!("program={}", brand.program)).await;
    assert_eq!(total["totals"]["clicks"], 8);
}

/// Passes over the SQLite feed go on until its end, however many of the rows they read are of
/// records the stats do not count (programs, links, audit entries): three rows at a time here.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn small_passes_over_the_sqlite_feed_count_everything() {
    let app = TestApp::sqlite().await;
    let brand = brand(&app).await;
    history(&app, &brand).await;
    let db = app.feed.as_ref().expect("the SQLite feed");
    let roll_up = linkledger_store::stats::RollUp::new(linkledger_store::stats::Guard::Cursor);
    linkledger_wiring::stats::roll_up_pending_by(&app.store, db, &roll_up, 3)
        .await
        .expect("the roll-up counts the feed");
    let total = stats(&app, &app.admin, &format!("program={}", brand.program)).await;
    assert_eq!(total["totals"]["clicks"], 5);
    assert_eq!(total["totals"]["sales"], 2);
    assert_eq!(total["totals"]["commission"], usd("9.00"));
}

/// One record the roll-up can never count (here a conversion whose stored JSON is unreadable)
/// is logged and passed over; everything else in the feed is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreadable_record_does_not_hold_up_the_sqlite_roll_up() {
    use linkledger_store::ports::{Condition, Item, Key};
    let app = TestApp::sqlite().await;
    let brand = brand(&app).await;
    app.table
        .put(
            Item::new(
                Key::new("CONV#cnv_0123456789abcdef0123456789abcdef", "CONV"),
                "{not json".into(),
            ),
            Condition::None,
        )
        .await
        .expect("a raw write");
    history(&app, &brand).await;
    app.roll_up().await;
    let total = stats(&app, &app.admin, &format!("program={}", brand.program)).await;
    assert_eq!(total["totals"]["clicks"], 5);
    assert_eq!(total["totals"]["sales"], 2);
    assert_eq!(total["totals"]["commission"], usd("9.00"));
}
