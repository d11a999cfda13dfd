//! Our own server-to-server format, for stores without a supported platform (README,
//! "Postback"). Signed like Stripe: `Linkledger-Signature: t=<unix>,v1=<hex HMAC-SHA256 of
//! "t.body">` with the program's postback secret.
//!
//! ```json
//! {"event": "sale", "order_id": "1001", "amount": "100.00", "currency": "USD",
//!  "click_id": "…", "coupon": "ANNA10", "customer_email": "shopper@example.com"}
//! ```
//! `event` is `sale`, `lead` or `refund`. For a refund, `amount` is the order's total refunded
//! so far (cumulative), so repeats and late arrivals are harmless. Optional: `occurred_at`
//! (RFC 3339, default now) and `event_id` (the delivery id; default a hash of the body).

use std::borrow::Cow;
use std::fmt;

use axum::http::HeaderMap;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use linkledger_core::conversion::{self, Fact, Lead, Refund, Refunded, Sale};
use linkledger_core::creator::email_hash;
use linkledger_core::signature::{verify_timestamped, SignatureError};

use crate::fields::{display_key, BadField, Key, Leaf, ROOT};
use crate::json::Strict;
use crate::{signature_header, Normalized, Platform};

/// Header carrying our postback signature.
pub const SIGNATURE: &str = "linkledger-signature";

pub struct Postback;

impl Platform for Postback {
    fn kind(&self) -> conversion::Platform {
        conversion::Platform::Postback
    }

    fn verify(
        &self,
        secret: &[u8],
        headers: &HeaderMap,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<(), SignatureError> {
        verify_timestamped(
            secret,
            body,
            signature_header(headers, SIGNATURE),
            now.unix_timestamp(),
        )
    }

    fn normalize(
        &self,
        _headers: &HeaderMap,
        body: Strict<'_>,
        _click_param: &str,
        now: OffsetDateTime,
    ) -> Result<Normalized, BadField> {
        match body.parse_whole::<Body<'_>>()? {
            Body::NotAnObject => Err(BadField::new("body", "must be a JSON object")),
            Body::Unknown(key) => Err(BadField::new(&display_key(&key), "unknown field")),
            Body::Fields(fields) => normalize(&fields, body.bytes(), now),
        }
    }
}

/// The postback's fields: every one it may have, and no other.
#[derive(Default)]
struct Fields<'a> {
    event: Leaf<'a>,
    order_id: Leaf<'a>,
    amount: Leaf<'a>,
    currency: Leaf<'a>,
    click_id: Leaf<'a>,
    coupon: Leaf<'a>,
    customer_email: Leaf<'a>,
    occurred_at: Leaf<'a>,
    event_id: Leaf<'a>,
}

enum Body<'a> {
    Fields(Box<Fields<'a>>),
    /// A key we do not know: the first in byte order (the order `serde_json::Value`'s map kept,
    /// in which the refusal has always named it).
    Unknown(Cow<'a, str>),
    NotAnObject,
}

impl<'de: 'a, 'a> Deserialize<'de> for Body<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(BodyVisitor)
    }
}

struct BodyVisitor;

impl<'de> Visitor<'de> for BodyVisitor {
    type Value = Body<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Body<'de>, A::Error> {
        let mut fields = Fields::default();
        let mut unknown: Option<Cow<'de, str>> = None;
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let slot = match key.as_ref() {
                "event" => &mut fields.event,
                "order_id" => &mut fields.order_id,
                "amount" => &mut fields.amount,
                "currency" => &mut fields.currency,
                "click_id" => &mut fields.click_id,
                "coupon" => &mut fields.coupon,
                "customer_email" => &mut fields.customer_email,
                "occurred_at" => &mut fields.occurred_at,
                "event_id" => &mut fields.event_id,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    if unknown.as_ref().is_none_or(|first| key < *first) {
                        unknown = Some(key);
                    }
                    continue;
                }
            };
            *slot = map.next_value()?;
        }
        Ok(match unknown {
            Some(key) => Body::Unknown(key),
            None => Body::Fields(Box::new(fields)),
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Body<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Body::NotAnObject)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Body<'de>, E> {
        Ok(Body::NotAnObject)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Body<'de>, E> {
        Ok(Body::NotAnObject)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Body<'de>, E> {
        Ok(Body::NotAnObject)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Body<'de>, E> {
        Ok(Body::NotAnObject)
    }

    fn visit_str<E>(self, _: &str) -> Result<Body<'de>, E> {
        Ok(Body::NotAnObject)
    }

    fn visit_unit<E>(self) -> Result<Body<'de>, E> {
        Ok(Body::NotAnObject)
    }
}

fn normalize(f: &Fields<'_>, body: &[u8], now: OffsetDateTime) -> Result<Normalized, BadField> {
    let occurred_at = if f.occurred_at.is_present() {
        f.occurred_at.rfc3339(&ROOT.key("occurred_at"), now)?
    } else {
        now
    };
    let delivery = match f.event_id.opt_str_id(&ROOT.key("event_id"))? {
        Some(id) => id,
        None => hex::encode(Sha256::digest(body)),
    };
    let order_id = f.order_id.id(&ROOT.key("order_id"))?;
    let click_id = f.click_id.opt_str_id(&ROOT.key("click_id"))?;
    let coupons: Vec<String> = f
        .coupon
        .opt_code(&ROOT.key("coupon"))?
        .into_iter()
        .collect();
    let email = f
        .customer_email
        .opt_text(&ROOT.key("customer_email"))?
        .map(email_hash);
    let amount = || -> Result<_, BadField> {
        let currency = f.currency.currency(&ROOT.key("currency"))?;
        f.amount.amount(&ROOT.key("amount"), currency)
    };
    let fact = match f.event.str(&ROOT.key("event"))? {
        "sale" => {
            let amount = amount()?;
            Fact::Sale(Sale {
                order_id,
                aliases: Vec::new(),
                occurred_at,
                net: amount,
                refund_basis: amount,
                click_id,
                coupons,
                customer_email_hash: email,
                customer_ref: None,
                lines: Vec::new(),
                renewal: false,
            })
        }
        "lead" => Fact::Lead(Lead {
            order_id,
            occurred_at,
            click_id,
            coupons,
            customer_email_hash: email,
        }),
        "refund" => Fact::Refund(Refund {
            order_refs: vec![order_id],
            occurred_at,
            refunded: Refunded::Cumulative(amount()?),
        }),
        _ => return Err(BadField::new("event", "must be one of sale, lead, refund")),
    };
    Ok(Normalized::Facts(vec![(delivery, fact)]))
}
