//! `okrd source test NAME [--kr ID]`: one fetch now, printed; nothing written.

use std::process::ExitCode;
use std::time::Instant;

use chrono::Utc;

use crate::app;
use crate::binding::{Binding, fetch_value_traced, params_for, template_context};
use crate::config::Settings;
use crate::connectors::Trace;
use crate::okr::{KrKind, OkrSet, Period};
use crate::reload;

pub async fn run(settings: Settings, name: &str, kr: Option<&str>) -> ExitCode {
    let Some((sources, redactor)) = super::sources::built_or_report(&settings) else {
        return ExitCode::FAILURE;
    };
    let Some(source) = sources.get(name) else {
        super::sources::report_unknown(name, &sources);
        return ExitCode::FAILURE;
    };
    let binding = match kr {
        None => Binding {
            key_result: "(none)".into(),
            kind: KrKind::Increase,
            source: name.to_string(),
            params: Default::default(),
            period: Period::quarter_of(Utc::now().date_naive()),
            schedule: String::new(),
            timezone: timezone(&settings),
            guard: Default::default(),
        },
        Some(id) => match find_binding(&settings, id).await {
            Ok(b) if b.source == name => Binding {
                timezone: timezone(&settings),
                ..b
            },
            Ok(b) => {
                eprintln!(
                    "key result `{id}` is bound to source `{}`, not `{name}`",
                    b.source
                );
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let now = Utc::now();
    println!(
        "source:    {} (connector {})",
        source.name, source.connector_name
    );
    println!("key result: {}", binding.key_result);
    match params_for(
        source,
        &binding,
        &redactor,
        &template_context(&binding, now),
    ) {
        Ok(p) => {
            let shown = shown_params(&serde_json::Value::Object(p.as_map().clone()), &redactor);
            println!("params:    {}", redactor.redact(&shown.to_string()));
        }
        Err(e) => {
            println!("failed:    {} ({})", e.message, e.reason);
            return ExitCode::FAILURE;
        }
    }
    if let Err(e) = source
        .connector
        .check_params(&source.params.merged_with(&binding.params))
    {
        println!("failed:    {e}");
        return ExitCode::FAILURE;
    }
    let started = Instant::now();
    let trace = Trace::default();
    let result = fetch_value_traced(source, &binding, &redactor, now, Some(&trace)).await;
    let took = started.elapsed();
    for line in trace.lines() {
        println!("{line}");
    }
    match result {
        Ok(v) => {
            println!("value:     {v}");
            println!("took:      {took:.2?}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("failed:    {} (reason {})", e.message, e.reason);
            if let Some(r) = e.retry_after {
                println!("retry after: {r:?}");
            }
            println!("took:      {took:.2?}");
            ExitCode::FAILURE
        }
    }
}

/// Params as printed: secrets replaced by `***` leaf by leaf (before any
/// JSON escaping could hide them from the redactor), URL passwords masked.
fn shown_params(
    v: &serde_json::Value,
    redactor: &crate::connectors::Redactor,
) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) if redactor.is_secret(s) => Value::String("***".into()),
        Value::String(s) if s.contains("://") => Value::String(crate::store::redact_url(s)),
        Value::Array(a) => Value::Array(a.iter().map(|v| shown_params(v, redactor)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), shown_params(v, redactor)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The KR's binding from the config's OKR files, else from the database.
async fn find_binding(settings: &Settings, id: &str) -> Result<Binding, String> {
    let set = match reload::load_okr_files(settings) {
        Ok(Some(l)) if l.set.key_results.iter().any(|k| k.id == id) => l.set,
        _ => {
            let store = app::open_store(settings).await.map_err(|e| e.to_string())?;
            store.load_okrs().await.map_err(|e| e.to_string())?
        }
    };
    binding_of(&set, id)
}

fn binding_of(set: &OkrSet, id: &str) -> Result<Binding, String> {
    let kr = set
        .key_results
        .iter()
        .find(|k| k.id == id)
        .ok_or_else(|| format!("no key result `{id}` in the OKR files or the database"))?;
    let b = kr
        .source
        .as_ref()
        .ok_or_else(|| format!("key result `{id}` has no source"))?;
    let period = set
        .objectives
        .iter()
        .find(|o| o.id == kr.objective)
        .and_then(|o| set.periods.iter().find(|p| p.id == o.period))
        .cloned()
        .unwrap_or_else(|| Period::quarter_of(Utc::now().date_naive()));
    Ok(Binding {
        key_result: kr.id.clone(),
        kind: kr.kind,
        source: b.source.clone(),
        params: b.params.clone(),
        period,
        schedule: b.schedule.clone().unwrap_or_default(),
        timezone: chrono_tz::UTC,
        guard: Default::default(),
    })
}

fn timezone(settings: &Settings) -> chrono_tz::Tz {
    crate::scheduler::parse_timezone(&settings.scheduler.timezone).unwrap_or(chrono_tz::UTC)
}
