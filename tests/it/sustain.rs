//! Sustained key results (issue 12, part 4) on every backend: a sustain KR
//! from an OKR file judged week by week in New York, where a week ends at
//! Monday 04:00 UTC, with values checked in for past days; its windows in
//! the API, its gauges in `/metrics`, "1 of 10 weeks" on the status page;
//! one made over the API, whose bad fields answer 422 naming the field; a
//! KR's `guard` carried from the file and the API to the store and back; the
//! rule and guard in `okrd apply`'s plan; `okrd check`'s line for a rule its
//! period cannot hold.

use chrono::{DateTime, TimeZone, Utc};
use okrd::okr::file::load_files;
use okrd::okr::guard::Guard;
use okrd::okr::validate::CheckContext;
use serde_json::{Value, json};

use crate::support::api::{Api, OKRS, Options, start_with};
use crate::support::backends::{self, TestDb};
use crate::support::sample;

/// `nps` on objective `reach`: at least 40 in 10 of 2026-Q4's 14 weeks
/// (the first and last cut by the quarter), with a guard of its own.
const NPS: &str = r#"
[[key_results]]
id = "nps"
objective = "reach"
team = "growth"
owner = "kim@acme.example"
title = "Customers recommend us"
kind = "sustain"
target = 40
comparison = "at_least"
window = "week"
required = 10
[key_results.guard]
min = -100
max = 100
max_change = 0.5
confirm_after = 2
"#;

fn at(m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, m, d, h, 0, 0).unwrap()
}

/// The daemon on `db`, its scheduler in New York, its clock on Wednesday
/// 7 October 2026 at noon there.
async fn daemon(db: &TestDb) -> Api {
    let okrs = format!("{OKRS}{NPS}");
    let opts = Options {
        source_url: "http://127.0.0.1:9/unused",
        extra_config: "",
    };
    let tz = [("OKRD_SCHEDULER__TIMEZONE", "America/New_York")];
    start_with(db, opts, &okrs, at(10, 7, 16), &tz).await
}

async fn check_in(api: &Api, value: f64, observed_at: DateTime<Utc>) {
    let body = json!({ "value": value, "observed_at": observed_at });
    api.post("/key-results/nps/check-ins", &api.tokens.admin, body)
        .await
        .expect(201);
}

/// (start, end, value, satisfied, closed) of each window the API lists.
fn windows(kr: &Value) -> Vec<(String, String, Value, bool, bool)> {
    kr["windows"]
        .as_array()
        .unwrap_or_else(|| panic!("no windows: {kr:#}"))
        .iter()
        .map(|w| {
            (
                w["start"].as_str().unwrap().to_string(),
                w["end"].as_str().unwrap().to_string(),
                w["value"].clone(),
                w["satisfied"].as_bool().unwrap(),
                w["closed"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn window(
    start: &str,
    end: &str,
    value: Value,
    satisfied: bool,
    closed: bool,
) -> (String, String, Value, bool, bool) {
    (start.into(), end.into(), value, satisfied, closed)
}

#[tokio::test]
async fn sustain_windows_follow_the_scheduler_s_weeks_on_every_backend() {
    for db in backends::databases().await {
        let api = daemon(&db).await;
        windows_close_on_local_mondays(&api).await;
        a_sustain_kr_made_over_the_api(&api).await;
        guards_round_trip(&api).await;
        api.stop().await;
    }
}

async fn windows_close_on_local_mondays(api: &Api) {
    let who = api.backend;
    // Friday 2 October: 45. Sunday 4 October 22:00 in New York (Monday
    // 02:00 UTC): 30, the first week's last value. Tuesday 6 October: 50.
    check_in(api, 45.0, at(10, 2, 15)).await;
    check_in(api, 30.0, at(10, 5, 2)).await;
    check_in(api, 50.0, at(10, 6, 14)).await;
    let kr = api
        .get("/key-results/nps", &api.tokens.viewer)
        .await
        .expect(200);
    assert_eq!(
        (
            &kr["kind"],
            &kr["comparison"],
            &kr["window"],
            &kr["required"],
            &kr["aggregate"]
        ),
        (
            &json!("sustain"),
            &json!("at_least"),
            &json!("week"),
            &json!(10),
            &json!("last")
        ),
        "{who}: {kr:#}"
    );
    assert_eq!(
        windows(&kr),
        vec![
            window("2026-10-01", "2026-10-04", json!(30.0), false, true),
            window("2026-10-05", "2026-10-11", json!(50.0), true, false),
        ],
        "{who}"
    );
    // The current week holds, but counts only once it closes.
    assert_eq!(
        (&kr["progress"], &kr["status"]),
        (&json!(0.0), &json!("on_track")),
        "{who}"
    );
    let m = api.metrics().await;
    let labels = [
        "key_result=\"nps\"",
        "objective=\"reach\"",
        "team=\"growth\"",
        "period=\"2026-Q4\"",
    ];
    assert_eq!(
        sample(&m, "okr_key_result_windows_satisfied", &labels),
        Some(0.0),
        "{who}"
    );
    assert_eq!(
        sample(&m, "okr_key_result_windows_required", &labels),
        Some(10.0),
        "{who}"
    );
    assert_eq!(
        sample(
            &m,
            "okr_key_result_windows_required",
            &["key_result=\"calls\""]
        ),
        None,
        "{who}: only sustain KRs have windows"
    );

    // Sunday 11 October, 23:00 in New York: still the second week.
    let clock = api.clock.as_ref().unwrap();
    clock.set(at(10, 12, 3));
    let kr = api
        .get("/key-results/nps", &api.tokens.viewer)
        .await
        .expect(200);
    assert_eq!(windows(&kr).len(), 2, "{who}");
    assert_eq!(kr["progress"], json!(0.0), "{who}");
    // Midnight in New York: the week closes without a new value.
    clock.set(at(10, 12, 4));
    let kr = api
        .get("/key-results/nps", &api.tokens.viewer)
        .await
        .expect(200);
    let w = windows(&kr);
    assert_eq!(w.len(), 3, "{who}");
    assert_eq!(
        w[1],
        window("2026-10-05", "2026-10-11", json!(50.0), true, true),
        "{who}"
    );
    assert_eq!(
        w[2],
        window("2026-10-12", "2026-10-18", json!(50.0), true, false),
        "{who}"
    );
    assert_eq!(
        (&kr["progress"], &kr["status"]),
        (&json!(0.1), &json!("on_track")),
        "{who}"
    );
    // The objective counts the KR's progress like any other.
    let reach = api
        .get("/objectives/reach", &api.tokens.viewer)
        .await
        .expect(200);
    assert_eq!(reach["progress"], json!(0.1), "{who}");
    let m = api.metrics().await;
    assert_eq!(
        sample(&m, "okr_key_result_windows_satisfied", &labels),
        Some(1.0),
        "{who}"
    );
    assert_eq!(
        sample(&m, "okr_key_result_progress_ratio", &labels),
        Some(0.1),
        "{who}"
    );
    let page = reqwest::Client::new()
        .get(format!("{}/", api.base))
        .bearer_auth(&api.tokens.admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("1 of 10 weeks"), "{who}: {page}");

    // Weeks pass below the level: once 10 cannot be reached, off track.
    check_in(api, 20.0, at(10, 12, 4)).await;
    clock.set(at(11, 23, 5));
    let kr = api
        .get("/key-results/nps", &api.tokens.viewer)
        .await
        .expect(200);
    // Closed: 1 held, 7 missed; 6 remain (the current one included): 7 < 10.
    assert_eq!(windows(&kr).len(), 9, "{who}");
    assert_eq!(kr["status"], json!("off_track"), "{who}");
}

async fn a_sustain_kr_made_over_the_api(api: &Api) {
    let who = api.backend;
    let kim = &api.tokens.growth;
    let good = json!({
        "id": "churn", "objective": "reach", "team": "growth", "title": "Few cancellations",
        "kind": "sustain", "target": 3, "comparison": "at_most", "window": "day",
        "required": 60, "aggregate": "mean", "guard": {"max": 1000},
    });
    let with = |changes: Value| {
        let mut body = good.clone();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body
    };
    for (changes, field) in [
        (json!({"window": null}), "`window`"),
        (json!({"comparison": null}), "`comparison`"),
        (json!({"required": null}), "`required`"),
        (json!({"required": 0}), "`required`"),
        (json!({"required": 93}), "`required`"),
        (json!({"required": -1}), "`required`"),
        (json!({"required": 4294967296_u64}), "`required`"),
        (json!({"comparison": "more"}), "`comparison`"),
        (json!({"aggregate": "median"}), "`aggregate`"),
        (json!({"kind": "increase", "start": 0}), "`comparison`"),
        (json!({"guard": {"min": 5, "max": 1}}), "guard.min"),
        (json!({"guard": {"minimum": 1}}), "`guard"),
        (json!({"guard": {"max": 1e300}}), "`guard.max`"),
    ] {
        api.post("/key-results", kim, with(changes))
            .await
            .problem(422, field);
    }
    let kr = api
        .post("/key-results", kim, good.clone())
        .await
        .expect(201);
    assert_eq!(
        (
            &kr["comparison"],
            &kr["window"],
            &kr["required"],
            &kr["aggregate"],
            &kr["windows"]
        ),
        (
            &json!("at_most"),
            &json!("day"),
            &json!(60),
            &json!("mean"),
            &Value::Null
        ),
        "{who}: a draft has no windows yet: {kr:#}"
    );
    assert_eq!(kr["guard"], json!({"max": 1000.0}), "{who}");
    // A quarter holds 3 months, not 60.
    api.patch("/key-results/churn", kim, json!({"window": "month"}))
        .await
        .problem(422, "`required`");
    // Another kind takes the rule away with it...
    let kr = api
        .patch(
            "/key-results/churn",
            kim,
            json!({"kind": "increase", "start": 10}),
        )
        .await
        .expect(200);
    assert_eq!(
        (&kr["comparison"], &kr["required"]),
        (&Value::Null, &Value::Null),
        "{who}"
    );
    api.patch("/key-results/churn", kim, json!({"window": "day"}))
        .await
        .problem(422, "only to sustain");
    // ...and back.
    let back = json!({"kind": "sustain", "start": null, "comparison": "at_most",
                      "window": "week", "required": 5});
    api.patch("/key-results/churn", kim, back).await.expect(200);
    api.act("/key-results/churn/propose", kim).await.expect(200);
    let kr = api
        .act("/key-results/churn/approve", &api.tokens.leader)
        .await
        .expect(200);
    let kr = if kr["windows"].is_array() {
        kr
    } else {
        api.get("/key-results/churn", kim).await.expect(200)
    };
    // Approved on Monday 23 November: eight weeks closed without a value,
    // and the current one.
    let w = windows(&kr);
    assert_eq!(w.len(), 9, "{who}: {kr:#}");
    assert!(w.iter().all(|(_, _, value, ..)| value.is_null()), "{who}");
    assert_eq!(kr["status"], json!("no_data"), "{who}");
}

async fn guards_round_trip(api: &Api) {
    let who = api.backend;
    let nps = api
        .get("/key-results/nps", &api.tokens.viewer)
        .await
        .expect(200);
    assert_eq!(
        nps["guard"],
        json!({"min": -100.0, "max": 100.0, "max_change": 0.5, "confirm_after": 2}),
        "{who}"
    );
    let stored = api.store.load_okrs().await.unwrap();
    let guard_of = |id: &str| {
        stored
            .key_results
            .iter()
            .find(|k| k.id == id)
            .unwrap()
            .guard
    };
    assert_eq!(
        guard_of("nps"),
        Some(Guard {
            min: Some(-100.0),
            max: Some(100.0),
            max_change: Some(0.5),
            confirm_after: Some(2),
        }),
        "{who}"
    );
    assert_eq!(
        guard_of("churn"),
        Some(Guard {
            max: Some(1000.0),
            ..Guard::default()
        }),
        "{who}"
    );
    assert_eq!(guard_of("calls"), None, "{who}");
    // Cleared over the API.
    let kr = api
        .patch(
            "/key-results/churn",
            &api.tokens.leader,
            json!({"guard": null}),
        )
        .await
        .expect(200);
    assert_eq!(kr["guard"], Value::Null, "{who}");
}

#[tokio::test]
async fn the_rule_and_the_guard_are_stored_and_their_changes_planned() {
    use okrd::okr::EntityKind;
    use okrd::okr::file::parse_str;
    use okrd::okr::sustain::Window;
    let (set, _, problems) = parse_str("okrs.toml", &format!("{OKRS}{NPS}"));
    assert!(problems.is_empty(), "{problems:?}");
    let mut ownership = okrd::okr::Ownership::new();
    ownership.insert((EntityKind::KeyResult, "nps".into()), "okrs.toml".into());
    for store in backends::stores().await {
        let who = store.backend;
        store.apply(&set, &ownership).await.unwrap();
        let stored = store.load_okrs().await.unwrap();
        let nps = |s: &okrd::okr::OkrSet| s.key_results.iter().find(|k| k.id == "nps").cloned();
        assert_eq!(nps(&stored), nps(&set), "{who}: stored as declared");
        let mut changed = set.clone();
        let kr = changed
            .key_results
            .iter_mut()
            .find(|k| k.id == "nps")
            .unwrap();
        kr.sustain.as_mut().unwrap().window = Window::Month;
        kr.sustain.as_mut().unwrap().required = 2;
        kr.guard.as_mut().unwrap().confirm_after = None;
        let plan = store.plan_apply(&changed, &ownership).await.unwrap();
        let fields: Vec<&str> = plan
            .changed
            .iter()
            .flat_map(|c| c.fields.iter().map(String::as_str))
            .collect();
        assert_eq!(fields, ["sustain", "guard"], "{who}: {plan:?}");
        store.apply(&changed, &ownership).await.unwrap();
        let stored = store.load_okrs().await.unwrap();
        assert_eq!(nps(&stored), nps(&changed), "{who}");
        assert!(
            store
                .plan_apply(&changed, &ownership)
                .await
                .unwrap()
                .is_empty(),
            "{who}"
        );
    }
}

#[test]
fn a_rule_the_period_cannot_hold_is_reported_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("okrs.toml");
    let okrs = format!("{OKRS}{NPS}").replace("required = 10", "required = 15");
    std::fs::write(&path, &okrs).unwrap();
    let problems = load_files(std::slice::from_ref(&path), &CheckContext::default()).unwrap_err();
    let line = okrs.lines().position(|l| l == "required = 15").unwrap() + 1;
    let shown: Vec<String> = problems
        .iter()
        .filter(|p| p.is_error())
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        shown,
        vec![format!(
            "{}:{line}: key result `nps` requires 15 weeks but period `2026-Q4` (2026-10-01 to \
             2026-12-31) holds only 14; lower `required`",
            path.display()
        )]
    );
}
