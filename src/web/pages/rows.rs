//! The pieces the overview, team and objective pages share: one line per
//! KR (progress against pace, status, forecast, source health) and the
//! numbers behind it, computed from the snapshot the way `/metrics` and the
//! API compute them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::format::{number, percent, progress_bar, status_badge, with_unit};
use crate::live::Snapshot;
use crate::metrics::SourceHealth;
use crate::okr::Status;
use crate::okr::progress::expected_progress;
use crate::okr::rollup::KrState;

/// What a page needs to place KRs against time and their sources.
pub struct Context<'a> {
    pub snapshot: &'a Snapshot,
    pub health: &'a HashMap<String, SourceHealth>,
    pub now: DateTime<Utc>,
}

impl<'a> Context<'a> {
    pub fn new(
        snapshot: &'a Snapshot,
        health: &'a HashMap<String, SourceHealth>,
        now: DateTime<Utc>,
    ) -> Context<'a> {
        Context {
            snapshot,
            health,
            now,
        }
    }

    /// Where progress should be by now in `period`.
    pub fn expected(&self, period: &str) -> Option<f64> {
        self.snapshot
            .periods
            .get(period)
            .map(|p| expected_progress(p, self.now))
    }

    pub fn status(&self, k: &KrState) -> Status {
        k.status(self.expected(&k.period).unwrap_or(0.0), self.now)
    }
}

/// A source's health in a word: never fetched, fetching fine, or failing
/// with its reason (never its message: that is for admins, on `/sources`).
pub fn health(ctx: &Context<'_>, source: Option<&str>) -> Markup {
    let Some(name) = source else {
        return html! { span.health.manual { "manual check-ins" } };
    };
    let h = ctx.health.get(name);
    let failing = h.and_then(|h| {
        let f = h.last_failure.as_ref()?;
        (h.last_success.is_none_or(|ok| f.at > ok)).then_some(f)
    });
    html! {
        @match (failing, h.and_then(|h| h.last_success)) {
            (Some(f), _) => span.health.failing title={ "source " (name) " failing since " (f.at.format("%H:%M")) } {
                "✕ " (name) ": " (f.reason.as_str())
            },
            (None, Some(_)) => span.health.ok { "✓ " (name) },
            (None, None) => span.health.manual { (name) ": not fetched yet" },
        }
    }
}

/// One KR as a list item: title, value against target, progress and pace,
/// status, forecast and source.
pub fn kr_row(ctx: &Context<'_>, k: &KrState) -> Markup {
    let status = ctx.status(k);
    let unit = k.unit.as_deref();
    let held = ctx.snapshot.held.get(&*k.id);
    html! {
        li.kr data-kr=(k.id) {
            span.title {
                a href={ "/key-results/" (k.id) } { (k.title) }
                br;
                span.muted {
                    (k.team) " · "
                    @match (k.value, k.target) {
                        (Some(v), Some(t)) => { (with_unit(v, unit)) " of " (number(t)) }
                        (Some(v), None) => { (with_unit(v, unit)) }
                        (None, _) if k.derived => { "from its children" }
                        (None, _) => { "no value yet" }
                    }
                    @if let Some(w) = &k.sustain {
                        " · " (w.satisfied) " of " (w.rule.required) " " (w.rule.window.plural())
                    }
                    @if let Some(h) = held { " · " strong { "held " (number(h.value)) } }
                }
            }
            span { (progress_bar(k.progress, ctx.expected(&k.period))) }
            span.pct {
                (percent(k.progress)) " done"
                @if let Some(f) = k.forecast { br; "heading to " (percent(f.progress)) }
            }
            span { (status_badge(status)) }
            span {
                @if k.derived { span.health.manual { "rolls up its children" } }
                @else { (health(ctx, k.source.as_deref())) }
            }
        }
    }
}

/// KRs counted by status, for a summary.
pub fn count_by_status<'a>(
    ctx: &Context<'_>,
    krs: impl Iterator<Item = &'a KrState>,
) -> Vec<(Status, usize)> {
    let mut counts: HashMap<Status, usize> = HashMap::new();
    for k in krs {
        *counts.entry(ctx.status(k)).or_default() += 1;
    }
    STATUSES
        .into_iter()
        .map(|s| (s, counts.get(&s).copied().unwrap_or(0)))
        .collect()
}

/// Worst first: what needs attention leads.
pub const STATUSES: [Status; 5] = [
    Status::OffTrack,
    Status::AtRisk,
    Status::OnTrack,
    Status::Done,
    Status::NoData,
];

/// Cards with the number of KRs in each status.
pub fn status_cards(counts: &[(Status, usize)]) -> Markup {
    html! {
        div.cards role="list" aria-label="Key results by status" {
            @for (s, n) in counts {
                div.card role="listitem" {
                    span.big { (n) }
                    (status_badge(*s))
                }
            }
        }
    }
}
