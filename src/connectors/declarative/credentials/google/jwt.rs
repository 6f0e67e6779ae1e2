//! A Google service-account key and the assertion it signs: reading the
//! key file (JSON, PKCS#8 PEM private key) and signing the RS256 JWT of the
//! JWT bearer grant (RFC 7523) for a set of scopes.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::Url;
use serde_json::{Map, Value, json};

use super::DEFAULT_TOKEN_URI;

/// Google refuses assertions valid for longer than an hour.
const ASSERTION_LIFETIME_SECS: u64 = 3600;

pub(super) const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
pub(super) const PEM_END: &str = "-----END PRIVATE KEY-----";

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
    use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

    use super::super::test_key::*;
    use super::*;

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
}
