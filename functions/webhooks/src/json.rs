//! Webhook bodies parsed strictly: a JSON object that names the same key twice, at any depth, is
//! refused.
//!
//! `serde_json` keeps the last of two equal keys (and a typed struct ignores a repeated field it
//! does not read), while other parsers (a platform's own, a log pipeline, a person reading the
//! body) may keep the first. The signed body would then mean two things, so
//! `{"amount": "1.00", "amount": "9999.00"}` is a 400 naming the key's path, not a guess. The
//! check is one streaming pass through serde's visitor that builds nothing but each object's key
//! list (keys borrowed from the body), with serde_json's own nesting limit of 128; only a body
//! that passes it is handed to a normalizer, as a [`Strict`] body, which then deserializes the
//! few fields it reads ([`crate::fields`]).

use std::borrow::Cow;
use std::collections::HashSet;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::fields::{display_key, BadField, Key, Node};

/// A body that is one JSON value without a duplicate key anywhere.
#[derive(Clone, Copy, Debug)]
pub struct Strict<'a>(&'a [u8]);

impl<'a> Strict<'a> {
    /// Checks a body, or says where it is malformed (the path of a duplicate key).
    pub fn check(body: &'a [u8]) -> Result<Self, BadField> {
        let mut path = Vec::new();
        let mut keys = Vec::new();
        let mut duplicate = None;
        let mut deserializer = serde_json::Deserializer::from_slice(body);
        let checked = Checker {
            path: &mut path,
            keys: &mut keys,
            duplicate: &mut duplicate,
        }
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end());
        match (checked, duplicate) {
            (_, Some(path)) => Err(BadField::new(&path, "duplicate key")),
            (Ok(()), None) => Ok(Strict(body)),
            (Err(e), None) => Err(malformed(&e)),
        }
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.0
    }

    /// The fields `T` reads from the body's top-level object (a body that is not an object has
    /// none of them). `T` is built from [`crate::fields`]' lenient parts, which accept any JSON
    /// in their place, so this fails only if `T` does not (a bug, reported as the body).
    pub fn parse<T: Deserialize<'a> + Default>(&self) -> Result<T, BadField> {
        serde_json::from_slice::<Node<T>>(self.0)
            .map(Node::into_fields)
            .map_err(|e| malformed(&e))
    }

    /// The body as `T` deserializes it, for a `T` that reads the top level itself.
    pub fn parse_whole<T: Deserialize<'a>>(&self) -> Result<T, BadField> {
        serde_json::from_slice(self.0).map_err(|e| malformed(&e))
    }
}

fn malformed(e: &serde_json::Error) -> BadField {
    BadField::new("body", format!("malformed JSON: {e}"))
}

enum Segment<'de> {
    Key(Cow<'de, str>),
    Index(usize),
}

/// `data.object.lines[2].amount`, each key shortened and made printable ([`display_key`]).
fn render(path: &[Segment<'_>], last: &str) -> String {
    let mut text = String::new();
    for segment in path {
        match segment {
            Segment::Key(key) => {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(&display_key(key));
            }
            Segment::Index(i) => text.push_str(&format!("[{i}]")),
        }
        if text.len() > 200 {
            text.push('…');
            return text;
        }
    }
    if !text.is_empty() {
        text.push('.');
    }
    text.push_str(&display_key(last));
    text
}

/// Objects with more keys than this are checked with a hash set; below, by a linear search of
/// the keys seen (no hashing, no allocation of its own: [`Checker::keys`]).
const LINEAR_KEYS: usize = 64;

/// Walks a value, remembering where it is; the first duplicate key stops the walk.
struct Checker<'a, 'de> {
    path: &'a mut Vec<Segment<'de>>,
    /// The keys of the objects being walked, outermost first: each object searches its own
    /// (from where they start) and truncates them when it ends, so one buffer serves all.
    keys: &'a mut Vec<Cow<'de, str>>,
    duplicate: &'a mut Option<String>,
}

impl<'de> Checker<'_, 'de> {
    fn child(&mut self) -> Checker<'_, 'de> {
        Checker {
            path: &mut *self.path,
            keys: &mut *self.keys,
            duplicate: &mut *self.duplicate,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Checker<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Checker<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        loop {
            self.path.push(Segment::Index(index));
            let next = seq.next_element_seed(self.child());
            self.path.pop();
            match next? {
                Some(()) => index = index.saturating_add(1),
                None => return Ok(()),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let start = self.keys.len();
        let mut many: Option<HashSet<Cow<'de, str>>> = None;
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let fresh = match &mut many {
                Some(set) => set.insert(key.clone()),
                None => {
                    let ours = self.keys.get(start..).unwrap_or_default();
                    if ours.contains(&key) {
                        false
                    } else if ours.len() < LINEAR_KEYS {
                        self.keys.push(key.clone());
                        true
                    } else {
                        let mut set: HashSet<Cow<'de, str>> = self.keys.drain(start..).collect();
                        let fresh = set.insert(key.clone());
                        many = Some(set);
                        fresh
                    }
                }
            };
            if !fresh {
                *self.duplicate = Some(render(self.path, &key));
                return Err(de::Error::custom("duplicate key"));
            }
            self.path.push(Segment::Key(key));
            let value = map.next_value_seed(self.child());
            self.path.pop();
            value?;
        }
        self.keys.truncate(start);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn duplicate_at(body: &str) -> Option<String> {
        match Strict::check(body.as_bytes()) {
            Err(field) if field.reason == "duplicate key" => Some(field.path),
            _ => None,
        }
    }

    #[test]
    fn a_duplicate_key_is_refused_at_any_depth_with_its_path() {
        assert_eq!(
            duplicate_at(r#"{"amount":"1.00","amount":"9.00"}"#).as_deref(),
            Some("amount")
        );
        assert_eq!(
            duplicate_at(r#"{"data":{"object":{"id":"a","x":1,"id":"b"}}}"#).as_deref(),
            Some("data.object.id")
        );
        assert_eq!(
            duplicate_at(r#"{"line_items":[{"a":1},{"total":"1","total":"2"}]}"#).as_deref(),
            Some("line_items[1].total")
        );
        // The same key after escapes is the same key.
        assert_eq!(duplicate_at(r#"{"a":1,"\u0061":2}"#).as_deref(), Some("a"));
    }

    #[test]
    fn equal_keys_in_different_objects_are_fine_and_the_body_is_what_serde_json_reads() {
        let body = r#"{"a":{"id":1},"b":{"id":2},"c":[{"id":3},{"id":4}],"n":-1.5e3,"u":18446744073709551615,"z":null}"#;
        let strict = Strict::check(body.as_bytes()).expect("valid");
        let plain: serde_json::Value = serde_json::from_str(body).expect("valid");
        let parsed: serde_json::Value = strict.parse().expect("valid");
        assert_eq!(parsed, plain);
    }

    #[test]
    fn many_keys_in_one_object_are_checked_through_the_set() {
        let keys: Vec<String> = (0..100).map(|i| format!("\"k{i}\":{i}")).collect();
        let body = format!("{{{}}}", keys.join(","));
        assert!(Strict::check(body.as_bytes()).is_ok());
        let body = format!("{{{},\"k7\":0}}", keys.join(","));
        assert_eq!(duplicate_at(&body).as_deref(), Some("k7"));
        // A key with escapes is owned, not borrowed, and still compared by its text.
        let body = format!("{{{},\"k\\u0037\":0}}", keys.join(","));
        assert_eq!(duplicate_at(&body).as_deref(), Some("k7"));
    }

    #[test]
    fn malformed_json_is_refused_as_the_body() {
        for body in ["", "{", "{\"a\":1} x", "[1,]", "\"\\ud800\""] {
            let err = Strict::check(body.as_bytes()).expect_err(body);
            assert_eq!(err.path, "body", "{body}");
        }
    }

    #[test]
    fn a_hostile_duplicate_key_is_shortened_and_printable() {
        let key = format!("a\n{}", "k".repeat(10_000));
        let body = format!(r#"{{"{k}":1,"{k}":2}}"#, k = key.replace('\n', "\\n"));
        let path = duplicate_at(&body).expect("a duplicate");
        assert!(path.len() < 100, "{}", path.len());
        assert!(!path.chars().any(char::is_control));
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let body = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(Strict::check(body.as_bytes()).is_err());
    }
}
