//! The fields a normalizer reads, deserialized into its own typed structs, with errors that name
//! the field.
//!
//! Platform payloads are large, versioned and full of fields we never read. Each platform file
//! declares only the fields it reads (structs of [`Leaf`], [`Node`], [`List`] and [`Searched`]);
//! everything else in the body is skipped by the parser, never built. Strings borrow from the
//! body unless they carry escapes. The building blocks accept any JSON at their place, so the
//! deserialization itself never refuses a (strict, [`crate::json`]) body: each field is checked
//! when the normalizer reads it, in the order it reads them, and a missing or mistyped one
//! answers 400 naming exactly that field (its path is rendered only then, from an [`At`]).
//!
//! Every reader also applies the domain's bounds (`linkledger_core::limits`), so a value outside
//! them is refused here, at the edge, and never reaches the queue: ids and codes are short
//! visible ASCII (nothing is trimmed: `" 1001"` is refused, not repaired), amounts are exact
//! decimals (or Stripe's integers) within ±`MAX_AMOUNT_MINOR`, timestamps lie between
//! 2000-01-01 and a day after now, lists hold at most `MAX_LIST_LEN` items. A reason never echoes
//! the value.
//!
//! A path goes down through objects only: a field under a value that is not an object (a string,
//! an array) is absent, as is a field that is `null`.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Number;
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::{OffsetDateTime, PrimitiveDateTime};

use linkledger_core::limits::{self, LimitError};
use linkledger_core::money::{Currency, Money, MoneyError};

/// A field that is missing or not what the platform documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadField {
    pub path: String,
    pub reason: String,
}

impl BadField {
    pub fn new(path: &str, reason: impl Into<String>) -> Self {
        Self {
            path: path.to_string(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for BadField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

/// A key from a payload as it may appear in an error: at most 64 characters, anything but
/// visible ASCII shown as `?` (a key is the sender's text; it must not forge a log line).
pub fn display_key(key: &str) -> String {
    let mut shown: String = key
        .chars()
        .take(64)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect();
    if key.chars().nth(64).is_some() {
        shown.push('…');
    }
    shown
}

/// Why an amount was refused, without echoing it.
fn money_reason(err: MoneyError) -> String {
    match err {
        MoneyError::TooManyDecimals {
            currency, exponent, ..
        } => format!("has more than {exponent} decimals for {currency}"),
        MoneyError::TooLarge | MoneyError::Overflow => LimitError::AmountTooLarge.to_string(),
        MoneyError::Negative => LimitError::Negative.to_string(),
        MoneyError::CurrencyMismatch { .. } => "mixes currencies".to_string(),
        _ => "must be a decimal string such as \"19.99\" (no spaces, signs other than -, or exponents)"
            .to_string(),
    }
}

/// Where a field sits in the body (`data.object.lines[2].amount`): a chain of our own key names
/// (a key may be a dotted run, `shop_money.amount`) and indices, rendered only for an error.
#[derive(Clone, Copy, Debug)]
pub enum At<'p> {
    Root,
    Key(&'p At<'p>, &'p str),
    Index(&'p At<'p>, usize),
}

impl<'p> At<'p> {
    pub fn key(&'p self, key: &'p str) -> At<'p> {
        At::Key(self, key)
    }

    pub fn index(&'p self, index: usize) -> At<'p> {
        At::Index(self, index)
    }

    pub fn render(&self) -> String {
        let mut text = String::new();
        self.render_into(&mut text);
        text
    }

    fn render_into(&self, text: &mut String) {
        match self {
            At::Root => {}
            At::Key(parent, key) => {
                parent.render_into(text);
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(key);
            }
            At::Index(parent, index) => {
                parent.render_into(text);
                text.push('[');
                text.push_str(&index.to_string());
                text.push(']');
            }
        }
    }

    pub fn bad(&self, reason: impl Into<String>) -> BadField {
        BadField {
            path: self.render(),
            reason: reason.into(),
        }
    }

    fn limit(&self, err: LimitError) -> BadField {
        self.bad(err.to_string())
    }
}

/// The body itself, where every path starts.
pub static ROOT: At<'static> = At::Root;

/// A scalar field as the body has it: absent (or `null`), or a value of any JSON type (an object
/// or array in its place is skipped, and refused when read).
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Leaf<'a> {
    #[default]
    Absent,
    Bool(bool),
    Number(Number),
    Str(Cow<'a, str>),
    /// An object or an array.
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Leaf<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LeafVisitor(PhantomData))
    }
}

struct LeafVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for LeafVisitor<'a> {
    type Value = Leaf<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Leaf<'a>, E> {
        Ok(Leaf::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Leaf<'a>, E> {
        Ok(Leaf::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Leaf<'a>, E> {
        Ok(Leaf::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Leaf<'a>, E> {
        // As `serde_json::Value` does (JSON text cannot spell a NaN or an infinity).
        Ok(Number::from_f64(v).map_or(Leaf::Absent, Leaf::Number))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Leaf<'a>, E> {
        Ok(Leaf::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Leaf<'a>, E> {
        Ok(Leaf::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Leaf<'a>, E> {
        Ok(Leaf::Str(Cow::Owned(v)))
    }

    fn visit_unit<E>(self) -> Result<Leaf<'a>, E> {
        Ok(Leaf::Absent)
    }

    fn visit_none<E>(self) -> Result<Leaf<'a>, E> {
        Ok(Leaf::Absent)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Leaf<'a>, D::Error> {
        Leaf::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Leaf<'a>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Leaf::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Leaf<'a>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Leaf::Other)
    }
}

impl<'a> Leaf<'a> {
    pub const ABSENT: Leaf<'static> = Leaf::Absent;

    pub fn is_present(&self) -> bool {
        !matches!(self, Leaf::Absent)
    }

    /// A string, unchecked: only for values compared with constants (statuses, reasons, the
    /// click parameter's name) or parsed further (a landing URL).
    pub fn opt_str(&self, at: &At<'_>) -> Result<Option<&str>, BadField> {
        match self {
            Leaf::Absent => Ok(None),
            Leaf::Str(s) => Ok(Some(s)),
            _ => Err(at.bad("must be a string")),
        }
    }

    pub fn str(&self, at: &At<'_>) -> Result<&str, BadField> {
        self.opt_str(at)?.ok_or_else(|| at.bad("is required"))
    }

    /// An external id ([`limits::check_id`]), a string or a non-negative integer (Shopify and
    /// WooCommerce send numeric ids), as text.
    pub fn id(&self, at: &At<'_>) -> Result<String, BadField> {
        match self {
            Leaf::Str(s) => limits::check_id(s)
                .map(str::to_string)
                .map_err(|e| at.limit(e)),
            Leaf::Number(n) if n.is_u64() => Ok(n.to_string()),
            Leaf::Absent => Err(at.bad("is required")),
            _ => Err(at.bad("must be an id (a string or a non-negative integer)")),
        }
    }

    pub fn opt_id(&self, at: &At<'_>) -> Result<Option<String>, BadField> {
        match self {
            Leaf::Absent => Ok(None),
            _ => self.id(at).map(Some),
        }
    }

    /// A string id that must be a string ([`limits::check_id`]).
    pub fn str_id(&self, at: &At<'_>) -> Result<String, BadField> {
        let text = self.str(at)?;
        limits::check_id(text)
            .map(str::to_string)
            .map_err(|e| at.limit(e))
    }

    pub fn opt_str_id(&self, at: &At<'_>) -> Result<Option<String>, BadField> {
        match self {
            Leaf::Absent => Ok(None),
            _ => self.str_id(at).map(Some),
        }
    }

    /// A SKU as the merchant typed it, when it is a product key
    /// ([`limits::check_product_key`]: spaces allowed); `""` (a variant or product without a
    /// SKU) is none. One outside the bound (longer, or with a tab pasted from a spreadsheet) is
    /// dropped, not refused: no plan override can name it, and a real order must never be
    /// refused for its SKU (the line earns the creator's rate).
    pub fn sku(&self, at: &At<'_>) -> Result<Option<String>, BadField> {
        Ok(match self.opt_str(at)? {
            Some("") | None => None,
            Some(text) => limits::check_product_key(text).ok().map(str::to_string),
        })
    }

    /// A promo code as the order carries it ([`limits::check_code`]).
    pub fn opt_code(&self, at: &At<'_>) -> Result<Option<String>, BadField> {
        match self.opt_str(at)? {
            None => Ok(None),
            Some(code) => limits::check_code(code)
                .map(|c| Some(c.to_string()))
                .map_err(|e| at.limit(e)),
        }
    }

    /// An attribution hint in a platform's order: a click id ([`limits::check_id`]) or, with
    /// `code`, a coupon ([`limits::check_code`]). The shopper writes these (a landing URL's
    /// query, a cart attribute) or the shop lets its own codes through, so one that fails the
    /// check is dropped, not refused: it can never name a click or a promo code of ours (those
    /// are visible ASCII), and refusing would let anyone with a crafted link make a real order
    /// unbookable (and the platform give up on the webhook). What is carried is always checked.
    pub fn opt_hint(&self, at: &At<'_>, code: bool) -> Result<Option<String>, BadField> {
        let check = if code {
            limits::check_code
        } else {
            limits::check_id
        };
        Ok(self
            .opt_str(at)?
            .filter(|text| check(text).is_ok())
            .map(str::to_string))
    }

    /// Free text such as an e-mail address ([`limits::check_text`]).
    pub fn opt_text(&self, at: &At<'_>) -> Result<Option<&str>, BadField> {
        match self.opt_str(at)? {
            None => Ok(None),
            Some(text) => limits::check_text(text).map(Some).map_err(|e| at.limit(e)),
        }
    }

    pub fn int(&self, at: &At<'_>) -> Result<i64, BadField> {
        match self {
            Leaf::Number(n) => n.as_i64().ok_or_else(|| at.bad("must be an integer")),
            Leaf::Absent => Err(at.bad("is required")),
            _ => Err(at.bad("must be an integer")),
        }
    }

    /// A quantity: `0..=u32::MAX`.
    pub fn quantity(&self, at: &At<'_>) -> Result<u32, BadField> {
        u32::try_from(self.int(at)?)
            .map_err(|_| at.bad("must be a non-negative integer below 2^32"))
    }

    /// An ISO 4217 code, in either case (Stripe writes `usd`).
    pub fn currency(&self, at: &At<'_>) -> Result<Currency, BadField> {
        let code = self.str(at)?;
        Currency::parse(&code.to_ascii_uppercase())
            .map_err(|_| at.bad("must be an ISO 4217 currency code with a minor unit, such as USD"))
    }

    /// A decimal string amount (never a float, never trimmed) within ±`MAX_AMOUNT_MINOR`.
    pub fn money(&self, at: &At<'_>, currency: Currency) -> Result<Money, BadField> {
        Money::parse_amount(self.str(at)?, currency).map_err(|e| at.bad(money_reason(e)))
    }

    /// An integer amount in minor units (Stripe) within ±`MAX_AMOUNT_MINOR`.
    pub fn minor(&self, at: &At<'_>, currency: Currency) -> Result<Money, BadField> {
        Money::bounded(self.int(at)?, currency).map_err(|e| at.bad(money_reason(e)))
    }

    /// [`Leaf::money`] that must not be negative (a total, a line, a refund).
    pub fn amount(&self, at: &At<'_>, currency: Currency) -> Result<Money, BadField> {
        non_negative(at, self.money(at, currency)?)
    }

    /// [`Leaf::minor`] that must not be negative.
    pub fn amount_minor(&self, at: &At<'_>, currency: Currency) -> Result<Money, BadField> {
        non_negative(at, self.minor(at, currency)?)
    }

    /// [`Leaf::amount_minor`], zero when absent.
    pub fn opt_amount_minor(&self, at: &At<'_>, currency: Currency) -> Result<Money, BadField> {
        match self {
            Leaf::Absent => Ok(Money::zero(currency)),
            _ => self.amount_minor(at, currency),
        }
    }

    /// An RFC 3339 date-time inside the timestamp window.
    pub fn rfc3339(&self, at: &At<'_>, now: OffsetDateTime) -> Result<OffsetDateTime, BadField> {
        let time = OffsetDateTime::parse(self.str(at)?, &Rfc3339)
            .map_err(|_| at.bad("must be an RFC 3339 date-time"))?;
        limits::check_timestamp(time, now).map_err(|e| at.limit(e))
    }

    /// Unix seconds inside the timestamp window.
    pub fn unix(&self, at: &At<'_>, now: OffsetDateTime) -> Result<OffsetDateTime, BadField> {
        limits::check_unix_seconds(self.int(at)?, now).map_err(|e| at.limit(e))
    }

    /// A date-time without offset, taken as UTC (WooCommerce's `*_gmt`), inside the window.
    pub fn naive_utc(&self, at: &At<'_>, now: OffsetDateTime) -> Result<OffsetDateTime, BadField> {
        let time = PrimitiveDateTime::parse(self.str(at)?, &Iso8601::DEFAULT)
            .map(PrimitiveDateTime::assume_utc)
            .map_err(|_| at.bad("must be a date-time such as 2026-07-14T14:21:07"))?;
        limits::check_timestamp(time, now).map_err(|e| at.limit(e))
    }
}

/// What sat where an object was expected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Shape {
    #[default]
    Absent,
    Object,
    Array,
    Other,
}

/// A nested object of the fields `T` reads. Anything else in its place (absent, `null`, a
/// string, an array) reads as an object without fields, so a field below it is absent, as a
/// path lookup would find; [`Node::object`] tells them apart where an object is required.
#[derive(Clone, Debug, Default)]
pub struct Node<T> {
    shape: Shape,
    node_fields: T,
}

impl<T> Node<T> {
    /// There is a value here (not absent, not `null`).
    pub fn is_present(&self) -> bool {
        self.shape != Shape::Absent
    }

    /// The fields read (all absent unless it is an object).
    pub fn into_fields(self) -> T {
        self.node_fields
    }

    /// The fields of a required object.
    pub fn object(&self, at: &At<'_>) -> Result<&T, BadField> {
        match self.shape {
            Shape::Object => Ok(&self.node_fields),
            Shape::Absent => Err(at.bad("is required")),
            Shape::Array | Shape::Other => Err(at.bad("must be an object")),
        }
    }
}

impl<T> Deref for Node<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.node_fields
    }
}

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for Node<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor(PhantomData))
    }
}

struct NodeVisitor<T>(PhantomData<T>);

impl<T: Default> NodeVisitor<T> {
    fn other<E>(self) -> Result<Node<T>, E> {
        Ok(Node {
            shape: Shape::Other,
            node_fields: T::default(),
        })
    }
}

impl<'de, T: Deserialize<'de> + Default> Visitor<'de> for NodeVisitor<T> {
    type Value = Node<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Node<T>, A::Error> {
        Ok(Node {
            shape: Shape::Object,
            node_fields: T::deserialize(MapAccessDeserializer::new(map))?,
        })
    }

    fn visit_unit<E>(self) -> Result<Node<T>, E> {
        Ok(Node::default())
    }

    fn visit_none<E>(self) -> Result<Node<T>, E> {
        Ok(Node::default())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node<T>, D::Error> {
        Node::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<T>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        self.other()
    }

    fn visit_bool<E>(self, _: bool) -> Result<Node<T>, E> {
        self.other()
    }

    fn visit_i64<E>(self, _: i64) -> Result<Node<T>, E> {
        self.other()
    }

    fn visit_u64<E>(self, _: u64) -> Result<Node<T>, E> {
        self.other()
    }

    fn visit_f64<E>(self, _: f64) -> Result<Node<T>, E> {
        self.other()
    }

    fn visit_str<E>(self, _: &str) -> Result<Node<T>, E> {
        self.other()
    }
}

/// An array of objects of the fields `T` reads, at most [`limits::MAX_LIST_LEN`] long: a
/// longer one is refused when read, so only its length is kept past the limit.
#[derive(Clone, Debug, Default)]
pub struct List<T>(Items<T, true>);

/// An array we only search for one entry (WooCommerce's `meta_data`, Shopify's
/// `note_attributes`): not bounded by the list limit, since nothing of it is carried but the
/// entry found (the body limit bounds it); a shop with many meta entries is not refused.
#[derive(Clone, Debug, Default)]
pub struct Searched<T>(Items<T, false>);

impl<T> List<T> {
    /// The items (absent: none).
    pub fn items(&self, at: &At<'_>) -> Result<&[Node<T>], BadField> {
        if let Shape::Array = self.0.shape {
            limits::check_list_len(self.0.len).map_err(|e| at.limit(e))?;
        }
        self.0.items(at)
    }
}

impl<T> Searched<T> {
    /// The items (absent: none).
    pub fn items(&self, at: &At<'_>) -> Result<&[Node<T>], BadField> {
        self.0.items(at)
    }
}

/// The elements of an array, each an object of `T`'s fields (or read as one, [`Node`]). `BOUNDED` keeps at most `MAX_LIST_LEN` of them.
#[derive(Clone, Debug, Default)]
struct Items<T, const BOUNDED: bool> {
    shape: Shape,
    len: usize,
    items: Vec<Node<T>>,
}

impl<T, const BOUNDED: bool> Items<T, BOUNDED> {
    fn items(&self, at: &At<'_>) -> Result<&[Node<T>], BadField> {
        match self.shape {
            Shape::Absent | Shape::Array => Ok(&self.items),
            Shape::Object | Shape::Other => Err(at.bad("must be an array")),
        }
    }
}

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(ItemsVisitor(PhantomData))
            .map(List)
    }
}

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for Searched<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(ItemsVisitor(PhantomData))
            .map(Searched)
    }
}

struct ItemsVisitor<T, const BOUNDED: bool>(PhantomData<T>);

impl<T, const BOUNDED: bool> ItemsVisitor<T, BOUNDED> {
    fn other<E>(self) -> Result<Items<T, BOUNDED>, E> {
        Ok(Items {
            shape: Shape::Other,
            len: 0,
            items: Vec::new(),
        })
    }
}

impl<'de, T: Deserialize<'de> + Default, const BOUNDED: bool> Visitor<'de>
    for ItemsVisitor<T, BOUNDED>
{
    type Value = Items<T, BOUNDED>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        let mut len = 0usize;
        loop {
            if BOUNDED && items.len() >= limits::MAX_LIST_LEN {
                // Past the limit the list is refused: count the rest, build none of it.
                match seq.next_element::<IgnoredAny>()? {
                    Some(_) => len = len.saturating_add(1),
                    None => break,
                }
            } else {
                match seq.next_element::<Node<T>>()? {
                    Some(item) => {
                        items.push(item);
                        len = len.saturating_add(1);
                    }
                    None => break,
                }
            }
        }
        Ok(Items {
            shape: Shape::Array,
            len,
            items,
        })
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Items::default_absent())
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Items::default_absent())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        self.other()
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        self.other()
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        self.other()
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        self.other()
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        self.other()
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        self.other()
    }
}

impl<T, const BOUNDED: bool> Items<T, BOUNDED> {
    fn default_absent() -> Self {
        Items {
            shape: Shape::Absent,
            len: 0,
            items: Vec::new(),
        }
    }
}

/// An object read by key at run time (Stripe's `metadata`, keyed by the program's click
/// parameter): its entries, each value a [`Leaf`].
#[derive(Clone, Debug, Default)]
pub struct Entries<'a>(Vec<(Cow<'a, str>, Leaf<'a>)>);

impl<'a> Entries<'a> {
    pub fn get(&self, key: &str) -> &Leaf<'a> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map_or(&Leaf::ABSENT, |(_, v)| v)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Entries<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EntriesVisitor(PhantomData))
    }
}

struct EntriesVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for EntriesVisitor<'a> {
    type Value = Entries<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries<'a>, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<Key<'a>, Leaf<'a>>()? {
            entries.push((entry.0 .0, entry.1));
        }
        Ok(Entries(entries))
    }
}

/// An object key, borrowed from the body unless it has escapes.
pub struct Key<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Leaf::deserialize(deserializer)? {
            Leaf::Str(key) => Ok(Key(key)),
            _ => Err(serde::de::Error::custom("a key must be a string")),
        }
    }
}

/// `amount` if it is not negative (a sale's net, a line, a refund total).
fn non_negative(at: &At<'_>, amount: Money) -> Result<Money, BadField> {
    if amount.is_negative() {
        Err(at.limit(LimitError::Negative))
    } else {
        Ok(amount)
    }
}

/// The sum of bounded amounts, itself within ±`MAX_AMOUNT_MINOR` (refused naming `path`).
pub fn sum(
    amounts: impl IntoIterator<Item = Result<Money, BadField>>,
    currency: Currency,
    path: &str,
) -> Result<Money, BadField> {
    let total = amounts
        .into_iter()
        .try_fold(Money::zero(currency), |total, m| {
            total
                .checked_add(m?)
                .map_err(|e| BadField::new(path, money_reason(e)))
        })?;
    bounded(path, total)
}

/// `total − part` for a sale's net: refused naming `path` when it would be negative (a discount
/// larger than the subtotal is not a sale commission can be a share of).
pub fn net_of(path: &str, total: Money, part: Money) -> Result<Money, BadField> {
    let net = total
        .checked_sub(part)
        .map_err(|e| BadField::new(path, money_reason(e)))?;
    if net.is_negative() {
        return Err(BadField::new(path, "leaves a negative net amount"));
    }
    bounded(path, net)
}

/// `amount` if it lies within ±`MAX_AMOUNT_MINOR` (a result of arithmetic on bounded amounts).
pub fn bounded(path: &str, amount: Money) -> Result<Money, BadField> {
    Money::bounded(amount.minor(), amount.currency())
        .map_err(|e| BadField::new(path, money_reason(e)))
}
