//! From config to runtime: `[[sources]]` with their connectors and resolved
//! secrets, and the approved KRs bound to them with their schedules.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::Settings;
use crate::okr::file::LoadedOkrs;
use crate::okr::{EntityKind, OkrSet, SourceBinding, WorkflowState};
use crate::pipeline::{BoundKr, SourceRuntime};
use crate::scheduler::Binding;
use crate::scheduler::cron::{Schedule, parse_timezone};
use crate::sources::declarative::Catalog;
use crate::sources::gate::RateLimit;
use crate::sources::http::{HttpClient, HttpPolicy, MAX_RETRIES, SourcePolicy};
use crate::sources::params::{SecretSource, SystemSecrets, resolve_secrets, secret_ref};
use crate::sources::{Connector, Redactor, registry};

/// Configured sources by name.
pub type Sources = HashMap<String, Arc<SourceRuntime>>;

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
        out.insert(
            s.name.clone(),
            Arc::new(SourceRuntime {
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
                }),
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
fn effective_rate_limit(
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

/// A KR that cannot be bound to its source.
#[derive(Debug, Clone, PartialEq)]
pub struct BindingProblem {
    pub key_result: String,
    pub message: String,
}

impl std::fmt::Display for BindingProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "key result `{}`: {}", self.key_result, self.message)
    }
}

/// The approved KRs that can be fetched, with their schedules, and the ones
/// that cannot (unknown source, bad params, bad schedule).
#[derive(Debug, Default)]
pub struct Bindings {
    pub bound: Vec<BoundKr>,
    pub schedule: Vec<Binding>,
    pub problems: Vec<BindingProblem>,
}

/// Bind the approved KRs with a source. KRs whose period ended before `now`
/// are left out (their values are final) unless `now` is `None`.
pub fn bindings(
    set: &OkrSet,
    sources: &HashMap<String, Arc<SourceRuntime>>,
    settings: &Settings,
    now: Option<DateTime<Utc>>,
) -> Bindings {
    let mut problems = Vec::new();
    let problem = |kr: &str, message: String| BindingProblem {
        key_result: kr.to_string(),
        message,
    };
    let tz = parse_timezone(&settings.scheduler.timezone).unwrap_or(chrono_tz::UTC);
    let objectives: HashMap<&str, &str> = set
        .objectives
        .iter()
        .map(|o| (o.id.as_str(), o.period.as_str()))
        .collect();
    let periods: HashMap<&str, _> = set.periods.iter().map(|p| (p.id.as_str(), p)).collect();
    let mut bound = Vec::new();
    let mut schedule_cache: HashMap<String, Arc<Schedule>> = HashMap::new();
    let mut sched = Vec::new();
    for kr in &set.key_results {
        let Some(binding) = &kr.source else { continue };
        if kr.state != WorkflowState::Approved {
            continue;
        }
        let Some(period) = objectives
            .get(kr.objective.as_str())
            .and_then(|p| periods.get(p))
        else {
            continue;
        };
        // A finished period's values are final: stop fetching them.
        if now.is_some_and(|now| period.end_instant() <= now) {
            continue;
        }
        let source = match check_binding(binding, sources) {
            Ok(source) => source,
            Err(message) => {
                problems.push(problem(&kr.id, message));
                continue;
            }
        };
        let expr = binding
            .schedule
            .clone()
            .or_else(|| source.schedule.clone())
            .unwrap_or_else(|| settings.scheduler.default_schedule.clone());
        let schedule = match schedule_cache.get(&expr) {
            Some(s) => s.clone(),
            None => match Schedule::parse(&expr, tz) {
                Ok(s) => {
                    let s = Arc::new(s);
                    schedule_cache.insert(expr.clone(), s.clone());
                    s
                }
                Err(e) => {
                    problems.push(problem(&kr.id, format!("schedule: {e}")));
                    continue;
                }
            },
        };
        sched.push(Binding {
            id: kr.id.clone(),
            schedule,
        });
        bound.push(BoundKr {
            key_result: kr.id.clone(),
            kind: kr.kind,
            source: source.name.clone(),
            params: binding.params.clone(),
            period: (*period).clone(),
            schedule: expr,
            timezone: tz,
        });
    }
    Bindings {
        bound,
        schedule: sched,
        problems,
    }
}

/// The source a KR's binding names, if the binding may be used: the source
/// is configured, and the KR sets no param only the source's config may set
/// (what `exec` runs, where `sql` connects), no secret (it would be stored
/// with the KR and shown as plain text), and what the connector needs.
pub fn check_binding<'s>(
    binding: &SourceBinding,
    sources: &'s Sources,
) -> Result<&'s Arc<SourceRuntime>, String> {
    let Some(source) = sources.get(&binding.source) else {
        let mut known: Vec<&str> = sources.keys().map(String::as_str).collect();
        known.sort_unstable();
        let hint = match crate::okr::validate::closest(&binding.source, known.iter().copied()) {
            Some(c) => format!("; did you mean `{c}`?"),
            None if known.is_empty() => "; no [[sources]] are configured".to_string(),
            None => format!(" (configured: {})", known.join(", ")),
        };
        return Err(format!("unknown source `{}`{hint}", binding.source));
    };
    if let Some(p) = source
        .connector
        .source_only_params()
        .iter()
        .find(|p| binding.params.contains_key(**p))
    {
        return Err(format!(
            "source `{}`: param `{p}` can only be set in the source's config, not by a key result",
            source.name
        ));
    }
    if let Some(p) = source
        .connector
        .secret_params()
        .into_iter()
        .find(|p| binding.params.contains_key(p))
    {
        return Err(format!(
            "source `{}`: param `{p}` is a secret: set it in the source's config as {{ env = \"NAME\" }} or {{ file = \"PATH\" }}, not in a key result",
            source.name
        ));
    }
    let merged = source.params.merged_with(&binding.params);
    source
        .connector
        .check_params(&merged)
        .map_err(|e| format!("source `{}`: {e}", source.name))?;
    Ok(source)
}

/// Every binding problem of KRs declared in OKR files, as `file:line: message`.
pub fn file_binding_problems(
    loaded: &LoadedOkrs,
    sources: &Sources,
    settings: &Settings,
) -> Vec<String> {
    bindings(&loaded.set, sources, settings, None)
        .problems
        .iter()
        .map(
            |p| match loaded.locations.of(EntityKind::KeyResult, &p.key_result) {
                Some(at) => format!("{}:{}: {p}", at.file, at.line),
                None => p.to_string(),
            },
        )
        .collect()
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

use crate::sources::params::UNSET_SECRET_PLACEHOLDER as PLACEHOLDER;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::okr::file::parse_str;
    use crate::sources::{BoxFuture, FetchContext, FetchError, Params};

    /// A connector with a documented rate limit and a source-only param.
    struct Guarded(&'static str);

    impl Connector for Guarded {
        fn check_params(&self, _: &Params) -> Result<(), String> {
            Ok(())
        }

        fn fetch<'a>(&'a self, _: &'a FetchContext<'a>) -> BoxFuture<'a, Result<f64, FetchError>> {
            Box::pin(async { Ok(1.0) })
        }

        fn default_rate_limit(&self) -> Option<String> {
            Some(self.0.to_string())
        }

        fn source_only_params(&self) -> &'static [&'static str] {
            &["command", "args"]
        }
    }

    const OKRS: &str = r#"
[[periods]]
id = "2026-Q4"
start = "2026-10-01"
end = "2026-12-31"

[[teams]]
id = "acme"
name = "Acme"

[[objectives]]
id = "o"
title = "O"
period = "2026-Q4"
team = "acme"

[[key_results]]
id = "ok"
objective = "o"
team = "acme"
owner = "a@acme.example"
title = "Fine"
kind = "increase"
start = 0
target = 10
[key_results.source]
use = "runner"
params = { metric = "x" }

[[key_results]]
id = "sneaky"
objective = "o"
team = "acme"
owner = "a@acme.example"
title = "Sets a command"
kind = "increase"
start = 0
target = 10
[key_results.source]
use = "runner"
params = { command = "rm" }
"#;

    fn runtime(connector: Guarded) -> Sources {
        let http = shared_http_client(&Settings::default()).unwrap();
        let source = SourceRuntime {
            name: "runner".into(),
            connector_name: "guarded".into(),
            connector: Arc::new(connector),
            params: Params::default(),
            timeout: std::time::Duration::from_secs(1),
            fetch_deadline: std::time::Duration::from_secs(33),
            schedule: None,
            http: http.for_source(SourcePolicy::new("runner")),
        };
        HashMap::from([("runner".to_string(), Arc::new(source))])
    }

    #[test]
    fn a_key_result_may_not_set_a_source_only_param() {
        let (set, _, problems) = parse_str("okrs.toml", OKRS);
        assert!(problems.is_empty(), "{problems:?}");
        let b = bindings(&set, &runtime(Guarded("1/s")), &Settings::default(), None);
        let bound: Vec<&str> = b.bound.iter().map(|k| k.key_result.as_str()).collect();
        assert_eq!(bound, ["ok"]);
        assert_eq!(b.problems.len(), 1);
        assert_eq!(
            b.problems[0].to_string(),
            "key result `sneaky`: source `runner`: param `command` can only be set in the \
             source's config, not by a key result"
        );
    }

    #[test]
    fn the_source_rate_limit_wins_over_the_connector_default() {
        let limit = |own, default| effective_rate_limit(own, &Guarded(default));
        let parsed = |s| Some(RateLimit::parse(s).unwrap());
        assert_eq!(limit(None, "600/hour"), Ok(parsed("600/hour")));
        assert_eq!(limit(Some("1/s"), "600/hour"), Ok(parsed("1/second")));
        assert_eq!(limit(Some("1/s"), "broken"), Ok(parsed("1/second")));
        let (key, e) = limit(Some("lots"), "600/hour").unwrap_err();
        assert_eq!(key, ".rate_limit");
        assert!(
            e.starts_with("rate_limit: invalid rate limit `lots`"),
            "{e}"
        );
        let (key, e) = limit(None, "broken").unwrap_err();
        assert_eq!(key, ".connector");
        assert!(e.contains("set `rate_limit` on the source"), "{e}");
        assert_eq!(
            effective_rate_limit(None, &crate::sources::http_json::HttpJson),
            Ok(None)
        );
    }
}
