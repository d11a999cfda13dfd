//! Booking: one conversion event in, one atomic write out (flow 3 of the brief).
//!
//! For a sale or lead: dedupe (delivery id, then the order's business key), attribute, price
//! (currency conversion with the program's configured rate, then the commission plan), hold
//! when a fraud rule fires, and write the conversion, its dedupe records and its accrual in one
//! transaction. For a refund: find the order (by id or alias), move its refunded total forward
//! (cumulative or by refund id) and book the pro-rata reversal in one version-checked
//! transaction. Concurrent attempts race on conditions; the loser re-reads and finds the
//! winner's work, so every fact books exactly once.

use time::{Duration, OffsetDateTime};

use crate::ports::StoreError;
use crate::{BookingConflict, BookingWrite, ClickUse, Customer, Store};
use linkledger_core::attribution::{attribute, too_fast, Candidates, Winner};
use linkledger_core::audit::{Actor, AuditEntry};
use linkledger_core::click::Click;
use linkledger_core::commission::{reversal_target, sale_commission};
use linkledger_core::conversion::{
    Attribution, Conversion, ConversionEvent, ConversionId, ConversionKind, ConversionStatus, Fact,
    HoldReason, LineItem, Refund, Refunded, Sale,
};
use linkledger_core::creator::Enrolment;
use linkledger_core::fx::AppliedRate;
use linkledger_core::ids::{ClickId, CreatorId};
use linkledger_core::ledger::{EntryKind, LedgerEntry};
use linkledger_core::money::{Money, MoneyError};
use linkledger_core::program::Program;

/// Attempts before a booking that keeps losing races is handed back to the queue.
const ATTEMPTS: usize = 5;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Booked {
        conversion: ConversionId,
        status: ConversionStatus,
    },
    Refunded {
        conversion: ConversionId,
        /// The reversal booked by this refund (zero when nothing was payable).
        reversed: Money,
    },
    /// Already booked: by this delivery, or the same order under another delivery.
    Duplicate,
}

#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    /// Try again later: the order of a refund has not arrived, or the store is unavailable.
    #[error("retry later: {0}")]
    Retry(String),
    /// Can never be booked (the message goes to the dead-letter queue with this reason).
    #[error("cannot be booked: {0}")]
    Invalid(String),
}

impl BookingError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, BookingError::Retry(_))
    }
}

impl From<StoreError> for BookingError {
    fn from(e: StoreError) -> Self {
        if e.is_retryable() {
            BookingError::Retry(e.to_string())
        } else {
            BookingError::Invalid(e.to_string())
        }
    }
}

impl From<MoneyError> for BookingError {
    fn from(e: MoneyError) -> Self {
        BookingError::Invalid(e.to_string())
    }
}

enum Attempt {
    Done(Outcome),
    Raced,
}

fn committed(
    result: Result<(), BookingConflict>,
    outcome: Outcome,
) -> Result<Attempt, BookingError> {
    match result {
        Ok(()) => Ok(Attempt::Done(outcome)),
        Err(BookingConflict::DeliverySeen) => Ok(Attempt::Done(Outcome::Duplicate)),
        Err(BookingConflict::Conversion) | Err(BookingConflict::Raced) => Ok(Attempt::Raced),
        Err(BookingConflict::Store(e)) => Err(e.into()),
    }
}

/// Books one event exactly once (see the module documentation).
pub async fn book_conversion(
    store: &Store,
    event: &ConversionEvent,
) -> Result<Outcome, BookingError> {
    let program = store
        .program(&event.program_id)
        .await?
        .ok_or_else(|| BookingError::Invalid(format!("unknown program {}", event.program_id)))?
        .record;
    for _ in 0..ATTEMPTS {
        let attempt = match &event.fact {
            Fact::Sale(sale) => book_order(store, &program, event, &Order::sale(sale)).await?,
            Fact::Lead(lead) => {
                let order = Order {
                    key: format!("lead:{}", lead.order_id),
                    order_id: lead.order_id.clone(),
                    kind: ConversionKind::Lead,
                    occurred_at: lead.occurred_at,
                    net: Money::zero(program.currency),
                    refund_basis: Money::zero(program.currency),
                    aliases: &[],
                    click_id: lead.click_id.as_deref(),
                    coupons: &lead.coupons,
                    email_hash: lead.customer_email_hash.as_deref(),
                    customer_ref: None,
                    lines: &[],
                };
                book_order(store, &program, event, &order).await?
            }
            Fact::Refund(refund) => book_refund(store, &program, event, refund).await?,
        };
        if let Attempt::Done(outcome) = attempt {
            return Ok(outcome);
        }
    }
    Err(BookingError::Retry(
        "lost the race to concurrent bookings too often".into(),
    ))
}

/// A sale or lead, with what booking needs of it.
struct Order<'a> {
    key: String,
    order_id: String,
    kind: ConversionKind,
    occurred_at: OffsetDateTime,
    net: Money,
    refund_basis: Money,
    aliases: &'a [String],
    click_id: Option<&'a str>,
    coupons: &'a [String],
    email_hash: Option<&'a str>,
    customer_ref: Option<&'a str>,
    lines: &'a [LineItem],
}

impl<'a> Order<'a> {
    fn sale(sale: &'a Sale) -> Self {
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
}

/// The order's amounts in the program currency and what they earn.
struct Priced {
    program_net: Option<Money>,
    fx: Option<AppliedRate>,
    commission: Money,
}

/// Converts (with the program's rate, or not at all) and applies the plan. `None` when the
/// order's currency has no configured rate. A converted net or a commission past the amount
/// bound (a large order at a large rate, a fixed amount times a large quantity) is
/// `MoneyError::TooLarge`: booking holds such an order instead of pricing it.
fn price(
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
        linkledger_core::limits::check_amount(amount.minor()).map_err(|_| MoneyError::TooLarge)?;
    }
    Ok(Some(Priced {
        program_net: Some(program_net),
        fx,
        commission,
    }))
}

/// When an accrual of an order at `occurred_at` becomes payable. Checked: an event's time is
/// bounded at the edge (`limits`), but a message is never trusted to have been checked.
fn payable_from(
    occurred_at: OffsetDateTime,
    holding_days: u16,
) -> Result<OffsetDateTime, BookingError> {
    occurred_at
        .checked_add(Duration::days(i64::from(holding_days)))
        .ok_or_else(|| {
            BookingError::Invalid("occurred_at plus the holding period is out of range".into())
        })
}

/// `at` plus `months` calendar months (the day clamped to the target month's length).
fn add_months(at: OffsetDateTime, months: u16) -> OffsetDateTime {
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

async fn book_order(
    store: &Store,
    program: &Program,
    event: &ConversionEvent,
    order: &Order<'_>,
) -> Result<Attempt, BookingError> {
    let id = ConversionId::for_order(&program.id, &order.key);
    if store.conversion(&id).await?.is_some() {
        return Ok(Attempt::Done(Outcome::Duplicate));
    }

    // Attribution.
    let mut click: Option<Click> = None;
    let (creator, attribution) = if order.kind == ConversionKind::Renewal {
        renewal_creator(store, program, event, order).await?
    } else {
        if let Some(click_id) = order.click_id.and_then(|c| ClickId::parse(c.trim()).ok()) {
            click = store.click(&click_id).await?;
        }
        let mut coupon = None;
        for code in order.coupons {
            if let Some(promo) = store.promo_code(&program.id, code).await? {
                coupon = Some((code.clone(), promo.creator_id));
                break;
            }
        }
        let candidates = Candidates {
            click: click.as_ref(),
            coupon: coupon
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
            Winner::Click { click_id, creator } => (Some(creator), Attribution::Click { click_id }),
            Winner::Coupon { code, creator } => (Some(creator), Attribution::Coupon { code }),
            Winner::None => (None, Attribution::None),
        }
    };

    // Fraud holds and the click's use count.
    let mut holds = Vec::new();
    let mut click_use = None;
    let enrolment = match &creator {
        Some(creator) => store.enrolment(&program.id, creator).await?,
        None => None,
    };
    if let Some(creator_id) = &creator {
        if let (Some(hash), Some(creator)) = (order.email_hash, store.creator(creator_id).await?) {
            if hash == creator.email_hash {
                holds.push(HoldReason::SelfReferral);
            }
        }
    }
    if let (Attribution::Click { click_id }, Some(click)) = (&attribution, &click) {
        let used = store.click_use(click_id).await?;
        let orders = used
            .as_ref()
            .map_or(0, |u| u.record.orders)
            .saturating_add(1);
        if orders > program.max_orders_per_click {
            holds.push(HoldReason::ClickReused);
        }
        if too_fast(click, order.occurred_at) {
            holds.push(HoldReason::TooFastAfterClick);
        }
        click_use = Some((
            click_id.clone(),
            ClickUse { orders },
            used.map(|u| u.version),
        ));
    }

    let priced = match price(
        program,
        order.kind,
        creator.as_ref(),
        enrolment.as_ref(),
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
    let now = store.now();
    let conversion = Conversion {
        id: id.clone(),
        program_id: program.id.clone(),
        platform: event.platform,
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
    let entries = accrual(&conversion);
    let customer = match (&creator, order.customer_ref, order.kind) {
        (Some(creator), Some(customer_ref), ConversionKind::Sale)
            if status != ConversionStatus::Unattributed =>
        {
            match store
                .customer(&program.id, event.platform, customer_ref)
                .await?
            {
                Some(_) => None,
                None => Some((
                    event.platform,
                    customer_ref.to_string(),
                    Customer {
                        creator_id: creator.clone(),
                        first_conversion: id.clone(),
                        first_sale_at: order.occurred_at,
                    },
                )),
            }
        }
        _ => None,
    };
    let write = BookingWrite {
        delivery: Some((
            program.id.clone(),
            event.platform,
            event.delivery_id.clone(),
        )),
        conversion,
        conversion_version: None,
        aliases: order.aliases.to_vec(),
        click_use,
        customer,
        entries,
        audit: None,
    };
    committed(
        store.commit_booking(&write).await,
        Outcome::Booked {
            conversion: id,
            status,
        },
    )
}

/// The accrual of an approved conversion that earns something.
fn accrual(c: &Conversion) -> Vec<LedgerEntry> {
    match (&c.creator_id, c.status) {
        (Some(creator), ConversionStatus::Approved) if c.commission.minor() > 0 => {
            vec![LedgerEntry::new(
                creator.clone(),
                c.program_id.clone(),
                EntryKind::Accrual,
                c.commission,
                Some(c.id.clone()),
                c.available_at,
                c.fx,
            )]
        }
        _ => Vec::new(),
    }
}

/// A renewal earns for the creator of the customer's first sale, within the recurring months.
async fn renewal_creator(
    store: &Store,
    program: &Program,
    event: &ConversionEvent,
    order: &Order<'_>,
) -> Result<(Option<CreatorId>, Attribution), BookingError> {
    let Some(customer_ref) = order.customer_ref else {
        return Ok((None, Attribution::None));
    };
    let months = program.plan.recurring_months;
    match store
        .customer(&program.id, event.platform, customer_ref)
        .await?
    {
        Some(customer)
            if months > 0 && order.occurred_at <= add_months(customer.first_sale_at, months) =>
        {
            Ok((
                Some(customer.creator_id),
                Attribution::Customer {
                    customer_ref: customer_ref.to_string(),
                },
            ))
        }
        _ => Ok((None, Attribution::None)),
    }
}

async fn book_refund(
    store: &Store,
    program: &Program,
    event: &ConversionEvent,
    refund: &Refund,
) -> Result<Attempt, BookingError> {
    let mut found = None;
    for order_ref in &refund.order_refs {
        found = store.conversion_by_ref(&program.id, order_ref).await?;
        if found.is_some() {
            break;
        }
    }
    let Some(found) = found else {
        return Err(BookingError::Retry(format!(
            "refund of order {:?} arrived before its order",
            refund.order_refs.first().map(String::as_str).unwrap_or("")
        )));
    };
    let mut c = found.record;
    let before = c.refunded;
    match &refund.refunded {
        Refunded::Cumulative(total) => {
            let total = check_currency(*total, before)?;
            if total.minor() <= before.minor() {
                return Ok(Attempt::Done(Outcome::Duplicate));
            }
            c.refunded = total;
        }
        Refunded::Increment { refund_id, amount } => {
            let amount = check_currency(*amount, before)?;
            if c.refund_ids.contains(refund_id) {
                return Ok(Attempt::Done(Outcome::Duplicate));
            }
            c.refund_ids.push(refund_id.clone());
            c.refunded = before.checked_add(amount)?;
        }
    }
    let mut entries = Vec::new();
    let mut reversed = Money::zero(program.currency);
    if c.status == ConversionStatus::Approved {
        let target = reversal_target(c.commission, c.refunded, c.refund_basis)?;
        reversed = target.checked_sub(c.reversed)?;
        if let (Some(creator), true) = (&c.creator_id, reversed.minor() > 0) {
            entries.push(LedgerEntry::new(
                creator.clone(),
                c.program_id.clone(),
                EntryKind::Reversal,
                Money::zero(program.currency).checked_sub(reversed)?,
                Some(c.id.clone()),
                // Reverses alongside its accrual: pending while the accrual is; after that, it
                // belongs to the day the refund happened (a late one is settled by the next run).
                c.available_at.max(refund.occurred_at.min(store.now())),
                c.fx,
            ));
        }
        c.reversed = target;
    }
    let conversion = c.id.clone();
    let write = BookingWrite {
        delivery: Some((
            program.id.clone(),
            event.platform,
            event.delivery_id.clone(),
        )),
        conversion: c,
        conversion_version: Some(found.version),
        aliases: Vec::new(),
        click_use: None,
        customer: None,
        entries,
        audit: None,
    };
    committed(
        store.commit_booking(&write).await,
        Outcome::Refunded {
            conversion,
            reversed,
        },
    )
}

/// Refund amounts must be in the order's currency: never mixed, never converted.
fn check_currency(amount: Money, order: Money) -> Result<Money, BookingError> {
    if amount.currency() != order.currency() {
        return Err(BookingError::Invalid(format!(
            "refund in {} for an order in {}",
            amount.currency(),
            order.currency()
        )));
    }
    Ok(amount)
}

#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    #[error("no such conversion")]
    NotFound,
    #[error("only held conversions can be approved or rejected (this one is {0:?})")]
    NotHeld(ConversionStatus),
    #[error("the program has no exchange rate for {0}: set one before approving")]
    FxRateMissing(linkledger_core::money::Currency),
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Approves (`approve`) or rejects a held conversion. Approving books its accrual (priced now if
/// it waited for an exchange rate) and the reversal of whatever was refunded meanwhile.
pub async fn decide(
    store: &Store,
    id: &ConversionId,
    approve: bool,
    actor: &Actor,
) -> Result<Conversion, DecisionError> {
    for _ in 0..ATTEMPTS {
        let found = store.conversion(id).await?.ok_or(DecisionError::NotFound)?;
        let before = found.record;
        if before.status != ConversionStatus::Held {
            return Err(DecisionError::NotHeld(before.status));
        }
        let mut c = before.clone();
        let mut entries = Vec::new();
        if approve {
            let program = store
                .program(&c.program_id)
                .await?
                .ok_or(DecisionError::NotFound)?
                .record;
            if c.program_net.is_none() {
                let enrolment = match &c.creator_id {
                    Some(creator) => store.enrolment(&program.id, creator).await?,
                    None => None,
                };
                let priced = price(
                    &program,
                    c.kind,
                    c.creator_id.as_ref(),
                    enrolment.as_ref(),
                    c.net,
                    &c.lines,
                )
                .map_err(DecisionError::Money)?
                .ok_or(DecisionError::FxRateMissing(c.net.currency()))?;
                c.program_net = priced.program_net;
                c.fx = priced.fx;
                c.commission = priced.commission;
            }
            c.status = ConversionStatus::Approved;
            entries = accrual(&c);
            let target = reversal_target(c.commission, c.refunded, c.refund_basis)?;
            if let (Some(creator), true) = (&c.creator_id, target.minor() > 0) {
                entries.push(LedgerEntry::new(
                    creator.clone(),
                    c.program_id.clone(),
                    EntryKind::Reversal,
                    Money::zero(target.currency()).checked_sub(target)?,
                    Some(c.id.clone()),
                    c.available_at.max(store.now()),
                    c.fx,
                ));
            }
            c.reversed = target;
        } else {
            c.status = ConversionStatus::Rejected;
        }
        let action = if approve {
            "conversion.approve"
        } else {
            "conversion.reject"
        };
        let audit = AuditEntry::new(store.now(), actor, action, &c.id, Some(&before), Some(&c));
        let write = BookingWrite {
            delivery: None,
            conversion: c.clone(),
            conversion_version: Some(found.version),
            aliases: Vec::new(),
            click_use: None,
            customer: None,
            entries,
            audit: Some(audit),
        };
        match store.commit_booking(&write).await {
            Ok(()) => return Ok(c),
            Err(BookingConflict::Store(e)) => return Err(e.into()),
            Err(_) => continue,
        }
    }
    Err(DecisionError::Store(StoreError::Conflict))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn months_are_calendar_months_with_the_day_clamped() {
        assert_eq!(
            add_months(datetime!(2026-01-31 10:00 UTC), 1),
            datetime!(2026-02-28 10:00 UTC)
        );
        assert_eq!(
            add_months(datetime!(2026-11-15 00:00 UTC), 14),
            datetime!(2028-01-15 00:00 UTC)
        );
        assert_eq!(
            add_months(datetime!(2026-05-01 00:00 UTC), 0),
            datetime!(2026-05-01 00:00 UTC)
        );
    }
}
