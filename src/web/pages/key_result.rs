//! `/key-results/{id}`: one KR. Its chart over the period (value, expected
//! pace, target, held values, forecast band, sustain windows), then its
//! check-ins with where each came from, its source and schedule, its review
//! history, and the forms a visitor may use on it (workflow actions, a
//! manual check-in, accepting or dismissing a held value).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use maud::{Markup, html};
use serde::Deserialize;

use super::super::WebState;
use super::super::session::{Reader, Visitor};
use super::format::{ago, instant, number, percent, progress_bar, status_badge, with_unit};
use super::forms::Problems;
use super::kr_chart;
use super::layout::{Nav, Page, csrf_field};
use super::not_found;
use super::rows::{Context, health};
use crate::access::Role;
use crate::okr::guard::Hold;
use crate::okr::rollup::KrState;
use crate::okr::workflow::{Action, allowed_actions};
use crate::okr::{KeyResult, WorkflowState};
use crate::scheduler::BindingStatus;
use crate::store::{HistoryQuery, Review, StoredCheckIn};

/// Check-ins read for the chart: a quarter of 15-minute fetches; the
/// chart draws a few hundred of them.
const CHART_CHECK_INS: u32 = 10_000;
/// Check-ins listed under the chart.
pub const LISTED_CHECK_INS: usize = 30;

#[derive(Debug, Default, Deserialize)]
pub struct Shown {
    /// What the last form did (a word from `done_message`).
    pub done: Option<String>,
}

/// Everything the page shows.
pub struct KrPage<'a> {
    pub ctx: &'a Context<'a>,
    pub visitor: &'a Visitor,
    pub kr: &'a KeyResult,
    /// The KR's numbers, once approved.
    pub state: Option<&'a KrState>,
    /// Newest first.
    pub check_ins: &'a [StoredCheckIn],
    pub reviews: &'a [Review],
    pub schedule: Option<&'a BindingStatus>,
    /// The answer to the form just sent, when it was refused.
    pub problems: Option<&'a Problems>,
    pub done: Option<&'a str>,
}

pub async fn page(
    State(s): State<WebState>,
    Reader(v): Reader,
    Path(id): Path<String>,
    Query(q): Query<Shown>,
) -> Response {
    show(&s, &v, &id, None, q.done.as_deref(), StatusCode::OK).await
}

/// The page, with `problems` from a refused form when there are some.
pub async fn show(
    s: &WebState,
    v: &Visitor,
    id: &str,
    problems: Option<&Problems>,
    done: Option<&str>,
    status: StatusCode,
) -> Response {
    let snapshot = s.live.fresh_snapshot();
    let Some(stored) = snapshot.index.current.key_results.get(id) else {
        return not_found(v, "key result", id);
    };
    let state = snapshot.key_result(id);
    let period = snapshot.key_result_period(id);
    let (from, to) = (
        period.map(|p| p.start_instant()),
        period.map(|p| p.end_instant()),
    );
    let query = HistoryQuery {
        key_result: id.to_string(),
        from,
        to,
        older_than: None,
        limit: CHART_CHECK_INS,
    };
    let (check_ins, reviews) =
        match tokio::join!(s.store.check_in_history(&query), s.store.reviews(id)) {
            (Ok(c), Ok(r)) => (c, r),
            (Err(e), _) | (_, Err(e)) => return super::unavailable(v, &e),
        };
    let health = s.telemetry.sources.health();
    let schedule = s.scheduler.binding_status(id);
    let ctx = Context::new(&snapshot, &health, s.clock.now());
    let body = render(&KrPage {
        ctx: &ctx,
        visitor: v,
        kr: &stored.item,
        state,
        check_ins: &check_ins,
        reviews: &reviews,
        schedule: schedule.as_ref(),
        problems,
        done,
    });
    Page::new(v, stored.item.title.clone(), Nav::None)
        .showing(&snapshot)
        .status(status)
        .render(body)
}

pub fn render(p: &KrPage<'_>) -> Markup {
    let kr = p.kr;
    let ctx = p.ctx;
    let objective = ctx.snapshot.index.current.objectives.get(&kr.objective);
    html! {
        nav.crumbs aria-label="Breadcrumb" {
            a href="/" { "Overview" } " › "
            @if let Some(o) = objective {
                a href={ "/objectives/" (o.item.id) } { (o.item.title) } " › "
            }
            span aria-current="page" { (kr.title) }
        }
        h1 { (kr.title) }
        p {
            span class={ "st " (kr.state.as_str()) } { "workflow: " (kr.state.as_str().replace('_', " ")) }
            @if let Some(st) = p.state {
                " " (status_badge(ctx.status(st)))
                " " span.pct { (percent(st.progress)) " done" }
            }
        }
        @if let Some(d) = p.done.and_then(done_message) { p.flash role="status" { (d) } }
        @if let Some(problems) = p.problems { (problems.summary()) }
        @if let Some(st) = p.state { (numbers(ctx, kr, st)) }
        (kr_chart::figure(ctx, kr, p.state, p.check_ins))
        (forms(p))
        (facts(p))
        (check_in_table(p))
        (review_history(p.reviews))
    }
}

fn numbers(ctx: &Context<'_>, kr: &KeyResult, st: &KrState) -> Markup {
    let unit = kr.unit.as_deref();
    html! {
        div.cards {
            div.card { span.muted { "Value" } span.big { @if let Some(v) = st.value { (with_unit(v, unit)) } @else { "–" } } }
            @if let Some(t) = st.target { div.card { span.muted { "Target" } span.big { (with_unit(t, unit)) } } }
            div.card { span.muted { "Progress" } span.big { (percent(st.progress)) } (progress_bar(st.progress, ctx.expected(&st.period))) }
            @if let Some(f) = st.forecast {
                div.card { span.muted { "Forecast at the period's end" } span.big { (with_unit(f.value, unit)) }
                    span.muted { "90% between " (number(f.low)) " and " (number(f.high)) } }
            }
            @if let Some(w) = &st.sustain {
                div.card { span.muted { "Windows held" } span.big { (w.satisfied) " of " (w.rule.required) }
                    span.muted { (w.total) " " (w.rule.window.plural()) " in the period, " (w.remaining) " to go" } }
            }
            @if let Some(at) = st.last_update {
                div.card { span.muted { "Last update" } span.big { (ago(at, ctx.now)) } span.muted { (instant(at)) } }
            }
        }
    }
}

/// The forms this visitor may use here; the API still decides.
fn forms(p: &KrPage<'_>) -> Markup {
    let kr = p.kr;
    let v = p.visitor;
    let ours = v.acts_for(&kr.team);
    let leader = v.is_at_least(Role::Leader);
    let actions: Vec<Action> = allowed_actions(kr.state)
        .into_iter()
        .filter(|a| match a {
            Action::Approve | Action::RequestChanges | Action::Reject => leader,
            Action::Propose => ours,
            Action::Archive => {
                ours && (leader
                    || !matches!(kr.state, WorkflowState::Approved | WorkflowState::Proposed))
            }
        })
        .collect();
    let editable = ours
        && matches!(
            kr.state,
            WorkflowState::Draft | WorkflowState::ChangesRequested
        );
    let manual = ours
        && kr.source.is_none()
        && kr.state == WorkflowState::Approved
        && p.state.is_some_and(|s| !s.derived);
    let held = p.ctx.snapshot.held.get(&kr.id);
    html! {
        @if let (Some(h), true) = (held, leader) {
            section aria-labelledby="held-title" {
                h2 #held-title { "Held value" }
                p.warning { "A fetched value of " strong { (with_unit(h.value, kr.unit.as_deref())) } " (" (instant(h.observed_at)) ") is outside the guard and does not count yet." }
                form.actions method="post" action={ "/key-results/" (kr.id) "/held" } {
                    (csrf_field(v))
                    input type="hidden" name="check_in" value=(h.check_in);
                    button type="submit" name="action" value="accept" { "Accept it" }
                    button.secondary type="submit" name="action" value="dismiss" { "Dismiss it" }
                }
            }
        }
        @if !actions.is_empty() || editable {
            section aria-labelledby="workflow-title" {
                h2 #workflow-title { "Workflow" }
                @if editable { p { a href={ "/key-results/" (kr.id) "/edit" } { "Edit this key result" } } }
                @if !actions.is_empty() {
                    form.stack method="post" action={ "/key-results/" (kr.id) "/workflow" } {
                        (csrf_field(v))
                        @if actions.iter().any(|a| *a != Action::Propose) {
                            label for="comment" { "Comment " span.hint { "(required to request changes or reject)" }
                                textarea #comment name="comment" rows="2" maxlength="2000" {} }
                        }
                        div.actions {
                            @for a in &actions {
                                button type="submit" name="action" value=(a.path()) class=[matches!(a, Action::Reject | Action::Archive).then_some("secondary")] { (action_label(*a)) }
                            }
                        }
                    }
                }
            }
        }
        @if manual {
            section aria-labelledby="check-in-title" {
                h2 #check-in-title { "Check in" }
                (check_in_form(p))
            }
        }
    }
}

fn check_in_form(p: &KrPage<'_>) -> Markup {
    let kr = p.kr;
    let err = |f: &str| p.problems.and_then(|x| x.field(f));
    html! {
        form.stack method="post" action={ "/key-results/" (kr.id) "/check-ins" } {
            (csrf_field(p.visitor))
            label for="value" { "Value" @if let Some(u) = &kr.unit { " (" (u) ")" }
                input #value name="value" type="text" inputmode="decimal" required
                    aria-invalid=[err("value").map(|_| "true")] aria-describedby=[err("value").map(|_| "value-error")];
            }
            @if let Some(e) = err("value") { p.field-error #value-error { (e) } }
            label for="note" { "Note " span.hint { "(optional)" }
                textarea #note name="note" rows="2" maxlength="2000" {} }
            @if let Some(e) = err("note") { p.field-error #note-error { (e) } }
            label for="confidence" { "Confidence that the KR will be met " span.hint { "(optional, 0 to 1)" }
                input #confidence name="confidence" type="text" inputmode="decimal"
                    aria-invalid=[err("confidence").map(|_| "true")] aria-describedby=[err("confidence").map(|_| "confidence-error")];
            }
            @if let Some(e) = err("confidence") { p.field-error #confidence-error { (e) } }
            p { button type="submit" { "Check in" } }
        }
    }
}

fn facts(p: &KrPage<'_>) -> Markup {
    let kr = p.kr;
    let ctx = p.ctx;
    html! {
        h2 { "Details" }
        dl.facts {
            dt { "Team" } dd { a href={ "/teams/" (kr.team) } { (kr.team) } }
            dt { "Owner" } dd { (kr.owner) }
            dt { "Kind" } dd { (kr.kind.as_str().replace('_', " ")) }
            @if let Some(s) = kr.start { dt { "Start" } dd { (with_unit(s, kr.unit.as_deref())) } }
            @if let Some(t) = kr.target { dt { "Target" } dd { (with_unit(t, kr.unit.as_deref())) } }
            @if let Some(d) = kr.due { dt { "Due" } dd { (d) } }
            dt { "Weight" } dd { (number(kr.weight)) }
            @if let Some(parent) = &kr.parent { dt { "Rolls up into" } dd { a href={ "/key-results/" (parent) } { (parent) } } }
            @if let Some(d) = &kr.description { dt { "Description" } dd { (d) } }
            dt { "Source" }
            dd {
                @match &kr.source {
                    Some(src) => {
                        (health(ctx, Some(&src.source)))
                        " · schedule "
                        @match &src.schedule { Some(schedule) => { code { (schedule) } }, None => { "the source's" } }
                        @if let Some(next) = p.schedule.and_then(|b| b.next_run) { " · next fetch " (ago(next, ctx.now)) }
                        @if let Some(f) = ctx.health.get(&src.source).and_then(|h| h.last_failure.as_ref()) {
                            br;
                            span.muted {
                                "Last failure " (ago(f.at, ctx.now)) " (" (instant(f.at)) "): " (f.reason.as_str())
                                // The message may quote internal hosts or stderr: admins only, as in the API.
                                @if p.visitor.is_at_least(Role::Admin) { ": " (f.message) }
                            }
                        }
                    }
                    None => { "none: values come from manual check-ins" }
                }
            }
        }
    }
}

fn check_in_table(p: &KrPage<'_>) -> Markup {
    let unit = p.kr.unit.as_deref();
    html! {
        h2 #check-ins-title { "Check-ins" }
        @if p.check_ins.is_empty() {
            p { "No check-ins in this period yet." }
        } @else {
            table aria-labelledby="check-ins-title" #check-ins {
                thead { tr { th scope="col" { "When" } th scope="col" { "Value" } th scope="col" { "From" } th scope="col" { "Note" } th scope="col" { "Confidence" } } }
                tbody {
                    @for c in p.check_ins.iter().take(LISTED_CHECK_INS) {
                        tr {
                            td { (instant(c.check_in.observed_at)) }
                            td.num { (with_unit(c.check_in.value, unit)) @if let Some(h) = c.hold { " " span.st.no_data { (hold_word(h)) } } }
                            td { (provenance(c)) }
                            td { @if let Some(n) = &c.check_in.note { (n) } }
                            td.num { @if let Some(x) = c.check_in.confidence { (percent(x)) } }
                        }
                    }
                }
            }
            @if p.check_ins.len() > LISTED_CHECK_INS {
                p.muted { "The latest " (LISTED_CHECK_INS) " of " (p.check_ins.len()) " in this period; the REST API pages through all of them." }
            }
        }
    }
}

/// Where a check-in came from, in words.
fn provenance(c: &StoredCheckIn) -> String {
    let origin = &c.check_in.origin.0;
    let said = if let Some(source) = origin.strip_prefix(crate::okr::SOURCE_PREFIX) {
        format!("source {source}")
    } else if let Some(source) = origin.strip_prefix(crate::okr::BACKFILL_PREFIX) {
        format!("backfill from {source}")
    } else if let Some(who) = origin.strip_prefix("manual:") {
        format!("manual, by {who}")
    } else {
        origin.clone()
    };
    if c.is_override {
        format!("{said} (override)")
    } else {
        said
    }
}

fn hold_word(h: Hold) -> &'static str {
    match h {
        Hold::Held => "held",
        Hold::Superseded => "held, superseded",
        Hold::Dismissed => "dismissed",
        Hold::Confirmed => "confirmed",
        Hold::Accepted => "accepted",
    }
}

fn review_history(reviews: &[Review]) -> Markup {
    html! {
        h2 #reviews-title { "Review history" }
        @if reviews.is_empty() {
            p { "Not reviewed: it came from an OKR file or is still a draft." }
        } @else {
            ol aria-labelledby="reviews-title" {
                @for r in reviews.iter().rev() {
                    li {
                        strong { (r.action.replace('_', " ")) } " by " (r.actor) ", " (instant(r.at))
                        " (" (r.from.as_str()) " → " (r.to.as_str()) ")"
                        @if let Some(c) = &r.comment { blockquote { (c) } }
                    }
                }
            }
        }
    }
}

pub fn action_label(a: Action) -> &'static str {
    match a {
        Action::Propose => "Propose for review",
        Action::Approve => "Approve",
        Action::RequestChanges => "Request changes",
        Action::Reject => "Reject",
        Action::Archive => "Archive",
    }
}

/// The message after a form succeeded; only these words, so an address
/// cannot make the page say anything else.
pub fn done_message(done: &str) -> Option<&'static str> {
    Some(match done {
        "created" => "Draft saved. Propose it when it is ready for review.",
        "edited" => "Changes saved.",
        "propose" => "Proposed: a leader will review it.",
        "approve" => "Approved: it counts from now on.",
        "request-changes" => "Sent back to its team for changes.",
        "reject" => "Rejected.",
        "archive" => "Archived.",
        "checked-in" => "Check-in recorded.",
        "accept" => "The held value was accepted and counts now.",
        "dismiss" => "The held value was dismissed.",
        _ => return None,
    })
}
