//! Forms' protection against cross-site requests: a double-submit token.
//! Every page that shows a form makes sure the browser holds a random
//! `okrd_csrf` cookie and puts the same value in a hidden `csrf` field; a
//! form post is taken only when the two match (compared in constant time)
//! and the browser does not say it came from another site
//! (`Sec-Fetch-Site`, `Origin`). Another site's page can neither read the
//! cookie nor learn the value, so it cannot forge the field. The token
//! needs no state on the server: it survives restarts and works on every
//! replica behind one address.

use axum::http::{HeaderMap, header};

use super::reader;

/// The cookie's name and the form field's.
pub const COOKIE: &str = "okrd_csrf";
pub const FIELD: &str = "csrf";

/// 128 random bits as hex.
const TOKEN_LEN: usize = 32;

/// A visitor's form token, and whether the browser still needs its cookie.
#[derive(Debug, Clone)]
pub struct CsrfToken {
    pub value: String,
    /// Made for this response: the page sets the cookie.
    pub fresh: bool,
}

impl CsrfToken {
    /// The browser's token, or a new one.
    pub fn of(headers: &HeaderMap) -> CsrfToken {
        match cookie(headers) {
            Some(value) => CsrfToken {
                value: value.to_string(),
                fresh: false,
            },
            None => CsrfToken {
                value: format!("{:032x}", rand::random::<u128>()),
                fresh: true,
            },
        }
    }

    /// The `Set-Cookie` value that gives the browser this token.
    pub fn set_cookie(&self, secure: bool) -> String {
        reader::set_cookie(COOKIE, &self.value, None, secure)
    }
}

/// Why a form post was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The browser says another site sent it.
    CrossSite,
    /// No token in the form or no cookie, or they differ.
    Mismatch,
}

/// Takes a form post when its `field` matches the browser's cookie and no
/// header says it came from another site.
pub fn check(headers: &HeaderMap, field: Option<&str>) -> Result<(), Refusal> {
    if from_another_site(headers) {
        return Err(Refusal::CrossSite);
    }
    let (Some(field), Some(cookie)) = (field, cookie(headers)) else {
        return Err(Refusal::Mismatch);
    };
    let same = field.len() == cookie.len()
        && aws_lc_rs::constant_time::verify_slices_are_equal(field.as_bytes(), cookie.as_bytes())
            .is_ok();
    if same { Ok(()) } else { Err(Refusal::Mismatch) }
}

/// Browsers say where a request comes from: `Sec-Fetch-Site` (all current
/// ones), else `Origin` compared with `Host`.
fn from_another_site(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        return !matches!(site, "same-origin" | "none");
    }
    match (
        text("origin"),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) {
        (Some("null"), _) => true,
        (Some(origin), Some(host)) => {
            let authority = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            !authority.eq_ignore_ascii_case(host)
        }
        _ => false,
    }
}

/// The cookie's value when it has the token's shape (anything else is
/// replaced by a fresh token).
fn cookie(headers: &HeaderMap) -> Option<&str> {
    reader::cookie(headers, COOKIE)
        .filter(|v| v.len() == TOKEN_LEN && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const T: &str = "0123456789abcdef0123456789abcdef";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    #[test]
    fn a_post_needs_the_cookie_and_the_same_field() {
        let with_cookie = headers(&[("cookie", &format!("a=b; okrd_csrf={T}"))]);
        assert_eq!(check(&with_cookie, Some(T)), Ok(()));
        assert_eq!(check(&with_cookie, None), Err(Refusal::Mismatch));
        let other = "f".repeat(32);
        assert_eq!(check(&with_cookie, Some(&other)), Err(Refusal::Mismatch));
        assert_eq!(check(&headers(&[]), Some(T)), Err(Refusal::Mismatch));
        // A cookie of the wrong shape is no token at all.
        let odd = headers(&[("cookie", "okrd_csrf=x")]);
        assert_eq!(check(&odd, Some("x")), Err(Refusal::Mismatch));
    }

    #[test]
    fn another_sites_post_is_refused_even_with_the_token() {
        let cookie = format!("okrd_csrf={T}");
        let cross = headers(&[("cookie", &cookie), ("sec-fetch-site", "cross-site")]);
        assert_eq!(check(&cross, Some(T)), Err(Refusal::CrossSite));
        let sibling = headers(&[("cookie", &cookie), ("sec-fetch-site", "same-site")]);
        assert_eq!(check(&sibling, Some(T)), Err(Refusal::CrossSite));
        let foreign = headers(&[
            ("cookie", &cookie),
            ("origin", "https://evil.example"),
            ("host", "okr.example"),
        ]);
        assert_eq!(check(&foreign, Some(T)), Err(Refusal::CrossSite));
        let own = headers(&[
            ("cookie", &cookie),
            ("origin", "https://okr.example"),
            ("host", "okr.example"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert_eq!(check(&own, Some(T)), Ok(()));
    }

    #[test]
    fn a_browser_without_a_token_gets_a_fresh_one() {
        let fresh = CsrfToken::of(&headers(&[]));
        assert!(fresh.fresh && fresh.value.len() == 32);
        let kept = CsrfToken::of(&headers(&[("cookie", &format!("okrd_csrf={T}"))]));
        assert!(!kept.fresh && kept.value == T);
        let c = fresh.set_cookie(true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.ends_with("Secure"));
    }
}
