//! Booking: one conversion event in, one atomic write out (flow 3 of the brief). The rules are
//! the core's (`linkledger_core::booking`, pure); this is their I/O half: gather the facts,
//! decide with the store's clock, write once.
//!
//! For a sale or lead: dedupe (delivery id, then the order's business key), read what
//! attribution needs, then what the picked creator's holds and pricing need, decide
//! ([`decide_order`]), and write the conversion, its dedupe records, the click's use, the
//! customer's first sale and its accrual in one transaction. For a refund: find the order (by
//! id or alias), decide ([`decide_refund`]) and write in one version-checked transaction.
//! Concurrent attempts race on conditions; the loser re-reads and finds the winner's work, so
//! every fact books exactly once.

use crate::ports::StoreError;
use crate::{BookingConflict, BookingWrite, ClickUse, Customer, Store};
use linkledger_core::audit::{Actor, AuditEntry};
pub use linkledger_core::booking::Decision;
use linkledger_core::booking::{
    attribute_order, decide_hold, decide_order, decide_refund, needs_pricing, AttributionFacts,
    CreatorFacts, FirstSale, HoldError, Order, OrderFacts, RefundDecision, Unbookable,
};
use linkledger_core::conversion::{
    Attribution, Conversion, ConversionEvent, ConversionId, ConversionKind, ConversionStatus, Fact,
    Platform, Refund,
};
use linkledger_core::ids::{ClickId, ProgramId};
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

/// Why booking an event failed; its reason (with the reason's own cause) is its
/// [`source`](std::error::Error::source), shown whole by [`ErrorChain`](crate::ports::ErrorChain).
#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    /// Try again later: the order of a refund has not arrived, or the store is unavailable.
    #[error("retry later")]
    Retry(#[source] RetryReason),
    /// Can never be booked (the message goes to the dead-letter queue with this reason).
    #[error("cannot be booked")]
    Invalid(#[source] InvalidReason),
}

/// What may go right if the event is booked again later.
#[derive(Debug, thiserror::Error)]
pub enum RetryReason {
    /// Refunds can arrive before their order (webhooks are not ordered).
    #[error("refund of order {order_ref:?} arrived before its order")]
    RefundBeforeOrder { order_ref: String },
    /// Every attempt lost its write to a concurrent booking of the same facts.
    #[error("lost the race to concurrent bookings too often")]
    LostRaces,
    /// A retryable store failure ([`StoreError::is_retryable`]).
    #[error(transparent)]
    Store(StoreError),
}

/// Why the event can never be booked.
#[derive(Debug, thiserror::Error)]
pub enum InvalidReason {
    #[error("unknown program {0}")]
    UnknownProgram(ProgramId),
    /// The booking rules refuse the event.
    #[error(transparent)]
    Unbookable(Unbookable),
    /// A store failure that retrying would not cure (a corrupt record, a refused write).
    #[error(transparent)]
    Store(StoreError),
}

impl BookingError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, BookingError::Retry(_))
    }
}

impl From<StoreError> for BookingError {
    fn from(e: StoreError) -> Self {
        if e.is_retryable() {
            BookingError::Retry(RetryReason::Store(e))
        } else {
            BookingError::Invalid(InvalidReason::Store(e))
        }
    }
}

impl From<Unbookable> for BookingError {
    fn from(e: Unbookable) -> Self {
        BookingError::Invalid(InvalidReason::Unbookable(e))
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
        .ok_or_else(|| {
            BookingError::Invalid(InvalidReason::UnknownProgram(event.program_id.clone()))
        })?
        .record;
    for _ in 0..ATTEMPTS {
        let attempt = match &event.fact {
            Fact::Sale(sale) => book_order(store, &program, event, &Order::sale(sale)).await?,
            Fact::Lead(lead) => {
                let order = Order::lead(lead, program.currency);
                book_order(store, &program, event, &order).await?
            }
            Fact::Refund(refund) => book_refund(store, &program, event, refund).await?,
        };
        if let Attempt::Done(outcome) = attempt {
            return Ok(outcome);
        }
    }
    Err(BookingError::Retry(RetryReason::LostRaces))
}

/// The facts of one sale or lead, read in two steps: what attribution needs, then (for the
/// creator it picks, [`attribute_order`]) what holds, pricing and the customer record need.
/// Returns the facts and the click's version as read (for the write's condition).
async fn gather_order<'p>(
    store: &Store,
    program: &'p Program,
    event: &ConversionEvent,
    order: &Order<'_>,
) -> Result<(OrderFacts<'p>, Option<u64>), BookingError> {
    let mut attribution = AttributionFacts::default();
    if order.kind == ConversionKind::Renewal {
        attribution.customer = customer(store, program, event, order).await?;
    } else {
        if let Some(click_id) = order.click_id.and_then(|c| ClickId::parse(c.trim()).ok()) {
            attribution.click = store.click(&click_id).await?;
        }
        // The first of the order's codes that is known and not disabled (a disabled code
        // attributes nothing).
        for code in order.coupons {
            if let Some(promo) = store
                .promo_code(&program.id, code)
                .await?
                .filter(|p| !p.disabled)
            {
                attribution.coupon = Some((code.clone(), promo.creator_id));
                break;
            }
        }
    }
    let attributed = attribute_order(program, order, &attribution);
    let mut facts = OrderFacts {
        program,
        platform: event.platform,
        attribution,
        creator: None,
        click_orders: 0,
    };
    let Some(creator) = attributed.creator else {
        return Ok((facts, None));
    };
    let enrolment = store.enrolment(&program.id, &creator).await?;
    // The creator's e-mail hash only matters against the order's.
    let email_hash = match order.email_hash {
        Some(_) => store.creator(&creator).await?.map(|c| c.email_hash),
        None => None,
    };
    facts.creator = Some(CreatorFacts {
        id: creator,
        enrolment,
        email_hash,
    });
    let mut click_version = None;
    if let (Attribution::Click { click_id }, Some(_)) =
        (&attributed.attribution, &facts.attribution.click)
    {
        let used = store.click_use(click_id).await?;
        facts.click_orders = used.as_ref().map_or(0, |u| u.record.orders);
        click_version = used.map(|u| u.version);
    }
    if order.kind == ConversionKind::Sale && order.customer_ref.is_some() {
        facts.attribution.customer = customer(store, program, event, order).await?;
    }
    Ok((facts, click_version))
}

/// The stored first sale of the order's customer, if it has a customer ref and one.
async fn customer(
    store: &Store,
    program: &Program,
    event: &ConversionEvent,
    order: &Order<'_>,
) -> Result<Option<FirstSale>, BookingError> {
    let Some(customer_ref) = order.customer_ref else {
        return Ok(None);
    };
    Ok(store
        .customer(&program.id, event.platform, customer_ref)
        .await?
        .map(|c| FirstSale {
            creator_id: c.creator_id,
            first_conversion: c.first_conversion,
            first_sale_at: c.first_sale_at,
        }))
}

fn delivery(program: &Program, event: &ConversionEvent) -> Option<(ProgramId, Platform, String)> {
    Some((
        program.id.clone(),
        event.platform,
        event.delivery_id.clone(),
    ))
}

async fn book_order(
    store: &Store,
    program: &Program,
    event: &ConversionEvent,
    order: &Order<'_>,
) -> Result<Attempt, BookingError> {
    // The business-key dedupe is the conversion's id; reading it first spares the other reads.
    if store
        .conversion(&order.conversion_id(program))
        .await?
        .is_some()
    {
        return Ok(Attempt::Done(Outcome::Duplicate));
    }
    let (facts, click_version) = gather_order(store, program, event, order).await?;
    let booking = decide_order(&facts, order, store.now())?;
    let outcome = Outcome::Booked {
        conversion: booking.conversion.id.clone(),
        status: booking.conversion.status,
    };
    let write = BookingWrite {
        delivery: delivery(program, event),
        conversion: booking.conversion,
        conversion_version: None,
        aliases: order.aliases.to_vec(),
        click_use: booking
            .click_use
            .map(|(click, orders)| (click, ClickUse { orders }, click_version)),
        customer: booking.first_sale.map(|(customer_ref, first)| {
            (
                event.platform,
                customer_ref,
                Customer {
                    creator_id: first.creator_id,
                    first_conversion: first.first_conversion,
                    first_sale_at: first.first_sale_at,
                },
            )
        }),
        entries: booking.entries,
        audit: None,
    };
    committed(store.commit_booking(&write).await, outcome)
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
        return Err(BookingError::Retry(RetryReason::RefundBeforeOrder {
            order_ref: refund.order_refs.first().cloned().unwrap_or_default(),
        }));
    };
    let (conversion, entries, reversed) = match decide_refund(&found.record, refund, store.now())? {
        RefundDecision::Duplicate => return Ok(Attempt::Done(Outcome::Duplicate)),
        RefundDecision::Refund {
            conversion,
            entries,
            reversed,
        } => (*conversion, entries, reversed),
    };
    let outcome = Outcome::Refunded {
        conversion: conversion.id.clone(),
        reversed,
    };
    let write = BookingWrite {
        delivery: delivery(program, event),
        conversion,
        conversion_version: Some(found.version),
        aliases: Vec::new(),
        click_use: None,
        customer: None,
        entries,
        audit: None,
    };
    committed(store.commit_booking(&write).await, outcome)
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

impl From<HoldError> for DecisionError {
    fn from(e: HoldError) -> Self {
        match e {
            HoldError::NotHeld(status) => DecisionError::NotHeld(status),
            HoldError::FxRateMissing(currency) => DecisionError::FxRateMissing(currency),
            HoldError::Money(e) => DecisionError::Money(e),
        }
    }
}

/// Approves or rejects a held conversion ([`decide_hold`]), with its audit entry, in one
/// version-checked write (read again and decided again when another write got there first).
pub async fn decide(
    store: &Store,
    id: &ConversionId,
    decision: Decision,
    actor: &Actor,
) -> Result<Conversion, DecisionError> {
    for _ in 0..ATTEMPTS {
        let found = store.conversion(id).await?.ok_or(DecisionError::NotFound)?;
        let before = found.record;
        if before.status != ConversionStatus::Held {
            return Err(DecisionError::NotHeld(before.status));
        }
        let program = store
            .program(&before.program_id)
            .await?
            .ok_or(DecisionError::NotFound)?
            .record;
        let enrolment = match (&before.creator_id, decision) {
            (Some(creator), Decision::Approve) if needs_pricing(&before) => {
                store.enrolment(&program.id, creator).await?
            }
            _ => None,
        };
        let now = store.now();
        let decided = decide_hold(&before, decision, &program, enrolment.as_ref(), now)?;
        let c = decided.conversion;
        let audit = AuditEntry::new(
            now,
            actor,
            decision.action(),
            &c.id,
            Some(&before),
            Some(&c),
        );
        let write = BookingWrite {
            delivery: None,
            conversion: c.clone(),
            conversion_version: Some(found.version),
            aliases: Vec::new(),
            click_use: None,
            customer: None,
            entries: decided.entries,
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
    use crate::ports::{BackendError, ErrorChain};
    use std::error::Error;

    #[derive(Debug, thiserror::Error)]
    #[error("disk I/O error")]
    struct DiskFailure;

    #[test]
    fn a_store_outage_is_retried_with_its_backend_error_as_the_cause() {
        let outage = StoreError::Unavailable(BackendError::new("sqlite commit", DiskFailure));
        let err = BookingError::from(outage);
        assert!(err.is_retryable());
        assert_eq!(
            ErrorChain(&err).to_string(),
            "retry later: store unavailable: sqlite commit: disk I/O error"
        );
        let backend = err
            .source()
            .and_then(Error::source)
            .expect("the store's cause");
        assert_eq!(
            backend
                .downcast_ref::<BackendError>()
                .map(BackendError::operation),
            Some("sqlite commit")
        );
        let disk = backend.source().expect("the backend's cause");
        assert!(disk.downcast_ref::<DiskFailure>().is_some(), "{disk:?}");
    }

    #[test]
    fn a_corrupt_record_cannot_be_booked_and_says_which() {
        let corrupt = StoreError::Corrupt {
            pk: "c#1".into(),
            sk: "meta".into(),
            reason: "bad json".into(),
        };
        let err = BookingError::from(corrupt);
        assert!(!err.is_retryable());
        assert_eq!(
            ErrorChain(&err).to_string(),
            "cannot be booked: corrupt item c#1/meta: bad json"
        );
    }
}
