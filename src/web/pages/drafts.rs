//! Drafting a KR in the browser: `/key-results/new` and
//! `/key-results/{id}/edit`. The form posts to the REST API's create and
//! edit (in-process), so a draft meets exactly the API's checks; what the
//! API refuses comes back next to the field it names, with what was typed
//! kept.

use std::collections::{BTreeSet, HashMap};

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::WebState;
use super::super::api_call::{self, segment};
use super::super::session::{Reader, Visitor};
use super::actions::see_other;
use super::forms::{Form, Kind, Problems, json_of};
use super::layout::{Nav, Page, csrf_field};
use super::not_found;
use crate::access::Role;
use crate::live::Snapshot;
use crate::okr::sustain::{Comparison, Window};
use crate::okr::{KeyResult, KrKind, WorkflowState};

/// The fields sent as they are typed (texts) or as numbers.
const FIELDS: [(&str, Kind); 14] = [
    ("id", Kind::Text),
    ("objective", Kind::Text),
    ("team", Kind::Text),
    ("title", Kind::Text),
    ("owner", Kind::Text),
    ("kind", Kind::Text),
    ("start", Kind::Number),
    ("target", Kind::Number),
    ("unit", Kind::Text),
    ("due", Kind::Text),
    ("weight", Kind::Number),
    ("description", Kind::Text),
    ("comparison", Kind::Text),
    ("window", Kind::Text),
];

/// Optional members an edit may clear by leaving them empty.
const CLEARABLE: [&str; 5] = ["start", "target", "unit", "due", "description"];

const NAMES: [&str; 16] = [
    "id",
    "objective",
    "team",
    "title",
    "owner",
    "kind",
    "start",
    "target",
    "unit",
    "due",
    "weight",
    "description",
    "comparison",
    "window",
    "required",
    "source",
];

#[derive(Debug, Default, Deserialize)]
pub struct NewQuery {
    pub objective: Option<String>,
}

/// Whether the form makes a KR or changes one.
#[derive(Clone, Copy)]
enum Mode<'a> {
    New,
    Edit(&'a KeyResult),
}

pub async fn new_form(
    State(s): State<WebState>,
    Reader(v): Reader,
    Query(q): Query<NewQuery>,
) -> Response {
    let mut values: HashMap<String, String> = HashMap::new();
    if let Some(p) = &v.principal {
        values.insert("owner".into(), p.name.clone());
        if let Some(team) = &p.team {
            values.insert("team".into(), team.clone());
        }
    }
    if let Some(o) = q.objective {
        values.insert("objective".into(), o);
    }
    values.insert("kind".into(), "increase".into());
    form_page(
        &s,
        &v,
        Mode::New,
        &values,
        &Problems::default(),
        StatusCode::OK,
    )
}

pub async fn edit_form(
    State(s): State<WebState>,
    Reader(v): Reader,
    Path(id): Path<String>,
) -> Response {
    let snapshot = s.live.fresh_snapshot();
    let Some(kr) = snapshot.index.current.key_results.get(&id) else {
        return not_found(&v, "key result", &id);
    };
    let values = values_of(&kr.item);
    form_page(
        &s,
        &v,
        Mode::Edit(&kr.item),
        &values,
        &Problems::default(),
        StatusCode::OK,
    )
}

/// `POST /key-results`: a new draft through `POST /api/v1/key-results`.
pub async fn create(State(s): State<WebState>, form: Form) -> Response {
    let mut body = json_of(&form, &FIELDS);
    extras(&form, &mut body, None);
    let answer = api_call::call(
        &s.api,
        &form.principal,
        Method::POST,
        "/key-results",
        Some(&body),
    )
    .await;
    let id = form.get("id").unwrap_or_default();
    if answer.ok() {
        return see_other(&format!("/key-results/{}?done=created", segment(id)));
    }
    let problems = Problems::of(&answer, &NAMES);
    let values = typed(&form);
    form_page(
        &s,
        &form.visitor,
        Mode::New,
        &values,
        &problems,
        answer.status,
    )
}

/// `POST /key-results/{id}/edit`: the changes through `PATCH /api/v1/key-results/{id}`.
pub async fn update(State(s): State<WebState>, Path(id): Path<String>, form: Form) -> Response {
    let snapshot = s.live.fresh_snapshot();
    let Some(kr) = snapshot.index.current.key_results.get(&id) else {
        return not_found(&form.visitor, "key result", &id);
    };
    let spec: Vec<(&str, Kind)> = FIELDS.iter().copied().filter(|(n, _)| *n != "id").collect();
    let mut body = json_of(&form, &spec);
    if let Value::Object(m) = &mut body {
        for name in CLEARABLE {
            m.entry(name).or_insert(Value::Null);
        }
    }
    extras(&form, &mut body, Some(&kr.item));
    let path = format!("/key-results/{}", segment(&id));
    let answer = api_call::call(&s.api, &form.principal, Method::PATCH, &path, Some(&body)).await;
    if answer.ok() {
        return see_other(&format!("/key-results/{}?done=edited", segment(&id)));
    }
    let problems = Problems::of(&answer, &NAMES);
    let values = typed(&form);
    form_page(
        &s,
        &form.visitor,
        Mode::Edit(&kr.item),
        &values,
        &problems,
        answer.status,
    )
}

/// The members that are not plain fields: the source binding (only when it
/// changes, so an edit keeps its params) and a sustain KR's rule.
fn extras(form: &Form, body: &mut Value, before: Option<&KeyResult>) {
    let Value::Object(m) = body else { return };
    let chosen = form.get("source");
    let was = before
        .and_then(|k| k.source.as_ref())
        .map(|s| s.source.as_str());
    if before.is_none() || chosen != was {
        match chosen {
            Some(name) => {
                m.insert("source".into(), json!({ "use": name }));
            }
            None if before.is_some() => {
                m.insert("source".into(), Value::Null);
            }
            None => {}
        }
    }
    let sustain = form.get("kind") == Some(KrKind::Sustain.as_str());
    if sustain {
        if let Some(r) = form.get("required") {
            let n = r
                .parse::<u64>()
                .map_or_else(|_| Value::String(r.into()), Value::from);
            m.insert("required".into(), n);
        }
    } else {
        // The sustain members belong to sustain KRs only.
        for name in ["comparison", "window"] {
            m.remove(name);
        }
    }
}

fn typed(form: &Form) -> HashMap<String, String> {
    form.values()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn values_of(k: &KeyResult) -> HashMap<String, String> {
    let mut v = HashMap::new();
    let mut put = |name: &str, value: Option<String>| {
        if let Some(x) = value {
            v.insert(name.to_string(), x);
        }
    };
    put("objective", Some(k.objective.clone()));
    put("team", Some(k.team.clone()));
    put("title", Some(k.title.clone()));
    put("owner", Some(k.owner.clone()));
    put("kind", Some(k.kind.as_str().into()));
    put("start", k.start.map(|x| x.to_string()));
    put("target", k.target.map(|x| x.to_string()));
    put("unit", k.unit.clone());
    put("due", k.due.map(|d| d.to_string()));
    put("weight", Some(k.weight.to_string()));
    put("description", k.description.clone());
    put("source", k.source.as_ref().map(|s| s.source.clone()));
    if let Some(s) = &k.sustain {
        put("comparison", Some(s.comparison.as_str().into()));
        put("window", Some(s.window.as_str().into()));
        put("required", Some(s.required.to_string()));
    }
    v
}

fn form_page(
    s: &WebState,
    v: &Visitor,
    mode: Mode<'_>,
    values: &HashMap<String, String>,
    problems: &Problems,
    status: StatusCode,
) -> Response {
    let snapshot = s.live.fresh_snapshot();
    let title = match mode {
        Mode::New => "New key result".to_string(),
        Mode::Edit(k) => format!("Edit {}", k.title),
    };
    let body = if v.is_at_least(Role::Member) {
        render(&snapshot, &s.rules.sources, v, mode, values, problems)
    } else {
        html! { h1 { (title) } p.notice { "Drafting key results needs a member, leader or admin token; you are signed in with a viewer token or not at all." } }
    };
    let nav = match mode {
        Mode::New => Nav::NewKeyResult,
        Mode::Edit(_) => Nav::None,
    };
    Page::new(v, title, nav)
        .waiting(&snapshot)
        .status(status)
        .render(body)
}

fn render(
    snapshot: &Snapshot,
    sources: &BTreeSet<String>,
    v: &Visitor,
    mode: Mode<'_>,
    values: &HashMap<String, String>,
    problems: &Problems,
) -> Markup {
    let value = |name: &str| values.get(name).map(String::as_str).unwrap_or("");
    let current = &snapshot.index.current;
    let (action, heading) = match mode {
        Mode::New => ("/key-results".to_string(), "New key result".to_string()),
        Mode::Edit(k) => (
            format!("/key-results/{}/edit", k.id),
            format!("Edit {}", k.title),
        ),
    };
    let editable = match mode {
        Mode::New => true,
        Mode::Edit(k) => matches!(
            k.state,
            WorkflowState::Draft | WorkflowState::ChangesRequested
        ),
    };
    let field = |name: &str, label: &str, hint: &str, input: Markup| -> Markup {
        let error = problems.field(name);
        html! {
            div.field {
                label for=(name) { (label) @if !hint.is_empty() { " " span.hint { (hint) } } }
                (input)
                @if let Some(e) = error { p.field-error #{ (name) "-error" } { (e) } }
            }
        }
    };
    let invalid = |name: &str| problems.field(name).map(|_| "true");
    let described = |name: &str| problems.field(name).map(|_| format!("{name}-error"));
    let text = |name: &str, required: bool| {
        html! {
            input #(name) name=(name) type="text" value=(value(name)) required[required]
                aria-invalid=[invalid(name)] aria-describedby=[described(name)];
        }
    };
    let number = |name: &str| {
        html! {
            input #(name) name=(name) type="text" inputmode="decimal" value=(value(name))
                aria-invalid=[invalid(name)] aria-describedby=[described(name)];
        }
    };
    let select = |name: &str, choices: Vec<(String, String)>, blank: Option<&str>| {
        html! {
            select #(name) name=(name) aria-invalid=[invalid(name)] aria-describedby=[described(name)] {
                @if let Some(b) = blank { option value="" { (b) } }
                @for (val, label) in &choices { option value=(val) selected[value(name) == val] { (label) } }
            }
        }
    };
    let objectives: Vec<(String, String)> = current
        .objectives
        .values()
        .filter(|o| !o.item.archived)
        .map(|o| {
            (
                o.item.id.clone(),
                format!("{} ({}, {})", o.item.title, o.item.period, o.item.team),
            )
        })
        .collect();
    let teams: Vec<(String, String)> = current
        .teams
        .values()
        .filter(|t| v.acts_for(&t.item.id))
        .map(|t| (t.item.id.clone(), t.item.name.clone()))
        .collect();
    let kinds: Vec<(String, String)> = KrKind::ALL
        .iter()
        .map(|k| (k.as_str().to_string(), k.as_str().replace('_', " ")))
        .collect();
    let comparisons: Vec<(String, String)> = Comparison::ALL
        .iter()
        .map(|c| (c.as_str().to_string(), c.as_str().replace('_', " ")))
        .collect();
    let windows: Vec<(String, String)> = Window::ALL
        .iter()
        .map(|w| (w.as_str().to_string(), w.as_str().to_string()))
        .collect();
    let source_choices: Vec<(String, String)> =
        sources.iter().map(|s| (s.clone(), s.clone())).collect();
    html! {
        h1 { (heading) }
        @if !editable {
            p.notice { "Only drafts and key results sent back for changes can be edited here." }
        }
        (problems.summary())
        form.stack method="post" action=(action) novalidate {
            (csrf_field(v))
            @if let Mode::New = mode {
                (field("id", "Id", "(letters, digits, . _ -; it names the KR in URLs and metrics)", text("id", true)))
            }
            (field("title", "Title", "", text("title", true)))
            (field("objective", "Objective", "", select("objective", objectives, Some("Choose an objective"))))
            (field("team", "Team", "", select("team", teams, Some("Choose a team"))))
            (field("owner", "Owner", "(who answers for it)", text("owner", false)))
            (field("kind", "Kind", "(increase and decrease move from start to target; at least / at most hold a threshold)", select("kind", kinds, None)))
            (field("start", "Start", "(the baseline)", number("start")))
            (field("target", "Target", "", number("target")))
            (field("unit", "Unit", "(such as visits or %)", text("unit", false)))
            (field("due", "Due", "(milestones: YYYY-MM-DD)", text("due", false)))
            (field("weight", "Weight", "(its share of the objective's progress; default 1)", number("weight")))
            (field("source", "Source", "(leave empty for manual check-ins)", select("source", source_choices, Some("No source: manual check-ins"))))
            fieldset {
                legend { "Sustain key results only" }
                (field("comparison", "The level must be", "", select("comparison", comparisons, Some("–"))))
                (field("window", "In each", "", select("window", windows, Some("–"))))
                (field("required", "Windows required", "", number("required")))
            }
            div.field {
                label for="description" { "Description " span.hint { "(optional)" } }
                textarea #description name="description" rows="3" maxlength="4000" aria-invalid=[invalid("description")] aria-describedby=[described("description")] { (value("description")) }
                @if let Some(e) = problems.field("description") { p.field-error #description-error { (e) } }
            }
            p.actions {
                button type="submit" { @if let Mode::New = mode { "Save draft" } @else { "Save changes" } }
                @if let Mode::Edit(k) = mode { a href={ "/key-results/" (k.id) } { "Cancel" } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sent_field_can_carry_an_error() {
        for (name, _) in FIELDS {
            assert!(NAMES.contains(&name), "{name}");
        }
    }
}
