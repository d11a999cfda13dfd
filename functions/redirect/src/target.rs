//! Builds the `Location` of a redirect: the link's destination, re-checked against the
//! program's allowed domains, with incoming `utm_*` parameters passed through and the click id
//! appended under the program's parameter name.

use linkledger_shared::destination::Destination;
use linkledger_shared::ids::ClickId;

use crate::cache::ResolvedLink;

/// Longest `utm_*` value passed through; longer ones are dropped, not cut.
const MAX_UTM_VALUE: usize = 512;

pub fn location(
    resolved: &ResolvedLink,
    incoming_query: Option<&str>,
    click: &ClickId,
) -> Result<String, String> {
    let program = &resolved.program;
    // The program's domains may have changed since the link was made: check again.
    let destination =
        Destination::for_program(resolved.link.destination.as_str(), &program.allowed_domains)
            .map_err(|e| e.to_string())?;
    let mut url = destination.url().map_err(|e| e.to_string())?;

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
