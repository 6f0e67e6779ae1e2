//! Who reads a page: the holder of the API token the request carries, in an
//! `Authorization: Bearer` header (scripts) or in the session cookie the
//! sign-in form sets (browsers). Tokens are checked like the API's
//! (`access::cache`), so a revoked one stops opening pages within 5 s.
//!
//! The cookie holds the API token itself rather than a session of the
//! daemon's own: it then survives restarts, works on every replica behind
//! one address, and is revoked with the token. It is `HttpOnly` (no script
//! reads it) and `SameSite=Strict` (no other site's page sends it). The
//! REST API never reads cookies; the web app's forms, which do write with
//! it, carry a CSRF token as well (`csrf`).

use axum::http::{HeaderMap, header};

use super::session::SignedInBy;
use crate::access::Principal;
use crate::access::cache::ApiTokenCache;
use crate::store::StoreError;

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "okrd_session";

/// How long a browser keeps the session cookie: a week of reading the page
/// without signing in again; revoking the token ends it at once.
pub const SESSION_SECONDS: u64 = 7 * 24 * 3600;

/// Longer than any token `okrd token create` makes; anything longer is not
/// looked up at all.
const MAX_TOKEN_LEN: usize = 128;

/// `token`'s principal, if it is one.
pub async fn check(tokens: &ApiTokenCache, token: &str) -> Result<Option<Principal>, StoreError> {
    if !plausible(token) {
        return Ok(None);
    }
    tokens.authenticate(token).await
}

/// A token has the shape `okrd token create` gives it: so a cookie or a
/// form field of any size or content never reaches a lookup or a log.
fn plausible(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The token a request carries and how: the bearer header wins.
pub fn presented(headers: &HeaderMap) -> Option<(&str, SignedInBy)> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| (token.trim(), SignedInBy::Bearer));
    bearer.or_else(|| session_cookie(headers).map(|t| (t, SignedInBy::Cookie)))
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, SESSION_COOKIE)
}

/// The value of the cookie `name` the browser sent.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.trim())
}

/// A `Set-Cookie` value as okrd sets every cookie: the whole site, no
/// script, no other site, `Secure` when the browser came over HTTPS
/// (`came_over_https`); `max_age` in seconds, `None` for the session.
pub fn set_cookie(name: &str, value: &str, max_age: Option<u64>, secure: bool) -> String {
    let max_age = max_age.map_or(String::new(), |s| format!("; Max-Age={s}"));
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/{max_age}; HttpOnly; SameSite=Strict{secure}")
}

/// The `Set-Cookie` value that signs a browser in with `token`.
pub fn session_cookie_for(token: &str, secure: bool) -> String {
    set_cookie(SESSION_COOKIE, token, Some(SESSION_SECONDS), secure)
}

/// The `Set-Cookie` value that signs a browser out.
pub fn expired_session_cookie(secure: bool) -> String {
    set_cookie(SESSION_COOKIE, "", Some(0), secure)
}

/// Whether the browser talks HTTPS to the proxy in front of okrd (okrd
/// itself serves plain HTTP): the proxy says so in `X-Forwarded-Proto` or
/// `Forwarded`. A client that fakes it only keeps its own cookie from
/// being sent over plain HTTP.
pub fn came_over_https(headers: &HeaderMap) -> bool {
    let first = |name: header::HeaderName| {
        headers.get(name).and_then(|v| v.to_str().ok()).map(|v| {
            v.split(',')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    };
    if first(header::HeaderName::from_static("x-forwarded-proto")).as_deref() == Some("https") {
        return true;
    }
    first(header::FORWARDED).is_some_and(|f| {
        f.split(';')
            .any(|part| part.trim().trim_matches('"') == "proto=https")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        h
    }

    #[test]
    fn the_bearer_header_wins_over_the_cookie() {
        let h = headers(&[
            (header::COOKIE, "theme=dark; okrd_session=okrd_c00kie_x"),
            (header::AUTHORIZATION, "Bearer okrd_bearer_y"),
        ]);
        assert_eq!(presented(&h).map(|(t, _)| t), Some("okrd_bearer_y"));
        let h = headers(&[
            (header::COOKIE, "theme=dark"),
            (header::COOKIE, "okrd_session=okrd_c00kie_x; x=1"),
        ]);
        assert_eq!(presented(&h).map(|(t, _)| t), Some("okrd_c00kie_x"));
        assert_eq!(presented(&headers(&[])).map(|(t, _)| t), None);
    }

    #[test]
    fn only_token_shaped_values_are_looked_up() {
        assert!(plausible("okrd_0a1b2c3d4e5f_AbC-dEf_123"));
        assert!(!plausible(""));
        assert!(!plausible("okrd_<script>"));
        assert!(!plausible("a b"));
        assert!(!plausible(&"a".repeat(MAX_TOKEN_LEN + 1)));
    }

    #[test]
    fn the_cookie_is_http_only_and_strict_and_secure_behind_https() {
        let c = session_cookie_for("okrd_t", false);
        assert!(
            c.contains("HttpOnly") && c.contains("SameSite=Strict"),
            "{c}"
        );
        assert!(!c.contains("Secure"), "{c}");
        let https = headers(&[(
            header::HeaderName::from_static("x-forwarded-proto"),
            "https",
        )]);
        assert!(came_over_https(&https));
        assert!(came_over_https(&headers(&[(
            header::FORWARDED,
            "for=1.2.3.4;proto=https;by=x"
        )])));
        assert!(!came_over_https(&headers(&[])));
        assert!(session_cookie_for("okrd_t", true).ends_with("; Secure"));
        assert!(expired_session_cookie(false).contains("Max-Age=0"));
    }
}
