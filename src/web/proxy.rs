//! Visitors named by an authenticating proxy (`[server.proxy_auth]`): its
//! header is believed only on requests from the proxy's own addresses, and
//! names an API token whose role and team the visitor gets.

use std::net::IpAddr;

use axum::http::HeaderMap;

use super::WebState;
use crate::access::Principal;
use crate::store::StoreError;

/// Longer than any name a proxy sends (an email address is at most 254).
const MAX_NAME_LEN: usize = 254;

/// `None` when the proxy has nothing to say about this request (proxy
/// sign-in is off, the request did not come from a trusted proxy, or it
/// carries no header): the visitor may still have a cookie or a token.
/// Else the named token's principal, `None` for a name no valid token has.
pub async fn identify(
    s: &WebState,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
) -> Option<Result<Option<Principal>, StoreError>> {
    let settings = s.proxy_auth.as_ref()?;
    if !peer.is_some_and(|ip| settings.trusts(ip)) {
        return None;
    }
    let name = headers.get(settings.header.as_str())?.to_str().ok()?.trim();
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return None;
    }
    Some(s.token_names.principal(name).await)
}
