//! The bounds of the domain: every value taken from a payload or a request lies inside these,
//! checked once at the edge (webhook normalizers, API extractors) with a 400 naming the field,
//! and again when a queue message is read (a message outside them is poison, never a panic).
//!
//! The bounds are far inside what the types hold, so arithmetic on bounded values cannot
//! overflow: an amount is at most 10^13 minor units (100 billion USD) and a timestamp lies
//! between 2000-01-01 and a day after now, so adding a holding period (≤ 365 days) or an
//! attribution window (≤ 65 535 days) to it stays far below `time`'s year 9999. Sums of many bounded amounts
//! (a creator's ledger) are still added with `checked_*`: a sum past [`MAX_BALANCE_MINOR`] is an
//! error of that creator alone.

use time::{Duration, OffsetDateTime};

/// The largest absolute amount of one order, line, refund, plan amount or adjustment, in minor
/// units: 10^13 (100 000 000 000.00 USD; 10^13 JPY).
pub const MAX_AMOUNT_MINOR: i64 = 10_000_000_000_000;

/// The largest absolute balance of one creator in one currency (10^15 minor units). A sum of
/// ledger entries past it is refused for that creator (a failed settlement line, a 409 on the
/// balance) instead of wrapping.
pub const MAX_BALANCE_MINOR: i64 = 1_000_000_000_000_000;

/// Timestamps from payloads are not before this (Unix seconds of 2000-01-01T00:00:00Z).
pub const EARLIEST_UNIX: i64 = 946_684_800;

/// Timestamps from payloads are at most this far after our clock (store clocks drift, time
/// zones get misconfigured; a week-ahead order is a bug or an attack).
pub const FUTURE_SKEW: Duration = Duration::days(1);

/// External ids (order, refund, event, delivery, customer, product, SKU, click id as carried by
/// a store): 1 to 128 characters of visible ASCII (`!`..=`~`): no spaces, no control characters.
pub const MAX_ID_LEN: usize = 128;

/// Product keys (SKUs, product ids; a plan's per-product overrides): 1 to 255 characters (Shopify's
/// SKU limit), no
/// control characters. Shops let merchants type SKUs freely (spaces, accents), so a product key
/// is text, not an id: refusing an order for its SKU would make a real sale unbookable.
pub const MAX_PRODUCT_KEY_LEN: usize = 255;

/// Promo codes as carried by an order: 1 to 64 characters of visible ASCII.
pub const MAX_CODE_LEN: usize = 64;

/// Free text (names, notes, reasons, labels): at most 500 characters, no control characters.
pub const MAX_TEXT_LEN: usize = 500;

/// Lines of one order, coupons of one order, aliases of one sale, refunds of one order.
pub const MAX_LIST_LEN: usize = 500;

/// The longest holding period a program may set (checked by `Program`).
pub const MAX_HOLDING_DAYS: u16 = 365;

/// Exchange rates a program configures (units of the program currency per unit of another)
/// are below this: 10^8 (far above any real pair, e.g. ~10^6 rial per dollar), so a rate
/// of at most 10 decimals fits its 18 digits and a converted
/// amount of at most [`MAX_AMOUNT_MINOR`] stays far inside `i128`.
pub const MAX_FX_RATE: u64 = 100_000_000;

/// Why a value is outside the domain. The message is safe to show (it never echoes the value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("must be between 2000-01-01T00:00:00Z and one day after now")]
    TimestampOutOfWindow,
    #[error("must be at most {MAX_AMOUNT_MINOR} minor units in absolute value")]
    AmountTooLarge,
    #[error("must not be negative")]
    Negative,
    #[error("must be 1 to {max} characters")]
    Length { max: usize },
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("must be visible ASCII characters (no spaces or control characters)")]
    Charset,
    #[error("must not contain control characters")]
    ControlCharacter,
    #[error("must have at most {MAX_LIST_LEN} items")]
    TooMany,
    #[error("the balance is beyond the limit of {MAX_BALANCE_MINOR} minor units")]
    BalanceTooLarge,
}

/// The first instant a payload's timestamp may name.
pub fn earliest() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(EARLIEST_UNIX).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `at` if it lies in `[2000-01-01, now + 1 day]`.
pub fn check_timestamp(
    at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<OffsetDateTime, LimitError> {
    let latest = now.checked_add(FUTURE_SKEW).unwrap_or(now);
    if at < earliest() || at > latest {
        Err(LimitError::TimestampOutOfWindow)
    } else {
        Ok(at)
    }
}

/// Unix seconds from a payload, if they lie in the window (never overflows).
pub fn check_unix_seconds(seconds: i64, now: OffsetDateTime) -> Result<OffsetDateTime, LimitError> {
    let at = OffsetDateTime::from_unix_timestamp(seconds)
        .map_err(|_| LimitError::TimestampOutOfWindow)?;
    check_timestamp(at, now)
}

/// A signed amount in minor units within ±[`MAX_AMOUNT_MINOR`].
pub fn check_amount(minor: i64) -> Result<i64, LimitError> {
    if minor.unsigned_abs() > MAX_AMOUNT_MINOR.unsigned_abs() {
        Err(LimitError::AmountTooLarge)
    } else {
        Ok(minor)
    }
}

/// An amount that must be `0..=MAX_AMOUNT_MINOR` (a sale's net, a refund total).
pub fn check_non_negative_amount(minor: i64) -> Result<i64, LimitError> {
    if minor < 0 {
        return Err(LimitError::Negative);
    }
    check_amount(minor)
}

/// An external id: 1..=[`MAX_ID_LEN`] visible ASCII characters.
pub fn check_id(text: &str) -> Result<&str, LimitError> {
    check_token(text, MAX_ID_LEN)
}

/// A promo code as an order carries it: 1..=[`MAX_CODE_LEN`] visible ASCII characters.
pub fn check_code(text: &str) -> Result<&str, LimitError> {
    check_token(text, MAX_CODE_LEN)
}

fn check_token(text: &str, max: usize) -> Result<&str, LimitError> {
    if text.is_empty() || text.len() > max {
        return Err(LimitError::Length { max });
    }
    if !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(LimitError::Charset);
    }
    Ok(text)
}

/// A product key (SKU, product id): 1..=[`MAX_PRODUCT_KEY_LEN`] characters, no control
/// characters.
pub fn check_product_key(text: &str) -> Result<&str, LimitError> {
    if text.is_empty() || text.chars().count() > MAX_PRODUCT_KEY_LEN {
        return Err(LimitError::Length {
            max: MAX_PRODUCT_KEY_LEN,
        });
    }
    if text.chars().any(char::is_control) {
        return Err(LimitError::ControlCharacter);
    }
    Ok(text)
}

/// Free text: at most [`MAX_TEXT_LEN`] characters, no control characters (so no CR/LF/NUL can
/// forge a log line or a CSV row).
pub fn check_text(text: &str) -> Result<&str, LimitError> {
    if text.chars().count() > MAX_TEXT_LEN {
        return Err(LimitError::TooLong { max: MAX_TEXT_LEN });
    }
    if text.chars().any(char::is_control) {
        return Err(LimitError::ControlCharacter);
    }
    Ok(text)
}

/// A sum of ledger amounts (added in `i128`, so the addition itself cannot overflow) if it lies
/// within ±[`MAX_BALANCE_MINOR`].
pub fn check_balance(sum: i128) -> Result<i64, LimitError> {
    if sum.unsigned_abs() > MAX_BALANCE_MINOR.unsigned_abs() as u128 {
        return Err(LimitError::BalanceTooLarge);
    }
    i64::try_from(sum).map_err(|_| LimitError::BalanceTooLarge)
}

/// A list from a payload: at most [`MAX_LIST_LEN`] items.
pub fn check_list_len(len: usize) -> Result<usize, LimitError> {
    if len > MAX_LIST_LEN {
        Err(LimitError::TooMany)
    } else {
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn timestamps_outside_the_window_are_refused() {
        let now = datetime!(2026-12-01 12:00 UTC);
        assert!(check_timestamp(datetime!(2000-01-01 00:00 UTC), now).is_ok());
        assert!(check_timestamp(datetime!(1999-12-31 23:59:59 UTC), now).is_err());
        assert!(check_timestamp(datetime!(2026-12-02 12:00 UTC), now).is_ok());
        assert!(check_timestamp(datetime!(2026-12-02 12:00:01 UTC), now).is_err());
        assert!(check_timestamp(datetime!(9999-12-31 23:59:59 UTC), now).is_err());
        assert!(check_unix_seconds(253_402_300_799, now).is_err());
        assert!(check_unix_seconds(i64::MAX, now).is_err());
        assert!(check_unix_seconds(i64::MIN, now).is_err());
        assert!(check_unix_seconds(0, now).is_err());
    }

    #[test]
    fn amounts_are_bounded_both_ways() {
        assert_eq!(check_amount(MAX_AMOUNT_MINOR), Ok(MAX_AMOUNT_MINOR));
        assert_eq!(check_amount(-MAX_AMOUNT_MINOR), Ok(-MAX_AMOUNT_MINOR));
        assert!(check_amount(MAX_AMOUNT_MINOR + 1).is_err());
        assert!(check_amount(i64::MIN).is_err());
        assert!(check_non_negative_amount(-1).is_err());
    }

    #[test]
    fn ids_are_short_visible_ascii() {
        assert!(check_id("1001").is_ok());
        assert!(check_id("").is_err());
        assert!(check_id(&"x".repeat(129)).is_err());
        for bad in ["a b", "a\0b", "a\r\nb", "\u{a0}1", "é"] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
        assert!(check_text("duplicate order").is_ok());
        assert!(check_product_key("SERUM 50 ml é").is_ok());
        assert!(check_product_key("").is_err());
        assert!(check_product_key("a\nb").is_err());
        assert!(check_product_key(&"x".repeat(255)).is_ok());
        assert!(check_product_key(&"x".repeat(256)).is_err());
        assert!(check_text("a\nb").is_err());
    }
}
