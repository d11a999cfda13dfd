//! The Shopify normalizer over arbitrary bodies: the first byte picks the topic header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linkledger_fuzz::{normalize_and_check, split_topic};
use linkledger_core::conversion::Platform;

fuzz_target!(|data: &[u8]| {
    if let Some((topic, body)) =
        split_topic(data, &["orders/paid", "refunds/create", "orders/create"])
    {
        normalize_and_check(Platform::Shopify, topic, body);
    }
});
