//! A KR's binding: an approved KR with a source, ready to fetch on its
//! schedule. Built from the stored (or filed) model and the configured
//! sources (`source`); fetched one value at a time (`fetch`).

mod fetch;
mod params;
mod source;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

pub use fetch::{fetch_value, fetch_value_traced, params_for, template_context};
pub use source::{
    BuiltSources, ConfiguredSource, Sources, build_sources, build_sources_unchecked_secrets,
    shared_http_client,
};

use crate::config::Settings;
use crate::connectors::Redactor;
use crate::connectors::template;
use crate::okr::file::LoadedOkrs;
use crate::okr::guard;
use crate::okr::{EntityKind, KrKind, ModelRefs, OkrSet, Period, SourceRef, WorkflowState};
use crate::scheduler::Entry;
use crate::scheduler::cron::{Schedule, parse_timezone};

/// An approved KR bound to a source.
#[derive(Debug, Clone)]
pub struct Binding {
    pub key_result: String,
    pub kind: KrKind,
    pub source: String,
    pub params: Map<String, Value>,
    pub period: Period,
    pub schedule: String,
    /// The scheduler's time zone, for `{{ today }}`.
    pub timezone: chrono_tz::Tz,
    /// What a fetched value must look like to count: the KR's guard over
    /// its source's, defaults filled in.
    pub guard: guard::Resolved,
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
pub struct BindingPlan {
    /// Shared by the pipeline and the backfill (one copy per KR).
    pub bound: Vec<Arc<Binding>>,
    pub schedule: Vec<Entry>,
    pub problems: Vec<BindingProblem>,
}

/// Bind the approved KRs with a source. KRs whose period ended before `now`
/// are left out (their values are final) unless `now` is `None`.
pub fn plan(
    set: &OkrSet,
    sources: &Sources,
    settings: &Settings,
    now: Option<DateTime<Utc>>,
) -> BindingPlan {
    plan_refs(&set.refs(), sources, settings, now)
}

/// `plan` over a borrowed model.
pub fn plan_refs(
    set: &ModelRefs,
    sources: &Sources,
    settings: &Settings,
    now: Option<DateTime<Utc>>,
) -> BindingPlan {
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
    let periods: HashMap<&str, &Period> = set.periods.iter().map(|&p| (p.id.as_str(), p)).collect();
    let mut bound = Vec::new();
    let mut schedule_cache: HashMap<String, Arc<Schedule>> = HashMap::new();
    let mut sched = Vec::new();
    for &kr in &set.key_results {
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
        sched.push(Entry {
            id: kr.id.clone(),
            schedule,
        });
        bound.push(Arc::new(Binding {
            key_result: kr.id.clone(),
            kind: kr.kind,
            source: source.name.clone(),
            params: binding.params.clone(),
            period: (*period).clone(),
            schedule: expr,
            timezone: tz,
            guard: guard::Resolved::from(kr.guard.unwrap_or_default().over(source.guard)),
        }));
    }
    BindingPlan {
        bound,
        schedule: sched,
        problems,
    }
}

/// The source a KR's binding names, if the binding may be used: the source
/// is configured, and the KR sets no param only the source's config may set
/// (what `exec` runs, where `sql` connects), no secret (it would be stored
/// with the KR and shown as plain text), no param the connector does not
/// read, no value or template too large (`template::check_params`), what
/// the connector needs, and no request to an origin the source's config
/// does not allow.
pub fn check_binding<'s>(
    binding: &SourceRef,
    sources: &'s Sources,
) -> Result<&'s Arc<ConfiguredSource>, String> {
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
    let at_source = |e: String| format!("source `{}`: {e}", source.name);
    params::known(source.connector.as_ref(), binding.params.keys()).map_err(at_source)?;
    // A KR sets no secret (refused above), so every leaf is checked.
    let own = crate::connectors::Params::new(binding.params.clone());
    template::check_params(&own, &Redactor::default()).map_err(|e| at_source(e.into()))?;
    let merged = source.params.merged_with(&binding.params);
    source.connector.check_params(&merged).map_err(at_source)?;
    params::stay_on_allowed_origins(source, &merged).map_err(at_source)?;
    Ok(source)
}

/// Every binding problem of KRs declared in OKR files, as `file:line: message`.
pub fn file_binding_problems(
    loaded: &LoadedOkrs,
    sources: &Sources,
    settings: &Settings,
) -> Vec<String> {
    plan(&loaded.set, sources, settings, None)
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
