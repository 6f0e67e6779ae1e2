//! From config to runtime: each `[[sources]]` entry with its connector, its
//! resolved secrets and its own HTTP client.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Settings;
use crate::connectors::declarative::Catalog;
use crate::connectors::http::RateLimit;
use crate::connectors::http::{AllowedOrigins, HttpClient, HttpPolicy, MAX_RETRIES, SourcePolicy};
use crate::connectors::params::UNSET_SECRET_PLACEHOLDER as PLACEHOLDER;
use crate::connectors::params::{SecretSource, SystemSecrets, resolve_secrets, secret_ref};
use crate::connectors::template::check_params;
use crate::connectors::{Connector, Params, Redactor, registry};
use crate::okr::guard::Guard;
use crate::scheduler::cron::{Schedule, parse_timezone};

/// A configured `[[sources]]` entry, secrets resolved.
pub struct ConfiguredSource {
    pub name: String,
    pub connector_name: String,
    pub connector: Arc<dyn Connector>,
    pub params: Params,
    /// Bound of each request.
    pub timeout: Duration,
    /// Bound of a whole fetch: pages, retries and waits.
    pub fetch_deadline: Duration,
    pub schedule: Option<String>,
    /// The source's client: the shared pool with this source's gate
    /// (`Retry-After` pause, rate limit) and retries.
    pub http: HttpClient,
    /// `[sources.guard]`: under each KR's own guard.
    pub guard: Guard,
}

/// Configured sources by name.
pub type Sources = HashMap<String, Arc<ConfiguredSource>>;

/// Every source with the redactor of their secrets, or every problem.
pub type BuiltSources = Result<(Sources, Redactor), Vec<String>>;

/// The client every source's client shares its connection pool with.
pub fn shared_http_client(settings: &Settings) -> Result<HttpClient, String> {
    HttpClient::new(HttpPolicy {
        max_body_bytes: settings.http.max_body_bytes,
        ..HttpPolicy::default()
    })
    .map_err(|e| format!("http client: {e}"))
}

/// Build every configured source, reporting every problem (unknown connector,
/// missing secret, bad schedule, bad HTTP policy). Each source gets its own
/// HTTP client (its gate and retries) over one shared connection pool. The
/// daemon reads secrets from `SystemSecrets`.
pub fn build_sources(settings: &Settings, secrets: &dyn SecretSource) -> BuiltSources {
    let http = shared_http_client(settings).map_err(|e| vec![e])?;
    let mut problems = Vec::new();
    let mut redactor = Redactor::default();
    let mut out = HashMap::new();
    let tz = parse_timezone(&settings.scheduler.timezone);
    if let Err(e) = &tz {
        let at = settings.at("scheduler.timezone");
        problems.push(format!("{at}scheduler.timezone: {e}"));
    }
    if let Ok(tz) = &tz
        && let Err(e) = Schedule::parse(&settings.scheduler.default_schedule, *tz)
    {
        let at = settings.at("scheduler.default_schedule");
        problems.push(format!("{at}scheduler.default_schedule: {e}"));
    }
    let catalog = match Catalog::load(&settings.connector_dirs()) {
        Ok(c) => c,
        Err(errs) => {
            problems.extend(errs);
            // Still name the built-in connectors right, not as unknown.
            Catalog::embedded().unwrap_or_default()
        }
    };
    for (i, s) in settings.sources.iter().enumerate() {
        let at = |key: &str| settings.at(&format!("sources[{i}]{key}"));
        let label = if s.name.is_empty() {
            format!("sources[{i}]")
        } else {
            format!("source `{}`", s.name)
        };
        if s.name.is_empty() {
            problems.push(format!("{}{label}: `name` must not be empty", at(".name")));
            continue;
        }
        if out.contains_key(&s.name) {
            problems.push(format!(
                "{}{label}: the name is used by another source",
                at(".name")
            ));
            continue;
        }
        let Some(connector) = registry::connector(&s.connector, &catalog) else {
            problems.push(format!(
                "{}{label}: unknown connector `{}` (known: {})",
                at(".connector"),
                s.connector,
                registry::all_names(&catalog).join(", ")
            ));
            continue;
        };
        let raw = s.params_json();
        for name in connector.secret_params() {
            if let Some(v) = raw.get(&name)
                && secret_ref(v).is_none()
            {
                problems.push(format!(
                    "{}{label}: param `{name}` is a secret: give it as {{ env = \"NAME\" }} or {{ file = \"PATH\" }}, not inline",
                    at(&format!(".params.{name}"))
                ));
            }
        }
        if let (Some(expr), Ok(tz)) = (&s.schedule, &tz)
            && let Err(e) = Schedule::parse(expr, *tz)
        {
            problems.push(format!("{}{label}: schedule: {e}", at(".schedule")));
        }
        if s.timeout.0.is_zero() {
            problems.push(format!(
                "{}{label}: timeout must be more than 0",
                at(".timeout")
            ));
        }
        if s.fetch_deadline.is_some_and(|d| d.0.is_zero()) {
            problems.push(format!(
                "{}{label}: fetch_deadline must be more than 0",
                at(".fetch_deadline")
            ));
        }
        if let Some(e) = s.guard.problem() {
            problems.push(format!("{}{label}: {e}", at(".guard")));
        }
        if s.retries > MAX_RETRIES {
            problems.push(format!(
                "{}{label}: retries must be between 0 and {MAX_RETRIES}, not {}",
                at(".retries"),
                s.retries
            ));
        }
        let rate_limit = effective_rate_limit(s.rate_limit.as_deref(), connector.as_ref())
            .unwrap_or_else(|(key, e)| {
                problems.push(format!("{}{label}: {e}", at(key)));
                None
            });
        let params = match resolve_secrets(&s.params_json(), "params.", secrets, &mut redactor) {
            Ok(p) => p,
            Err(errs) => {
                problems.extend(
                    errs.iter()
                        .map(|e| format!("{}{label}: {e}", at(&format!(".{}", e.path())))),
                );
                continue;
            }
        };
        if let Err(e) = super::params::known(connector.as_ref(), params.as_map().keys()) {
            problems.push(format!("{}{label}: {e}", at(".params")));
            continue;
        }
        if let Err(e) = check_params(&params, &redactor) {
            problems.push(format!("{}{label}: {e}", at(".params")));
            continue;
        }
        let origins = match connector
            .allowed_origins(&params)
            .and_then(AllowedOrigins::of)
        {
            Ok(o) => o,
            Err(e) => {
                problems.push(format!("{}{label}: {e}", at(".params")));
                continue;
            }
        };
        out.insert(
            s.name.clone(),
            Arc::new(ConfiguredSource {
                name: s.name.clone(),
                connector_name: s.connector.clone(),
                connector,
                params,
                timeout: s.timeout.0,
                fetch_deadline: s.fetch_deadline(),
                schedule: s.schedule.clone(),
                http: http.for_source(SourcePolicy {
                    source: s.name.clone(),
                    retries: s.retries.min(MAX_RETRIES),
                    rate_limit,
                    fetch_deadline: s.fetch_deadline(),
                    origins,
                }),
                guard: s.guard,
            }),
        );
    }
    if problems.is_empty() {
        Ok((out, redactor))
    } else {
        Err(problems)
    }
}

/// The rate limit a source runs under: its own `rate_limit`, else the one
/// its connector documents. An error names the config key to point at.
pub(super) fn effective_rate_limit(
    own: Option<&str>,
    connector: &dyn Connector,
) -> Result<Option<RateLimit>, (&'static str, String)> {
    match (own, connector.default_rate_limit()) {
        (Some(own), _) => RateLimit::parse(own)
            .map(Some)
            .map_err(|e| (".rate_limit", format!("rate_limit: {e}"))),
        (None, Some(default)) => RateLimit::parse(&default).map(Some).map_err(|e| {
            (
                ".connector",
                format!(
                    "the connector's default rate limit does not parse ({e}); \
                     set `rate_limit` on the source"
                ),
            )
        }),
        (None, None) => Ok(None),
    }
}

/// Sources for validating config where its secrets may not be: a secret that
/// cannot be read here becomes a placeholder, and is described in the second value.
pub fn build_sources_unchecked_secrets(settings: &Settings) -> (BuiltSources, Vec<String>) {
    let lenient = LenientSecrets::default();
    let built = build_sources(settings, &lenient);
    (built, lenient.missing.into_inner())
}

/// Secrets from the system, with a placeholder for each one that is missing.
#[derive(Default)]
struct LenientSecrets {
    missing: std::cell::RefCell<Vec<String>>,
}

impl SecretSource for LenientSecrets {
    fn env(&self, name: &str) -> Option<String> {
        SystemSecrets.env(name).or_else(|| {
            self.missing
                .borrow_mut()
                .push(format!("environment variable {name} is not set here"));
            Some(PLACEHOLDER.to_string())
        })
    }

    fn file(&self, path: &str) -> std::io::Result<String> {
        SystemSecrets.file(path).or_else(|e| {
            self.missing
                .borrow_mut()
                .push(format!("secret file {path} cannot be read here ({e})"));
            Ok(PLACEHOLDER.to_string())
        })
    }
}
