//! Listings scoped to one creator: the scope chooses the partition, so a page holds only the
//! creator's own records and costs reads proportional to its limit (never a filter after
//! paging, which would leave short pages whose cursors point past other creators' records).

use super::{decode_page, keys, Listing, Store};
use crate::ports::{Index, Query, StoreError};
use linkledger_core::creator::Enrolment;
use linkledger_core::ids::{CreatorId, ProgramId};
use linkledger_core::link::PromoCode;

impl Store {
    /// One creator's promo codes in one program (`gsi2` `CREATOR#{cid}` / `PROMO#{pid}#…`).
    pub async fn promo_codes_of_creator(
        &self,
        creator: &CreatorId,
        program: &ProgramId,
        limit: usize,
        after: Option<String>,
    ) -> Result<Listing<PromoCode>, StoreError> {
        let query = Query::prefix(
            Index::Gsi2,
            keys::creator(creator).pk,
            format!("{}{program}#", keys::PROMO_PREFIX),
        )
        .limit(limit)
        .after(after);
        decode_page(self.table.query(&query).await?)
    }

    /// One page of a creator's enrolments (`gsi2` `CREATOR#{cid}` / `ENROL#…`), by program id.
    pub async fn enrolments_of_creator_page(
        &self,
        creator: &CreatorId,
        limit: usize,
        after: Option<String>,
    ) -> Result<Listing<Enrolment>, StoreError> {
        let query = Query::prefix(Index::Gsi2, keys::creator(creator).pk, keys::ENROL_PREFIX)
            .limit(limit)
            .after(after);
        decode_page(self.table.query(&query).await?)
    }
}
