//! Connector params: secret references resolved, each secret registered
//! with the [`Redactor`] that keeps it out of every message and log line.

use std::fmt;

use serde_json::{Map, Value};

pub use super::http::Redactor;

/// Params as a connector sees them: merged, templated, secrets resolved.
///
/// `Debug` prints the keys only, so a params value logged by mistake leaks nothing.
#[derive(Clone, Default, PartialEq)]
pub struct Params {
    values: Map<String, Value>,
}

impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.values.keys()).finish()
    }
}

impl Params {
    pub fn new(values: Map<String, Value>) -> Params {
        Params { values }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// A string param, if present and a string.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.values.get(key).and_then(Value::as_str)
    }

    /// A required string param, or a message naming it.
    pub fn require_str(&self, key: &str) -> Result<&str, String> {
        match self.values.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s),
            Some(Value::String(_)) => Err(format!("param `{key}` is empty")),
            Some(other) => Err(format!(
                "param `{key}` must be a string, not {}",
                json_type(other)
            )),
            None => Err(format!("param `{key}` is required")),
        }
    }

    /// A table param (e.g. `headers`), if present.
    pub fn table(&self, key: &str) -> Result<Option<&Map<String, Value>>, String> {
        match self.values.get(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(other) => Err(format!(
                "param `{key}` must be a table, not {}",
                json_type(other)
            )),
        }
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.values
    }

    /// These params with `over`'s keys replacing ours (a KR's params over its source's).
    pub fn merged_with(&self, over: &Map<String, Value>) -> Params {
        let mut values = self.values.clone();
        for (k, v) in over {
            values.insert(k.clone(), v.clone());
        }
        Params { values }
    }
}

/// What `okrd check` puts where a secret cannot be read on this machine.
pub const UNSET_SECRET_PLACEHOLDER: &str = "unset-secret-placeholder";

pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a table",
    }
}

/// Why a secret reference could not be resolved. Never holds the secret.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SecretError {
    #[error("`{path}`: environment variable {var} is not set")]
    MissingEnv { path: String, var: String },
    #[error("`{path}`: cannot read secret file {file}: {cause}")]
    File {
        path: String,
        file: String,
        cause: String,
    },
}

impl SecretError {
    /// The param path of the reference, e.g. `params.headers.Authorization`.
    pub fn path(&self) -> &str {
        match self {
            SecretError::MissingEnv { path, .. } | SecretError::File { path, .. } => path,
        }
    }
}

/// Is this value a secret reference: a table with exactly one key, `env` or `file`, holding a string?
pub fn secret_ref(v: &Value) -> Option<(&str, &str)> {
    let Value::Object(m) = v else { return None };
    if m.len() != 1 {
        return None;
    }
    let (k, v) = m.iter().next()?;
    match (k.as_str(), v) {
        ("env" | "file", Value::String(s)) => Some((k.as_str(), s.as_str())),
        _ => None,
    }
}

/// Where secret references are read from.
pub trait SecretSource {
    fn env(&self, name: &str) -> Option<String>;
    fn file(&self, path: &str) -> std::io::Result<String>;
}

/// The process environment and the file system.
pub struct SystemSecrets;

impl SecretSource for SystemSecrets {
    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn file(&self, path: &str) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
}

/// Resolve `{ env = "NAME" }` and `{ file = "PATH" }` anywhere in `raw`
/// (also inside tables such as `headers`), registering each secret with the
/// redactor. Reports every unresolvable reference.
pub fn resolve_secrets(
    raw: &Map<String, Value>,
    prefix: &str,
    secrets: &dyn SecretSource,
    redactor: &mut Redactor,
) -> Result<Params, Vec<SecretError>> {
    let mut errors = Vec::new();
    let mut out = Map::new();
    for (k, v) in raw {
        let path = format!("{prefix}{k}");
        out.insert(
            k.clone(),
            resolve_value(v, &path, secrets, redactor, &mut errors),
        );
    }
    if errors.is_empty() {
        Ok(Params::new(out))
    } else {
        Err(errors)
    }
}

fn resolve_value(
    v: &Value,
    path: &str,
    secrets: &dyn SecretSource,
    redactor: &mut Redactor,
    errors: &mut Vec<SecretError>,
) -> Value {
    if let Some((kind, name)) = secret_ref(v) {
        let resolved = if kind == "env" {
            secrets.env(name).ok_or_else(|| SecretError::MissingEnv {
                path: path.to_string(),
                var: name.to_string(),
            })
        } else {
            secrets
                .file(name)
                // A trailing newline in a secret file is an editor's, not the secret's.
                .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
                .map_err(|e| SecretError::File {
                    path: path.to_string(),
                    file: name.to_string(),
                    cause: e.to_string(),
                })
        };
        return match resolved {
            Ok(secret) => {
                redactor.add(&secret);
                Value::String(secret)
            }
            Err(e) => {
                errors.push(e);
                Value::Null
            }
        };
    }
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let p = format!("{path}.{k}");
                    (k.clone(), resolve_value(v, &p, secrets, redactor, errors))
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .enumerate()
                .map(|(i, v)| {
                    let p = format!("{path}[{i}]");
                    resolve_value(v, &p, secrets, redactor, errors)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Two env vars; files from the real file system.
    struct TestSecrets;

    impl SecretSource for TestSecrets {
        fn env(&self, name: &str) -> Option<String> {
            match name {
                "API_KEY" => Some("s3cr3t-key/with+chars".into()),
                "TOKEN" => Some("tok-123456".into()),
                _ => None,
            }
        }

        fn file(&self, path: &str) -> std::io::Result<String> {
            std::fs::read_to_string(path)
        }
    }

    #[test]
    fn resolves_env_secrets_at_top_level_and_inside_tables() {
        let raw = json!({
            "api_key": {"env": "API_KEY"},
            "headers": {"Authorization": {"env": "TOKEN"}, "Accept": "application/json"},
            "site_id": "acme.example"
        });
        let mut r = Redactor::default();
        let p = resolve_secrets(raw.as_object().unwrap(), "", &TestSecrets, &mut r).unwrap();
        assert_eq!(p.str("api_key"), Some("s3cr3t-key/with+chars"));
        assert_eq!(
            p.table("headers").unwrap().unwrap()["Authorization"],
            "tok-123456"
        );
        assert_eq!(p.str("site_id"), Some("acme.example"));
        assert!(!format!("{p:?}").contains("s3cr3t"));
    }

    #[test]
    fn reports_every_missing_secret_with_its_path() {
        let raw = json!({"a": {"env": "NOPE1"}, "h": {"x": {"env": "NOPE2"}}});
        let mut r = Redactor::default();
        let errs = resolve_secrets(
            raw.as_object().unwrap(),
            "sources.web.params.",
            &TestSecrets,
            &mut r,
        )
        .unwrap_err();
        let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert!(msgs[0].contains("sources.web.params.a") && msgs[0].contains("NOPE1"));
        assert!(msgs[1].contains("sources.web.params.h.x"));
    }

    #[test]
    fn reads_file_secrets_without_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "from-file-secret\n").unwrap();
        let raw = json!({"k": {"file": path.to_str().unwrap()}});
        let mut r = Redactor::default();
        let p = resolve_secrets(raw.as_object().unwrap(), "", &TestSecrets, &mut r).unwrap();
        assert_eq!(p.str("k"), Some("from-file-secret"));
        assert_eq!(r.redact("x from-file-secret y"), "x *** y");
    }

    #[test]
    fn a_table_with_other_keys_is_not_a_secret() {
        assert!(secret_ref(&json!({"env": "X", "other": 1})).is_none());
        assert!(secret_ref(&json!({"env": 3})).is_none());
        assert_eq!(secret_ref(&json!({"file": "/p"})), Some(("file", "/p")));
    }

    #[test]
    fn kr_params_override_source_params() {
        let base = Params::new(
            json!({"url": "a", "value": "$.x"})
                .as_object()
                .unwrap()
                .clone(),
        );
        let m = base.merged_with(json!({"value": "$.y"}).as_object().unwrap());
        assert_eq!(m.str("url"), Some("a"));
        assert_eq!(m.str("value"), Some("$.y"));
    }
}
