//! `[server]`: where the daemon listens, how it stops, and the limits that
//! keep one HTTP server usable when clients are idle, slow or hostile
//! (README "Server limits"), and who may read the web app.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::proxy_auth::ProxyAuthSettings;
use crate::duration::HumanDuration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    /// How long shutdown waits for running fetches and open requests.
    pub shutdown_grace: HumanDuration,
    /// Let requests without a token read the REST API (GET only).
    pub anonymous_read: bool,
    /// Who may read `/` and the web app's pages.
    pub status_page: StatusPageMode,
    /// Trust an authenticating proxy's header to say who the visitor is.
    pub proxy_auth: Option<ProxyAuthSettings>,
    /// Open client connections at most; at the cap the oldest connection
    /// without a request in progress is closed for the new one.
    #[serde(deserialize_with = "at_least_one")]
    pub max_connections: usize,
    /// How long a client may take to send a request's head (its request
    /// line and headers), counted from the connection (first request) or
    /// its first byte (later ones).
    #[serde(deserialize_with = "not_zero")]
    pub header_read_timeout: HumanDuration,
    /// How long a keep-alive connection may wait, silent, for its next request.
    #[serde(deserialize_with = "not_zero")]
    pub idle_timeout: HumanDuration,
    /// How long a handler may take to answer (reading the body included).
    #[serde(deserialize_with = "not_zero")]
    pub request_timeout: HumanDuration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 9785)),
            shutdown_grace: HumanDuration(Duration::from_secs(10)),
            anonymous_read: false,
            status_page: StatusPageMode::Private,
            proxy_auth: None,
            max_connections: 1024,
            header_read_timeout: HumanDuration(Duration::from_secs(5)),
            idle_timeout: HumanDuration(Duration::from_secs(90)),
            request_timeout: HumanDuration(Duration::from_secs(30)),
        }
    }
}

/// What visitors without a token see of the web app (`/` and every page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusPageMode {
    /// Readers with an API token only (a sign-in form, a cookie, or a bearer header).
    Private,
    /// Anyone; failure reasons are shown, their messages only to admins.
    Public,
    /// No web app: every page answers 404.
    Off,
}

fn at_least_one<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let n = usize::deserialize(d)?;
    if n == 0 {
        return Err(serde::de::Error::custom(
            "must be at least 1: the server needs a connection to answer anything",
        ));
    }
    Ok(n)
}

fn not_zero<'de, D: Deserializer<'de>>(d: D) -> Result<HumanDuration, D::Error> {
    let t = HumanDuration::deserialize(d)?;
    if t.0.is_zero() {
        return Err(serde::de::Error::custom(
            "must be longer than 0s: a timeout of zero would close every connection at once",
        ));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ServerSettings, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_keep_the_page_private_and_bound_every_wait() {
        let s = parse("").unwrap();
        assert_eq!(s.status_page, StatusPageMode::Private);
        assert_eq!(s.max_connections, 1024);
        assert_eq!(s.header_read_timeout.0, Duration::from_secs(5));
        assert_eq!(s.idle_timeout.0, Duration::from_secs(90));
        assert_eq!(s.request_timeout.0, Duration::from_secs(30));
    }

    #[test]
    fn knobs_parse_like_the_other_durations() {
        let s = parse(
            "status_page = \"public\"\nmax_connections = 64\nheader_read_timeout = \"2s\"\n\
             idle_timeout = \"1m\"\nrequest_timeout = \"500ms\"\n",
        )
        .unwrap();
        assert_eq!(s.status_page, StatusPageMode::Public);
        assert_eq!(s.max_connections, 64);
        assert_eq!(s.header_read_timeout.0, Duration::from_secs(2));
        assert_eq!(s.idle_timeout.0, Duration::from_secs(60));
        assert_eq!(s.request_timeout.0, Duration::from_millis(500));
        assert_eq!(
            parse("status_page = \"off\"").unwrap().status_page,
            StatusPageMode::Off
        );
    }

    #[test]
    fn zero_and_unknown_values_are_refused_with_the_reason() {
        let err = parse("max_connections = 0").unwrap_err();
        assert!(err.contains("at least 1"), "{err}");
        let err = parse("idle_timeout = \"0s\"").unwrap_err();
        assert!(err.contains("longer than 0s"), "{err}");
        let err = parse("status_page = \"open\"").unwrap_err();
        assert!(err.contains("private"), "{err}");
    }
}
