//! What a binding's params may be: only params the connector reads (any
//! other is a typo, or a template rendered for nothing), and none that would
//! send the source's requests, and so its credentials, to an origin its
//! config does not allow.

use reqwest::Url;

use super::ConfiguredSource;
use crate::connectors::template::{TemplateContext, render_params};
use crate::connectors::{Connector, Params, Redactor};
use crate::okr::validate::closest;

/// Every name in `names` is a param `connector` reads.
pub(super) fn known<'a>(
    connector: &dyn Connector,
    names: impl IntoIterator<Item = &'a String>,
) -> Result<(), String> {
    let mut known = connector.known_params();
    known.sort();
    for name in names {
        if known.contains(name) {
            continue;
        }
        let hint = closest(name, known.iter().map(String::as_str))
            .map(|c| format!("; did you mean `{c}`?"))
            .unwrap_or_default();
        let list = if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        };
        return Err(format!(
            "unknown param `{name}`{hint} (the connector reads: {list})"
        ));
    }
    Ok(())
}

/// The requests a fetch with `merged` params would make first stay on the
/// origins `source`'s config allows. Errors name the origin, never a path
/// or query.
pub(super) fn stay_on_allowed_origins(
    source: &ConfiguredSource,
    merged: &Params,
) -> Result<(), String> {
    let Some(policy) = source.http.source_policy() else {
        return Ok(());
    };
    let rendered = render_params(merged, &TemplateContext::example(), &Redactor::default())?;
    for raw in source.connector.request_urls(&rendered)? {
        let url = Url::parse(&raw)
            .map_err(|e| format!("with these params the request URL does not parse ({e})"))?;
        policy
            .origins
            .check(&url)
            .map_err(|e| format!("with these params its requests would not be sent: {e}"))?;
    }
    Ok(())
}
