//! `/sources`: each configured source's health (last success, last failure
//! and its reason; the failure's message to admins only, as in the API),
//! the KRs it feeds and when each is fetched next.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::Response;
use maud::{Markup, html};

use super::super::WebState;
use super::super::session::{Reader, Visitor};
use super::format::{ago, instant};
use super::layout::{Nav, Page};
use super::rows::{Context, health};
use crate::access::Role;
use crate::okr::rollup::KrState;
use crate::scheduler::BindingStatus;

pub async fn page(State(s): State<WebState>, Reader(v): Reader) -> Response {
    let snapshot = s.live.fresh_snapshot();
    let health = s.telemetry.sources.health();
    let schedule = s.scheduler.status();
    let ctx = Context::new(&snapshot, &health, s.clock.now());
    let body = render(&ctx, &s.rules.sources, &schedule, &v);
    Page::new(&v, "Sources", Nav::Sources)
        .showing(&snapshot)
        .render(body)
}

pub fn render(
    ctx: &Context<'_>,
    configured: &std::collections::BTreeSet<String>,
    schedule: &[BindingStatus],
    v: &Visitor,
) -> Markup {
    let mut krs: BTreeMap<&str, Vec<&KrState>> = BTreeMap::new();
    for k in &ctx.snapshot.key_results {
        if let Some(src) = &k.source {
            krs.entry(&**src).or_default().push(k);
        }
    }
    let next: std::collections::HashMap<&str, &BindingStatus> =
        schedule.iter().map(|b| (b.id.as_str(), b)).collect();
    let admin = v.is_at_least(Role::Admin);
    html! {
        h1 { "Sources" }
        p.muted { (configured.len()) " sources configured. "
            @if !admin { "Failure messages are shown to admins only; everyone sees the reason." } }
        @for name in configured {
            section aria-labelledby={ "source-" (name) } data-source=(name) {
                h2 #{ "source-" (name) } { (name) " " (health(ctx, Some(name))) }
                @let h = ctx.health.get(name);
                dl.facts {
                    dt { "Last success" }
                    dd { @match h.and_then(|h| h.last_success) { Some(at) => { (ago(at, ctx.now)) " (" (instant(at)) ")" }, None => { "never" } } }
                    dt { "Last failure" }
                    dd {
                        @match h.and_then(|h| h.last_failure.as_ref()) {
                            Some(f) => {
                                (ago(f.at, ctx.now)) ": " strong { (f.reason.as_str()) }
                                @if admin { br; code { (f.message) } }
                            }
                            None => { "none" }
                        }
                    }
                }
                @match krs.get(name.as_str()) {
                    Some(list) => {
                        table aria-label={ "Key results fed by " (name) } {
                            thead { tr { th scope="col" { "Key result" } th scope="col" { "Next fetch" } th scope="col" { "Failures in a row" } } }
                            tbody {
                                @for k in list {
                                    @let b = next.get(&*k.id);
                                    tr {
                                        td { a href={ "/key-results/" (k.id) } { (k.title) } }
                                        td { @match b.and_then(|b| b.next_run) { Some(at) => { (ago(at, ctx.now)) }, None => { "–" } }
                                             @if b.is_some_and(|b| b.running) { " (fetching now)" } }
                                        td.num { (b.map_or(0, |b| b.consecutive_failures)) }
                                    }
                                }
                            }
                        }
                    }
                    None => { p.muted { "No approved key result uses it." } }
                }
            }
        }
    }
}
