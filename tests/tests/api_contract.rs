//! The API's contract through HTTP: every error answer in the JSON shape (405, 413, 414, 431
//! included), a creator's view of a program, the input bounds at the API edge, a balance past
//! the limit isolated to its creator, and an OpenAPI document that lists what each operation
//! can answer.

use axum::body::Body;
use http::{Method, Request, StatusCode};
use linkledger_core::audit::{Actor, AuditEntry};
use linkledger_core::ids::{CreatorId, ProgramId};
use linkledger_core::ledger::LedgerEntry;
use linkledger_core::limits::MAX_AMOUNT_MINOR;
use linkledger_core::money::{Currency, Money};
use linkledger_tests::app::{Reply, TestApp};
use linkledger_tests::on_both_backends;
use serde_json::{json, Value};

fn assert_json_error(reply: &Reply, status: StatusCode, code: &str, what: &str) {
    assert_eq!(reply.status, status, "{what}: {}", reply.json);
    assert_eq!(reply.error_code(), code, "{what}: {}", reply.json);
    assert!(
        reply.json["error"]["message"].is_string(),
        "{what}: {}",
        reply.json
    );
    assert!(
        reply.header("content-type").starts_with("application/json"),
        "{what}"
    );
}

#[tokio::test]
async fn bare_statuses_answer_the_json_error_on_every_function() {
    let app = TestApp::sqlite().await;
    let program = app.program().await;

    // 405 on the API, the redirect and the webhooks.
    for (method, path) in [
        (Method::DELETE, "/api/programs".to_string()),
        (Method::PUT, "/health".to_string()),
        (Method::POST, "/anna10".to_string()),
        (Method::GET, format!("/postback/{program}")),
    ] {
        let reply = app
            .call(method.clone(), &path, Some(&app.admin), None)
            .await;
        assert_json_error(
            &reply,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            &format!("{method} {path}"),
        );
        assert!(!reply.header("allow").is_empty(), "{method} {path}: Allow");
    }

    // 413: an API body past 256 KiB, a webhook body past 1 MiB.
    let big = json!({"name": "x".repeat(300 * 1024), "currency": "USD", "allowed_domains": ["brand.com"]});
    let reply = app.post("/api/programs", &app.admin, big).await;
    assert_json_error(
        &reply,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "API body",
    );
    let reply = app
        .deliver(
            &format!("/postback/{program}"),
            &[("content-type", "application/json".to_string())],
            &vec![b' '; 2 << 20],
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.json
    );
    assert!(reply.json["error"]["code"].is_string(), "{}", reply.json);

    // 414 past 8 KiB of URI, on the API and on the redirect.
    let long = "a".repeat(9 * 1024);
    for path in [
        format!("/api/programs?limit=1&x={long}"),
        format!("/anna10?utm_source={long}"),
    ] {
        let reply = app.get(&path, &app.admin).await;
        assert_json_error(&reply, StatusCode::URI_TOO_LONG, "uri_too_long", "URI");
    }

    // 431 past 16 KiB of headers.
    let mut request =
        Request::get("/api/programs").header("authorization", format!("Bearer {}", app.admin));
    for i in 0..5 {
        request = request.header(format!("x-filler-{i}"), "v".repeat(4000));
    }
    let reply = app
        .send(request.body(Body::empty()).expect("a request"))
        .await;
    assert_json_error(
        &reply,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "headers_too_large",
        "headers",
    );
}

async fn a_creator_sees_the_public_terms_and_its_own_rate_only(app: TestApp) {
    let program = app.program().await;
    let (anna, anna_key) = app.creator(&program, "anna").await;
    let (ben, ben_key) = app.creator(&program, "ben").await;
    let (cara, cara_key) = app.creator(&program, "cara").await;
    // Anna negotiated 20 % in the plan; Cara 15 % on her enrolment; Ben has the program's 10 %.
    let reply = app
        .call(
            Method::PATCH,
            &format!("/api/programs/{program}"),
            Some(&app.admin),
            Some(json!({"plan": {"sale": {"rate_bps": 1000}, "creator_overrides": {anna.clone(): {"rate_bps": 2000}}}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let reply = app
        .post(
            &format!("/api/programs/{program}/enrolments"),
            &app.admin,
            json!({"creator_id": cara, "rate_override": {"rate_bps": 1500}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);

    for (key, own, others, rate) in [
        (&anna_key, &anna, [&ben, &cara], 2000),
        (&ben_key, &ben, [&anna, &cara], 1000),
        (&cara_key, &cara, [&anna, &ben], 1500),
    ] {
        let one = app.get(&format!("/api/programs/{program}"), key).await;
        let listed = app.get("/api/programs", key).await;
        assert_eq!(one.status, StatusCode::OK, "{}", one.json);
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.json);
        let from_list = &listed.json["items"][0];
        for view in [&one.json, from_list] {
            assert_eq!(view["id"], json!(program));
            assert_eq!(view["plan"]["sale"], json!({"rate_bps": rate}), "{own}");
            assert!(view["plan"].get("creator_overrides").is_none(), "{view}");
            assert!(view.get("fx_rates").is_none(), "{view}");
            let text = view.to_string();
            for other in others {
                assert!(!text.contains(other.as_str()), "{own} sees {other}: {text}");
            }
            assert_eq!(view["holding_days"], json!(30));
        }
    }
    let full = app
        .get(&format!("/api/programs/{program}"), &app.admin)
        .await;
    assert_eq!(
        full.json["plan"]["creator_overrides"][&anna],
        json!({"rate_bps": 2000}),
        "the admin still sees the whole plan"
    );
}
on_both_backends!(a_creator_sees_the_public_terms_and_its_own_rate_only);

async fn amounts_text_and_periods_past_their_bounds_are_refused_naming_the_field(app: TestApp) {
    let program = app.program().await;
    let (anna, _) = app.creator(&program, "anna").await;
    let base = || json!({"name": "x", "currency": "USD", "allowed_domains": ["brand.com"]});
    let with = |field: &str, value: Value| {
        let mut body = base();
        body[field] = value;
        body
    };
    let too_much = json!({"amount": "100000000000.01", "currency": "USD"});
    for (body, field) in [
        (with("min_payout", too_much.clone()), "min_payout"),
        (with("plan", json!({"lead": too_much})), "plan.lead"),
        (
            with("plan", json!({"sale": {"fixed": too_much}})),
            "plan.sale",
        ),
        (with("holding_days", json!(366)), "holding_days"),
        (with("name", json!("brand\u{0}name")), "name"),
    ] {
        let reply = app.post("/api/programs", &app.admin, body.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.json
        );
        let message = reply.json["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains(field), "{field}: {message}");
    }
    let at_limit = with(
        "min_payout",
        json!({"amount": "100000000000.00", "currency": "USD"}),
    );
    assert_eq!(
        app.post("/api/programs", &app.admin, at_limit).await.status,
        StatusCode::CREATED,
        "exactly 10^13 minor units is allowed"
    );

    let rates = app
        .call(
            Method::PUT,
            &format!("/api/programs/{program}/fx-rates"),
            Some(&app.admin),
            Some(json!({"rates": {"EUR": "100000000"}})),
        )
        .await;
    assert_eq!(rates.status, StatusCode::BAD_REQUEST, "{}", rates.json);
    assert!(rates.json["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("rates.EUR"));

    for (amount, note, field) in [
        ("100000000000.01", "bonus", "amount"),
        ("-100000000000.01", "bonus", "amount"),
        ("5.00", "line\nbreak", "note"),
        ("5.00", &"x".repeat(501), "note"),
    ] {
        let reply = app
            .post(
                "/api/adjustments",
                &app.admin,
                json!({"creator_id": anna, "program_id": program, "amount": {"amount": amount, "currency": "USD"}, "note": note}),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{amount} {note:?}: {}",
            reply.json
        );
        assert_eq!(reply.error_code(), "invalid_adjustment");
        let message = reply.json["error"]["message"].as_str().unwrap_or("");
        assert!(message.starts_with(field), "{field}: {message}");
    }

    let creator = app
        .post(
            "/api/creators",
            &app.admin,
            json!({"name": "a\u{7}b", "payout_email": "a@b.com"}),
        )
        .await;
    assert_eq!(creator.status, StatusCode::BAD_REQUEST, "{}", creator.json);
    assert!(creator.json["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("name"));
}
on_both_backends!(amounts_text_and_periods_past_their_bounds_are_refused_naming_the_field);

async fn a_balance_past_the_limit_is_a_409_for_that_creator_only(app: TestApp) {
    let program = app.program().await;
    let (anna, _) = app.creator(&program, "anna").await;
    let (ben, _) = app.creator(&program, "ben").await;
    let usd = Currency::parse("USD").expect("USD");
    let anna_id = CreatorId::parse(&anna).expect("creator id");
    let program_id = ProgramId::parse(&program).expect("program id");
    // 120 maximal adjustments: 1.2 × 10^15 minor units, past the balance limit of 10^15.
    for _ in 0..2 {
        let entries: Vec<LedgerEntry> = (0..60)
            .map(|_| {
                LedgerEntry::adjustment(
                    anna_id.clone(),
                    program_id.clone(),
                    Money::bounded(MAX_AMOUNT_MINOR, usd).expect("bounded"),
                    time::OffsetDateTime::now_utc(),
                )
            })
            .collect();
        let audit = AuditEntry::new(
            time::OffsetDateTime::now_utc(),
            &Actor::operator("test"),
            "ledger.adjust",
            "bulk",
            None::<&()>,
            None::<&()>,
        );
        app.store
            .append_entries(&entries, &audit)
            .await
            .expect("append");
    }
    let reply = app
        .post(
            "/api/adjustments",
            &app.admin,
            json!({"creator_id": ben, "program_id": program, "amount": {"amount": "5.00", "currency": "USD"}, "note": "welcome"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);

    let anna_balance = app
        .get(&format!("/api/balances?creator={anna}"), &app.admin)
        .await;
    assert_eq!(
        anna_balance.status,
        StatusCode::CONFLICT,
        "{}",
        anna_balance.json
    );
    assert_eq!(anna_balance.error_code(), "balance_out_of_range");

    let ben_balance = app
        .get(&format!("/api/balances?creator={ben}"), &app.admin)
        .await;
    assert_eq!(ben_balance.status, StatusCode::OK, "{}", ben_balance.json);
    assert_eq!(
        ben_balance.json["items"][0]["payable"]["amount"],
        json!("5.00")
    );

    let all = app
        .get(&format!("/api/balances?program={program}"), &app.admin)
        .await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.json);
    assert_eq!(all.json["out_of_range"], json!([anna]));
    assert_eq!(all.json["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(all.json["items"][0]["creator_id"], json!(ben));
}
on_both_backends!(a_balance_past_the_limit_is_a_409_for_that_creator_only);

/// Every operation of the document, with its path and method.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            if ["get", "post", "put", "patch", "delete", "head"].contains(&method.as_str()) {
                out.push((path.clone(), method.clone(), op.clone()));
            }
        }
    }
    out
}

#[tokio::test]
async fn openapi_lists_every_status_an_operation_can_answer() {
    let app = TestApp::sqlite().await;
    let doc = app
        .call(Method::GET, "/openapi.json", None, None)
        .await
        .json;
    let error_ref = json!({"$ref": "#/components/schemas/ErrorBody"});
    for (path, method, op) in operations(&doc) {
        let what = format!("{method} {path}");
        let responses = op["responses"].as_object().expect("responses");
        let has = |status: &str| responses.contains_key(status);
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let of = |place: &str| params.iter().any(|p| p["in"] == json!(place));
        if op.get("security").is_some() {
            assert!(has("401"), "{what}: 401");
        }
        if of("path") {
            assert!(has("404") && has("400"), "{what}: 404 and 400");
        }
        if of("query") {
            assert!(has("400"), "{what}: 400");
        }
        if op.get("requestBody").is_some() {
            for status in ["400", "413", "415"] {
                assert!(has(status), "{what}: {status}");
            }
        }
        for (status, response) in responses {
            if status.starts_with('4') {
                assert_eq!(
                    response["content"]["application/json"]["schema"], error_ref,
                    "{what} {status} answers the error schema"
                );
            }
        }
        for p in &params {
            if p["name"] == json!("limit") {
                assert_eq!(p["schema"]["minimum"], json!(1), "{what}: limit");
                assert_eq!(p["schema"]["maximum"], json!(200), "{what}: limit");
            }
            if p["name"] == json!("cursor") {
                assert!(p["schema"]["pattern"].is_string(), "{what}: cursor pattern");
            }
        }
    }
    let schemas = &doc["components"]["schemas"];
    for (name, prefix) in [
        ("ProgramId", "prg_"),
        ("CreatorId", "cre_"),
        ("ConversionId", "cnv_"),
    ] {
        let pattern = schemas[name]["pattern"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} pattern"));
        assert!(pattern.contains(prefix), "{name}: {pattern}");
    }
    for money in ["Money", "AmountInput", "NonNegativeAmountInput"] {
        let variants = schemas[money]["oneOf"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(!variants.is_empty(), "{money} has one variant per exponent");
        for variant in variants {
            assert!(
                variant["properties"]["amount"]["pattern"].is_string(),
                "{money}: money strings have a pattern"
            );
        }
    }
    for path in [
        "/webhooks/shopify/{program}",
        "/webhooks/stripe/{program}",
        "/webhooks/woocommerce/{program}",
        "/postback/{program}",
    ] {
        let op = &doc["paths"][path]["post"];
        let headers: Vec<&str> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == json!("header"))
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert!(
            !headers.is_empty(),
            "{path} documents its signature headers"
        );
        assert!(op["requestBody"].is_object(), "{path} documents its body");
    }
}
