//! The public JSON of each record, pinned: a record read from these literals (as the store reads
//! it) answers exactly these literals. A change to a domain field that would change the API
//! fails here; a change to the API is a change of these literals.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use linkledger_core as core;

/// `record` read as the domain type `D`, shown as the wire type `W`, is `record` again.
fn answers_as_read<D, W>(record: Value)
where
    D: DeserializeOwned,
    W: Serialize + for<'a> From<&'a D>,
{
    let domain: D = serde_json::from_value(record.clone()).expect("a valid record");
    let shown = serde_json::to_value(W::from(&domain)).expect("serializable");
    assert_eq!(shown, record);
}

const CRE: &str = "cre_anna000000000000000000";
const PRG: &str = "prg_demo000000000000000000";
const CNV: &str = "cnv_0123456789abcdef0123456789abcdef";

#[test]
fn ledger_entries() {
    answers_as_read::<core::ledger::LedgerEntry, super::ledger::LedgerEntry>(json!({
        "id": "01jd3x4a5b6c7d8e9f0g1h2j3k4m5n",
        "creator_id": CRE,
        "program_id": PRG,
        "kind": "accrual",
        "amount": {"amount": "12.34", "currency": "USD"},
        "conversion_id": CNV,
        "available_at": "2026-12-01T00:00:00Z",
        "created_at": "2026-11-01T10:11:12.345Z",
        "fx": {"from": "EUR", "to": "USD", "rate": "1.0825"},
        "note": "why"
    }));
    answers_as_read::<core::ledger::LedgerEntry, super::ledger::LedgerEntry>(json!({
        "id": "01jd3x4a5b6c7d8e9f0g1h2j3k4m5n",
        "creator_id": CRE,
        "program_id": PRG,
        "kind": "payout",
        "amount": {"amount": "-1000", "currency": "JPY"},
        "available_at": "2026-12-01T00:00:00Z",
        "created_at": "2026-11-01T10:11:12Z"
    }));
}

#[test]
fn payouts() {
    answers_as_read::<core::settlement::Payout, super::settlements::Payout>(json!({
        "id": "pay_0123456789abcdef01234567",
        "date": "2026-11-27",
        "creator_id": CRE,
        "program_id": PRG,
        "payout_email": "anna@example.com",
        "amount": {"amount": "50.00", "currency": "USD"},
        "status": "paid",
        "created_at": "2026-11-28T02:00:00Z",
        "external_ref": "PP-123",
        "paid_on": "2026-11-29",
        "failure": "bounced"
    }));
    answers_as_read::<core::settlement::Payout, super::settlements::Payout>(json!({
        "id": "pay_0123456789abcdef01234567",
        "date": "2026-11-27",
        "creator_id": CRE,
        "program_id": PRG,
        "payout_email": "anna@example.com",
        "amount": {"amount": "50.00", "currency": "USD"},
        "status": "pending",
        "created_at": "2026-11-28T02:00:00Z"
    }));
}

#[test]
fn settlement_runs_and_lines() {
    let total = json!({
        "currency": "USD",
        "paid": {"amount": "50.00", "currency": "USD"},
        "payouts": 1,
        "carried": {"amount": "3.00", "currency": "USD"},
        "carried_lines": 2,
        "owed": {"amount": "1.50", "currency": "USD"},
        "owed_lines": 1,
        "failed_lines": 1
    });
    answers_as_read::<core::settlement::SettlementRun, super::settlements::SettlementRun>(json!({
        "date": "2026-11-27",
        "cutoff": "2026-11-28T00:00:00Z",
        "status": "completed",
        "started_at": "2026-11-28T02:00:00Z",
        "completed_at": "2026-11-28T02:00:01Z",
        "lines": 4,
        "failed_lines": 1,
        "rollup_failures": [{"program_id": PRG, "reason": "store unavailable"}],
        "totals": [total],
        "chunks": 2,
        "announced": "sent"
    }));
    answers_as_read::<core::settlement::SettlementRun, super::settlements::SettlementRun>(json!({
        "date": "2026-11-27",
        "cutoff": "2026-11-28T00:00:00Z",
        "status": "running",
        "started_at": "2026-11-28T02:00:00Z",
        "completed_at": null,
        "lines": 0,
        "failed_lines": 0,
        "totals": [],
        "announced": "no"
    }));
    answers_as_read::<core::settlement::SettlementLine, super::settlements::SettlementLine>(
        json!({
            "date": "2026-11-27",
            "creator_id": CRE,
            "payout_email": "anna@example.com",
            "currency": "USD",
            "status": "paid",
            "balance": {"amount": "50.00", "currency": "USD"},
            "amount": {"amount": "50.00", "currency": "USD"},
            "carried": {"amount": "0.00", "currency": "USD"},
            "owed": {"amount": "0.00", "currency": "USD"},
            "entries_settled": 3,
            "payout_id": "pay_0123456789abcdef01234567"
        }),
    );
    answers_as_read::<core::settlement::SettlementLine, super::settlements::SettlementLine>(
        json!({
            "date": "2026-11-27",
            "creator_id": CRE,
            "payout_email": "anna@example.com",
            "currency": "USD",
            "status": "failed",
            "amount": {"amount": "0.00", "currency": "USD"},
            "carried": {"amount": "0.00", "currency": "USD"},
            "owed": {"amount": "0.00", "currency": "USD"},
            "entries_settled": 0,
            "failure": "the creator record is unreadable"
        }),
    );
}

#[test]
fn conversions() {
    answers_as_read::<core::conversion::Conversion, super::conversions::Conversion>(json!({
        "id": CNV,
        "program_id": PRG,
        "platform": "shopify",
        "kind": "sale",
        "order_id": "1001",
        "occurred_at": "2026-11-01T10:00:00Z",
        "booked_at": "2026-11-01T10:00:01Z",
        "net": {"amount": "100.00", "currency": "EUR"},
        "refund_basis": {"amount": "119.00", "currency": "EUR"},
        "refunded": {"amount": "19.00", "currency": "EUR"},
        "refund_ids": ["r1"],
        "program_net": {"amount": "108.25", "currency": "USD"},
        "fx": {"from": "EUR", "to": "USD", "rate": "1.0825"},
        "creator_id": CRE,
        "attribution": {"by": "click", "click_id": "01jd3x4a5b6c7d8e9f0g1h2j3k4m5n"},
        "status": "held",
        "hold_reasons": ["self_referral", "click_reused", "too_fast_after_click",
            "fx_rate_missing", "amount_out_of_range"],
        "commission": {"amount": "10.83", "currency": "USD"},
        "reversed": {"amount": "2.06", "currency": "USD"},
        "available_at": "2026-12-01T10:00:00Z",
        "customer_ref": "cus_1",
        "coupons": ["ANNA10"],
        "lines": [
            {"sku": "SKU 1", "product_id": "p1", "quantity": 2, "net": {"amount": "60.00", "currency": "EUR"}},
            {"quantity": 1, "net": {"amount": "40.00", "currency": "EUR"}}
        ]
    }));
    for attribution in [
        json!({"by": "coupon", "code": "ANNA10"}),
        json!({"by": "customer", "customer_ref": "cus_1"}),
        json!({"by": "none"}),
    ] {
        answers_as_read::<core::conversion::Conversion, super::conversions::Conversion>(json!({
            "id": CNV,
            "program_id": PRG,
            "platform": "postback",
            "kind": "lead",
            "order_id": "lead-1",
            "occurred_at": "2026-11-01T10:00:00Z",
            "booked_at": "2026-11-01T10:00:01Z",
            "net": {"amount": "0.00", "currency": "USD"},
            "refund_basis": {"amount": "0.00", "currency": "USD"},
            "refunded": {"amount": "0.00", "currency": "USD"},
            "attribution": attribution,
            "status": "unattributed",
            "commission": {"amount": "0.00", "currency": "USD"},
            "reversed": {"amount": "0.00", "currency": "USD"},
            "available_at": "2026-12-01T10:00:00Z"
        }));
    }
}

#[test]
fn programs_and_enrolments() {
    answers_as_read::<core::program::Program, super::programs::Program>(json!({
        "id": PRG,
        "name": "Demo Skincare",
        "currency": "USD",
        "allowed_domains": ["example.com"],
        "click_param": "ll_click",
        "attribution_window_days": 30,
        "holding_days": 30,
        "min_payout": {"amount": "50.00", "currency": "USD"},
        "precedence": "coupon",
        "plan": {
            "sale": {"rate_bps": 1000},
            "lead": {"amount": "1.00", "currency": "USD"},
            "click": {"amount": {"amount": "0.05", "currency": "USD"}, "daily_cap": 100},
            "creator_overrides": {CRE: {"fixed": {"amount": "5.00", "currency": "USD"}}},
            "product_overrides": {"SKU 1": {"rate_bps": 500}},
            "recurring_months": 12
        },
        "fallback_url": "https://shop.example.com/",
        "max_orders_per_click": 3,
        "fx_rates": {"EUR": "1.0825"},
        "time_zone": "Europe/Berlin",
        "created_at": "2026-11-01T10:00:00Z",
        "updated_at": "2026-11-02T10:00:00Z"
    }));
    answers_as_read::<core::program::Program, super::programs::Program>(json!({
        "id": PRG,
        "name": "Demo Skincare",
        "currency": "JPY",
        "allowed_domains": ["example.com", "shop.example.org"],
        "click_param": "ll_click",
        "attribution_window_days": 30,
        "holding_days": 0,
        "min_payout": {"amount": "0", "currency": "JPY"},
        "precedence": "click",
        "plan": {"recurring_months": 0},
        "max_orders_per_click": 3,
        "time_zone": "UTC",
        "created_at": "2026-11-01T10:00:00Z",
        "updated_at": "2026-11-02T10:00:00Z"
    }));
    answers_as_read::<core::creator::Enrolment, super::programs::Enrolment>(json!({
        "program_id": PRG,
        "creator_id": CRE,
        "rate_override": {"rate_bps": 1500},
        "enrolled_at": "2026-11-01T10:00:00Z"
    }));
    answers_as_read::<core::creator::Enrolment, super::programs::Enrolment>(json!({
        "program_id": PRG,
        "creator_id": CRE,
        "enrolled_at": "2026-11-01T10:00:00Z"
    }));
    // Stored without `disabled` while it is false; the wire always says it.
    answers_as_read::<core::link::PromoCode, super::programs::PromoCode>(json!({
        "code": "ANNA10",
        "program_id": PRG,
        "creator_id": CRE,
        "created_at": "2026-11-01T10:00:00Z",
        "disabled": true
    }));
}

#[test]
fn creators_links_clicks_keys_and_audit() {
    answers_as_read::<core::creator::Creator, super::creators::Creator>(json!({
        "id": CRE,
        "name": "Anna",
        "payout_email": "anna@example.com",
        "email_hash": "ab12",
        "created_at": "2026-11-01T10:00:00Z"
    }));
    for expires_at in [json!("2027-01-01T00:00:00Z"), Value::Null] {
        answers_as_read::<core::link::Link, super::links::Link>(json!({
            "code": "anna10",
            "program_id": PRG,
            "creator_id": CRE,
            "destination": "https://shop.example.com/p?x=1",
            "disabled": false,
            "expires_at": expires_at,
            "created_at": "2026-11-01T10:00:00Z"
        }));
    }
    answers_as_read::<core::click::Click, super::links::Click>(json!({
        "id": "01jd3x4a5b6c7d8e9f0g1h2j3k4m5n",
        "link_code": "anna10",
        "program_id": PRG,
        "creator_id": CRE,
        "at_ms": 1_764_000_000_000_i64,
        "visitor": "0123abcd",
        "bot": true,
        "country": "DE",
        "referrer_host": "instagram.com"
    }));
    answers_as_read::<core::click::Click, super::links::Click>(json!({
        "id": "01jd3x4a5b6c7d8e9f0g1h2j3k4m5n",
        "link_code": "anna10",
        "program_id": PRG,
        "creator_id": CRE,
        "at_ms": 1_764_000_000_000_i64,
        "visitor": "0123abcd",
        "bot": false
    }));
    answers_as_read::<core::api_key::ApiKey, super::keys::ApiKey>(json!({
        "id": "llk_abcdefgh",
        "role": "creator",
        "creator_id": CRE,
        "label": "Anna's phone",
        "created_at": "2026-11-01T10:00:00Z",
        "revoked": true
    }));
    answers_as_read::<core::api_key::ApiKey, super::keys::ApiKey>(json!({
        "id": "llk_abcdefgh",
        "role": "finance",
        "created_at": "2026-11-01T10:00:00Z",
        "revoked": false
    }));
    answers_as_read::<core::audit::AuditEntry, super::audit::AuditEntry>(json!({
        "id": "01jd3x4a5b6c7d8e9f0g1h2j3k4m5n",
        "at": "2026-11-01T10:00:00Z",
        "actor": {"key_id": "llk_abcdefgh", "role": "admin"},
        "action": "program.update",
        "target": PRG,
        "before": {"name": "old"},
        "after": {"name": "new"}
    }));
    answers_as_read::<core::audit::AuditEntry, super::audit::AuditEntry>(json!({
        "id": "01jd3x4a5b6c7d8e9f0g1h2j3k4m5n",
        "at": "2026-11-01T10:00:00Z",
        "actor": {"key_id": "cli"},
        "action": "api_key.create",
        "target": "llk_abcdefgh"
    }));
}

#[test]
fn balances() {
    let usd = core::money::Currency::parse("USD").expect("USD");
    let money = |minor| core::money::Money::from_minor(minor, usd);
    let balance = core::ledger::Balance {
        creator_id: core::ids::CreatorId::parse(CRE).expect("id"),
        currency: usd,
        pending: money(100),
        payable: money(-250),
        paid: money(5000),
        total: money(-150),
    };
    assert_eq!(
        serde_json::to_value(super::ledger::Balance::from(&balance)).expect("serializable"),
        json!({
            "creator_id": CRE,
            "currency": "USD",
            "pending": {"amount": "1.00", "currency": "USD"},
            "payable": {"amount": "-2.50", "currency": "USD"},
            "paid": {"amount": "50.00", "currency": "USD"},
            "total": {"amount": "-1.50", "currency": "USD"}
        })
    );
}
