//! A service-account key made for the tests of this module (an RSA key
//! generated once per test run, never checked in), and a JWT checker.

use std::sync::OnceLock;

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    KeyPair as _, RSA_PKCS1_2048_8192_SHA256, RsaKeyPair, UnparsedPublicKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use super::ServiceAccountKey;
use super::jwt::{PEM_BEGIN, PEM_END};

pub(super) const EMAIL: &str = "okr-daemon@my-project.iam.gserviceaccount.com";
pub(super) const KEY_ID: &str = "0123456789abcdef0123456789abcdef01234567";

pub(super) fn scopes() -> Vec<String> {
    vec![
        "https://www.googleapis.com/auth/analytics.readonly".to_string(),
        "https://www.googleapis.com/auth/spreadsheets.readonly".to_string(),
    ]
}

pub(super) struct TestKey {
    pub(super) pem: String,
    /// RSAPublicKey DER, as `UnparsedPublicKey` wants it.
    pub(super) public_der: Vec<u8>,
}

/// One RSA 2048 key per test run, generated here rather than checked in.
pub(super) fn test_key() -> &'static TestKey {
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

pub(super) fn key_json(token_uri: Option<&str>) -> Value {
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

pub(super) fn key(token_uri: &str) -> ServiceAccountKey {
    ServiceAccountKey::from_json(&key_json(Some(token_uri)).to_string()).unwrap()
}

/// A 40-character run of the private key's base64, to look for in output.
pub(super) fn key_material() -> String {
    let body = test_key().pem.lines().nth(5).unwrap();
    body[..40].to_string()
}

/// Splits a JWT, checks its RS256 signature with the test key's public
/// half, and returns its header and claims; `None` if any of that fails.
pub(super) fn verify(jwt: &str) -> Option<(Value, Value)> {
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

pub(super) fn verified(jwt: &str) -> (Value, Value) {
    verify(jwt).expect("a JWT with a valid RS256 signature by the test key")
}
