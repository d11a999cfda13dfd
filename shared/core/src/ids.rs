//! Identifiers, each parsed once at the edge: program and creator ids, link codes, click ids.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use serde::{Deserialize, Deserializer, Serialize};

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
const CLICK_TIME_CHARS: usize = 10;
const CLICK_RANDOM_CHARS: usize = 20;

/// A click id: 10 characters of millisecond time then 20 of randomness (100 bits), lower-case
/// Crockford base32. Sorting ids sorts clicks by time (so inserts append to the B-tree), and
/// the random part alone is unguessable.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ClickId(String);

impl ClickId {
    /// The time part every click id made at `unix_millis` starts with; ids compare like times.
    pub fn time_prefix(unix_millis: i64) -> String {
        let time = u64::try_from(unix_millis).unwrap_or_default();
        (0..CLICK_TIME_CHARS as u32)
            .rev()
            .map(|i| {
                CROCKFORD[(time.checked_shr(i.saturating_mul(5)).unwrap_or(0) & 31) as usize]
                    as char
            })
            .collect()
    }

    pub fn generate(unix_millis: i64) -> Self {
        let mut out = Self::time_prefix(unix_millis);
        let mut random = [0u8; CLICK_RANDOM_CHARS];
        rand::rng().fill_bytes(&mut random);
        out.extend(
            random
                .iter()
                .map(|b| CROCKFORD[usize::from(*b & 31)] as char),
        );
        Self(out)
    }

    pub fn parse(text: &str) -> Result<Self, IdError> {
        if text.len() == CLICK_TIME_CHARS + CLICK_RANDOM_CHARS
            && text.bytes().all(|b| CROCKFORD.contains(&b))
        {
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
}
