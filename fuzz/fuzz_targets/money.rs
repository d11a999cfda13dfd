//! `Money` decimal parsing: the first byte picks the currency. A parsed amount prints back to
//! itself, `parse_amount` is `parse_decimal` within the bound, nothing ever panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linkledger_fuzz::split_topic;
use linkledger_core::limits::MAX_AMOUNT_MINOR;
use linkledger_core::money::{Currency, Money, MoneyError};

fuzz_target!(|data: &[u8]| {
    let _ = std::str::from_utf8(data).map(Currency::parse);
    let Some((code, text)) = split_topic(data, &["USD", "JPY", "KWD", "EUR", "BHD"]) else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let Ok(currency) = Currency::parse(code) else {
        panic!("{code} is a currency");
    };
    let decimal = Money::parse_decimal(text, currency);
    let amount = Money::parse_amount(text, currency);
    if let Ok(money) = decimal {
        assert!(
            !text.chars().any(char::is_whitespace),
            "{text:?} was accepted"
        );
        let printed = money.to_decimal_string();
        assert_eq!(
            Money::parse_decimal(&printed, currency),
            Ok(money),
            "{text:?} -> {printed:?}"
        );
    }
    match (decimal, amount) {
        (Ok(d), Ok(a)) => {
            assert_eq!(d, a);
            assert!(a.minor().unsigned_abs() <= MAX_AMOUNT_MINOR.unsigned_abs());
        }
        (Ok(d), Err(MoneyError::TooLarge)) => {
            assert!(d.minor().unsigned_abs() > MAX_AMOUNT_MINOR.unsigned_abs());
        }
        (Ok(_), Err(other)) => panic!("{text:?}: parsed, then {other}"),
        (Err(_), Ok(_)) => panic!("{text:?}: bounded but not a decimal"),
        (Err(_), Err(_)) => {}
    }
});
