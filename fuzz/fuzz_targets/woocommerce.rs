//! The Woocommerce normalizer over arbitrary bodies: the first byte picks the topic header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linkledger_fuzz::{normalize_and_check, split_topic};
use linkledger_core::conversion::Platform;

fuzz_target!(|data: &[u8]| {
    if let Some((topic, body)) =
        split_topic(data, &["order.created", "order.updated", "order.deleted"])
    {
        normalize_and_check(Platform::Woocommerce, topic, body);
    }
});
