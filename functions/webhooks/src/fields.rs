//! Reading fields out of a platform's JSON by path, with errors that name the field.
//!
//! Platform payloads are large, versioned and full of fields we never read; we read the few we
//! need by path, so a missing or mistyped one answers 400 naming exactly that field. Every reader
//! also applies the domain's bounds (`linkledger_core::limits`), so a value outside them is
//! refused here, at the edge, and never reaches the queue: ids and codes are short visible ASCII
//! (nothing is trimmed: `" 1001"` is refused, not repaired), amounts are exact decimals (or
//! Stripe's integers) within ±`MAX_AMOUNT_MINOR`, timestamps lie between 2000-01-01 and a day
//! after now, lists hold at most `MAX_LIST_LEN` items. A reason never echoes the value.

use serde_json::Value;
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

    fn limit(path: &str, err: LimitError) -> Self {
        Self::new(path, err.to_string())
    }
}

impl std::fmt::Display for BadField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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

/// A JSON value and the path it was found at.
#[derive(Clone)]
pub struct Fields<'a> {
    value: &'a Value,
    path: String,
    /// Our clock, for the timestamp window.
    now: OffsetDateTime,
}

fn join(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_string()
    } else {
        format!("{base}.{key}")
    }
}

impl<'a> Fields<'a> {
    pub fn root(value: &'a Value, now: OffsetDateTime) -> Self {
        Self {
            value,
            path: String::new(),
            now,
        }
    }

    fn lookup(&self, path: &str) -> Option<&'a Value> {
        path.split('.')
            .try_fold(self.value, |v, key| v.get(key))
            .filter(|v| !v.is_null())
    }

    pub fn full(&self, path: &str) -> String {
        join(&self.path, path)
    }

    fn bad(&self, path: &str, reason: impl Into<String>) -> BadField {
        BadField::new(&self.full(path), reason)
    }

    pub fn opt(&self, path: &str) -> Option<&'a Value> {
        self.lookup(path)
    }

    /// A nested object, whose fields then report their full path (`data.object.currency`).
    pub fn object(&self, path: &str) -> Result<Fields<'a>, BadField> {
        match self.lookup(path) {
            Some(value @ Value::Object(_)) => Ok(Fields {
                value,
                path: self.full(path),
                now: self.now,
            }),
            None => Err(self.bad(path, "is required")),
            Some(_) => Err(self.bad(path, "must be an object")),
        }
    }

    /// A string, unchecked: only for values compared with constants (statuses, reasons, the
    /// click parameter's name) or parsed further (a landing URL).
    pub fn opt_str(&self, path: &str) -> Result<Option<&'a str>, BadField> {
        match self.lookup(path) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(self.bad(path, "must be a string")),
        }
    }

    pub fn str(&self, path: &str) -> Result<&'a str, BadField> {
        self.opt_str(path)?
            .ok_or_else(|| self.bad(path, "is required"))
    }

    /// An external id ([`limits::check_id`]), a string or a non-negative integer (Shopify and
    /// WooCommerce send numeric ids), as text.
    pub fn id(&self, path: &str) -> Result<String, BadField> {
        match self.lookup(path) {
            Some(Value::String(s)) => limits::check_id(s)
                .map(str::to_string)
                .map_err(|e| BadField::limit(&self.full(path), e)),
            Some(Value::Number(n)) if n.is_u64() => Ok(n.to_string()),
            None => Err(self.bad(path, "is required")),
            Some(_) => Err(self.bad(path, "must be an id (a string or a non-negative integer)")),
        }
    }

    pub fn opt_id(&self, path: &str) -> Result<Option<String>, BadField> {
        match self.lookup(path) {
            None => Ok(None),
            Some(_) => self.id(path).map(Some),
        }
    }

    /// A string id that must be a string ([`limits::check_id`]).
    pub fn str_id(&self, path: &str) -> Result<String, BadField> {
        let text = self.str(path)?;
        limits::check_id(text)
            .map(str::to_string)
            .map_err(|e| BadField::limit(&self.full(path), e))
    }

    /// A SKU as the merchant typed it, when it is a product key
    /// ([`limits::check_product_key`]: spaces allowed). One outside it (longer, or with a tab
    /// pasted from a spreadsheet) is dropped, not refused: no plan override can name it, and a
    /// real order must never be refused for its SKU (the line earns the creator's rate).
    pub fn product_key(&self, path: &str) -> Result<Option<String>, BadField> {
        let text = self.str(path)?;
        Ok(limits::check_product_key(text).ok().map(str::to_string))
    }

    pub fn opt_str_id(&self, path: &str) -> Result<Option<String>, BadField> {
        match self.lookup(path) {
            None => Ok(None),
            Some(_) => self.str_id(path).map(Some),
        }
    }

    /// A promo code as the order carries it ([`limits::check_code`]).
    pub fn opt_code(&self, path: &str) -> Result<Option<String>, BadField> {
        match self.opt_str(path)? {
            None => Ok(None),
            Some(code) => limits::check_code(code)
                .map(|c| Some(c.to_string()))
                .map_err(|e| BadField::limit(&self.full(path), e)),
        }
    }

    /// An attribution hint in a platform's order: a click id ([`limits::check_id`]) or, with
    /// `code`, a coupon ([`limits::check_code`]). The shopper writes these (a landing URL's
    /// query, a cart attribute) or the shop lets its own codes through, so one that fails the
    /// check is dropped, not refused: it can never name a click or a promo code of ours (those
    /// are visible ASCII), and refusing would let anyone with a crafted link make a real order
    /// unbookable (and the platform give up on the webhook). What is carried is always checked.
    pub fn opt_hint(&self, path: &str, code: bool) -> Result<Option<String>, BadField> {
        let check = if code {
            limits::check_code
        } else {
            limits::check_id
        };
        Ok(self
            .opt_str(path)?
            .filter(|text| check(text).is_ok())
            .map(str::to_string))
    }

    /// Free text such as an e-mail address ([`limits::check_text`]).
    pub fn opt_text(&self, path: &str) -> Result<Option<&'a str>, BadField> {
        match self.opt_str(path)? {
            None => Ok(None),
            Some(text) => limits::check_text(text)
                .map(Some)
                .map_err(|e| BadField::limit(&self.full(path), e)),
        }
    }

    pub fn int(&self, path: &str) -> Result<i64, BadField> {
        match self.lookup(path) {
            Some(Value::Number(n)) => n
                .as_i64()
                .ok_or_else(|| self.bad(path, "must be an integer")),
            None => Err(self.bad(path, "is required")),
            Some(_) => Err(self.bad(path, "must be an integer")),
        }
    }

    /// A quantity: `0..=u32::MAX`.
    pub fn quantity(&self, path: &str) -> Result<u32, BadField> {
        u32::try_from(self.int(path)?)
            .map_err(|_| self.bad(path, "must be a non-negative integer below 2^32"))
    }

    /// The elements of an array (absent: none), at most [`limits::MAX_LIST_LEN`], each knowing
    /// its path (`line_items[2]`).
    pub fn array(&self, path: &str) -> Result<Vec<Fields<'a>>, BadField> {
        if let Some(Value::Array(items)) = self.lookup(path) {
            limits::check_list_len(items.len())
                .map_err(|e| BadField::limit(&self.full(path), e))?;
        }
        self.searched_array(path)
    }

    /// An array we only search for one entry (WooCommerce's `meta_data`, Shopify's
    /// `note_attributes`): not bounded by the list limit, since nothing of it is carried but the
    /// entry found (the body limit bounds it); a shop with many meta entries is not refused.
    pub fn searched_array(&self, path: &str) -> Result<Vec<Fields<'a>>, BadField> {
        match self.lookup(path) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items
                .iter()
                .enumerate()
                .map(|(i, value)| Fields {
                    value,
                    path: format!("{}[{i}]", self.full(path)),
                    now: self.now,
                })
                .collect()),
            Some(_) => Err(self.bad(path, "must be an array")),
        }
    }

    /// An ISO 4217 code, in either case (Stripe writes `usd`).
    pub fn currency(&self, path: &str) -> Result<Currency, BadField> {
        let code = self.str(path)?;
        Currency::parse(&code.to_ascii_uppercase()).map_err(|_| {
            self.bad(
                path,
                "must be an ISO 4217 currency code with a minor unit, such as USD",
            )
        })
    }

    /// A decimal string amount (never a float, never trimmed) within ±`MAX_AMOUNT_MINOR`.
    pub fn money(&self, path: &str, currency: Currency) -> Result<Money, BadField> {
        Money::parse_amount(self.str(path)?, currency).map_err(|e| self.bad(path, money_reason(e)))
    }

    /// An integer amount in minor units (Stripe) within ±`MAX_AMOUNT_MINOR`.
    pub fn minor(&self, path: &str, currency: Currency) -> Result<Money, BadField> {
        Money::bounded(self.int(path)?, currency).map_err(|e| self.bad(path, money_reason(e)))
    }

    /// [`Fields::money`] that must not be negative (a total, a line, a refund).
    pub fn amount(&self, path: &str, currency: Currency) -> Result<Money, BadField> {
        non_negative(&self.full(path), self.money(path, currency)?)
    }

    /// [`Fields::minor`] that must not be negative.
    pub fn amount_minor(&self, path: &str, currency: Currency) -> Result<Money, BadField> {
        non_negative(&self.full(path), self.minor(path, currency)?)
    }

    /// [`Fields::amount_minor`], zero when absent.
    pub fn opt_amount_minor(&self, path: &str, currency: Currency) -> Result<Money, BadField> {
        match self.lookup(path) {
            None => Ok(Money::zero(currency)),
            Some(_) => self.amount_minor(path, currency),
        }
    }

    /// An RFC 3339 date-time inside the timestamp window.
    pub fn rfc3339(&self, path: &str) -> Result<OffsetDateTime, BadField> {
        let at = OffsetDateTime::parse(self.str(path)?, &Rfc3339)
            .map_err(|_| self.bad(path, "must be an RFC 3339 date-time"))?;
        self.in_window(path, at)
    }

    /// Unix seconds inside the timestamp window.
    pub fn unix(&self, path: &str) -> Result<OffsetDateTime, BadField> {
        limits::check_unix_seconds(self.int(path)?, self.now)
            .map_err(|e| BadField::limit(&self.full(path), e))
    }

    /// A date-time without offset, taken as UTC (WooCommerce's `*_gmt`), inside the window.
    pub fn naive_utc(&self, path: &str) -> Result<OffsetDateTime, BadField> {
        let at = PrimitiveDateTime::parse(self.str(path)?, &Iso8601::DEFAULT)
            .map(PrimitiveDateTime::assume_utc)
            .map_err(|_| self.bad(path, "must be a date-time such as 2026-07-14T14:21:07"))?;
        self.in_window(path, at)
    }

    fn in_window(&self, path: &str, at: OffsetDateTime) -> Result<OffsetDateTime, BadField> {
        limits::check_timestamp(at, self.now).map_err(|e| BadField::limit(&self.full(path), e))
    }
}

/// `amount` if it is not negative (a sale's net, a line, a refund total).
fn non_negative(path: &str, amount: Money) -> Result<Money, BadField> {
    if amount.is_negative() {
        Err(BadField::limit(path, LimitError::Negative))
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
