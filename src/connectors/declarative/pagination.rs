//! One fetch, page after page: each page sent with the fetch's credential
//! and fed to the extractor, and `[pagination]` deciding the next request
//! (next URL, `Link` header, page number, offset or cursor), never to
//! another origin.

use std::sync::Arc;

use reqwest::header::LINK;
use serde_json::Value;
use serde_json_path::JsonPath;

use super::Plan;
use super::credentials::Credential;
use super::extract::Extractor;
use super::manifest::{DEFAULT_MAX_PAGES, PageKind, PaginationSpec};
use super::render::Vars;
use super::request::Built;
use crate::connectors::kept::json_path;
use crate::connectors::{FetchContext, FetchError, Reason};

/// Every page of one fetch, gathered by the extractor.
pub(super) async fn fetch_pages(
    plan: &Plan<'_>,
    vars: &Vars,
    credential: &Credential,
    ctx: &FetchContext<'_>,
) -> Result<f64, FetchError> {
    let bad = |m: String| FetchError::new(Reason::Parse, ctx.redactor.redact(&m));
    let mut req = Built::from_spec(plan.request, vars, "request").map_err(bad)?;
    let mut extractor = Extractor::new(plan.extract, vars).map_err(bad)?;
    let pager = plan
        .pagination
        .map(|p| Pager::new(p, vars))
        .transpose()
        .map_err(bad)?;
    if let Some(p) = &pager {
        p.first(&mut req);
    }
    let max_pages = plan
        .pagination
        .and_then(|p| p.max_pages)
        .unwrap_or(DEFAULT_MAX_PAGES);
    let mut seen = 0u64;
    for page in 1..=max_pages {
        // Pages are built without credentials; each one sent gets them.
        let mut sent = req.clone();
        credential.apply(&mut sent)?;
        if let Some(t) = ctx.trace {
            t.push(format!("request: {}", sent.describe(ctx.redactor)));
        }
        let resp = ctx
            .http
            .send(sent.to_reqwest(ctx.http), ctx.timeout, ctx.redactor)
            .await;
        if let Some(t) = ctx.trace {
            match &resp {
                Ok(r) => t.push(format!("response: {} ({} bytes)", r.status, r.body.len())),
                Err(e) => t.push(format!("response: failed ({})", e.reason)),
            }
        }
        let resp = resp?;
        let body = resp.json()?;
        extractor.page(&body, ctx.redactor)?;
        let Some(pager) = &pager else {
            return extractor.finish();
        };
        match pager.next(&body, &resp.headers, page, &mut seen, &req)? {
            None => return extractor.finish(),
            Some(next) => req = next,
        }
    }
    Err(FetchError::new(
        Reason::Parse,
        format!(
            "more than {max_pages} pages; refusing to report a partial value (raise max_pages or narrow the query)"
        ),
    ))
}

/// `[pagination]` with its paths compiled.
struct Pager<'p> {
    spec: &'p PaginationSpec,
    items: Option<Arc<JsonPath>>,
    total: Option<Arc<JsonPath>>,
    total_pages: Option<Arc<JsonPath>>,
    /// `next` (next_url) or `cursor` (cursor): where the next page is named.
    pointer: Option<Arc<JsonPath>>,
    base: Option<String>,
}

impl<'p> Pager<'p> {
    fn new(spec: &'p PaginationSpec, vars: &Vars) -> Result<Pager<'p>, String> {
        let path = |p: &Option<String>| p.as_deref().map(compile).transpose();
        let pointer = match spec.kind {
            PageKind::Cursor => path(&spec.cursor)?,
            _ => path(&spec.next)?,
        };
        let base = spec
            .base
            .as_deref()
            .map(|b| vars.render(b, "pagination.base"))
            .transpose()?;
        Ok(Pager {
            spec,
            items: path(&spec.items)?,
            total: path(&spec.total)?,
            total_pages: path(&spec.total_pages)?,
            pointer,
            base,
        })
    }

    fn start(&self) -> i64 {
        self.spec.start.unwrap_or(match self.spec.kind {
            PageKind::Page => 1,
            _ => 0,
        })
    }

    fn first(&self, req: &mut Built) {
        if let (PageKind::Page | PageKind::Offset, Some(param)) = (self.spec.kind, &self.spec.param)
        {
            req.set_query(param, &self.start().to_string());
        }
    }

    /// The request for the page after page number `page` (1-based), or
    /// `None` when this was the last page.
    fn next(
        &self,
        body: &Value,
        headers: &reqwest::header::HeaderMap,
        page: u32,
        seen: &mut u64,
        req: &Built,
    ) -> Result<Option<Built>, FetchError> {
        let count = self
            .items
            .as_ref()
            .map(|p| p.query(body).all().len() as u64);
        if count == Some(0) {
            return Ok(None);
        }
        if let (Some(n), Some(size)) = (count, self.spec.page_size)
            && n < size
        {
            return Ok(None);
        }
        *seen += count.or(self.spec.page_size).unwrap_or(0);
        let number = |path: &Option<Arc<JsonPath>>| {
            path.as_ref()?.query(body).first().and_then(|v| match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            })
        };
        if let Some(total) = number(&self.total)
            && *seen as f64 >= total
        {
            return Ok(None);
        }
        let mut next = req.clone();
        match self.spec.kind {
            PageKind::NextUrl => {
                let Some(url) = self.pointer_in(body) else {
                    return Ok(None);
                };
                next.url = self.resolve(&url, &req.url)?;
            }
            PageKind::LinkHeader => {
                let Some(url) = headers
                    .get_all(LINK)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .find_map(next_link)
                else {
                    return Ok(None);
                };
                next.url = self.resolve(&url, &req.url)?;
            }
            PageKind::Page => {
                if let Some(pages) = number(&self.total_pages)
                    && (page as f64) >= pages
                {
                    return Ok(None);
                }
                let param = self.spec.param.as_deref().unwrap_or("page");
                next.set_query(param, &(self.start() + i64::from(page)).to_string());
            }
            PageKind::Offset => {
                let param = self.spec.param.as_deref().unwrap_or("offset");
                next.set_query(param, &(self.start() + *seen as i64).to_string());
            }
            PageKind::Cursor => {
                let Some(cursor) = self.pointer_in(body) else {
                    return Ok(None);
                };
                let param = self.spec.param.as_deref().unwrap_or("cursor");
                let same = req
                    .url
                    .query_pairs()
                    .any(|(k, v)| k == param && v == cursor.as_str());
                if same {
                    return Err(FetchError::new(
                        Reason::Parse,
                        format!("the API answered with the same cursor `{param}` again"),
                    ));
                }
                next.set_query(param, &cursor);
            }
        }
        Ok(Some(next))
    }

    /// The next URL or cursor in this page: a non-empty string (or number).
    fn pointer_in(&self, body: &Value) -> Option<String> {
        self.pointer
            .as_ref()?
            .query(body)
            .all()
            .last()
            .and_then(|v| match v {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
    }

    /// An absolute next URL as is; a relative one after `base` or the
    /// request's origin.
    fn resolve(&self, next: &str, current: &reqwest::Url) -> Result<reqwest::Url, FetchError> {
        let joined = if next.starts_with("http://") || next.starts_with("https://") {
            reqwest::Url::parse(next)
        } else if let Some(base) = &self.base {
            reqwest::Url::parse(&format!(
                "{}/{}",
                base.trim_end_matches('/'),
                next.trim_start_matches('/')
            ))
        } else {
            current.join(next)
        };
        let url = joined.map_err(|e| {
            FetchError::new(
                Reason::Parse,
                format!("next page URL `{next}` is unusable: {e}"),
            )
        })?;
        // Credentials go on every page: never to another host or over plain
        // HTTP because a response said so.
        let trusted = self
            .base
            .as_deref()
            .and_then(|b| reqwest::Url::parse(b).ok())
            .is_some_and(|b| b.origin() == url.origin());
        if url.origin() != current.origin() && !trusted {
            return Err(FetchError::new(
                Reason::Parse,
                format!(
                    "next page URL points to another origin ({}); not sending credentials there",
                    url.origin().ascii_serialization()
                ),
            ));
        }
        if url == *current {
            return Err(FetchError::new(
                Reason::Parse,
                "the API answered with the same next page URL again",
            ));
        }
        Ok(url)
    }
}

/// The `rel="next"` target of one `Link` header value.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| target.to_string())
    })
}

fn compile(path: &str) -> Result<Arc<JsonPath>, String> {
    json_path(path).map_err(|e| format!("`{path}` is not a JSONPath: {e}"))
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;
    use crate::connectors::declarative::manifest::RequestSpec;
    use crate::connectors::template::TemplateContext;

    fn pager(kind: &str) -> (PaginationSpec, Vars) {
        let spec: PaginationSpec = serde_json::from_value(serde_json::json!({
            "kind": kind, "next": "$.next", "param": "before", "cursor": "$.next",
        }))
        .unwrap();
        (spec, Vars::new(&Map::new(), &TemplateContext::example()))
    }

    fn built(url: &str) -> Built {
        let spec: RequestSpec = serde_json::from_value(serde_json::json!({ "url": url })).unwrap();
        Built::from_spec(
            &spec,
            &Vars::new(&Map::new(), &TemplateContext::example()),
            "r",
        )
        .unwrap()
    }

    #[test]
    fn next_urls_stay_on_the_origin() {
        let (spec, vars) = pager("next_url");
        let p = Pager::new(&spec, &vars).unwrap();
        let req = built("https://api.example/2010/Calls.json");
        let h = reqwest::header::HeaderMap::new();
        let mut seen = 0;
        let next = |body: serde_json::Value, seen: &mut u64| p.next(&body, &h, 1, seen, &req);
        let ok = next(
            serde_json::json!({"next": "/2010/Calls.json?Page=1"}),
            &mut seen,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            ok.url.as_str(),
            "https://api.example/2010/Calls.json?Page=1"
        );
        for evil in [
            "https://attacker.example/x",
            "http://api.example/2010/Calls.json?Page=1",
        ] {
            let e = next(serde_json::json!({ "next": evil }), &mut seen).unwrap_err();
            assert!(
                e.message.contains("another origin"),
                "{evil}: {}",
                e.message
            );
        }
        let e = next(
            serde_json::json!({"next": "https://api.example/2010/Calls.json"}),
            &mut seen,
        )
        .unwrap_err();
        assert!(e.message.contains("same next page URL"), "{}", e.message);
        assert!(
            next(serde_json::json!({"next": null}), &mut seen)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_repeated_cursor_stops_the_fetch() {
        let (spec, vars) = pager("cursor");
        let p = Pager::new(&spec, &vars).unwrap();
        let h = reqwest::header::HeaderMap::new();
        let mut seen = 0;
        let first = built("https://api.example/responses");
        let second = p
            .next(
                &serde_json::json!({"next": "tok1"}),
                &h,
                1,
                &mut seen,
                &first,
            )
            .unwrap()
            .unwrap();
        assert_eq!(
            second.url.as_str(),
            "https://api.example/responses?before=tok1"
        );
        let e = p
            .next(
                &serde_json::json!({"next": "tok1"}),
                &h,
                2,
                &mut seen,
                &second,
            )
            .unwrap_err();
        assert!(e.message.contains("same cursor"), "{}", e.message);
    }

    #[test]
    fn link_headers() {
        assert_eq!(
            next_link(r#"<https://a/x?page=2>; rel="next", <https://a/x?page=9>; rel="last""#),
            Some("https://a/x?page=2".into())
        );
        assert_eq!(next_link(r#"<https://a/x?page=1>; rel="prev""#), None);
    }
}
