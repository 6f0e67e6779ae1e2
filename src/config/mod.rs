//! Settings: built-in defaults, then the TOML file, then `OKRD_SECTION__KEY`
//! environment overrides. Unknown keys are rejected with their line.
//!
//! We parse TOML with the `toml` crate directly rather than the `config`
//! crate: `config` drops source spans, and users deserve `okrd.toml:12:` in
//! errors. The env layer is small (see `env.rs`).

mod database_url;
mod env;
mod locations;
mod proxy_auth;
mod server;
mod storage;

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use crate::duration::{HumanDuration, parse_duration};
pub use database_url::DatabaseUrl;
pub use locations::ConfigLocations;
pub use proxy_auth::{Network, ProxyAuthSettings};
pub use server::{ServerSettings, StatusPageMode};
pub use storage::{MAX_COMPACTION_BATCH, MIN_RAW_RETENTION, StorageSettings};

/// The file read when neither `--config` nor `$OKRD_CONFIG` names one.
pub const DEFAULT_CONFIG_FILE: &str = "okrd.toml";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub okrs: OkrsSettings,
    pub scheduler: SchedulerSettings,
    pub http: HttpSettings,
    pub log: LogSettings,
    pub storage: StorageSettings,
    pub connectors: ConnectorsSettings,
    pub sources: Vec<SourceSettings>,
    /// Directory of the config file; relative paths in it resolve from here.
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// Where each key was written, for `file:line:` in later messages.
    #[serde(skip)]
    pub locations: ConfigLocations,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            server: ServerSettings::default(),
            database: DatabaseSettings::default(),
            okrs: OkrsSettings::default(),
            scheduler: SchedulerSettings::default(),
            http: HttpSettings::default(),
            log: LogSettings::default(),
            storage: StorageSettings::default(),
            connectors: ConnectorsSettings::default(),
            sources: Vec::new(),
            base_dir: PathBuf::from("."),
            locations: ConfigLocations::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    pub url: DatabaseUrl,
    pub max_connections: u32,
    /// How often to pick up what other processes wrote: OKRs changed by
    /// `okrd apply`, and on PostgreSQL values fetched by other replicas. `0s` turns it off.
    pub refresh_interval: HumanDuration,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            url: DatabaseUrl::new("sqlite://okrd.db"),
            max_connections: 8,
            refresh_interval: HumanDuration(std::time::Duration::from_secs(15)),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OkrsSettings {
    /// OKR files applied at startup; relative to the config file's directory.
    pub files: Vec<PathBuf>,
    pub max_krs_per_objective_per_team: usize,
    pub max_krs_per_owner_per_period: usize,
}

impl Default for OkrsSettings {
    fn default() -> Self {
        OkrsSettings {
            files: Vec::new(),
            max_krs_per_objective_per_team: 5,
            max_krs_per_owner_per_period: 5,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerSettings {
    pub default_schedule: String,
    pub timezone: String,
    pub max_concurrency: usize,
    /// Spread of start times for bindings on the same schedule.
    pub jitter: HumanDuration,
    /// First wait after a transient failure; doubles per failure up to `backoff_max`.
    pub backoff_base: HumanDuration,
    pub backoff_max: HumanDuration,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        SchedulerSettings {
            default_schedule: "*/15 * * * *".into(),
            timezone: "UTC".into(),
            max_concurrency: 16,
            jitter: HumanDuration(std::time::Duration::from_secs(5)),
            backoff_base: HumanDuration(std::time::Duration::from_secs(30)),
            backoff_max: HumanDuration(std::time::Duration::from_secs(3600)),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Responses larger than this fail with reason `too_large`.
    pub max_body_bytes: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            max_body_bytes: 10 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectorsSettings {
    /// Extra directories of connector manifests; relative to the config file's directory.
    pub dirs: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// A tracing filter such as `info` or `okrd=debug`; `RUST_LOG` wins when set.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSettings {
    pub name: String,
    pub connector: String,
    pub schedule: Option<String>,
    /// Bound of each request (one attempt).
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Bound of a whole fetch: every page, retry and wait. Default: 3 ×
    /// `timeout` + 30 s (see `SourceSettings::fetch_deadline`).
    #[serde(default)]
    pub fetch_deadline: Option<HumanDuration>,
    /// Extra attempts after a 429, 5xx, timeout or connect error (0–10).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Requests per period for the whole source, such as `"600/hour"`.
    /// Default: the connector's documented limit, if it declares one.
    #[serde(default)]
    pub rate_limit: Option<String>,
    /// Connector params; secrets as `{ env = "NAME" }` or `{ file = "PATH" }`.
    #[serde(default)]
    pub params: toml::Table,
    /// What fetched values of the source's KRs must look like to count
    /// (`[sources.guard]`); a KR's own guard wins field by field.
    #[serde(default)]
    pub guard: crate::okr::guard::Guard,
}

fn default_timeout() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(10))
}

fn default_retries() -> u32 {
    crate::connectors::http::DEFAULT_RETRIES
}

impl SourceSettings {
    /// The written `fetch_deadline`, else 3 × `timeout` + 30 s.
    pub fn fetch_deadline(&self) -> std::time::Duration {
        self.fetch_deadline.map_or_else(
            || crate::connectors::http::default_fetch_deadline(self.timeout.0),
            |d| d.0,
        )
    }

    /// Params as JSON (TOML dates become strings), secrets still unresolved.
    pub fn params_json(&self) -> serde_json::Map<String, serde_json::Value> {
        self.params
            .iter()
            .map(|(k, v)| (k.clone(), toml_to_json(v)))
            .collect()
    }
}

pub fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        toml::Value::String(s) => J::String(s.clone()),
        toml::Value::Integer(i) => J::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(a) => J::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => J::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

/// Config that cannot be used; every problem, one per line.
#[derive(Debug, thiserror::Error)]
#[error("{}", .problems.join("\n"))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl ConfigError {
    fn one(msg: String) -> ConfigError {
        ConfigError {
            problems: vec![msg],
        }
    }
}

/// `--config`, else `$OKRD_CONFIG`, else `okrd.toml` if it exists, else none (defaults).
/// `explicit` is what the command line gave (clap already folds in `$OKRD_CONFIG`).
pub fn config_path(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    let default = Path::new(DEFAULT_CONFIG_FILE);
    default.exists().then(|| default.to_path_buf())
}

/// Load settings from `path` (or defaults when `None`) and the process environment.
pub fn load(path: Option<&Path>) -> Result<Settings, ConfigError> {
    let vars: Vec<(String, String)> = std::env::vars().collect();
    load_with_env(path, &vars)
}

/// `load` with an explicit environment, for tests.
pub fn load_with_env(
    path: Option<&Path>,
    vars: &[(String, String)],
) -> Result<Settings, ConfigError> {
    let (text, name, base_dir) = match path {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| {
                ConfigError::one(format!("{}: cannot read config file: {e}", p.display()))
            })?;
            let base = p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
            (text, p.display().to_string(), base)
        }
        None => (String::new(), "<defaults>".to_string(), PathBuf::from(".")),
    };
    let mut settings = parse_with_env(&text, &name, vars)?;
    settings.base_dir = base_dir;
    if path.is_some() {
        settings.locations = ConfigLocations::from_text(&name, &text);
    }
    Ok(settings)
}

/// Parse config text, then apply env overrides. The file is first checked on
/// its own so its errors carry its line numbers.
pub fn parse_with_env(
    text: &str,
    name: &str,
    vars: &[(String, String)],
) -> Result<Settings, ConfigError> {
    let file_only: Settings =
        toml::from_str(text).map_err(|e| ConfigError::one(toml_error(name, text, &e)))?;
    let overrides = env::overrides(vars).map_err(|problems| ConfigError { problems })?;
    if overrides.is_empty() {
        return Ok(file_only);
    }
    let mut table: toml::Table =
        toml::from_str(text).map_err(|e| ConfigError::one(toml_error(name, text, &e)))?;
    let mut names = Vec::new();
    for o in &overrides {
        env::apply(&mut table, o);
        names.push(o.var.clone());
    }
    Settings::deserialize(toml::Value::Table(table)).map_err(|e| {
        ConfigError::one(format!(
            "environment overrides ({}): {}",
            names.join(", "),
            e.message()
        ))
    })
}

/// `file:line: message` from a TOML error.
pub fn toml_error(name: &str, text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => format!(
            "{name}:{}: {}",
            line_of(text, span.start),
            e.message().trim()
        ),
        None => format!("{name}: {}", e.message().trim()),
    }
}

/// 1-based line number of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

impl Settings {
    /// `okrs.files` resolved against the config file's directory.
    pub fn okr_files(&self) -> Vec<PathBuf> {
        self.okrs.files.iter().map(|f| self.resolve(f)).collect()
    }

    /// `connectors.dirs` resolved against the config file's directory.
    pub fn connector_dirs(&self) -> Vec<PathBuf> {
        self.connectors
            .dirs
            .iter()
            .map(|d| self.resolve(d))
            .collect()
    }

    fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() || self.base_dir == Path::new(".") {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }

    /// `file:line: ` of a config key path such as `sources[2].schedule`.
    pub fn at(&self, path: &str) -> String {
        self.locations.prefix(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_without_a_file() {
        let s = parse_with_env("", "<defaults>", &[]).unwrap();
        assert_eq!(s.server.listen.to_string(), "127.0.0.1:9785");
        assert_eq!(s.database.url.expose(), "sqlite://okrd.db");
        assert_eq!(s.scheduler.default_schedule, "*/15 * * * *");
        assert_eq!(s.database.max_connections, 8);
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let text = "[server]\nlisten = \"127.0.0.1:1\"\nlisten_adress = 3\n";
        let err = parse_with_env(text, "okrd.toml", &[]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("okrd.toml:3:"), "{msg}");
        assert!(msg.contains("listen_adress"), "{msg}");
    }

    #[test]
    fn unknown_section_is_rejected() {
        let err = parse_with_env("[sever]\nlisten='x'\n", "c.toml", &[]).unwrap_err();
        assert!(err.to_string().contains("sever"), "{err}");
    }

    #[test]
    fn env_overrides_file_values() {
        let text = "[server]\nlisten = \"127.0.0.1:1000\"\n[scheduler]\nmax_concurrency = 2\n";
        let vars = vec![
            (
                "OKRD_SERVER__LISTEN".to_string(),
                "0.0.0.0:9000".to_string(),
            ),
            (
                "OKRD_SCHEDULER__MAX_CONCURRENCY".to_string(),
                "7".to_string(),
            ),
            (
                "OKRD_DATABASE__URL".to_string(),
                "postgres://u:pw@h/d".to_string(),
            ),
            ("OKRD_CONFIG".to_string(), "ignored.toml".to_string()),
            ("UNRELATED__X".to_string(), "1".to_string()),
        ];
        let s = parse_with_env(text, "c.toml", &vars).unwrap();
        assert_eq!(s.server.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(s.scheduler.max_concurrency, 7);
        assert_eq!(s.database.url.expose(), "postgres://u:pw@h/d");
    }

    #[test]
    fn storage_knobs_can_be_set_from_the_environment() {
        let vars = vec![
            ("OKRD_STORAGE__HEARTBEAT".to_string(), "0s".to_string()),
            (
                "OKRD_STORAGE__COMPACTION_BATCH".to_string(),
                "20".to_string(),
            ),
        ];
        let s = parse_with_env("[storage]\nheartbeat = \"2h\"\n", "c.toml", &vars).unwrap();
        assert!(s.storage.heartbeat.0.is_zero());
        assert_eq!(s.storage.compaction_batch, 20);
        let vars = vec![("OKRD_STORAGE__RAW_RETENTION".to_string(), "1d".to_string())];
        let err = parse_with_env("", "c.toml", &vars).unwrap_err().to_string();
        assert!(err.contains("at least 2d"), "{err}");
    }

    #[test]
    fn unknown_env_override_is_named() {
        let vars = vec![("OKRD_SERVER__LISTN".to_string(), "x".to_string())];
        let err = parse_with_env("", "c.toml", &vars).unwrap_err().to_string();
        assert!(err.contains("OKRD_SERVER__LISTN"), "{err}");
    }

    #[test]
    fn sources_with_secret_refs_in_nested_tables() {
        let text = r#"
[[sources]]
name = "web"
connector = "http_json"
timeout = "3s"
[sources.params]
url = "http://127.0.0.1:1/x"
headers = { Authorization = { env = "TOKEN" } }
"#;
        let s = parse_with_env(text, "c.toml", &[]).unwrap();
        let src = &s.sources[0];
        assert_eq!(src.timeout.0, std::time::Duration::from_secs(3));
        let p = src.params_json();
        assert_eq!(p["headers"]["Authorization"]["env"], "TOKEN");
    }

    #[test]
    fn debug_of_settings_hides_the_database_password() {
        let vars = vec![(
            "OKRD_DATABASE__URL".to_string(),
            "postgres://u:topsecret@h/d".to_string(),
        )];
        let s = parse_with_env("", "c.toml", &vars).unwrap();
        assert!(!format!("{s:?}").contains("topsecret"));
    }

    #[test]
    fn source_policy_keys_and_their_defaults() {
        let text = r#"
[[sources]]
name = "a"
connector = "http_json"
timeout = "5s"
retries = 4
rate_limit = "600/hour"
fetch_deadline = "1m"

[[sources]]
name = "b"
connector = "http_json"
timeout = "4s"
"#;
        let s = parse_with_env(text, "c.toml", &[]).unwrap();
        let (a, b) = (&s.sources[0], &s.sources[1]);
        assert_eq!(a.retries, 4);
        assert_eq!(a.rate_limit.as_deref(), Some("600/hour"));
        assert_eq!(a.fetch_deadline(), std::time::Duration::from_secs(60));
        assert_eq!(b.retries, 2);
        assert_eq!(b.rate_limit, None);
        // 3 × timeout + 30 s.
        assert_eq!(b.fetch_deadline(), std::time::Duration::from_secs(42));
    }

    #[test]
    fn connector_dirs_from_the_file_and_the_environment() {
        let s = parse_with_env("", "c.toml", &[]).unwrap();
        assert!(s.connectors.dirs.is_empty());
        let s = parse_with_env("[connectors]\ndirs = [\"extra\"]\n", "c.toml", &[]).unwrap();
        assert_eq!(s.connectors.dirs, [PathBuf::from("extra")]);
        let vars = vec![(
            "OKRD_CONNECTORS__DIRS".to_string(),
            r#"["/opt/okrd/connectors", "more"]"#.to_string(),
        )];
        let mut s = parse_with_env("", "c.toml", &vars).unwrap();
        s.base_dir = PathBuf::from("/etc/okrd");
        assert_eq!(
            s.connector_dirs(),
            [
                PathBuf::from("/opt/okrd/connectors"),
                PathBuf::from("/etc/okrd/more")
            ]
        );
        let err = parse_with_env("[connectors]\ndir = []\n", "c.toml", &[]).unwrap_err();
        assert!(err.to_string().starts_with("c.toml:2:"), "{err}");
    }
}
