//! The Postback normalizer over arbitrary bodies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linkledger_fuzz::normalize_and_check;
use linkledger_core::conversion::Platform;

fuzz_target!(|data: &[u8]| {
    normalize_and_check(Platform::Postback, "", data);
});
