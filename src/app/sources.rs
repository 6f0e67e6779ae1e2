//! From config to runtime: `[[sources]]` with their connectors and resolved
//! secrets, and the approved KRs bound to them with their schedules.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::Settings;
use crate::okr::file::LoadedOkrs;
use crate::okr::{EntityKind, OkrSet, WorkflowState};
use crate::pipeline::{BoundKr, SourceRuntime};
use crate::scheduler::Binding;
use crate::scheduler::cron::{Schedule, parse_timezone};
use crate::sources::declarative::Catalog;
use crate::sources::params::{SecretSource, SystemSecrets, resolve_secrets, secret_ref};
use crate::sources::{Redactor, registry};

/// Configured sources by name.
pub type Sources = HashMap<String, Arc<SourceRuntime>>;

/// Every source with the redactor of their secrets, or every problem.
pub type BuiltSources = Result<(Sources, Redactor), Vec<String>>;

/// Build every configured source, reporting every problem (unknown connector,
/// missing secret, bad schedule). The daemon reads secrets from `SystemSecrets`.
pub fn build_sources(settings: &Settings, secrets: &dyn SecretSource) -> BuiltSources {
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
    let catalog = match Catalog::load(&[]) {
        Ok(c) => c,
        Err(errs) => {
            problems.extend(errs);
            Catalog::default()
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
                schedule: s.schedule.clone(),
            }),
        );
    }
    if problems.is_empty() {
        Ok((out, redactor))
    } else {
        Err(problems)
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
        let Some(source) = sources.get(&binding.source) else {
            problems.push(problem(
                &kr.id,
                format!("unknown source `{}`", binding.source),
            ));
            continue;
        };
        let merged = source.params.merged_with(&binding.params);
        if let Err(e) = source.connector.check_params(&merged) {
            problems.push(problem(&kr.id, format!("source `{}`: {e}", source.name)));
            continue;
        }
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

const PLACEHOLDER: &str = "unset-secret-placeholder";

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
