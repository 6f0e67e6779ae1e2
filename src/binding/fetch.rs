//! One value for a binding, now: the KR's params merged over its source's
//! and templated, the connector run with the source's client within its
//! `fetch_deadline`, the value checked. Writes nothing.

use chrono::{DateTime, Utc};

use super::{Binding, ConfiguredSource};
use crate::connectors::template::{ParamError, TemplateContext, render_params};
use crate::connectors::{FetchContext, FetchError, Params, Reason, Redactor, Trace};
use crate::okr::value::check_value;

/// Fetch one value for a KR from its source now: merge and template params,
/// run the connector with the source's client within its `fetch_deadline`,
/// validate. Writes nothing (`okrd source test` uses it too).
pub async fn fetch_value(
    source: &ConfiguredSource,
    binding: &Binding,
    redactor: &Redactor,
    now: DateTime<Utc>,
) -> Result<f64, FetchError> {
    fetch_value_traced(source, binding, redactor, now, None).await
}

/// `fetch_value`, describing each request made into `trace` (`okrd source test`).
pub async fn fetch_value_traced(
    source: &ConfiguredSource,
    binding: &Binding,
    redactor: &Redactor,
    now: DateTime<Utc>,
    trace: Option<&Trace>,
) -> Result<f64, FetchError> {
    let template = template_context(binding, now);
    let params = params_for(source, binding, redactor, &template)?;
    let deadline = tokio::time::Instant::now() + source.fetch_deadline;
    let http = source.http.with_deadline(deadline);
    let ctx = FetchContext {
        source: &source.name,
        key_result: &binding.key_result,
        params: &params,
        http: &http,
        timeout: source.timeout,
        redactor,
        template: &template,
        trace,
    };
    // The HTTP policy keeps every request within the deadline; this also
    // bounds connectors that do other work.
    let value = match tokio::time::timeout_at(deadline, source.connector.fetch(&ctx)).await {
        Ok(r) => r?,
        Err(_) => {
            return Err(FetchError::new(
                Reason::Timeout,
                format!(
                    "no complete fetch within the source's fetch_deadline ({:?})",
                    source.fetch_deadline
                ),
            ));
        }
    };
    check_value(binding.kind, value)
        .map_err(|e| FetchError::new(Reason::InvalidValue, e.to_string()))
}

/// What templates of one fetch of `binding` can refer to.
pub fn template_context(binding: &Binding, now: DateTime<Utc>) -> TemplateContext {
    TemplateContext {
        period_id: binding.period.id.clone(),
        period_start: binding.period.start,
        period_end: binding.period.end,
        now,
        timezone: binding.timezone,
        key_result: binding.key_result.clone(),
    }
}

/// A KR's params merged over its source's (the KR's win), templates rendered.
/// A value or template too large to use fails as `invalid_value`; a template
/// that does not render, as `parse`.
pub fn params_for(
    source: &ConfiguredSource,
    binding: &Binding,
    redactor: &Redactor,
    template: &TemplateContext,
) -> Result<Params, FetchError> {
    let merged = source.params.merged_with(&binding.params);
    render_params(&merged, template, redactor).map_err(|e| {
        let reason = match e {
            ParamError::TooLarge(_) => Reason::InvalidValue,
            ParamError::Template(_) => Reason::Parse,
        };
        FetchError::new(reason, redactor.redact(&e.to_string()))
    })
}
