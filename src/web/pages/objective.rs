//! `/objectives/{id}`: an objective's KRs and child objectives, and its
//! progress over the period, drawn from its KRs' daily values.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::Response;
use chrono::{NaiveDate, TimeZone, Utc};
use maud::{Markup, PreEscaped, html};

use super::super::WebState;
use super::super::chart::{ProgressChart, progress_chart};
use super::super::session::Reader;
use super::format::{percent, progress_bar};
use super::layout::{Nav, Page};
use super::not_found;
use super::rows::{Context, count_by_status, kr_row, status_cards};
use crate::okr::progress::progress;
use crate::okr::rollup::{KrState, RollupEngine};

pub async fn page(
    State(s): State<WebState>,
    Reader(v): Reader,
    Path(id): Path<String>,
    uri: Uri,
) -> Response {
    let snapshot = s.live.fresh_snapshot();
    let Some(stored) = snapshot.index.current.objectives.get(&id) else {
        return not_found(&v, "objective", &id);
    };
    let health = s.telemetry.sources.health();
    let ctx = Context::new(&snapshot, &health, s.clock.now());
    let krs: Vec<&KrState> = snapshot
        .key_results
        .iter()
        .filter(|k| *k.objective == *id)
        .collect();
    let at = (snapshot.version, ctx.now.timestamp());
    let body = s.pages.get_or_render(uri.to_string(), at, || {
        let over_time = s.live.read(|engine, _| daily_progress(engine, &krs));
        render(&ctx, &id, &stored.item.title, &krs, &over_time).into_string()
    });
    Page::new(&v, stored.item.title.clone(), Nav::None)
        .showing(&snapshot)
        .render(PreEscaped(body.to_string()))
}

/// The objective's progress each day: its KRs' progress that day (each
/// KR's last value of the day, carried over days without one), weighted as
/// the rollup weighs them. KRs derived from children and child objectives
/// are left out of the line; the current figure above it counts them.
pub fn daily_progress(engine: &RollupEngine, krs: &[&KrState]) -> Vec<(NaiveDate, f64)> {
    let mut sums: BTreeMap<NaiveDate, f64> = BTreeMap::new();
    let total: f64 = krs.iter().filter(|k| !k.derived).map(|k| k.weight).sum();
    if total <= 0.0 {
        return Vec::new();
    }
    for k in krs.iter().filter(|k| !k.derived && k.sustain.is_none()) {
        let Some(history) = engine.history(&k.id) else {
            continue;
        };
        let Some(first) = history.points().first() else {
            continue;
        };
        let last = history.points().last().map_or(first.day, |p| p.day);
        for (day, value) in history.daily(first.day, last) {
            let p = progress(k.kind, Some(value), k.start, k.target);
            *sums.entry(day).or_default() += k.weight * p;
        }
    }
    // Days before a KR's first value count it as 0, as the rollup does.
    sums.into_iter()
        .map(|(d, weighted)| (d, weighted / total))
        .collect()
}

pub fn render(
    ctx: &Context<'_>,
    id: &str,
    title: &str,
    krs: &[&KrState],
    over_time: &[(NaiveDate, f64)],
) -> Markup {
    let s = ctx.snapshot;
    let state = s.objectives.iter().find(|o| *o.id == *id);
    let stored = s.index.current.objectives.get(id);
    let children = s.index.child_objectives.get(id);
    let period = stored.map(|o| o.item.period.as_str()).unwrap_or("");
    let chart = s.periods.get(period).map(|p| {
        let points: Vec<_> = over_time
            .iter()
            .filter_map(|(d, v)| Some((Utc.from_utc_datetime(&d.and_hms_opt(12, 0, 0)?), *v)))
            .collect();
        progress_chart(&ProgressChart {
            id: &format!("objective-{id}"),
            title,
            from: p.start_instant(),
            to: p.end_instant(),
            now: ctx.now,
            points: &points,
        })
    });
    html! {
        nav.crumbs aria-label="Breadcrumb" {
            a href={ "/?period=" (period) } { "Overview" } " › "
            @if let Some(p) = stored.and_then(|o| o.item.parent.as_deref()) { a href={ "/objectives/" (p) } { (p) } " › " }
            span aria-current="page" { (title) }
        }
        h1 { (title) }
        @if let Some(o) = stored {
            p.muted { "Team " a href={ "/teams/" (o.item.team) } { (o.item.team) } " · period " (o.item.period) }
            @if let Some(d) = &o.item.description { p { (d) } }
        }
        @if let Some(st) = state {
            p { (progress_bar(st.progress, ctx.expected(&st.period))) " " span.pct data-progress=(format!("{:.4}", st.progress)) { (percent(st.progress)) " done" }
                @if let Some(f) = s.objective_forecast(id) { " · heading to " (percent(f)) " by the period's end" } }
        }
        @if let Some(svg) = chart {
            figure {
                (PreEscaped(svg))
                figcaption.muted { "Progress over the period against the expected pace, from its key results' daily values." }
            }
        }
        (status_cards(&count_by_status(ctx, krs.iter().copied())))
        h2 { "Key results" }
        @if krs.is_empty() { p.muted { "No approved key results yet." } }
        ul.tree aria-label="Key results" { @for k in krs { (kr_row(ctx, k)) } }
        @if let Some(children) = children.filter(|c| !c.is_empty()) {
            h2 { "Objectives under it" }
            ul {
                @for c in children {
                    @let child = s.objectives.iter().find(|o| *o.id == **c);
                    li { a href={ "/objectives/" (c) } { (child.map_or(&**c, |o| &*o.title)) }
                        @if let Some(o) = child { " " span.pct { (percent(o.progress)) " done" } } }
                }
            }
        }
        p { a href={ "/key-results/new?objective=" (id) } { "Draft a key result for this objective" } }
    }
}
