//! `serve --demo`: a program, a creator, a link and a promo code, seeded idempotently under
//! fixed ids, and a fresh admin key — said to be one, with what that allows — with a
//! walkthrough that works when pasted.

use linkledger_api::{issue_key, NewApiKey};
use linkledger_core::api_key::Role;
use linkledger_core::audit::{Actor, AuditEntry};
use linkledger_core::conversion::Platform;
use linkledger_core::creator::{email_hash, Creator, Enrolment};
use linkledger_core::destination::{Destination, Domain};
use linkledger_core::ids::{CreatorId, ProgramId};
use linkledger_core::link::PromoCode;
use linkledger_core::manage::links;
use linkledger_core::money::{BasisPoints, Currency, Money};
use linkledger_core::program::{CommissionPlan, Precedence, Program, SaleCommission};
use linkledger_store::{Store, WebhookSecret};

pub const PROGRAM: &str = "prg_demo000000000000000000";
pub const CREATOR: &str = "cre_anna000000000000000000";
pub const LINK: &str = "anna10";
pub const PROMO: &str = "ANNA10";
/// The demo program's postback signing secret (a real program gets a random one from the API).
pub const POSTBACK_SECRET: &str = "demo_postback_secret_do_not_use_in_production";

type AnyError = Box<dyn std::error::Error + Send + Sync>;

pub async fn seed_and_print(store: &Store, base: &str) -> Result<(), AnyError> {
    let now = store.now();
    let usd = Currency::parse("USD")?;
    let domains = vec![Domain::parse("example.com")?];
    let program = Program {
        id: ProgramId::parse(PROGRAM)?,
        name: "Demo Skincare".into(),
        currency: usd,
        allowed_domains: domains.clone(),
        click_param: "ll_click".into(),
        attribution_window_days: 30,
        holding_days: 30,
        min_payout: Money::parse_decimal("50.00", usd)?,
        precedence: Precedence::Click,
        fallback_url: Some(Destination::for_program(
            "https://shop.example.com/",
            &domains,
        )?),
        plan: CommissionPlan {
            sale: Some(SaleCommission::RateBps(BasisPoints::new(1000)?)),
            ..CommissionPlan::default()
        },
        max_orders_per_click: 3,
        fx_rates: Default::default(),
        created_at: now,
        updated_at: now,
    };
    program.validate()?;
    let demo = Actor::operator("demo");
    // Each record's audit entry carries it (`after`), as the API's do.
    let created = |action: &str, target: &str, record: serde_json::Value| {
        AuditEntry::new(now, &demo, action, target, None, Some(&record))
    };
    store
        .create_program(
            &program,
            &created("program.create", PROGRAM, serde_json::to_value(&program)?),
        )
        .await?;
    let creator = Creator {
        id: CreatorId::parse(CREATOR)?,
        name: "Anna".into(),
        payout_email: "anna@example.com".into(),
        email_hash: email_hash("anna@example.com"),
        created_at: now,
    };
    store
        .create_creator(
            &creator,
            &created("creator.create", CREATOR, serde_json::to_value(&creator)?),
        )
        .await?;
    let enrolment = match store.enrolment(&program.id, &creator.id).await? {
        Some(enrolment) => enrolment,
        None => {
            let enrolment = Enrolment {
                program_id: program.id.clone(),
                creator_id: creator.id.clone(),
                rate_override: None,
                enrolled_at: now,
            };
            store
                .enrol(
                    &enrolment,
                    &created("enrolment.put", CREATOR, serde_json::to_value(&enrolment)?),
                )
                .await?;
            enrolment
        }
    };
    // The API's link rules; on a second run the code exists and the link is left as it is.
    let (link, link_audit) = links::create(
        &links::NewLink {
            creator_id: creator.id.clone(),
            destination: "https://shop.example.com/serum?ref=ig".into(),
            code: Some(LINK.into()),
            expires_at: None,
        },
        &program,
        Some(&enrolment),
        0,
        now,
        &demo,
    )?;
    store.create_link(&link, &link_audit).await?;
    let promo = PromoCode {
        code: PROMO.into(),
        program_id: program.id.clone(),
        creator_id: creator.id.clone(),
        created_at: now,
    };
    store
        .create_promo_code(
            &promo,
            &created("promo_code.create", PROMO, serde_json::to_value(&promo)?),
        )
        .await?;

    if store
        .webhook_secret(&program.id, Platform::Postback)
        .await?
        .is_none()
    {
        let secret = WebhookSecret {
            program_id: program.id.clone(),
            platform: Platform::Postback,
            secret: POSTBACK_SECRET.into(),
            created_at: now,
        };
        store
            .put_webhook_secret(
                &secret,
                // The masked form only, as the API keeps it.
                &AuditEntry::new(
                    now,
                    &demo,
                    "webhook_secret.put",
                    format!("{PROGRAM}/{}", Platform::Postback.as_str()),
                    None,
                    Some(&secret.masked()),
                ),
            )
            .await?;
    }

    let key = issue_key(
        store,
        NewApiKey {
            role: Role::Admin,
            creator_id: None,
            label: Some("demo".into()),
        },
        &demo,
    )
    .await?;
    println!(
        r#"
linkledger demo is ready at {base}
  program {PROGRAM} (USD, 10 % per sale), creator {CREATOR}, link /{LINK}, promo code {PROMO}

The KEY below is an ADMIN key: it can do everything - create and change programs, read every
creator's data and payout e-mail, book adjustments, run settlements and mark payouts paid.
It is shown only this once (stored as a hash); keep it to yourself. Give a creator or finance
a key of their own role instead: `linkledger keys create --role creator --creator <id>` or
`--role finance`.

Paste into another terminal:

  export LL={base} KEY={key}
  curl -s $LL/health
  curl -s -o /dev/null -w '%{{http_code}} -> %{{redirect_url}}\n' "$LL/{LINK}?utm_source=instagram"
  curl -s "$LL/api/links/{LINK}/clicks" -H "Authorization: Bearer $KEY"
  curl -s $LL/api/programs -H "Authorization: Bearer $KEY"
  curl -s -X POST $LL/api/creators -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
       -d '{{"name":"Ben","payout_email":"ben@example.com"}}'
  curl -s -X POST $LL/api/links -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
       -d '{{"program_id":"{PROGRAM}","creator_id":"{CREATOR}","destination":"https://shop.example.com/mask","code":"anna-mask"}}'
  curl -s -X POST $LL/api/links -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
       -d '{{"program_id":"{PROGRAM}","creator_id":"{CREATOR}","destination":"https://shop.example.com@evil.com/"}}'
  curl -s $LL/openapi.json | grep -o '"openapi":"[0-9.]*"'
  # a sale reported by the shop's server: a signed postback, booked by the in-process worker
  BODY='{{"event":"sale","order_id":"demo-1001","amount":"100.00","currency":"USD","coupon":"{PROMO}"}}'
  T=$(date +%s); SIG=$(printf '%s' "$T.$BODY" | openssl dgst -sha256 -hmac '{POSTBACK_SECRET}' | sed 's/^.* //')
  curl -s -X POST $LL/postback/{PROGRAM} -H "Linkledger-Signature: t=$T,v1=$SIG" -H 'Content-Type: application/json' -d "$BODY"; echo
  sleep 2; curl -s "$LL/api/ledger?creator={CREATOR}" -H "Authorization: Bearer $KEY"; echo
  curl -s "$LL/api/balances?creator={CREATOR}" -H "Authorization: Bearer $KEY"; echo
"#,
        key = key.key
    );
    Ok(())
}
