//! The checks run when a manifest is loaded, beyond its syntax: names,
//! required fields per kind, templates, expressions and JSONPaths, so a
//! broken manifest fails at startup with every problem listed.

use serde_json::Value;
use serde_json_path::JsonPath;

use super::{AuthKind, AuthSpec, ExtractSpec, Manifest, PageKind, PaginationSpec, RequestSpec};
use crate::connectors::Reason;
use crate::connectors::declarative::render;
use crate::connectors::value::Reduce;

impl Manifest {
    /// Every problem a loaded manifest has beyond its syntax.
    pub(super) fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !is_name(&self.name) {
            p.push(format!(
                "name `{}` must be lowercase letters, digits and `_`",
                self.name
            ));
        }
        if let Some(r) = &self.rate_limit
            && let Err(e) = crate::connectors::http::RateLimit::parse(r)
        {
            p.push(format!("rate_limit: {e}"));
        }
        if self.params.contains_key("params") {
            p.push(
                "a param cannot be named `params`: templates reach params as `params.<name>`"
                    .into(),
            );
        }
        for (name, spec) in &self.params {
            if spec.required && spec.default.is_some() {
                p.push(format!("param `{name}`: required with a default"));
            }
            if let Some(d) = &spec.default {
                check_templates_in(d, &format!("params.{name}.default"), &mut p);
            }
        }
        for group in &self.exactly_one_of {
            for name in group {
                if !self.params.contains_key(name) {
                    p.push(format!("exactly_one_of names undeclared param `{name}`"));
                }
            }
        }
        for (i, a) in self.auth.iter().enumerate() {
            a.problems(&format!("auth[{i}]"), &mut p);
        }
        if self.request.is_none() && self.variants.is_empty() {
            p.push("needs a [request] or [[variants]] with a request".into());
        }
        if let Some(r) = &self.request {
            r.problems("request", &mut p);
        }
        if let Some(pg) = &self.pagination {
            pg.problems("pagination", &mut p);
        }
        if let Some(e) = &self.extract {
            e.problems("extract", &mut p);
        }
        for (i, v) in self.variants.iter().enumerate() {
            let at = format!("variants[{i}]");
            check_expression(&v.when, &format!("{at}.when"), &mut p);
            if let Some(r) = &v.request {
                r.problems(&format!("{at}.request"), &mut p);
            }
            if let Some(pg) = &v.pagination {
                pg.problems(&format!("{at}.pagination"), &mut p);
            }
            if let Some(e) = &v.extract {
                e.problems(&format!("{at}.extract"), &mut p);
            }
            if v.request.is_none() && v.pagination.is_none() && v.extract.is_none() {
                p.push(format!("{at}: sets none of request, pagination, extract"));
            }
        }
        let has_extract =
            self.extract.is_some() || self.variants.iter().any(|v| v.extract.is_some());
        if !has_extract {
            p.push("needs an [extract]".into());
        }
        p
    }
}

impl AuthSpec {
    fn problems(&self, at: &str, p: &mut Vec<String>) {
        if let Some(w) = &self.when {
            check_expression(w, &format!("{at}.when"), p);
        }
        let mut need = |field: &str, v: &Option<String>| match v {
            None => p.push(format!("{at}: kind {:?} needs `{field}`", self.kind)),
            Some(t) => check_template(t, &format!("{at}.{field}"), p),
        };
        match self.kind {
            AuthKind::Bearer => need("token", &self.token),
            AuthKind::Basic => need("username", &self.username),
            AuthKind::Header | AuthKind::Query | AuthKind::Form => {
                need("name", &self.name);
                need("value", &self.value);
            }
            AuthKind::Login => {
                need("token", &self.token);
                match &self.request {
                    None => p.push(format!("{at}: kind login needs `request`")),
                    Some(r) => r.problems(&format!("{at}.request"), p),
                }
                if let Some(s) = &self.send_as
                    && !(s == "bearer" || s.starts_with("header:") || s.starts_with("query:"))
                {
                    p.push(format!(
                        "{at}.send_as must be bearer, header:<Name> or query:<name>, not `{s}`"
                    ));
                }
                if let Some(ttl) = &self.ttl
                    && crate::duration::parse_duration(ttl).is_err()
                {
                    p.push(format!("{at}.ttl `{ttl}` is not a duration like 1h"));
                }
            }
            AuthKind::GoogleServiceAccount => {
                need("credentials", &self.credentials);
                if self.scopes.is_empty() {
                    p.push(format!("{at}: kind google_service_account needs `scopes`"));
                }
            }
        }
    }
}

impl RequestSpec {
    fn problems(&self, at: &str, p: &mut Vec<String>) {
        check_template(&self.url, &format!("{at}.url"), p);
        if let Some(m) = &self.method
            && !matches!(m.to_ascii_uppercase().as_str(), "GET" | "POST" | "PUT")
        {
            p.push(format!("{at}.method must be GET, POST or PUT, not `{m}`"));
        }
        for (name, table) in [
            ("query", &self.query),
            ("headers", &self.headers),
            ("form", &self.form),
        ] {
            for (k, v) in table {
                check_templates_in(v, &format!("{at}.{name}.{k}"), p);
            }
        }
        if let Some(j) = &self.json {
            check_templates_in(j, &format!("{at}.json"), p);
        }
        if self.json.is_some() && !self.form.is_empty() {
            p.push(format!("{at}: set `json` or `form`, not both"));
        }
    }
}

impl PaginationSpec {
    fn problems(&self, at: &str, p: &mut Vec<String>) {
        let mut need = |field: &str, present: bool| {
            if !present {
                p.push(format!("{at}: kind {:?} needs `{field}`", self.kind));
            }
        };
        match self.kind {
            PageKind::NextUrl => need("next", self.next.is_some()),
            PageKind::LinkHeader => {}
            PageKind::Page => {
                need("param", self.param.is_some());
                need(
                    "items, total or total_pages",
                    self.items.is_some() || self.total.is_some() || self.total_pages.is_some(),
                );
                // Counting toward `total` needs to know how many items came.
                if self.total.is_some() {
                    need(
                        "items or page_size (to count toward total)",
                        self.items.is_some() || self.page_size.is_some(),
                    );
                }
            }
            PageKind::Offset => {
                need("param", self.param.is_some());
                // The next offset is the items seen so far.
                need(
                    "items or page_size",
                    self.items.is_some() || self.page_size.is_some(),
                );
            }
            PageKind::Cursor => {
                need("param", self.param.is_some());
                need("cursor", self.cursor.is_some());
            }
        }
        for (field, path) in [
            ("next", &self.next),
            ("total", &self.total),
            ("total_pages", &self.total_pages),
            ("cursor", &self.cursor),
            ("items", &self.items),
        ] {
            if let Some(path) = path {
                check_path(path, &format!("{at}.{field}"), p);
            }
        }
        if self.max_pages == Some(0) {
            p.push(format!("{at}.max_pages must be at least 1"));
        }
    }
}

impl ExtractSpec {
    fn problems(&self, at: &str, p: &mut Vec<String>) {
        match (&self.value, &self.nps) {
            (Some(v), None) => check_path(v, &format!("{at}.value"), p),
            (None, Some(n)) => check_path(n, &format!("{at}.nps"), p),
            _ => p.push(format!("{at}: set exactly one of `value` and `nps`")),
        }
        if let Some(r) = &self.reduce
            && Reduce::parse(r).is_none()
        {
            p.push(format!(
                "{at}.reduce must be sum, mean, min, max, count or last, not `{r}`"
            ));
        }
        if let Some(e) = &self.error {
            check_path(&e.path, &format!("{at}.error.path"), p);
            if let Some(m) = &e.message {
                check_path(m, &format!("{at}.error.message"), p);
            }
            if let Some(r) = &e.reason
                && Reason::parse(r).is_none()
            {
                p.push(format!("{at}.error.reason `{r}` is not a failure reason"));
            }
        }
        if let Some(c) = &self.no_data {
            check_path(&c.path, &format!("{at}.no_data.path"), p);
        }
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn check_template(t: &str, at: &str, p: &mut Vec<String>) {
    if let Err(e) = render::check_syntax(t) {
        p.push(format!("{at}: {e}"));
    }
}

fn check_templates_in(v: &Value, at: &str, p: &mut Vec<String>) {
    match v {
        Value::String(s) => check_template(s, at, p),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| check_templates_in(v, &format!("{at}[{i}]"), p)),
        Value::Object(m) => m
            .iter()
            .for_each(|(k, v)| check_templates_in(v, &format!("{at}.{k}"), p)),
        _ => {}
    }
}

fn check_expression(e: &str, at: &str, p: &mut Vec<String>) {
    if let Err(err) = render::check_expression(e) {
        p.push(format!("{at}: {err}"));
    }
}

/// A JSONPath is checked now unless it is a template (checked once rendered).
fn check_path(path: &str, at: &str, p: &mut Vec<String>) {
    if render::is_template(path) {
        check_template(path, at, p);
    } else if let Err(e) = JsonPath::parse(path) {
        p.push(format!("{at}: `{path}` is not a JSONPath (RFC 9535): {e}"));
    }
}
