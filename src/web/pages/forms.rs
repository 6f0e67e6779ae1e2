//! What every form shares: the [`Form`] extractor (the body, read within a
//! bound, the CSRF check, a signed-in visitor), turning fields into the
//! API's JSON, and turning the API's problem back into messages next to
//! the fields they are about.

use std::collections::HashMap;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde_json::{Map, Value};

use super::super::WebState;
use super::super::api_call::ApiAnswer;
use super::super::csrf;
use super::super::session::Visitor;
use super::super::sign_in;
use super::layout::{Nav, Page};
use crate::access::Principal;

/// A form body is at most this large (a KR's description is 4000 characters).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// A posted form, read within a bound, its CSRF token checked: from any
/// visitor (signing in), or from a signed-in one (`Form`).
pub struct CheckedForm {
    pub visitor: Visitor,
    fields: Vec<(String, String)>,
}

/// A posted form from a signed-in visitor, its CSRF token checked.
pub struct Form {
    pub visitor: Visitor,
    pub principal: Principal,
    fields: Vec<(String, String)>,
}

impl CheckedForm {
    /// The field's value, trimmed; `None` when absent or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        field(&self.fields, name)
    }
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

impl Form {
    /// The field's value, trimmed; `None` when absent or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        field(&self.fields, name)
    }

    /// Every field as typed, to show the form again after an error.
    pub fn values(&self) -> HashMap<&str, &str> {
        self.fields
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }
}

impl FromRequest<WebState> for CheckedForm {
    type Rejection = Response;

    async fn from_request(req: Request, s: &WebState) -> Result<CheckedForm, Response> {
        let (mut parts, body) = req.into_parts();
        let visitor = Visitor::from_request_parts(&mut parts, s).await?;
        let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| too_large(&visitor))?;
        let fields: Vec<(String, String)> = form_urlencoded::parse(&bytes)
            .map(|(n, v)| (n.into_owned(), v.into_owned()))
            .collect();
        let token = fields
            .iter()
            .find(|(n, _)| n == csrf::FIELD)
            .map(|(_, v)| v.as_str());
        if csrf::check(&parts.headers, token).is_err() {
            return Err(csrf_refused(&visitor));
        }
        Ok(CheckedForm { visitor, fields })
    }
}

impl FromRequest<WebState> for Form {
    type Rejection = Response;

    async fn from_request(req: Request, s: &WebState) -> Result<Form, Response> {
        let CheckedForm { visitor, fields } = CheckedForm::from_request(req, s).await?;
        let Some(principal) = visitor.principal.clone() else {
            return Err(sign_in::page(
                StatusCode::UNAUTHORIZED,
                &visitor,
                Some("Sign in to do that."),
            ));
        };
        Ok(Form {
            visitor,
            principal,
            fields,
        })
    }
}

/// 403 for a form without its CSRF token (or from another site).
pub fn csrf_refused(visitor: &Visitor) -> Response {
    let body = html! {
        h1 { "Form refused" }
        p.notice role="alert" {
            "This form did not come from okrd's own page (its security token is missing or wrong), so nothing was changed. "
            "Go back, reload the page and send the form again."
        }
    };
    Page::new(visitor, "Form refused", Nav::None)
        .status(StatusCode::FORBIDDEN)
        .render(body)
}

fn too_large(visitor: &Visitor) -> Response {
    let body = html! {
        h1 { "Form too large" }
        p.notice role="alert" { "The form is larger than " (MAX_FORM_BYTES / 1024) " KiB; nothing was changed." }
    };
    Page::new(visitor, "Form too large", Nav::None)
        .status(StatusCode::PAYLOAD_TOO_LARGE)
        .render(body)
}

/// How a form field becomes a JSON member.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Text,
    /// A number when it reads as one; otherwise sent as typed, so the API
    /// says what is wrong with it.
    Number,
}

/// The JSON object of `spec`'s fields that are filled in.
pub fn json_of(form: &Form, spec: &[(&str, Kind)]) -> Value {
    let mut out = Map::new();
    for (name, kind) in spec {
        if let Some(v) = form.get(name) {
            out.insert((*name).to_string(), member(v, *kind));
        }
    }
    Value::Object(out)
}

fn member(v: &str, kind: Kind) -> Value {
    match kind {
        Kind::Text => Value::String(v.to_string()),
        Kind::Number => v
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| Value::String(v.to_string()), Value::Number),
    }
}

/// The API's objections, by form field where they name one.
#[derive(Debug, Default)]
pub struct Problems {
    pub fields: HashMap<String, String>,
    pub general: Vec<String>,
}

impl Problems {
    /// Sorts the problem in `answer` onto `fields` (the form's field names).
    pub fn of(answer: &ApiAnswer, fields: &[&str]) -> Problems {
        let mut out = Problems::default();
        let mut place = |field: Option<&str>, message: String| match field
            .map(|f| f.split('.').next().unwrap_or(f))
            .filter(|f| fields.contains(f))
        {
            Some(f) => {
                out.fields.entry(f.to_string()).or_insert(message);
            }
            None => out.general.push(message),
        };
        let violations = answer.body["violations"].as_array();
        for v in violations.into_iter().flatten() {
            let message = v["message"]
                .as_str()
                .unwrap_or("a rule is broken")
                .to_string();
            place(v["field"].as_str(), message);
        }
        if violations.is_none_or(Vec::is_empty) {
            let detail = answer.detail();
            let field = first_quoted(&detail);
            place(field, readable(&detail));
        }
        out
    }

    /// One message above the form.
    pub fn general(message: &str) -> Problems {
        Problems {
            general: vec![message.to_string()],
            ..Problems::default()
        }
    }

    /// One message next to `field`.
    pub fn field_only(field: &str, message: &str) -> Problems {
        let mut p = Problems::default();
        p.fields.insert(field.to_string(), message.to_string());
        p
    }

    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.general.is_empty()
    }

    /// The messages that name no field, above the form.
    pub fn summary(&self) -> Markup {
        html! {
            @if !self.is_empty() {
                div.form-error role="alert" {
                    @if self.general.is_empty() {
                        p { "Please correct the fields marked below." }
                    }
                    @for m in &self.general { p { (m) } }
                }
            }
        }
    }
}

/// The API names the member at fault first, in backquotes ("`target` must…",
/// "invalid body at `due`: …").
fn first_quoted(detail: &str) -> Option<&str> {
    let start = detail.find('`')? + 1;
    let len = detail[start..].find('`')?;
    Some(&detail[start..start + len])
}

/// A JSON type error said for people: the form has no types, only text.
fn readable(detail: &str) -> String {
    if detail.contains("invalid type") && detail.contains("expected f64") {
        return "Enter a number, such as 1200 or 0.5.".into();
    }
    if (detail.contains("invalid type") || detail.contains("premature end"))
        && let Some(f) = first_quoted(detail)
    {
        return format!("`{f}` is not in the expected form.");
    }
    if detail.contains("unknown variant") {
        return "Pick one of the listed choices.".into();
    }
    detail.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(body: Value) -> ApiAnswer {
        ApiAnswer {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body,
        }
    }

    #[test]
    fn problems_land_next_to_the_field_they_name() {
        let typed = answer(
            json!({"detail": "invalid body at `target`: invalid type: string \"lots\", expected f64 at line 1 column 9"}),
        );
        let p = Problems::of(&typed, &["title", "target"]);
        assert_eq!(
            p.field("target"),
            Some("Enter a number, such as 1200 or 0.5.")
        );
        assert!(p.general.is_empty());
        let ruled = answer(json!({"detail": "x", "violations": [
            {"rule": "measurable_target", "field": "target", "message": "needs a target"},
            {"rule": "max_krs", "field": null, "message": "too many KRs"}
        ]}));
        let p = Problems::of(&ruled, &["target"]);
        assert_eq!(p.field("target"), Some("needs a target"));
        assert_eq!(p.general, vec!["too many KRs".to_string()]);
        let nested = answer(json!({"detail": "`source.use` names no configured source"}));
        assert!(Problems::of(&nested, &["source"]).field("source").is_some());
        let other = answer(json!({"detail": "you need a leader token to approve key results"}));
        let p = Problems::of(&other, &["title"]);
        assert_eq!(p.general.len(), 1);
        assert!(p.summary().into_string().contains("leader token"));
    }
}
