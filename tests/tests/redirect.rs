//! Flow 1, the redirect, through HTTP on both backends.

use http::{Method, StatusCode};
use linkledger_tests::app::TestApp;
use linkledger_tests::on_both_backends;
use serde_json::json;

const BROWSER: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";

async fn app_with_link(app: &TestApp, destination: &str) -> String {
    let program = app.program().await;
    let (creator, _) = app.creator(&program, "anna").await;
    let reply = app.link(&program, &creator, "anna10", destination).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    program
}

async fn redirects_with_a_fresh_click_id_and_stores_the_click_once(app: TestApp) {
    app_with_link(&app, "https://shop.brand.com/serum?color=red#reviews").await;

    let reply = app
        .visit(
            "/anna10?utm_source=ig&utm_campaign=spring&other=x",
            "203.0.113.9",
            BROWSER,
        )
        .await;

    assert_eq!(reply.status, StatusCode::FOUND);
    assert_eq!(reply.header("cache-control"), "no-store");
    let location = url::Url::parse(reply.header("location")).unwrap();
    assert_eq!(location.host_str(), Some("shop.brand.com"));
    assert_eq!(location.fragment(), Some("reviews"));
    let query: Vec<(String, String)> = location.query_pairs().into_owned().collect();
    assert!(
        query.contains(&("color".into(), "red".into())),
        "keeps the destination's query"
    );
    assert!(
        query.contains(&("utm_source".into(), "ig".into())),
        "passes utm_* through"
    );
    assert!(query.contains(&("utm_campaign".into(), "spring".into())));
    assert!(
        !query.iter().any(|(k, _)| k == "other"),
        "only utm_* pass through"
    );
    let click_id = query
        .iter()
        .find(|(k, _)| k == "ll_click")
        .map(|(_, v)| v.clone())
        .expect("click id appended");

    let clicks = app.clicks("anna10").await;
    assert_eq!(clicks.len(), 1, "one click stored");
    assert_eq!(clicks[0]["id"], json!(click_id));
    assert_eq!(clicks[0]["bot"], json!(false));
    assert_eq!(clicks[0]["unique"], json!(true));
    let stored = clicks[0].to_string();
    assert!(!stored.contains("203.0.113.9"), "no raw IP stored");

    let second = app.visit("/anna10", "198.51.100.7", BROWSER).await;
    assert_ne!(
        second.header("location"),
        reply.header("location"),
        "every click gets a fresh id"
    );
}
on_both_backends!(redirects_with_a_fresh_click_id_and_stores_the_click_once);

async fn head_redirects_without_recording(app: TestApp) {
    app_with_link(&app, "https://brand.com/").await;
    let reply = app
        .send(
            http::Request::head("/anna10")
                .header("user-agent", BROWSER)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FOUND);
    assert!(reply.header("location").starts_with("https://brand.com/"));
    assert!(app.clicks("anna10").await.is_empty());
}
on_both_backends!(head_redirects_without_recording);

async fn bots_and_previewers_are_redirected_but_flagged(app: TestApp) {
    app_with_link(&app, "https://brand.com/").await;
    for ua in [
        "facebookexternalhit/1.1",
        "WhatsApp/2.23.20.0",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    ] {
        let reply = app.visit("/anna10", "192.0.2.1", ua).await;
        assert_eq!(reply.status, StatusCode::FOUND, "{ua}");
    }
    let clicks = app.clicks("anna10").await;
    assert_eq!(clicks.len(), 3);
    assert!(clicks.iter().all(|c| c["bot"] == json!(true)));
}
on_both_backends!(bots_and_previewers_are_redirected_but_flagged);

async fn a_repeat_within_the_hour_is_not_unique(app: TestApp) {
    app_with_link(&app, "https://brand.com/").await;
    // Click ids order clicks by millisecond; space the visits so "newest first" is unambiguous.
    for ip in ["192.0.2.10", "192.0.2.10", "192.0.2.11"] {
        app.visit("/anna10", ip, BROWSER).await;
        app.clock.advance(time::Duration::milliseconds(3));
    }

    let clicks = app.clicks("anna10").await; // newest first
    assert_eq!(clicks.len(), 3);
    let unique: Vec<bool> = clicks
        .iter()
        .map(|c| c["unique"].as_bool().unwrap())
        .collect();
    assert_eq!(
        unique,
        vec![true, false, true],
        "the second visit of the same visitor is a repeat"
    );
    assert_eq!(clicks[1]["visitor"], clicks[2]["visitor"]);
    assert_ne!(clicks[0]["visitor"], clicks[1]["visitor"]);
}
on_both_backends!(a_repeat_within_the_hour_is_not_unique);

async fn records_country_and_referrer_host_only(app: TestApp) {
    app_with_link(&app, "https://brand.com/").await;
    let reply = app
        .send(
            http::Request::get("/anna10")
                .header("user-agent", BROWSER)
                .header("cloudfront-viewer-country", "DE")
                .header(
                    "referer",
                    "https://www.instagram.com/p/secret-post?igsh=abc",
                )
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FOUND);
    let click = &app.clicks("anna10").await[0];
    assert_eq!(click["country"], json!("DE"));
    assert_eq!(click["referrer_host"], json!("www.instagram.com"));
}
on_both_backends!(records_country_and_referrer_host_only);

async fn unknown_codes_404_and_disabled_or_expired_links_410(app: TestApp) {
    let program = app_with_link(&app, "https://brand.com/").await;
    let unknown = app.visit("/nosuchcode", "192.0.2.1", BROWSER).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.error_code(), "not_found");
    assert_eq!(
        app.visit("/a", "192.0.2.1", BROWSER).await.status,
        StatusCode::NOT_FOUND,
        "not even a valid code"
    );

    app.visit("/anna10", "192.0.2.1", BROWSER).await; // cached now
    let disabled = app
        .call(
            Method::POST,
            "/api/links/anna10/disable",
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.json);
    assert_eq!(disabled.json["disabled"], json!(true));
    let gone = app.visit("/anna10", "192.0.2.1", BROWSER).await;
    assert_eq!(gone.status, StatusCode::GONE);
    assert_eq!(gone.error_code(), "link_disabled");

    // An expiring link: stored directly with an expiry already past.
    let creator = app.get("/api/links/anna10", &app.admin).await.json["creator_id"]
        .as_str()
        .unwrap()
        .to_string();
    let soon = (time::OffsetDateTime::now_utc() + time::Duration::seconds(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let reply = app
    .post("/api/links", &app.admin, json!({"program_id": program, "creator_id": creator, "code": "brief", "destination": "https://brand.com/", "expires_at": soon}))
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    app.clock.advance(time::Duration::seconds(2));
    let expired = app.visit("/brief", "192.0.2.1", BROWSER).await;
    assert_eq!(expired.status, StatusCode::GONE);
    assert_eq!(expired.error_code(), "link_expired");
}
on_both_backends!(unknown_codes_404_and_disabled_or_expired_links_410);

async fn reserved_paths_are_not_links(app: TestApp) {
    let health = app.call(Method::GET, "/health", None, None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json, json!({"status": "ok"}));
    let openapi = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(openapi.status, StatusCode::OK);
    assert!(openapi.json["paths"]["/{code}"].is_object());
}
on_both_backends!(reserved_paths_are_not_links);

async fn a_dead_link_goes_to_the_programs_fallback_page_when_set(app: TestApp) {
    let program = app_with_link(&app, "https://brand.com/serum").await;
    let patched = app
        .call(
            Method::PATCH,
            &format!("/api/programs/{program}"),
            Some(&app.admin),
            Some(json!({"fallback_url": "https://brand.com/shop"})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.json);
    let elsewhere = app
        .call(
            Method::PATCH,
            &format!("/api/programs/{program}"),
            Some(&app.admin),
            Some(json!({"fallback_url": "https://evil.com/"})),
        )
        .await;
    assert_eq!(
        elsewhere.status,
        StatusCode::BAD_REQUEST,
        "the fallback must be on an allowed domain too"
    );

    app.call(
        Method::POST,
        "/api/links/anna10/disable",
        Some(&app.admin),
        None,
    )
    .await;
    let reply = app.visit("/anna10", "192.0.2.1", BROWSER).await;
    assert_eq!(reply.status, StatusCode::FOUND);
    assert_eq!(reply.header("location"), "https://brand.com/shop");
    assert!(
        app.clicks("anna10").await.is_empty(),
        "a dead link records no click"
    );
}
on_both_backends!(a_dead_link_goes_to_the_programs_fallback_page_when_set);
