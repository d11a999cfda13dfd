//! Flows 2 and 3 end to end, on both backends: a shopper's click, the store's signed webhook,
//! the queue, the worker, and what the API then shows (conversions, ledger, balances).

use futures_util::future::join_all;
use http::{Method, StatusCode};
use serde_json::{json, Value};

use linkledger_core::conversion::Platform;
use linkledger_tests::app::TestApp;
use linkledger_tests::on_both_backends;
use linkledger_tests::webhooks::{
    fixture, gmt_in, now_unix, postback_headers, rfc3339_in, shopify_headers, stripe_headers,
    woocommerce_headers,
};

/// A program (USD, 10 % per sale) with a creator, her link `anna10`, her promo code `ANNA10`
/// and a shopper's click on the link.
struct Shop {
    program: String,
    creator: String,
    creator_key: String,
    click: String,
}

async fn shop(app: &TestApp) -> Shop {
    let program = app.program().await;
    let (creator, creator_key) = app.creator(&program, "anna").await;
    let reply = app
        .link(&program, &creator, "anna10", "https://brand.com/serum")
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    app.promo_code(&program, "ANNA10", &creator).await;
    let visit = app
        .visit("/anna10", "203.0.113.9", "Mozilla/5.0 (iPhone)")
        .await;
    assert_eq!(visit.status, StatusCode::FOUND);
    let location = url::Url::parse(visit.header("location")).expect("a location");
    let click = location
        .query_pairs()
        .find(|(k, _)| k == "ll_click")
        .map(|(_, v)| v.into_owned())
        .expect("a click id");
    Shop {
        program,
        creator,
        creator_key,
        click,
    }
}

/// Shopify's `orders/paid` fixture for `order_id`, paid a minute after the click.
fn shopify_order(click: &str, order_id: u64) -> Vec<u8> {
    let mut order = fixture("shopify/orders_paid.json", click);
    order["id"] = json!(order_id);
    order["processed_at"] = json!(rfc3339_in(60));
    order.to_string().into_bytes()
}

async fn deliver_shopify(
    app: &TestApp,
    shop: &Shop,
    secret: &str,
    topic: &str,
    id: &str,
    body: &[u8],
) -> Value {
    let reply = app
        .deliver(
            &format!("/webhooks/shopify/{}", shop.program),
            &shopify_headers(secret, topic, id, body),
            body,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    reply.json
}

async fn conversions(app: &TestApp, program: &str) -> Vec<Value> {
    app.all_pages(&format!("/api/conversions?program={program}&limit=50"))
        .await
}

async fn ledger(app: &TestApp, creator: &str) -> Vec<Value> {
    app.all_pages(&format!("/api/ledger?creator={creator}&limit=50"))
        .await
}

/// The creator's balance in USD: (pending, payable, total) as decimal strings.
async fn balance(app: &TestApp, creator: &str) -> (String, String, String) {
    let reply = app
        .get(&format!("/api/balances?creator={creator}"), &app.admin)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let items = reply.json["items"].as_array().cloned().unwrap_or_default();
    match items.first() {
        None => ("0.00".into(), "0.00".into(), "0.00".into()),
        Some(b) => (
            b["pending"]["amount"].as_str().unwrap_or("").into(),
            b["payable"]["amount"].as_str().unwrap_or("").into(),
            b["total"]["amount"].as_str().unwrap_or("").into(),
        ),
    }
}

fn amounts(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["amount"]["amount"].as_str().unwrap_or("").to_string())
        .collect()
}

async fn shopify_paid_order_books_the_clicking_creator(app: TestApp) {
    let shop = shop(&app).await;
    let secret = app
        .webhook_secret(
            &shop.program,
            Platform::Shopify,
            Some("shpss_test_secret_1"),
        )
        .await;
    let body = shopify_order(&shop.click, 6120489238631);
    let reply = deliver_shopify(&app, &shop, &secret, "orders/paid", "wh-1", &body).await;
    assert_eq!(reply["queued"], json!(["wh-1"]));
    assert_eq!(app.drain().await.done, 1);

    let booked = conversions(&app, &shop.program).await;
    assert_eq!(booked.len(), 1, "{booked:?}");
    let c = &booked[0];
    assert_eq!(c["status"], "approved");
    assert_eq!(c["creator_id"], json!(shop.creator));
    assert_eq!(
        c["attribution"],
        json!({"by": "click", "click_id": shop.click})
    );
    // Net = the shop-currency subtotal after discounts (100.00): no tax, no shipping.
    assert_eq!(c["net"]["amount"], "100.00");
    assert_eq!(c["commission"]["amount"], "10.00");
    assert_eq!(amounts(&ledger(&app, &shop.creator).await), ["10.00"]);
    assert_eq!(
        balance(&app, &shop.creator).await,
        ("10.00".into(), "0.00".into(), "10.00".into())
    );

    // Shopify's refund of the tee: 54.55 of the 100.00 net comes back.
    let mut refund = fixture("shopify/refunds_create.json", &shop.click);
    refund["order_id"] = json!(6120489238631u64);
    let body = refund.to_string().into_bytes();
    deliver_shopify(&app, &shop, &secret, "refunds/create", "wh-2", &body).await;
    // The same refund again under another delivery id books nothing more.
    deliver_shopify(&app, &shop, &secret, "refunds/create", "wh-3", &body).await;
    assert_eq!(app.drain().await.done, 2);
    let entries = amounts(&ledger(&app, &shop.creator).await);
    // 10.00 × 54.55 / 100.00 = 5.455: 545.5 cents, a tie, rounded to the even 546.
    assert_eq!(entries, ["10.00", "-5.46"]);
    assert_eq!(balance(&app, &shop.creator).await.2, "4.54");
}
on_both_backends!(shopify_paid_order_books_the_clicking_creator);

async fn stripe_checkout_then_cumulative_refunds(app: TestApp) {
    let shop = shop(&app).await;
    let secret = app
        .webhook_secret(&shop.program, Platform::Stripe, Some("whsec_test_secret_1"))
        .await;
    let path = format!("/webhooks/stripe/{}", shop.program);
    let mut event = fixture("stripe/checkout_session_completed.json", &shop.click);
    event["created"] = json!(now_unix() + 60);
    let body = event.to_string().into_bytes();
    let reply = app
        .deliver(&path, &stripe_headers(&secret, &body, now_unix()), &body)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    app.drain().await;
    let c = &conversions(&app, &shop.program).await[0];
    // amount_subtotal 110.00 − discount 10.00; tax and shipping stay out.
    assert_eq!(c["net"]["amount"], "100.00");
    assert_eq!(c["commission"]["amount"], "10.00");

    // charge.refunded reports the cumulative amount_refunded of the 113.00 charge.
    for (id, refunded) in [("evt_r1", 5650), ("evt_r0", 2000), ("evt_r2", 11300)] {
        let mut refund = fixture("stripe/charge_refunded.json", &shop.click);
        refund["id"] = json!(id);
        refund["data"]["object"]["amount_refunded"] = json!(refunded);
        let body = refund.to_string().into_bytes();
        let reply = app
            .deliver(&path, &stripe_headers(&secret, &body, now_unix()), &body)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
        app.drain().await;
    }
    // Half refunded → 5.00 back; an older, smaller figure changes nothing; full → the rest.
    assert_eq!(
        amounts(&ledger(&app, &shop.creator).await),
        ["10.00", "-5.00", "-5.00"]
    );
    assert_eq!(balance(&app, &shop.creator).await.2, "0.00");
}
on_both_backends!(stripe_checkout_then_cumulative_refunds);

async fn woocommerce_coupon_order_and_its_refund(app: TestApp) {
    let shop = shop(&app).await;
    let secret = app
        .webhook_secret(
            &shop.program,
            Platform::Woocommerce,
            Some("wc-secret-typed-in"),
        )
        .await;
    let path = format!("/webhooks/woocommerce/{}", shop.program);
    // The creation ping: unsigned, form-encoded, must get 200.
    let reply = app
        .deliver(
            &path,
            &[("content-type", "application/x-www-form-urlencoded".into())],
            b"webhook_id=7",
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);

    // No click in the order: the lower-cased coupon `anna10` attributes it.
    let mut order = fixture("woocommerce/order_created.json", "not-a-click");
    order["date_paid_gmt"] = json!(gmt_in(60));
    let body = order.to_string().into_bytes();
    let headers = woocommerce_headers(&secret, "order.created", "d1", &body);
    assert_eq!(
        app.deliver(&path, &headers, &body).await.status,
        StatusCode::OK
    );
    app.drain().await;
    let c = &conversions(&app, &shop.program).await[0];
    assert_eq!(c["attribution"], json!({"by": "coupon", "code": "anna10"}));
    assert_eq!(c["net"]["amount"], "100.00");
    assert_eq!(c["commission"]["amount"], "10.00");

    let mut refunded = fixture("woocommerce/order_refunded.json", "not-a-click");
    refunded["date_paid_gmt"] = json!(gmt_in(60));
    let body = refunded.to_string().into_bytes();
    let headers = woocommerce_headers(&secret, "order.updated", "d2", &body);
    let reply = app.deliver(&path, &headers, &body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    app.drain().await;
    assert_eq!(
        amounts(&ledger(&app, &shop.creator).await),
        ["10.00", "-10.00"]
    );
    assert_eq!(conversions(&app, &shop.program).await.len(), 1);
}
on_both_backends!(woocommerce_coupon_order_and_its_refund);

fn postback(shop: &Shop, event: &str, order: &str, amount: &str) -> Vec<u8> {
    json!({
        "event": event, "order_id": order, "amount": amount, "currency": "USD",
        "click_id": shop.click, "occurred_at": rfc3339_in(60)
    })
    .to_string()
    .into_bytes()
}

async fn send_postback(app: &TestApp, shop: &Shop, secret: &str, body: &[u8]) -> StatusCode {
    app.deliver(
        &format!("/postback/{}", shop.program),
        &postback_headers(secret, body, now_unix()),
        body,
    )
    .await
    .status
}

async fn the_same_order_books_once_however_often_and_concurrently_it_arrives(app: TestApp) {
    let shop = shop(&app).await;
    let secret = app
        .webhook_secret(
            &shop.program,
            Platform::Shopify,
            Some("shpss_test_secret_1"),
        )
        .await;
    let body = shopify_order(&shop.click, 1001);
    // The same delivery twice, then the order re-sent by hand under eight new delivery ids.
    let mut ids = vec!["wh-a".to_string(), "wh-a".to_string()];
    ids.extend((0..8).map(|i| format!("wh-resent-{i}")));
    let deliveries = ids.iter().map(|id| {
        let headers = shopify_headers(&secret, "orders/paid", id, &body);
        let path = format!("/webhooks/shopify/{}", shop.program);
        let app = &app;
        let body = &body;
        async move { app.deliver(&path, &headers, body).await.status }
    });
    for status in join_all(deliveries).await {
        assert_eq!(status, StatusCode::OK);
    }
    // Four workers book the ten messages at the same time.
    let workers = (0..4).map(|_| app.drain());
    let drained: usize = join_all(workers).await.iter().map(|d| d.done).sum();
    // SQS delivers at least once: a message may be booked twice, and books nothing twice.
    assert!(drained >= 10, "{drained}");
    assert_eq!(conversions(&app, &shop.program).await.len(), 1);
    assert_eq!(amounts(&ledger(&app, &shop.creator).await), ["10.00"]);
}
on_both_backends!(the_same_order_books_once_however_often_and_concurrently_it_arrives);

async fn partial_refunds_that_sum_to_the_total_net_to_zero(app: TestApp) {
    let shop = shop(&app).await;
    let secret = app
        .webhook_secret(&shop.program, Platform::Postback, None)
        .await;
    assert_eq!(
        send_postback(
            &app,
            &shop,
            &secret,
            &postback(&shop, "sale", "o-7", "99.99")
        )
        .await,
        StatusCode::OK
    );
    app.drain().await;
    // Cumulative refunds: 33.33, 66.66, 99.99 of 99.99.
    for total in ["33.33", "66.66", "99.99"] {
        assert_eq!(
            send_postback(
                &app,
                &shop,
                &secret,
                &postback(&shop, "refund", "o-7", total)
            )
            .await,
            StatusCode::OK
        );
    }
    app.drain().await;
    // 10 % of 99.99 = 9.999 → 10.00; reversed 3.33, then 6.67 − 3.33, then the rest: never more.
    let entries = amounts(&ledger(&app, &shop.creator).await);
    assert_eq!(entries[0], "10.00");
    assert_eq!(balance(&app, &shop.creator).await.2, "0.00", "{entries:?}");
    assert!(entries[1..].iter().all(|e| e.starts_with('-')));
}
on_both_backends!(partial_refunds_that_sum_to_the_total_net_to_zero);

async fn a_refund_before_its_order_waits_and_then_books(app: TestApp) {
    let shop = shop(&app).await;
    let secret = app
        .webhook_secret(&shop.program, Platform::Postback, None)
        .await;
    send_postback(
        &app,
        &shop,
        &secret,
        &postback(&shop, "refund", "o-late", "50.00"),
    )
    .await;
    let first = app.drain().await;
    assert_eq!(
        (first.done, first.retried),
        (0, 1),
        "the refund waits for its order"
    );
    send_postback(
        &app,
        &shop,
        &secret,
        &postback(&shop, "sale", "o-late", "100.00"),
    )
    .await;
    app.drain().await;
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let later = app.drain().await;
    assert_eq!(later.done, 1, "the refund comes back and books");
    assert_eq!(
        amounts(&ledger(&app, &shop.creator).await),
        ["10.00", "-5.00"]
    );
}
on_both_backends!(a_refund_before_its_order_waits_and_then_books);

async fn bad_deliveries_get_4xx_and_book_nothing(app: TestApp) {
    let shop = shop(&app).await;
    let secret = app
        .webhook_secret(&shop.program, Platform::Stripe, Some("whsec_test_secret_1"))
        .await;
    let path = format!("/webhooks/stripe/{}", shop.program);
    let event = fixture("stripe/checkout_session_completed.json", &shop.click);
    let body = event.to_string().into_bytes();
    let check = |reply: linkledger_tests::app::Reply, status: StatusCode, code: &str| {
        assert_eq!(reply.status, status, "{}", reply.json);
        assert_eq!(reply.error_code(), code, "{}", reply.json);
    };
    // Bad signature (another secret), stale timestamp (both directions), tampered body, none.
    check(
        app.deliver(
            &path,
            &stripe_headers("whsec_other", &body, now_unix()),
            &body,
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "bad_signature",
    );
    check(
        app.deliver(
            &path,
            &stripe_headers(&secret, &body, now_unix() - 400),
            &body,
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "stale_signature",
    );
    check(
        app.deliver(
            &path,
            &stripe_headers(&secret, &body, now_unix() + 400),
            &body,
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "stale_signature",
    );
    let mut tampered = body.clone();
    let at = tampered.len() / 2;
    tampered[at] = if tampered[at] == b'1' { b'2' } else { b'1' };
    check(
        app.deliver(
            &path,
            &stripe_headers(&secret, &body, now_unix()),
            &tampered,
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "bad_signature",
    );
    check(
        app.deliver(&path, &[], &body).await,
        StatusCode::UNAUTHORIZED,
        "missing_signature",
    );
    // Malformed JSON, a missing field, a currency that is not ISO 4217: 400 naming the field.
    let signed = |body: &[u8]| stripe_headers(&secret, body, now_unix());
    let reply = app
        .deliver(&path, &signed(b"{not json"), b"{not json")
        .await;
    check(reply, StatusCode::BAD_REQUEST, "malformed_body");
    let mut missing = event.clone();
    missing["data"]["object"]
        .as_object_mut()
        .expect("object")
        .remove("amount_subtotal");
    let missing = missing.to_string().into_bytes();
    let reply = app.deliver(&path, &signed(&missing), &missing).await;
    assert!(
        reply.json["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("data.object.amount_subtotal"),
        "{}",
        reply.json
    );
    check(reply, StatusCode::BAD_REQUEST, "malformed_body");
    let mut wrong = event.clone();
    wrong["data"]["object"]["currency"] = json!("usx");
    let wrong = wrong.to_string().into_bytes();
    let reply = app.deliver(&path, &signed(&wrong), &wrong).await;
    assert!(
        reply.json["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("data.object.currency"),
        "{}",
        reply.json
    );
    check(reply, StatusCode::BAD_REQUEST, "malformed_body");
    // Unknown program; a platform without a secret.
    let reply = app
        .deliver(
            "/webhooks/stripe/prg_AAAAAAAAAAAAAAAAAAAAAA",
            &signed(&body),
            &body,
        )
        .await;
    check(reply, StatusCode::NOT_FOUND, "not_found");
    let reply = app
        .deliver(
            &format!("/webhooks/shopify/{}", shop.program),
            &shopify_headers("x", "orders/paid", "1", &body),
            &body,
        )
        .await;
    check(reply, StatusCode::UNAUTHORIZED, "webhook_not_configured");
    // A postback with an unknown field.
    let pb = app
        .webhook_secret(&shop.program, Platform::Postback, None)
        .await;
    let odd = br#"{"event":"sale","order_id":"1","amount":"1.00","currency":"USD","colour":"red"}"#;
    let reply = app
        .deliver(
            &format!("/postback/{}", shop.program),
            &postback_headers(&pb, odd, now_unix()),
            odd,
        )
        .await;
    assert!(
        reply.json["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("colour"),
        "{}",
        reply.json
    );
    check(reply, StatusCode::BAD_REQUEST, "malformed_body");

    assert_eq!(app.drain().await.done, 0, "nothing reached the queue");
    assert!(conversions(&app, &shop.program).await.is_empty());
}
on_both_backends!(bad_deliveries_get_4xx_and_book_nothing);

async fn topics_we_do_not_book_are_acknowledged_as_ignored(app: TestApp) {
    let shop = shop(&app).await;
    let secret = app
        .webhook_secret(
            &shop.program,
            Platform::Shopify,
            Some("shpss_test_secret_1"),
        )
        .await;
    let body = shopify_order(&shop.click, 42);
    let reply = deliver_shopify(&app, &shop, &secret, "orders/create", "wh-9", &body).await;
    assert_eq!(reply, json!({"ignored": "orders/create"}));
    assert_eq!(app.drain().await.done, 0);
}
on_both_backends!(topics_we_do_not_book_are_acknowledged_as_ignored);

async fn suspicious_conversions_are_held_until_an_admin_decides(app: TestApp) {
    let shop = shop(&app).await;
    let secret = app
        .webhook_secret(&shop.program, Platform::Postback, None)
        .await;
    // Self-referral: the order's e-mail is the creator's own payout address.
    let body = json!({"event": "sale", "order_id": "self-1", "amount": "50.00", "currency": "USD",
    "click_id": shop.click, "customer_email": " Anna@Example.com ", "occurred_at": rfc3339_in(60)});
    send_postback(&app, &shop, &secret, body.to_string().as_bytes()).await;
    // Too fast: two seconds after the click.
    let body = json!({"event": "sale", "order_id": "fast-1", "amount": "50.00", "currency": "USD",
    "click_id": shop.click, "occurred_at": rfc3339_in(0)});
    send_postback(&app, &shop, &secret, body.to_string().as_bytes()).await;
    // A currency the program has no rate for.
    let body = json!({"event": "sale", "order_id": "eur-1", "amount": "100.00", "currency": "EUR",
    "click_id": shop.click, "occurred_at": rfc3339_in(60)});
    send_postback(&app, &shop, &secret, body.to_string().as_bytes()).await;
    app.drain().await;

    let held = app
        .all_pages(&format!(
            "/api/conversions?program={}&status=held&limit=10",
            shop.program
        ))
        .await;
    let reasons: Vec<Value> = held.iter().map(|c| c["hold_reasons"].clone()).collect();
    assert_eq!(held.len(), 3, "{reasons:?}");
    assert!(reasons.contains(&json!(["self_referral"])), "{reasons:?}");
    assert!(
        reasons.contains(&json!(["too_fast_after_click"])),
        "{reasons:?}"
    );
    assert!(reasons.contains(&json!(["fx_rate_missing"])), "{reasons:?}");
    assert!(
        ledger(&app, &shop.creator).await.is_empty(),
        "nothing held is booked"
    );

    let id_of = |order: &str| {
        held.iter()
            .find(|c| c["order_id"] == order)
            .and_then(|c| c["id"].as_str())
            .expect("held conversion")
            .to_string()
    };
    // A creator may not decide; approving the EUR one needs a rate first.
    let eur = id_of("eur-1");
    let reply = app
        .post(
            &format!("/api/conversions/{eur}/approve"),
            &shop.creator_key,
            json!({}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = app
        .post(
            &format!("/api/conversions/{eur}/approve"),
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(
        (reply.status, reply.error_code()),
        (StatusCode::CONFLICT, "fx_rate_missing")
    );
    let reply = app
        .call(
            Method::PUT,
            &format!("/api/programs/{}/fx-rates", shop.program),
            Some(&app.admin),
            Some(json!({"rates": {"EUR": "1.0825"}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let reply = app
        .post(
            &format!("/api/conversions/{eur}/approve"),
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(reply.json["program_net"]["amount"], "108.25");
    assert_eq!(reply.json["fx"]["rate"], "1.0825");
    // 10 % of 108.25 = 10.825: a tie, rounded half to even.
    assert_eq!(reply.json["commission"]["amount"], "10.82");
    // Reject the self-referral; approving it again is a conflict.
    let selfie = id_of("self-1");
    let reply = app
        .post(
            &format!("/api/conversions/{selfie}/reject"),
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(reply.json["status"], "rejected");
    let reply = app
        .post(
            &format!("/api/conversions/{selfie}/approve"),
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(
        (reply.status, reply.error_code()),
        (StatusCode::CONFLICT, "not_held")
    );

    let entries = ledger(&app, &shop.creator).await;
    assert_eq!(amounts(&entries), ["10.82"]);
    assert_eq!(entries[0]["fx"]["from"], "EUR");
    // Both decisions are in the audit log.
    let audit = app.get("/api/audit?limit=50", &app.admin).await;
    let actions: Vec<&str> = audit.json["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"conversion.approve") && actions.contains(&"conversion.reject"),
        "{actions:?}"
    );
}
on_both_backends!(suspicious_conversions_are_held_until_an_admin_decides);

async fn a_click_reused_by_too_many_orders_is_held(app: TestApp) {
    let shop = shop(&app).await;
    let secret = app
        .webhook_secret(&shop.program, Platform::Postback, None)
        .await;
    for order in ["r-1", "r-2", "r-3", "r-4"] {
        send_postback(
            &app,
            &shop,
            &secret,
            &postback(&shop, "sale", order, "10.00"),
        )
        .await;
        app.drain().await;
    }
    let all = conversions(&app, &shop.program).await;
    let statuses: Vec<(&str, &str)> = all
        .iter()
        .map(|c| {
            (
                c["order_id"].as_str().unwrap_or(""),
                c["status"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(statuses.contains(&("r-4", "held")), "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|(_, s)| *s == "approved").count(),
        3,
        "{statuses:?}"
    );
}
on_both_backends!(a_click_reused_by_too_many_orders_is_held);

async fn creators_see_only_their_own_conversions_and_ledger(app: TestApp) {
    let shop = shop(&app).await;
    let (_, ben_key) = app.creator(&shop.program, "ben").await;
    let secret = app
        .webhook_secret(&shop.program, Platform::Postback, None)
        .await;
    send_postback(
        &app,
        &shop,
        &secret,
        &postback(&shop, "sale", "mine-1", "20.00"),
    )
    .await;
    app.drain().await;
    let anna = app.get("/api/conversions", &shop.creator_key).await;
    assert_eq!(
        anna.json["items"].as_array().map(Vec::len),
        Some(1),
        "{}",
        anna.json
    );
    let ben = app.get("/api/conversions", &ben_key).await;
    assert_eq!(
        ben.json["items"].as_array().map(Vec::len),
        Some(0),
        "{}",
        ben.json
    );
    let ben = app
        .get(&format!("/api/ledger?creator={}", shop.creator), &ben_key)
        .await;
    assert_eq!(
        ben.json["items"].as_array().map(Vec::len),
        Some(0),
        "{}",
        ben.json
    );
    let id = anna.json["items"][0]["id"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let ben = app.get(&format!("/api/conversions/{id}"), &ben_key).await;
    assert_eq!(ben.status, StatusCode::NOT_FOUND);
    let reply = app.get("/api/balances", &shop.creator_key).await;
    assert_eq!(
        reply.json["items"][0]["pending"]["amount"], "2.00",
        "{}",
        reply.json
    );
    // Secrets are shown masked afterwards, and never to creators.
    let reply = app
        .get(
            &format!("/api/programs/{}/webhook-secrets", shop.program),
            &app.admin,
        )
        .await;
    let hint = reply.json["items"][0]["secret_hint"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        !hint.is_empty() && !reply.json.to_string().contains(&secret),
        "{}",
        reply.json
    );
    let reply = app
        .get(
            &format!("/api/programs/{}/webhook-secrets", shop.program),
            &shop.creator_key,
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
}
on_both_backends!(creators_see_only_their_own_conversions_and_ledger);

async fn leads_and_stripe_renewals_earn_by_the_plan(app: TestApp) {
    let shop = shop(&app).await;
    let reply = app
    .call(Method::PATCH, &format!("/api/programs/{}", shop.program), Some(&app.admin),
        Some(json!({"plan": {"sale": {"rate_bps": 1000}, "lead": {"amount": "2.50", "currency": "USD"}, "recurring_months": 12}})))
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let pb = app
        .webhook_secret(&shop.program, Platform::Postback, None)
        .await;
    let lead = json!({"event": "lead", "order_id": "signup-1", "click_id": shop.click, "occurred_at": rfc3339_in(60)});
    send_postback(&app, &shop, &pb, lead.to_string().as_bytes()).await;

    let secret = app
        .webhook_secret(&shop.program, Platform::Stripe, Some("whsec_test_secret_1"))
        .await;
    let path = format!("/webhooks/stripe/{}", shop.program);
    let mut checkout = fixture(
        "stripe/checkout_session_completed_subscription.json",
        &shop.click,
    );
    checkout["created"] = json!(now_unix() + 60);
    let body = checkout.to_string().into_bytes();
    assert_eq!(
        app.deliver(&path, &stripe_headers(&secret, &body, now_unix()), &body)
            .await
            .status,
        StatusCode::OK
    );
    app.drain().await;
    let mut invoice = fixture("stripe/invoice_paid.json", &shop.click);
    // The next cycle's invoice, paid an hour later (a time more than a day ahead of our
    // clock is refused at the edge, so the cycle is not dated a month ahead).
    invoice["data"]["object"]["status_transitions"]["paid_at"] = json!(now_unix() + 3_600);
    let body = invoice.to_string().into_bytes();
    assert_eq!(
        app.deliver(&path, &stripe_headers(&secret, &body, now_unix()), &body)
            .await
            .status,
        StatusCode::OK
    );
    app.drain().await;

    let all = conversions(&app, &shop.program).await;
    let kinds: Vec<(&str, &str)> = all
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap_or(""),
                c["commission"]["amount"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(kinds.contains(&("lead", "2.50")), "{kinds:?}");
    assert!(kinds.contains(&("sale", "10.00")), "{kinds:?}");
    // The renewal (total_excluding_tax 100.00) earns for the customer's creator.
    assert!(kinds.contains(&("renewal", "10.00")), "{kinds:?}");
    assert_eq!(ledger(&app, &shop.creator).await.len(), 3);
}
on_both_backends!(leads_and_stripe_renewals_earn_by_the_plan);

async fn a_refund_after_payout_leaves_a_negative_balance(app: TestApp) {
    use linkledger_core::audit::{Actor, AuditEntry};
    use linkledger_core::ids::{CreatorId, PayoutId, ProgramId};
    use linkledger_core::ledger::LedgerEntry;
    use linkledger_core::money::{Currency, Money};
    use linkledger_core::settlement::{Payout, PayoutStatus};

    let shop = shop(&app).await;
    // No holding period: the accrual is payable at once.
    let reply = app
        .call(
            Method::PATCH,
            &format!("/api/programs/{}", shop.program),
            Some(&app.admin),
            Some(json!({"holding_days": 0})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let secret = app
        .webhook_secret(&shop.program, Platform::Postback, None)
        .await;
    // Attributed by its promo code, occurring now: payable at once.
    let sale = json!({"event": "sale", "order_id": "paid-1", "amount": "100.00", "currency": "USD", "coupon": "ANNA10"});
    send_postback(&app, &shop, &secret, sale.to_string().as_bytes()).await;
    app.drain().await;
    app.clock.advance(time::Duration::seconds(2));
    assert_eq!(balance(&app, &shop.creator).await.1, "10.00");
    // The payout the settlement books (a negative payout entry).
    let usd = Currency::parse("USD").unwrap();
    let creator = CreatorId::parse(&shop.creator).unwrap();
    let today = time::OffsetDateTime::now_utc().date();
    let paid = Payout {
        id: PayoutId::for_line(today, &creator, usd),
        date: today,
        creator_id: creator,
        program_id: ProgramId::parse(&shop.program).unwrap(),
        payout_email: "anna@example.com".into(),
        amount: Money::parse_decimal("10.00", usd).unwrap(),
        status: PayoutStatus::Pending,
        created_at: time::OffsetDateTime::now_utc(),
        external_ref: None,
        paid_on: None,
        failure: None,
    };
    let payout = LedgerEntry::payout(&paid, time::OffsetDateTime::now_utc()).unwrap();
    let audit = AuditEntry::new(
        time::OffsetDateTime::now_utc(),
        &Actor::operator("test"),
        "payout",
        &payout.id,
        None,
        Some(&payout),
    );
    app.store.append_entries(&[payout], &audit).await.unwrap();
    assert_eq!(balance(&app, &shop.creator).await.1, "0.00");

    send_postback(
        &app,
        &shop,
        &secret,
        &postback(&shop, "refund", "paid-1", "100.00"),
    )
    .await;
    app.drain().await;
    let (_, payable, total) = balance(&app, &shop.creator).await;
    assert_eq!((payable.as_str(), total.as_str()), ("-10.00", "-10.00"));
}
on_both_backends!(a_refund_after_payout_leaves_a_negative_balance);

async fn admins_correct_the_ledger_with_adjustments(app: TestApp) {
    let shop = shop(&app).await;
    let body = json!({"creator_id": shop.creator, "program_id": shop.program,
    "amount": {"amount": "-2.50", "currency": "USD"}, "note": "duplicate order 1001"});
    let reply = app
        .post("/api/adjustments", &shop.creator_key, body.clone())
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = app.post("/api/adjustments", &app.admin, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    assert_eq!(reply.json["kind"], "adjustment");
    let wrong = json!({"creator_id": shop.creator, "program_id": shop.program,
    "amount": {"amount": "5.00", "currency": "EUR"}, "note": "x"});
    let reply = app.post("/api/adjustments", &app.admin, wrong).await;
    assert_eq!(
        (reply.status, reply.error_code()),
        (StatusCode::BAD_REQUEST, "invalid_adjustment")
    );
    assert_eq!(balance(&app, &shop.creator).await.2, "-2.50");
}
on_both_backends!(admins_correct_the_ledger_with_adjustments);

async fn a_refund_whose_order_never_comes_is_parked_in_the_dead_letter_queue(app: TestApp) {
    let shop = shop(&app).await;
    let secret = app
        .webhook_secret(&shop.program, Platform::Postback, None)
        .await;
    let body = postback(&shop, "refund", "o-never", "10.00");
    assert_eq!(
        send_postback(&app, &shop, &secret, &body).await,
        StatusCode::OK
    );
    // Retried on each redelivery (hidden 1 s, then 2 s, ...) until the queue gives up on it.
    let mut dead = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while dead.is_empty() && std::time::Instant::now() < deadline {
        let drained = app.drain().await;
        assert_eq!(drained.done, 0);
        dead = app
            .queue
            .receive_dead(10, std::time::Duration::from_secs(30))
            .await
            .expect("the dead-letter queue answers");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    assert_eq!(dead.len(), 1, "parked for review, not dropped");
    assert!(dead[0].body.contains("o-never"));
    assert!(conversions(&app, &shop.program).await.is_empty());
}
on_both_backends!(a_refund_whose_order_never_comes_is_parked_in_the_dead_letter_queue);

async fn conversions_list_by_date_range_status_and_page(app: TestApp) {
    let shop = shop(&app).await;
    let secret = app
        .webhook_secret(&shop.program, Platform::Postback, None)
        .await;
    for order in ["p-1", "p-2", "p-3"] {
        send_postback(
            &app,
            &shop,
            &secret,
            &postback(&shop, "sale", order, "10.00"),
        )
        .await;
    }
    app.drain().await;
    // Pages of one follow the cursor to all three.
    let all = app
        .all_pages(&format!(
            "/api/conversions?program={}&limit=1",
            shop.program
        ))
        .await;
    assert_eq!(all.len(), 3);
    // The sales happened a minute from now: today, or tomorrow when the test runs in the
    // day's last minute.
    let today = time::OffsetDateTime::now_utc().date();
    let tomorrow = today.next_day().unwrap_or(today);
    let within = app
        .all_pages(&format!(
            "/api/conversions?program={}&from={today}&to={tomorrow}&limit=10",
            shop.program
        ))
        .await;
    assert_eq!(within.len(), 3);
    let before = app
        .all_pages(&format!(
            "/api/conversions?program={}&from=2020-01-01&to=2020-01-31&limit=10",
            shop.program
        ))
        .await;
    assert!(before.is_empty());
    let rejected = app
        .all_pages(&format!(
            "/api/conversions?program={}&status=rejected&limit=10",
            shop.program
        ))
        .await;
    assert!(rejected.is_empty());
    let reply = app.get("/api/conversions", &app.admin).await;
    assert_eq!(
        (reply.status, reply.error_code()),
        (StatusCode::BAD_REQUEST, "filter_required")
    );
    let reply = app
        .get(
            &format!("/api/conversions?program={}&from=yesterday", shop.program),
            &app.admin,
        )
        .await;
    assert_eq!(
        (reply.status, reply.error_code()),
        (StatusCode::BAD_REQUEST, "invalid_query")
    );
}
on_both_backends!(conversions_list_by_date_range_status_and_page);

/// The webhooks keep a program's signing secret for a second (no read per delivery), yet a
/// rotated secret signs at once: a delivery that fails against the kept one is checked against
/// the stored one before it is refused.
async fn a_rotated_secret_signs_at_once(app: TestApp) {
    let shop = shop(&app).await;
    let old = app
        .webhook_secret(&shop.program, Platform::Shopify, Some("shpss_old_secret_1"))
        .await;
    let path = format!("/webhooks/shopify/{}", shop.program);
    let body = shopify_order(&shop.click, 2001);
    let reply = app
        .deliver(
            &path,
            &shopify_headers(&old, "orders/paid", "rot-1", &body),
            &body,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let new = app
        .webhook_secret(&shop.program, Platform::Shopify, Some("shpss_new_secret_2"))
        .await;
    let body = shopify_order(&shop.click, 2002);
    let reply = app
        .deliver(
            &path,
            &shopify_headers(&new, "orders/paid", "rot-2", &body),
            &body,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    // A wrong secret is still refused, kept secret or not.
    let reply = app
        .deliver(
            &path,
            &shopify_headers("shpss_wrong_secret", "orders/paid", "rot-3", &body),
            &body,
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.error_code(), "bad_signature");
}
on_both_backends!(a_rotated_secret_signs_at_once);
