//! The redactor: every resolved secret, and the forms it travels in, replaced
//! by `***` in anything okrd prints (errors, logs, `okrd source test`).
//!
//! A secret leaves okrd not only as configured: URL-encoded in a query,
//! escaped inside JSON, without its scheme (`Bearer tok` sent, `tok` quoted
//! back), or base64-encoded inside a basic-auth header built from it. A
//! server that echoes a request back in its error quotes any of these.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::connectors::FetchError;

/// Replaces every known secret, in each of its forms, with `***`.
///
/// Clones share what `remember` learns, so a token minted by one fetch is
/// redacted from whatever any holder of the redactor prints next.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Every form of every configured secret, longest first. Shared: each
    /// response of each fetch holds a clone of its source's redactor.
    secrets: Arc<Vec<SecretString>>,
    /// Forms of tokens okrd minted at run time (login and token-exchange
    /// answers), newest last; at most `MAX_REMEMBERED` tokens.
    minted: Arc<Mutex<VecDeque<Vec<SecretString>>>>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Redactor({} secrets, {} minted)",
            self.secrets.len(),
            self.minted().len()
        )
    }
}

/// Minted tokens remembered: a token lives an hour or so, a source mints one
/// at a time, so this covers many sources' current and previous tokens
/// while keeping redaction cheap.
const MAX_REMEMBERED: usize = 64;

/// Secrets shorter than this are not redacted: replacing "1" everywhere would
/// garble messages while protecting nothing.
const MIN_SECRET_LEN: usize = 4;

/// The shortest base64 run worth decoding: 4 bytes of secret encode to 8.
const MIN_ENCODED_LEN: usize = 8;

impl Redactor {
    pub fn add(&mut self, secret: &str) {
        if secret.len() < MIN_SECRET_LEN {
            return;
        }
        let mut forms = vec![secret.to_string()];
        // A whole `Authorization` value: the credential alone is the secret too.
        if let Some((scheme, credential)) = secret.split_once(' ')
            && is_auth_scheme(scheme)
            && credential.trim().len() >= MIN_SECRET_LEN
        {
            forms.push(credential.trim().to_string());
        }
        // A key file (a Google service-account key): its private parts alone.
        if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(secret) {
            for name in ["private_key", "client_secret", "refresh_token"] {
                if let Some(Value::String(part)) = fields.get(name)
                    && part.len() >= MIN_SECRET_LEN
                {
                    forms.push(part.clone());
                }
            }
        }
        let secrets = Arc::make_mut(&mut self.secrets);
        for form in forms {
            for f in encodings(form) {
                if !secrets.iter().any(|s| s.expose_secret() == f) {
                    secrets.push(SecretString::from(f));
                }
            }
        }
        // Longest first, so a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.expose_secret().len()));
    }

    /// Redacts `token`, minted at run time (a login or token-exchange
    /// answer), from now on, in every clone of this redactor. Cheap when it
    /// is already known, so callers may remember a token at every use.
    pub fn remember(&self, token: &str) {
        if token.len() < MIN_SECRET_LEN || self.is_secret(token) {
            return;
        }
        let mut forms: Vec<SecretString> = encodings(token.to_string())
            .map(SecretString::from)
            .collect();
        forms.sort_by_key(|s| std::cmp::Reverse(s.expose_secret().len()));
        let mut minted = self.minted();
        if minted.len() == MAX_REMEMBERED {
            minted.pop_front();
        }
        minted.push_back(forms);
    }

    fn minted(&self) -> std::sync::MutexGuard<'_, VecDeque<Vec<SecretString>>> {
        self.minted.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every form of every secret, configured then minted, longest first.
    /// Copies only when tokens were minted: most sources mint none.
    fn all_forms(&self) -> std::borrow::Cow<'_, [SecretString]> {
        let minted = self.minted();
        if minted.is_empty() {
            return std::borrow::Cow::Borrowed(&self.secrets);
        }
        let mut all = self.secrets.to_vec();
        all.extend(minted.iter().flatten().cloned());
        // Longest first, so a secret containing another is replaced whole.
        all.sort_by_key(|s| std::cmp::Reverse(s.expose_secret().len()));
        std::borrow::Cow::Owned(all)
    }

    /// Is `text` exactly one of the secrets?
    pub fn is_secret(&self, text: &str) -> bool {
        self.secrets.iter().any(|s| s.expose_secret() == text)
            || self
                .minted()
                .iter()
                .flatten()
                .any(|s| s.expose_secret() == text)
    }

    pub fn redact(&self, text: &str) -> String {
        // Most sources hold no secret: nothing to copy or sort for them.
        if self.secrets.is_empty() && self.minted().is_empty() {
            return text.to_string();
        }
        let secrets = self.all_forms();
        let mut out = text.to_string();
        for s in secrets.iter() {
            let s = s.expose_secret();
            if out.contains(s) {
                out = out.replace(s, "***");
            }
        }
        redact_base64(&out, &secrets)
    }
}

/// Replaces each base64 run that decodes to text holding a secret, such as
/// the `Basic base64(user:secret)` header a connector built.
fn redact_base64(text: &str, secrets: &[SecretString]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(is_base64_char) {
        out.push_str(&rest[..start]);
        let run = &rest[start..];
        let len = run.find(|c| !is_base64_char(c)).unwrap_or(run.len());
        // Padding belongs to the run.
        let len = len + run[len..].chars().take_while(|&c| c == '=').count();
        let (candidate, after) = run.split_at(len);
        if hides_a_secret(candidate, secrets) {
            out.push_str("***");
        } else {
            out.push_str(candidate);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

fn hides_a_secret(candidate: &str, secrets: &[SecretString]) -> bool {
    if candidate.len() < MIN_ENCODED_LEN {
        return false;
    }
    let engine = if candidate.contains(['-', '_']) {
        &URL_SAFE
    } else {
        &STANDARD
    };
    let Ok(bytes) = engine.decode(candidate) else {
        return false;
    };
    let decoded = String::from_utf8_lossy(&bytes);
    secrets.iter().any(|s| decoded.contains(s.expose_secret()))
}

/// A secret as written, in a query string, and inside JSON text (quotes,
/// backslashes, newlines escaped).
fn encodings(form: String) -> impl Iterator<Item = String> {
    let (encoded, escaped) = (url_encode(&form), json_escaped(&form));
    [form, encoded, escaped].into_iter()
}

/// Either padding or none: servers quote base64 both ways.
const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);

fn is_base64_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '-' | '_')
}

/// `Bearer`, `Basic`, `Token`, `Bot`, ...: one word of letters, as HTTP
/// auth schemes are.
fn is_auth_scheme(word: &str) -> bool {
    (2..=20).contains(&word.len()) && word.chars().all(|c| c.is_ascii_alphabetic())
}

fn json_escaped(s: &str) -> String {
    let quoted = serde_json::to_string(s).unwrap_or_default();
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or(&quoted)
        .to_string()
}

/// Percent-encode everything but RFC 3986 unreserved characters.
pub(crate) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl FetchError {
    /// This error with every known secret in its message replaced by `***`.
    /// Connectors apply it at their boundary, on top of the redaction done
    /// where messages are built.
    pub fn redacted(mut self, redactor: &Redactor) -> FetchError {
        self.message = redactor.redact(&self.message);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose;

    fn redactor(secrets: &[&str]) -> Redactor {
        let mut r = Redactor::default();
        for s in secrets {
            r.add(s);
        }
        r
    }

    #[test]
    fn redacts_plain_and_url_encoded_forms() {
        let r = redactor(&["s3cr3t-key/with+chars"]);
        let msg = "GET https://x/?k=s3cr3t-key%2Fwith%2Bchars failed; key s3cr3t-key/with+chars";
        assert_eq!(r.redact(msg), "GET https://x/?k=*** failed; key ***");
    }

    #[test]
    fn redacts_a_credential_quoted_without_its_scheme() {
        let r = redactor(&["Bearer tok/Rf+3cc="]);
        assert_eq!(
            r.redact("token tok/Rf+3cc= is not valid (Authorization: Bearer tok/Rf+3cc=)"),
            "token *** is not valid (Authorization: ***)"
        );
        // Escaped inside JSON, too.
        let r = redactor(&["Token a\"quoted\"key"]);
        assert_eq!(
            r.redact(r#"{"error":"bad key a\"quoted\"key"}"#),
            r#"{"error":"bad key ***"}"#
        );
    }

    #[test]
    fn a_secret_with_a_space_that_is_no_scheme_is_kept_whole() {
        let r = redactor(&["correct horse battery staple"]);
        assert_eq!(r.redact("horse"), "horse");
        assert_eq!(r.redact("a correct horse battery staple"), "a ***");
    }

    #[test]
    fn redacts_basic_auth_built_from_a_secret() {
        let r = redactor(&["zd/Tk+4dd="]);
        for (user, engine) in [
            ("agent@acme.example/token", &general_purpose::STANDARD),
            ("key-only", &general_purpose::STANDARD_NO_PAD),
            ("", &general_purpose::URL_SAFE),
        ] {
            let b64 = engine.encode(format!("{user}:zd/Tk+4dd="));
            let msg = format!("401: {{\"echo\":\"Authorization: Basic {b64}\"}} retry");
            assert_eq!(
                r.redact(&msg),
                "401: {\"echo\":\"Authorization: Basic ***\"} retry",
                "{user}"
            );
        }
        // The secret as the user name, with an empty password (Matomo-like `key:`).
        let b64 = general_purpose::STANDARD.encode("zd/Tk+4dd=:");
        assert_eq!(r.redact(&format!("Basic {b64}")), "Basic ***");
    }

    #[test]
    fn leaves_base64_that_holds_no_secret() {
        let r = redactor(&["zd/Tk+4dd="]);
        let other = general_purpose::STANDARD.encode("someone:else");
        let msg =
            format!("Basic {other} and id 4252698918d3db14395a84c961b4a522 in /v1/Calls.json");
        assert_eq!(r.redact(&msg), msg);
    }

    #[test]
    fn redacts_the_private_parts_of_a_key_file() {
        let key = "{\n  \"type\": \"service_account\",\n  \"private_key\": \"-----BEGIN PRIVATE KEY-----\\nMIIEvAIBADAN\\n-----END PRIVATE KEY-----\\n\"\n}";
        let k = redactor(&[key]);
        let printed = serde_json::to_string(&serde_json::json!({ "credentials": key })).unwrap();
        assert_eq!(k.redact(&printed), r#"{"credentials":"***"}"#);
        let pk: Value = serde_json::from_str(key).unwrap();
        let alone = format!("bad key {}", pk["private_key"].as_str().unwrap());
        assert!(
            !k.redact(&alone).contains("MIIEvAIBADAN"),
            "{}",
            k.redact(&alone)
        );
    }

    #[test]
    fn a_minted_token_is_redacted_by_every_clone_from_then_on() {
        let configured = redactor(&["pass/Wd+1aa="]);
        let clone = configured.clone();
        let minted = "eyJhbGciOi.mint/ed+tok==";
        assert_eq!(
            clone.redact(minted),
            minted,
            "not known before it is minted"
        );
        configured.remember(minted);
        configured.remember(minted);
        for r in [&configured, &clone] {
            assert_eq!(
                r.redact(&format!("401 Bearer {minted} and pass/Wd+1aa=")),
                "401 Bearer *** and ***"
            );
            assert_eq!(r.redact(&format!("t={}", url_encode(minted))), "t=***");
            let b64 = general_purpose::STANDARD.encode(format!("u:{minted}"));
            assert_eq!(r.redact(&format!("Basic {b64}")), "Basic ***");
            assert!(r.is_secret(minted));
        }
        // Bounded: the oldest tokens are forgotten first.
        for n in 0..MAX_REMEMBERED {
            configured.remember(&format!("later-token-{n}"));
        }
        assert_eq!(configured.redact(minted), minted);
        assert_eq!(configured.redact("later-token-7"), "***");
    }

    #[test]
    fn short_values_are_not_secrets() {
        let r = redactor(&["abc"]);
        assert_eq!(r.redact("abc abc"), "abc abc");
        assert!(!r.is_secret("abc"));
    }
}
