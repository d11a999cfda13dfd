//! The settlement function's failed-line log event, as the CloudWatch alarm reads it.

use time::Duration;

use linkledger_core::audit::{Actor, AuditEntry};
use linkledger_core::creator::{email_hash, Creator};
use linkledger_core::ids::{CreatorId, ProgramId};
use linkledger_core::ledger::LedgerEntry;
use linkledger_core::money::{Currency, Money};
use linkledger_store::settlement::{settle, RunStatus};
use linkledger_store::Store;

/// The failed line's log event is what the alarm's metric filter in `template.yaml` counts
/// (`{ $.message = "settlement line failed" }` on the Lambda's JSON lines): it must carry
/// the creator id and the reason, and no personal data.
#[test]
fn a_failed_line_is_logged_as_the_event_the_alarm_counts() {
    // As `telemetry::init_tracing` sets up JSON lines on Lambda.
    let (logs, _guard) = linkledger_tests::logs::capture_json();
    let path = std::env::temp_dir().join(format!(
        "settlement-log-{}-{}.db",
        std::process::id(),
        linkledger_core::clock::unix_ms(time::OffsetDateTime::now_utc())
    ));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let run = runtime.block_on(async {
        let db = linkledger_sqlite::SqliteDb::open(&path).unwrap();
        let store = Store::new(std::sync::Arc::new(db.table()));
        let audit = AuditEntry::new::<()>(
            time::OffsetDateTime::now_utc(),
            &Actor::operator("test"),
            "test",
            "x",
            None,
            None,
        );
        let creator = Creator {
            id: CreatorId::parse("cre_whale00000000000000000").unwrap(),
            name: "Whale".into(),
            payout_email: "whale@example.com".into(),
            email_hash: email_hash("whale@example.com"),
            created_at: time::OffsetDateTime::now_utc(),
        };
        store.create_creator(&creator, &audit).await.unwrap();
        let usd = Currency::parse("USD").unwrap();
        let program = ProgramId::parse("prg_demo000000000000000000").unwrap();
        let three_days_ago = time::OffsetDateTime::now_utc() - Duration::days(3);
        let entries: Vec<LedgerEntry> = (0..101)
            .map(|_| {
                LedgerEntry::adjustment(
                    creator.id.clone(),
                    program.clone(),
                    Money::from_minor(linkledger_core::limits::MAX_AMOUNT_MINOR, usd),
                    three_days_ago,
                )
            })
            .collect();
        for part in entries.chunks(50) {
            let audit = AuditEntry::new::<()>(
                time::OffsetDateTime::now_utc(),
                &Actor::operator("test"),
                "test",
                "x",
                None,
                None,
            );
            store.append_entries(part, &audit).await.unwrap();
        }
        settle(
            &store,
            linkledger_core::clock::Clock::yesterday(&linkledger_core::clock::SystemClock),
            None,
            |_| {},
        )
        .await
        .unwrap()
    });
    assert_eq!((run.status, run.failed_lines), (RunStatus::Completed, 1));
    let text = logs.text();
    let events: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|e: &serde_json::Value| e["message"] == "settlement line failed")
        .collect();
    assert_eq!(events.len(), 1, "{text}");
    assert_eq!(events[0]["level"], "ERROR");
    assert_eq!(events[0]["creator_id"], "cre_whale00000000000000000");
    assert_eq!(events[0]["currency"], "USD");
    assert!(
        events[0]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("beyond the limit"),
        "{}",
        events[0]
    );
    assert!(
        !text.contains("whale@example.com"),
        "no personal data: {text}"
    );
    for suffix in ["", "-wal", "-shm", "-index", "-index-wal", "-index-shm"] {
        let mut file = path.clone().into_os_string();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}
