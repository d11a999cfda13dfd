//! The signature header parsers: any header and clock never panic, and a header we signed
//! is accepted exactly when its `t` lies within the tolerance of now (no wrapping at the ends
//! of `i64`, issue 10 finding 8).
#![no_main]

use libfuzzer_sys::fuzz_target;
use linkledger_core::signature::{
    sign_timestamped, verify_body_base64, verify_timestamped, SignatureError, TOLERANCE_SECONDS,
};

const SECRET: &[u8] = b"whsec_fuzz";

fuzz_target!(|input: (i64, i64, &str, &[u8])| {
    let (t, now, header, body) = input;
    let _ = verify_timestamped(SECRET, body, Some(header), now);
    let _ = verify_body_base64(SECRET, body, Some(header));

    let signed = sign_timestamped(SECRET, t, body);
    let within = (i128::from(now) - i128::from(t)).abs() <= i128::from(TOLERANCE_SECONDS);
    match verify_timestamped(SECRET, body, Some(&signed), now) {
        Ok(()) => assert!(within, "t = {t} accepted at now = {now}"),
        Err(SignatureError::Stale { .. }) => assert!(!within, "t = {t} stale at now = {now}"),
        Err(other) => panic!("our own signature refused: {other}"),
    }
    // Our header followed by anything (other schemes, rotated secrets): never a panic.
    let _ = verify_timestamped(SECRET, body, Some(&format!("{signed},{header}")), now);
});
