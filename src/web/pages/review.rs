//! `/review`: the leaders' queue of proposed KRs, oldest first, each with
//! what the OKR rules say about it (the same findings the API returns as
//! warnings) and a form to approve, request changes or reject it with a
//! comment.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::super::WebState;
use super::super::session::{Reader, Visitor};
use super::cache::PageCache;
use super::format::{number, with_unit};
use super::forms::Problems;
use super::key_result::done_message;
use super::layout::{Nav, Page, csrf_field};
use crate::access::Role;
use crate::live::{Snapshot, set_of};
use crate::okr::validate::{self, Finding, Severity};
use crate::okr::{EntityKind, KeyResult, WorkflowState};
use crate::reload::RuleContext;

#[derive(Debug, Default, Deserialize)]
pub struct Shown {
    pub done: Option<String>,
    /// The KR the last form was about.
    pub kr: Option<String>,
}

pub async fn page(
    State(s): State<WebState>,
    Reader(v): Reader,
    Query(q): Query<Shown>,
) -> Response {
    let done = q
        .done
        .as_deref()
        .and_then(done_message)
        .map(|m| (q.kr.unwrap_or_default(), m));
    let done = done.as_ref().map(|(kr, m)| (kr.as_str(), *m));
    show(&s, &v, None, done, StatusCode::OK).await
}

/// The queue; `failed` is the KR whose form the API refused, with why.
pub async fn show(
    s: &WebState,
    v: &Visitor,
    failed: Option<(&str, &Problems)>,
    done: Option<(&str, &str)>,
    status: StatusCode,
) -> Response {
    let snapshot = s.live.fresh_snapshot();
    let body = if v.is_at_least(Role::Leader) {
        render(&snapshot, &s.rules, &s.pages, v, failed, done)
    } else {
        html! {
            h1 { "Review" }
            p.notice { "The review queue is for leaders and admins. Members propose key results from their page." }
        }
    };
    let status = if v.is_at_least(Role::Leader) {
        status
    } else {
        StatusCode::FORBIDDEN
    };
    Page::new(v, "Review", Nav::Review)
        .waiting(&snapshot)
        .status(status)
        .render(body)
}

pub fn render(
    snapshot: &Snapshot,
    rules: &RuleContext,
    cache: &PageCache,
    v: &Visitor,
    failed: Option<(&str, &Problems)>,
    done: Option<(&str, &str)>,
) -> Markup {
    let current = &snapshot.index.current;
    let mut proposed: Vec<&KeyResult> = current
        .key_results
        .values()
        .map(|k| &k.item)
        .filter(|k| k.state == WorkflowState::Proposed)
        .collect();
    proposed.sort_by(|a, b| a.id.cmp(&b.id));
    let findings: Arc<[Finding]> = if proposed.is_empty() {
        Arc::new([])
    } else {
        cache.findings_of(&snapshot.index, || {
            rules.with(|ctx| validate::check(&set_of(current), ctx))
        })
    };
    let by_entity = group(&findings);
    html! {
        h1 { "Review" }
        @if let Some((kr, message)) = done {
            p.flash role="status" { (message) " (" a href={ "/key-results/" (kr) } { (kr) } ")" }
        }
        @if proposed.is_empty() {
            p { "Nothing waits for review." }
        } @else {
            p.muted {
                @if proposed.len() == 1 { "1 proposed key result waits for review." }
                @else { (proposed.len()) " proposed key results wait for review." }
            }
        }
        @for k in proposed {
            (proposal(snapshot, v, k, &by_entity, failed.filter(|(id, _)| *id == k.id).map(|(_, p)| p)))
        }
    }
}

/// Findings by the entity they are about.
fn group(findings: &[Finding]) -> HashMap<(EntityKind, &str), Vec<&Finding>> {
    let mut out: HashMap<(EntityKind, &str), Vec<&Finding>> = HashMap::new();
    for f in findings {
        out.entry((f.entity.0, f.entity.1.as_str()))
            .or_default()
            .push(f);
    }
    out
}

fn proposal(
    snapshot: &Snapshot,
    v: &Visitor,
    k: &KeyResult,
    findings: &HashMap<(EntityKind, &str), Vec<&Finding>>,
    problems: Option<&Problems>,
) -> Markup {
    let objective = snapshot.index.current.objectives.get(&k.objective);
    // What the rules say of the KR itself, its objective and its team.
    let said: Vec<&Finding> = [
        (EntityKind::KeyResult, k.id.as_str()),
        (EntityKind::Objective, k.objective.as_str()),
        (EntityKind::Team, k.team.as_str()),
    ]
    .iter()
    .flat_map(|key| findings.get(key).into_iter().flatten().copied())
    .collect();
    let comment_id = format!("comment-{}", k.id);
    html! {
        article.proposal data-kr=(k.id) aria-labelledby={ "proposal-" (k.id) } {
            h2 #{ "proposal-" (k.id) } { a href={ "/key-results/" (k.id) } { (k.title) } }
            dl.facts {
                dt { "Team" } dd { (k.team) }
                dt { "Objective" } dd { @if let Some(o) = objective { (o.item.title) } @else { (k.objective) } }
                dt { "Owner" } dd { (k.owner) }
                dt { "Measure" } dd {
                    (k.kind.as_str().replace('_', " "))
                    @if let Some(s) = k.start { " from " (with_unit(s, k.unit.as_deref())) }
                    @if let Some(t) = k.target { " to " (with_unit(t, k.unit.as_deref())) }
                    @if (k.weight - 1.0).abs() > f64::EPSILON { ", weight " (number(k.weight)) }
                }
                dt { "Source" } dd { @match &k.source { Some(s) => { (s.source) }, None => { "manual check-ins" } } }
            }
            @if said.is_empty() {
                p.muted { "The OKR rules raise nothing about it." }
            } @else {
                ul aria-label="What the OKR rules say" {
                    @for f in &said {
                        li.warning { strong { @if f.severity == Severity::Error { "Breaks " } @else { "Warning: " } (f.rule) } ": " (f.message) }
                    }
                }
            }
            @if let Some(p) = problems { (p.summary()) }
            form.stack method="post" action={ "/key-results/" (k.id) "/workflow" } {
                (csrf_field(v))
                input type="hidden" name="back" value="review";
                label for=(comment_id) { "Comment " span.hint { "(required to request changes or reject)" }
                    textarea #(comment_id) name="comment" rows="2" maxlength="2000"
                        aria-invalid=[problems.and_then(|p| p.field("comment")).map(|_| "true")] {}
                }
                @if let Some(e) = problems.and_then(|p| p.field("comment")) { p.field-error { (e) } }
                div.actions {
                    button type="submit" name="action" value="approve" { "Approve" }
                    button.secondary type="submit" name="action" value="request-changes" { "Request changes" }
                    button.secondary type="submit" name="action" value="reject" { "Reject" }
                }
            }
        }
    }
}
