//! Webhook bodies parsed strictly: a JSON object that names the same key twice, at any depth, is
//! refused.
//!
//! `serde_json` keeps the last of two equal keys (and a typed struct ignores a repeated field it
//! does not read), while other parsers (a platform's own, a log pipeline, a person reading the
//! body) may keep the first. The signed body would then mean two things, so
//! `{"amount": "1.00", "amount": "9999.00"}` is a 400 naming the key's path, not a guess. The
//! check has two gears. The quick one ([`quick`]) is one pass over the bytes that follows the
//! JSON grammar and compares each object's raw keys; it passes only a body it is sure of (UTF-8,
//! well-formed, no duplicate key, no key with an escape, no exponent, shallow nesting) and hands
//! everything else to the full check ([`Strict::check_fully`]): one streaming pass through
//! serde_json's own parser that builds nothing but each object's key list (keys borrowed from the
//! body), with serde_json's nesting limit of 128. Every refusal, and its message, therefore comes
//! from serde_json and the full check; the quick pass only spares a valid body the parse of every
//! value. That it never passes a body the full check refuses is a property test below and an
//! assertion of every webhook fuzz target. Only a body that passes is handed to a normalizer, as
//! a [`Strict`] body (valid UTF-8, so it deserializes as `str` with no second validation of its
//! strings), which then reads the few fields it needs ([`crate::fields`]).

use std::borrow::Cow;
use std::collections::HashSet;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::fields::{display_key, BadField, Key, Node};

/// A body that is one JSON value without a duplicate key anywhere.
#[derive(Clone, Copy, Debug)]
pub struct Strict<'a>(&'a str);

impl<'a> Strict<'a> {
    /// Checks a body, or says where it is malformed (the path of a duplicate key).
    pub fn check(body: &'a [u8]) -> Result<Self, BadField> {
        match std::str::from_utf8(body) {
            Ok(text) if quick(text) => Ok(Strict(text)),
            _ => Self::check_fully(body),
        }
    }

    /// The full check (the reference the quick pass is held to): serde_json parses every value
    /// and each object's keys are compared.
    pub fn check_fully(body: &'a [u8]) -> Result<Self, BadField> {
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
            // serde_json checked every string; everything between them is ASCII.
            (Ok(()), None) => std::str::from_utf8(body)
                .map(Strict)
                .map_err(|_| BadField::new("body", "malformed JSON: invalid UTF-8")),
            (Err(e), None) => Err(malformed(&e)),
        }
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.0.as_bytes()
    }

    /// The fields `T` reads from the body's top-level object (a body that is not an object has
    /// none of them). `T` is built from [`crate::fields`]' lenient parts, which accept any JSON
    /// in their place, so this fails only if `T` does not (a bug, reported as the body).
    pub fn parse<T: Deserialize<'a> + Default>(&self) -> Result<T, BadField> {
        serde_json::from_str::<Node<T>>(self.0)
            .map(Node::into_fields)
            .map_err(|e| malformed(&e))
    }

    /// The body as `T` deserializes it, for a `T` that reads the top level itself.
    pub fn parse_whole<T: Deserialize<'a>>(&self) -> Result<T, BadField> {
        serde_json::from_str(self.0).map_err(|e| malformed(&e))
    }
}

fn malformed(e: &serde_json::Error) -> BadField {
    BadField::new("body", format!("malformed JSON: {e}"))
}

/// Nesting the quick pass follows; deeper bodies go to the full check (serde_json's limit is 128).
const QUICK_DEPTH: usize = 64;
/// Digits in a number the quick pass takes (serde_json reads any number as an `f64` at worst,
/// and refuses one past its range: that is the full check's to say).
const QUICK_DIGITS: usize = 300;

/// Whether `body` is, for sure, one JSON value (RFC 8259, as serde_json reads it) with no
/// duplicate key: `false` means "ask the full check", never "refused". Keys are compared as raw
/// bytes, so a key with an escape (which could equal another spelled differently) is not taken;
/// nor is a `\u` escape of a surrogate (serde_json refuses a lone one), a number with an exponent
/// or past [`QUICK_DIGITS`] digits, or nesting past [`QUICK_DEPTH`].
pub(crate) fn quick(body: &str) -> bool {
    let body = body.as_bytes();
    let mut scan = Scan {
        bytes: body,
        at: 0,
        keys: Vec::new(),
        prints: Vec::new(),
    };
    scan.value(0) && {
        scan.whitespace();
        scan.at == body.len()
    }
}

struct Scan<'b> {
    bytes: &'b [u8],
    at: usize,
    /// The keys of the objects being scanned, outermost first (as [`Checker::keys`]).
    keys: Vec<&'b [u8]>,
    /// Each key's [`fingerprint`], beside it: keys are compared only when these are equal.
    prints: Vec<u64>,
}

impl<'b> Scan<'b> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn bump(&mut self) {
        self.at = self.at.saturating_add(1);
    }

    fn eat(&mut self, byte: u8) -> bool {
        let matched = self.peek() == Some(byte);
        if matched {
            self.bump();
        }
        matched
    }

    fn whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\t' | b'\r')) {
            self.bump();
        }
    }

    fn value(&mut self, depth: usize) -> bool {
        self.whitespace();
        match self.peek() {
            Some(b'{') if depth < QUICK_DEPTH => self.object(depth.saturating_add(1)),
            Some(b'[') if depth < QUICK_DEPTH => self.array(depth.saturating_add(1)),
            Some(b'"') => self.string().is_some(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => false,
        }
    }

    fn literal(&mut self, word: &[u8]) -> bool {
        let end = self.at.saturating_add(word.len());
        if self.bytes.get(self.at..end) == Some(word) {
            self.at = end;
            true
        } else {
            false
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.bump();
        }
        self.at.saturating_sub(start)
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?`; an exponent is the full check's.
    fn number(&mut self) -> bool {
        self.eat(b'-');
        let integer = match self.peek() {
            Some(b'0') => {
                self.bump();
                1
            }
            Some(b'1'..=b'9') => self.digits(),
            _ => return false,
        };
        let fraction = if self.eat(b'.') {
            match self.digits() {
                0 => return false,
                n => n,
            }
        } else {
            0
        };
        !matches!(self.peek(), Some(b'e' | b'E' | b'0'..=b'9'))
            && integer.saturating_add(fraction) <= QUICK_DIGITS
    }

    /// A string's raw bytes between its quotes, and whether it had an escape; `None` if it is
    /// not one the quick pass is sure of.
    fn string(&mut self) -> Option<(&'b [u8], bool)> {
        if !self.eat(b'"') {
            return None;
        }
        let start = self.at;
        let mut escaped = false;
        loop {
            let rest = self.bytes.get(self.at..)?;
            self.at = self.at.saturating_add(string_stop(rest)?);
            match self.peek()? {
                b'"' => {
                    let raw = self.bytes.get(start..self.at)?;
                    self.bump();
                    return Some((raw, escaped));
                }
                b'\\' => {
                    escaped = true;
                    self.bump();
                    match self.peek()? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.bump(),
                        b'u' => {
                            self.bump();
                            let end = self.at.saturating_add(4);
                            let hex = self.bytes.get(self.at..end)?;
                            let hex = std::str::from_utf8(hex).ok()?;
                            let code = u16::from_str_radix(hex, 16).ok()?;
                            if hex.starts_with(['+', '-']) || (0xD800..=0xDFFF).contains(&code) {
                                return None;
                            }
                            self.at = end;
                        }
                        _ => return None,
                    }
                }
                _ => return None, // a control character
            }
        }
    }

    fn array(&mut self, depth: usize) -> bool {
        self.bump(); // [
        self.whitespace();
        if self.eat(b']') {
            return true;
        }
        loop {
            if !self.value(depth) {
                return false;
            }
            self.whitespace();
            if self.eat(b']') {
                return true;
            }
            if !self.eat(b',') {
                return false;
            }
        }
    }

    fn object(&mut self, depth: usize) -> bool {
        self.bump(); // {
        let start = self.keys.len();
        self.whitespace();
        if self.eat(b'}') {
            return true;
        }
        loop {
            self.whitespace();
            let Some((key, false)) = self.string() else {
                return false;
            };
            let print = fingerprint(key);
            let ours = self.prints.get(start..).unwrap_or_default();
            // Linear while small (a payload's objects are); a big object goes to the full check.
            if ours.len() >= LINEAR_KEYS
                || ours
                    .iter()
                    .zip(self.keys.get(start..).unwrap_or_default())
                    .any(|(&other_print, &other)| other_print == print && other == key)
            {
                return false;
            }
            self.keys.push(key);
            self.prints.push(print);
            self.whitespace();
            if !self.eat(b':') || !self.value(depth) {
                return false;
            }
            self.whitespace();
            if self.eat(b'}') {
                self.keys.truncate(start);
                self.prints.truncate(start);
                return true;
            }
            if !self.eat(b',') {
                return false;
            }
        }
    }
}

/// Where the string text in `rest` stops: at its closing quote, a backslash or a control
/// character (`None` when the body ends first). Eight bytes at a time: a payload is mostly
/// string text, and this is the quick pass's inner loop.
fn string_stop(rest: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const QUOTES: u64 = u64::from_ne_bytes([b'"'; 8]);
    const BACKSLASHES: u64 = u64::from_ne_bytes([b'\\'; 8]);
    const SPACES: u64 = u64::from_ne_bytes([0x20; 8]);
    // The high bit of each byte of `x` that is zero (exact for the lowest such byte, which is
    // the only one used: the chunk is then searched byte by byte).
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut chunks = rest.chunks_exact(8);
    let mut offset = 0usize;
    for chunk in chunks.by_ref() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_ne_bytes(word);
        // Bytes below 0x20: `x - 0x20` borrows into the high bit where `x` had none.
        let control = x.wrapping_sub(SPACES) & !x & HIGHS;
        if zero(x ^ QUOTES) | zero(x ^ BACKSLASHES) | control != 0 {
            break;
        }
        offset = offset.saturating_add(8);
    }
    rest.get(offset..)?
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .map(|at| offset.saturating_add(at))
}

/// A cheap summary of a key (its length and up to eight of its bytes, first and last): two keys
/// with different fingerprints differ, so most comparisons of an object's keys are one `u64`.
fn fingerprint(key: &[u8]) -> u64 {
    let mut head = [0u8; 4];
    let mut tail = [0u8; 4];
    for (to, from) in head.iter_mut().zip(key) {
        *to = *from;
    }
    for (to, from) in tail.iter_mut().rev().zip(key.iter().rev()) {
        *to = *from;
    }
    let bytes =
        u64::from(u32::from_ne_bytes(head)) | u64::from(u32::from_ne_bytes(tail)).rotate_left(32);
    bytes ^ (key.len() as u64).rotate_left(56)
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

    /// The documented payloads take the quick pass (or it would spare nothing).
    #[test]
    fn the_platforms_documented_payloads_take_the_quick_pass() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/webhooks");
        let mut seen = 0;
        for platform in ["shopify", "stripe", "woocommerce"] {
            for entry in std::fs::read_dir(format!("{root}/{platform}")).expect("fixtures") {
                let path = entry.expect("an entry").path();
                let body = std::fs::read_to_string(&path).expect("a fixture");
                assert!(quick(&body), "{}", path.display());
                seen += 1;
            }
        }
        assert!(seen >= 8, "{seen}");
    }

    #[test]
    fn the_quick_pass_leaves_every_doubt_to_the_full_check() {
        for body in [
            r#"{"a":1,"a":2}"#,      // a duplicate
            r#"{"a":1,"\u0061":2}"#, // a key with an escape
            r#"{"a":1e400}"#,        // an exponent
            r#"{"a":"\ud800"}"#,     // a lone surrogate
            r#"{"a":01}"#,
            r#"{"a":1,}"#,
            r#"[1,]"#,
            "{\"a\":\"\u{1}\"}", // a control character
            "\u{feff}{}",        // a byte-order mark
            "",
            "{} x",
        ] {
            assert!(!quick(body), "{body}");
        }
        let deep = format!(
            "{}{}",
            "[".repeat(QUICK_DEPTH + 1),
            "]".repeat(QUICK_DEPTH + 1)
        );
        assert!(!quick(&deep));
        assert!(
            Strict::check(deep.as_bytes()).is_ok(),
            "the full check still takes it"
        );
        for body in [
            r#"{"a":[1,-0.5,true,null,"x\n\u00e9"],"b":{"a":{}}}"#,
            " 7 ",
            r#""s""#,
        ] {
            assert!(quick(body), "{body}");
        }
    }

    mod quick_pass {
        use super::super::*;
        use proptest::prelude::*;

        fn json() -> impl Strategy<Value = serde_json::Value> {
            let leaf = prop_oneof![
                Just(serde_json::Value::Null),
                any::<bool>().prop_map(serde_json::Value::from),
                any::<i64>().prop_map(serde_json::Value::from),
                (-1e6f64..1e6).prop_map(serde_json::Value::from),
                "[a-z\\\\\"\u{e9}\u{1}\n]{0,6}".prop_map(serde_json::Value::from),
                // Past the eight bytes the string scan takes at a time.
                "[a-z \u{e9}]{6,30}[\\\\\"\u{1}\n]?[a-z]{0,12}".prop_map(serde_json::Value::from),
            ];
            leaf.prop_recursive(5, 48, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::from),
                    prop::collection::vec(("[a-d\"]{0,2}|[a-c]{5,12}", inner), 0..5).prop_map(
                        |pairs| { serde_json::Value::Object(pairs.into_iter().collect()) }
                    ),
                ]
            })
        }

        /// A body made from a JSON text by a few edits with JSON's own bytes, so that many are
        /// almost valid: a key repeated, a comma or bracket lost or added, a quote moved.
        fn body() -> impl Strategy<Value = Vec<u8>> {
            let edit = (
                any::<prop::sample::Index>(),
                0..4u8,
                prop::sample::select(b"{}[],:\"\\ 0-.e1a\xff".to_vec()),
            );
            (json(), prop::collection::vec(edit, 0..3), any::<bool>()).prop_map(
                |(value, edits, repeat)| {
                    let mut text = value.to_string();
                    if repeat {
                        // {"k":v,...} -> {"k":v,"k":v,...}: the first member, twice.
                        if let (Some(0), Some(end)) = (text.find('{'), text.find(',')) {
                            let member = text[1..end].to_string();
                            text.insert_str(1, &format!("{member},"));
                        }
                    }
                    let mut bytes = text.into_bytes();
                    for (at, op, byte) in edits {
                        let i = at.index(bytes.len() + 1);
                        match op {
                            0 => bytes.insert(i, byte),
                            1 if i < bytes.len() => {
                                bytes.remove(i);
                            }
                            2 if i < bytes.len() => bytes[i] = byte,
                            _ => {}
                        }
                    }
                    bytes
                },
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(4000))]

            /// The quick pass never takes a body the full check refuses; and a serialized value
            /// without escaped keys or exponents is taken (so the pass is not just `false`).
            #[test]
            fn never_takes_what_the_full_check_refuses(body in body()) {
                if std::str::from_utf8(&body).is_ok_and(quick) {
                    prop_assert!(Strict::check_fully(&body).is_ok(), "{}", String::from_utf8_lossy(&body));
                }
                prop_assert_eq!(
                    Strict::check(&body).map(|s| s.bytes().to_vec()),
                    Strict::check_fully(&body).map(|s| s.bytes().to_vec())
                );
            }

            /// The string scan stops where a byte-by-byte search does, whatever the bytes.
            #[test]
            fn string_stop_is_the_first_quote_backslash_or_control(
                bytes in prop::collection::vec(prop_oneof![3 => 0x20u8..0x7f, 1 => any::<u8>()], 0..48)
            ) {
                let reference = bytes.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20);
                prop_assert_eq!(string_stop(&bytes), reference);
            }

            #[test]
            fn takes_plain_json(value in json()) {
                let text = value.to_string();
                let plain = !text.contains("\\") && !text.contains(['e', 'E']);
                if plain {
                    prop_assert!(quick(&text), "{}", text);
                }
            }
        }
    }
}
