//! The OpenAPI document made complete and exact, in one pass over the merged document:
//!
//! - **Statuses by properties**: every operation lists the error statuses it can answer, each
//!   with the `ErrorBody` schema: `401` when it needs a key, `403` when the key's role may be
//!   refused ([`ROLE_RESTRICTED`]), `400` + `404` with path parameters (a malformed or unknown
//!   id), `400` with query parameters, `400` + `413` + `415` with a JSON body, `414` whenever
//!   it takes parameters (past 8 KiB of URI), `431` with header parameters, `503` when it reads
//!   the store, `429` with `Retry-After` when it needs a key (the per-key rate limit,
//!   `limits.rs`). (`405` answers a method a path does not have.)
//! - **Formats**: ids (`prg_`/`cre_` + 22 base64url, `cnv_` + 32 hex, `pay_` + 24 hex, link codes
//!   and their reserved words), dates (`format: date`), cursors, `limit` (1 to 200), and money
//!   (each currency's decimals and the bound of 10^13 minor units), so that what the schema
//!   calls valid is what the handlers accept.
//! - **Ingest**: the webhook and postback routes' signature headers and bodies.
//!
//! The rules work on the document's JSON (simpler than utoipa's builders), which is served.

use serde_json::{json, Map, Value};

use linkledger_core::ids::RESERVED_CODES;
use linkledger_core::limits::{
    MAX_AMOUNT_MINOR, MAX_HOLDING_DAYS, MAX_ID_LEN, MAX_LIST_LEN, MAX_TEXT_LEN,
};
use linkledger_core::money::Currency;

/// Operations whose handler refuses some roles with 403 (by operation id = handler name).
const ROLE_RESTRICTED: &[&str] = &[
    "create_key",
    "list_keys",
    "create_program",
    "update_program",
    "enrol_creator",
    "list_enrolments",
    "create_promo_code",
    "disable_promo_code",
    "create_creator",
    "list_creators",
    "create_link",
    "disable_link",
    "list_audit",
    "put_fx_rates",
    "put_secret",
    "list_secrets",
    "approve_conversion",
    "reject_conversion",
    "create_adjustment",
    "run_settlement",
    "list_settlements",
    "get_settlement",
    "report_csv",
    "paypal_csv",
    "mark_paid",
    "mark_failed",
    "get_stats",
];

/// Operations whose body names records that must exist (404 when one does not).
const BODY_NAMES_RECORDS: &[&str] = &[
    "create_key",
    "create_link",
    "create_adjustment",
    "create_promo_code",
    "disable_promo_code",
    "enrol_creator",
];

/// Operations without a store call.
const NO_STORE: &[&str] = &["/health"];

fn describe(status: &str) -> &'static str {
    match status {
        "400" => "malformed request: the message names the field (`invalid_request`, `invalid_query`, `invalid_cursor`, ...)",
        "401" => "no key, or an unknown or revoked key (`unauthorized`)",
        "403" => "this key's role may not do this (`forbidden`)",
        "404" => "no such record, or one this key may not see (`not_found`)",
        "409" => "conflict with the current state",
        "413" => "the body is larger than this route accepts (`payload_too_large`)",
        "414" => "the request target is longer than 8 KiB (`uri_too_long`)",
        "415" => "send `Content-Type: application/json` (`unsupported_media_type`)",
        "429" => "too many requests for this key; retry after `Retry-After` seconds (`rate_limited`)",
        "431" => "the request headers are larger than 16 KiB (`headers_too_large`)",
        "503" => "the store is unavailable; retry (`unavailable`)",
        _ => "error",
    }
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    })
}

/// A case-insensitive regex for one literal word (`api` → `[aA][pP][iI]`).
fn any_case(word: &str) -> String {
    word.chars()
        .map(|c| {
            if c.is_ascii_alphabetic() {
                format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
            } else {
                regex_escape(c)
            }
        })
        .collect()
}

fn regex_escape(c: char) -> String {
    if "\\^$.|?*+()[]{}-".contains(c) {
        format!("\\{c}")
    } else {
        c.to_string()
    }
}

fn link_code_pattern() -> String {
    let reserved: Vec<String> = RESERVED_CODES.iter().map(|w| any_case(w)).collect();
    format!("^(?!(?:{})$)[A-Za-z0-9_-]{{3,64}}$", reserved.join("|"))
}

/// Decimal amounts with at most `exponent` decimals whose minor units lie within ±10^13
/// (leading zeros allowed, as the parser allows them).
fn amount_pattern(exponent: u32, signed: bool) -> String {
    let bound_digits = MAX_AMOUNT_MINOR.to_string().len().saturating_sub(1); // 10^13 → 13
    let whole = bound_digits.saturating_sub(exponent as usize); // digits of 10^whole
    let sign = if signed { "-?" } else { "" };
    let fraction = |digits: &str| {
        if exponent == 0 {
            String::new()
        } else {
            format!("(?:\\.{digits}{{1,{exponent}}})?")
        }
    };
    format!(
        "^{sign}(?:(?:0*[1-9][0-9]{{0,{}}}|0+){}|0*1{}{})$",
        whole.saturating_sub(1),
        fraction("[0-9]"),
        "0".repeat(whole),
        fraction("0"),
    )
}

/// Every ISO 4217 code the service accepts, grouped by its exponent.
fn currencies() -> Vec<(u32, Vec<String>)> {
    let mut by: std::collections::BTreeMap<u32, Vec<String>> = Default::default();
    for a in b'A'..=b'Z' {
        for b in b'A'..=b'Z' {
            for c in b'A'..=b'Z' {
                let code = String::from_utf8(vec![a, b, c]).unwrap_or_default();
                if let Ok(currency) = Currency::parse(&code) {
                    by.entry(u32::from(currency.exponent()))
                        .or_default()
                        .push(code);
                }
            }
        }
    }
    by.into_iter().collect()
}

fn money_schema(signed: bool, bounded: bool) -> Value {
    let variants: Vec<Value> = currencies()
        .into_iter()
        .map(|(exponent, codes)| {
            let pattern = if bounded {
                amount_pattern(exponent, signed)
            } else if exponent == 0 {
                "^-?[0-9]+$".to_string()
            } else {
                format!("^-?[0-9]+(?:\\.[0-9]{{1,{exponent}}})?$")
            };
            json!({
                "type": "object",
                "required": ["amount", "currency"],
                "additionalProperties": false,
                "properties": {
                    "amount": {"type": "string", "pattern": pattern,
                        "description": "Exact decimal in major units, at most the currency's decimals"},
                    "currency": {"type": "string", "enum": codes}
                }
            })
        })
        .collect();
    json!({
        "description": if bounded {
            "An amount: an exact decimal string with at most the currency's decimals (`\"19.99\"`, `\"1000\"` for JPY), within ±10^13 minor units"
        } else {
            "An amount: an exact decimal string with the currency's decimals (`\"19.99\"`, `\"1000\"` for JPY)"
        },
        "oneOf": variants
    })
}

fn prefixed_id(prefix: &str, kind: &str) -> Value {
    json!({"type": "string", "pattern": format!("^{prefix}[A-Za-z0-9_-]{{22}}$"),
        "description": format!("A {kind} id: `{prefix}` and 22 base64url characters")})
}

fn component_formats(schemas: &mut Map<String, Value>) {
    schemas.insert("ProgramId".into(), prefixed_id("prg_", "program"));
    schemas.insert("CreatorId".into(), prefixed_id("cre_", "creator"));
    schemas.insert(
        "ConversionId".into(),
        json!({"type": "string", "pattern": "^cnv_[0-9a-f]{32}$",
            "description": "A conversion id: `cnv_` and 32 lower-case hex characters"}),
    );
    schemas.insert(
        "LinkCode".into(),
        json!({"type": "string", "pattern": link_code_pattern(),
            "description": "3 to 64 of `[A-Za-z0-9_-]`, not a reserved first segment (`api`, `health`, ... in any case)"}),
    );
    schemas.insert(
        "ClickId".into(),
        json!({"type": "string", "pattern": "^[0-9a-hjkmnp-tv-z]{30}$",
            "description": "10 characters of millisecond time and 20 of randomness, lower-case Crockford base32"}),
    );
    schemas.insert("Money".into(), money_schema(true, false));
    schemas.insert("AmountInput".into(), money_schema(true, true));
    schemas.insert("NonNegativeAmountInput".into(), money_schema(false, true));
}

/// Request schemas whose amounts must be non-negative and bounded, and the one that is signed.
fn request_amounts(schemas: &mut Map<String, Value>) {
    for name in [
        "NewProgram",
        "ProgramPatch",
        "CommissionPlan",
        "SaleCommission",
        "ClickCommission",
        "NewEnrolment",
    ] {
        if let Some(schema) = schemas.get_mut(name) {
            replace_ref(
                schema,
                "#/components/schemas/Money",
                "#/components/schemas/NonNegativeAmountInput",
            );
        }
    }
    if let Some(schema) = schemas.get_mut("NewAdjustment") {
        replace_ref(
            schema,
            "#/components/schemas/Money",
            "#/components/schemas/AmountInput",
        );
    }
}

fn replace_ref(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::Object(map) => {
            if map.get("$ref").and_then(Value::as_str) == Some(from) {
                map.insert("$ref".into(), json!(to));
            }
            for v in map.values_mut() {
                replace_ref(v, from, to);
            }
        }
        Value::Array(items) => {
            for v in items {
                replace_ref(v, from, to);
            }
        }
        _ => {}
    }
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// The schema of a parameter, by its name and place (and the path for ambiguous `id`s).
fn parameter_schema(path: &str, place: &str, name: &str) -> Option<Value> {
    Some(match (place, name) {
        ("query", "limit") => {
            json!({"type": "integer", "minimum": 1, "maximum": 200, "default": 50})
        }
        ("query", "cursor") => json!({"type": "string", "pattern": "^([A-Za-z0-9_-]{44,4096})?$",
            "description": "`next_cursor` of the previous page (sealed: only valid on the listing, key scope and filters that issued it; an empty value is the first page)"}),
        ("query", "program") | ("path", "program") => reference("ProgramId"),
        ("query", "creator") => reference("CreatorId"),
        ("query", "status") => {
            json!({"type": "string", "enum": ["approved", "held", "rejected", "unattributed"]})
        }
        ("query", "from") | ("query", "to") if path == "/api/stats" => {
            json!({"type": "string", "format": "date"})
        }
        ("query", "group_by") => json!({"type": "string",
            "enum": ["program", "creator", "link", "code", "day", "week", "month"]}),
        ("query", "period") => {
            json!({"type": "string", "enum": ["total", "day", "week", "month"]})
        }
        ("query", "format") => json!({"type": "string", "enum": ["json", "csv"]}),
        ("query", "from") | ("query", "to") => json!({"anyOf": [
            {"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}),
        ("query", "currency") => {
            let codes: Vec<String> = currencies()
                .into_iter()
                .flat_map(|(_, codes)| codes)
                .flat_map(|code| [code.to_ascii_lowercase(), code])
                .collect();
            json!({"type": "string", "enum": codes, "description": "ISO 4217 code (either case)"})
        }
        ("path", "code") => reference("LinkCode"),
        ("path", "date") => json!({"type": "string", "format": "date"}),
        ("path", "platform") => {
            json!({"type": "string", "enum": ["shopify", "stripe", "woocommerce", "postback"]})
        }
        ("path", "id") if path.starts_with("/api/programs/") => reference("ProgramId"),
        ("path", "id") if path.starts_with("/api/creators/") => reference("CreatorId"),
        ("path", "id") if path.starts_with("/api/conversions/") => reference("ConversionId"),
        ("path", "id") if path.starts_with("/api/payouts/") => {
            json!({"type": "string", "pattern": "^pay_[0-9a-f]{24}$"})
        }
        _ => return None,
    })
}

/// The ingest routes' headers (their handlers read them from the raw request).
fn ingest_headers(path: &str) -> Vec<Value> {
    let header = |name: &str, required: bool, description: &str| {
        json!({"name": name, "in": "header", "required": required, "description": description,
            "schema": {"type": "string", "maxLength": 200}})
    };
    if path.starts_with("/webhooks/shopify/") {
        vec![
            header(
                "X-Shopify-Hmac-Sha256",
                true,
                "base64 HMAC-SHA256 of the raw body with the program's Shopify secret",
            ),
            header(
                "X-Shopify-Topic",
                true,
                "`orders/paid`, `refunds/create`; other topics are ignored",
            ),
            header(
                "X-Shopify-Webhook-Id",
                true,
                "the delivery id (deduplicated)",
            ),
        ]
    } else if path.starts_with("/webhooks/stripe/") {
        vec![header("Stripe-Signature", true, "`t=<unix seconds>,v1=<hex HMAC-SHA256 of t.body>` (several v1 allowed; 300 s tolerance)")]
    } else if path.starts_with("/webhooks/woocommerce/") {
        vec![
            header(
                "X-WC-Webhook-Signature",
                true,
                "base64 HMAC-SHA256 of the raw body",
            ),
            header(
                "X-WC-Webhook-Topic",
                false,
                "`order.created`, `order.updated`",
            ),
            header("X-WC-Webhook-Delivery-ID", false, "the delivery id"),
        ]
    } else if path.starts_with("/postback/") {
        vec![header(
            "Linkledger-Signature",
            true,
            "`t=<unix seconds>,v1=<hex HMAC-SHA256 of t.body>`, 300 s tolerance",
        )]
    } else {
        Vec::new()
    }
}

fn ingest_body(path: &str) -> Option<Value> {
    if path.starts_with("/postback/") {
        return Some(json!({
            "required": true,
            "description": "A sale, lead or refund, signed as the header says",
            "content": {"application/json": {"schema": {
                "type": "object",
                "required": ["event", "order_id"],
                "properties": {
                    "event": {"type": "string", "enum": ["sale", "lead", "refund"]},
                    "order_id": {"type": "string", "minLength": 1, "maxLength": MAX_ID_LEN},
                    "event_id": {"type": "string", "minLength": 1, "maxLength": MAX_ID_LEN},
                    "amount": {"type": "string", "description": "decimal in major units; for a refund, the total refunded so far"},
                    "currency": {"type": "string", "description": "ISO 4217"},
                    "click_id": {"type": "string"},
                    "coupon": {"type": "string", "maxLength": 64},
                    "customer_email": {"type": "string"},
                    "occurred_at": {"type": "string", "format": "date-time"}
                }
            }}}
        }));
    }
    if path.starts_with("/webhooks/") {
        return Some(json!({
            "required": true,
            "description": "The platform's own payload, exactly as it sends it (the signature is over these bytes)",
            "content": {"application/json": {"schema": {"type": "object"}}}
        }));
    }
    None
}

fn complete_operation(path: &str, op: &mut Map<String, Value>) {
    let operation_id = op
        .get("operationId")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let headers = ingest_headers(path);
    if !headers.is_empty() {
        let params = op
            .entry("parameters")
            .or_insert_with(|| json!([]))
            .as_array_mut();
        if let Some(params) = params {
            params.retain(|p| p["in"] != json!("header"));
            params.extend(headers);
        }
    }
    if let Some(body) = ingest_body(path) {
        op.insert("requestBody".into(), body);
    }
    if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        for param in params.iter_mut() {
            let place = param["in"].as_str().unwrap_or("").to_string();
            let name = param["name"].as_str().unwrap_or("").to_string();
            if let Some(schema) = parameter_schema(path, &place, &name) {
                param["schema"] = schema;
            }
        }
    }
    let params = op
        .get("parameters")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let takes = |place: &str| params.iter().any(|p| p["in"] == json!(place));
    let mut statuses: Vec<&str> = Vec::new();
    if op.contains_key("security") {
        statuses.extend(["401", "429"]);
    }
    if ROLE_RESTRICTED.contains(&operation_id.as_str()) {
        statuses.push("403");
    }
    if takes("path") {
        statuses.extend(["400", "404"]);
    }
    if BODY_NAMES_RECORDS.contains(&operation_id.as_str()) {
        statuses.push("404");
    }
    if takes("query") {
        statuses.push("400");
    }
    if op.contains_key("requestBody") {
        statuses.extend(["400", "413", "415"]);
    }
    if takes("path") || takes("query") {
        statuses.push("414");
    }
    if takes("header") {
        statuses.push("431");
    }
    if !NO_STORE.contains(&path) {
        statuses.push("503");
    }
    let responses = op
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    if let Some(responses) = responses {
        for status in statuses {
            let answer = responses
                .entry(status.to_string())
                .or_insert_with(|| error_response(describe(status)));
            if status == "429" {
                answer["headers"] = json!({"Retry-After": {
                    "description": "whole seconds until a request may succeed",
                    "schema": {"type": "integer", "minimum": 1}
                }});
            }
        }
        for (status, response) in responses.iter_mut() {
            if status.starts_with('4') || status.starts_with('5') {
                let description = response["description"]
                    .as_str()
                    .unwrap_or(describe(status))
                    .to_string();
                *response = error_response(&description);
            }
        }
    }
}

/// Characters `char::is_control` refuses (Unicode category Cc), as a regex class body.
const CONTROL: &str = "\\x00-\\x1f\\x7f-\\x9f";

/// Text that is not blank once trimmed, without control characters, of at most `max`
/// characters.
fn text(max: usize) -> Value {
    json!({"type": "string", "maxLength": max,
        "pattern": format!("^[^{CONTROL}]*[^\\s{CONTROL}][^{CONTROL}]*$")})
}

/// Merges `value` into the schema of `field` of component `schema` (`""`: the component).
fn refine(schemas: &mut Map<String, Value>, schema: &str, field: &str, value: Value) {
    let Some(target) = schemas.get_mut(schema) else {
        return;
    };
    let target = if field.is_empty() {
        Some(target)
    } else {
        target.get_mut("properties").and_then(|p| p.get_mut(field))
    };
    let Some(Value::Object(target)) = target else {
        return;
    };
    // A nullable field (`["string", "null"]` or `oneOf` with null) keeps accepting null.
    let nullable = target
        .get("type")
        .and_then(Value::as_array)
        .is_some_and(|types| types.contains(&json!("null")))
        || target.get("oneOf").is_some();
    let Value::Object(value) = value else {
        return;
    };
    if nullable {
        target.clear();
        target.insert(
            "oneOf".into(),
            json!([{"type": "null"}, Value::Object(value)]),
        );
    } else {
        target.extend(value);
    }
}

/// What the handlers check, stated in the schema (so that a value the schema calls valid is
/// accepted, and one it calls invalid is refused).
fn request_rules(schemas: &mut Map<String, Value>) {
    let all_codes: Vec<String> = currencies().into_iter().flat_map(|(_, c)| c).collect();
    schemas.insert(
        "Currency".into(),
        json!({"type": "string", "enum": all_codes, "description": "ISO 4217 code (with a minor unit)"}),
    );
    schemas.insert(
        "BasisPoints".into(),
        json!({"type": "integer", "minimum": 0, "maximum": 10000,
            "description": "A rate in basis points: 1 bp = 0.01 %, 10 000 bp = 100 %."}),
    );
    schemas.insert(
        "Domain".into(),
        json!({"type": "string", "maxLength": 253,
            "pattern": "^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+(?=[A-Za-z0-9-]*[A-Za-z-])[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$",
            "description": "A domain name (lower-cased), at least two labels, the last not all digits; it covers its subdomains"}),
    );
    schemas.insert(
        "Rate".into(),
        json!({"type": "string", "pattern": "^(?=[0-9.]*[1-9])0*[0-9]{1,8}(?:\\.[0-9]{1,10})?$",
            "description": "Units of the program currency per unit of the other currency: an exact positive decimal below 10^8, at most 10 decimals"}),
    );
    refine(schemas, "NewCreator", "name", text(200));
    refine(
        schemas,
        "NewCreator",
        "payout_email",
        json!({"type": "string", "maxLength": 254,
            "pattern": format!("^[^@\\s{CONTROL}]+@[^@.\\s{CONTROL}](?:[^@\\s{CONTROL}]*\\.[^@\\s{CONTROL}]*)[^@.\\s{CONTROL}]$")}),
    );
    for program in ["NewProgram", "ProgramPatch"] {
        refine(schemas, program, "name", text(200));
        refine(
            schemas,
            program,
            "allowed_domains",
            json!({"minItems": 1, "maxItems": 50}),
        );
        refine(
            schemas,
            program,
            "click_param",
            json!({"type": "string", "pattern": "^(?!utm_)[A-Za-z0-9_]{1,32}$"}),
        );
        refine(
            schemas,
            program,
            "attribution_window_days",
            json!({"type": "integer", "minimum": 1, "maximum": 365}),
        );
        refine(
            schemas,
            program,
            "holding_days",
            json!({"type": "integer", "minimum": 0, "maximum": MAX_HOLDING_DAYS}),
        );
        refine(
            schemas,
            program,
            "max_orders_per_click",
            json!({"type": "integer", "minimum": 1, "maximum": u32::MAX}),
        );
    }
    refine(
        schemas,
        "CommissionPlan",
        "creator_overrides",
        json!({
        "propertyNames": {"pattern": "^cre_[A-Za-z0-9_-]{22}$"}, "maxProperties": MAX_LIST_LEN}),
    );
    refine(
        schemas,
        "CommissionPlan",
        "product_overrides",
        json!({
        "propertyNames": {"pattern": format!("^[!-~]{{1,{MAX_ID_LEN}}}$")}, "maxProperties": MAX_LIST_LEN}),
    );
    refine(
        schemas,
        "CommissionPlan",
        "recurring_months",
        json!({"minimum": 0, "maximum": 120}),
    );
    refine(
        schemas,
        "ClickCommission",
        "daily_cap",
        json!({"minimum": 1, "maximum": u32::MAX}),
    );
    // A creator key names its creator, other keys none.
    schemas.insert(
        "NewApiKey".into(),
        json!({"oneOf": [
            {"type": "object", "additionalProperties": false, "required": ["role", "creator_id"],
             "properties": {"role": {"type": "string", "enum": ["creator"]},
                "creator_id": reference("CreatorId"), "label": {"oneOf": [{"type": "null"}, text_any(100)]}}},
            {"type": "object", "additionalProperties": false, "required": ["role"],
             "properties": {"role": {"type": "string", "enum": ["admin", "finance"]},
                "creator_id": {"type": "null"}, "label": {"oneOf": [{"type": "null"}, text_any(100)]}}}
        ]}),
    );
    refine(schemas, "NewLink", "code", reference("LinkCode"));
    refine(
        schemas,
        "NewPromoCode",
        "code",
        json!({"type": "string", "pattern": "^\\s*[A-Za-z0-9_-]{2,64}\\s*$"}),
    );
    refine(schemas, "NewAdjustment", "note", text(MAX_TEXT_LEN));
    refine(schemas, "FailedPayout", "reason", text(MAX_TEXT_LEN));
    refine(schemas, "PaidPayout", "external_ref", text(200));
    refine(
        schemas,
        "PaidPayout",
        "paid_on",
        json!({"type": "string", "format": "date"}),
    );
    refine(
        schemas,
        "NewSettlement",
        "date",
        json!({"type": "string", "format": "date"}),
    );
    refine(
        schemas,
        "NewSecret",
        "secret",
        json!({"type": "string", "pattern": "^[!-~]{8,512}$"}),
    );
    refine(
        schemas,
        "FxRates",
        "rates",
        json!({
        "type": "object", "maxProperties": MAX_LIST_LEN,
        "propertyNames": reference("Currency"), "additionalProperties": reference("Rate")}),
    );
}

/// Text without control characters (blank allowed), at most `max` characters.
fn text_any(max: usize) -> Value {
    json!({"type": "string", "maxLength": max, "pattern": format!("^[^{CONTROL}]*$")})
}

/// `doc` completed (see the module documentation), as the JSON `/openapi.json` serves.
pub fn complete(doc: &utoipa::openapi::OpenApi) -> Value {
    let mut value = serde_json::to_value(doc).unwrap_or_else(|e| {
        tracing::error!(error = %e, "the OpenAPI document does not serialize");
        json!({})
    });
    if let Some(paths) = value["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            if let Some(item) = item.as_object_mut() {
                for (method, op) in item.iter_mut() {
                    if ["get", "put", "post", "delete", "patch", "head"].contains(&method.as_str())
                    {
                        if let Some(op) = op.as_object_mut() {
                            complete_operation(path, op);
                        }
                    }
                }
            }
        }
    }
    if let Some(schemas) = value["components"]["schemas"].as_object_mut() {
        component_formats(schemas);
        request_amounts(schemas);
        request_rules(schemas);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amount_patterns_stop_at_the_bound() {
        // 10^13 minor units: 10^11 dollars with cents, 10^13 yen.
        let usd = amount_pattern(2, true);
        assert!(usd.contains("|0*100000000000(?:"), "{usd}");
        assert!(usd.starts_with("^-?"), "{usd}");
        let jpy = amount_pattern(0, false);
        assert!(jpy.contains("10000000000000)$"), "{jpy}");
        assert!(!jpy.contains('.'), "{jpy}");
        assert!(link_code_pattern().contains("[aA][pP][iI]"));
    }
}
