//! Google service-account OAuth2 (the JWT bearer grant, RFC 7523): reading a
//! service-account key file, signing the RS256 assertion, exchanging it at
//! the key's `token_uri` for an access token, and caching that token until
//! five minutes before it expires.
//!
//! Google issues no refresh token for this grant: a new assertion is signed
//! for every exchange. The key and its assertion are in `jwt`; this file
//! exchanges the assertion and caches the token.

mod jwt;
#[cfg(test)]
mod test_key;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::Value;

pub use self::jwt::ServiceAccountKey;
use super::token_cache::{AccessTokenCache, MintedToken};
use crate::connectors::http::{HttpClient, HttpResponse, excerpt};
use crate::connectors::{FetchError, Reason, Redactor};

/// Where keys without a `token_uri` exchange their assertions.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// A cached access token is replaced this long before it expires, so a token
/// never runs out in the middle of a request.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// `iat` is set this far in the past so a host clock slightly ahead of
/// Google's does not make the assertion "issued in the future"
/// (`invalid_grant`). `exp` stays within the hour after `iat`.
const CLOCK_SKEW_SECS: u64 = 10;

const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// An access token for `scopes`: the cached one while it has more than
/// `REFRESH_MARGIN` left, else a fresh one from the key's `token_uri`.
///
/// A refused exchange (an OAuth error such as `invalid_grant`) is
/// `Reason::Auth`; transport failures, timeouts, 429 and 5xx keep the HTTP
/// layer's reasons. The token is a credential: keep it out of messages.
pub async fn access_token(
    key: &ServiceAccountKey,
    scopes: &[String],
    http: &HttpClient,
    timeout: Duration,
    redactor: &Redactor,
    cache: &AccessTokenCache,
) -> Result<Arc<str>, FetchError> {
    cache
        .get_or_mint(&key.cache_key(scopes), REFRESH_MARGIN, || {
            exchange(key, scopes, http, timeout, redactor)
        })
        .await
}

/// Drop `rejected` from the cache (after an API answered 401 to it), so the
/// next `access_token` call exchanges a new assertion.
pub fn forget_token(
    key: &ServiceAccountKey,
    scopes: &[String],
    cache: &AccessTokenCache,
    rejected: &str,
) {
    cache.invalidate(&key.cache_key(scopes), rejected);
}

async fn exchange(
    key: &ServiceAccountKey,
    scopes: &[String],
    http: &HttpClient,
    timeout: Duration,
    redactor: &Redactor,
) -> Result<MintedToken, FetchError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let assertion = key
        .assertion(scopes, now.saturating_sub(CLOCK_SKEW_SECS))
        .map_err(|m| FetchError::new(Reason::Auth, m))?;
    // The assertion buys tokens for an hour: keep it out of every message.
    let mut redactor = redactor.clone();
    redactor.add(&assertion);
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", JWT_BEARER_GRANT)
        .append_pair("assertion", &assertion)
        .finish();
    let req = http
        .request(Method::POST, key.token_uri())
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(ACCEPT, "application/json")
        .body(body);
    let resp = http.send_raw(req, timeout, &redactor).await?;
    token_from_response(&resp, &redactor)
}

/// The token of a token-endpoint answer, or why there is none.
fn token_from_response(
    resp: &HttpResponse,
    redactor: &Redactor,
) -> Result<MintedToken, FetchError> {
    let json = serde_json::from_slice::<Value>(&resp.body).ok();
    // 429 and 5xx stay transient even when they carry an OAuth envelope.
    let refusal_status =
        resp.is_success() || ((400..500).contains(&resp.status) && resp.status != 429);
    if refusal_status && let Some(e) = json.as_ref().and_then(|j| oauth_error(j, redactor)) {
        let hint = if e.starts_with("invalid_grant") {
            "check that the key is current (not deleted or disabled) and that this host's clock is right"
        } else {
            "check the service-account key and the requested scopes"
        };
        return Err(FetchError::new(
            Reason::Auth,
            format!(
                "{}: HTTP {}: token request refused: {e} ({hint})",
                resp.target(),
                resp.status
            ),
        ));
    }
    if let Some(e) = resp.status_error() {
        return Err(e);
    }
    // No excerpt of a 2xx body in these messages: it may hold the token.
    let Some(Value::Object(fields)) = json else {
        return Err(FetchError::new(
            Reason::Parse,
            format!("{}: the token response is not a JSON object", resp.target()),
        ));
    };
    let token = match fields.get("access_token") {
        Some(Value::String(t)) if !t.is_empty() => t.clone(),
        _ => {
            let names: Vec<&str> = fields.keys().map(String::as_str).collect();
            return Err(FetchError::new(
                Reason::Parse,
                redactor.redact(&format!(
                    "{}: the token response has no `access_token` (fields: {})",
                    resp.target(),
                    names.join(", ")
                )),
            ));
        }
    };
    // Unknown lifetime: the cache's default applies.
    let expires_in = match fields.get("expires_in") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .map(Duration::from_secs);
    Ok(MintedToken { token, expires_in })
}

/// `error: error_description` of an OAuth error envelope (RFC 6749 §5.2),
/// shortened and redacted; `None` when `json` is not one.
fn oauth_error(json: &Value, redactor: &Redactor) -> Option<String> {
    let error = json.get("error")?.as_str().filter(|s| !s.is_empty())?;
    let mut text = error.to_string();
    if let Some(d) = json
        .get("error_description")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        text.push_str(": ");
        text.push_str(d);
    }
    Some(excerpt(text.as_bytes(), redactor))
}

#[cfg(test)]
mod tests {
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, Request, ResponseTemplate};

    use super::test_key::*;
    use super::*;
    use crate::connectors::http::HttpPolicy;

    /// `fixtures/google_oauth_token_response.json` of the API reference.
    const TOKEN_RESPONSE: &str = r#"{
  "access_token": "ya29.c.c0ASRK0GZ-fake-token-for-tests",
  "expires_in": 3599,
  "token_type": "Bearer"
}"#;
    const TOKEN: &str = "ya29.c.c0ASRK0GZ-fake-token-for-tests";

    /// `fixtures/google_oauth_token_error.json` of the API reference.
    const TOKEN_ERROR: &str = r#"{
  "error": "invalid_grant",
  "error_description": "Invalid JWT Signature."
}"#;

    /// Matches a token request whose form body asks for the JWT bearer grant
    /// with a verifiable assertion addressed to `aud`.
    struct JwtBearerForm {
        aud: String,
    }

    impl wiremock::Match for JwtBearerForm {
        fn matches(&self, request: &Request) -> bool {
            let body = String::from_utf8_lossy(&request.body);
            if !body.starts_with(
                "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=",
            ) {
                return false;
            }
            let form: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
                .into_owned()
                .collect();
            let [(g, grant), (a, assertion)] = &form[..] else {
                return false;
            };
            if g != "grant_type" || grant != JWT_BEARER_GRANT || a != "assertion" {
                return false;
            }
            // Runs on the mock server's thread: fail the match, never panic.
            let Some((_, claims)) = verify(assertion) else {
                return false;
            };
            let iat = claims["iat"].as_u64().unwrap_or_default();
            claims["aud"] == self.aud.as_str() && claims["exp"].as_u64() == Some(iat + 3600)
        }
    }

    struct Setup {
        server: MockServer,
        key: ServiceAccountKey,
        http: HttpClient,
        cache: AccessTokenCache,
    }

    async fn setup() -> Setup {
        let server = MockServer::start().await;
        let key = key(&format!("{}/token", server.uri()));
        Setup {
            server,
            key,
            http: HttpClient::new(HttpPolicy::default()).unwrap(),
            cache: AccessTokenCache::new(),
        }
    }

    impl Setup {
        fn token_request(&self) -> wiremock::MockBuilder {
            Mock::given(method("POST"))
                .and(path("/token"))
                .and(header("content-type", "application/x-www-form-urlencoded"))
                .and(JwtBearerForm {
                    aud: self.key.token_uri().to_string(),
                })
        }

        async fn token(&self, redactor: &Redactor) -> Result<Arc<str>, FetchError> {
            let timeout = Duration::from_secs(5);
            access_token(
                &self.key,
                &scopes(),
                &self.http,
                timeout,
                redactor,
                &self.cache,
            )
            .await
        }
    }

    fn json_response(status: u16, body: &str) -> ResponseTemplate {
        ResponseTemplate::new(status).set_body_raw(body.as_bytes().to_vec(), "application/json")
    }

    #[tokio::test]
    async fn exchanges_an_assertion_for_a_token_and_reuses_it() {
        let s = setup().await;
        s.token_request()
            .respond_with(json_response(200, TOKEN_RESPONSE))
            .expect(1)
            .mount(&s.server)
            .await;
        let r = Redactor::default();
        assert_eq!(&*s.token(&r).await.unwrap(), TOKEN);
        assert_eq!(&*s.token(&r).await.unwrap(), TOKEN);
        s.server.verify().await;

        // Once the API refuses it, the next call exchanges a new assertion.
        forget_token(&s.key, &scopes(), &s.cache, TOKEN);
        s.server.reset().await;
        s.token_request()
            .respond_with(json_response(200, TOKEN_RESPONSE))
            .expect(1)
            .mount(&s.server)
            .await;
        assert_eq!(&*s.token(&r).await.unwrap(), TOKEN);
    }

    #[tokio::test]
    async fn a_token_within_five_minutes_of_expiry_is_replaced() {
        let s = setup().await;
        s.token_request()
            .respond_with(json_response(
                200,
                r#"{"access_token":"short-lived","expires_in":299,"token_type":"Bearer"}"#,
            ))
            .expect(2)
            .mount(&s.server)
            .await;
        let r = Redactor::default();
        assert_eq!(&*s.token(&r).await.unwrap(), "short-lived");
        assert_eq!(&*s.token(&r).await.unwrap(), "short-lived");
    }

    #[tokio::test]
    async fn invalid_grant_is_an_auth_failure_and_is_not_cached() {
        let s = setup().await;
        s.token_request()
            .respond_with(json_response(400, TOKEN_ERROR))
            .expect(2)
            .mount(&s.server)
            .await;
        let r = Redactor::default();
        for _ in 0..2 {
            let e = s.token(&r).await.unwrap_err();
            assert_eq!(e.reason, Reason::Auth, "{e}");
            assert!(
                e.message.contains(
                    "HTTP 400: token request refused: invalid_grant: Invalid JWT Signature."
                ),
                "{e}"
            );
            assert!(
                e.message.contains("/token") && e.message.contains("clock"),
                "{e}"
            );
        }
    }

    #[tokio::test]
    async fn oauth_errors_are_redacted() {
        let s = setup().await;
        s.token_request()
            .respond_with(json_response(
                401,
                r#"{"error":"invalid_client","error_description":"client hunter2-secret unknown"}"#,
            ))
            .mount(&s.server)
            .await;
        let mut r = Redactor::default();
        r.add("hunter2-secret");
        let e = s.token(&r).await.unwrap_err();
        assert_eq!(e.reason, Reason::Auth);
        assert!(
            e.message.contains("invalid_client: client *** unknown"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn other_failures_keep_the_http_reasons() {
        let cases = [
            (
                json_response(503, r#"{"error":"internal_failure"}"#),
                Reason::Http5xx,
            ),
            (
                json_response(429, r#"{"error":"rate_limit_exceeded"}"#),
                Reason::RateLimited,
            ),
            (
                ResponseTemplate::new(404).set_body_string("Not Found"),
                Reason::Http4xx,
            ),
            (
                ResponseTemplate::new(200).set_body_string("<html>"),
                Reason::Parse,
            ),
            (
                json_response(200, r#"{"token_type":"Bearer","id_token":"eyJ-secret"}"#),
                Reason::Parse,
            ),
        ];
        for (response, reason) in cases {
            let s = setup().await;
            s.token_request()
                .respond_with(response)
                .mount(&s.server)
                .await;
            let e = s.token(&Redactor::default()).await.unwrap_err();
            assert_eq!(e.reason, reason, "{e}");
            assert!(!e.message.contains("eyJ-secret"), "{e}");
        }
    }

    #[tokio::test]
    async fn a_missing_lifetime_falls_back_to_the_default() {
        let s = setup().await;
        s.token_request()
            .respond_with(json_response(200, r#"{"access_token":"no-ttl"}"#))
            .expect(1)
            .mount(&s.server)
            .await;
        let r = Redactor::default();
        assert_eq!(&*s.token(&r).await.unwrap(), "no-ttl");
        assert_eq!(&*s.token(&r).await.unwrap(), "no-ttl");
    }
}
