//! `OKRD_SECTION__KEY=value` overrides of config keys.
//!
//! Only variables with a `__` after the prefix count (`OKRD_CONFIG` names the
//! file, it is not an override). Values are read as TOML when they parse as
//! a TOML value (`7`, `true`, `["a.toml"]`), else taken as plain strings.

pub struct Override {
    pub var: String,
    pub section: String,
    pub key: String,
    pub value: toml::Value,
}

const PREFIX: &str = "OKRD_";

/// Sections and keys that env may set: the scalar and list settings, not `[[sources]]`.
const KNOWN: &[(&str, &[&str])] = &[
    (
        "server",
        &[
            "listen",
            "shutdown_grace",
            "anonymous_read",
            "status_page",
            "max_connections",
            "header_read_timeout",
            "idle_timeout",
            "request_timeout",
        ],
    ),
    ("database", &["url", "max_connections", "refresh_interval"]),
    (
        "okrs",
        &[
            "files",
            "max_krs_per_objective_per_team",
            "max_krs_per_owner_per_period",
        ],
    ),
    (
        "scheduler",
        &[
            "default_schedule",
            "timezone",
            "max_concurrency",
            "jitter",
            "backoff_base",
            "backoff_max",
        ],
    ),
    ("http", &["max_body_bytes"]),
    ("log", &["level", "format"]),
    (
        "storage",
        &[
            "heartbeat",
            "raw_retention",
            "compaction_interval",
            "compaction_batch",
        ],
    ),
    ("connectors", &["dirs"]),
];

pub fn overrides(vars: &[(String, String)]) -> Result<Vec<Override>, Vec<String>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (var, raw) in vars {
        let Some(rest) = var.strip_prefix(PREFIX) else {
            continue;
        };
        let Some((section, key)) = rest.split_once("__") else {
            continue;
        };
        let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
        let known = KNOWN
            .iter()
            .find(|(s, _)| *s == section)
            .is_some_and(|(_, keys)| keys.contains(&key.as_str()));
        if !known {
            problems.push(format!(
                "environment variable {var}: no config key `{section}.{key}` can be set from the environment"
            ));
            continue;
        }
        out.push(Override {
            var: var.clone(),
            section,
            key,
            value: parse_value(raw),
        });
    }
    if problems.is_empty() {
        out.sort_by(|a, b| a.var.cmp(&b.var));
        Ok(out)
    } else {
        Err(problems)
    }
}

fn parse_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match toml::from_str::<toml::Table>(&doc) {
        Ok(mut t) => match t.remove("v") {
            // A bare date would become a TOML datetime: keep such things as text.
            Some(toml::Value::Datetime(_)) | None => toml::Value::String(raw.to_string()),
            Some(v) => v,
        },
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

pub fn apply(table: &mut toml::Table, o: &Override) {
    let section = table
        .entry(o.section.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let toml::Value::Table(t) = section {
        t.insert(o.key.clone(), o.value.clone());
    }
}
