//! `/teams/{id}`: a team's summary (its progress per period and its KRs by
//! status), its objectives and KRs, and its child teams.

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::Response;
use maud::{Markup, PreEscaped, html};

use super::super::WebState;
use super::super::session::Reader;
use super::format::{percent, progress_bar};
use super::layout::{Nav, Page};
use super::not_found;
use super::rows::{Context, count_by_status, kr_row, status_cards};
use crate::okr::rollup::KrState;

pub async fn page(
    State(s): State<WebState>,
    Reader(v): Reader,
    Path(id): Path<String>,
    uri: Uri,
) -> Response {
    let snapshot = s.live.fresh_snapshot();
    let Some(team) = snapshot.index.current.teams.get(&id) else {
        return not_found(&v, "team", &id);
    };
    let health = s.telemetry.sources.health();
    let ctx = Context::new(&snapshot, &health, s.clock.now());
    let at = (snapshot.version, ctx.now.timestamp());
    let body = s.pages.get_or_render(uri.to_string(), at, || {
        render(&ctx, &id, &team.item.name).into_string()
    });
    Page::new(&v, team.item.name.clone(), Nav::None)
        .showing(&snapshot)
        .render(PreEscaped(body.to_string()))
}

pub fn render(ctx: &Context<'_>, id: &str, name: &str) -> Markup {
    let s = ctx.snapshot;
    let current = &s.index.current;
    let parent = current.teams.get(id).and_then(|t| t.item.parent.clone());
    let children = s.index.child_teams.get(id);
    let krs: Vec<&KrState> = s.key_results.iter().filter(|k| *k.team == *id).collect();
    let mut progress: Vec<_> = s.teams.iter().filter(|t| *t.team == *id).collect();
    progress.sort_by_key(|t| s.periods.get(&*t.period).map(|p| p.start));
    let objectives: Vec<_> = s.objectives.iter().filter(|o| *o.team == *id).collect();
    html! {
        nav.crumbs aria-label="Breadcrumb" {
            a href="/" { "Overview" } " › "
            @if let Some(p) = &parent { a href={ "/teams/" (p) } { (p) } " › " }
            span aria-current="page" { (name) }
        }
        h1 { (name) " " span.muted { "team " (id) } }
        @if !progress.is_empty() {
            table aria-label="Progress by period" {
                thead { tr { th scope="col" { "Period" } th scope="col" { "Progress" } th scope="col" { "Done" } } }
                tbody {
                    @for t in &progress {
                        tr { td { a href={ "/?period=" (t.period) "&team=" (id) } { (t.period) } }
                             td { (progress_bar(t.progress, ctx.expected(&t.period))) } td.num { (percent(t.progress)) } }
                    }
                }
            }
        }
        (status_cards(&count_by_status(ctx, krs.iter().copied())))
        @if let Some(children) = children.filter(|c| !c.is_empty()) {
            h2 { "Teams under it" }
            ul { @for c in children { li { a href={ "/teams/" (c) } { (c) } } } }
        }
        h2 { "Objectives" }
        @if objectives.is_empty() { p.muted { "The team owns no objective; its KRs serve others' objectives." } }
        ul {
            @for o in &objectives {
                li { a href={ "/objectives/" (o.id) } { (o.title) } " " span.muted { (o.period) " · " (percent(o.progress)) " done" } }
            }
        }
        h2 { "Key results" }
        @if krs.is_empty() { p.muted { "No approved key results yet." } }
        ul.tree aria-label="Key results of the team" {
            @for k in &krs { (kr_row(ctx, k)) }
        }
    }
}
