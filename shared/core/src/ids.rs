//! Identifiers, each parsed once at the edge: program and creator ids, link codes, click ids,
//! ledger entry ids and payout ids.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};
use time::Date;

use crate::money::Currency;

/// `bytes` random bytes from the OS-seeded CSPRNG, base64url without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind}: {reason}")]
pub struct IdError {
    pub kind: &'static str,
    pub reason: String,
}

fn id_error(kind: &'static str, reason: impl Into<String>) -> IdError {
    IdError {
        kind,
        reason: reason.into(),
    }
}

/// `as_str`, `Display`, `Debug`, and `Deserialize` through the type's own `parse`, for the
/// string identifiers below: one definition, so none of them can be built unchecked by serde.
macro_rules! string_id_impls {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $name::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
            }
        }
    };
}

macro_rules! prefixed_id {
    ($name:ident, $prefix:literal, $kind:literal) => {
        #[doc = concat!("A ", $kind, " id: `", $prefix, "` and 22 base64url characters (128 random bits).")]
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        pub struct $name(String);

        impl $name {
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, random_token(16)))
            }

            pub fn parse(text: &str) -> Result<Self, IdError> {
                let valid = text
                    .strip_prefix($prefix)
                    .is_some_and(|rest| rest.len() == 22 && rest.bytes().all(is_base64url));
                if valid {
                    Ok(Self(text.to_string()))
                } else {
                    Err(id_error($kind, concat!("expected ", $prefix, " followed by 22 characters")))
                }
            }
        }
        string_id_impls!($name);
    };
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

prefixed_id!(ProgramId, "prg_", "program id");
prefixed_id!(CreatorId, "cre_", "creator id");

/// First path segments that belong to our own routes, so a link code may never take them.
pub const RESERVED_CODES: &[&str] = &[
    "api",
    "webhooks",
    "webhook",
    "postback",
    "health",
    "openapi",
    "dashboard",
    "admin",
    "static",
    "assets",
    "docs",
    "metrics",
    "favicon",
    "robots",
    "login",
    "logout",
];

/// A tracking link's short code: 3 to 64 of `[A-Za-z0-9_-]`, never a reserved segment.
/// Codes are matched exactly (case-sensitive); reserved words are refused in any case.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct LinkCode(String);

impl LinkCode {
    pub fn parse(text: &str) -> Result<Self, IdError> {
        if !(3..=64).contains(&text.len()) {
            return Err(id_error("link code", "must be 3 to 64 characters"));
        }
        if !text.bytes().all(is_base64url) {
            return Err(id_error(
                "link code",
                "only letters, digits, '-' and '_' are allowed",
            ));
        }
        if RESERVED_CODES.iter().any(|r| r.eq_ignore_ascii_case(text)) {
            return Err(id_error("link code", format!("{text:?} is reserved")));
        }
        Ok(Self(text.to_string()))
    }

    /// A random 8-character code from an unambiguous alphabet (no 0/O, 1/l/I).
    pub fn generate() -> Self {
        const ALPHABET: &[u8] = b"23456789abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
        let mut bytes = [0u8; 8];
        rand::rng().fill_bytes(&mut bytes);
        let code = bytes
            .iter()
            .map(|b| ALPHABET[usize::from(*b).checked_rem(ALPHABET.len()).unwrap_or(0)] as char)
            .collect();
        Self(code)
    }
}

string_id_impls!(LinkCode);

const CROCKFORD: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const TIME_CHARS: usize = 10;
const RANDOM_CHARS: usize = 20;

/// The time part every time-ordered id made at `unix_millis` starts with: 10 characters of
/// lower-case Crockford base32, so ids compare like their times.
fn time_part(unix_millis: i64) -> String {
    let time = u64::try_from(unix_millis).unwrap_or_default();
    (0..TIME_CHARS as u32)
        .rev()
        .map(|i| {
            CROCKFORD[(time.checked_shr(i.saturating_mul(5)).unwrap_or(0) & 31) as usize] as char
        })
        .collect()
}

/// A time-ordered id made at `unix_millis`: its time part, then 20 characters (100 bits) from
/// the OS-seeded CSPRNG.
fn time_ordered(unix_millis: i64) -> String {
    let mut out = time_part(unix_millis);
    let mut random = [0u8; RANDOM_CHARS];
    rand::rng().fill_bytes(&mut random);
    out.extend(
        random
            .iter()
            .map(|b| CROCKFORD[usize::from(*b & 31)] as char),
    );
    out
}

fn is_time_ordered(text: &str) -> bool {
    text.len() == TIME_CHARS + RANDOM_CHARS && text.bytes().all(|b| CROCKFORD.contains(&b))
}

/// A click id: 10 characters of millisecond time then 20 of randomness (100 bits), lower-case
/// Crockford base32. Sorting ids sorts clicks by time (so inserts append to the B-tree), and
/// the random part alone is unguessable.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ClickId(String);

impl ClickId {
    /// The time part every click id made at `unix_millis` starts with; ids compare like times.
    pub fn time_prefix(unix_millis: i64) -> String {
        time_part(unix_millis)
    }

    pub fn generate(unix_millis: i64) -> Self {
        Self(time_ordered(unix_millis))
    }

    pub fn parse(text: &str) -> Result<Self, IdError> {
        if is_time_ordered(text) {
            Ok(Self(text.to_string()))
        } else {
            Err(id_error(
                "click id",
                "expected 30 lower-case base32 characters",
            ))
        }
    }
}

string_id_impls!(ClickId);

/// A ledger entry's id: time-ordered like a click id (the same 30 characters, written the same
/// way, so entries stored before this type existed read back), so a creator's ledger lists in
/// the order its entries were booked.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct EntryId(String);

impl EntryId {
    /// A new id for an entry booked at `unix_millis` (the flow's clock).
    pub fn generate(unix_millis: i64) -> Self {
        Self(time_ordered(unix_millis))
    }

    pub fn parse(text: &str) -> Result<Self, IdError> {
        if is_time_ordered(text) {
            Ok(Self(text.to_string()))
        } else {
            Err(id_error(
                "ledger entry id",
                "expected 30 lower-case base32 characters",
            ))
        }
    }
}

string_id_impls!(EntryId);

/// A payout's id: `pay_` and 24 lower-case hex characters, derived from the settlement line it
/// pays (date, creator, currency), so a line can only ever make one payout. At most 30
/// characters, as PayPal's batch file wants for its item id.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PayoutId(String);

impl PayoutId {
    /// The id of the payout of `creator`'s `currency` line of `date`.
    pub fn for_line(date: Date, creator: &CreatorId, currency: Currency) -> Self {
        let digest = Sha256::digest(format!("{date}\0{creator}\0{currency}").as_bytes());
        Self(format!("pay_{}", &hex::encode(digest)[..24]))
    }

    pub fn parse(text: &str) -> Result<Self, IdError> {
        let valid = text.strip_prefix("pay_").is_some_and(|rest| {
            rest.len() == 24
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        });
        if valid {
            Ok(Self(text.to_string()))
        } else {
            Err(id_error(
                "payout id",
                "expected pay_ followed by 24 lower-case hex characters",
            ))
        }
    }
}

string_id_impls!(PayoutId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_codes_follow_the_charset_and_avoid_reserved_segments() {
        assert!(LinkCode::parse("anna10").is_ok());
        assert!(LinkCode::parse("A_b-9").is_ok());
        for bad in [
            "ab",
            "has space",
            "a/b",
            "ünï",
            "api",
            "API",
            "webhooks",
            "health",
            "openapi.json",
            "dashboard",
            &"x".repeat(65),
        ] {
            assert!(LinkCode::parse(bad).is_err(), "{bad:?}");
        }
        assert!(LinkCode::parse(LinkCode::generate().as_str()).is_ok());
    }

    #[test]
    fn click_ids_are_unique_sortable_and_parse_back() {
        let a = ClickId::generate(1_700_000_000_000);
        let b = ClickId::generate(1_700_000_000_001);
        assert!(a < b);
        assert_ne!(ClickId::generate(5), ClickId::generate(5));
        assert_eq!(ClickId::parse(a.as_str()).unwrap(), a);
        assert!(ClickId::parse("not-a-click").is_err());
    }

    #[test]
    fn prefixed_ids_parse_only_their_own_kind() {
        let p = ProgramId::generate();
        assert!(ProgramId::parse(p.as_str()).is_ok());
        assert!(CreatorId::parse(p.as_str()).is_err());
    }

    #[test]
    fn entry_ids_are_time_ordered_and_read_the_ids_stored_before_them() {
        let a = EntryId::generate(1_700_000_000_000);
        let b = EntryId::generate(1_700_000_000_001);
        assert!(a < b);
        assert_ne!(EntryId::generate(5), EntryId::generate(5));
        assert_eq!(EntryId::parse(a.as_str()).unwrap(), a);
        // Entries used to take click ids: the same text, so they still parse.
        let old = ClickId::generate(1_700_000_000_000).to_string();
        assert_eq!(EntryId::parse(&old).unwrap().to_string(), old);
        assert!(a
            .as_str()
            .starts_with(&ClickId::time_prefix(1_700_000_000_000)));
        assert!(EntryId::parse("pay_0123456789abcdef01234567").is_err());
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, format!("\"{a}\""));
        assert_eq!(serde_json::from_str::<EntryId>(&json).unwrap(), a);
        assert!(serde_json::from_str::<EntryId>("\"short\"").is_err());
    }

    #[test]
    fn payout_ids_are_derived_from_their_line_and_written_as_before() {
        let anna = CreatorId::parse("cre_anna000000000000000000").unwrap();
        let usd = Currency::parse("USD").unwrap();
        let date = time::macros::date!(2026 - 11 - 27);
        let id = PayoutId::for_line(date, &anna, usd);
        assert_eq!(id, PayoutId::for_line(date, &anna, usd));
        assert_ne!(id, PayoutId::for_line(date.next_day().unwrap(), &anna, usd));
        // The derivation as it was (settlement::payout_id): the same text for the same line.
        let digest = Sha256::digest(format!("{date}\0{anna}\0{usd}").as_bytes());
        assert_eq!(id.as_str(), format!("pay_{}", &hex::encode(digest)[..24]));
        assert_eq!(id.as_str().len(), 28);
        assert_eq!(PayoutId::parse(id.as_str()).unwrap(), id);
        assert!(PayoutId::parse("pay_0123456789abcdef01234567").is_ok());
        for bad in [
            "pay_0123",
            "pay_0123456789ABCDEF01234567",
            "0123456789abcdef01234567xxxx",
        ] {
            assert!(PayoutId::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{id}\""));
    }
}
