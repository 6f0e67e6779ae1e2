//! Building sources and binding KRs to them.

use std::collections::HashMap;
use std::sync::Arc;

use super::source::effective_rate_limit;
use super::*;
use crate::connectors::Connector;
use crate::connectors::http::RateLimit;
use crate::connectors::http::SourcePolicy;
use crate::connectors::{BoxFuture, FetchContext, FetchError, Params};
use crate::okr::file::parse_str;

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

    fn known_params(&self) -> Vec<String> {
        ["command", "args", "metric"].map(String::from).to_vec()
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
    let source = ConfiguredSource {
        name: "runner".into(),
        connector_name: "guarded".into(),
        connector: Arc::new(connector),
        params: Params::default(),
        timeout: std::time::Duration::from_secs(1),
        fetch_deadline: std::time::Duration::from_secs(33),
        schedule: None,
        http: http.for_source(SourcePolicy::new("runner")),
        guard: Default::default(),
    };
    HashMap::from([("runner".to_string(), Arc::new(source))])
}

#[test]
fn a_key_result_may_not_set_a_source_only_param() {
    let (set, _, problems) = parse_str("okrs.toml", OKRS);
    assert!(problems.is_empty(), "{problems:?}");
    let b = plan(&set, &runtime(Guarded("1/s")), &Settings::default(), None);
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
        effective_rate_limit(None, &crate::connectors::native::http_json::HttpJson),
        Ok(None)
    );
}
