//! Form posts: their fields, and the API input a form is turned into.
//!
//! A form becomes the same JSON body the API route takes and is read by the same wire type, so a
//! field is bounded and checked once, by the API's rules, whichever way it arrived.

use serde::de::DeserializeOwned;
use serde_json::Value;

use linkledger_http::{ErrorCode, HttpError};

/// The most fields a form may carry (each page's forms have a handful).
const MAX_FIELDS: usize = 64;

/// A form's fields, in order; values are trimmed.
#[derive(Debug, Default)]
pub(crate) struct Form {
    fields: Vec<(String, String)>,
}

impl Form {
    pub fn parse(body: &[u8]) -> Self {
        Self {
            fields: url::form_urlencoded::parse(body)
                .take(MAX_FIELDS)
                .map(|(k, v)| (k.into_owned(), v.trim().to_string()))
                .collect(),
        }
    }

    /// A field's value, `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// A field as a JSON string (`null` when empty).
    pub fn string(&self, name: &str) -> Value {
        self.get(name)
            .map_or(Value::Null, |v| Value::String(v.to_string()))
    }

    /// A field as a JSON number when it is one, else the text (the wire type names the error).
    pub fn number(&self, name: &str) -> Value {
        match self.get(name) {
            None => Value::Null,
            Some(v) => v
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::String(v.to_string())),
        }
    }

    /// A field of one item per line (or comma) as a JSON list.
    pub fn lines(&self, name: &str) -> Value {
        Value::Array(
            self.get(name)
                .unwrap_or("")
                .split(['\n', ','])
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| Value::String(l.to_string()))
                .collect(),
        )
    }

    /// An amount field as the API's money object, in `currency`.
    pub fn money(&self, name: &str, currency: &str) -> Value {
        match self.get(name) {
            None => Value::Null,
            Some(amount) => serde_json::json!({"amount": amount, "currency": currency}),
        }
    }
}

/// Reads `body` as the API's input type `T`: a field the API would refuse is a 400 naming it.
pub(crate) fn input<T: DeserializeOwned>(mut body: Value) -> Result<T, HttpError> {
    if let Value::Object(map) = &mut body {
        map.retain(|_, v| !v.is_null());
    }
    serde_json::from_value(body)
        .map_err(|e| HttpError::bad_request(ErrorCode::InvalidRequest, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_decoded_trimmed_and_empty_means_absent() {
        let form = Form::parse(b"name=Spring+sale&empty=&domains=shop.example%0Ab.example&n=12");
        assert_eq!(form.get("name"), Some("Spring sale"));
        assert_eq!(form.get("empty"), None);
        assert_eq!(form.get("missing"), None);
        assert_eq!(
            form.lines("domains"),
            serde_json::json!(["shop.example", "b.example"])
        );
        assert_eq!(form.number("n"), serde_json::json!(12));
        assert_eq!(form.number("name"), serde_json::json!("Spring sale"));
    }

    #[test]
    fn an_input_the_api_refuses_is_a_400_naming_the_field() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        struct In {
            #[allow(dead_code)]
            days: u16,
        }
        let err = input::<In>(serde_json::json!({"days": "many"})).unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST);
        assert!(
            err.message.contains("days") || err.message.contains("invalid type"),
            "{}",
            err.message
        );
    }
}
