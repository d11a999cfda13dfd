//! Destination URLs and allowed domains: what is accepted is https, on an allowed host, without
//! user info, port, whitespace or control characters, and is accepted again exactly as stored.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linkledger_core::destination::{Destination, Domain};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(domain) = Domain::parse(text) {
        assert_eq!(Domain::parse(domain.as_str()).as_ref(), Ok(&domain));
        assert!(domain.covers(domain.as_str()));
    }
    let Ok(brand) = Domain::parse("brand.com") else {
        panic!("brand.com is a domain");
    };
    let allowed = [brand];
    let Ok(destination) = Destination::for_program(text, &allowed) else {
        return;
    };
    let stored = destination.as_str();
    assert!(stored.starts_with("https://"), "{stored}");
    assert!(
        !stored
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\'),
        "{stored:?}"
    );
    let Ok(url) = destination.url() else {
        panic!("a stored destination parses: {stored}");
    };
    let host = url.host_str().unwrap_or_default();
    assert!(allowed[0].covers(host), "{host} from {text:?}");
    assert!(url.port().is_none() && url.username().is_empty() && url.password().is_none());
    match Destination::for_program(stored, &allowed) {
        Ok(again) => assert_eq!(again.as_str(), stored),
        Err(e) => panic!("{stored:?} (from {text:?}) is refused when read back: {e}"),
    }
});
