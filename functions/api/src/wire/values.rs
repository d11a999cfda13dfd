//! Schemas of the domain's value types, for the OpenAPI document only (their JSON is the
//! domain's own: a string, or money's `{"amount","currency"}`). Wire fields holding a domain
//! value name one of these with `#[schema(value_type = ...)]`. `contract.rs` replaces most of
//! them with the exact format (patterns, enums, bounds).
#![allow(dead_code)]

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A program id: `prg_` and 22 base64url characters (128 random bits).
#[derive(ToSchema)]
pub struct ProgramId(String);

/// A creator id: `cre_` and 22 base64url characters (128 random bits).
#[derive(ToSchema)]
pub struct CreatorId(String);

/// A conversion's id: derived from its program and order, so the same order always maps to the
/// same record (the business-key dedupe is a key rule).
#[derive(ToSchema)]
pub struct ConversionId(String);

/// A tracking link's short code: 3 to 64 of `[A-Za-z0-9_-]`, never a reserved segment.
/// Codes are matched exactly (case-sensitive); reserved words are refused in any case.
#[derive(ToSchema)]
pub struct LinkCode(String);

/// A click id: 10 characters of millisecond time then 20 of randomness (100 bits), lower-case
/// Crockford base32.
#[derive(ToSchema)]
pub struct ClickId(String);

/// ISO 4217 code
#[derive(ToSchema)]
#[schema(example = "USD")]
pub struct Currency(String);

/// Units of the program currency per unit of the other currency, as an exact decimal
#[derive(ToSchema)]
#[schema(example = "1.0825")]
pub struct Rate(String);

/// A rate in basis points: 1 bp = 0.01 %, 10 000 bp = 100 %.
#[derive(ToSchema)]
pub struct BasisPoints(u32);

/// An allowed destination domain: a lower-case DNS name, no scheme, port, path or wildcard.
/// Allowing `brand.com` allows `brand.com` and every subdomain of it.
#[derive(ToSchema)]
pub struct Domain(String);

/// A destination URL checked against a program's allowed domains.
#[derive(ToSchema)]
pub struct Destination(String);

/// An amount of one currency: an exact decimal string in major units and its currency.
#[derive(ToSchema)]
pub struct Money {
    /// Decimal string in major units, at most the currency's decimals: `"19.99"`, `"1000"` (JPY).
    #[schema(example = "19.99")]
    amount: String,
    currency: Currency,
}

/// A domain [`linkledger_core::money::Money`] where a wire enum's variant holds one (utoipa
/// reads no `value_type` there): its own JSON, the `Money` schema.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MoneyValue(pub linkledger_core::money::Money);

impl utoipa::PartialSchema for MoneyValue {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <Money as utoipa::PartialSchema>::schema()
    }
}

impl ToSchema for MoneyValue {
    fn name() -> std::borrow::Cow<'static, str> {
        <Money as ToSchema>::name()
    }
}

/// A domain [`linkledger_core::money::BasisPoints`] where a wire enum's variant holds one: its
/// own JSON, the `BasisPoints` schema.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BasisPointsValue(pub linkledger_core::money::BasisPoints);

impl utoipa::PartialSchema for BasisPointsValue {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <BasisPoints as utoipa::PartialSchema>::schema()
    }
}

impl ToSchema for BasisPointsValue {
    fn name() -> std::borrow::Cow<'static, str> {
        <BasisPoints as ToSchema>::name()
    }
}
