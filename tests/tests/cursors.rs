//! Listing cursors through HTTP on both backends: a creator's pages hold only its own records
//! (the scope picks the partition before paging), and a cursor is sealed: refused on another
//! creator, filter, route or role, and refused when modified.

use http::StatusCode;
use linkledger_tests::app::TestApp;
use linkledger_tests::on_both_backends;
use serde_json::{json, Value};

async fn promo(app: &TestApp, program: &str, code: &str, creator: &str) {
    app.promo_code(program, code, creator).await;
}

/// Every page of `path` (which carries `?...limit=N`) as `key` sees it.
async fn pages(app: &TestApp, path: &str, key: &str) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let page_path = match &cursor {
            Some(c) => format!("{path}&cursor={c}"),
            None => path.to_string(),
        };
        let page = app.get(&page_path, key).await;
        assert_eq!(page.status, StatusCode::OK, "{page_path}: {}", page.json);
        pages.push(page.json["items"].as_array().cloned().unwrap_or_default());
        match page.json["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return pages,
        }
    }
    panic!("{path} never reaches a last page");
}

fn next_cursor(reply: &linkledger_tests::app::Reply) -> String {
    reply.json["next_cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("a next_cursor in {}", reply.json))
        .to_string()
}

async fn a_creator_pages_through_its_own_promo_codes_only(app: TestApp) {
    let program = app.program().await;
    let (anna, anna_key) = app.creator(&program, "anna").await;
    let (ben, _) = app.creator(&program, "ben").await;
    // Ben's codes sort first in the program's partition.
    for code in ["AAA1", "AAA2", "AAA3"] {
        promo(&app, &program, code, &ben).await;
    }
    for code in ["ZZZ1", "ZZZ2"] {
        promo(&app, &program, code, &anna).await;
    }

    let path = format!("/api/programs/{program}/promo-codes?limit=1");
    let seen = pages(&app, &path, &anna_key).await;
    let codes: Vec<&str> = seen
        .iter()
        .flatten()
        .map(|p| p["code"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(codes, ["ZZZ1", "ZZZ2"], "only Anna's codes, in order");
    assert!(
        !seen[0].is_empty(),
        "the first page already holds one of her codes"
    );
    assert!(seen
        .iter()
        .flatten()
        .all(|p| p["creator_id"] == json!(anna)));
    let all = pages(&app, &path, &app.admin).await;
    assert_eq!(all.iter().flatten().count(), 5, "the admin sees every code");
}
on_both_backends!(a_creator_pages_through_its_own_promo_codes_only);

async fn a_creator_key_pages_through_its_programs(app: TestApp) {
    let first = app.program().await;
    let (anna, anna_key) = app.creator(&first, "anna").await;
    for _ in 0..2 {
        let other = app.program().await;
        let reply = app
            .post(
                &format!("/api/programs/{other}/enrolments"),
                &app.admin,
                json!({"creator_id": anna}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    }
    app.program().await; // one she is not enrolled in

    let seen = pages(&app, "/api/programs?limit=1", &anna_key).await;
    assert!(
        seen.iter().all(|page| page.len() <= 1),
        "a page holds at most `limit` programs: {seen:?}"
    );
    assert_eq!(seen.iter().flatten().count(), 3, "her three programs");
}
on_both_backends!(a_creator_key_pages_through_its_programs);

async fn a_cursor_is_refused_on_another_creator_filter_route_or_role(app: TestApp) {
    let program = app.program().await;
    let other_program = app.program().await;
    let (anna, anna_key) = app.creator(&program, "anna").await;
    let (_, ben_key) = app.creator(&program, "ben").await;
    for code in ["ANNA1", "ANNA2"] {
        promo(&app, &program, code, &anna).await;
    }
    for (i, destination) in ["https://brand.com/a", "https://brand.com/b"]
        .iter()
        .enumerate()
    {
        let reply = app
            .link(&program, &anna, &format!("anna{i}x"), destination)
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    }
    let finance = app
        .post("/api/keys", &app.admin, json!({"role": "finance"}))
        .await;
    let finance_key = finance.json["key"].as_str().expect("key").to_string();

    let codes = format!("/api/programs/{program}/promo-codes?limit=1");
    let anna_cursor = next_cursor(&app.get(&codes, &anna_key).await);
    assert_eq!(
        app.get(&format!("{codes}&cursor={anna_cursor}"), &anna_key)
            .await
            .status,
        StatusCode::OK,
        "the cursor works for the caller it was issued to"
    );

    let links = format!("/api/links?program={program}&limit=1");
    let admin_cursor = next_cursor(&app.get(&links, &app.admin).await);
    let refused = [
        // another creator
        (format!("{codes}&cursor={anna_cursor}"), ben_key.clone()),
        // another role
        (
            format!("{links}&cursor={admin_cursor}"),
            finance_key.clone(),
        ),
        // another filter
        (
            format!("/api/links?program={other_program}&limit=1&cursor={admin_cursor}"),
            app.admin.clone(),
        ),
        (
            format!("/api/links?program={program}&creator={anna}&limit=1&cursor={admin_cursor}"),
            app.admin.clone(),
        ),
        // another route
        (
            format!("/api/creators?limit=1&cursor={admin_cursor}"),
            app.admin.clone(),
        ),
        (
            format!("/api/programs/{other_program}/promo-codes?limit=1&cursor={anna_cursor}"),
            app.admin.clone(),
        ),
    ];
    for (path, key) in refused {
        let reply = app.get(&path, &key).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            reply.json
        );
        assert_eq!(reply.error_code(), "invalid_cursor", "{path}");
    }

    // A modified cursor (one character changed), a cursor shaped like the store's own
    // (base64url JSON of keys), and junk.
    let mut modified: Vec<char> = admin_cursor.chars().collect();
    let middle = modified.len() / 2;
    modified[middle] = if modified[middle] == 'A' { 'B' } else { 'A' };
    let modified: String = modified.into_iter().collect();
    let store_shaped = "WyJMSU5LUyIsInByZ194I2FubmEweCIsIiJd".to_string();
    for cursor in [modified, store_shaped, "e30".to_string(), "!!".to_string()] {
        let reply = app
            .get(&format!("{links}&cursor={cursor}"), &app.admin)
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{cursor}: {}",
            reply.json
        );
        assert_eq!(reply.error_code(), "invalid_cursor", "{cursor}");
    }
}
on_both_backends!(a_cursor_is_refused_on_another_creator_filter_route_or_role);

async fn a_limit_outside_1_to_200_is_refused(app: TestApp) {
    for limit in ["0", "201", "-1", "abc", "1.5"] {
        let reply = app
            .get(&format!("/api/creators?limit={limit}"), &app.admin)
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "limit={limit}");
        assert_eq!(reply.error_code(), "invalid_query", "limit={limit}");
    }
    for limit in ["1", "200"] {
        let reply = app
            .get(&format!("/api/creators?limit={limit}"), &app.admin)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "limit={limit}");
    }
    // HEAD reaches the same handlers as GET: the same rules, not a way around them.
    let reply = app
        .call(
            http::Method::HEAD,
            "/api/creators?limit=100000&cursor=forged",
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "HEAD");
}
on_both_backends!(a_limit_outside_1_to_200_is_refused);
