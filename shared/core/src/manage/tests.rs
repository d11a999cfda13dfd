//! The management decisions, without a store: each test hands over the facts a caller would
//! read and checks what is to be written, audit entry included.

use std::collections::BTreeMap;

use time::macros::{date, datetime};
use time::OffsetDateTime;

use super::*;
use crate::api_key::Role;
use crate::audit::Actor;
use crate::creator::Enrolment;
use crate::destination::Domain;
use crate::ids::{CreatorId, PayoutId, ProgramId};
use crate::ledger::EntryKind;
use crate::money::{Currency, Money};
use crate::program::{CommissionPlan, Precedence, Program};
use crate::settlement::{Payout, PayoutStatus};

const NOW: OffsetDateTime = datetime!(2026-11-20 12:00 UTC);

fn usd() -> Currency {
    Currency::parse("USD").unwrap()
}

fn anna() -> CreatorId {
    CreatorId::parse("cre_anna000000000000000000").unwrap()
}

fn actor() -> Actor {
    Actor::operator("test")
}

fn program() -> Program {
    Program {
        id: ProgramId::parse("prg_demo000000000000000000").unwrap(),
        name: "demo".into(),
        currency: usd(),
        allowed_domains: vec![Domain::parse("example.com").unwrap()],
        click_param: "ll_click".into(),
        attribution_window_days: 30,
        holding_days: 30,
        min_payout: Money::from_minor(0, usd()),
        precedence: Precedence::Click,
        plan: CommissionPlan::default(),
        fallback_url: None,
        max_orders_per_click: 3,
        fx_rates: BTreeMap::new(),
        created_at: NOW,
        updated_at: NOW,
    }
}

fn enrolment() -> Enrolment {
    Enrolment {
        program_id: program().id,
        creator_id: anna(),
        rate_override: None,
        enrolled_at: NOW,
    }
}

fn new_link(code: Option<&str>) -> links::NewLink {
    links::NewLink {
        creator_id: anna(),
        destination: "https://shop.example.com/serum".into(),
        code: code.map(Into::into),
        expires_at: None,
    }
}

#[test]
fn a_link_is_created_with_its_record_in_the_audit_entry() {
    let (link, audit) = links::create(
        &new_link(Some("anna10")),
        &program(),
        Some(&enrolment()),
        0,
        NOW,
        &actor(),
    )
    .unwrap();
    assert_eq!(link.code.to_string(), "anna10");
    assert_eq!((link.created_at, link.disabled), (NOW, false));
    assert_eq!(audit.action, "link.create");
    assert_eq!(audit.target, "anna10");
    assert_eq!(audit.before, None);
    assert_eq!(audit.after, Some(serde_json::to_value(&link).unwrap()));
}

#[test]
fn a_link_needs_an_enrolment_an_allowed_destination_and_a_future_expiry() {
    let program = program();
    let refused = |input: &links::NewLink, enrolment: Option<&Enrolment>| {
        links::create(input, &program, enrolment, 0, NOW, &actor()).unwrap_err()
    };
    assert!(matches!(
        refused(&new_link(None), None),
        links::LinkError::NotEnrolled
    ));
    let mut elsewhere = new_link(None);
    elsewhere.destination = "https://shop.example.com@evil.com/".into();
    assert!(matches!(
        refused(&elsewhere, Some(&enrolment())),
        links::LinkError::Destination(_)
    ));
    let mut expired = new_link(None);
    expired.expires_at = Some(NOW);
    assert!(matches!(
        refused(&expired, Some(&enrolment())),
        links::LinkError::ExpiryPassed
    ));
    assert!(matches!(
        refused(&new_link(Some("a b")), Some(&enrolment())),
        links::LinkError::Code(_)
    ));
}

#[test]
fn a_chosen_code_is_tried_once_and_a_generated_one_five_times() {
    let try_with = |code: Option<&str>, taken: usize| {
        links::create(
            &new_link(code),
            &program(),
            Some(&enrolment()),
            taken,
            NOW,
            &actor(),
        )
    };
    assert!(matches!(
        try_with(Some("anna10"), 1),
        Err(links::LinkError::CodeTaken)
    ));
    assert!(try_with(None, links::GENERATE_ATTEMPTS - 1).is_ok());
    assert!(matches!(
        try_with(None, links::GENERATE_ATTEMPTS),
        Err(links::LinkError::CodeTaken)
    ));
}

#[test]
fn disabling_audits_before_and_after_and_is_a_no_op_when_done() {
    let (link, _) = links::create(
        &new_link(Some("anna10")),
        &program(),
        Some(&enrolment()),
        0,
        NOW,
        &actor(),
    )
    .unwrap();
    let (disabled, audit) = links::disable(&link, NOW, &actor()).unwrap();
    assert!(disabled.disabled);
    assert_eq!(audit.before, Some(serde_json::to_value(&link).unwrap()));
    assert_eq!(audit.after, Some(serde_json::to_value(&disabled).unwrap()));
    assert!(links::disable(&disabled, NOW, &actor()).is_none());
}

fn adjustment(minor: i64, currency: Currency, note: &str) -> adjustments::NewAdjustment {
    adjustments::NewAdjustment {
        creator_id: anna(),
        amount: Money::from_minor(minor, currency),
        note: note.into(),
    }
}

#[test]
fn an_adjustment_is_payable_at_once_with_its_trimmed_note() {
    let (entry, audit) = adjustments::create(
        &adjustment(-1250, usd(), "  goodwill  "),
        &program(),
        Some(&enrolment()),
        NOW,
        &actor(),
    )
    .unwrap();
    assert_eq!(entry.kind, EntryKind::Adjustment);
    assert_eq!(entry.amount, Money::from_minor(-1250, usd()));
    assert_eq!(entry.note.as_deref(), Some("goodwill"));
    assert_eq!(audit.action, "ledger.adjust");
    assert_eq!(audit.after, Some(serde_json::to_value(&entry).unwrap()));
}

#[test]
fn an_adjustment_is_refused_unenrolled_zero_foreign_or_without_a_note() {
    let refused = |input: &adjustments::NewAdjustment, enrolment: Option<&Enrolment>| {
        adjustments::create(input, &program(), enrolment, NOW, &actor())
            .unwrap_err()
            .to_string()
    };
    let eur = Currency::parse("EUR").unwrap();
    assert_eq!(
        refused(&adjustment(100, usd(), "x"), None),
        "the creator is not enrolled in this program"
    );
    for input in [adjustment(0, usd(), "x"), adjustment(100, eur, "x")] {
        assert_eq!(
            refused(&input, Some(&enrolment())),
            "amount: must be a non-zero amount in the program currency USD"
        );
    }
    assert_eq!(
        refused(&adjustment(100, usd(), "   "), Some(&enrolment())),
        "note: must be 1 to 500 characters"
    );
    assert!(refused(&adjustment(i64::MAX, usd(), "x"), Some(&enrolment())).starts_with("amount: "));
}

fn payout(status: PayoutStatus) -> Payout {
    let date = date!(2026 - 11 - 19);
    Payout {
        id: PayoutId::for_line(date, &anna(), usd()),
        date,
        creator_id: anna(),
        program_id: program().id,
        payout_email: "anna@example.com".into(),
        amount: Money::from_minor(5000, usd()),
        status,
        created_at: NOW,
        external_ref: None,
        paid_on: None,
        failure: None,
    }
}

#[test]
fn a_paid_payout_keeps_its_reference_and_date() {
    let before = payout(PayoutStatus::Pending);
    let reference = payouts::Reference::parse("  PP-123 ").unwrap();
    let (paid, audit) =
        payouts::paid(&before, date!(2026 - 11 - 20), reference, NOW, &actor()).unwrap();
    assert_eq!(paid.status, PayoutStatus::Paid);
    assert_eq!(paid.external_ref.as_deref(), Some("PP-123"));
    assert_eq!(paid.paid_on, Some(date!(2026 - 11 - 20)));
    assert_eq!(audit.action, "payout.paid");
    assert_eq!(audit.before, Some(serde_json::to_value(&before).unwrap()));
    assert_eq!(audit.after, Some(serde_json::to_value(&paid).unwrap()));
}

#[test]
fn a_failed_payout_puts_its_amount_back_under_its_program() {
    let before = payout(PayoutStatus::Pending);
    let reason = payouts::FailureReason::parse("account closed").unwrap();
    let (failed, recredit, audit) = payouts::failed(&before, reason, NOW, &actor()).unwrap();
    assert_eq!(failed.status, PayoutStatus::Failed);
    assert_eq!(failed.failure.as_deref(), Some("account closed"));
    assert_eq!(recredit.kind, EntryKind::Adjustment);
    assert_eq!(recredit.amount, before.amount);
    assert_eq!(
        (&recredit.creator_id, &recredit.program_id),
        (&before.creator_id, &before.program_id)
    );
    assert_eq!(
        recredit.note,
        Some(format!("payout {} failed: account closed", before.id))
    );
    assert_eq!(audit.action, "payout.failed");
}

#[test]
fn only_a_pending_payout_changes_and_inputs_are_bounded() {
    for status in [PayoutStatus::Paid, PayoutStatus::Failed] {
        let reason = payouts::FailureReason::parse("x").unwrap();
        let err = payouts::failed(&payout(status), reason, NOW, &actor()).unwrap_err();
        assert!(matches!(err, payouts::PayoutError::NotPending(s) if s == status));
    }
    assert_eq!(
        payouts::paid(
            &payout(PayoutStatus::Paid),
            date!(2026 - 11 - 20),
            payouts::Reference::parse("r").unwrap(),
            NOW,
            &actor()
        )
        .unwrap_err()
        .to_string(),
        "this payout is already paid"
    );
    assert!(payouts::Reference::parse(" ").is_err());
    assert!(payouts::Reference::parse(&"r".repeat(201)).is_err());
    assert!(payouts::FailureReason::parse(&"r".repeat(501)).is_err());
    assert!(payouts::FailureReason::parse(&"r".repeat(500)).is_ok());
}

#[test]
fn a_key_is_bound_to_a_creator_exactly_when_it_is_a_creator_key() {
    let ask = |role, creator_id: Option<CreatorId>| keys::NewApiKey {
        role,
        creator_id,
        label: None,
    };
    assert!(matches!(
        keys::issue(&ask(Role::Creator, None), false, NOW, &actor()),
        Err(keys::KeyError::CreatorBinding)
    ));
    assert!(matches!(
        keys::issue(&ask(Role::Admin, Some(anna())), true, NOW, &actor()),
        Err(keys::KeyError::CreatorBinding)
    ));
    assert!(matches!(
        keys::issue(&ask(Role::Creator, Some(anna())), false, NOW, &actor()),
        Err(keys::KeyError::UnknownCreator)
    ));
    let mut labelled = ask(Role::Finance, None);
    labelled.label = Some("l".repeat(101));
    assert!(matches!(keys::check(&labelled), Err(keys::KeyError::Label)));
}

#[test]
fn an_issued_key_audits_its_record_never_its_secret() {
    let input = keys::NewApiKey {
        role: Role::Creator,
        creator_id: Some(anna()),
        label: Some("ig".into()),
    };
    let (minted, audit) = keys::issue(&input, true, NOW, &actor()).unwrap();
    assert_eq!(minted.record.role, Role::Creator);
    assert_eq!(audit.action, "api_key.create");
    assert_eq!(audit.target, minted.record.id);
    let after = audit.after.unwrap();
    assert_eq!(after, serde_json::to_value(&minted.record).unwrap());
    assert!(!after.to_string().contains(&minted.secret));
}
