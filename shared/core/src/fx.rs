//! Exchange rates a brand configures per program. An order in another currency is converted
//! only with such a rate, and the rate used is stored on what it produced; there is no rate
//! source of our own and no guessing.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::money::{div_round_half_even, Currency, Money, MoneyError};

/// Most decimals a rate may have.
pub const MAX_RATE_DECIMALS: u32 = 10;

/// How many units of the program currency one unit of another currency is worth: an exact
/// positive decimal (`"1.0825"`), at most [`MAX_RATE_DECIMALS`] decimals, never a float.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// The decimal's digits as an integer: `"1.0825"` is 10825 with scale 4.
    digits: i64,
    scale: u32,
}

impl Rate {
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("rate {text:?} must be a positive decimal such as \"1.0825\"");
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        if text.contains('.') && fraction.is_empty()
            || !fraction.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let scale = u32::try_from(fraction.len()).map_err(|_| bad())?;
        if scale > MAX_RATE_DECIMALS {
            return Err(format!(
                "rate {text:?} has more than {MAX_RATE_DECIMALS} decimals"
            ));
        }
        let digits: i64 = format!("{whole}{fraction}").parse().map_err(|_| bad())?;
        if digits == 0 {
            return Err(bad());
        }
        Ok(Self { digits, scale })
    }

    /// The rate's whole units (`"1.0825"` is 1), what the domain's bound on rates is about.
    pub fn whole_units(&self) -> i64 {
        let unit = 10i64.checked_pow(self.scale).unwrap_or(i64::MAX);
        self.digits.checked_div(unit).unwrap_or(0)
    }

    /// `amount` (in `from`) as `to`: exact product, rounded once, half to even, to `to`'s minor
    /// unit (exponents of both currencies respected).
    pub fn convert(&self, amount: Money, to: Currency) -> Result<Money, MoneyError> {
        let from_exp = u32::from(amount.currency().exponent());
        let to_exp = u32::from(to.exponent());
        let numerator = i128::from(amount.minor())
            .checked_mul(i128::from(self.digits))
            .and_then(|n| n.checked_mul(10i128.pow(to_exp)))
            .ok_or(MoneyError::Overflow)?;
        let denominator = 10i128
            .checked_pow(self.scale.saturating_add(from_exp))
            .ok_or(MoneyError::Overflow)?;
        let minor = i64::try_from(div_round_half_even(numerator, denominator))
            .map_err(|_| MoneyError::Overflow)?;
        Ok(Money::from_minor(minor, to))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = 10i64.checked_pow(self.scale).unwrap_or(i64::MAX);
        if self.scale == 0 {
            write!(f, "{}", self.digits)
        } else {
            write!(
                f,
                "{}.{:0width$}",
                self.whole_units(),
                self.digits.checked_rem(unit).unwrap_or(0),
                width = self.scale as usize
            )
        }
    }
}

impl fmt::Debug for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Rate::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// The rate used for one conversion, kept on the conversion and its ledger entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedRate {
    pub from: Currency,
    pub to: Currency,
    pub rate: Rate,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cur(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    #[test]
    fn converts_across_exponents_rounding_half_even() {
        let eur_usd = Rate::parse("1.08").unwrap();
        let eur = Money::parse_decimal("100.00", cur("EUR")).unwrap();
        assert_eq!(
            eur_usd
                .convert(eur, cur("USD"))
                .unwrap()
                .to_decimal_string(),
            "108.00"
        );
        // JPY (0 decimals) to USD: 1000 JPY × 0.0067 = 6.70 USD.
        let jpy = Money::parse_decimal("1000", cur("JPY")).unwrap();
        let rate = Rate::parse("0.0067").unwrap();
        assert_eq!(
            rate.convert(jpy, cur("USD")).unwrap().to_decimal_string(),
            "6.70"
        );
        // USD to KWD (3 decimals): 10.00 × 0.30725 = 3.0725 → 3.072 (tie to even).
        let usd = Money::parse_decimal("10.00", cur("USD")).unwrap();
        let rate = Rate::parse("0.30725").unwrap();
        assert_eq!(
            rate.convert(usd, cur("KWD")).unwrap().to_decimal_string(),
            "3.072"
        );
    }

    #[test]
    fn refuses_what_is_not_a_positive_decimal() {
        for bad in [
            "",
            "0",
            "0.000",
            "-1.2",
            "1e3",
            "1.",
            ".5",
            "1,08",
            "0.12345678901",
            "NaN",
        ] {
            assert!(Rate::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(Rate::parse("1.0825").unwrap().to_string(), "1.0825");
        assert_eq!(Rate::parse("3").unwrap().to_string(), "3");
    }

    proptest! {
        #[test]
        fn conversion_is_within_half_a_minor_unit_of_exact(
            minor in -1_000_000_000i64..1_000_000_000,
            digits in 1i64..100_000_000,
            scale in 0u32..=8,
        ) {
            let rate = Rate { digits, scale };
            let converted = rate.convert(Money::from_minor(minor, cur("EUR")), cur("USD")).unwrap();
            // exact = minor × digits / 10^scale (both currencies have 2 decimals)
            let exact_num = i128::from(minor) * i128::from(digits);
            let den = 10i128.pow(scale);
            let error2 = (i128::from(converted.minor()) * den - exact_num).abs() * 2;
            prop_assert!(error2 <= den);
        }
    }
}
