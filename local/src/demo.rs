//! `serve --demo`: a program, a creator, a link and a promo code, seeded idempotently under
//! fixed ids, and a fresh admin key — said to be one, with what that allows — with a
//! walkthrough that works when pasted.

use std::io::Write;

use linkledger_api::{issue_key, NewApiKey};
use linkledger_core::api_key::Role;
use linkledger_core::audit::Actor;
use linkledger_core::conversion::Platform;
use linkledger_core::creator::{NewCreator, NewEnrolment};
use linkledger_core::destination::Domain;
use linkledger_core::ids::{CreatorId, ProgramId};
use linkledger_core::link::NewPromoCode;
use linkledger_core::manage::{creators, links, programs, promo_codes, secrets};
use linkledger_core::money::{BasisPoints, Currency, Money};
use linkledger_core::program::{CommissionPlan, NewProgram, Precedence, SaleCommission};
use linkledger_store::Store;

pub const PROGRAM: &str = "prg_demo000000000000000000";
pub const CREATOR: &str = "cre_anna000000000000000000";
pub const LINK: &str = "anna10";
pub const PROMO: &str = "ANNA10";
/// The demo program's postback signing secret (a real program gets a random one from the API).
pub const POSTBACK_SECRET: &str = "demo_postback_secret_do_not_use_in_production";

type AnyError = Box<dyn std::error::Error + Send + Sync>;

/// Each record goes through the API's management rules (`linkledger_core::manage`), so its audit
/// entry is the API's too; on a second run the records exist and are left as they are.
pub async fn seed_and_print(store: &Store, base: &str) -> Result<(), AnyError> {
    let now = store.now();
    let demo = Actor::operator("demo");
    let usd = Currency::parse("USD")?;
    let (program, audit) = programs::create(
        ProgramId::parse(PROGRAM)?,
        NewProgram {
            name: "Demo Skincare".into(),
            currency: usd,
            allowed_domains: vec![Domain::parse("example.com")?],
            click_param: None,
            attribution_window_days: Some(30),
            holding_days: Some(30),
            min_payout: Some(Money::parse_decimal("50.00", usd)?),
            precedence: Some(Precedence::Click),
            plan: Some(CommissionPlan {
                sale: Some(SaleCommission::RateBps(BasisPoints::new(1000)?)),
                ..CommissionPlan::default()
            }),
            fallback_url: Some("https://shop.example.com/".into()),
            max_orders_per_click: Some(3),
            time_zone: None,
        },
        now,
        &demo,
    )?;
    store.create_program(&program, &audit).await?;
    let (creator, audit) = creators::create(
        CreatorId::parse(CREATOR)?,
        NewCreator {
            name: "Anna".into(),
            payout_email: "anna@example.com".into(),
        },
        now,
        &demo,
    )?;
    store.create_creator(&creator, &audit).await?;
    let enrolment = match store.enrolment(&program.id, &creator.id).await? {
        Some(enrolment) => enrolment,
        None => {
            let (enrolment, audit) = creators::enrol(
                &NewEnrolment {
                    creator_id: creator.id.clone(),
                    rate_override: None,
                },
                &program,
                true,
                None,
                now,
                &demo,
            )?;
            store.enrol(&enrolment, &audit).await?;
            enrolment
        }
    };
    let (link, audit) = links::create(
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
    store.create_link(&link, &audit).await?;
    let (promo, audit) = promo_codes::create(
        &NewPromoCode {
            code: PROMO.into(),
            creator_id: creator.id.clone(),
        },
        &program,
        Some(&enrolment),
        now,
        &demo,
    )?;
    store.create_promo_code(&promo, &audit).await?;

    if store
        .webhook_secret(&program.id, Platform::Postback)
        .await?
        .is_none()
    {
        let (secret, audit) = secrets::put(
            &secrets::NewSecret {
                program_id: program.id.clone(),
                platform: Platform::Postback,
                given: Some(POSTBACK_SECRET.into()),
            },
            secrets::generate, // not drawn: the secret is given
            None,
            now,
            &demo,
        )?;
        store.put_webhook_secret(&secret, &audit).await?;
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
    let creator_key = issue_key(
        store,
        NewApiKey {
            role: Role::Creator,
            creator_id: Some(CreatorId::parse(CREATOR)?),
            label: Some("demo creator".into()),
        },
        &demo,
    )
    .await?;
    let creator_key = creator_key.key;
    let walkthrough = format!(
        r#"
linkledger demo is ready at {base}
  program {PROGRAM} (USD, 10 % per sale), creator {CREATOR}, link /{LINK}, promo code {PROMO}

Open the dashboard in a browser: {base}/dashboard
  sign in with the admin KEY below for the brand's dashboard, or with the creator key
  {creator_key} for the creator's portal (Anna's own links, earnings and payouts).

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
  # stats (rolled up within about a second): by creator, and the program by day as CSV
  curl -s "$LL/api/stats?program={PROGRAM}&group_by=creator" -H "Authorization: Bearer $KEY"; echo
  curl -s "$LL/api/stats?program={PROGRAM}&group_by=day&format=csv" -H "Authorization: Bearer $KEY"
"#,
        key = key.key
    );
    // The walkthrough is a courtesy: a closed stdout (its reader gone) must not stop the server.
    if let Err(err) = writeln!(std::io::stdout(), "{walkthrough}") {
        tracing::warn!(error = %err, "the demo walkthrough could not be printed");
    }
    Ok(())
}
