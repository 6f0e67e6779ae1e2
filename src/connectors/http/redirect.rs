//! Redirects. A request carries its source's credentials in headers, in a
//! body (Matomo's `token_auth`) or in the query, and a redirect re-sends
//! most of them. So a redirect is followed only to the origin the request
//! went to (which was checked against the source's allowed origins), at most
//! `MAX_REDIRECTS` times; one to another origin is not followed and fails the
//! fetch, naming where it pointed. No `Referer` is ever sent (it would carry
//! the previous URL, query credentials included): see `HttpClient::new`.

use reqwest::Url;
use reqwest::header::{HeaderMap, LOCATION};
use reqwest::redirect::{Attempt, Policy};

use super::origins::{has_userinfo, origin};
use crate::connectors::{FetchError, Reason};

/// Same-origin redirects followed in a row before giving up.
pub const MAX_REDIRECTS: usize = 5;

/// Follow same-origin redirects, up to `MAX_REDIRECTS`; hand any other back
/// as the 3xx answer it is (see `stopped_redirect`).
pub(super) fn policy() -> Policy {
    Policy::custom(|attempt: Attempt<'_>| {
        let Some(first) = attempt.previous().first() else {
            return attempt.stop();
        };
        if origin(attempt.url()) != origin(first) || has_userinfo(attempt.url()) {
            attempt.stop()
        } else if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error(format!(
                "more than {MAX_REDIRECTS} redirects in a row on one origin"
            ))
        } else {
            attempt.follow()
        }
    })
}

/// The failure for a 3xx answer that reached the caller: a redirect the
/// policy would not follow. `None` for any other status. The message names
/// the origin it pointed to, never its path or query.
pub(super) fn stopped_redirect(
    status: u16,
    headers: &HeaderMap,
    request_url: &Url,
    target: &str,
) -> Option<FetchError> {
    if !(300..400).contains(&status) {
        return None;
    }
    let location = headers.get(LOCATION).and_then(|v| v.to_str().ok());
    let Some(next) = location.and_then(|l| request_url.join(l).ok()) else {
        return Some(FetchError::new(
            Reason::Http4xx,
            format!("{target}: HTTP {status} without a usable Location; not followed"),
        ));
    };
    let why = if has_userinfo(&next) {
        "a URL with userinfo".to_string()
    } else {
        format!("another origin ({})", origin(&next))
    };
    Some(FetchError::new(
        Reason::Http4xx,
        format!(
            "{target}: HTTP {status} redirects to {why}; not followed, so the source's \
             credentials stay on {} (point the source's url or base_url at where the API \
             lives now)",
            origin(request_url)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn location(l: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(LOCATION, HeaderValue::from_str(l).unwrap());
        h
    }

    #[test]
    fn a_redirect_elsewhere_names_the_origin_not_the_path() {
        let from = Url::parse("https://api.example.com/v1/x?token_auth=s3cret").unwrap();
        let e = stopped_redirect(
            307,
            &location("http://evil.example:8080/steal?key=s3cret"),
            &from,
            "GET https://api.example.com/v1/x",
        )
        .unwrap();
        assert_eq!(e.reason, Reason::Http4xx);
        assert!(
            e.message.contains("http://evil.example:8080"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("s3cret"), "{}", e.message);
        assert!(!e.message.contains("steal"), "{}", e.message);
        assert!(stopped_redirect(200, &HeaderMap::new(), &from, "t").is_none());
        assert!(stopped_redirect(404, &HeaderMap::new(), &from, "t").is_none());
        let e = stopped_redirect(302, &HeaderMap::new(), &from, "t").unwrap();
        assert!(
            e.message.contains("without a usable Location"),
            "{}",
            e.message
        );
    }
}
