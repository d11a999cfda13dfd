//! Repositories of the conversions milestone: webhook secrets, conversions and their dedupe
//! records, customers for recurring commission, and the ledger.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{audit_op, decode_page, encode, insert, keys, put_at, Listing, Store, Versioned};
use crate::ports::{Condition, Index, Item, Query, SkRange, StoreError, WriteOp};
use linkledger_core::audit::AuditEntry;
use linkledger_core::conversion::{Conversion, ConversionId, ConversionStatus, Platform};
use linkledger_core::ids::{ClickId, CreatorId, ProgramId};
use linkledger_core::ledger::LedgerEntry;
// The secret's record is the core's (its rules are in `manage::secrets`); named here as before.
pub use linkledger_core::webhook_secret::{MaskedSecret, WebhookSecret};

/// Delivery records outlive every platform's retry window (Shopify 48 h, Stripe 3 days).
pub const DELIVERY_RETENTION_DAYS: i64 = 90;

/// How many orders one click id has carried (for the click-reuse hold).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClickUse {
    pub orders: u32,
}

/// A customer whose first sale was attributed: later renewals earn for the same creator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub creator_id: CreatorId,
    pub first_conversion: ConversionId,
    #[serde(with = "time::serde::rfc3339")]
    pub first_sale_at: OffsetDateTime,
}

/// Everything one booking writes, atomically.
#[derive(Clone, Debug)]
pub struct BookingWrite {
    /// `(program, platform, delivery id)`: written only if absent.
    pub delivery: Option<(ProgramId, Platform, String)>,
    pub conversion: Conversion,
    /// `None`: create (the order is new); `Some(v)`: update from version `v`.
    pub conversion_version: Option<u64>,
    pub aliases: Vec<String>,
    /// The click's new use count, and the version it was read at (`None`: first use).
    pub click_use: Option<(String, ClickUse, Option<u64>)>,
    pub customer: Option<(Platform, String, Customer)>,
    pub entries: Vec<LedgerEntry>,
    pub audit: Option<AuditEntry>,
}

/// Why a booking's write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum BookingConflict {
    #[error("this delivery was already booked")]
    DeliverySeen,
    #[error("this order was already booked (or changed meanwhile)")]
    Conversion,
    #[error("a click or customer record changed meanwhile")]
    Raced,
    #[error(transparent)]
    Store(StoreError),
}

#[derive(Clone, Debug, Default)]
pub struct ConversionFilter {
    pub program: Option<ProgramId>,
    pub creator: Option<CreatorId>,
    pub status: Option<ConversionStatus>,
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
}

fn time_range(from: Option<OffsetDateTime>, to: Option<OffsetDateTime>) -> SkRange {
    let ms = |t: OffsetDateTime| (t.unix_timestamp_nanos() / 1_000_000) as i64;
    if from.is_none() && to.is_none() {
        return SkRange::All;
    }
    SkRange::Between {
        from: from
            .map(|t| ClickId::time_prefix(ms(t)))
            .unwrap_or_default(),
        to: to
            .map(|t| ClickId::time_prefix(ms(t)))
            .unwrap_or_else(|| "~".to_string()),
    }
}

impl Store {
    // Webhook secrets

    pub async fn put_webhook_secret(
        &self,
        secret: &WebhookSecret,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let item = Item::new(
            keys::webhook_secret(&secret.program_id, secret.platform),
            encode(secret)?,
        );
        self.put_audited(item, Condition::None, audit).await
    }

    pub async fn webhook_secret(
        &self,
        program: &ProgramId,
        platform: Platform,
    ) -> Result<Option<WebhookSecret>, StoreError> {
        Ok(self
            .get_record(keys::webhook_secret(program, platform))
            .await?
            .map(|v| v.record))
    }

    pub async fn webhook_secrets(
        &self,
        program: &ProgramId,
    ) -> Result<Vec<WebhookSecret>, StoreError> {
        let query = Query::prefix(
            Index::Primary,
            keys::program(program).pk,
            keys::SECRET_PREFIX,
        );
        Ok(decode_page(self.table.query(&query).await?)?.items)
    }

    // Conversions

    pub async fn conversion(
        &self,
        id: &ConversionId,
    ) -> Result<Option<Versioned<Conversion>>, StoreError> {
        self.get_record(keys::conversion(id)).await
    }

    /// The conversion an order id or one of its aliases names.
    pub async fn conversion_by_ref(
        &self,
        program: &ProgramId,
        order_ref: &str,
    ) -> Result<Option<Versioned<Conversion>>, StoreError> {
        let id = ConversionId::for_order(program, order_ref);
        if let Some(found) = self.conversion(&id).await? {
            return Ok(Some(found));
        }
        match self
            .get_record::<ConversionId>(keys::conversion_alias(&id))
            .await?
        {
            Some(target) => self.conversion(&target.record).await,
            None => Ok(None),
        }
    }

    pub async fn conversions(
        &self,
        filter: &ConversionFilter,
        limit: usize,
        after: Option<String>,
    ) -> Result<Listing<Conversion>, StoreError> {
        let range = time_range(filter.from, filter.to);
        let query = match (&filter.creator, &filter.program) {
            (Some(creator), _) => {
                Query::new(Index::Gsi2, keys::creator_conversions(creator), range)
            }
            (None, Some(program)) => {
                Query::new(Index::Gsi1, keys::program_conversions(program), range)
            }
            (None, None) => {
                return Err(StoreError::Invalid(
                    "conversions are listed per program or per creator".into(),
                ))
            }
        };
        let mut page: Listing<Conversion> = decode_page(
            self.table
                .query(&query.descending().limit(limit).after(after))
                .await?,
        )?;
        page.items.retain(|c| {
            filter.status.is_none_or(|s| s == c.status)
                && filter.program.as_ref().is_none_or(|p| p == &c.program_id)
        });
        Ok(page)
    }

    pub async fn click_use(&self, click: &str) -> Result<Option<Versioned<ClickUse>>, StoreError> {
        self.get_record(keys::click_use(click)).await
    }

    pub async fn customer(
        &self,
        program: &ProgramId,
        platform: Platform,
        customer_ref: &str,
    ) -> Result<Option<Customer>, StoreError> {
        Ok(self
            .get_record(keys::customer(program, platform, customer_ref))
            .await?
            .map(|v| v.record))
    }

    /// Writes a booking in one transaction: delivery record, conversion, aliases, click use,
    /// customer, ledger entries and audit entry, or nothing.
    pub async fn commit_booking(&self, write: &BookingWrite) -> Result<(), BookingConflict> {
        let store = |e: StoreError| BookingConflict::Store(e);
        let mut ops = Vec::new();
        let now = self.now();
        let delivery_at = write.delivery.as_ref().map(|(program, platform, id)| {
            let expires = now
                .checked_add(time::Duration::days(DELIVERY_RETENTION_DAYS))
                .unwrap_or(now);
            ops.push(WriteOp::Put {
                item: Item::new(keys::delivery(program, *platform, id), "{}".into())
                    .expiring_at(expires.unix_timestamp()),
                condition: Condition::NotExists,
            });
            ops.len().saturating_sub(1)
        });
        let c = &write.conversion;
        let item = keys::conversion_item(c, encode(c).map_err(store)?);
        let conversion_at = ops.len();
        ops.push(put_at(item, write.conversion_version));
        for alias in &write.aliases {
            let alias_id = ConversionId::for_order(&c.program_id, alias);
            if alias_id != c.id {
                ops.push(WriteOp::Put {
                    item: Item::new(
                        keys::conversion_alias(&alias_id),
                        encode(&c.id).map_err(store)?,
                    ),
                    condition: Condition::None,
                });
            }
        }
        if let Some((click, uses, version)) = &write.click_use {
            let item = Item::new(keys::click_use(click), encode(uses).map_err(store)?);
            ops.push(put_at(item, *version));
        }
        if let Some((platform, customer_ref, customer)) = &write.customer {
            ops.push(WriteOp::Put {
                item: Item::new(
                    keys::customer(&c.program_id, *platform, customer_ref),
                    encode(customer).map_err(store)?,
                ),
                condition: Condition::NotExists,
            });
        }
        for entry in &write.entries {
            ops.push(WriteOp::Put {
                item: keys::ledger_item(entry, encode(entry).map_err(store)?),
                condition: Condition::NotExists,
            });
        }
        if let Some(audit) = &write.audit {
            ops.push(WriteOp::Put {
                item: keys::audit_item(audit, encode(audit).map_err(store)?),
                condition: Condition::NotExists,
            });
        }
        match self.table.transact(ops).await {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed { index }) if Some(index) == delivery_at => {
                Err(BookingConflict::DeliverySeen)
            }
            Err(StoreError::ConditionFailed { index }) if index == conversion_at => {
                Err(BookingConflict::Conversion)
            }
            Err(StoreError::ConditionFailed { .. }) | Err(StoreError::Conflict) => {
                Err(BookingConflict::Raced)
            }
            Err(other) => Err(BookingConflict::Store(other)),
        }
    }

    // Ledger

    /// Appends entries that belong to no conversion (adjustments, payouts), with their audit
    /// entry, atomically. Entries are never changed afterwards.
    pub async fn append_entries(
        &self,
        entries: &[LedgerEntry],
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut ops = Vec::new();
        for entry in entries {
            ops.push(insert(keys::ledger_item(entry, encode(entry)?)));
        }
        ops.push(audit_op(audit)?);
        self.table.transact(ops).await
    }

    /// Entries of one creator (optionally of one program), oldest first.
    pub async fn ledger(
        &self,
        creator: Option<&CreatorId>,
        program: Option<&ProgramId>,
        limit: usize,
        after: Option<String>,
    ) -> Result<Listing<LedgerEntry>, StoreError> {
        let query = match (creator, program) {
            (Some(creator), _) => Query::new(
                Index::Primary,
                keys::ledger_of_creator(creator),
                SkRange::All,
            ),
            (None, Some(program)) => {
                Query::new(Index::Gsi1, keys::ledger_of_program(program), SkRange::All)
            }
            (None, None) => {
                return Err(StoreError::Invalid(
                    "ledger entries are listed per creator or per program".into(),
                ))
            }
        };
        let mut page: Listing<LedgerEntry> =
            decode_page(self.table.query(&query.limit(limit).after(after)).await?)?;
        page.items
            .retain(|e| program.is_none_or(|p| p == &e.program_id));
        Ok(page)
    }

    /// Every entry of a creator or a program (for balances).
    pub async fn all_ledger_entries(
        &self,
        creator: Option<&CreatorId>,
        program: Option<&ProgramId>,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = self.ledger(creator, program, 1000, after).await?;
            all.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(all),
            }
        }
    }
}
