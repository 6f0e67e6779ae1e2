//! Where a source's requests may go. A source's credentials travel with its
//! requests, so every request it makes (the fetch, each page, login and
//! token requests, each redirect) is checked here before it is sent: its
//! origin (scheme, host, port) must be one the operator's config allows,
//! and it may carry no userinfo (`user@host`), which would both hide the
//! real host from a reader and put a credential in the URL.
//!
//! The allowed origins come from the source's config alone (its `url` or
//! `base_url`, as rendered without any KR's params) plus fixed origins a
//! connector declares (Google's token endpoint): a KR, made by anyone with
//! an API token, can point a request elsewhere only to see it refused.

use std::fmt;

use reqwest::Url;

/// The origins one source may send requests to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedOrigins {
    /// `scheme://host[:port]` (default ports left out), sorted, no repeats;
    /// `None` for a client not bound to a source's config (tests, tools).
    origins: Option<Vec<String>>,
}

impl AllowedOrigins {
    /// Any origin: for clients that serve no configured source.
    pub fn unrestricted() -> AllowedOrigins {
        AllowedOrigins { origins: None }
    }

    /// Exactly the origins of `urls`, each an absolute http(s) URL without
    /// userinfo. An error names the URL at fault.
    pub fn of<I, S>(urls: I) -> Result<AllowedOrigins, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut origins = Vec::new();
        for raw in urls {
            let raw = raw.as_ref();
            let url = Url::parse(raw).map_err(|e| format!("`{raw}` is not a URL: {e}"))?;
            check_shape(&url)?;
            origins.push(origin(&url));
        }
        origins.sort();
        origins.dedup();
        Ok(AllowedOrigins {
            origins: Some(origins),
        })
    }

    /// May a request go to `url`? The error says where it would have gone
    /// and where it may go, never the URL's path or query (they may hold a
    /// credential).
    pub fn check(&self, url: &Url) -> Result<(), String> {
        check_shape(url)?;
        let Some(allowed) = &self.origins else {
            return Ok(());
        };
        let here = origin(url);
        if allowed.contains(&here) {
            return Ok(());
        }
        Err(format!(
            "{here} is not an origin this source may send requests to ({}); \
             only the source's config (its url or base_url) decides where its requests \
             and credentials go",
            self
        ))
    }

    /// Does the list allow nothing at all (a config with no destination)?
    pub fn is_empty(&self) -> bool {
        self.origins.as_ref().is_some_and(Vec::is_empty)
    }
}

impl fmt::Display for AllowedOrigins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origins {
            None => f.write_str("any origin"),
            Some(o) if o.is_empty() => f.write_str("none"),
            Some(o) => write!(f, "allowed: {}", o.join(", ")),
        }
    }
}

/// `scheme://host[:port]`, the default port left out.
pub fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// Does `url` carry userinfo (`user@host`, `user:password@host`)?
pub(crate) fn has_userinfo(url: &Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}

/// An absolute http(s) URL with a host and no userinfo.
fn check_shape(url: &Url) -> Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "only http and https URLs are allowed, not {}:",
            url.scheme()
        ));
    }
    if url.host().is_none() {
        return Err("the URL has no host".into());
    }
    if has_userinfo(url) {
        let host = url.host_str().unwrap_or_default();
        return Err(format!(
            "the URL to {host} holds userinfo (`…@{host}`); credentials belong in \
             the source's params, and an `@` in a URL usually means a param moved the host"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn only_the_listed_origins_pass() {
        let a =
            AllowedOrigins::of(["https://api.example.com/v1", "http://127.0.0.1:8080"]).unwrap();
        assert!(a.check(&url("https://api.example.com/other?x=1")).is_ok());
        assert!(a.check(&url("https://api.example.com:443/")).is_ok());
        assert!(a.check(&url("http://127.0.0.1:8080/x")).is_ok());
        for bad in [
            "http://api.example.com/",       // scheme
            "https://api.example.com:8443/", // port
            "https://evil.example/",         // host
            "https://api.example.com.evil/", // suffix
            "http://127.0.0.1:8081/",        // port
            "http://localhost:8080/",        // same machine, other name
        ] {
            let e = a.check(&url(bad)).unwrap_err();
            assert!(e.contains("is not an origin this source may"), "{bad}: {e}");
            assert!(e.contains("https://api.example.com"), "{e}");
        }
    }

    #[test]
    fn userinfo_is_refused_even_to_an_allowed_host() {
        let a = AllowedOrigins::of(["http://127.0.0.1:9"]).unwrap();
        let e = a
            .check(&url("http://127.0.0.1@127.0.0.1:9/v1"))
            .unwrap_err();
        assert!(e.contains("userinfo"), "{e}");
        assert!(a.check(&url("http://u:p@127.0.0.1:9/")).is_err());
        assert!(
            AllowedOrigins::unrestricted()
                .check(&url("http://u@h/"))
                .is_err()
        );
        assert!(AllowedOrigins::of(["http://u@h/"]).is_err());
    }

    #[test]
    fn errors_never_quote_path_or_query() {
        let a = AllowedOrigins::of(["https://a.example"]).unwrap();
        let e = a
            .check(&url("https://b.example/path-secret?api_key=query-secret"))
            .unwrap_err();
        assert!(!e.contains("secret"), "{e}");
        assert!(e.contains("https://b.example"), "{e}");
    }

    #[test]
    fn unrestricted_passes_any_http_url_and_nothing_else() {
        let any = AllowedOrigins::unrestricted();
        assert!(any.check(&url("https://anywhere.example/")).is_ok());
        assert!(any.check(&url("file:///etc/passwd")).is_err());
        assert!(AllowedOrigins::of(Vec::<String>::new()).unwrap().is_empty());
        assert!(!any.is_empty());
    }
}
