//! Click uniqueness as the API reports it: the same visitor on the same link within an hour is a
//! repeat; after an hour, or on another link, or as another visitor, it is unique again.

use http::StatusCode;
use linkledger_shared::click::Click;
use linkledger_shared::ids::{ClickId, CreatorId, LinkCode, ProgramId};
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
    let expires = linkledger_shared::now() + time::Duration::days(30);
    app.store.record_click(&click, expires).await.unwrap();
    click.id
}

fn unique_of(items: &[Value], id: &ClickId) -> bool {
    items
        .iter()
        .find(|c| c["id"] == id.as_str())
        .expect("listed")["unique"]
        .as_bool()
        .unwrap()
}

on_both_backends!(
    uniqueness_follows_the_one_hour_window,
    |app: TestApp| async move {
        let program = app.program().await;
        let (creator, _) = app.creator(&program, "anna").await;
        assert_eq!(
            app.link(&program, &creator, "anna10", "https://brand.com/")
                .await
                .status,
            StatusCode::CREATED
        );
        let t0 = linkledger_shared::now_ms() - 300 * MINUTE;

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
);
