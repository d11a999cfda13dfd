//! Booking decisions (flow 3 of the brief), pure: the store crate's `booking` gathers the facts
//! (the program, the order's click, promo code, customer record, the creator's enrolment and
//! e-mail hash, the click's use count), calls one function here with the time, and writes what
//! it returns in one transaction. Nothing here reads a clock or a store, so every rule below is
//! tested without one.
//!
//! - A sale or lead ([`decide_order`]): attribute (a renewal through its customer's first sale,
//!   within the plan's recurring months; else the click or promo code, [`crate::attribution`]),
//!   hold when a fraud rule fires, price (the program's exchange rate, then the plan), and book
//!   the accrual of an approved conversion that earns something.
//! - A refund ([`decide_refund`]): move the refunded total forward (cumulative, or by refund
//!   id) and reverse pro rata ([`reversal`]).
//! - An admin's approval or rejection of a held conversion ([`decide_hold`]): approving prices
//!   it if it waited for a rate, books its accrual and the reversal of whatever was refunded
//!   meanwhile ([`reversal`] again: one rule for both).

use time::{Duration, OffsetDateTime};

use crate::attribution::{attribute, too_fast, Candidates, Winner};
use crate::click::Click;
use crate::commission::{reversal_target, sale_commission};
use crate::conversion::{
    Attribution, Conversion, ConversionId, ConversionKind, ConversionStatus, HoldReason, Lead,
    LineItem, Platform, Refund, Refunded, Sale,
};
use crate::creator::Enrolment;
use crate::fx::AppliedRate;
use crate::ids::CreatorId;
use crate::ledger::LedgerEntry;
use crate::money::{Currency, Money, MoneyError};
use crate::program::Program;

/// An admin's word on a held conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Books its commission (and the reversal of what was refunded while it was held).
    Approve,
    /// It never pays.
    Reject,
}

impl Decision {
    /// The audit log's action.
    pub fn action(self) -> &'static str {
        match self {
            Decision::Approve => "conversion.approve",
            Decision::Reject => "conversion.reject",
        }
    }
}

/// Why an event can never be booked (its message goes to the dead-letter queue with this).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unbookable {
    #[error("occurred_at plus the holding period is out of range")]
    PayableOutOfRange,
    /// Refund amounts must be in the order's currency: never mixed, never converted.
    #[error("refund in {refund} for an order in {order}")]
    RefundCurrency { refund: Currency, order: Currency },
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// A sale or lead, with what booking needs of it.
#[derive(Clone, Debug)]
pub struct Order<'a> {
    /// The business key the conversion id is derived from (a lead's is `lead:` + its id).
    pub key: String,
    pub order_id: String,
    pub kind: ConversionKind,
    pub occurred_at: OffsetDateTime,
    pub net: Money,
    pub refund_basis: Money,
    pub aliases: &'a [String],
    pub click_id: Option<&'a str>,
    pub coupons: &'a [String],
    pub email_hash: Option<&'a str>,
    pub customer_ref: Option<&'a str>,
    pub lines: &'a [LineItem],
}

impl<'a> Order<'a> {
    pub fn sale(sale: &'a Sale) -> Self {
        Order {
            key: sale.order_id.clone(),
            order_id: sale.order_id.clone(),
            kind: if sale.renewal {
                ConversionKind::Renewal
            } else {
                ConversionKind::Sale
            },
            occurred_at: sale.occurred_at,
            net: sale.net,
            refund_basis: sale.refund_basis,
            aliases: &sale.aliases,
            click_id: sale.click_id.as_deref(),
            coupons: &sale.coupons,
            email_hash: sale.customer_email_hash.as_deref(),
            customer_ref: sale.customer_ref.as_deref(),
            lines: &sale.lines,
        }
    }

    /// A lead of a program in `currency` (it has no amount: it earns the plan's lead amount).
    pub fn lead(lead: &'a Lead, currency: Currency) -> Self {
        Order {
            key: format!("lead:{}", lead.order_id),
            order_id: lead.order_id.clone(),
            kind: ConversionKind::Lead,
            occurred_at: lead.occurred_at,
            net: Money::zero(currency),
            refund_basis: Money::zero(currency),
            aliases: &[],
            click_id: lead.click_id.as_deref(),
            coupons: &lead.coupons,
            email_hash: lead.customer_email_hash.as_deref(),
            customer_ref: None,
            lines: &[],
        }
    }

    /// The conversion this order books in `program` (the business-key dedupe).
    pub fn conversion_id(&self, program: &Program) -> ConversionId {
        ConversionId::for_order(&program.id, &self.key)
    }
}

/// A customer's first attributed sale (the store's customer record): later renewals of the
/// customer earn for its creator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirstSale {
    pub creator_id: CreatorId,
    pub first_conversion: ConversionId,
    pub first_sale_at: OffsetDateTime,
}

/// What attribution reads.
#[derive(Clone, Debug, Default)]
pub struct AttributionFacts {
    /// The order's click, when its id parses and the click exists (not read for a renewal).
    pub click: Option<Click>,
    /// The order's first promo code known in the program, and its creator (not read for a
    /// renewal).
    pub coupon: Option<(String, CreatorId)>,
    /// The stored first sale of the order's customer (program, platform, customer ref): read
    /// for a renewal (it attributes it) and for an attributed sale (a sale of a customer
    /// without one becomes its first sale).
    pub customer: Option<FirstSale>,
}

/// Who earns an order, and how it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attributed {
    pub creator: Option<CreatorId>,
    pub attribution: Attribution,
}

/// Who earns `order`: a renewal the creator of its customer's first sale while the plan's
/// recurring months last; any other order its click or promo code ([`attribute`]).
pub fn attribute_order(
    program: &Program,
    order: &Order<'_>,
    facts: &AttributionFacts,
) -> Attributed {
    let none = Attributed {
        creator: None,
        attribution: Attribution::None,
    };
    if order.kind == ConversionKind::Renewal {
        let months = program.plan.recurring_months;
        return match (order.customer_ref, &facts.customer) {
            (Some(customer_ref), Some(first))
                if months > 0 && order.occurred_at <= add_months(first.first_sale_at, months) =>
            {
                Attributed {
                    creator: Some(first.creator_id.clone()),
                    attribution: Attribution::Customer {
                        customer_ref: customer_ref.to_string(),
                    },
                }
            }
            _ => none,
        };
    }
    let candidates = Candidates {
        click: facts.click.as_ref(),
        coupon: facts
            .coupon
            .as_ref()
            .map(|(code, creator)| (code.as_str(), creator)),
    };
    match attribute(
        &candidates,
        &program.id,
        order.occurred_at,
        program.attribution_window_days,
        program.precedence,
    ) {
        Winner::Click { click_id, creator } => Attributed {
            creator: Some(creator),
            attribution: Attribution::Click { click_id },
        },
        Winner::Coupon { code, creator } => Attributed {
            creator: Some(creator),
            attribution: Attribution::Coupon { code },
        },
        Winner::None => none,
    }
}

/// What booking reads about the creator attribution picked.
#[derive(Clone, Debug)]
pub struct CreatorFacts {
    pub id: CreatorId,
    pub enrolment: Option<Enrolment>,
    /// The creator's e-mail hash (`None`: not read, because the order carries no e-mail, or no
    /// such creator).
    pub email_hash: Option<String>,
}

/// Everything [`decide_order`] needs to know.
#[derive(Clone, Debug)]
pub struct OrderFacts<'a> {
    pub program: &'a Program,
    pub platform: Platform,
    pub attribution: AttributionFacts,
    /// Of the creator [`attribute_order`] picks from `attribution` (ignored for anyone else).
    pub creator: Option<CreatorFacts>,
    /// Orders the attributing click carried before this one.
    pub click_orders: u32,
}

/// What booking an order writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Booking {
    pub conversion: Conversion,
    /// Its accrual, when it is approved and earns something.
    pub entries: Vec<LedgerEntry>,
    /// The attributing click and the orders it has now carried.
    pub click_use: Option<(String, u32)>,
    /// The customer ref and the first sale to remember for it (an attributed sale of a
    /// customer without one).
    pub first_sale: Option<(String, FirstSale)>,
}

/// Books one sale or lead at `now` (see the module documentation).
pub fn decide_order(
    facts: &OrderFacts<'_>,
    order: &Order<'_>,
    now: OffsetDateTime,
) -> Result<Booking, Unbookable> {
    let program = facts.program;
    let id = order.conversion_id(program);
    let Attributed {
        creator,
        attribution,
    } = attribute_order(program, order, &facts.attribution);
    let creator_facts = facts
        .creator
        .as_ref()
        .filter(|c| Some(&c.id) == creator.as_ref());
    let enrolment = creator_facts.and_then(|c| c.enrolment.as_ref());

    // Fraud holds and the click's use count.
    let mut holds = Vec::new();
    if let (Some(hash), Some(creator_hash)) = (
        order.email_hash,
        creator_facts.and_then(|c| c.email_hash.as_deref()),
    ) {
        if hash == creator_hash {
            holds.push(HoldReason::SelfReferral);
        }
    }
    let mut click_use = None;
    if let (Attribution::Click { click_id }, Some(click)) = (&attribution, &facts.attribution.click)
    {
        let orders = facts.click_orders.saturating_add(1);
        if orders > program.max_orders_per_click {
            holds.push(HoldReason::ClickReused);
        }
        if too_fast(click, order.occurred_at) {
            holds.push(HoldReason::TooFastAfterClick);
        }
        click_use = Some((click_id.clone(), orders));
    }

    let priced = match price(
        program,
        order.kind,
        creator.as_ref(),
        enrolment,
        order.net,
        order.lines,
    ) {
        Ok(Some(priced)) => Some(priced),
        Ok(None) => {
            holds.push(HoldReason::FxRateMissing);
            None
        }
        // Within the bounds as reported, but not once converted or priced: held for an
        // admin (never poison: the order was answered 200 and is real).
        Err(MoneyError::Overflow | MoneyError::TooLarge) => {
            holds.push(HoldReason::AmountOutOfRange);
            None
        }
        Err(other) => return Err(other.into()),
    };
    let priced = priced.unwrap_or(Priced {
        program_net: None,
        fx: None,
        commission: Money::zero(program.currency),
    });
    let status = match (&creator, holds.is_empty()) {
        (None, _) => ConversionStatus::Unattributed,
        (Some(_), false) => ConversionStatus::Held,
        (Some(_), true) => ConversionStatus::Approved,
    };
    let conversion = Conversion {
        id: id.clone(),
        program_id: program.id.clone(),
        platform: facts.platform,
        kind: order.kind,
        order_id: order.order_id.clone(),
        occurred_at: order.occurred_at,
        booked_at: now,
        net: order.net,
        refund_basis: order.refund_basis,
        refunded: Money::zero(order.refund_basis.currency()),
        refund_ids: Vec::new(),
        program_net: priced.program_net,
        fx: priced.fx,
        creator_id: creator.clone(),
        attribution,
        status,
        hold_reasons: holds,
        commission: priced.commission,
        reversed: Money::zero(program.currency),
        available_at: payable_from(order.occurred_at, program.holding_days)?,
        customer_ref: order.customer_ref.map(str::to_string),
        coupons: order.coupons.to_vec(),
        lines: order.lines.to_vec(),
    };
    let entries = accrual(&conversion, now);
    let first_sale = match (&creator, order.customer_ref, order.kind) {
        (Some(creator), Some(customer_ref), ConversionKind::Sale)
            if facts.attribution.customer.is_none() =>
        {
            Some((
                customer_ref.to_string(),
                FirstSale {
                    creator_id: creator.clone(),
                    first_conversion: id,
                    first_sale_at: order.occurred_at,
                },
            ))
        }
        _ => None,
    };
    Ok(Booking {
        conversion,
        entries,
        click_use,
        first_sale,
    })
}

/// The order's amounts in the program currency and what they earn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Priced {
    pub program_net: Option<Money>,
    pub fx: Option<AppliedRate>,
    pub commission: Money,
}

/// Converts (with the program's rate, or not at all) and applies the plan. `None` when the
/// order's currency has no configured rate. A converted net or a commission past the amount
/// bound (a large order at a large rate, a fixed amount times a large quantity) is
/// `MoneyError::TooLarge`: booking holds such an order instead of pricing it.
pub fn price(
    program: &Program,
    kind: ConversionKind,
    creator: Option<&CreatorId>,
    enrolment: Option<&Enrolment>,
    net: Money,
    lines: &[LineItem],
) -> Result<Option<Priced>, MoneyError> {
    let zero = Money::zero(program.currency);
    let (program_net, program_lines, fx) = if net.currency() == program.currency {
        (net, lines.to_vec(), None)
    } else {
        let Some(rate) = program.fx_rates.get(&net.currency()) else {
            return Ok(None);
        };
        let converted = lines
            .iter()
            .map(|l| {
                Ok(LineItem {
                    net: rate.convert(l.net, program.currency)?,
                    ..l.clone()
                })
            })
            .collect::<Result<Vec<_>, MoneyError>>()?;
        let fx = AppliedRate {
            from: net.currency(),
            to: program.currency,
            rate: *rate,
        };
        (rate.convert(net, program.currency)?, converted, Some(fx))
    };
    let commission = match (creator, kind) {
        (None, _) => zero,
        (Some(_), ConversionKind::Lead) => program.plan.lead.unwrap_or(zero),
        (Some(creator), _) => sale_commission(
            &program.plan,
            creator,
            enrolment.and_then(|e| e.rate_override.as_ref()),
            program_net,
            &program_lines,
        )?,
    };
    for amount in [program_net, commission] {
        crate::limits::check_amount(amount.minor()).map_err(|_| MoneyError::TooLarge)?;
    }
    Ok(Some(Priced {
        program_net: Some(program_net),
        fx,
        commission,
    }))
}

/// When an accrual of an order at `occurred_at` becomes payable. Checked: an event's time is
/// bounded at the edge (`limits`), but a message is never trusted to have been checked.
pub fn payable_from(
    occurred_at: OffsetDateTime,
    holding_days: u16,
) -> Result<OffsetDateTime, Unbookable> {
    occurred_at
        .checked_add(Duration::days(i64::from(holding_days)))
        .ok_or(Unbookable::PayableOutOfRange)
}

/// `at` plus `months` calendar months (the day clamped to the target month's length).
pub fn add_months(at: OffsetDateTime, months: u16) -> OffsetDateTime {
    let total = i32::from(at.month() as u8)
        .saturating_sub(1)
        .saturating_add(i32::from(months));
    let year = at.year().saturating_add(total.div_euclid(12));
    let month =
        time::Month::try_from(total.rem_euclid(12).saturating_add(1) as u8).unwrap_or(at.month());
    let day = at.day().min(month.length(year));
    time::Date::from_calendar_date(year, month, day)
        .map(|date| at.replace_date(date))
        .unwrap_or(at)
}

/// The accrual of an approved conversion that earns something (none for any other).
pub fn accrual(c: &Conversion, now: OffsetDateTime) -> Vec<LedgerEntry> {
    match (&c.creator_id, c.status) {
        (Some(creator), ConversionStatus::Approved) if c.commission.minor() > 0 => {
            vec![LedgerEntry::accrual(creator, c, now)]
        }
        _ => Vec::new(),
    }
}

/// The one reversal rule. An approved conversion's reversed total is brought to
/// [`reversal_target`] of what is refunded so far (pro rata, cumulative, never more than the
/// commission); the difference is booked as one reversal entry, payable alongside its accrual:
/// pending while the accrual is, and after that on the day the refund happened, `refunded_at`
/// (never later than `now`: a late one is settled by the next run). A conversion that is not
/// approved reverses nothing (a held one's refunds are reversed when it is approved).
///
/// Returns what this step reversed (zero when nothing) and its entry, when there is one.
pub fn reversal(
    c: &mut Conversion,
    refunded_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(Money, Option<LedgerEntry>), MoneyError> {
    let zero = Money::zero(c.commission.currency());
    if c.status != ConversionStatus::Approved {
        return Ok((zero, None));
    }
    let target = reversal_target(c.commission, c.refunded, c.refund_basis)?;
    let reversed = target.checked_sub(c.reversed)?;
    let entry = match (&c.creator_id, reversed.minor() > 0) {
        (Some(creator), true) => Some(LedgerEntry::reversal(
            creator,
            c,
            reversed,
            c.available_at.max(refunded_at.min(now)),
            now,
        )?),
        _ => None,
    };
    c.reversed = target;
    Ok((reversed, entry))
}

/// What a refund of a booked conversion does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefundDecision {
    /// A repeat (the same refund id, or a cumulative total no higher than before).
    Duplicate,
    Refund {
        /// The conversion with its refunded (and reversed) totals moved forward.
        conversion: Box<Conversion>,
        entries: Vec<LedgerEntry>,
        /// What this refund reversed (zero when nothing was payable).
        reversed: Money,
    },
}

/// Books `refund` against the conversion it names, at `now`.
pub fn decide_refund(
    conversion: &Conversion,
    refund: &Refund,
    now: OffsetDateTime,
) -> Result<RefundDecision, Unbookable> {
    let mut c = conversion.clone();
    let before = c.refunded;
    match &refund.refunded {
        Refunded::Cumulative(total) => {
            let total = check_currency(*total, before)?;
            if total.minor() <= before.minor() {
                return Ok(RefundDecision::Duplicate);
            }
            c.refunded = total;
        }
        Refunded::Increment { refund_id, amount } => {
            let amount = check_currency(*amount, before)?;
            if c.refund_ids.contains(refund_id) {
                return Ok(RefundDecision::Duplicate);
            }
            c.refund_ids.push(refund_id.clone());
            c.refunded = before.checked_add(amount)?;
        }
    }
    let (reversed, entry) = reversal(&mut c, refund.occurred_at, now)?;
    Ok(RefundDecision::Refund {
        conversion: Box::new(c),
        entries: entry.into_iter().collect(),
        reversed,
    })
}

/// Refund amounts must be in the order's currency: never mixed, never converted.
pub fn check_currency(amount: Money, order: Money) -> Result<Money, Unbookable> {
    if amount.currency() != order.currency() {
        return Err(Unbookable::RefundCurrency {
            refund: amount.currency(),
            order: order.currency(),
        });
    }
    Ok(amount)
}

/// Why a held conversion cannot be decided.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HoldError {
    #[error("only held conversions can be approved or rejected (this one is {0:?})")]
    NotHeld(ConversionStatus),
    #[error("the program has no exchange rate for {0}: set one before approving")]
    FxRateMissing(Currency),
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// What deciding a held conversion writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decided {
    pub conversion: Conversion,
    /// Approving: its accrual and the reversal of what was refunded meanwhile.
    pub entries: Vec<LedgerEntry>,
}

/// Whether approving `c` prices it (it waited for an exchange rate): then it needs the
/// creator's enrolment.
pub fn needs_pricing(c: &Conversion) -> bool {
    c.program_net.is_none()
}

/// Approves or rejects the held conversion `c` of `program` at `now`. Approving prices it if
/// it waited for a rate (`enrolment`: the creator's, read when [`needs_pricing`]), books its
/// accrual, and reverses what was refunded while it was held ([`reversal`]).
pub fn decide_hold(
    c: &Conversion,
    decision: Decision,
    program: &Program,
    enrolment: Option<&Enrolment>,
    now: OffsetDateTime,
) -> Result<Decided, HoldError> {
    if c.status != ConversionStatus::Held {
        return Err(HoldError::NotHeld(c.status));
    }
    let mut c = c.clone();
    if decision == Decision::Reject {
        c.status = ConversionStatus::Rejected;
        return Ok(Decided {
            conversion: c,
            entries: Vec::new(),
        });
    }
    if needs_pricing(&c) {
        let priced = price(
            program,
            c.kind,
            c.creator_id.as_ref(),
            enrolment,
            c.net,
            &c.lines,
        )?
        .ok_or(HoldError::FxRateMissing(c.net.currency()))?;
        c.program_net = priced.program_net;
        c.fx = priced.fx;
        c.commission = priced.commission;
    }
    c.status = ConversionStatus::Approved;
    let mut entries = accrual(&c, now);
    let (_, reversal) = reversal(&mut c, now, now)?;
    entries.extend(reversal);
    Ok(Decided {
        conversion: c,
        entries,
    })
}

#[cfg(test)]
mod tests;
