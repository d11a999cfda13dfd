//! Builds the `Location` of a redirect: the link's destination (re-checked against the
//! program's allowed domains when cached), with incoming `utm_*` parameters passed through and the click id
//! appended under the program's parameter name.

use linkledger_core::ids::ClickId;

use crate::cache::ResolvedLink;

/// Longest `utm_*` value passed through; longer ones are dropped, not cut.
const MAX_UTM_VALUE: usize = 512;

pub fn location(
    resolved: &ResolvedLink,
    incoming_query: Option<&str>,
    click: &ClickId,
) -> Result<String, String> {
    let program = &resolved.program;
    let mut url = resolved.target.clone()?;

    let incoming: Vec<(String, String)> = incoming_query
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .filter(|(k, v)| k.starts_with("utm_") && k.len() <= 64 && v.len() <= MAX_UTM_VALUE)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();

    // Keep the destination's own parameters, except those we are about to set.
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| {
            k != program.click_param.as_str() && !incoming.iter().any(|(ik, _)| ik == k)
        })
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    {
        let mut query = url.query_pairs_mut();
        query.clear();
        query.extend_pairs(kept.iter());
        query.extend_pairs(incoming.iter());
        query.append_pair(&program.click_param, click.as_str());
    }
    Ok(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use linkledger_core::destination::{Destination, Domain};
    use linkledger_core::program::{NewProgram, Program};
    use proptest::prelude::*;

    fn resolved(destination: &str) -> ResolvedLink {
        let program: NewProgram = serde_json::from_value(serde_json::json!({
            "name": "p", "currency": "USD", "allowed_domains": ["brand.com"]
        }))
        .unwrap();
        let program = Program::create(program, time::OffsetDateTime::now_utc()).unwrap();
        let link = serde_json::from_value(serde_json::json!({
            "code": "anna10", "program_id": program.id, "creator_id": "cre_aaaaaaaaaaaaaaaaaaaaaa",
            "destination": Destination::for_program(destination, &[Domain::parse("brand.com").unwrap()]).unwrap(),
            "disabled": false, "created_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap();
        ResolvedLink::new(link, program)
    }

    #[test]
    fn replaces_a_click_id_already_in_the_destination() {
        let click = ClickId::generate(1);
        let location = location(
            &resolved("https://brand.com/?ll_click=old&a=1"),
            Some("ll_click=forged"),
            &click,
        )
        .unwrap();
        assert_eq!(location, format!("https://brand.com/?a=1&ll_click={click}"));
    }

    proptest! {
        /// No incoming query string can move the shopper off the destination's host.
        #[test]
        fn incoming_parameters_never_change_the_host(query in "[a-zA-Z0-9_=&%/:@.?#\\\\-]{0,80}") {
            let click = ClickId::generate(1);
            let query = format!("utm_source={query}&{query}");
            let location = location(&resolved("https://shop.brand.com/p?x=1#f"), Some(&query), &click).unwrap();
            let url = url::Url::parse(&location).unwrap();
            prop_assert_eq!(url.host_str(), Some("shop.brand.com"));
            prop_assert_eq!(url.fragment(), Some("f"));
            let clicks: Vec<_> = url.query_pairs().filter(|(k, _)| k == "ll_click").collect();
            prop_assert_eq!(clicks.len(), 1);
        }
    }
}
