//! What the REST API does with input it cannot use, on SQLite and
//! PostgreSQL: every malformed, mistyped, oversized or absurd request gets
//! a 4xx problem+json saying what is wrong, and the database is left as it
//! was. Plus pagination, idempotent check-ins and the OpenAPI document.

use serde_json::{Value, json};

use crate::support::api::{self, Api, Options, kr_body, start};
use crate::support::backends;

/// A bad request: method, path, content type, body, the status and what its detail says.
type Case<'a> = (&'a str, &'a str, Option<&'a str>, String, u16, &'a str);

/// A source with a credential, whose KRs may add params but not move it.
const HOOKS_SOURCE: &str = r#"
[[sources]]
name = "hooks"
connector = "http_json"
[sources.params]
url = "http://127.0.0.1:9/hooks"
value = "$.v"
headers = { Authorization = "Bearer not-for-strangers" }
"#;

async fn daemon(db: &backends::TestDb) -> Api {
    // Nothing is fetched in these tests: the sources point nowhere.
    start(
        db,
        Options {
            source_url: "http://127.0.0.1:9/stats",
            extra_config: HOOKS_SOURCE,
        },
    )
    .await
}

/// Everything stored, as text: the model with its timestamps, the latest
/// check-ins, the audit log and a KR's reviews.
async fn stored(api: &Api) -> String {
    let current = api.store.load_current().await.unwrap();
    let latest = api.store.latest_check_ins().await.unwrap();
    let audit = api
        .store
        .audit_log(&okrd::store::AuditQuery {
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap();
    let reviews = api.store.reviews("resets").await.unwrap();
    format!("{current:?}\n{latest:?}\n{audit:?}\n{reviews:?}")
}

#[tokio::test]
async fn bad_input_gets_a_4xx_problem_and_stores_nothing() {
    for db in backends::databases().await {
        let api = daemon(&db).await;
        let b = api.backend;
        let (auth, leader) = (api.tokens.auth.clone(), api.tokens.leader.clone());
        api.approved_kr(
            &auth,
            kr_body("resets", "opex", "auth", "dana@acme.example"),
        )
        .await;
        let mut milestone = kr_body("launch", "opex", "auth", "dana@acme.example");
        milestone["kind"] = json!("milestone");
        milestone["due"] = json!("2026-12-15");
        milestone
            .as_object_mut()
            .unwrap()
            .retain(|k, _| !["start", "target"].contains(&k.as_str()));
        api.approved_kr(&auth, milestone).await;
        let before = stored(&api).await;

        let long = |n: usize| "x".repeat(n);
        let kr = |patch: Value| {
            let mut body = kr_body("new-kr", "opex", "auth", "dana@acme.example");
            for (k, v) in patch.as_object().unwrap() {
                body[k] = v.clone();
            }
            body.to_string()
        };
        let json_ct = Some("application/json");
        let cases: Vec<Case> = vec![
            (
                "POST",
                "/key-results",
                json_ct,
                r#"{"id": "x", "#.into(),
                400,
                "not valid JSON",
            ),
            (
                "POST",
                "/key-results",
                json_ct,
                "[1, 2]".into(),
                422,
                "invalid type",
            ),
            (
                "POST",
                "/key-results",
                json_ct,
                "".into(),
                400,
                "needs a JSON body",
            ),
            (
                "POST",
                "/key-results",
                Some("text/plain"),
                kr(json!({})),
                415,
                "must be JSON",
            ),
            (
                "POST",
                "/key-results",
                None,
                kr(json!({})),
                415,
                "no Content-Type",
            ),
            (
                "POST",
                "/key-results",
                json_ct,
                kr(json!({"colour": "blue"})),
                422,
                "unknown field `colour`",
            ),
            (
                "POST",
                "/key-results",
                json_ct,
                kr(json!({"target": "lots"})),
                422,
                "invalid type",
            ),
            (
                "POST",
                "/key-results",
                json_ct,
                kr(json!({"kind": "more"})),
                422,
                "unknown variant `more`",
            ),
            (
                "POST",
                "/key-results",
                json_ct,
                kr(json!({"due": "2026-13-01"})),
                422,
                "due",
            ),
            (
                "POST",
                "/key-results",
                json_ct,
                kr(json!({"id": null})),
                422,
                "invalid type: null",
            ),
            (
                "POST",
                "/key-results",
                json_ct,
                kr(json!({"target": 1e300})),
                422,
                "finite number between",
            ),
            (
                "POST",
                "/key-results",
                json_ct,
                kr(json!({})).replace("100", "1e999"),
                400,
                "number out of range",
            ),
            (
                "POST",
                "/key-results",
                json_ct,
                kr(json!({"weight": 0})),
                422,
                "`weight`",
            ),
            (
                "POST",
                "/key-results",
                json_ct,
                kr(json!({"weight": -1})),
                422,
                "`weight`",
            ),
            (
                "POST",
                "/key-results",
                json_ct,
                kr(json!({"id": long(129)})),
                422,
                "longer than 128",
            ),
            (
                "POST",
                "/key-results",
                json_ct,
                kr(json!({"id": "has space"})),
                422,
                "not a valid id",
            ),
            (
                "POST",
                "/key-results",
                json_ct,
                kr(json!({"title": long(201)})),
                422,
                "the most is 200",
            ),
            (
                "POST",
                "/key-results",
                json_ct,
                kr(json!({"title": "  "})),
                422,
                "must not be empty",
            ),
            (
                "POST",
                "/key-results",
                json_ct,
                kr(json!({"title": "a\u{7}b"})),
                422,
                "control character",
            ),
            (
                "POST",
                "/key-results",
                json_ct,
                kr(json!({"description": long(4001)})),
                422,
                "the most is 4000",
            ),
            (
                "POST",
                "/key-results",
                json_ct,
                kr(json!({"objective": "nope"})),
                422,
                "objective `nope` does not exist",
            ),
            (
                "POST",
                "/key-results",
                json_ct,
                kr(json!({"parent": "nope"})),
                422,
                "does not exist",
            ),
            (
                "POST",
                "/key-results",
                json_ct,
                kr(json!({"source": {"use": "webb"}})),
                422,
                "did you mean `web`",
            ),
            (
                "POST",
                "/key-results",
                json_ct,
                kr(json!({"source": {"use": "web", "schedule": "every day"}})),
                422,
                "invalid schedule",
            ),
            (
                "POST",
                "/key-results",
                json_ct,
                kr(json!({"source": {"use": "web", "params": {"url": "http://evil"}}})),
                422,
                "set by source `web`'s config",
            ),
            (
                "POST",
                "/key-results",
                json_ct,
                kr(json!({"source": {"use": "hooks", "params": {"url": "http://evil"}}})),
                422,
                "param `url` is set by source `hooks`'s config",
            ),
            (
                "POST",
                "/key-results",
                json_ct,
                kr(json!({"source": {"use": "hooks", "params": {"reduc": "sum"}}})),
                422,
                "unknown param `reduc`; did you mean `reduce`?",
            ),
            (
                "POST",
                "/key-results",
                json_ct,
                kr(json!({"id": "resets"})),
                409,
                "already exists",
            ),
            (
                "PATCH",
                "/key-results/nope",
                json_ct,
                "{}".into(),
                404,
                "`nope` does not exist",
            ),
            (
                "PATCH",
                "/key-results/resets",
                json_ct,
                r#"{"title": null}"#.into(),
                422,
                "invalid type: null",
            ),
            (
                "PATCH",
                "/key-results/resets",
                json_ct,
                r#"{"start": 5, "target": 5}"#.into(),
                422,
                "equal to `target`",
            ),
            (
                "PATCH",
                "/key-results/resets",
                json_ct,
                r#"{"parent": "resets"}"#.into(),
                422,
                "its own parent",
            ),
            (
                "POST",
                "/key-results/nope/propose",
                None,
                "".into(),
                404,
                "does not exist",
            ),
            (
                "POST",
                "/key-results/resets/propose",
                json_ct,
                r#"{"note": "x"}"#.into(),
                422,
                "unknown field `note`",
            ),
            (
                "POST",
                "/key-results/resets/check-ins",
                json_ct,
                r#"{"value": 1e16}"#.into(),
                422,
                "finite number between",
            ),
            (
                "POST",
                "/key-results/resets/check-ins",
                json_ct,
                r#"{}"#.into(),
                422,
                "missing field `value`",
            ),
            (
                "POST",
                "/key-results/resets/check-ins",
                json_ct,
                r#"{"value": "1"}"#.into(),
                422,
                "invalid type",
            ),
            (
                "POST",
                "/key-results/resets/check-ins",
                json_ct,
                r#"{"value": 1, "confidence": 1.5}"#.into(),
                422,
                "`confidence`",
            ),
            (
                "POST",
                "/key-results/resets/check-ins",
                json_ct,
                json!({"value": 1, "note": long(2001)}).to_string(),
                422,
                "the most is 2000",
            ),
            (
                "POST",
                "/key-results/resets/check-ins",
                json_ct,
                r#"{"value": 1, "observed_at": "2030-01-01T00:00:00Z"}"#.into(),
                422,
                "in the future",
            ),
            (
                "POST",
                "/key-results/resets/check-ins",
                json_ct,
                r#"{"value": 1, "observed_at": "yesterday"}"#.into(),
                422,
                "observed_at",
            ),
            (
                "POST",
                "/key-results/launch/check-ins",
                json_ct,
                r#"{"value": 5}"#.into(),
                422,
                "milestone value must be 0",
            ),
            (
                "POST",
                "/key-results/nope/check-ins",
                json_ct,
                r#"{"value": 1}"#.into(),
                404,
                "does not exist",
            ),
            (
                "POST",
                "/key-results/new-kr/check-ins",
                json_ct,
                r#"{"value": 1}"#.into(),
                404,
                "does not exist",
            ),
            (
                "POST",
                "/objectives",
                json_ct,
                json!({"id": "o9", "title": "T", "period": "2099", "team": "acme"}).to_string(),
                422,
                "period `2099` does not exist",
            ),
            (
                "POST",
                "/objectives",
                json_ct,
                json!({"id": "opex", "title": "T", "period": "2026-Q4", "team": "acme"})
                    .to_string(),
                409,
                "already exists",
            ),
            (
                "POST",
                "/teams",
                json_ct,
                json!({"id": "t9", "name": "T", "parent": "nobody"}).to_string(),
                422,
                "parent team `nobody` does not exist",
            ),
            (
                "POST",
                "/periods",
                json_ct,
                json!({"id": "p9", "start": "2027-03-31", "end": "2027-01-01"}).to_string(),
                422,
                "before it starts",
            ),
            (
                "POST",
                "/periods",
                json_ct,
                json!({"id": "p9", "start": "2026-01-01", "end": "+262142-12-31"}).to_string(),
                422,
                "dates go from 1970 to 9999",
            ),
            (
                "PATCH",
                "/key-results/launch",
                json_ct,
                r#"{"due": "+262142-12-31"}"#.into(),
                422,
                "out of range",
            ),
            (
                "POST",
                "/key-results/resets/check-ins",
                json_ct,
                r#"{"value": 1, "observed_at": "1900-01-01T00:00:00Z"}"#.into(),
                422,
                "before 1970",
            ),
            (
                "GET",
                "/key-results?limit=abc",
                None,
                "".into(),
                400,
                "limit",
            ),
            (
                "GET",
                "/key-results?limit=501",
                None,
                "".into(),
                400,
                "between 1 and 500",
            ),
            (
                "GET",
                "/key-results?colour=blue",
                None,
                "".into(),
                400,
                "unknown field `colour`",
            ),
            (
                "GET",
                "/key-results?state=done",
                None,
                "".into(),
                400,
                "unknown variant `done`",
            ),
            (
                "GET",
                "/key-results?cursor=%%%",
                None,
                "".into(),
                400,
                "invalid",
            ),
            (
                "GET",
                "/key-results/resets/check-ins?from=yesterday",
                None,
                "".into(),
                400,
                "from",
            ),
            (
                "GET",
                "/key-results/resets/check-ins?cursor=bm9wZQ",
                None,
                "".into(),
                400,
                "invalid cursor",
            ),
            (
                "GET",
                "/teams/auth/summary?period=2099",
                None,
                "".into(),
                404,
                "period `2099`",
            ),
            ("GET", "/nowhere", None, "".into(), 404, "no such endpoint"),
            (
                "DELETE",
                "/key-results/resets",
                None,
                "".into(),
                405,
                "does not take DELETE",
            ),
        ];
        for (method, path, content_type, body, status, detail) in cases {
            let token = if method == "PATCH"
                || ["/objectives", "/teams", "/periods"]
                    .iter()
                    .any(|p| path.starts_with(p))
            {
                &leader
            } else {
                &auth
            };
            let r = api
                .raw(method, path, Some(token), content_type, body.clone())
                .await;
            assert_eq!(
                r.status, status,
                "{b}: {method} {path} {body:.200}: {:#}",
                r.body
            );
            assert_eq!(
                r.content_type, "application/problem+json",
                "{b}: {method} {path}"
            );
            let d = r.body["detail"].as_str().unwrap_or_default();
            assert!(
                d.contains(detail),
                "{b}: {method} {path} {body:.200}: {d:?} lacks {detail:?}"
            );
        }

        // Over a MiB is refused before it is parsed.
        let big = json!({"value": 1, "note": "x".repeat(1024 * 1024)}).to_string();
        api.raw(
            "POST",
            "/key-results/resets/check-ins",
            Some(&auth),
            json_ct,
            big,
        )
        .await
        .problem(413, "larger than 1024 KiB");
        // A header that is too long for an idempotency key.
        let r = api
            .client
            .post(format!("{}/api/v1/key-results/resets/check-ins", api.base))
            .bearer_auth(&auth)
            .header("idempotency-key", "k".repeat(500))
            .json(&json!({"value": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{b}");

        assert_eq!(
            stored(&api).await,
            before,
            "{b}: a refused request changed the database"
        );
        api.stop().await;
    }
}

#[tokio::test]
async fn no_request_reveals_internals() {
    let db = backends::sqlite_db();
    let api = daemon(&db).await;
    let auth = api.tokens.auth.clone();
    // Deeply nested JSON, odd unicode, huge numbers as ids: never a 500.
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let r = api
        .raw(
            "POST",
            "/key-results",
            Some(&auth),
            Some("application/json"),
            nested,
        )
        .await;
    assert!((400..500).contains(&r.status), "{:#}", r.body);
    assert_eq!(r.content_type, "application/problem+json");
    for id in [
        "%00",
        "..%2F..%2Fetc%2Fpasswd",
        "%F0%9F%92%A9",
        "%FF",
        &"9".repeat(400),
    ] {
        let r = api.get(&format!("/key-results/{id}"), &auth).await;
        assert_eq!(r.status, 404, "{id}: {:#}", r.body);
        let detail = r.body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("exist"), "{id}: {detail}");
    }
    api.stop().await;
}

#[tokio::test]
async fn lists_page_with_cursors_and_filters() {
    let db = backends::sqlite_db();
    let api = daemon(&db).await;
    let (auth, growth, leader) = (
        api.tokens.auth.clone(),
        api.tokens.growth.clone(),
        api.tokens.leader.clone(),
    );
    for i in 0..4 {
        api.post(
            "/key-results",
            &auth,
            kr_body(&format!("a{i}"), "opex", "auth", "dana@acme.example"),
        )
        .await
        .expect(201);
        api.post(
            "/key-results",
            &growth,
            kr_body(&format!("g{i}"), "reach", "growth", "kim@acme.example"),
        )
        .await
        .expect(201);
    }
    api.act("/key-results/a0/propose", &auth).await.expect(200);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/key-results?period=2026-Q4&limit=3&cursor={c}"),
            None => "/key-results?period=2026-Q4&limit=3".to_string(),
        };
        let page = api.get(&path, &auth).await.expect(200);
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        seen.extend(items.iter().map(|k| k["id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["a0", "a1", "a2", "a3", "calls", "g0", "g1", "g2", "g3"]
    );

    let ids = |v: Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(api
            .get("/key-results?team=growth&limit=2", &auth)
            .await
            .expect(200)),
        ["g0", "g1"]
    );
    assert_eq!(
        ids(api
            .get("/key-results?state=proposed", &auth)
            .await
            .expect(200)),
        ["a0"]
    );
    assert_eq!(
        ids(api
            .get("/key-results?objective=opex&state=approved", &auth)
            .await
            .expect(200)),
        ["calls"]
    );
    assert_eq!(
        ids(api
            .get("/key-results?status=no_data&team=acme", &auth)
            .await
            .expect(200)),
        ["calls"]
    );
    assert!(
        ids(api
            .get("/key-results?period=2030-Q1", &auth)
            .await
            .expect(200))
        .is_empty()
    );
    assert_eq!(
        ids(api.get("/objectives?parent=opex", &auth).await.expect(200)),
        ["reach"]
    );
    assert_eq!(
        ids(api.get("/teams?parent=acme", &auth).await.expect(200)),
        ["auth", "growth"]
    );

    // A check-in history pages newest first and keeps to its time range.
    for day in 1..=5 {
        let at = format!("2026-11-0{day}T12:00:00Z");
        api.post(
            "/key-results/calls/check-ins",
            &leader,
            json!({"value": 1000 - day * 10, "observed_at": at}),
        )
        .await
        .expect(201);
    }
    let first = api
        .get("/key-results/calls/check-ins?limit=2", &auth)
        .await
        .expect(200);
    let values = |v: &Value| -> Vec<f64> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["value"].as_f64().unwrap())
            .collect()
    };
    assert_eq!(values(&first), [950.0, 960.0]);
    let c = first["next_cursor"].as_str().unwrap();
    let second = api
        .get(
            &format!("/key-results/calls/check-ins?limit=2&cursor={c}"),
            &auth,
        )
        .await
        .expect(200);
    assert_eq!(values(&second), [970.0, 980.0]);
    let ranged = api
        .get(
            "/key-results/calls/check-ins?from=2026-11-02T00:00:00Z&to=2026-11-04T00:00:00Z",
            &auth,
        )
        .await
        .expect(200);
    assert_eq!(values(&ranged), [970.0, 980.0]);
    assert_eq!(ranged["next_cursor"], Value::Null);
    // The latest observation wins, whatever order the check-ins came in.
    let kr = api.get("/key-results/calls", &auth).await.expect(200);
    assert_eq!(kr["value"], 950.0);
    api.stop().await;
}

#[tokio::test]
async fn a_retried_check_in_with_the_same_idempotency_key_is_recorded_once() {
    for db in backends::databases().await {
        let api = daemon(&db).await;
        let b = api.backend;
        let (leader, auth) = (api.tokens.leader.clone(), api.tokens.auth.clone());
        api.approved_kr(
            &auth,
            kr_body("signups", "opex", "auth", "dana@acme.example"),
        )
        .await;
        let post = |kr: &'static str, key: &'static str, value: f64| {
            api.client
                .post(format!("{}/api/v1/key-results/{kr}/check-ins", api.base))
                .bearer_auth(&leader)
                .header("idempotency-key", key)
                .json(&json!({ "value": value }))
                .send()
        };
        let first = post("calls", "week-46", 900.0).await.unwrap();
        assert_eq!(first.status(), 201, "{b}");
        let first: Value = first.json().await.unwrap();
        let again = post("calls", "week-46", 900.0).await.unwrap();
        assert_eq!(again.status(), 200, "{b}");
        let again: Value = again.json().await.unwrap();
        assert_eq!(first["check_in"]["id"], again["check_in"]["id"], "{b}");
        // The same key with another value is a mistake, not a retry.
        let other = post("calls", "week-46", 800.0).await.unwrap();
        assert_eq!(other.status(), 422, "{b}");
        // On another KR the same key is another check-in.
        let elsewhere = post("signups", "week-46", 12.0).await.unwrap();
        assert_eq!(elsewhere.status(), 201, "{b}");
        let elsewhere: Value = elsewhere.json().await.unwrap();
        assert_eq!(elsewhere["check_in"]["key_result"], "signups", "{b}");
        let count = |kr: &str| {
            let path = format!("/key-results/{kr}/check-ins");
            let api = &api;
            let leader = leader.clone();
            async move {
                let page = api.get(&path, &leader).await.expect(200);
                page["items"].as_array().unwrap().len()
            }
        };
        assert_eq!(
            (count("calls").await, count("signups").await),
            (1, 1),
            "{b}"
        );
        api.stop().await;
    }
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let db = backends::sqlite_db();
    let api = daemon(&db).await;
    // The document needs no token.
    let doc = api
        .call("GET", "/openapi.json", None, None)
        .await
        .expect(200);
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"][0]["url"], "/api/v1");
    let routes = [
        ("get", "/periods"),
        ("post", "/periods"),
        ("get", "/periods/{id}"),
        ("patch", "/periods/{id}"),
        ("get", "/teams"),
        ("post", "/teams"),
        ("get", "/teams/{id}"),
        ("patch", "/teams/{id}"),
        ("get", "/teams/{id}/summary"),
        ("get", "/objectives"),
        ("post", "/objectives"),
        ("get", "/objectives/{id}"),
        ("patch", "/objectives/{id}"),
        ("get", "/objectives/{id}/tree"),
        ("get", "/key-results"),
        ("post", "/key-results"),
        ("get", "/key-results/{id}"),
        ("patch", "/key-results/{id}"),
        ("get", "/key-results/{id}/check-ins"),
        ("post", "/key-results/{id}/check-ins"),
        ("post", "/key-results/{id}/check-ins/{check_in}/accept"),
        ("post", "/key-results/{id}/check-ins/{check_in}/dismiss"),
        ("get", "/key-results/{id}/reviews"),
        ("post", "/key-results/{id}/propose"),
        ("post", "/key-results/{id}/approve"),
        ("post", "/key-results/{id}/request-changes"),
        ("post", "/key-results/{id}/reject"),
        ("post", "/key-results/{id}/archive"),
        ("get", "/sources"),
        ("get", "/sources/{name}"),
        ("post", "/sources/{name}/run"),
        ("get", "/audit"),
    ];
    let paths = doc["paths"].as_object().unwrap();
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        documented,
        routes.len(),
        "documented operations: {:?}",
        paths.keys().collect::<Vec<_>>()
    );
    for (method, path) in routes {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        let responses = op["responses"].as_object().unwrap();
        assert!(
            responses.contains_key("401"),
            "{method} {path}: 401 undocumented"
        );
        let unavailable = &responses["503"];
        assert!(
            unavailable["headers"]["Retry-After"].is_object()
                && unavailable["content"]["application/problem+json"].is_object(),
            "{method} {path}: 503 with Retry-After undocumented"
        );
        for (status, r) in responses {
            assert!(
                r["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{method} {path} {status}"
            );
            if status.starts_with('4') {
                assert!(
                    r["content"]["application/problem+json"].is_object(),
                    "{method} {path} {status}"
                );
            }
        }
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    api.stop().await;
}

/// `exec` and `sql` sources, configured and bare: `bare_exec` and `bare_sql`
/// set no params, so only the source-only rule stands between a KR binding
/// and choosing the command or the database itself.
const SOURCE_ONLY_SOURCES: &str = r#"
[[sources]]
name = "backlog"
connector = "exec"
[sources.params]
command = "/bin/echo"

[[sources]]
name = "bare_exec"
connector = "exec"

[[sources]]
name = "warehouse"
connector = "sql"
[sources.params]
url = "sqlite:///var/lib/okrd/warehouse.db"

[[sources]]
name = "bare_sql"
connector = "sql"
"#;

#[tokio::test]
async fn api_bindings_cannot_set_source_only_params() {
    for db in backends::databases().await {
        let api = start(
            &db,
            Options {
                source_url: "http://127.0.0.1:9/stats",
                extra_config: SOURCE_ONLY_SOURCES,
            },
        )
        .await;
        let b = api.backend;
        let auth = api.tokens.auth.clone();
        // What may be bound: the sources as configured, a KR param of sql.
        let mut job = kr_body("job", "opex", "auth", "dana@acme.example");
        job["source"] = json!({"use": "backlog"});
        api.post("/key-results", &auth, job).await.expect(201);
        let mut report = kr_body("report", "opex", "auth", "dana@acme.example");
        report["source"] = json!({"use": "warehouse", "params": {"query": "SELECT 1"}});
        api.post("/key-results", &auth, report).await.expect(201);
        api.post(
            "/key-results",
            &auth,
            kr_body("plain", "opex", "auth", "dana@acme.example"),
        )
        .await
        .expect(201);
        let before = stored(&api).await;

        let cases = [
            ("backlog", "command", json!({"command": "/bin/sh"})),
            ("backlog", "args", json!({"args": ["-c", "id"]})),
            (
                "backlog",
                "env",
                json!({"env": {"LD_PRELOAD": "/tmp/x.so"}}),
            ),
            ("backlog", "working_dir", json!({"working_dir": "/"})),
            ("bare_exec", "command", json!({"command": "/bin/echo"})),
            ("bare_exec", "args", json!({"args": ["1"]})),
            ("bare_exec", "env", json!({"env": {"A": "1"}})),
            ("bare_exec", "working_dir", json!({"working_dir": "/tmp"})),
            (
                "warehouse",
                "url",
                json!({"url": "sqlite:///etc/passwd", "query": "SELECT 1"}),
            ),
            (
                "bare_sql",
                "url",
                json!({"url": "sqlite:///var/lib/okrd/other.db", "query": "SELECT 1"}),
            ),
        ];
        for (source, param, params) in cases {
            let binding = json!({"use": source, "params": params});
            let mut body = kr_body("sneaky", "opex", "auth", "dana@acme.example");
            body["source"] = binding.clone();
            let writes = [
                ("POST", "/key-results", body),
                ("PATCH", "/key-results/plain", json!({"source": binding})),
                (
                    "PATCH",
                    "/key-results/job",
                    json!({"source": {"use": "backlog", "params": params}}),
                ),
            ];
            for (method, path, body) in writes {
                // The `job` PATCH binds `backlog` whatever `source` is.
                if path.ends_with("/job") && source != "backlog" {
                    continue;
                }
                let r = api.call(method, path, Some(&auth), Some(body)).await;
                let what = format!("{b}: {method} {path} binding {source} with {params}");
                assert_eq!(r.status, 422, "{what}: {:#}", r.body);
                let detail = r.body["detail"].as_str().unwrap_or_default();
                // Configured params are also refused as overrides: any
                // refusal naming the param will do.
                assert!(
                    detail.contains(&format!("param `{param}`")),
                    "{what}: {detail:?}"
                );
            }
        }
        assert_eq!(
            stored(&api).await,
            before,
            "{b}: a refused binding changed the database"
        );
        api.stop().await;
    }
}

/// A 500 names an incident id and nothing else; the daemon's log holds the
/// same id with the cause. The fault: the check-in table is gone from under
/// the running daemon, so reading a KR's history fails in the database.
#[tokio::test]
async fn a_server_fault_answers_an_incident_id_and_logs_the_cause() {
    for db in backends::databases().await {
        let api = api::start_binary(
            &db,
            Options {
                source_url: "http://127.0.0.1:9/stats",
                extra_config: "",
            },
            &[],
        )
        .await;
        let b = api.backend;
        let leader = api.tokens.leader.clone();
        api.get("/key-results/calls/check-ins", &leader)
            .await
            .expect(200);
        backends::execute(&db.url, "DROP TABLE check_ins").await;

        let r = api.get("/key-results/calls/check-ins", &leader).await;
        let log = api.log();
        let body = r.problem(500, "incident");
        let detail = body["detail"].as_str().unwrap();
        let incident =
            incident_id(detail).unwrap_or_else(|| panic!("{b}: no incident id in {detail:?}"));
        // Nothing of the cause: no table, no SQL, no database error text, no path.
        let text = body.to_string().to_lowercase();
        let dir = std::path::Path::new(&api.config)
            .parent()
            .unwrap()
            .display()
            .to_string();
        for cause in [
            "check_in",
            "select",
            "table",
            "relation",
            "sqlite",
            "postgres",
            "sqlx",
            "database",
            "error returned",
            "no such",
            &dir.to_lowercase(),
        ] {
            assert!(
                !text.contains(cause),
                "{b}: the 500 body reveals {cause:?}: {body}"
            );
        }
        let logged = log
            .lines()
            .find(|l| l.contains(&incident))
            .unwrap_or_else(|| panic!("{b}: incident {incident} is not in the log:\n{log}"));
        assert!(
            logged.contains("check_ins"),
            "{b}: the log line of incident {incident} lacks the cause: {logged}"
        );
        api.stop().await;
    }
}

/// The 16 hex digits after "incident " in a 500's detail.
fn incident_id(detail: &str) -> Option<String> {
    let at = detail.find("incident ")? + "incident ".len();
    let id: String = detail[at..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    (id.len() == 16).then_some(id)
}
