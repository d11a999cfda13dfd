//! Money: integer minor units of an ISO 4217 currency, never a float.
//!
//! Rounding rule (one for the whole system): every computation that cannot be exact — a rate in
//! basis points, a pro-rata share — is done in `i128` on the exact fraction and rounded **once**,
//! to the nearest minor unit, **half to even** (banker's rounding). So a result is never more than
//! half a minor unit away from the exact value, and ties do not drift one way over many entries.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unknown currency {0:?}: expected an ISO 4217 code such as USD")]
    UnknownCurrency(String),
    #[error("invalid amount {0:?}: expected a decimal such as 19.99")]
    InvalidAmount(String),
    #[error("amount {amount:?} has more than {exponent} decimals for {currency}")]
    TooManyDecimals {
        amount: String,
        currency: Currency,
        exponent: u8,
    },
    #[error("amount out of range")]
    Overflow,
    #[error("cannot combine {left} with {right}")]
    CurrencyMismatch { left: Currency, right: Currency },
    #[error("amount must not be negative")]
    Negative,
    #[error(
        "amount is beyond the limit of {} minor units",
        crate::limits::MAX_AMOUNT_MINOR
    )]
    TooLarge,
    #[error(
        "a balance is beyond the limit of {} minor units",
        crate::limits::MAX_BALANCE_MINOR
    )]
    BalanceTooLarge,
}

/// An ISO 4217 currency with a defined minor unit.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: [u8; 3],
    exponent: u8,
}

impl Currency {
    /// Accepts upper-case ISO 4217 codes that have a minor unit (refuses XAU, XXX and the like).
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        let unknown = || MoneyError::UnknownCurrency(code.chars().take(8).collect());
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(unknown());
        }
        let iso = iso_currency::Currency::from_code(code).ok_or_else(unknown)?;
        let exponent = iso.exponent().ok_or_else(unknown)?;
        let exponent = u8::try_from(exponent).map_err(|_| unknown())?;
        let bytes = code.as_bytes();
        Ok(Self {
            code: [bytes[0], bytes[1], bytes[2]],
            exponent,
        })
    }

    pub fn code(&self) -> &str {
        std::str::from_utf8(&self.code).unwrap_or("XXX")
    }

    /// Decimal places of the minor unit: USD 2, JPY 0, KWD 3.
    pub fn exponent(&self) -> u8 {
        self.exponent
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Currency::parse(&code).map_err(serde::de::Error::custom)
    }
}

/// An amount of one currency, in its minor units.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

/// The wire form of [`Money`]: an exact decimal string and its currency.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoneyWire {
    /// Decimal string in major units, at most the currency's decimals: `"19.99"`, `"1000"` (JPY).
    pub amount: String,
    pub currency: Currency,
}

impl Money {
    pub fn from_minor(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    pub fn zero(currency: Currency) -> Self {
        Self { minor: 0, currency }
    }

    pub fn minor(&self) -> i64 {
        self.minor
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    pub fn is_negative(&self) -> bool {
        self.minor < 0
    }

    /// Parses a decimal string exactly: an optional `-`, digits, and at most the currency's
    /// decimals after a `.`. No exponent, sign `+`, spaces or separators; never via a float.
    pub fn parse_decimal(text: &str, currency: Currency) -> Result<Self, MoneyError> {
        let invalid = || MoneyError::InvalidAmount(text.chars().take(32).collect());
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = match digits.split_once('.') {
            Some((whole, fraction)) if !fraction.is_empty() => (whole, fraction),
            Some(_) => return Err(invalid()),
            None => (digits, ""),
        };
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        if !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let exponent = usize::from(currency.exponent());
        if fraction.len() > exponent {
            return Err(MoneyError::TooManyDecimals {
                amount: text.chars().take(32).collect(),
                currency,
                exponent: currency.exponent(),
            });
        }
        let mut minor: i64 = 0;
        let padded = fraction
            .bytes()
            .chain(std::iter::repeat(b'0'))
            .take(exponent);
        for digit in whole.bytes().chain(padded) {
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_add(i64::from(digit.wrapping_sub(b'0'))))
                .ok_or(MoneyError::Overflow)?;
        }
        Ok(Self {
            minor: if negative {
                minor.checked_neg().ok_or(MoneyError::Overflow)?
            } else {
                minor
            },
            currency,
        })
    }

    /// An amount taken from outside (a payload, a request): within
    /// ±[`crate::limits::MAX_AMOUNT_MINOR`].
    pub fn bounded(minor: i64, currency: Currency) -> Result<Self, MoneyError> {
        crate::limits::check_amount(minor).map_err(|_| MoneyError::TooLarge)?;
        Ok(Self { minor, currency })
    }

    /// [`Money::parse_decimal`] for amounts taken from outside: within
    /// ±[`crate::limits::MAX_AMOUNT_MINOR`].
    pub fn parse_amount(text: &str, currency: Currency) -> Result<Self, MoneyError> {
        let money = Self::parse_decimal(text, currency)?;
        Self::bounded(money.minor, currency)
    }

    /// The exact decimal form in major units: `1999 USD` is `"19.99"`, `1000 JPY` is `"1000"`.
    pub fn to_decimal_string(&self) -> String {
        let exponent = u32::from(self.currency.exponent());
        let sign = if self.minor < 0 { "-" } else { "" };
        let magnitude = self.minor.unsigned_abs();
        if exponent == 0 {
            return format!("{sign}{magnitude}");
        }
        let unit = 10u64.checked_pow(exponent).unwrap_or(1);
        format!(
            "{sign}{}.{:0width$}",
            magnitude.checked_div(unit).unwrap_or(0),
            magnitude.checked_rem(unit).unwrap_or(0),
            width = exponent as usize
        )
    }

    fn same_currency(&self, other: &Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            })
        }
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(&other)?;
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money {
            minor,
            currency: self.currency,
        })
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(&other)?;
        let minor = self
            .minor
            .checked_sub(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money {
            minor,
            currency: self.currency,
        })
    }

    /// `self × rate`, rounded once, half to even.
    pub fn times_rate(self, rate: BasisPoints) -> Result<Money, MoneyError> {
        self.times_fraction(i64::from(rate.0), 10_000)
    }

    /// `self × numerator / denominator`, rounded once, half to even (`denominator > 0`).
    pub fn times_fraction(self, numerator: i64, denominator: i64) -> Result<Money, MoneyError> {
        if denominator <= 0 {
            return Err(MoneyError::Overflow);
        }
        let exact = i128::from(self.minor)
            .checked_mul(i128::from(numerator))
            .ok_or(MoneyError::Overflow)?;
        let rounded = div_round_half_even(exact, i128::from(denominator));
        let minor = i64::try_from(rounded).map_err(|_| MoneyError::Overflow)?;
        Ok(Money {
            minor,
            currency: self.currency,
        })
    }
}

/// `numerator / denominator` rounded to the nearest integer, ties to even (`denominator > 0`).
pub fn div_round_half_even(numerator: i128, denominator: i128) -> i128 {
    let quotient = numerator.div_euclid(denominator);
    let remainder = numerator.rem_euclid(denominator);
    let twice = remainder.saturating_mul(2);
    if twice > denominator || (twice == denominator && quotient.rem_euclid(2) != 0) {
        quotient.saturating_add(1)
    } else {
        quotient
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency)
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        MoneyWire {
            amount: self.to_decimal_string(),
            currency: self.currency,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = MoneyWire::deserialize(d)?;
        Money::parse_decimal(&wire.amount, wire.currency).map_err(serde::de::Error::custom)
    }
}

/// A rate in basis points: 1 bp = 0.01 %, 10 000 bp = 100 %.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct BasisPoints(u32);

impl BasisPoints {
    pub const MAX: u32 = 10_000;

    pub fn new(bps: u32) -> Result<Self, String> {
        if bps <= Self::MAX {
            Ok(Self(bps))
        } else {
            Err(format!("rate {bps} bp is above 10000 bp (100 %)"))
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl<'de> Deserialize<'de> for BasisPoints {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BasisPoints::new(u32::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    #[test]
    fn parses_exact_decimals_per_currency_exponent() {
        assert_eq!(Money::parse_decimal("19.99", usd()).unwrap().minor(), 1999);
        assert_eq!(Money::parse_decimal("19.9", usd()).unwrap().minor(), 1990);
        assert_eq!(
            Money::parse_decimal("1000", Currency::parse("JPY").unwrap())
                .unwrap()
                .minor(),
            1000
        );
        assert_eq!(
            Money::parse_decimal("1.234", Currency::parse("KWD").unwrap())
                .unwrap()
                .minor(),
            1234
        );
        assert_eq!(Money::parse_decimal("-0.05", usd()).unwrap().minor(), -5);
    }

    #[test]
    fn refuses_what_is_not_an_exact_decimal() {
        for bad in [
            "", "1.", ".5", "1e3", "+1", " 1", "1,00", "0x10", "1.2.3", "--1", "NaN", "19.999",
        ] {
            assert!(
                Money::parse_decimal(bad, usd()).is_err(),
                "{bad:?} should be refused"
            );
        }
        assert!(matches!(
            Money::parse_decimal("1.5", Currency::parse("JPY").unwrap()),
            Err(MoneyError::TooManyDecimals { .. })
        ));
        assert_eq!(
            Money::parse_decimal("99999999999999999999", usd()),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn refuses_unknown_and_unitless_currencies() {
        for bad in ["usd", "US", "USDX", "ABC", "XAU", "XXX"] {
            assert!(Currency::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn never_mixes_currencies() {
        let eur = Money::from_minor(100, Currency::parse("EUR").unwrap());
        let usd = Money::from_minor(100, usd());
        assert!(matches!(
            usd.checked_add(eur),
            Err(MoneyError::CurrencyMismatch { .. })
        ));
    }

    #[test]
    fn rounds_half_to_even() {
        // 25 cents × 10 % = 2.5 cents → 2; 35 cents × 10 % = 3.5 → 4
        let rate = BasisPoints::new(1000).unwrap();
        assert_eq!(
            Money::from_minor(25, usd())
                .times_rate(rate)
                .unwrap()
                .minor(),
            2
        );
        assert_eq!(
            Money::from_minor(35, usd())
                .times_rate(rate)
                .unwrap()
                .minor(),
            4
        );
        assert_eq!(
            Money::from_minor(-25, usd())
                .times_rate(rate)
                .unwrap()
                .minor(),
            -2
        );
        assert!(BasisPoints::new(10_001).is_err());
    }

    #[test]
    fn wire_form_is_an_exact_decimal_string() {
        let m = Money::parse_decimal("19.99", usd()).unwrap();
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"amount":"19.99","currency":"USD"}"#);
        assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), m);
        assert!(serde_json::from_str::<Money>(r#"{"amount":19.99,"currency":"USD"}"#).is_err());
    }

    proptest! {
        #[test]
        fn decimal_string_round_trips(minor in any::<i64>().prop_filter("abs", |m| *m != i64::MIN), code in prop::sample::select(vec!["USD", "JPY", "KWD", "EUR", "BHD", "CLP"])) {
            let currency = Currency::parse(code).unwrap();
            let money = Money::from_minor(minor, currency);
            prop_assert_eq!(Money::parse_decimal(&money.to_decimal_string(), currency).unwrap(), money);
        }

        #[test]
        fn a_rate_is_within_half_a_minor_unit_of_exact(minor in -1_000_000_000_000i64..1_000_000_000_000, bps in 0u32..=10_000) {
            let got = Money::from_minor(minor, usd()).times_rate(BasisPoints::new(bps).unwrap()).unwrap().minor();
            // |got − exact| ≤ ½  ⇔  |got·10000 − minor·bps| ≤ 5000
            let error = (i128::from(got) * 10_000 - i128::from(minor) * i128::from(bps)).abs();
            prop_assert!(error <= 5_000);
        }

        #[test]
        fn half_even_division_is_nearest(n in -1_000_000i128..1_000_000, d in 1i128..10_000) {
            let q = div_round_half_even(n, d);
            prop_assert!((q * d - n).abs() * 2 <= d);
        }
    }
}
