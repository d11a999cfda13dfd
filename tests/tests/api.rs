//! The management API through HTTP on both backends: keys and roles, programs, creators,
//! links, promo codes, and the error contract.

use http::{Method, StatusCode};
use linkledger_tests::app::TestApp;
use linkledger_tests::on_both_backends;
use serde_json::json;

async fn admin_creates_a_program_a_creator_and_a_link(app: TestApp) {
    let program = app.program().await;
    let got = app
        .get(&format!("/api/programs/{program}"), &app.admin)
        .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(
        got.json["click_param"],
        json!("ll_click"),
        "default parameter"
    );
    assert_eq!(got.json["attribution_window_days"], json!(30));
    assert_eq!(got.json["holding_days"], json!(30));
    assert_eq!(
        got.json["min_payout"],
        json!({"amount": "0.00", "currency": "USD"})
    );
    assert_eq!(got.json["plan"]["sale"], json!({"rate_bps": 1000}));

    let (creator, _) = app.creator(&program, "anna").await;
    let link = app
        .link(&program, &creator, "anna10", "https://brand.com/serum")
        .await;
    assert_eq!(link.status, StatusCode::CREATED, "{}", link.json);
    assert_eq!(link.json["code"], json!("anna10"));
    assert_eq!(link.json["disabled"], json!(false));

    let generated = app
    .post("/api/links", &app.admin, json!({"program_id": program, "creator_id": creator, "destination": "https://brand.com/"}))
    .await;
    assert_eq!(generated.status, StatusCode::CREATED, "{}", generated.json);
    assert_eq!(
        generated.json["code"].as_str().unwrap().len(),
        8,
        "a generated code"
    );

    let listed = app
        .get(&format!("/api/links?program={program}"), &app.admin)
        .await;
    assert_eq!(listed.json["items"].as_array().unwrap().len(), 2);
    let programs = app.get("/api/programs", &app.admin).await;
    assert_eq!(programs.json["items"].as_array().unwrap().len(), 1);
    let creators = app.get("/api/creators", &app.admin).await;
    assert_eq!(
        creators.json["items"][0]["payout_email"],
        json!("anna@example.com")
    );
}
on_both_backends!(admin_creates_a_program_a_creator_and_a_link);

async fn a_creator_key_sees_and_changes_only_its_own_links(app: TestApp) {
    let program = app.program().await;
    let (anna, anna_key) = app.creator(&program, "anna").await;
    let (ben, ben_key) = app.creator(&program, "ben").await;
    assert_eq!(
        app.link(&program, &anna, "anna10", "https://brand.com/")
            .await
            .status,
        StatusCode::CREATED
    );

    // Ben cannot read, list, disable or see the clicks of Anna's link.
    assert_eq!(
        app.get("/api/links/anna10", &ben_key).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/links/anna10/clicks", &ben_key).await.status,
        StatusCode::NOT_FOUND
    );
    let disable = app
        .call(
            Method::POST,
            "/api/links/anna10/disable",
            Some(&ben_key),
            None,
        )
        .await;
    assert_eq!(disable.status, StatusCode::NOT_FOUND);
    let listed = app
        .get(&format!("/api/links?creator={anna}"), &ben_key)
        .await;
    assert_eq!(listed.json["items"], json!([]));
    assert_eq!(
        app.get(&format!("/api/creators/{anna}"), &ben_key)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Ben cannot create a link in Anna's name ...
    let forged = app
        .post(
            "/api/links",
            &ben_key,
            json!({"program_id": program, "creator_id": anna, "destination": "https://brand.com/"}),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(forged.error_code(), "forbidden");
    // ... but can create his own, within the program's domains only.
    let own = app
    .post("/api/links", &ben_key, json!({"program_id": program, "code": "ben5", "destination": "https://shop.brand.com/x"}))
    .await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", own.json);
    assert_eq!(own.json["creator_id"], json!(ben));
    let elsewhere = app
        .post(
            "/api/links",
            &ben_key,
            json!({"program_id": program, "destination": "https://evil.com/"}),
        )
        .await;
    assert_eq!(elsewhere.status, StatusCode::BAD_REQUEST);

    let mine = app.get("/api/links", &ben_key).await;
    let codes: Vec<&str> = mine.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec!["ben5"]);
    assert_eq!(
        app.get("/api/links/anna10", &anna_key).await.status,
        StatusCode::OK
    );

    // Creators cannot manage programs, creators or keys.
    assert_eq!(
        app.post(
            "/api/creators",
            &ben_key,
            json!({"name": "x", "payout_email": "x@y.com"})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/keys", &ben_key).await.status,
        StatusCode::FORBIDDEN
    );
}
on_both_backends!(a_creator_key_sees_and_changes_only_its_own_links);

async fn every_open_redirect_trick_is_refused_at_link_creation(app: TestApp) {
    let program = app.program().await;
    let (creator, _) = app.creator(&program, "anna").await;
    for (i, destination) in [
        "https://brand.com@evil.com/",
        "https://brand.com.evil.com/",
        "//evil.com/",
        "javascript:alert(document.cookie)",
        "http://brand.com/",
        "https://evil.com/?next=https://brand.com",
        "https://brand.com\r\nLocation: https://evil.com",
        "https://evil.com\\@brand.com",
        "https://notbrand.com/",
    ]
    .iter()
    .enumerate()
    {
        let reply = app
            .link(&program, &creator, &format!("trick{i}"), destination)
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{destination:?} must be refused"
        );
        assert_eq!(reply.error_code(), "invalid_destination", "{destination:?}");
    }
    assert_eq!(
        app.get(&format!("/api/links?program={program}"), &app.admin)
            .await
            .json["items"],
        json!([])
    );
}
on_both_backends!(every_open_redirect_trick_is_refused_at_link_creation);

async fn bad_input_gets_a_json_4xx_never_a_5xx(app: TestApp) {
    let program = app.program().await;
    let (creator, _) = app.creator(&program, "anna").await;

    let malformed = app
        .send(
            http::Request::post("/api/programs")
                .header("authorization", format!("Bearer {}", app.admin))
                .header("content-type", "application/json")
                .body(axum::body::Body::from("{\"name\": "))
                .unwrap(),
        )
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.error_code(), "invalid_json");
    assert!(malformed.json["error"]["message"].is_string());

    let unknown_field = app
    .post("/api/programs", &app.admin, json!({"name": "x", "currency": "USD", "allowed_domains": ["brand.com"], "colour": "red"}))
    .await;
    assert_eq!(unknown_field.status, StatusCode::BAD_REQUEST);
    assert!(unknown_field.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("colour"));

    for body in [
        json!({"name": "x", "currency": "usd", "allowed_domains": ["brand.com"]}),
        json!({"name": "x", "currency": "USD", "allowed_domains": []}),
        json!({"name": "x", "currency": "USD", "allowed_domains": ["https://brand.com"]}),
        json!({"name": "x", "currency": "JPY", "allowed_domains": ["brand.com"], "min_payout": {"amount": "10.5", "currency": "JPY"}}),
        json!({"name": "x", "currency": "USD", "allowed_domains": ["brand.com"], "min_payout": {"amount": "10", "currency": "EUR"}}),
        json!({"name": "x", "currency": "USD", "allowed_domains": ["brand.com"], "plan": {"sale": {"rate_bps": 10001}}}),
        json!({"name": "x", "currency": "USD", "allowed_domains": ["brand.com"], "plan": {"click": {"amount": {"amount": "0.05", "currency": "USD"}, "daily_cap": 0}}}),
        json!({"name": "x", "currency": "USD", "allowed_domains": ["brand.com"], "click_param": "utm_click"}),
        json!({"name": "", "currency": "USD", "allowed_domains": ["brand.com"]}),
        json!({"name": "x", "currency": "USD", "allowed_domains": ["brand.com"], "attribution_window_days": 0}),
    ] {
        let reply = app.post("/api/programs", &app.admin, body.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body} -> {}",
            reply.json
        );
        assert!(reply.error_code().starts_with("invalid"), "{}", reply.json);
    }

    let no_type = app
        .send(
            http::Request::post("/api/creators")
                .header("authorization", format!("Bearer {}", app.admin))
                .body(axum::body::Body::from("{}"))
                .unwrap(),
        )
        .await;
    assert_eq!(no_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    for code in ["api", "health", "a b", "x", "webhooks"] {
        let reply = app
            .link(&program, &creator, code, "https://brand.com/")
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "code {code:?}");
    }
    assert_eq!(
        app.link(&program, &creator, "taken", "https://brand.com/")
            .await
            .status,
        StatusCode::CREATED
    );
    let taken = app
        .link(&program, &creator, "taken", "https://brand.com/other")
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(taken.error_code(), "conflict");

    assert_eq!(
        app.get("/api/programs/prg_nope", &app.admin).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/links?limit=abc", &app.admin).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get("/api/links?cursor=!!!", &app.admin).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get("/api/nothing-here", &app.admin).await.status,
        StatusCode::NOT_FOUND
    );
}
on_both_backends!(bad_input_gets_a_json_4xx_never_a_5xx);

async fn keys_are_required_and_roles_enforced(app: TestApp) {
    let none = app.call(Method::GET, "/api/programs", None, None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.error_code(), "unauthorized");
    assert_eq!(
        app.get("/api/programs", "llk_not-a-real-key").await.status,
        StatusCode::UNAUTHORIZED
    );

    let finance = app
        .post(
            "/api/keys",
            &app.admin,
            json!({"role": "finance", "label": "books"}),
        )
        .await;
    assert_eq!(finance.status, StatusCode::CREATED);
    let finance_key = finance.json["key"].as_str().unwrap().to_string();
    assert!(finance_key.len() >= 40, "at least 128 random bits");

    let listed = app.get("/api/keys", &app.admin).await;
    assert!(
        !listed.json.to_string().contains(&finance_key),
        "keys are never shown again"
    );

    assert_eq!(
        app.get("/api/programs", &finance_key).await.status,
        StatusCode::OK
    );
    let denied = app
        .post(
            "/api/programs",
            &finance_key,
            json!({"name": "x", "currency": "USD", "allowed_domains": ["brand.com"]}),
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.post("/api/keys", &app.admin, json!({"role": "creator"}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}
on_both_backends!(keys_are_required_and_roles_enforced);

async fn programs_update_partially_and_stay_valid(app: TestApp) {
    let program = app.program().await;
    let path = format!("/api/programs/{program}");
    let updated = app
        .call(
            Method::PATCH,
            &path,
            Some(&app.admin),
            Some(json!({
                "holding_days": 14,
                "precedence": "coupon",
                "plan": {
                    "sale": {"fixed": {"amount": "5.00", "currency": "USD"}},
                    "lead": {"amount": "1.50", "currency": "USD"},
                    "click": {"amount": {"amount": "0.02", "currency": "USD"}, "daily_cap": 500},
                    "product_overrides": {"SKU-1": {"rate_bps": 2500}},
                    "recurring_months": 12
                }
            })),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.json);
    assert_eq!(updated.json["holding_days"], json!(14));
    assert_eq!(
        updated.json["name"],
        json!("Glow Serum"),
        "untouched fields stay"
    );
    assert_eq!(
        app.get(&path, &app.admin).await.json["plan"]["recurring_months"],
        json!(12)
    );

    let wrong_currency = app
        .call(
            Method::PATCH,
            &path,
            Some(&app.admin),
            Some(json!({"plan": {"lead": {"amount": "1", "currency": "EUR"}}})),
        )
        .await;
    assert_eq!(wrong_currency.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.get(&path, &app.admin).await.json["plan"]["lead"]["amount"],
        json!("1.50"),
        "nothing changed"
    );
}
on_both_backends!(programs_update_partially_and_stay_valid);

async fn promo_codes_are_unique_per_program_whatever_the_case(app: TestApp) {
    let program = app.program().await;
    let (anna, anna_key) = app.creator(&program, "anna").await;
    let (ben, _) = app.creator(&program, "ben").await;
    let path = format!("/api/programs/{program}/promo-codes");
    assert_eq!(
        app.post(
            &path,
            &app.admin,
            json!({"code": "ANNA10", "creator_id": anna})
        )
        .await
        .status,
        StatusCode::CREATED
    );
    let clash = app
        .post(
            &path,
            &app.admin,
            json!({"code": "anna10", "creator_id": ben}),
        )
        .await;
    assert_eq!(clash.status, StatusCode::CONFLICT);
    assert_eq!(
        app.post(
            &path,
            &app.admin,
            json!({"code": "BEN5", "creator_id": ben})
        )
        .await
        .status,
        StatusCode::CREATED
    );

    let other = app.program().await;
    app.post(
        &format!("/api/programs/{other}/enrolments"),
        &app.admin,
        json!({"creator_id": ben}),
    )
    .await;
    let elsewhere = app
        .post(
            &format!("/api/programs/{other}/promo-codes"),
            &app.admin,
            json!({"code": "anna10", "creator_id": ben}),
        )
        .await;
    assert_eq!(
        elsewhere.status,
        StatusCode::CREATED,
        "another program may reuse it"
    );

    assert_eq!(
        app.get(&path, &app.admin).await.json["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let own = app.get(&path, &anna_key).await;
    assert_eq!(
        own.json["items"].as_array().unwrap().len(),
        1,
        "a creator sees only its own codes"
    );
}
on_both_backends!(promo_codes_are_unique_per_program_whatever_the_case);

async fn pagination_returns_every_link_once(app: TestApp) {
    let program = app.program().await;
    let (creator, _) = app.creator(&program, "anna").await;
    for i in 0..7 {
        assert_eq!(
            app.link(
                &program,
                &creator,
                &format!("code{i}"),
                "https://brand.com/"
            )
            .await
            .status,
            StatusCode::CREATED
        );
    }
    let mut seen: Vec<String> = app
        .all_pages(&format!("/api/links?creator={creator}&limit=3"))
        .await
        .iter()
        .map(|l| l["code"].as_str().unwrap().to_string())
        .collect();
    seen.sort();
    assert_eq!(seen, (0..7).map(|i| format!("code{i}")).collect::<Vec<_>>());
}
on_both_backends!(pagination_returns_every_link_once);

#[tokio::test]
async fn openapi_documents_every_route() {
    let app = TestApp::sqlite().await;
    let doc = app
        .call(Method::GET, "/openapi.json", None, None)
        .await
        .json;
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/{code}", &["get"][..]),
        ("/health", &["get"]),
        ("/api/keys", &["get", "post"]),
        ("/api/programs", &["get", "post"]),
        ("/api/programs/{id}", &["get", "patch"]),
        ("/api/programs/{id}/enrolments", &["get", "post"]),
        ("/api/programs/{id}/promo-codes", &["get", "post"]),
        ("/api/creators", &["get", "post"]),
        ("/api/creators/{id}", &["get"]),
        ("/api/links", &["get", "post"]),
        ("/api/links/{code}", &["get"]),
        ("/api/links/{code}/disable", &["post"]),
        ("/api/links/{code}/clicks", &["get"]),
        ("/api/audit", &["get"]),
    ] {
        for method in methods {
            assert!(
                paths[path][method].is_object(),
                "{method} {path} is documented"
            );
        }
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

async fn every_management_write_is_in_the_audit_log(app: TestApp) {
    let program = app.program().await;
    let (creator, creator_key) = app.creator(&program, "anna").await;
    assert_eq!(
        app.link(&program, &creator, "anna10", "https://brand.com/")
            .await
            .status,
        StatusCode::CREATED
    );
    app.call(
        Method::POST,
        "/api/links/anna10/disable",
        Some(&creator_key),
        None,
    )
    .await;

    let log = app.get("/api/audit", &app.admin).await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.json);
    let entries = log.json["items"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    // newest first
    assert_eq!(
        actions,
        vec![
            "link.disable",
            "link.create",
            "api_key.create",
            "enrolment.put",
            "creator.create",
            "program.create",
            "api_key.create"
        ]
    );
    let disable = &entries[0];
    assert_eq!(disable["target"], json!("anna10"));
    assert_eq!(disable["actor"]["role"], json!("creator"));
    assert_eq!(disable["before"]["disabled"], json!(false));
    assert_eq!(disable["after"]["disabled"], json!(true));
    assert!(
        !log.json.to_string().contains(&creator_key),
        "keys never reach the log"
    );

    assert_eq!(
        app.get("/api/audit", &creator_key).await.status,
        StatusCode::FORBIDDEN
    );
}
on_both_backends!(every_management_write_is_in_the_audit_log);
