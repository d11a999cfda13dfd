//! Management flows: programs (create, edit, exchange rates), creators and their enrolments,
//! links, promo codes, webhook secrets, adjustments, payouts and API keys. Each function decides
//! from the facts it is handed (the time too, and any random value: ids and generated secrets
//! are drawn by the caller) and returns the records to write together with their audit entry;
//! the caller reads the facts, writes the result and maps the error, so every rule here is tested
//! without a store. Where a flow reads before it decides, a `check` runs the rules that need no
//! facts first, so bad input is refused before any read. The API handlers,
//! `linkledger keys create` and `serve --demo` share them.

pub mod adjustments;
pub mod creators;
pub mod keys;
pub mod links;
pub mod payouts;
pub mod programs;
pub mod promo_codes;
pub mod secrets;

#[cfg(test)]
mod tests;
