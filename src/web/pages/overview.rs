//! `/`: the objective tree of one period, child objectives nested, each
//! with its KRs (progress against pace, status, forecast, source health),
//! a period switcher and filters by team and status.

use std::collections::{BTreeSet, HashMap, HashSet};

use axum::extract::{Query, State};
use axum::http::Uri;
use axum::response::Response;
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;

use super::super::WebState;
use super::super::session::Reader;
use super::format::{percent, progress_bar, status_word};
use super::layout::{Nav, Page};
use super::rows::{Context, STATUSES, count_by_status, kr_row, status_cards};
use crate::live::Snapshot;
use crate::okr::Status;
use crate::okr::rollup::{KrState, ObjectiveState};

/// Objectives deeper than this are not drawn (cycles are refused long before).
const MAX_DEPTH: usize = 16;
/// More KRs than this and each objective shows only its few worst ones,
/// with a link to the rest: a page of a thousand rows helps nobody, and
/// weighs most of a megabyte. Filters narrow it down to every row.
const MAX_FULL_ROWS: usize = 200;
/// KRs an objective shows when the overview is compact.
const COMPACT_ROWS: usize = 5;

#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    pub period: Option<String>,
    pub team: Option<String>,
    pub status: Option<String>,
}

pub async fn page(
    State(s): State<WebState>,
    Reader(v): Reader,
    Query(f): Query<Filters>,
    uri: Uri,
) -> Response {
    let snapshot = s.live.fresh_snapshot();
    let health = s.telemetry.sources.health();
    let ctx = Context::new(&snapshot, &health, s.clock.now());
    let at = (snapshot.version, ctx.now.timestamp());
    let body = s
        .pages
        .get_or_render(uri.to_string(), at, || render(&ctx, &f).into_string());
    Page::new(&v, "Overview", Nav::Overview)
        .showing(&snapshot)
        .render(PreEscaped(body.to_string()))
}

/// The period shown: the one asked for, else the running one that started
/// last, else the latest.
pub fn chosen_period<'a>(
    s: &'a Snapshot,
    asked: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<&'a str> {
    if let Some(p) = asked.and_then(|a| s.periods.get_key_value(a)) {
        return Some(p.0);
    }
    let mut periods: Vec<_> = s.periods.values().collect();
    periods.sort_by_key(|p| p.start);
    let today = now.date_naive();
    periods
        .iter()
        .rev()
        .find(|p| p.start <= today && today <= p.end)
        .or(periods.last())
        .map(|p| p.id.as_str())
}

pub fn render(ctx: &Context<'_>, f: &Filters) -> Markup {
    let s = ctx.snapshot;
    let Some(period) = chosen_period(s, f.period.as_deref(), ctx.now) else {
        return html! {
            h1 { "Overview" }
            p { "No approved key results yet. Apply an OKR file with " code { "okrd apply" } ", or draft one." }
        };
    };
    let status = f
        .status
        .as_deref()
        .and_then(|w| STATUSES.into_iter().find(|s| s.as_str() == w));
    let team = f.team.as_deref().filter(|t| !t.is_empty());
    let shown: Vec<&KrState> = s
        .key_results
        .iter()
        .filter(|k| *k.period == *period)
        .filter(|k| team.is_none_or(|t| *k.team == *t))
        .filter(|k| status.is_none_or(|st| ctx.status(k) == st))
        .collect();
    let tree = Tree::new(s, period, &shown, team, status.is_some());
    let compact = shown.len() > MAX_FULL_ROWS;
    let expected = ctx.expected(period);
    html! {
        h1 { "Overview" }
        (period_switcher(s, period, f))
        (filters(s, period, team, status))
        p.muted {
            @if let Some(e) = expected { "Expected pace today: " (percent(e)) " of the period. " }
            (shown.len()) " key results"
            @if compact { ": each objective shows its " (COMPACT_ROWS) " that need attention most; filter by team or status, or open an objective, to see every one." }
            @else { " shown." }
        }
        (status_cards(&count_by_status(ctx, shown.iter().copied())))
        @if tree.roots.is_empty() {
            p { "No key results match these filters." }
        } @else {
            ul.tree aria-label="Objectives" {
                @for o in &tree.roots { (objective(ctx, &tree, o, 0, compact)) }
            }
        }
    }
}

fn period_switcher(s: &Snapshot, current: &str, f: &Filters) -> Markup {
    let mut periods: Vec<_> = s.periods.values().collect();
    periods.sort_by_key(|p| p.start);
    let keep = |name: &str, v: Option<&String>| {
        v.filter(|v| !v.is_empty())
            .map(|v| {
                format!(
                    "&{name}={}",
                    form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                )
            })
            .unwrap_or_default()
    };
    let rest = format!(
        "{}{}",
        keep("team", f.team.as_ref()),
        keep("status", f.status.as_ref())
    );
    html! {
        nav.periods aria-label="Periods" {
            @for p in periods {
                a href={ "/?period=" (p.id) (rest) } aria-current=[(p.id == current).then_some("page")] {
                    (p.id)
                }
            }
        }
    }
}

fn filters(s: &Snapshot, period: &str, team: Option<&str>, status: Option<Status>) -> Markup {
    let teams: BTreeSet<&str> = s
        .key_results
        .iter()
        .filter(|k| *k.period == *period)
        .map(|k| &*k.team)
        .collect();
    html! {
        form.filters method="get" action="/" role="search" aria-label="Filter key results" {
            input type="hidden" name="period" value=(period);
            label { "Team"
                select name="team" {
                    option value="" { "All teams" }
                    @for t in teams { option value=(t) selected[team == Some(t)] { (t) } }
                }
            }
            label { "Status"
                select name="status" {
                    option value="" { "Any status" }
                    @for st in STATUSES { option value=(st.as_str()) selected[status == Some(st)] { (status_word(st)) } }
                }
            }
            button type="submit" { "Filter" }
            @if team.is_some() || status.is_some() { a href={ "/?period=" (period) } { "Clear filters" } }
        }
    }
}

/// The objectives to draw and what hangs under each.
struct Tree<'a> {
    roots: Vec<&'a ObjectiveState>,
    children: HashMap<&'a str, Vec<&'a ObjectiveState>>,
    krs: HashMap<&'a str, Vec<&'a KrState>>,
}

impl<'a> Tree<'a> {
    /// With no filter every objective of the period shows; with one, those
    /// holding a shown KR (and their parents), and a filtered team's own.
    fn new(
        s: &'a Snapshot,
        period: &str,
        shown: &[&'a KrState],
        team: Option<&str>,
        by_status: bool,
    ) -> Tree<'a> {
        let objectives: HashMap<&str, &ObjectiveState> = s
            .objectives
            .iter()
            .filter(|o| *o.period == *period)
            .map(|o| (&*o.id, o))
            .collect();
        let filtered = team.is_some() || by_status;
        let mut keep: HashSet<&str> = HashSet::new();
        let mut mark = |mut id: &'a str| {
            for _ in 0..MAX_DEPTH {
                let Some(o) = objectives.get(id) else { break };
                if !keep.insert(&*o.id) {
                    break;
                }
                match o.parent.as_deref() {
                    Some(p) => id = p,
                    None => break,
                }
            }
        };
        for k in shown {
            mark(&k.objective);
        }
        for o in objectives.values() {
            if !filtered || (!by_status && team == Some(&*o.team)) {
                mark(&o.id);
            }
        }
        let mut krs: HashMap<&str, Vec<&KrState>> = HashMap::new();
        for k in shown {
            krs.entry(&*k.objective).or_default().push(k);
        }
        let mut children: HashMap<&str, Vec<&ObjectiveState>> = HashMap::new();
        let mut roots = Vec::new();
        for o in s.objectives.iter().filter(|o| keep.contains(&*o.id)) {
            match o.parent.as_deref().filter(|p| keep.contains(p)) {
                Some(p) => children.entry(p).or_default().push(o),
                None => roots.push(o),
            }
        }
        Tree {
            roots,
            children,
            krs,
        }
    }
}

fn objective(
    ctx: &Context<'_>,
    tree: &Tree<'_>,
    o: &ObjectiveState,
    depth: usize,
    compact: bool,
) -> Markup {
    let here: &[&KrState] = tree.krs.get(&*o.id).map_or(&[], Vec::as_slice);
    let is_here = |id: &str| here.iter().any(|k| *k.id == *id);
    let top: Vec<&&KrState> = if compact {
        worst(ctx, here)
    } else {
        here.iter()
            .filter(|k| !k.parent.as_deref().is_some_and(is_here))
            .collect()
    };
    let hidden = if compact { here.len() - top.len() } else { 0 };
    html! {
        li.objective data-objective=(o.id) {
            div.head {
                span { a href={ "/objectives/" (o.id) } { (o.title) } " " span.muted { "· " (o.team) } }
                span { (progress_bar(o.progress, ctx.expected(&o.period))) }
                span.pct data-progress=(format!("{:.4}", o.progress)) {
                    (percent(o.progress)) " done"
                    @if let Some(f) = ctx.snapshot.objective_forecast(&o.id) { br; "heading to " (percent(f)) }
                }
            }
            @if !top.is_empty() {
                ul.tree aria-label={ "Key results of " (o.title) } {
                    @for k in top {
                        @if compact { (kr_row(ctx, k)) } @else { (kr_with_children(ctx, k, here, 0)) }
                    }
                    @if hidden > 0 {
                        li.more { a href={ "/objectives/" (o.id) } { "and " (hidden) " more key results" } }
                    }
                }
            }
            @if depth < MAX_DEPTH {
                @if let Some(children) = tree.children.get(&*o.id) {
                    ul.tree aria-label={ "Objectives under " (o.title) } {
                        @for c in children { (objective(ctx, tree, c, depth + 1, compact)) }
                    }
                }
            }
        }
    }
}

/// The KRs that most need attention, worst status first, then least progress.
fn worst<'a, 'k>(ctx: &Context<'_>, here: &'a [&'k KrState]) -> Vec<&'a &'k KrState> {
    let rank = |k: &KrState| {
        STATUSES
            .iter()
            .position(|s| *s == ctx.status(k))
            .unwrap_or(STATUSES.len())
    };
    let mut ranked: Vec<(usize, &&KrState)> = here.iter().map(|k| (rank(k), k)).collect();
    ranked.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.progress.total_cmp(&b.1.progress)));
    ranked
        .into_iter()
        .take(COMPACT_ROWS)
        .map(|(_, k)| k)
        .collect()
}

/// A KR, then the KRs that roll up into it, indented.
fn kr_with_children(ctx: &Context<'_>, k: &KrState, siblings: &[&KrState], depth: usize) -> Markup {
    let children: Vec<&&KrState> = siblings
        .iter()
        .filter(|c| c.parent.as_deref() == Some(&*k.id))
        .collect();
    html! {
        (kr_row(ctx, k))
        @if !children.is_empty() && depth < MAX_DEPTH {
            li { ul.tree aria-label={ "Key results rolling up into " (k.title) } {
                @for c in children { (kr_with_children(ctx, c, siblings, depth + 1)) }
            } }
        }
    }
}
