//! The bottom-up workflow over the REST API, as a team and its leaders use
//! it, on SQLite and PostgreSQL: members draft and propose their team's
//! KRs, the rules of the OKR practice are checked, leaders review, approved
//! KRs appear in `/metrics` and are fetched, check-ins move progress and
//! rollups at once, and every role gets only what it may.

use std::time::{Duration, Instant};

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::api::{Api, Options, kr_body, start};
use crate::support::{backends, sample};

async fn mock_web() -> MockServer {
    let web = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/stats"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"visitors": 1500})))
        .mount(&web)
        .await;
    web
}

async fn daemon(db: &backends::TestDb, web: &MockServer) -> Api {
    let url = format!("{}/stats", web.uri());
    start(
        db,
        Options {
            source_url: &url,
            extra_config: "",
        },
    )
    .await
}

#[tokio::test]
async fn members_propose_leaders_review_and_approved_krs_are_fetched() {
    for db in backends::databases().await {
        let web = mock_web().await;
        let api = daemon(&db, &web).await;
        let (auth, leader) = (api.tokens.auth.clone(), api.tokens.leader.clone());
        let b = api.backend;

        // Six drafts for one objective: drafts do not count against the limit.
        for i in 1..=6 {
            let body = kr_body(
                &format!("auth-{i}"),
                "opex",
                "auth",
                &format!("o{i}@acme.example"),
            );
            let r = api.post("/key-results", &auth, body).await;
            assert_eq!(
                r.location.as_deref(),
                Some(format!("/api/v1/key-results/auth-{i}").as_str()),
                "{b}"
            );
            let kr = r.expect(201);
            assert_eq!(kr["state"], "draft", "{b}");
            assert_eq!(kr["team"], "auth", "{b}");
        }
        for i in 1..=5 {
            let kr = api
                .act(&format!("/key-results/auth-{i}/propose"), &auth)
                .await
                .expect(200);
            assert_eq!(kr["state"], "proposed", "{b}");
        }
        // The sixth proposal would be the sixth KR of team auth on opex.
        let p = api
            .act("/key-results/auth-6/propose", &auth)
            .await
            .problem(422, "the limit is 5 per objective per team");
        assert_eq!(p["type"], "urn:okrd:problem:rule-violation", "{b}");
        let v = &p["violations"][0];
        assert_eq!(v["rule"], "max_krs_per_objective_per_team", "{b}");
        assert_eq!(v["limit"], 5, "{b}");
        assert_eq!(
            v["key_results"].as_array().map(Vec::len),
            Some(6),
            "{b}: {v}"
        );
        let six = api.get("/key-results/auth-6", &auth).await.expect(200);
        assert_eq!(
            six["state"], "draft",
            "{b}: a refused proposal changes nothing"
        );

        // A leader binds one to the web source and approves it: it shows in /metrics and is fetched.
        let bound = api
            .patch(
                "/key-results/auth-1",
                &leader,
                json!({"source": {"use": "web"}, "start": 1000, "target": 2000}),
            )
            .await
            .expect(200);
        assert_eq!(bound["source"]["use"], "web", "{b}");
        let approved = api
            .act("/key-results/auth-1/approve", &leader)
            .await
            .expect(200);
        assert_eq!(approved["state"], "approved", "{b}");
        let m = api
            .metrics_until("the approved KR's fetched value", |m| {
                sample(m, "okr_key_result_value", &["key_result=\"auth-1\""]) == Some(1500.0)
            })
            .await;
        assert_eq!(
            sample(
                &m,
                "okr_key_result_progress_ratio",
                &["key_result=\"auth-1\""]
            ),
            Some(0.5),
            "{b}"
        );
        assert!(
            !m.contains("key_result=\"auth-2\""),
            "{b}: only approved KRs are exposed"
        );
        assert!(
            !web.received_requests().await.unwrap_or_default().is_empty(),
            "{b}"
        );

        // Reviews: a rejection needs a comment; the history keeps every step.
        api.act("/key-results/auth-2/reject", &leader)
            .await
            .problem(422, "`comment` is required to reject");
        api.post(
            "/key-results/auth-2/reject",
            &leader,
            json!({"comment": "duplicates auth-1"}),
        )
        .await
        .expect(200);
        api.act("/key-results/auth-3/request-changes", &leader)
            .await
            .problem(422, "`comment` is required");
        let sent_back = api
            .post(
                "/key-results/auth-3/request-changes",
                &leader,
                json!({"comment": "make it weekly"}),
            )
            .await
            .expect(200);
        assert_eq!(sent_back["state"], "changes_requested", "{b}");
        // The team reworks and proposes again.
        api.patch(
            "/key-results/auth-3",
            &auth,
            json!({"title": "Weekly resets"}),
        )
        .await
        .expect(200);
        api.act("/key-results/auth-3/propose", &auth)
            .await
            .expect(200);
        let history = api
            .get("/key-results/auth-3/reviews", &auth)
            .await
            .expect(200);
        let steps: Vec<(&str, &str, &str)> = history["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["action"].as_str().unwrap(),
                    r["to"].as_str().unwrap(),
                    r["actor"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(steps.len(), 3, "{b}: {steps:?}");
        assert_eq!(steps[0].0, "propose", "{b}");
        assert_eq!(
            steps[1],
            ("request_changes", "changes_requested", steps[1].2),
            "{b}"
        );
        assert!(steps[1].2.starts_with("lee "), "{b}: {steps:?}");
        assert_eq!(history["items"][1]["comment"], "make it weekly", "{b}");

        // Illegal transitions: 409 naming what the state allows.
        let p = api
            .act("/key-results/auth-1/approve", &leader)
            .await
            .problem(409, "is approved");
        assert_eq!(p["allowed"], json!(["request-changes", "archive"]), "{b}");
        api.act("/key-results/auth-2/propose", &auth)
            .await
            .problem(409, "is rejected");
        api.act("/key-results/auth-2/archive", &auth)
            .await
            .expect(200);
        api.act("/key-results/auth-2/archive", &leader)
            .await
            .problem(409, "archived");

        // The rejected KR freed its place: now the sixth may be proposed...
        api.act("/key-results/auth-6/propose", &auth)
            .await
            .expect(200);
        // ...and a seventh may not, until a leader archives one of the five.
        api.post(
            "/key-results",
            &auth,
            kr_body("auth-7", "opex", "auth", "o7@acme.example"),
        )
        .await
        .expect(201);
        api.act("/key-results/auth-7/propose", &auth)
            .await
            .problem(422, "the limit is 5 per objective per team");
        api.act("/key-results/auth-5/archive", &auth)
            .await
            .problem(403, "members archive only");
        api.act("/key-results/auth-5/archive", &leader)
            .await
            .expect(200);
        api.act("/key-results/auth-7/propose", &auth)
            .await
            .expect(200);
        api.stop().await;
    }
}

#[tokio::test]
async fn a_manual_check_in_moves_progress_and_the_rollup_at_once() {
    for db in backends::databases().await {
        let web = mock_web().await;
        let api = daemon(&db, &web).await;
        let auth = api.tokens.auth.clone();
        let b = api.backend;
        api.approved_kr(
            &auth,
            kr_body("signups", "reach", "auth", "dana@acme.example"),
        )
        .await;
        // Read before the write (and so cached): reads after it must not be stale.
        for path in [
            "/key-results/signups",
            "/objectives/opex",
            "/key-results?team=auth",
        ] {
            let before = api.get(path, &auth).await.expect(200);
            assert_eq!(
                before,
                api.get(path, &auth).await.expect(200),
                "{b}: {path}"
            );
        }

        let r = api
            .post(
                "/key-results/signups/check-ins",
                &auth,
                json!({"value": 40, "note": "week 46", "confidence": 0.8}),
            )
            .await;
        assert_eq!(
            r.location.as_deref(),
            Some("/api/v1/key-results/signups/check-ins"),
            "{b}"
        );
        let written = r.expect(201);
        assert_eq!(written["check_in"]["origin"], "manual:dana", "{b}");
        assert_eq!(written["check_in"]["override"], false, "{b}");
        assert_eq!(written["key_result"]["progress"], 0.4, "{b}");
        // 40% at half time is 0.1 behind the pace: still on track.
        assert_eq!(written["key_result"]["status"], "on_track", "{b}");
        // reach holds only signups; opex = (calls 0 + reach 0.4) / 2.
        assert_eq!(
            written["objectives"],
            json!([{"id": "reach", "progress": 0.4}, {"id": "opex", "progress": 0.2}]),
            "{b}"
        );

        // Reads right after the write see it.
        let kr = api.get("/key-results/signups", &auth).await.expect(200);
        assert_eq!(
            (kr["value"].clone(), kr["progress"].clone()),
            (json!(40.0), json!(0.4)),
            "{b}"
        );
        let opex = api.get("/objectives/opex", &auth).await.expect(200);
        assert_eq!(opex["progress"], 0.2, "{b}");
        let tree = api.get("/objectives/opex/tree", &auth).await.expect(200);
        assert_eq!(
            tree["root"]["children"][0]["objective"]["id"], "reach",
            "{b}"
        );
        assert_eq!(
            tree["root"]["children"][0]["key_results"][0]["progress"], 0.4,
            "{b}"
        );
        let summary = api
            .get("/teams/auth/summary?period=2026-Q4", &auth)
            .await
            .expect(200);
        assert_eq!(summary["progress"], 0.4, "{b}");
        assert_eq!(summary["objectives"][0]["id"], "reach", "{b}");

        // ... and so does Prometheus, within its publish interval.
        api.metrics_until("the objective rollup", |m| {
            sample(m, "okr_objective_progress_ratio", &["objective=\"opex\""]) == Some(0.2)
        })
        .await;

        let listed = api.get("/key-results?team=auth", &auth).await.expect(200);
        assert_eq!(listed["items"][0]["value"], 40.0, "{b}");

        // The history, newest first, with its author.
        api.post(
            "/key-results/signups/check-ins",
            &auth,
            json!({"value": 55}),
        )
        .await
        .expect(201);
        let history = api
            .get("/key-results/signups/check-ins", &auth)
            .await
            .expect(200);
        let values: Vec<f64> = history["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["value"].as_f64().unwrap())
            .collect();
        assert_eq!(values, [55.0, 40.0], "{b}");
        assert_eq!(history["items"][1]["note"], "week 46", "{b}");
        assert_eq!(history["items"][1]["author"], "dana", "{b}");
        api.stop().await;
    }
}

#[tokio::test]
async fn each_role_gets_only_what_it_may() {
    let db = backends::sqlite_db();
    let web = mock_web().await;
    let api = daemon(&db, &web).await;
    let t = &api.tokens;
    api.post(
        "/key-results",
        &t.auth,
        kr_body("resets", "opex", "auth", "dana@acme.example"),
    )
    .await
    .expect(201);

    // No token, an unknown one, a malformed header: 401.
    api.call("GET", "/key-results", None, None)
        .await
        .problem(401, "needs an API token");
    api.get("/key-results", "okrd_000000000000_forged")
        .await
        .problem(401, "unknown or revoked");
    api.get("/key-results", "hunter2")
        .await
        .problem(401, "unknown or revoked");
    // A viewer reads but never writes.
    api.get("/key-results/resets", &t.viewer).await.expect(200);
    api.post(
        "/key-results",
        &t.viewer,
        kr_body("v1", "opex", "auth", "v@x"),
    )
    .await
    .problem(403, "viewer");
    api.act("/key-results/resets/propose", &t.viewer)
        .await
        .problem(403, "viewer");
    // A member of another team cannot touch auth's KRs.
    api.post(
        "/key-results",
        &t.growth,
        kr_body("g1", "opex", "auth", "kim@x"),
    )
    .await
    .problem(403, "acts for team `growth`");
    api.patch("/key-results/resets", &t.growth, json!({"title": "mine"}))
        .await
        .problem(403, "belongs to team `auth`");
    api.act("/key-results/resets/propose", &t.growth)
        .await
        .problem(403, "belongs to team `auth`");
    api.patch("/key-results/resets", &t.auth, json!({"team": "growth"}))
        .await
        .problem(403, "belongs to team `growth`");
    // Members do not review, manage objectives, run sources or read the audit log.
    api.act("/key-results/resets/propose", &t.auth)
        .await
        .expect(200);
    api.act("/key-results/resets/approve", &t.auth)
        .await
        .problem(403, "leader or admin");
    api.patch(
        "/key-results/resets",
        &t.auth,
        json!({"title": "late edit"}),
    )
    .await
    .problem(403, "only while draft or changes_requested");
    api.post(
        "/objectives",
        &t.auth,
        json!({"id": "o2", "title": "More", "period": "2026-Q4", "team": "auth"}),
    )
    .await
    .problem(403, "leader or admin");
    api.call("POST", "/sources/web/run", Some(&t.leader), None)
        .await
        .problem(403, "admin");
    api.get("/audit", &t.leader).await.problem(403, "admin");

    // Check-ins: members on their team's KRs without a source; overrides are for leaders.
    api.act("/key-results/resets/approve", &t.leader)
        .await
        .expect(200);
    api.post(
        "/key-results/resets/check-ins",
        &t.growth,
        json!({"value": 1}),
    )
    .await
    .problem(403, "team `auth`");
    api.post(
        "/key-results/resets/check-ins",
        &t.auth,
        json!({"value": 10}),
    )
    .await
    .expect(201);
    api.patch(
        "/key-results/resets",
        &t.leader,
        json!({"source": {"use": "web"}}),
    )
    .await
    .expect(200);
    api.post(
        "/key-results/resets/check-ins",
        &t.auth,
        json!({"value": 20}),
    )
    .await
    .problem(403, "override");
    let over = api
        .post(
            "/key-results/resets/check-ins",
            &t.leader,
            json!({"value": 30}),
        )
        .await
        .expect(201);
    assert_eq!(over["check_in"]["override"], true);
    assert_eq!(over["check_in"]["origin"], "manual:lee");

    // The audit log names who did what, with before and after.
    let log = api
        .get("/audit?entity_id=resets&limit=100", &t.admin)
        .await
        .expect(200);
    let actions: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "check_in.create",
            "key_result.update",
            "check_in.create",
            "key_result.approve",
            "key_result.propose",
            "key_result.create"
        ]
    );
    let update = &log["items"][1];
    assert_eq!(update["before"]["source"], serde_json::Value::Null);
    assert_eq!(update["after"]["source"]["use"], "web");
    assert!(
        update["actor"].as_str().unwrap().starts_with("lee (token "),
        "{update}"
    );
    api.stop().await;
}

#[tokio::test]
async fn entities_an_okr_file_manages_are_read_only_over_the_api() {
    let db = backends::sqlite_db();
    let web = mock_web().await;
    let api = daemon(&db, &web).await;
    let leader = &api.tokens.leader;
    let p = api
        .patch("/key-results/calls", leader, json!({"target": 400}))
        .await
        .problem(409, "okrs.toml");
    assert_eq!(p["type"], "urn:okrd:problem:managed-by-file");
    assert!(p["managed_by"].as_str().unwrap().ends_with("okrs.toml"));
    api.act("/key-results/calls/archive", leader)
        .await
        .problem(409, "okrs.toml");
    api.patch("/objectives/opex", leader, json!({"title": "Other"}))
        .await
        .problem(409, "okrs.toml");
    api.patch("/teams/auth", leader, json!({"name": "Other"}))
        .await
        .problem(409, "okrs.toml");
    // Check-ins are values, not definitions: a file-managed KR takes them.
    api.post(
        "/key-results/calls/check-ins",
        leader,
        json!({"value": 900}),
    )
    .await
    .expect(201);
    let kr = api.get("/key-results/calls", leader).await.expect(200);
    assert_eq!(
        (kr["value"].as_f64(), kr["state"].as_str()),
        (Some(900.0), Some("approved"))
    );
    assert!(kr["managed_by"].as_str().unwrap().ends_with("okrs.toml"));
    api.stop().await;
}

#[tokio::test]
async fn anonymous_read_opens_reads_but_not_writes() {
    let db = backends::sqlite_db();
    let web = mock_web().await;
    let url = format!("{}/stats", web.uri());
    let api = start(
        &db,
        Options {
            source_url: &url,
            extra_config: "[server]\nanonymous_read = true\n",
        },
    )
    .await;
    let page = api
        .call("GET", "/key-results", None, None)
        .await
        .expect(200);
    assert_eq!(page["items"][0]["id"], "calls");
    api.call(
        "POST",
        "/key-results",
        None,
        Some(kr_body("x", "opex", "auth", "a@x")),
    )
    .await
    .problem(401, "needs an API token");
    // A bad token is still refused, not read as anonymous.
    api.get("/key-results", "okrd_000000000000_forged")
        .await
        .problem(401, "unknown");
    // /metrics and health need no token at all.
    assert!(api.metrics().await.contains("okr_build_info"));
    api.stop().await;
}

#[tokio::test]
async fn sources_show_their_health_and_admins_can_fetch_now() {
    let db = backends::sqlite_db();
    let web = mock_web().await;
    let api = daemon(&db, &web).await;
    let t = &api.tokens;
    let mut body = kr_body("visitors", "reach", "growth", "kim@acme.example");
    body["source"] = json!({"use": "web"});
    api.approved_kr(&t.growth, body).await;
    api.metrics_until("the first fetch", |m| {
        sample(m, "okr_key_result_value", &["key_result=\"visitors\""]) == Some(1500.0)
    })
    .await;

    let list = api.get("/sources", &t.viewer).await.expect(200);
    let src = &list["items"][0];
    assert_eq!(src["name"], "web");
    assert_eq!(src["connector"], "http_json");
    assert_eq!(src["key_results"], json!(["visitors"]));
    assert!(src["last_success"].is_string(), "{src}");
    assert_eq!(src["last_failure"], serde_json::Value::Null);
    assert!(src["next_run"].is_string(), "{src}");
    // Never the source's params: they may hold secrets.
    assert!(!list.to_string().contains(&web.uri()), "{list}");
    api.get("/sources/nope", &t.viewer)
        .await
        .problem(404, "source `nope`");

    let before = web.received_requests().await.unwrap().len();
    let run = api
        .call("POST", "/sources/web/run", Some(&t.admin), None)
        .await
        .expect(202);
    assert_eq!(run["started"], json!(["visitors"]));
    for _ in 0..100 {
        if web.received_requests().await.unwrap().len() > before {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        web.received_requests().await.unwrap().len() > before,
        "run now did not fetch"
    );
    let audit = api
        .get("/audit?entity_kind=source", &t.admin)
        .await
        .expect(200);
    assert_eq!(audit["items"][0]["action"], "source.run");

    // A failure shows its reason to everyone, and what went wrong to admins only.
    web.reset().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500).set_body_string("internal detail"))
        .mount(&web)
        .await;
    let mut failed = serde_json::Value::Null;
    for _ in 0..100 {
        let _ = api
            .call("POST", "/sources/web/run", Some(&t.admin), None)
            .await;
        failed = api.get("/sources/web", &t.admin).await.expect(200);
        if failed["last_failure"].is_object() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(failed["last_failure"]["reason"], "http_5xx", "{failed}");
    assert!(failed["last_failure"]["message"].is_string(), "{failed}");
    let seen = api.get("/sources/web", &t.viewer).await.expect(200);
    assert_eq!(seen["last_failure"]["reason"], "http_5xx");
    assert_eq!(seen["last_failure"]["message"], serde_json::Value::Null);
    api.stop().await;
}

/// `okrd token revoke`, run against the config of a daemon that is serving,
/// stops the token within 5 s, although the daemon had just authenticated
/// (and cached) it; other tokens keep working.
#[tokio::test]
async fn a_token_revoked_from_the_command_line_stops_within_5_s() {
    for db in backends::databases().await {
        let web = mock_web().await;
        let api = daemon(&db, &web).await;
        let b = api.backend;
        let dana = api.tokens.auth.clone();
        api.get("/key-results", &dana).await.expect(200);

        let out = api.cli(&["token", "revoke", &dana]).await;
        assert!(
            out.status.success(),
            "{b}: okrd token revoke: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The revocation is committed when the command exits, and the daemon
        // read the token before that: any request sent 5 s later is refused.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let sent = Instant::now();
            let r = api.get("/key-results", &dana).await;
            if r.status == 401 {
                break;
            }
            assert_eq!(r.status, 200, "{b}: {:#}", r.body);
            assert!(
                sent < deadline,
                "{b}: the revoked token still worked more than 5 s after `okrd token revoke`"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        api.get("/key-results", &dana)
            .await
            .problem(401, "unknown or revoked");
        api.get("/key-results", &api.tokens.growth)
            .await
            .expect(200);
        api.stop().await;
    }
}
