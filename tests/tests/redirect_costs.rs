//! What a redirect costs the store, counted by the adapters themselves, and what happens when
//! the store fails: the shopper is redirected all the same.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode};
use tower::ServiceExt;

use linkledger_core::audit::{Actor, AuditEntry};
use linkledger_core::click::VisitorKey;
use linkledger_core::creator::{email_hash, Creator};
use linkledger_core::destination::{Destination, Domain};
use linkledger_core::ids::{CreatorId, LinkCode, ProgramId};
use linkledger_core::link::Link;
use linkledger_core::money::{Currency, Money};
use linkledger_core::program::{CommissionPlan, Precedence, Program};
use linkledger_redirect::{router, RedirectState};
use linkledger_store::ports::{OpCounts, Table};
use linkledger_store::Store;
use linkledger_tests::backends::{aws_table, sqlite_table};
use linkledger_tests::faults::{unavailable, Call, FaultyTable};

fn seeded() -> AuditEntry {
    AuditEntry::new::<()>(
        time::OffsetDateTime::now_utc(),
        &Actor::operator("test"),
        "seed",
        "test",
        None,
        None,
    )
}

async fn seed_link(store: &Store) {
    let now = time::OffsetDateTime::now_utc();
    let usd = Currency::parse("USD").unwrap();
    let domains = vec![Domain::parse("brand.com").unwrap()];
    let program = Program {
        id: ProgramId::generate(),
        name: "p".into(),
        currency: usd,
        allowed_domains: domains.clone(),
        click_param: "ll_click".into(),
        attribution_window_days: 30,
        holding_days: 30,
        min_payout: Money::zero(usd),
        precedence: Precedence::Click,
        plan: CommissionPlan::default(),
        fallback_url: None,
        max_orders_per_click: 3,
        fx_rates: Default::default(),
        time_zone: linkledger_core::stats::Zone::utc(),
        created_at: now,
        updated_at: now,
    };
    store.create_program(&program, &seeded()).await.unwrap();
    let creator = Creator {
        id: CreatorId::generate(),
        name: "c".into(),
        payout_email: "c@example.com".into(),
        email_hash: email_hash("c@example.com"),
        created_at: now,
    };
    store.create_creator(&creator, &seeded()).await.unwrap();
    let link = Link {
        code: LinkCode::parse("warm1").unwrap(),
        program_id: program.id,
        creator_id: creator.id,
        destination: Destination::for_program("https://brand.com/p", &domains).unwrap(),
        disabled: false,
        expires_at: None,
        created_at: now,
    };
    store.create_link(&link, &seeded()).await.unwrap();
}

async fn tap(app: &axum::Router) -> StatusCode {
    let request = Request::get("/warm1")
        .header("user-agent", "Mozilla/5.0")
        .header("x-forwarded-for", "192.0.2.1")
        .body(Body::empty())
        .unwrap();
    app.clone().oneshot(request).await.unwrap().status()
}

fn diff(after: OpCounts, before: OpCounts) -> (u64, u64) {
    (after.reads - before.reads, after.writes - before.writes)
}

async fn warm_redirect_costs_one_write_and_no_read(table: Arc<dyn Table>) {
    let store = Store::new(table.clone());
    seed_link(&store).await;
    let app = router(Arc::new(RedirectState::new(
        store,
        VisitorKey::new(b"k"),
        Duration::from_secs(60),
    )));

    assert_eq!(tap(&app).await, StatusCode::FOUND); // cold: loads link and program
    for _ in 0..3 {
        let before = table.op_counts();
        assert_eq!(tap(&app).await, StatusCode::FOUND);
        assert_eq!(
            diff(table.op_counts(), before),
            (0, 1),
            "(reads, writes) of one warm redirect"
        );
    }
}

#[tokio::test]
async fn warm_redirect_on_dynamodb_is_one_write_and_zero_reads() {
    if let Some(table) = aws_table().await {
        warm_redirect_costs_one_write_and_no_read(Arc::new(table)).await;
    }
}

#[tokio::test]
async fn warm_redirect_on_sqlite_is_one_write_and_zero_reads() {
    let backend = sqlite_table();
    warm_redirect_costs_one_write_and_no_read(backend.handle()).await;
}

#[tokio::test]
async fn a_failed_click_write_still_redirects_and_is_counted() {
    let backend = sqlite_table();
    seed_link(&Store::new(backend.handle())).await;
    let state = Arc::new(RedirectState::new(
        Store::new(Arc::new(FaultyTable::over(backend.handle(), |call| {
            call.is_write()
                .then(|| unavailable("injected write failure"))
        }))),
        VisitorKey::new(b"k"),
        Duration::from_secs(60),
    ));
    let app = router(state.clone());
    assert_eq!(tap(&app).await, StatusCode::FOUND);
    assert_eq!(tap(&app).await, StatusCode::FOUND);
    assert_eq!(state.click_write_failures(), 2);
}

#[tokio::test]
async fn an_unknown_code_while_the_store_is_down_is_503_json_not_a_panic() {
    let app = router(Arc::new(RedirectState::new(
        Store::new(Arc::new(FaultyTable::down())),
        VisitorKey::new(b"k"),
        Duration::from_secs(60),
    )));
    let response = app
        .oneshot(Request::get("/warm1").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["error"]["code"], "unavailable");
}

#[tokio::test]
async fn a_cached_link_keeps_redirecting_when_the_store_goes_down() {
    let backend = sqlite_table();
    seed_link(&Store::new(backend.handle())).await;
    let switch = Arc::new(std::sync::atomic::AtomicBool::new(false));

    // A zero TTL makes every request try to refresh the link from the store.
    let state = Arc::new(RedirectState::new(
        Store::new(Arc::new(FaultyTable::over(backend.handle(), {
            let switch = switch.clone();
            move |call| {
                let down = switch.load(std::sync::atomic::Ordering::SeqCst);
                (down && matches!(call, Call::Get(_) | Call::Put(_))).then(|| unavailable("down"))
            }
        }))),
        VisitorKey::new(b"k"),
        Duration::ZERO,
    ));
    let app = router(state.clone());
    assert_eq!(tap(&app).await, StatusCode::FOUND);
    switch.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        tap(&app).await,
        StatusCode::FOUND,
        "served from the stale cached copy"
    );
    assert_eq!(state.click_write_failures(), 1);
}

#[tokio::test]
async fn a_stale_link_is_served_while_it_refreshes_then_the_change_shows() {
    let backend = sqlite_table();
    let store = Store::new(backend.handle());
    seed_link(&store).await;
    // A zero TTL: every tap finds the cached copy stale.
    let app = router(Arc::new(RedirectState::new(
        store.clone(),
        VisitorKey::new(b"k"),
        Duration::ZERO,
    )));
    assert_eq!(tap(&app).await, StatusCode::FOUND);

    // The link is disabled behind this process's back (as another Lambda instance would).
    let code = LinkCode::parse("warm1").unwrap();
    let current = store.link(&code).await.unwrap().unwrap();
    let mut disabled = current.record.clone();
    disabled.disabled = true;
    store
        .update_link(&disabled, current.version, &seeded())
        .await
        .unwrap();

    assert_eq!(
        tap(&app).await,
        StatusCode::FOUND,
        "the stale copy answers at once"
    );
    let mut status = StatusCode::FOUND;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        status = tap(&app).await;
        if status == StatusCode::GONE {
            break;
        }
    }
    assert_eq!(
        status,
        StatusCode::GONE,
        "the background refresh brought the change in"
    );
}
