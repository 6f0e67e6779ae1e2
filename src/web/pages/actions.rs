//! The forms on a KR's page and in the review queue: workflow actions, a
//! manual check-in, accepting or dismissing a held value. Each is the REST
//! API's own request (`api_call`); on success the browser is sent back to
//! the page (303, so a reload does not send the form again), on refusal
//! the page is shown again with the API's reasons.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::super::WebState;
use super::super::api_call::{self, segment};
use super::forms::{Form, Kind, Problems, json_of};
use super::{key_result, review};

/// The workflow actions a form may ask for, as the API's paths.
const ACTIONS: [&str; 5] = ["propose", "approve", "request-changes", "reject", "archive"];

/// `POST /key-results/{id}/workflow`: `action` and an optional `comment`;
/// `back=review` returns to the review queue.
pub async fn workflow(State(s): State<WebState>, Path(id): Path<String>, form: Form) -> Response {
    let Some(action) = form
        .get("action")
        .and_then(|a| ACTIONS.into_iter().find(|x| *x == a))
    else {
        let problems = Problems::general(
            "Choose an action: propose, approve, request changes, reject or archive.",
        );
        return refused(&s, &form, &id, &problems, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let body = match form.get("comment") {
        Some(c) => json!({ "comment": c }),
        None => json!({}),
    };
    let path = format!("/key-results/{}/{action}", segment(&id));
    let answer = api_call::call(&s.api, &form.principal, Method::POST, &path, Some(&body)).await;
    let to_review = form.get("back") == Some("review");
    if answer.ok() {
        return if to_review {
            see_other(&format!("/review?done={action}&kr={}", segment(&id)))
        } else {
            see_other(&format!("/key-results/{}?done={action}", segment(&id)))
        };
    }
    let problems = Problems::of(&answer, &["comment"]);
    if to_review {
        review::show(
            &s,
            &form.visitor,
            Some((&id, &problems)),
            None,
            answer.status,
        )
        .await
    } else {
        refused(&s, &form, &id, &problems, answer.status).await
    }
}

/// `POST /key-results/{id}/check-ins`: a manual value.
pub async fn check_in(State(s): State<WebState>, Path(id): Path<String>, form: Form) -> Response {
    let spec = [
        ("value", Kind::Number),
        ("note", Kind::Text),
        ("confidence", Kind::Number),
    ];
    let mut body = json_of(&form, &spec);
    if form.get("value").is_none() {
        // The API would say "missing field"; say it as the form does.
        let problems = Problems::field_only("value", "Enter the value to record.");
        return refused(&s, &form, &id, &problems, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    if let Value::Object(m) = &mut body {
        m.retain(|_, v| !v.is_null());
    }
    let path = format!("/key-results/{}/check-ins", segment(&id));
    let answer = api_call::call(&s.api, &form.principal, Method::POST, &path, Some(&body)).await;
    if answer.ok() {
        return see_other(&format!("/key-results/{}?done=checked-in", segment(&id)));
    }
    let problems = Problems::of(&answer, &["value", "note", "confidence"]);
    refused(&s, &form, &id, &problems, answer.status).await
}

/// `POST /key-results/{id}/held`: `check_in` and `action` (accept or dismiss).
pub async fn held(State(s): State<WebState>, Path(id): Path<String>, form: Form) -> Response {
    let action = form
        .get("action")
        .filter(|a| matches!(*a, "accept" | "dismiss"));
    let check_in = form.get("check_in").and_then(|c| c.parse::<i64>().ok());
    let (Some(action), Some(check_in)) = (action, check_in) else {
        let problems = Problems::general("Choose to accept or dismiss the held value.");
        return refused(&s, &form, &id, &problems, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let path = format!(
        "/key-results/{}/check-ins/{check_in}/{action}",
        segment(&id)
    );
    let answer = api_call::call(&s.api, &form.principal, Method::POST, &path, None).await;
    if answer.ok() {
        return see_other(&format!("/key-results/{}?done={action}", segment(&id)));
    }
    let problems = Problems::of(&answer, &[]);
    refused(&s, &form, &id, &problems, answer.status).await
}

/// The KR's page again, with why the form was refused.
async fn refused(
    s: &WebState,
    form: &Form,
    id: &str,
    problems: &Problems,
    status: StatusCode,
) -> Response {
    key_result::show(s, &form.visitor, id, Some(problems), None, status).await
}

/// 303 to `to` (a path this module built from encoded segments).
pub fn see_other(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}
