//! Management flows: links, adjustments, payouts and API keys. Each function decides from the
//! facts it is handed (the time too) and returns the records to write together with their audit
//! entry; the caller reads the facts, writes the result and maps the error, so every rule here is
//! tested without a store. The API handlers, `linkledger keys create` and `serve --demo` share
//! them.

pub mod adjustments;
pub mod keys;
pub mod links;
pub mod payouts;

#[cfg(test)]
mod tests;
