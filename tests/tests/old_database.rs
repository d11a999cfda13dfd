//! A database written by the previous main opens and works with today's code: every record
//! the money flows store (program, creator, link, click, conversions held and approved, ledger
//! entries of every kind, a settlement run and its line, a paid payout, API keys, audit
//! entries) reads back through the API as it was written, and the flows go on from there.
//!
//! The fixture `tests/fixtures/db/main-ef9a0f3.db` was written by `linkledger` built at
//! ef9a0f3 (the last main before the layered crates), by `tests/fixtures/db/make-old-db`
//! (its docstring says what it holds; `main-ef9a0f3.json` when). Its index file was left out,
//! so opening it also rebuilds the secondary indexes from the items.

use std::collections::BTreeMap;
use std::path::Path;

use http::{Method, StatusCode};
use serde_json::{json, Value};

use linkledger_tests::app::TestApp;
use linkledger_tests::backends::sqlite_app_backend_copy_of;
use linkledger_tests::webhooks::{now_unix, postback_headers};

const PROGRAM: &str = "prg_demo000000000000000000";
const CREATOR: &str = "cre_anna000000000000000000";
const POSTBACK_SECRET: &str = "demo_postback_secret_do_not_use_in_production";

async fn old_app() -> TestApp {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/db/main-ef9a0f3.db");
    let (table, queue) = sqlite_app_backend_copy_of(&fixture);
    TestApp::on(table, queue).await
}

fn items(reply: &linkledger_tests::app::Reply) -> Vec<Value> {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    reply.json["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_database_written_by_the_previous_main_reads_as_it_was_written() {
    let app = old_app().await;
    let admin = app.admin.clone();

    let program = app.get(&format!("/api/programs/{PROGRAM}"), &admin).await;
    assert_eq!(program.status, StatusCode::OK, "{}", program.json);
    assert_eq!(program.json["name"], "Demo Skincare");
    assert_eq!(program.json["currency"], "USD");
    assert_eq!(program.json["holding_days"], 30);

    let creator = app.get(&format!("/api/creators/{CREATOR}"), &admin).await;
    assert_eq!(creator.json["payout_email"], "anna@example.com");

    let clicks = items(&app.get("/api/links/anna10/clicks", &admin).await);
    assert_eq!(clicks.len(), 1);
    assert_eq!(clicks[0]["link_code"], "anna10");

    let conversions = items(
        &app.get(&format!("/api/conversions?program={PROGRAM}"), &admin)
            .await,
    );
    let by_order: BTreeMap<String, &Value> = conversions
        .iter()
        .map(|c| (c["order_id"].as_str().unwrap_or("").to_string(), c))
        .collect();
    assert_eq!(by_order.len(), 4, "{conversions:?}");
    let view = |order: &str| {
        let c = by_order[order];
        (
            c["status"].as_str().unwrap_or("").to_string(),
            c["commission"]["amount"].as_str().unwrap_or("").to_string(),
            c["hold_reasons"].as_array().cloned().unwrap_or_default(),
        )
    };
    assert_eq!(view("old-1"), ("approved".into(), "100.00".into(), vec![]));
    assert_eq!(by_order["old-1"]["refunded"]["amount"], "300.00");
    assert_eq!(by_order["old-1"]["reversed"]["amount"], "30.00");
    assert_eq!(view("old-2"), ("approved".into(), "20.00".into(), vec![]));
    assert_eq!(
        view("old-3"),
        ("held".into(), "0.00".into(), vec![json!("fx_rate_missing")])
    );
    assert_eq!(
        view("old-4"),
        ("held".into(), "8.00".into(), vec![json!("self_referral")])
    );

    let ledger = items(
        &app.get(&format!("/api/ledger?creator={CREATOR}"), &admin)
            .await,
    );
    let mut kinds: Vec<(String, String)> = ledger
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or("").to_string(),
                e["amount"]["amount"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("accrual".to_string(), "100.00".to_string()),
            ("accrual".into(), "20.00".into()),
            ("adjustment".into(), "5.00".into()),
            ("payout".into(), "-70.00".into()),
            ("reversal".into(), "-30.00".into()),
        ]
    );

    // Whatever today's date: 100 - 30 + 5 + 20 - 70 in all, 70 paid.
    let balances = items(
        &app.get(&format!("/api/balances?creator={CREATOR}"), &admin)
            .await,
    );
    assert_eq!(balances.len(), 1);
    assert_eq!(balances[0]["total"]["amount"], "25.00");
    assert_eq!(balances[0]["paid"]["amount"], "70.00");

    let run = app.get("/api/settlements/2026-12-01", &admin).await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.json);
    assert_eq!(run.json["run"]["date"], "2026-12-01");
    assert_eq!(run.json["run"]["status"], "completed");
    assert_eq!(run.json["lines"][0]["status"], "paid");
    assert_eq!(run.json["lines"][0]["amount"]["amount"], "70.00");
    let payouts = items(
        &app.get(&format!("/api/payouts?creator={CREATOR}"), &admin)
            .await,
    );
    assert_eq!(payouts.len(), 1);
    assert_eq!(payouts[0]["status"], "paid");
    assert_eq!(payouts[0]["amount"]["amount"], "70.00");
    assert_eq!(payouts[0]["date"], "2026-12-01");

    let keys = items(&app.get("/api/keys", &admin).await);
    assert!(
        keys.iter()
            .any(|k| k["role"] == "creator" && k["label"] == "anna"),
        "{keys:?}"
    );
    let audit = items(&app.get("/api/audit", &admin).await);
    assert!(
        audit.iter().any(|a| a["action"] == "payout.paid"),
        "{audit:?}"
    );
}

#[tokio::test]
async fn the_flows_go_on_from_a_database_written_by_the_previous_main() {
    let app = old_app().await;
    let admin = app.admin.clone();

    // A new sale by the old promo code books on the old records.
    let body = json!({"event": "sale", "order_id": "new-1", "amount": "50.00", "currency": "USD", "coupon": "ANNA10"})
        .to_string();
    let mut request = http::Request::builder()
        .method(Method::POST)
        .uri(format!("/postback/{PROGRAM}"));
    for (name, value) in postback_headers(POSTBACK_SECRET, body.as_bytes(), now_unix()) {
        request = request.header(name, value);
    }
    let reply = app
        .send(request.body(axum::body::Body::from(body)).unwrap())
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(app.drain().await.done, 1);

    // The old held conversion is approved: its accrual is booked.
    let held = items(
        &app.get(
            &format!("/api/conversions?program={PROGRAM}&status=held"),
            &admin,
        )
        .await,
    );
    let self_referral = held
        .iter()
        .find(|c| c["order_id"] == "old-4")
        .expect("the old held conversion");
    let id = self_referral["id"].as_str().unwrap_or("");
    let approved = app
        .post(&format!("/api/conversions/{id}/approve"), &admin, json!({}))
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.json);
    assert_eq!(approved.json["status"], "approved");

    let ledger = items(
        &app.get(&format!("/api/ledger?creator={CREATOR}"), &admin)
            .await,
    );
    assert_eq!(ledger.len(), 7, "{ledger:?}");
    let balances = items(
        &app.get(&format!("/api/balances?creator={CREATOR}"), &admin)
            .await,
    );
    // 25.00 before, + 5.00 for the new sale, + 8.00 for the approved one.
    assert_eq!(balances[0]["total"]["amount"], "38.00");

    // The date the old main settled is not paid twice.
    let again = app
        .post("/api/settlements", &admin, json!({"date": "2026-12-01"}))
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.json);
    let payouts = items(
        &app.get(&format!("/api/payouts?creator={CREATOR}"), &admin)
            .await,
    );
    assert_eq!(payouts.len(), 1, "{payouts:?}");
}
