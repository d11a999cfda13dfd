//! Webhook bodies parsed strictly: a JSON object that names the same key twice, at any depth, is
//! refused.
//!
//! `serde_json::Value` keeps the last of two equal keys, while other parsers (a platform's own,
//! a log pipeline, a person reading the body) may keep the first. The signed body would then mean
//! two things, so `{"amount": "1.00", "amount": "9999.00"}` is a 400 naming the key's path, not a
//! guess. The value is built here through serde's visitor (one pass, serde_json's own nesting
//! limit of 128 applies), so it equals what `serde_json::from_slice` gives for every body without
//! duplicates.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::fields::{display_key, BadField};

/// Parses a body as JSON, or says where it is malformed (the path of a duplicate key).
pub fn parse_json(body: &[u8]) -> Result<Value, BadField> {
    let mut path = Vec::new();
    let mut duplicate = None;
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed = Strict {
        path: &mut path,
        duplicate: &mut duplicate,
    }
    .deserialize(&mut deserializer)
    .and_then(|value| deserializer.end().map(|()| value));
    match (parsed, duplicate) {
        (_, Some(path)) => Err(BadField::new(&path, "duplicate key")),
        (Ok(value), None) => Ok(value),
        (Err(e), None) => Err(BadField::new("body", format!("malformed JSON: {e}"))),
    }
}

enum Segment {
    Key(String),
    Index(usize),
}

/// `data.object.lines[2].amount`, each key shortened and made printable ([`display_key`]).
fn render(path: &[Segment], last: &str) -> String {
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

/// Builds a [`Value`], remembering where it is; the first duplicate key stops the parse.
struct Strict<'a> {
    path: &'a mut Vec<Segment>,
    duplicate: &'a mut Option<String>,
}

impl Strict<'_> {
    fn child(&mut self) -> Strict<'_> {
        Strict {
            path: &mut *self.path,
            duplicate: &mut *self.duplicate,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // As `serde_json::Value` does (JSON text cannot spell a NaN or an infinity).
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            self.path.push(Segment::Index(items.len()));
            let next = seq.next_element_seed(self.child());
            self.path.pop();
            match next? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                *self.duplicate = Some(render(self.path, &key));
                return Err(de::Error::custom("duplicate key"));
            }
            self.path.push(Segment::Key(key.clone()));
            let value = map.next_value_seed(self.child());
            self.path.pop();
            object.insert(key, value?);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn duplicate_at(body: &str) -> Option<String> {
        match parse_json(body.as_bytes()) {
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
    fn equal_keys_in_different_objects_are_fine_and_the_value_matches_serde_json() {
        let body = r#"{"a":{"id":1},"b":{"id":2},"c":[{"id":3},{"id":4}],"n":-1.5e3,"u":18446744073709551615,"z":null}"#;
        let strict = parse_json(body.as_bytes()).expect("valid");
        let plain: Value = serde_json::from_str(body).expect("valid");
        assert_eq!(strict, plain);
    }

    #[test]
    fn malformed_json_is_refused_as_the_body() {
        for body in ["", "{", "{\"a\":1} x", "[1,]", "\"\\ud800\""] {
            let err = parse_json(body.as_bytes()).expect_err(body);
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
        assert!(parse_json(body.as_bytes()).is_err());
    }
}
