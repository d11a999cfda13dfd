//! The management decisions, without a store: each test hands over the facts a caller would
//! read and checks what is to be written, audit entry included.

use std::collections::BTreeMap;

use time::macros::{date, datetime};
use time::OffsetDateTime;

use super::*;
use crate::api_key::Role;
use crate::audit::Actor;
use crate::conversion::Platform;
use crate::creator::{email_hash, Enrolment, NewCreator, NewEnrolment};
use crate::destination::Domain;
use crate::fx::Rate;
use crate::ids::{CreatorId, PayoutId, ProgramId};
use crate::ledger::EntryKind;
use crate::link::NewPromoCode;
use crate::money::{BasisPoints, Currency, Money};
use crate::program::{
    CommissionPlan, NewProgram, Precedence, Program, ProgramPatch, SaleCommission,
};
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
        time_zone: crate::stats::Zone::utc(),
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

fn new_program() -> NewProgram {
    NewProgram {
        name: "Demo Skincare".into(),
        currency: usd(),
        allowed_domains: vec![Domain::parse("example.com").unwrap()],
        click_param: None,
        attribution_window_days: None,
        holding_days: Some(14),
        min_payout: None,
        precedence: None,
        plan: None,
        fallback_url: Some("https://shop.example.com/".into()),
        max_orders_per_click: None,
        time_zone: None,
    }
}

#[test]
fn a_program_is_created_under_the_callers_id_with_its_defaults_and_audited() {
    let id = program().id;
    let (created, audit) = programs::create(id.clone(), new_program(), NOW, &actor()).unwrap();
    assert_eq!(created.id, id);
    assert_eq!(created.click_param, "ll_click");
    assert_eq!(
        (created.attribution_window_days, created.holding_days),
        (30, 14)
    );
    assert_eq!(created.min_payout, Money::zero(usd()));
    assert_eq!((created.created_at, created.updated_at), (NOW, NOW));
    assert_eq!(audit.action, "program.create");
    assert_eq!(audit.target, id.to_string());
    assert_eq!(audit.actor, actor());
    assert_eq!(audit.before, None);
    assert_eq!(audit.after, Some(serde_json::to_value(&created).unwrap()));
}

#[test]
fn a_program_is_refused_with_the_field_that_breaks_a_rule() {
    let refused = |input: NewProgram| {
        programs::create(program().id, input, NOW, &actor())
            .unwrap_err()
            .to_string()
    };
    let mut elsewhere = new_program();
    elsewhere.fallback_url = Some("https://evil.com/".into());
    assert!(refused(elsewhere).starts_with("fallback_url: "));
    let mut unnamed = new_program();
    unnamed.name = "  ".into();
    assert_eq!(refused(unnamed), "name: must be 1 to 200 characters");
    let mut foreign = new_program();
    foreign.min_payout = Some(Money::from_minor(100, Currency::parse("EUR").unwrap()));
    assert_eq!(
        refused(foreign),
        "min_payout: must be in the program currency USD"
    );
}

#[test]
fn an_update_changes_only_the_patched_fields_and_audits_before_and_after() {
    let current = program();
    let later = NOW + time::Duration::hours(1);
    let patch = ProgramPatch {
        plan: Some(CommissionPlan {
            sale: Some(SaleCommission::RateBps(BasisPoints::new(1500).unwrap())),
            ..CommissionPlan::default()
        }),
        ..ProgramPatch::default()
    };
    let (updated, audit) = programs::update(&current, patch, later, &actor()).unwrap();
    assert_eq!(
        updated.plan.sale,
        Some(SaleCommission::RateBps(BasisPoints::new(1500).unwrap()))
    );
    assert_eq!(updated.name, current.name);
    assert_eq!(
        (updated.created_at, updated.updated_at),
        (current.created_at, later)
    );
    assert_eq!(audit.action, "program.update");
    assert_eq!(audit.target, current.id.to_string());
    assert_eq!(audit.before, Some(serde_json::to_value(&current).unwrap()));
    assert_eq!(audit.after, Some(serde_json::to_value(&updated).unwrap()));
}

#[test]
fn an_update_that_breaks_a_rule_is_refused() {
    let patch = ProgramPatch {
        plan: Some(CommissionPlan {
            lead: Some(Money::from_minor(-1, usd())),
            ..CommissionPlan::default()
        }),
        ..ProgramPatch::default()
    };
    assert_eq!(
        programs::update(&program(), patch, NOW, &actor())
            .unwrap_err()
            .to_string(),
        "plan.lead: must not be negative"
    );
}

#[test]
fn exchange_rates_replace_the_programs_and_never_name_its_own_currency() {
    let eur = Currency::parse("EUR").unwrap();
    let rates = BTreeMap::from([(eur, Rate::parse("1.0825").unwrap())]);
    let (updated, audit) =
        programs::set_fx_rates(&program(), rates.clone(), NOW, &actor()).unwrap();
    assert_eq!(updated.fx_rates, rates);
    assert_eq!(audit.action, "program.fx_rates");
    assert_eq!(audit.before, Some(serde_json::to_value(program()).unwrap()));
    let own = BTreeMap::from([(usd(), Rate::parse("1").unwrap())]);
    assert_eq!(
        programs::set_fx_rates(&program(), own, NOW, &actor())
            .unwrap_err()
            .to_string(),
        "fx_rates: no rate for the program's own currency"
    );
}

#[test]
fn a_creator_is_created_trimmed_with_its_email_hash_and_audited() {
    let input = NewCreator {
        name: "  Anna ".into(),
        payout_email: " Anna@Example.com ".into(),
    };
    let (creator, audit) = creators::create(anna(), input, NOW, &actor()).unwrap();
    assert_eq!(creator.id, anna());
    assert_eq!(creator.name, "Anna");
    assert_eq!(creator.payout_email, "Anna@Example.com");
    assert_eq!(creator.email_hash, email_hash("anna@example.com"));
    assert_eq!(audit.action, "creator.create");
    assert_eq!(audit.target, anna().to_string());
    assert_eq!(audit.after, Some(serde_json::to_value(&creator).unwrap()));
    let bad = NewCreator {
        name: "Anna".into(),
        payout_email: "anna".into(),
    };
    assert_eq!(
        creators::create(anna(), bad, NOW, &actor())
            .unwrap_err()
            .to_string(),
        "payout_email: must be an e-mail address"
    );
}

fn new_enrolment(rate_override: Option<SaleCommission>) -> NewEnrolment {
    NewEnrolment {
        creator_id: anna(),
        rate_override,
    }
}

#[test]
fn enrolling_again_replaces_the_enrolment_and_audits_the_one_it_replaces() {
    let before = enrolment();
    let fixed = SaleCommission::Fixed(Money::from_minor(500, usd()));
    let later = NOW + time::Duration::days(1);
    let (enrolled, audit) = creators::enrol(
        &new_enrolment(Some(fixed.clone())),
        &program(),
        true,
        Some(&before),
        later,
        &actor(),
    )
    .unwrap();
    assert_eq!(enrolled.rate_override, Some(fixed));
    assert_eq!(
        (&enrolled.program_id, &enrolled.creator_id),
        (&program().id, &anna())
    );
    assert_eq!(enrolled.enrolled_at, later);
    assert_eq!(audit.action, "enrolment.put");
    assert_eq!(audit.target, format!("{}/{}", program().id, anna()));
    assert_eq!(audit.before, Some(serde_json::to_value(&before).unwrap()));
    assert_eq!(audit.after, Some(serde_json::to_value(&enrolled).unwrap()));
}

#[test]
fn an_enrolment_needs_a_known_creator_and_a_fixed_rate_in_range_and_in_the_program_currency() {
    let refused = |input: NewEnrolment, known: bool| {
        creators::enrol(&input, &program(), known, None, NOW, &actor())
            .unwrap_err()
            .to_string()
    };
    let fixed = |minor, currency| Some(SaleCommission::Fixed(Money::from_minor(minor, currency)));
    // The unknown creator is named first, whatever else is wrong.
    assert_eq!(
        refused(new_enrolment(fixed(-1, usd())), false),
        "no such creator"
    );
    assert!(
        refused(new_enrolment(fixed(i64::MAX, usd())), true).starts_with("rate_override.fixed: ")
    );
    let eur = Currency::parse("EUR").unwrap();
    for input in [fixed(-1, usd()), fixed(100, eur)] {
        assert_eq!(
            refused(new_enrolment(input), true),
            "rate_override.fixed must be a non-negative amount in USD"
        );
    }
    let rate = Some(SaleCommission::RateBps(BasisPoints::new(10_000).unwrap()));
    assert!(creators::check_enrolment(&new_enrolment(rate), &program(), true).is_ok());
}

fn new_promo(code: &str) -> NewPromoCode {
    NewPromoCode {
        code: code.into(),
        creator_id: anna(),
    }
}

#[test]
fn a_promo_code_is_created_trimmed_for_an_enrolled_creator_and_audited() {
    let (promo, audit) = promo_codes::create(
        &new_promo(" ANNA10 "),
        &program(),
        Some(&enrolment()),
        NOW,
        &actor(),
    )
    .unwrap();
    assert_eq!(promo.code, "ANNA10");
    assert_eq!(
        (&promo.program_id, &promo.creator_id),
        (&program().id, &anna())
    );
    assert_eq!(audit.action, "promo_code.create");
    assert_eq!(audit.target, "ANNA10");
    assert_eq!(audit.before, None);
    assert_eq!(audit.after, Some(serde_json::to_value(&promo).unwrap()));
}

#[test]
fn a_promo_code_is_refused_malformed_or_for_a_creator_not_enrolled_in_the_program() {
    let refused = |code: &str, enrolment: Option<&Enrolment>| {
        promo_codes::create(&new_promo(code), &program(), enrolment, NOW, &actor()).unwrap_err()
    };
    for code in ["A", "ANNA 10", &"A".repeat(65)] {
        assert!(matches!(
            refused(code, Some(&enrolment())),
            promo_codes::PromoCodeError::Code(_)
        ));
        assert!(promo_codes::check(&new_promo(code)).is_err());
    }
    assert!(matches!(
        refused("ANNA10", None),
        promo_codes::PromoCodeError::NotEnrolled
    ));
    let mut elsewhere = enrolment();
    elsewhere.program_id = ProgramId::parse("prg_other00000000000000000").unwrap();
    assert!(matches!(
        refused("ANNA10", Some(&elsewhere)),
        promo_codes::PromoCodeError::NotEnrolled
    ));
}

fn new_secret(given: Option<&str>) -> secrets::NewSecret {
    secrets::NewSecret {
        program_id: program().id,
        platform: Platform::Shopify,
        given: given.map(Into::into),
    }
}

const GENERATED: &str = "llwh_generated_by_the_caller_0123456789";

#[test]
fn a_given_secret_is_kept_trimmed_and_a_missing_one_is_the_callers_generated_one() {
    let (given, _) = secrets::put(
        &new_secret(Some("  shpss_0123456789abcdef  ")),
        || unreachable!("a given secret draws none"),
        None,
        NOW,
        &actor(),
    )
    .unwrap();
    assert_eq!(given.secret, "shpss_0123456789abcdef");
    let (generated, _) =
        secrets::put(&new_secret(None), || GENERATED.into(), None, NOW, &actor()).unwrap();
    assert_eq!(generated.secret, GENERATED);
    assert_eq!(
        (
            &generated.program_id,
            generated.platform,
            generated.created_at
        ),
        (&program().id, Platform::Shopify, NOW)
    );
    assert!(secrets::generate().starts_with("llwh_"));
    assert_ne!(secrets::generate(), secrets::generate());
}

#[test]
fn a_secret_is_8_to_512_characters() {
    let length = |given: &str| secrets::check(&new_secret(Some(given))).is_ok();
    assert!(!length("  1234567  "));
    assert!(length("12345678"));
    assert!(length(&"s".repeat(512)));
    assert!(!length(&"s".repeat(513)));
    assert!(matches!(
        secrets::put(
            &new_secret(Some("short")),
            || GENERATED.into(),
            None,
            NOW,
            &actor()
        ),
        Err(secrets::SecretError::Length)
    ));
    assert_eq!(
        secrets::SecretError::Length.to_string(),
        "secret must be 8 to 512 characters"
    );
}

#[test]
fn a_rotated_secret_is_audited_masked_old_and_new_never_in_clear() {
    let (old, _) = secrets::put(
        &new_secret(Some("old_secret_0123456789")),
        || GENERATED.into(),
        None,
        NOW,
        &actor(),
    )
    .unwrap();
    let (new, audit) = secrets::put(
        &new_secret(Some("new_secret_9876543210")),
        || GENERATED.into(),
        Some(&old),
        NOW,
        &actor(),
    )
    .unwrap();
    assert_eq!(audit.action, "webhook_secret.put");
    assert_eq!(audit.target, format!("{}/shopify", program().id));
    assert_eq!(
        audit.before,
        Some(serde_json::to_value(old.masked()).unwrap())
    );
    assert_eq!(
        audit.after,
        Some(serde_json::to_value(new.masked()).unwrap())
    );
    let logged = serde_json::to_string(&audit).unwrap();
    assert!(!logged.contains(&old.secret) && !logged.contains(&new.secret));
    assert!(logged.contains("new_…3210"));
    assert!(!format!("{:?} {:?}", new, new_secret(Some(&new.secret))).contains(&new.secret));
}
