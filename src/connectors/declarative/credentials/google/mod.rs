//! Google service-account OAuth2 (the JWT bearer grant, RFC 7523): reading a
//! service-account key file, signing the RS256 assertion, exchanging it at
//! the key's `token_uri` for an access token, and caching that token until
//! five minutes before it expires.
//!
//! Google issues no refresh token for this grant: a new assertion is signed
//! for every exchange.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, Url};
use serde_json::{Map, Value, json};

use super::token_cache::{AccessTokenCache, MintedToken};
use crate::connectors::http::{HttpClient, HttpResponse, excerpt};
use crate::connectors::{FetchError, Reason, Redactor};

/// Where keys without a `token_uri` exchange their assertions.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// A cached access token is replaced this long before it expires, so a token
/// never runs out in the middle of a request.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Google refuses assertions valid for longer than an hour.
const ASSERTION_LIFETIME_SECS: u64 = 3600;

/// `iat` is set this far in the past so a host clock slightly ahead of
/// Google's does not make the assertion "issued in the future"
/// (`invalid_grant`). `exp` stays within the hour after `iat`.
const CLOCK_SKEW_SECS: u64 = 10;

const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const PEM_END: &str = "-----END PRIVATE KEY-----";

/// A parsed service-account key: the account, and its private key ready to sign.
///
/// `Debug` prints the account but never the private key.
#[derive(Clone)]
pub struct ServiceAccountKey {
    client_email: String,
    private_key_id: String,
    token_uri: String,
    /// The user to act as (domain-wide delegation), if any.
    subject: Option<String>,
    key_pair: Arc<RsaKeyPair>,
}

impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .field("token_uri", &self.token_uri)
            .field("subject", &self.subject)
            .field("private_key", &"***")
            .finish()
    }
}

impl ServiceAccountKey {
    /// Parse a service-account key file (the JSON downloaded from the Google
    /// Cloud console). Messages name the field at fault and never quote the
    /// private key or the file.
    pub fn from_json(text: &str) -> Result<ServiceAccountKey, String> {
        let json: Value = serde_json::from_str(text).map_err(|e| {
            // Only the position: serde's own message may quote the text.
            format!(
                "the service-account key is not valid JSON (error at line {}, column {})",
                e.line(),
                e.column()
            )
        })?;
        let Value::Object(fields) = json else {
            return Err("the service-account key must be a JSON object".to_string());
        };
        let kind = required_str(&fields, "type")?;
        if kind != "service_account" {
            // Other Google credential files (e.g. `authorized_user` from gcloud)
            // hold no private key; naming the type tells the user which file
            // they gave. Quoted only when it looks like a type name, never a key.
            let looks_like_a_type =
                kind.len() <= 40 && kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            return Err(if looks_like_a_type {
                format!("the key file has type `{kind}`, not `service_account`")
            } else {
                "the key file's `type` is not `service_account`".to_string()
            });
        }
        let client_email = required_str(&fields, "client_email")?.to_string();
        let private_key_id = required_str(&fields, "private_key_id")?.to_string();
        let token_uri = match fields.get("token_uri") {
            None | Some(Value::Null) => DEFAULT_TOKEN_URI.to_string(),
            Some(_) => required_str(&fields, "token_uri")?.to_string(),
        };
        match Url::parse(&token_uri) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
            _ => {
                return Err(
                    "`token_uri` in the service-account key is not an http(s) URL".to_string(),
                );
            }
        }
        let der = pkcs8_der_from_pem(required_str(&fields, "private_key")?)?;
        let key_pair = RsaKeyPair::from_pkcs8(&der).map_err(|e| {
            format!("`private_key` in the service-account key is not a usable RSA PKCS#8 key ({e})")
        })?;
        Ok(ServiceAccountKey {
            client_email,
            private_key_id,
            token_uri,
            subject: None,
            key_pair: Arc::new(key_pair),
        })
    }

    /// Act as `subject` (domain-wide delegation): the `sub` claim.
    pub fn with_subject(mut self, subject: impl Into<String>) -> ServiceAccountKey {
        self.subject = Some(subject.into());
        self
    }

    pub fn client_email(&self) -> &str {
        &self.client_email
    }

    pub fn private_key_id(&self) -> &str {
        &self.private_key_id
    }

    pub fn token_uri(&self) -> &str {
        &self.token_uri
    }

    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// The signed JWT (`header.claims.signature`, base64url without padding)
    /// asking for `scopes`, issued at `iat` (Unix seconds).
    pub fn assertion(&self, scopes: &[String], iat: u64) -> Result<String, String> {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.private_key_id});
        let mut claims = Map::new();
        claims.insert("iss".into(), self.client_email.clone().into());
        claims.insert("scope".into(), scopes.join(" ").into());
        claims.insert("aud".into(), self.token_uri.clone().into());
        claims.insert("iat".into(), iat.into());
        claims.insert("exp".into(), (iat + ASSERTION_LIFETIME_SECS).into());
        if let Some(sub) = &self.subject {
            claims.insert("sub".into(), sub.clone().into());
        }
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string())
        );
        let mut signature = vec![0; self.key_pair.public_modulus_len()];
        self.key_pair
            .sign(
                &RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| {
                "cannot sign the token request with the service-account key".to_string()
            })?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }

    /// The `AccessTokenCache` key of the token for `scopes`: one token per account,
    /// delegated user, token endpoint and set of scopes (in any order).
    pub fn cache_key(&self, scopes: &[String]) -> String {
        let mut scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
        scopes.sort_unstable();
        scopes.dedup();
        format!(
            "google-service-account\n{}\n{}\n{}\n{}",
            self.token_uri,
            self.client_email,
            self.subject.as_deref().unwrap_or(""),
            scopes.join(" ")
        )
    }
}

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
        .request(Method::POST, &key.token_uri)
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

fn required_str<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<&'a str, String> {
    match fields.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        Some(Value::String(_)) => Err(format!("`{name}` in the service-account key is empty")),
        Some(_) => Err(format!(
            "`{name}` in the service-account key must be a string"
        )),
        None => Err(format!("the service-account key has no `{name}`")),
    }
}

/// The DER inside a `-----BEGIN PRIVATE KEY-----` PEM block.
fn pkcs8_der_from_pem(pem: &str) -> Result<Vec<u8>, String> {
    const FIELD: &str = "`private_key` in the service-account key";
    let Some(start) = pem.find(PEM_BEGIN) else {
        let why = if pem.contains("-----BEGIN RSA PRIVATE KEY-----") {
            "is a PKCS#1 key (BEGIN RSA PRIVATE KEY); convert it to PKCS#8 (BEGIN PRIVATE KEY)"
        } else if pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            "is encrypted; an unencrypted PKCS#8 key (BEGIN PRIVATE KEY) is needed"
        } else {
            "is not a PEM private key (no -----BEGIN PRIVATE KEY----- line)"
        };
        return Err(format!("{FIELD} {why}"));
    };
    let body = &pem[start + PEM_BEGIN.len()..];
    let Some(end) = body.find(PEM_END) else {
        return Err(format!("{FIELD} has no -----END PRIVATE KEY----- line"));
    };
    let body = &body[..end];
    if body.contains("\\n") {
        // A key file escaped twice (e.g. pasted into an env var as JSON-in-JSON).
        return Err(format!(
            "{FIELD} holds literal \\n sequences instead of line breaks; was the key file escaped twice?"
        ));
    }
    let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD
        .decode(b64)
        .map_err(|_| format!("{FIELD} is not valid base64 between its PEM lines"))
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use aws_lc_rs::encoding::AsDer as _;
    use aws_lc_rs::rsa::KeySize;
    use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, Request, ResponseTemplate};

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

    const EMAIL: &str = "okr-daemon@my-project.iam.gserviceaccount.com";
    const KEY_ID: &str = "0123456789abcdef0123456789abcdef01234567";

    fn scopes() -> Vec<String> {
        vec![
            "https://www.googleapis.com/auth/analytics.readonly".to_string(),
            "https://www.googleapis.com/auth/spreadsheets.readonly".to_string(),
        ]
    }

    struct TestKey {
        pem: String,
        /// RSAPublicKey DER, as `UnparsedPublicKey` wants it.
        public_der: Vec<u8>,
    }

    /// One RSA 2048 key per test run, generated here rather than checked in.
    fn test_key() -> &'static TestKey {
        static KEY: OnceLock<TestKey> = OnceLock::new();
        KEY.get_or_init(|| {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("generate an RSA key");
            let pkcs8 = pair.as_der().expect("PKCS#8 encoding");
            let b64 = STANDARD.encode(pkcs8.as_ref());
            let lines: Vec<&str> = b64
                .as_bytes()
                .chunks(64)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect();
            TestKey {
                pem: format!("{PEM_BEGIN}\n{}\n{PEM_END}\n", lines.join("\n")),
                public_der: pair.public_key().as_ref().to_vec(),
            }
        })
    }

    fn key_json(token_uri: Option<&str>) -> Value {
        let mut v = json!({
            "type": "service_account",
            "project_id": "my-project",
            "private_key_id": KEY_ID,
            "private_key": test_key().pem,
            "client_email": EMAIL,
            "client_id": "123456789012345678901",
        });
        if let Some(uri) = token_uri {
            v["token_uri"] = uri.into();
        }
        v
    }

    fn key(token_uri: &str) -> ServiceAccountKey {
        ServiceAccountKey::from_json(&key_json(Some(token_uri)).to_string()).unwrap()
    }

    /// A 40-character run of the private key's base64, to look for in output.
    fn key_material() -> String {
        let body = test_key().pem.lines().nth(5).unwrap();
        body[..40].to_string()
    }

    /// Splits a JWT, checks its RS256 signature with the test key's public
    /// half, and returns its header and claims; `None` if any of that fails.
    fn verify(jwt: &str) -> Option<(Value, Value)> {
        let parts: Vec<&str> = jwt.split('.').collect();
        let [header, claims, signature] = parts[..] else {
            return None;
        };
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &test_key().public_der)
            .verify(format!("{header}.{claims}").as_bytes(), &signature)
            .ok()?;
        let json = |part: &str| -> Option<Value> {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
        };
        Some((json(header)?, json(claims)?))
    }

    fn verified(jwt: &str) -> (Value, Value) {
        verify(jwt).expect("a JWT with a valid RS256 signature by the test key")
    }

    #[test]
    fn reads_a_key_file_and_keeps_the_private_key_out_of_debug() {
        let key = ServiceAccountKey::from_json(&key_json(None).to_string()).unwrap();
        assert_eq!(key.client_email(), EMAIL);
        assert_eq!(key.private_key_id(), KEY_ID);
        assert_eq!(key.token_uri(), DEFAULT_TOKEN_URI);
        assert_eq!(key.subject(), None);
        let debug = format!("{key:?}");
        assert!(debug.contains(EMAIL) && debug.contains("***"), "{debug}");
        assert!(!debug.contains("PRIVATE KEY") && !debug.contains(&key_material()));
        let key = key.with_subject("boss@example.com");
        assert_eq!(key.subject(), Some("boss@example.com"));
    }

    #[test]
    fn malformed_keys_give_clean_errors_without_key_material() {
        let pem = &test_key().pem;
        let with = |field: &str, value: Value| {
            let mut v = key_json(None);
            v[field] = value;
            ServiceAccountKey::from_json(&v.to_string()).unwrap_err()
        };
        let without = |field: &str| {
            let mut v = key_json(None);
            v.as_object_mut().unwrap().remove(field);
            ServiceAccountKey::from_json(&v.to_string()).unwrap_err()
        };
        let truncated = key_json(None).to_string();
        let truncated = &truncated[..truncated.len() - 3];
        let cases = [
            (
                ServiceAccountKey::from_json(truncated).unwrap_err(),
                "not valid JSON",
            ),
            (
                ServiceAccountKey::from_json("[1]").unwrap_err(),
                "JSON object",
            ),
            (without("client_email"), "no `client_email`"),
            (without("private_key"), "no `private_key`"),
            (without("type"), "no `type`"),
            (
                with("type", "authorized_user".into()),
                "type `authorized_user`, not `service_account`",
            ),
            (
                with("client_email", 5.into()),
                "`client_email` in the service-account key must be a string",
            ),
            (with("token_uri", "ftp://x/".into()), "`token_uri`"),
            (
                with("private_key", "".into()),
                "`private_key` in the service-account key is empty",
            ),
            (
                with(
                    "private_key",
                    pem.replace("PRIVATE KEY", "RSA PRIVATE KEY").into(),
                ),
                "PKCS#1",
            ),
            (
                with("private_key", pem.replace('\n', "\\n").into()),
                "literal \\n",
            ),
            (
                with("private_key", pem.replace(PEM_END, "").into()),
                "no -----END",
            ),
            (
                with("private_key", pem.replacen('M', "*", 1).into()),
                "not valid base64",
            ),
            (
                with(
                    "private_key",
                    format!(
                        "{PEM_BEGIN}\n{}\n{PEM_END}",
                        STANDARD.encode([0x30, 3, 2, 1, 0])
                    )
                    .into(),
                ),
                "not a usable RSA PKCS#8 key",
            ),
            (with("private_key", pem[..200].into()), "no -----END"),
        ];
        let material = key_material();
        for (e, expected) in cases {
            assert!(e.contains(expected), "expected {expected:?} in {e:?}");
            assert!(!e.contains(&material) && !e.contains(EMAIL), "{e}");
        }
        // A type that does not look like one is not quoted.
        let e = with("type", pem.as_str().into());
        assert_eq!(e, "the key file's `type` is not `service_account`");
    }

    #[test]
    fn the_assertion_is_an_rs256_jwt_signed_with_the_key() {
        let key = key(DEFAULT_TOKEN_URI);
        let jwt = key.assertion(&scopes(), 1_784_808_000).unwrap();
        assert!(!jwt.contains('=') && !jwt.contains('+') && !jwt.contains('/'));
        let (header, claims) = verified(&jwt);
        assert_eq!(header, json!({"alg": "RS256", "typ": "JWT", "kid": KEY_ID}));
        // The claims of fixtures/requests/google_service_account_jwt.json.
        assert_eq!(
            claims,
            json!({
                "iss": EMAIL,
                "scope": "https://www.googleapis.com/auth/analytics.readonly https://www.googleapis.com/auth/spreadsheets.readonly",
                "aud": "https://oauth2.googleapis.com/token",
                "iat": 1_784_808_000,
                "exp": 1_784_811_600,
            })
        );

        // A changed claim no longer matches the signature.
        let parts: Vec<&str> = jwt.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(claims.to_string().replace(EMAIL, "evil@x"));
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        let public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &test_key().public_der);
        assert!(
            public
                .verify(format!("{}.{forged}", parts[0]).as_bytes(), &signature)
                .is_err()
        );

        let jwt = key
            .with_subject("boss@example.com")
            .assertion(&scopes(), 1)
            .unwrap();
        assert_eq!(verified(&jwt).1["sub"], "boss@example.com");
    }

    #[test]
    fn cache_keys_ignore_scope_order_but_not_identity() {
        let key = key(DEFAULT_TOKEN_URI);
        let mut reversed = scopes();
        reversed.reverse();
        assert_eq!(key.cache_key(&scopes()), key.cache_key(&reversed));
        assert_ne!(key.cache_key(&scopes()), key.cache_key(&scopes()[..1]));
        let delegated = key.clone().with_subject("boss@example.com");
        assert_ne!(key.cache_key(&scopes()), delegated.cache_key(&scopes()));
    }

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
