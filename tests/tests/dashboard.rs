//! The dashboard and the creator portal as a browser uses them: cookies, forms with their
//! tokens, redirects, on both backends. What a page shows is checked against what the steps did
//! (the clicks made, the sale posted), and against the API's own answer for the same key.

use std::collections::BTreeMap;

use axum::body::Body;
use http::{Method, Request, StatusCode};
use serde_json::json;

use linkledger_core::conversion::Platform;
use linkledger_tests::app::{Reply, TestApp};
use linkledger_tests::on_both_backends;
use linkledger_tests::webhooks::{now_unix, postback_headers, rfc3339_in};

/// A browser: its cookies, its address, and the form token of the last page it read.
struct Browser {
    /// The app's router, or one with other settings over the same store.
    router: axum::Router,
    cookies: BTreeMap<String, String>,
    address: String,
    form_token: String,
}

struct Page {
    status: StatusCode,
    retry_after: String,
    location: String,
    set_cookies: Vec<String>,
    html: String,
}

impl Browser {
    fn new(app: &TestApp, address: &str) -> Self {
        Self {
            router: app.router.clone(),
            cookies: BTreeMap::new(),
            address: address.to_string(),
            form_token: String::new(),
        }
    }

    async fn send(&mut self, request: http::request::Builder, body: Body) -> Page {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let request = request
            .header("host", "localhost")
            .header("x-forwarded-for", &self.address)
            .header("cookie", cookie)
            .body(body)
            .expect("a valid request");
        let response = tower::ServiceExt::oneshot(self.router.clone(), request)
            .await
            .expect("the router never fails");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("read the body");
        let reply = Reply {
            status,
            headers,
            json: serde_json::Value::String(String::from_utf8_lossy(&bytes).into()),
        };
        let set_cookies: Vec<String> = reply
            .headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        for set in &set_cookies {
            let pair = set.split(';').next().unwrap_or("");
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() || set.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_string(), value.to_string());
                }
            }
        }
        let html = match &reply.json {
            serde_json::Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        if let Some(token) = html
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
        {
            self.form_token = token.to_string();
        }
        Page {
            status: reply.status,
            retry_after: reply.header("retry-after").to_string(),
            location: reply.header("location").to_string(),
            set_cookies,
            html,
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        self.send(Request::get(path), Body::empty()).await
    }

    /// A form post from one of the dashboard's pages, with the token of the last page read.
    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("csrf", &self.form_token.clone());
        for (name, value) in fields {
            form.append_pair(name, value);
        }
        self.post_raw(path, form.finish(), &[]).await
    }

    async fn post_raw(&mut self, path: &str, body: String, headers: &[(&str, &str)]) -> Page {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("content-type", "application/x-www-form-urlencoded");
        // What a browser sends on a post from our own page, unless the test says otherwise.
        for (name, value) in [
            ("origin", "http://localhost"),
            ("sec-fetch-site", "same-origin"),
        ] {
            if !headers.iter().any(|(n, _)| *n == name) {
                request = request.header(name, value);
            }
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request, Body::from(body)).await
    }

    /// Signs in with `key`; the answer to the sign-in post.
    async fn sign_in(&mut self, key: &str) -> Page {
        let form = self.get("/dashboard/sign-in").await;
        assert_eq!(form.status, StatusCode::OK);
        self.post("/dashboard/sign-in", &[("key", key)]).await
    }

    async fn signed_in(app: &TestApp, key: &str) -> Browser {
        let mut browser = Browser::new(app, "198.51.100.20");
        let page = browser.sign_in(key).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
        assert_eq!(page.location, "/dashboard");
        browser
    }
}

/// The value a page shows for one of the overview's figures (`data-figure="clicks"`).
fn figure(html: &str, name: &str) -> String {
    let marker = format!("data-figure=\"{name}\">");
    html.split(&marker)
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap_or_else(|| panic!("no figure {name} on the page"))
        .to_string()
}

async fn signing_in_opens_a_session_and_signing_out_ends_it(app: TestApp) {
    let mut browser = Browser::new(&app, "198.51.100.1");
    let page = browser.get("/dashboard").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location, "/dashboard/sign-in");

    let refused = browser.sign_in("llk_not-a-key").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(
        refused.html.contains("unknown or revoked"),
        "{}",
        refused.html
    );
    assert!(!browser.cookies.contains_key("ll_session"));

    let page = browser.sign_in(&app.admin).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let session = page
        .set_cookies
        .iter()
        .find(|c| c.starts_with("ll_session="))
        .expect("a session cookie");
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Strict"), "{session}");
    assert!(!session.contains("Secure"), "plain http here: {session}");
    assert!(
        !session.contains(&app.admin),
        "the key itself never goes in a cookie"
    );
    let overview = browser.get("/dashboard").await;
    assert_eq!(overview.status, StatusCode::OK);
    assert!(
        overview.html.contains("<h1>Overview</h1>"),
        "{}",
        overview.html
    );
    let cookie_before = browser.cookies.clone();

    let out = browser.post("/dashboard/sign-out", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location, "/dashboard/sign-in");
    assert!(!browser.cookies.contains_key("ll_session"));
    // The old cookie, replayed, opens nothing: the session is gone from the store.
    browser.cookies = cookie_before;
    let replayed = browser.get("/dashboard").await;
    assert_eq!(replayed.status, StatusCode::SEE_OTHER);
    assert_eq!(replayed.location, "/dashboard/sign-in");
}

async fn over_https_the_session_cookie_is_secure(app: TestApp) {
    let mut browser = Browser::new(&app, "198.51.100.2");
    browser.get("/dashboard/sign-in").await;
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("csrf", &browser.form_token.clone());
    form.append_pair("key", &app.admin);
    let page = browser
        .post_raw(
            "/dashboard/sign-in",
            form.finish(),
            &[("x-forwarded-proto", "https")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let session = page
        .set_cookies
        .iter()
        .find(|c| c.starts_with("ll_session="))
        .expect("a session cookie");
    assert!(session.contains("; Secure"), "{session}");
}

async fn a_form_without_its_token_or_from_another_site_changes_nothing(app: TestApp) {
    let mut browser = Browser::signed_in(&app, &app.admin).await;
    browser.get("/dashboard/programs").await;
    let fields = "name=Forged&currency=USD&allowed_domains=brand.com";
    let no_token = browser
        .post_raw("/dashboard/programs", fields.to_string(), &[])
        .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN, "{}", no_token.html);
    let token = browser.form_token.clone();
    let with_token = format!("csrf={token}&{fields}");
    let other_origin = browser
        .post_raw(
            "/dashboard/programs",
            with_token.clone(),
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(other_origin.status, StatusCode::FORBIDDEN);
    let cross_site = browser
        .post_raw(
            "/dashboard/programs",
            with_token,
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(cross_site.status, StatusCode::FORBIDDEN);
    // Another session's token is no token of this one.
    let mut other = Browser::signed_in(&app, &app.admin).await;
    other.get("/dashboard/programs").await;
    let foreign = browser
        .post_raw(
            "/dashboard/programs",
            format!("csrf={}&{fields}", other.form_token),
            &[],
        )
        .await;
    assert_eq!(
        foreign.status,
        StatusCode::FORBIDDEN,
        "{} {}",
        foreign.location,
        foreign.html
    );
    let programs = app.get("/api/programs", &app.admin).await;
    assert_eq!(programs.json["items"], json!([]), "nothing was created");
}

/// A brand's first day: a program, a creator and a link made through the forms, a click and a
/// signed sale, then the overview shows them (and the same figures as `/api/stats`).
async fn a_brand_sets_up_through_forms_and_sees_its_first_click_and_sale(app: TestApp) {
    let mut browser = Browser::signed_in(&app, &app.admin).await;
    browser.get("/dashboard/programs").await;
    let created = browser
        .post(
            "/dashboard/programs",
            &[
                ("name", "Glow Serum"),
                ("currency", "usd"),
                ("allowed_domains", "brand.com\nshop.brand.com"),
                ("sale_bps", "1500"),
                ("holding_days", "0"),
                ("min_payout", "5.00"),
                ("time_zone", "Europe/Berlin"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.html);
    let program = created
        .location
        .strip_prefix("/dashboard/programs/")
        .expect("to the program's page")
        .to_string();
    let stored = app
        .get(&format!("/api/programs/{program}"), &app.admin)
        .await;
    assert_eq!(stored.json["plan"]["sale"], json!({"rate_bps": 1500}));
    assert_eq!(stored.json["holding_days"], 0);
    assert_eq!(stored.json["time_zone"], "Europe/Berlin");
    assert_eq!(
        stored.json["min_payout"],
        json!({"amount": "5.00", "currency": "USD"})
    );
    assert_eq!(
        stored.json["allowed_domains"],
        json!(["brand.com", "shop.brand.com"])
    );

    // A field the API refuses is named on the page, with a 400, and nothing is made.
    browser.get("/dashboard/programs").await;
    let refused = browser
        .post(
            "/dashboard/programs",
            &[
                ("name", "Bad"),
                ("currency", "USD"),
                ("allowed_domains", "brand.com"),
                ("holding_days", "100000"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.html.contains("role=\"alert\""), "{}", refused.html);
    assert!(refused.html.contains("holding_days"), "{}", refused.html);

    browser.get("/dashboard/creators").await;
    let creator = browser
        .post(
            "/dashboard/creators",
            &[("name", "Anna"), ("payout_email", "anna@example.com")],
        )
        .await;
    assert_eq!(creator.status, StatusCode::SEE_OTHER, "{}", creator.html);
    let creator_id = creator
        .location
        .strip_prefix("/dashboard/creators/")
        .expect("to the creator's page")
        .to_string();
    browser.get(&creator.location).await;
    let enrolled = browser
        .post(
            &format!("/dashboard/creators/{creator_id}/enrol"),
            &[("program", &program)],
        )
        .await;
    assert_eq!(enrolled.status, StatusCode::OK, "{}", enrolled.html);
    assert!(enrolled.html.contains("Enrolled."));
    browser.get("/dashboard/links").await;
    let link = browser
        .post(
            "/dashboard/links",
            &[
                ("program_id", &program),
                ("creator_id", &creator_id),
                ("destination", "https://shop.brand.com/serum"),
                ("code", "anna-glow"),
            ],
        )
        .await;
    assert_eq!(link.status, StatusCode::OK, "{}", link.html);
    assert!(
        link.html.contains("data-link-code=\"anna-glow\""),
        "{}",
        link.html
    );
    assert!(link.html.contains("http://localhost/anna-glow"));

    // The connections page sets the postback secret and shows it once.
    browser
        .get(&format!("/dashboard/connections?program={program}"))
        .await;
    let secret_page = browser
        .post(
            &format!("/dashboard/connections/{program}/postback"),
            &[("secret", "dashboard_postback_secret_1")],
        )
        .await;
    assert_eq!(secret_page.status, StatusCode::OK, "{}", secret_page.html);
    assert!(secret_page
        .html
        .contains("<code id=\"new-secret\">dashboard_postback_secret_1</code>"));
    assert!(secret_page.html.contains(&format!("/postback/{program}")));

    let visit = app
        .visit("/anna-glow", "203.0.113.50", "Mozilla/5.0 (iPhone)")
        .await;
    assert_eq!(visit.status, StatusCode::FOUND);
    let location = url::Url::parse(visit.header("location")).expect("a location");
    let click = location
        .query_pairs()
        .find(|(k, _)| k == "ll_click")
        .map(|(_, v)| v.into_owned())
        .expect("a click id");
    let body = json!({"event": "sale", "order_id": "first-1", "amount": "80.00", "currency": "USD",
                      "click_id": click, "occurred_at": rfc3339_in(60)})
    .to_string()
    .into_bytes();
    let delivered = app
        .deliver(
            &format!("/postback/{program}"),
            &postback_headers("dashboard_postback_secret_1", &body, now_unix()),
            &body,
        )
        .await;
    assert_eq!(delivered.status, StatusCode::OK, "{}", delivered.json);
    // A delivery with a wrong signature, a second later (the log keeps one per result and
    // second).
    app.clock.advance(time::Duration::seconds(1));
    let forged = app
        .deliver(
            &format!("/postback/{program}"),
            &postback_headers("not_the_secret_at_all", &body, now_unix()),
            &body,
        )
        .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    // The connections page shows both: the brand sees its store is connected, and what failed.
    let connections = browser
        .get(&format!("/dashboard/connections?program={program}"))
        .await;
    assert_eq!(connections.status, StatusCode::OK);
    let postback = connections
        .html
        .split("id=\"conn-postback\"")
        .nth(1)
        .expect("the postback section");
    assert!(postback.contains("<td>sale</td>"), "{postback}");
    assert!(postback.contains("accepted (200)"), "{postback}");
    assert!(
        postback.contains("the signature does not match the secret (401)"),
        "{postback}"
    );
    assert!(
        postback.find("does not match").unwrap_or(usize::MAX)
            < postback.find("accepted (200)").unwrap_or(0),
        "newest first"
    );
    app.drain().await;
    app.roll_up().await;

    let overview = browser.get(&format!("/dashboard?program={program}")).await;
    assert_eq!(overview.status, StatusCode::OK);
    assert_eq!(figure(&overview.html, "clicks"), "1");
    assert_eq!(figure(&overview.html, "sales"), "1");
    assert_eq!(figure(&overview.html, "revenue"), "80.00 USD");
    // 15 % of 80.00.
    assert_eq!(figure(&overview.html, "commission"), "12.00 USD");
    assert!(overview.html.contains("<svg class=\"chart\""));
    assert!(overview.html.contains("Anna"), "top creators name Anna");
    // The live part alone, as the page's script asks for it.
    let live = browser
        .get(&format!("/dashboard/live?program={program}"))
        .await;
    assert_eq!(live.status, StatusCode::OK);
    assert_eq!(figure(&live.html, "sales"), "1");
    assert!(!live.html.contains("<html"));
    // The overview's CSV is the API's.
    let csv = browser
        .get(&format!(
            "/dashboard/stats.csv?group_by=creator&program={program}"
        ))
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.html.contains(&creator_id), "{}", csv.html);
}

/// A sale seconds after its click is held; the holds page says why in words, approving it books
/// its commission, a settlement run pays it, and the run's CSV names the creator.
async fn a_hold_is_approved_and_settled_from_the_dashboard(app: TestApp) {
    let program = app.program().await;
    let (anna, _) = app.creator(&program, "anna").await;
    assert_eq!(
        app.link(&program, &anna, "anna10", "https://brand.com/serum")
            .await
            .status,
        StatusCode::CREATED
    );
    let patch = app
        .call(
            Method::PATCH,
            &format!("/api/programs/{program}"),
            Some(&app.admin),
            Some(json!({"holding_days": 0})),
        )
        .await;
    assert_eq!(patch.status, StatusCode::OK, "{}", patch.json);
    let secret = app
        .webhook_secret(&program, Platform::Postback, Some("postback_test_secret_1"))
        .await;
    let visit = app
        .visit("/anna10", "203.0.113.9", "Mozilla/5.0 (iPhone)")
        .await;
    let location = url::Url::parse(visit.header("location")).expect("a location");
    let click = location
        .query_pairs()
        .find(|(k, _)| k == "ll_click")
        .map(|(_, v)| v.into_owned())
        .expect("a click id");
    let body = json!({"event": "sale", "order_id": "fast-1", "amount": "50.00", "currency": "USD",
                      "click_id": click})
    .to_string()
    .into_bytes();
    let delivered = app
        .deliver(
            &format!("/postback/{program}"),
            &postback_headers(&secret, &body, now_unix()),
            &body,
        )
        .await;
    assert_eq!(delivered.status, StatusCode::OK, "{}", delivered.json);
    app.drain().await;

    let mut browser = Browser::signed_in(&app, &app.admin).await;
    let holds = browser.get("/dashboard/holds").await;
    assert_eq!(holds.status, StatusCode::OK);
    assert!(holds.html.contains("fast-1"), "{}", holds.html);
    assert!(
        holds.html.contains("faster than a person shops"),
        "{}",
        holds.html
    );
    let conversion = holds
        .html
        .split("/dashboard/conversions/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("an approve form")
        .to_string();
    let approved = browser
        .post(&format!("/dashboard/conversions/{conversion}/approve"), &[])
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.html);
    assert!(
        approved.html.contains("Order fast-1 approved."),
        "{}",
        approved.html
    );
    assert!(!approved.html.contains("faster than a person shops"));
    let stored = app
        .get(&format!("/api/conversions/{conversion}"), &app.admin)
        .await;
    assert_eq!(stored.json["status"], "approved");
    assert_eq!(
        stored.json["commission"],
        json!({"amount": "5.00", "currency": "USD"})
    );

    // The day of the sale is over: it can be settled.
    let today = app.store.now().date().to_string();
    app.clock.advance(time::Duration::days(1));
    // A session lasts a working day: yesterday's is over.
    assert_eq!(
        browser.get("/dashboard/settlements").await.status,
        StatusCode::SEE_OTHER
    );
    let mut browser = Browser::signed_in(&app, &app.admin).await;
    let page = browser.get("/dashboard/settlements").await;
    assert!(
        page.html.contains(&format!("value=\"{today}\"")),
        "yesterday is the default"
    );
    let ran = browser
        .post("/dashboard/settlements", &[("date", &today)])
        .await;
    assert_eq!(ran.status, StatusCode::SEE_OTHER, "{}", ran.html);
    assert_eq!(ran.location, format!("/dashboard/settlements/{today}"));
    let run = browser.get(&ran.location).await;
    assert_eq!(run.status, StatusCode::OK);
    assert!(run.html.contains("5.00 USD"), "{}", run.html);
    let csv = browser
        .get(&format!("/dashboard/settlements/{today}/report.csv"))
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.html.contains(&anna), "{}", csv.html);
    assert!(csv.html.contains("5.00"), "{}", csv.html);
}

/// A creator's portal shows its own links, figures and payouts, and nothing of another
/// creator's, on any page or download; brand pages are closed to it.
async fn a_creator_sees_only_its_own_data_on_every_page(app: TestApp) {
    let program = app.program().await;
    let (anna, anna_key) = app.creator(&program, "anna").await;
    let (ben, _) = app.creator(&program, "ben").await;
    for (creator, code) in [(&anna, "anna10"), (&ben, "ben-secret-code")] {
        assert_eq!(
            app.link(&program, creator, code, "https://brand.com/serum")
                .await
                .status,
            StatusCode::CREATED
        );
    }
    app.promo_code(&program, "BENONLY", &ben).await;
    app.promo_code(&program, "ANNA15", &anna).await;
    for (code, ip) in [
        ("anna10", "203.0.113.1"),
        ("ben-secret-code", "203.0.113.2"),
        ("ben-secret-code", "203.0.113.3"),
    ] {
        app.visit(&format!("/{code}"), ip, "Mozilla/5.0 (iPhone)")
            .await;
    }
    app.roll_up().await;

    let mut browser = Browser::signed_in(&app, &anna_key).await;
    let overview = browser.get("/dashboard").await;
    assert_eq!(overview.status, StatusCode::OK);
    assert_eq!(
        figure(&overview.html, "clicks"),
        "1",
        "Anna's one click, not Ben's two"
    );
    for path in [
        "/dashboard".to_string(),
        format!("/dashboard/live?program={program}"),
        "/dashboard/links".to_string(),
        "/dashboard/earnings".to_string(),
        "/dashboard/payouts".to_string(),
        format!("/dashboard/stats.csv?program={program}&group_by=link"),
        format!("/dashboard/stats.csv?program={program}&group_by=code"),
    ] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.html);
        for secret in [
            "ben-secret-code",
            "BENONLY",
            "ben@example.com",
            ben.as_str(),
        ] {
            assert!(!page.html.contains(secret), "{path} shows Ben's {secret}");
        }
    }
    let links = browser.get("/dashboard/links").await;
    assert!(links.html.contains("data-link-code=\"anna10\""));
    assert!(
        links.html.contains("<code>ANNA15</code>"),
        "her promo code: {}",
        links.html
    );
    assert!(links.html.contains("/dashboard/links/anna10/qr.svg"));
    let qr = browser.get("/dashboard/links/anna10/qr.svg").await;
    assert_eq!(qr.status, StatusCode::OK);
    assert!(qr.html.contains("<svg"), "{}", qr.html);
    let others_qr = browser.get("/dashboard/links/ben-secret-code/qr.svg").await;
    assert_eq!(others_qr.status, StatusCode::NOT_FOUND);
    // Another creator's stats are refused, as the API refuses them.
    let others_stats = browser
        .get(&format!(
            "/dashboard/stats.csv?program={program}&group_by=creator&creator={ben}"
        ))
        .await;
    assert_eq!(others_stats.status, StatusCode::FORBIDDEN);
    for path in [
        format!("/dashboard/programs/{program}"),
        format!("/dashboard/creators/{ben}"),
        "/dashboard/creators".to_string(),
        "/dashboard/keys".to_string(),
        "/dashboard/audit".to_string(),
        "/dashboard/connections".to_string(),
        "/dashboard/settlements".to_string(),
    ] {
        let page = browser.get(&path).await;
        assert!(
            matches!(page.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
            "{path}: {} {}",
            page.status,
            page.html
        );
        assert!(!page.html.contains("ben@example.com"), "{path}");
    }
    // A creator's link form makes links for itself only.
    browser.get("/dashboard/links").await;
    let made = browser
        .post(
            "/dashboard/links",
            &[
                ("program_id", &program),
                ("creator_id", &ben),
                ("destination", "https://brand.com/x"),
            ],
        )
        .await;
    assert!(made.status.is_client_error(), "{}", made.html);
    let outside = browser
        .post(
            "/dashboard/links",
            &[
                ("program_id", &program),
                ("destination", "https://evil.example/x"),
                ("code", "anna-evil"),
            ],
        )
        .await;
    assert_eq!(outside.status, StatusCode::BAD_REQUEST, "{}", outside.html);
    let mine = browser
        .post(
            "/dashboard/links",
            &[
                ("program_id", &program),
                ("destination", "https://brand.com/mask"),
                ("code", "anna-mask"),
            ],
        )
        .await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.html);
    let stored = app.get("/api/links/anna-mask", &app.admin).await;
    assert_eq!(stored.json["creator_id"], json!(anna));
}

/// Revoking a key from the keys page ends the sessions it opened and the key's API access;
/// rotating issues a new key (shown once) of the same role and revokes the old one.
async fn revoking_or_rotating_a_key_ends_what_it_opened(app: TestApp) {
    let program = app.program().await;
    let (_, anna_key) = app.creator(&program, "anna").await;
    let mut anna = Browser::signed_in(&app, &anna_key).await;
    assert_eq!(anna.get("/dashboard").await.status, StatusCode::OK);
    let anna_id: String = anna_key.chars().take(12).collect();

    let mut admin = Browser::signed_in(&app, &app.admin).await;
    let keys = admin.get("/dashboard/keys").await;
    assert!(keys.html.contains(&anna_id), "{}", keys.html);
    let rotated = admin
        .post(&format!("/dashboard/keys/{anna_id}/rotate"), &[])
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.html);
    let new_key = rotated
        .html
        .split("<code id=\"issued-key\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the new key, shown once")
        .to_string();
    assert_ne!(new_key, anna_key);

    let ended = anna.get("/dashboard").await;
    assert_eq!(
        ended.status,
        StatusCode::SEE_OTHER,
        "the old key's session is over"
    );
    assert_eq!(
        app.get("/api/links", &anna_key).await.status,
        StatusCode::UNAUTHORIZED
    );
    let links = app.get("/api/links", &new_key).await;
    assert_eq!(links.status, StatusCode::OK, "{}", links.json);

    let new_id: String = new_key.chars().take(12).collect();
    admin.get("/dashboard/keys").await;
    let revoked = admin
        .post(&format!("/dashboard/keys/{new_id}/revoke"), &[])
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.html);
    assert!(revoked.html.contains("revoked"));
    assert_eq!(
        app.get("/api/links", &new_key).await.status,
        StatusCode::UNAUTHORIZED
    );
    let again = admin
        .post(&format!("/dashboard/keys/{new_id}/revoke"), &[])
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.html);
}

/// Ten failed sign-ins from one address lock it out (429 with `Retry-After`), even for the
/// right key; another address still signs in.
async fn failed_sign_ins_are_limited_per_address(app: TestApp) {
    let mut attacker = Browser::new(&app, "192.0.2.66");
    for _ in 0..10 {
        let page = attacker.sign_in("llk_guess").await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    }
    let locked = attacker.sign_in(&app.admin).await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        locked.html
    );
    let mut other = Browser::new(&app, "192.0.2.67");
    let page = other.sign_in(&app.admin).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
}

/// A promo code disabled from the program's page attributes no further order: a sale with it is
/// booked unattributed.
async fn a_disabled_promo_code_attributes_nothing(app: TestApp) {
    let program = app.program().await;
    let (anna, _) = app.creator(&program, "anna").await;
    app.promo_code(&program, "ANNA10", &anna).await;
    let secret = app
        .webhook_secret(&program, Platform::Postback, Some("postback_test_secret_1"))
        .await;
    let mut browser = Browser::signed_in(&app, &app.admin).await;
    let page = browser.get(&format!("/dashboard/programs/{program}")).await;
    assert!(
        page.html.contains("Disable promo code ANNA10"),
        "{}",
        page.html
    );
    let disabled = browser
        .post(
            &format!("/dashboard/programs/{program}/codes/ANNA10/disable"),
            &[],
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.html);
    assert!(disabled.html.contains("Promo code ANNA10 disabled."));
    let again = browser
        .post(
            &format!("/dashboard/programs/{program}/codes/anna10/disable"),
            &[],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.html);
    let listed = app
        .get(&format!("/api/programs/{program}/promo-codes"), &app.admin)
        .await;
    assert_eq!(listed.json["items"][0]["disabled"], true);

    let body =
        json!({"event": "sale", "order_id": "coupon-1", "amount": "30.00", "currency": "USD",
                      "coupon": "anna10", "occurred_at": rfc3339_in(60)})
        .to_string()
        .into_bytes();
    let delivered = app
        .deliver(
            &format!("/postback/{program}"),
            &postback_headers(&secret, &body, now_unix()),
            &body,
        )
        .await;
    assert_eq!(delivered.status, StatusCode::OK, "{}", delivered.json);
    app.drain().await;
    let conversions = app
        .get(&format!("/api/conversions?program={program}"), &app.admin)
        .await;
    let items = conversions.json["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{}", conversions.json);
    assert_eq!(items[0]["status"], "unattributed");
    assert_eq!(
        items[0]["commission"],
        json!({"amount": "0.00", "currency": "USD"})
    );
}

async fn dashboard_errors_are_pages_never_5xx(app: TestApp) {
    let mut browser = Browser::signed_in(&app, &app.admin).await;
    for (path, status) in [
        ("/dashboard/programs/prg_nope", StatusCode::NOT_FOUND),
        ("/dashboard/creators/not-an-id", StatusCode::NOT_FOUND),
        ("/dashboard/settlements/not-a-date", StatusCode::BAD_REQUEST),
        ("/dashboard/no-such-page", StatusCode::NOT_FOUND),
        (
            "/dashboard/stats.csv?program=prg_nope",
            StatusCode::NOT_FOUND,
        ),
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, status, "{path}: {}", page.html);
        assert!(
            page.html.contains("role=\"alert\""),
            "{path}: {}",
            page.html
        );
    }
}

on_both_backends!(
    signing_in_opens_a_session_and_signing_out_ends_it,
    over_https_the_session_cookie_is_secure,
    a_form_without_its_token_or_from_another_site_changes_nothing,
    a_hold_is_approved_and_settled_from_the_dashboard,
    revoking_or_rotating_a_key_ends_what_it_opened,
    failed_sign_ins_are_limited_per_address,
    a_disabled_promo_code_attributes_nothing,
    dashboard_errors_are_pages_never_5xx,
);

/// Tests that read the stats: on SQLite's change feed, and on DynamoDB's table stream.
macro_rules! with_change_feed {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    super::$name(linkledger_tests::app::TestApp::sqlite().await).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn dynamodb() {
                    if let Some(app) = linkledger_tests::app::TestApp::aws_with_stream().await {
                        super::$name(app).await;
                    }
                }
            }
        )+
    };
}

with_change_feed!(
    a_brand_sets_up_through_forms_and_sees_its_first_click_and_sale,
    a_creator_sees_only_its_own_data_on_every_page,
);

/// Per-key limits on `/api`: past the burst, 429 `rate_limited` with `Retry-After`; another key
/// is not limited by the first one's requests.
#[tokio::test]
async fn api_requests_past_a_keys_limit_get_429_with_retry_after() {
    use linkledger_api::limits::{Limits, RequestLimit};
    use tower::ServiceExt;
    let app = TestApp::sqlite().await;
    let (_, creator_key) = {
        let program = app.program().await;
        app.creator(&program, "anna").await
    };
    let limits = Limits {
        api: RequestLimit::new(1, 3),
        ..Limits::default()
    };
    let router = linkledger_api::router(std::sync::Arc::new(
        linkledger_api::ApiState::new(app.store.clone()).with_limits(limits),
    ));
    let call = |key: String| {
        let router = router.clone();
        async move {
            router
                .oneshot(
                    Request::get("/api/programs")
                        .header("authorization", format!("Bearer {key}"))
                        .body(Body::empty())
                        .expect("a request"),
                )
                .await
                .expect("an answer")
        }
    };
    for _ in 0..3 {
        assert_eq!(call(app.admin.clone()).await.status(), StatusCode::OK);
    }
    let limited = call(app.admin.clone()).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = limited
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=2).contains(&wait), "{wait}");
    let body = axum::body::to_bytes(limited.into_body(), 1 << 16)
        .await
        .expect("a body");
    let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(call(creator_key).await.status(), StatusCode::OK);
}

/// A key's page views past the dashboard's limit get a 429 page with `Retry-After`, however many
/// sessions the key opens.
#[tokio::test]
async fn dashboard_pages_past_a_keys_limit_get_429_with_retry_after() {
    use linkledger_api::limits::{Limits, RequestLimit};
    let app = TestApp::sqlite().await;
    let router = linkledger_api::router(std::sync::Arc::new(
        linkledger_api::ApiState::new(app.store.clone()).with_limits(Limits {
            dashboard: RequestLimit::new(1, 4),
            ..Limits::default()
        }),
    ));
    let mut first = Browser::new(&app, "198.51.100.30");
    first.router = router.clone();
    assert_eq!(
        first.sign_in(&app.admin).await.status,
        StatusCode::SEE_OTHER
    );
    let mut second = Browser::new(&app, "198.51.100.31");
    second.router = router;
    assert_eq!(
        second.sign_in(&app.admin).await.status,
        StatusCode::SEE_OTHER
    );
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(first.get("/dashboard/programs").await.status);
        statuses.push(second.get("/dashboard/programs").await.status);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        4,
        "the key's burst, shared by its two sessions: {statuses:?}"
    );
    let limited = first.get("/dashboard/programs").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        limited.retry_after.parse::<u64>().is_ok_and(|s| s >= 1),
        "{}",
        limited.retry_after
    );
    assert!(
        limited.html.contains("Too many requests"),
        "{}",
        limited.html
    );
}
