//! Where a tracking link may send a shopper: https only, on a domain the program allows.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use url::Url;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    #[error("destination must be an absolute https:// URL")]
    NotHttps,
    #[error("destination contains whitespace, a backslash or a control character")]
    BadCharacters,
    #[error("destination is not a valid URL")]
    Malformed,
    #[error("destination must not contain a user name or password")]
    UserInfo,
    #[error("destination must not name a port")]
    Port,
    #[error("destination host {0:?} is not among the program's allowed domains")]
    HostNotAllowed(String),
    #[error("invalid domain {0:?}: expected a bare host name such as shop.example.com")]
    BadDomain(String),
}

/// An allowed destination domain: a lower-case DNS name, no scheme, port, path or wildcard.
/// Allowing `brand.com` allows `brand.com` and every subdomain of it.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Domain(String);

impl Domain {
    pub fn parse(text: &str) -> Result<Self, DestinationError> {
        let bad = || DestinationError::BadDomain(text.chars().take(64).collect());
        let lower = text.to_ascii_lowercase();
        let labels: Vec<&str> = lower.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if lower.len() > 253 || labels.len() < 2 || !labels.iter().all(label_ok) {
            return Err(bad());
        }
        // A top-level label of digits only would make this an IP address.
        if labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad());
        }
        Ok(Self(lower))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for the domain itself and any subdomain (`shop.brand.com` under `brand.com`),
    /// never for a look-alike (`brand.com.evil.com`, `evilbrand.com`).
    pub fn covers(&self, host: &str) -> bool {
        host == self.0
            || host
                .strip_suffix(self.0.as_str())
                .is_some_and(|rest| rest.ends_with('.'))
    }
}

impl fmt::Debug for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Domain {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Domain::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A destination URL checked against a program's allowed domains.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Destination(String);

impl Destination {
    pub fn for_program(text: &str, allowed: &[Domain]) -> Result<Self, DestinationError> {
        // The URL parser silently drops tabs and newlines and reads `\` as `/`; refuse them first.
        if text
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
        {
            return Err(DestinationError::BadCharacters);
        }
        let scheme_ok = text
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
        if !scheme_ok {
            return Err(DestinationError::NotHttps);
        }
        let url = Url::parse(text).map_err(|_| DestinationError::Malformed)?;
        if url.scheme() != "https" {
            return Err(DestinationError::NotHttps);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(DestinationError::UserInfo);
        }
        if url.port().is_some() {
            return Err(DestinationError::Port);
        }
        let host = match url.host() {
            Some(url::Host::Domain(host)) => host.to_string(),
            Some(other) => return Err(DestinationError::HostNotAllowed(other.to_string())),
            None => return Err(DestinationError::Malformed),
        };
        if !allowed.iter().any(|domain| domain.covers(&host)) {
            return Err(DestinationError::HostNotAllowed(host));
        }
        Ok(Self(url.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn url(&self) -> Result<Url, DestinationError> {
        Url::parse(&self.0).map_err(|_| DestinationError::Malformed)
    }
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Stored destinations were checked when written; reading one back trusts the store.
impl<'de> Deserialize<'de> for Destination {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Url::parse(&text).map_err(serde::de::Error::custom)?;
        Ok(Self(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brand() -> Vec<Domain> {
        vec![Domain::parse("brand.com").unwrap()]
    }

    #[test]
    fn allows_the_domain_and_its_subdomains_over_https() {
        for ok in [
            "https://brand.com",
            "https://shop.brand.com/p?x=1#top",
            "HTTPS://Brand.COM/a",
        ] {
            assert!(Destination::for_program(ok, &brand()).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_every_open_redirect_trick() {
        for bad in [
            "http://brand.com",
            "//evil.com",
            "javascript:alert(1)",
            "https://brand.com@evil.com",
            "https://user:pw@brand.com",
            "https://brand.com.evil.com",
            "https://evilbrand.com",
            "https://evil.com/brand.com",
            "https://evil.com\\@brand.com",
            "https://brand.com\n.evil.com",
            "https://brand.com\t",
            "https://brand.com:8443/",
            "https://127.0.0.1/",
            "data:text/html,hi",
            " https://brand.com",
        ] {
            assert!(
                Destination::for_program(bad, &brand()).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn domains_are_bare_host_names() {
        assert!(Domain::parse("Shop.Example.com").is_ok());
        for bad in [
            "https://brand.com",
            "brand.com/x",
            "*.brand.com",
            "localhost",
            "1.2.3.4",
            "brand..com",
            "",
        ] {
            assert!(Domain::parse(bad).is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever string a creator sends, an accepted destination is https on an allowed host.
        #[test]
        fn an_accepted_destination_is_always_https_on_an_allowed_host(
            prefix in prop::sample::select(vec!["https://", "HTTPS://", "https:", "//", "https:/\\", ""]),
            middle in "[a-z.@:/\\\\%?#\t ]{0,12}",
            host in prop::sample::select(vec!["brand.com", "shop.brand.com", "brand.com.evil.com", "evil.com", "brand.co"]),
            rest in "[a-zA-Z0-9./?#=&@%:-]{0,20}",
        ) {
            let allowed = vec![Domain::parse("brand.com").unwrap()];
            let text = format!("{prefix}{middle}{host}{rest}");
            if let Ok(destination) = Destination::for_program(&text, &allowed) {
                let url = destination.url().unwrap();
                prop_assert_eq!(url.scheme(), "https");
                let host = url.host_str().unwrap().to_string();
                prop_assert!(host == "brand.com" || host.ends_with(".brand.com"), "{} -> {}", text, host);
                prop_assert!(url.username().is_empty() && url.password().is_none());
            }
        }
    }
}
