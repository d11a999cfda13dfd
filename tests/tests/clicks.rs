//! Click uniqueness as the API reports it: the same visitor on the same link within an hour is a
//! repeat; after an hour, or on another link, or as another visitor, it is unique again.

use http::StatusCode;
use linkledger_core::click::Click;
use linkledger_core::ids::{ClickId, CreatorId, LinkCode, ProgramId};
use linkledger_tests::app::TestApp;
use linkledger_tests::on_both_backends;
use serde_json::Value;

const MINUTE: i64 = 60_000;

async fn record(app: &TestApp, program: &str, creator: &str, at_ms: i64, visitor: &str) -> ClickId {
    let click = Click {
        id: ClickId::generate(at_ms),
        link_code: LinkCode::parse("anna10").unwrap(),
        program_id: ProgramId::parse(program).unwrap(),
        creator_id: CreatorId::parse(creator).unwrap(),
        at_ms,
        visitor: visitor.to_string(),
        bot: false,
        country: None,
        referrer_host: None,
    };
    let expires = time::OffsetDateTime::now_utc() + time::Duration::days(30);
    app.store.record_click(&click, expires).await.unwrap();
    click.id
}

/// A program and its creator Anna with her link `anna10`: (program id, creator id).
async fn anna10(app: &TestApp) -> (String, String) {
    let program = app.program().await;
    let (creator, _) = app.creator(&program, "anna").await;
    assert_eq!(
        app.link(&program, &creator, "anna10", "https://brand.com/")
            .await
            .status,
        StatusCode::CREATED
    );
    (program, creator)
}

fn unique_of(items: &[Value], id: &ClickId) -> bool {
    items
        .iter()
        .find(|c| c["id"] == id.as_str())
        .expect("listed")["unique"]
        .as_bool()
        .unwrap()
}

async fn uniqueness_follows_the_one_hour_window(app: TestApp) {
    let (program, creator) = anna10(&app).await;
    let t0 = linkledger_core::clock::unix_ms(time::OffsetDateTime::now_utc()) - 300 * MINUTE;

    let first = record(&app, &program, &creator, t0, "aaaa").await;
    let within = record(&app, &program, &creator, t0 + 59 * MINUTE, "aaaa").await;
    let other_visitor = record(&app, &program, &creator, t0 + 60 * MINUTE, "bbbb").await;
    let after_an_hour = record(&app, &program, &creator, t0 + 120 * MINUTE, "aaaa").await;

    let items = app.clicks("anna10").await;
    assert_eq!(items.len(), 4);
    assert!(unique_of(&items, &first));
    assert!(!unique_of(&items, &within), "59 minutes later: a repeat");
    assert!(unique_of(&items, &other_visitor));
    assert!(
        unique_of(&items, &after_an_hour),
        "an hour after the last visit: unique again"
    );

    // Page by page (newest first, one per page), each click still knows its history.
    let seen = app.all_pages("/api/links/anna10/clicks?limit=1").await;
    assert_eq!(seen.len(), 4);
    assert!(
        !unique_of(&seen, &within),
        "the repeat is recognised on its own page"
    );
    assert!(unique_of(&seen, &after_an_hour));
}
on_both_backends!(uniqueness_follows_the_one_hour_window);

async fn a_page_of_a_busy_links_clicks_costs_reads_in_proportion_to_its_limit(app: TestApp) {
    let (program, creator) = anna10(&app).await;
    // 1 200 clicks in the last twenty minutes, a click a second from 50 visitors in turn:
    // today's main re-read the whole hour for every page, 500 items per query.
    let t0 = linkledger_core::clock::unix_ms(time::OffsetDateTime::now_utc()) - 20 * MINUTE;
    for start in (0..1200i64).step_by(50) {
        futures_util::future::join_all((start..start + 50).map(|i| {
            let visitor = format!("v{:04}", i % 50);
            let (app, program, creator) = (&app, &program, &creator);
            async move { record(app, program, creator, t0 + i * 1000, &visitor).await }
        }))
        .await;
    }
    let before = app.table.op_counts().reads;
    let page = app
        .get("/api/links/anna10/clicks?limit=1", &app.admin)
        .await;
    let reads = app.table.op_counts().reads - before;
    assert_eq!(page.status, StatusCode::OK, "{}", page.json);
    // The key, the link, the page, one bounded look back for uniqueness.
    assert!(reads <= 4, "a limit=1 page took {reads} reads");
    let items = page.json["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0]["unique"], false,
        "the newest click's visitor came 50 seconds before, within the look back"
    );
}
on_both_backends!(a_page_of_a_busy_links_clicks_costs_reads_in_proportion_to_its_limit);
