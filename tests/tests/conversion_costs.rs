//! What one conversion costs on the AWS adapters, counted by their own operation counters
//! (DynamoDB and SQS on the emulator): the webhook is two key reads (none while its program's
//! terms are kept, `functions/webhooks/src/terms.rs`), **one SQS send** and at most one write
//! a second per program, platform and result to the delivery log
//! (`functions/webhooks/src/deliveries.rs`); the
//! booking is a handful of key reads and **one transactional write** (BENCHMARKS.md).

use std::sync::Arc;

use http::StatusCode;
use serde_json::json;

use linkledger_core::conversion::Platform;
use linkledger_store::ports::{OpCounts, Queue};
use linkledger_tests::app::TestApp;
use linkledger_tests::backends::{aws_queue, aws_table_backend};
use linkledger_tests::webhooks::{now_unix, postback_headers, rfc3339_in};

fn diff(after: OpCounts, before: OpCounts) -> (u64, u64) {
    (after.reads - before.reads, after.writes - before.writes)
}

#[tokio::test]
async fn a_booked_conversion_costs_one_sqs_send_and_one_transactional_write_on_aws() {
    let Some(table) = aws_table_backend().await else {
        return;
    };
    let Some(sqs) = aws_queue().await else {
        return;
    };
    let sqs = Arc::new(sqs);
    let app = TestApp::on(table, sqs.clone() as Arc<dyn Queue>).await;
    let program = app.program().await;
    let (creator, _) = app.creator(&program, "anna").await;
    app.link(&program, &creator, "anna10", "https://brand.com/serum")
        .await;
    let visit = app.visit("/anna10", "203.0.113.9", "Mozilla/5.0").await;
    let location = url::Url::parse(visit.header("location")).unwrap();
    let click = location
        .query_pairs()
        .find(|(k, _)| k == "ll_click")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let secret = app.webhook_secret(&program, Platform::Postback, None).await;
    let body = json!({"event": "sale", "order_id": "cost-1", "amount": "100.00",
        "currency": "USD", "click_id": click, "occurred_at": rfc3339_in(60)})
    .to_string();

    let (table_before, sqs_before) = (app.table.op_counts(), sqs.op_counts());
    let reply = app
        .deliver(
            &format!("/postback/{program}"),
            &postback_headers(&secret, body.as_bytes(), now_unix()),
            body.as_bytes(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let webhook_table = diff(app.table.op_counts(), table_before);
    let webhook_sqs = diff(sqs.op_counts(), sqs_before);
    println!(
        "webhook: table (reads, writes) {webhook_table:?}, sqs (receives, writes) {webhook_sqs:?}"
    );
    assert_eq!(
        webhook_table,
        (2, 1),
        "program and secret read, one delivery log entry written"
    );
    assert_eq!(webhook_sqs, (0, 1), "one SendMessage");

    let (table_before, sqs_before) = (app.table.op_counts(), sqs.op_counts());
    assert_eq!(app.drain().await.done, 1);
    let booking_table = diff(app.table.op_counts(), table_before);
    let booking_sqs = diff(sqs.op_counts(), sqs_before);
    println!(
        "booking: table (reads, writes) {booking_table:?}, sqs (receives, writes) {booking_sqs:?}"
    );
    assert_eq!(booking_table.1, 1, "one TransactWriteItems");
    // program, order (dedupe), click, click use count, enrolment; the creator is read for the
    // self-referral check only when the order carries an e-mail (this one does not).
    assert_eq!(booking_table.0, 5);
    // One delete; the receives are the drain's polls (one per consumer that found the queue
    // empty), not a cost of the conversion: on Lambda the event source receives for the worker.
    assert_eq!(booking_sqs.1, 1, "one DeleteMessage");

    // The next delivery within the second finds the program's terms kept: no read at all; and
    // its result was logged less than a second ago: no write either.
    let again = json!({"event": "sale", "order_id": "cost-2", "amount": "100.00",
        "currency": "USD", "click_id": click, "occurred_at": rfc3339_in(60)})
    .to_string();
    let (table_before, sqs_before) = (app.table.op_counts(), sqs.op_counts());
    let reply = app
        .deliver(
            &format!("/postback/{program}"),
            &postback_headers(&secret, again.as_bytes(), now_unix()),
            again.as_bytes(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(
        diff(app.table.op_counts(), table_before),
        (0, 0),
        "a warm delivery reads and writes nothing"
    );
    assert_eq!(diff(sqs.op_counts(), sqs_before), (0, 1), "one SendMessage");
}
