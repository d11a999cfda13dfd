//! Attribution: which creator, if any, earns a conversion (pure; the worker gathers the facts).
//!
//! A click counts when it belongs to the program, is not a bot's, and the order falls inside the
//! program's attribution window after it (a few minutes of clock skew tolerated the other way).
//! Else a promo code of a creator in the program counts. When both name different creators, the
//! program's precedence decides (default: the click).

use time::{Duration, OffsetDateTime};

use crate::click::Click;
use crate::ids::{CreatorId, ProgramId};
use crate::program::Precedence;

/// An order this soon after its click is held for review (humans take longer to check out).
pub const MIN_SECONDS_AFTER_CLICK: i64 = 10;
/// Store clocks and ours may disagree by this much.
pub const CLOCK_SKEW: Duration = Duration::minutes(5);
/// Orders one click may carry before the next is held (per program default).
pub const DEFAULT_MAX_ORDERS_PER_CLICK: u32 = 3;

/// What the order offers: its click (if found) and the creator of its first known promo code.
#[derive(Clone, Debug, Default)]
pub struct Candidates<'a> {
    pub click: Option<&'a Click>,
    pub coupon: Option<(&'a str, &'a CreatorId)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Winner {
    Click {
        click_id: String,
        creator: CreatorId,
    },
    Coupon {
        code: String,
        creator: CreatorId,
    },
    None,
}

/// Whether `click` may attribute an order of `program` at `occurred_at`.
pub fn click_qualifies(
    click: &Click,
    program: &ProgramId,
    occurred_at: OffsetDateTime,
    window_days: u16,
) -> bool {
    let Ok(clicked) = OffsetDateTime::from_unix_timestamp_nanos(
        i128::from(click.at_ms).saturating_mul(1_000_000),
    ) else {
        return false;
    };
    // Checked: a bound outside time's range means the order cannot be inside the window.
    let (Some(earliest), Some(latest)) = (
        clicked.checked_sub(CLOCK_SKEW),
        clicked.checked_add(Duration::days(i64::from(window_days))),
    ) else {
        return false;
    };
    &click.program_id == program && !click.bot && occurred_at >= earliest && occurred_at <= latest
}

pub fn attribute(
    candidates: &Candidates<'_>,
    program: &ProgramId,
    occurred_at: OffsetDateTime,
    window_days: u16,
    precedence: Precedence,
) -> Winner {
    let click = candidates
        .click
        .filter(|c| click_qualifies(c, program, occurred_at, window_days))
        .map(|c| Winner::Click {
            click_id: c.id.to_string(),
            creator: c.creator_id.clone(),
        });
    let coupon = candidates.coupon.map(|(code, creator)| Winner::Coupon {
        code: code.to_string(),
        creator: creator.clone(),
    });
    match (click, coupon, precedence) {
        (Some(click), Some(coupon), Precedence::Coupon) => {
            if let (Winner::Click { creator: a, .. }, Winner::Coupon { creator: b, .. }) =
                (&click, &coupon)
            {
                if a == b {
                    return click;
                }
            }
            coupon
        }
        (Some(click), _, _) => click,
        (None, Some(coupon), _) => coupon,
        (None, None, _) => Winner::None,
    }
}

/// Whether the order came suspiciously soon after its click.
pub fn too_fast(click: &Click, occurred_at: OffsetDateTime) -> bool {
    let occurred_ms =
        i64::try_from(occurred_at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
    occurred_ms.saturating_sub(click.at_ms) < MIN_SECONDS_AFTER_CLICK.saturating_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ClickId, LinkCode};
    use proptest::prelude::*;

    fn click(program: &ProgramId, creator: &CreatorId, at_ms: i64, bot: bool) -> Click {
        Click {
            id: ClickId::generate(at_ms),
            link_code: LinkCode::parse("anna10").unwrap(),
            program_id: program.clone(),
            creator_id: creator.clone(),
            at_ms,
            visitor: "v".into(),
            bot,
            country: None,
            referrer_host: None,
        }
    }

    fn at(ms: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap()
    }

    const DAY: i64 = 86_400_000;
    const T0: i64 = 1_750_000_000_000;

    proptest! {
        #[test]
        fn the_winner_is_always_a_qualifying_candidate(
            offset_days in -2i64..40,
            window in 1u16..60,
            bot: bool,
            same_program: bool,
            has_coupon: bool,
            coupon_first: bool,
            same_creator: bool,
        ) {
            let program = ProgramId::generate();
            let other = ProgramId::generate();
            let anna = CreatorId::generate();
            let ben = if same_creator { anna.clone() } else { CreatorId::generate() };
            let c = click(if same_program { &program } else { &other }, &anna, T0, bot);
            let occurred = at(T0 + offset_days * DAY);
            let candidates = Candidates {
                click: Some(&c),
                coupon: has_coupon.then_some(("BEN10", &ben)),
            };
            let precedence = if coupon_first { Precedence::Coupon } else { Precedence::Click };
            let qualifies = same_program && !bot && offset_days >= 0 && offset_days <= i64::from(window);
            let winner = attribute(&candidates, &program, occurred, window, precedence);
            match winner {
                Winner::Click { creator, .. } => {
                    prop_assert!(qualifies);
                    prop_assert_eq!(&creator, &anna);
                    prop_assert!(!has_coupon || !coupon_first || same_creator);
                }
                Winner::Coupon { creator, .. } => {
                    prop_assert!(has_coupon);
                    prop_assert_eq!(&creator, &ben);
                    prop_assert!(!qualifies || (coupon_first && !same_creator));
                }
                Winner::None => prop_assert!(!qualifies && !has_coupon),
            }
        }
    }

    #[test]
    fn window_and_skew_edges() {
        let program = ProgramId::generate();
        let anna = CreatorId::generate();
        let c = click(&program, &anna, T0, false);
        assert!(click_qualifies(&c, &program, at(T0 + 30 * DAY), 30));
        assert!(!click_qualifies(&c, &program, at(T0 + 30 * DAY + 1), 30));
        assert!(click_qualifies(&c, &program, at(T0 - 60_000), 30));
        assert!(!click_qualifies(&c, &program, at(T0 - 6 * 60_000), 30));
        assert!(too_fast(&c, at(T0 + 9_999)));
        assert!(!too_fast(&c, at(T0 + 10_000)));
    }
}
