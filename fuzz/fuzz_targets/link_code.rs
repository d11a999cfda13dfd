//! Link codes and click ids: an accepted code is 3 to 64 of `[A-Za-z0-9_-]`, never reserved,
//! and kept exactly as given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linkledger_core::ids::{ClickId, LinkCode, RESERVED_CODES};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(code) = LinkCode::parse(text) {
        assert_eq!(code.as_str(), text);
        assert!((3..=64).contains(&text.len()));
        assert!(text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert!(!RESERVED_CODES.iter().any(|r| r.eq_ignore_ascii_case(text)));
    }
    if let Ok(click) = ClickId::parse(text) {
        assert_eq!(click.as_str(), text);
        assert_eq!(text.len(), 30);
    }
});
