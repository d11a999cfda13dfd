//! Reading fields out of a platform's JSON by path, with errors that name the field.
//!
//! Platform payloads are large, versioned and full of fields we never read; we read the few we
//! need by path, so a missing or mistyped one answers 400 naming exactly that field.

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use linkledger_shared::money::{Currency, Money};

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

impl std::fmt::Display for BadField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

/// A JSON value and the path it was found at.
#[derive(Clone)]
pub struct Fields<'a> {
    value: &'a Value,
    path: String,
}

fn join(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_string()
    } else {
        format!("{base}.{key}")
    }
}

impl<'a> Fields<'a> {
    pub fn root(value: &'a Value) -> Self {
        Self {
            value,
            path: String::new(),
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

    pub fn opt(&self, path: &str) -> Option<&'a Value> {
        self.lookup(path)
    }

    pub fn opt_str(&self, path: &str) -> Result<Option<&'a str>, BadField> {
        match self.lookup(path) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(BadField::new(&self.full(path), "must be a string")),
        }
    }

    pub fn str(&self, path: &str) -> Result<&'a str, BadField> {
        self.opt_str(path)?
            .ok_or_else(|| BadField::new(&self.full(path), "is required"))
    }

    /// A string or integer id, as text (Shopify and WooCommerce send numeric ids).
    pub fn id(&self, path: &str) -> Result<String, BadField> {
        match self.lookup(path) {
            Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 200 => {
                Ok(s.trim().to_string())
            }
            Some(Value::Number(n)) if n.is_u64() => Ok(n.to_string()),
            None => Err(BadField::new(&self.full(path), "is required")),
            Some(_) => Err(BadField::new(&self.full(path), "must be an id")),
        }
    }

    pub fn opt_id(&self, path: &str) -> Result<Option<String>, BadField> {
        match self.lookup(path) {
            None => Ok(None),
            Some(_) => self.id(path).map(Some),
        }
    }

    pub fn int(&self, path: &str) -> Result<i64, BadField> {
        match self.lookup(path) {
            Some(Value::Number(n)) => n
                .as_i64()
                .ok_or_else(|| BadField::new(&self.full(path), "must be an integer")),
            None => Err(BadField::new(&self.full(path), "is required")),
            Some(_) => Err(BadField::new(&self.full(path), "must be an integer")),
        }
    }

    pub fn opt_int(&self, path: &str) -> Result<Option<i64>, BadField> {
        match self.lookup(path) {
            None => Ok(None),
            Some(_) => self.int(path).map(Some),
        }
    }

    /// The elements of an array (absent: none), each knowing its path (`line_items[2]`).
    pub fn array(&self, path: &str) -> Result<Vec<Fields<'a>>, BadField> {
        match self.lookup(path) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items
                .iter()
                .enumerate()
                .map(|(i, value)| Fields {
                    value,
                    path: format!("{}[{i}]", self.full(path)),
                })
                .collect()),
            Some(_) => Err(BadField::new(&self.full(path), "must be an array")),
        }
    }

    pub fn currency(&self, path: &str) -> Result<Currency, BadField> {
        let code = self.str(path)?;
        Currency::parse(&code.to_ascii_uppercase())
            .map_err(|e| BadField::new(&self.full(path), e.to_string()))
    }

    /// A decimal string amount (never a float).
    pub fn money(&self, path: &str, currency: Currency) -> Result<Money, BadField> {
        let text = self.str(path)?;
        Money::parse_decimal(text.trim(), currency)
            .map_err(|e| BadField::new(&self.full(path), e.to_string()))
    }

    /// An integer amount in minor units (Stripe).
    pub fn minor(&self, path: &str, currency: Currency) -> Result<Money, BadField> {
        Ok(Money::from_minor(self.int(path)?, currency))
    }

    pub fn rfc3339(&self, path: &str) -> Result<OffsetDateTime, BadField> {
        OffsetDateTime::parse(self.str(path)?, &Rfc3339)
            .map_err(|_| BadField::new(&self.full(path), "must be an RFC 3339 date-time"))
    }

    pub fn unix(&self, path: &str) -> Result<OffsetDateTime, BadField> {
        OffsetDateTime::from_unix_timestamp(self.int(path)?)
            .map_err(|_| BadField::new(&self.full(path), "must be a Unix timestamp"))
    }
}

/// Parses a body as JSON, or says where it is malformed.
pub fn parse_json(body: &[u8]) -> Result<Value, BadField> {
    serde_json::from_slice(body).map_err(|e| BadField::new("body", format!("malformed JSON: {e}")))
}
