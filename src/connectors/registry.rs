//! Which connector a `[[sources]] connector = "…"` name stands for: a native
//! kind written in Rust (listed here), else a manifest of the catalog
//! (`connectors/<name>/`).

use std::sync::Arc;

use super::Connector;
use super::declarative::Catalog;
use super::native::exec::Exec;
use super::native::http_json::HttpJson;
use super::native::prometheus::Prometheus;
use super::native::sql::Sql;

type Factory = fn() -> Arc<dyn Connector>;

/// Every native kind and how to make it. Names are the config's spelling.
/// Each source gets its own instance (`sql` keeps the source's connections).
const NATIVE: &[(&str, Factory)] = &[
    ("http_json", || Arc::new(HttpJson)),
    ("prometheus", || Arc::new(Prometheus)),
    ("sql", || Arc::new(Sql::default())),
    ("exec", || Arc::new(Exec)),
];

/// Names of the native connector kinds, for `okrd check` messages and docs:
/// the names column of `NATIVE`, so a kind is listed in one place only.
pub const NATIVE_NAMES: &[&str] = &native_names();

const fn native_names() -> [&'static str; NATIVE.len()] {
    let mut names = [""; NATIVE.len()];
    let mut i = 0;
    while i < NATIVE.len() {
        names[i] = NATIVE[i].0;
        i += 1;
    }
    names
}

/// The native connector called `name`, if there is one.
pub fn native(name: &str) -> Option<Arc<dyn Connector>> {
    NATIVE
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, make)| make())
}

/// A new connector instance for one source: native kinds first, then the catalog.
pub fn connector(name: &str, catalog: &Catalog) -> Option<Arc<dyn Connector>> {
    native(name).or_else(|| catalog.connector(name))
}

/// Every connector name, native then catalog, for messages.
pub fn all_names(catalog: &Catalog) -> Vec<String> {
    NATIVE_NAMES
        .iter()
        .map(|n| n.to_string())
        .chain(catalog.names().map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::Params;

    #[test]
    fn names_and_table_agree() {
        let table: Vec<&str> = NATIVE.iter().map(|(n, _)| *n).collect();
        assert_eq!(table, NATIVE_NAMES);
        for name in NATIVE_NAMES {
            assert!(native(name).is_some(), "{name}");
        }
        assert!(native("plausible").is_none());
        assert!(native("HTTP_JSON").is_none());
    }

    #[test]
    fn lookups_return_the_right_kind() {
        let p = |v: serde_json::Value| super::super::Params::new(v.as_object().unwrap().clone());
        // Each kind rejects the other's minimal params, so the lookup is not swapped.
        let prom = p(serde_json::json!({"url": "http://p:9090", "query": "up"}));
        let json = p(serde_json::json!({"url": "http://x/", "value": "$.a"}));
        assert!(native("prometheus").unwrap().check_params(&prom).is_ok());
        assert!(native("prometheus").unwrap().check_params(&json).is_err());
        assert!(native("http_json").unwrap().check_params(&json).is_ok());
        assert!(native("http_json").unwrap().check_params(&prom).is_err());
        let sql = p(serde_json::json!({"url": "sqlite://a.db", "query": "SELECT 1"}));
        let exec = p(serde_json::json!({"command": "/bin/true"}));
        assert!(native("sql").unwrap().check_params(&sql).is_ok());
        assert!(native("sql").unwrap().check_params(&prom).is_err());
        assert!(native("exec").unwrap().check_params(&exec).is_ok());
        assert!(native("exec").unwrap().check_params(&sql).is_err());
    }

    #[test]
    fn source_only_params_per_kind() {
        let only = |name| native(name).unwrap().source_only_params();
        assert!(only("http_json").is_empty());
        assert!(only("prometheus").is_empty());
        assert_eq!(only("sql"), &["url"]);
        assert_eq!(only("exec"), &["command", "args", "env", "working_dir"]);
    }

    /// Where a source may send requests comes from its config alone.
    #[test]
    fn allowed_origins_come_from_the_config() {
        let catalog = crate::connectors::declarative::Catalog::embedded().unwrap();
        let of = |name, config: serde_json::Value| {
            let params = Params::new(config.as_object().unwrap().clone());
            connector(name, &catalog)
                .unwrap()
                .allowed_origins(&params)
                .map(|mut o| {
                    o.sort();
                    o
                })
        };
        let url = serde_json::json!({"url": "http://127.0.0.1:9090/x?from={{ period.start }}"});
        assert_eq!(
            of("http_json", url.clone()).unwrap(),
            ["http://127.0.0.1:9090"]
        );
        assert_eq!(of("prometheus", url).unwrap(), ["http://127.0.0.1:9090"]);
        let e = of("http_json", serde_json::json!({})).unwrap_err();
        assert!(
            e.contains("`url` must be set in the source's config"),
            "{e}"
        );
        assert_eq!(
            of("sql", serde_json::json!({})).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            of("plausible", serde_json::json!({})).unwrap(),
            ["https://plausible.io"]
        );
        let acme = serde_json::json!({"subdomain": "acme"});
        assert_eq!(of("zendesk", acme).unwrap(), ["https://acme.zendesk.com"]);
        let e = of("zendesk", serde_json::json!({})).unwrap_err();
        assert!(e.contains("base_url") && e.contains("subdomain"), "{e}");
        assert_eq!(
            of("twilio", serde_json::json!({})).unwrap(),
            ["https://api.twilio.com", "https://taskrouter.twilio.com"]
        );
        assert_eq!(
            of("google_analytics", serde_json::json!({})).unwrap(),
            [
                "https://analyticsdata.googleapis.com",
                "https://oauth2.googleapis.com"
            ]
        );
        let e = of("umami", serde_json::json!({})).unwrap_err();
        assert!(e.contains("`base_url` must be set"), "{e}");
        for name in catalog.names() {
            let c = connector(name, &catalog).unwrap();
            assert!(
                c.known_params()
                    .iter()
                    .any(|p| p == "base_url" || p == "url"),
                "{name}: no param says where it sends requests"
            );
        }
    }
}
