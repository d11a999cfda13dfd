//! The webhook delivery log: one partition per program and platform, newest first by its sort
//! key, every entry expiring [`DELIVERY_LOG_RETENTION_DAYS`] after it was received (the table's
//! TTL on `expires_at`: DynamoDB deletes it, SQLite's readers skip it and `serve` purges it).
//! The webhooks write at most one entry per (program, platform, result) per second per
//! instance (`functions/webhooks/src/deliveries.rs`), so a partition stays small.

use super::{decode_page, encode, keys, Store};
use crate::ports::{Condition, Index, Item, Query, SkRange, StoreError};
use linkledger_core::conversion::Platform;
use linkledger_core::delivery_log::Delivery;
use linkledger_core::ids::{random_token, ProgramId};

/// How long a logged delivery is kept.
pub const DELIVERY_LOG_RETENTION_DAYS: i64 = 7;
/// The most deliveries one [`Store::recent_deliveries`] returns (a larger `limit` is cut).
pub const MAX_RECENT_DELIVERIES: usize = 200;

impl Store {
    /// Logs one delivery: one unconditional write (no read), expiring after
    /// [`DELIVERY_LOG_RETENTION_DAYS`].
    pub async fn record_delivery(&self, delivery: &Delivery) -> Result<(), StoreError> {
        let key = keys::delivery_log_entry(
            &delivery.program_id,
            delivery.platform,
            delivery.at.unix_timestamp_nanos(),
            &random_token(6),
        );
        let expires_at = delivery
            .at
            .unix_timestamp()
            .saturating_add(DELIVERY_LOG_RETENTION_DAYS.saturating_mul(86_400));
        let item = Item::new(key, encode(delivery)?).expiring_at(expires_at);
        self.table.put(item, Condition::None).await
    }

    /// The program's last deliveries on `platform`, newest first: at most `limit` (1 to
    /// [`MAX_RECENT_DELIVERIES`]), read with one query of the partition, descending (reads in
    /// proportion to `limit`, however many deliveries there were). Expired entries are absent.
    pub async fn recent_deliveries(
        &self,
        program: &ProgramId,
        platform: Platform,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let query = Query::new(
            Index::Primary,
            keys::delivery_log(program, platform),
            SkRange::All,
        )
        .descending()
        .limit(limit.clamp(1, MAX_RECENT_DELIVERIES));
        Ok(decode_page(self.table.query(&query).await?)?.items)
    }
}
