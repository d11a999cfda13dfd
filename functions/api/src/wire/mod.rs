//! The API's wire shapes: every request and response body, apart from the domain.
//!
//! A response is built from its domain record by `From<&record>`, naming each field, so renaming
//! a field of the domain (or of the stored JSON, which the store serializes from the domain
//! records) changes no public JSON by accident, and a new domain field stays private until a
//! wire type shows it. Requests deserialize here, field by field, into the domain's value types
//! (`Money`, ids, `Currency`, ...), whose parsers run at the edge, then convert into the
//! domain's inputs.
//!
//! Value types keep the one JSON form the domain gives them (an id or a currency is a string,
//! money `{"amount","currency"}`); [`values`] only describes them for the OpenAPI document,
//! whose `contract.rs` pass then states their exact formats. The schemas keep the names the API
//! has always published (`LedgerEntry`, `Payout`, ...): a wire type is named as its record is.

pub mod audit;
pub mod conversions;
pub mod creators;
pub mod keys;
pub mod ledger;
pub mod links;
pub mod programs;
pub mod settlements;
pub mod stats;
pub mod values;

#[cfg(test)]
mod tests;
