//! Forecasts end to end (README "Forecasts"), on every backend: a KR
//! checked in on past days has no forecast on its first two days and one on
//! its third, in `/metrics`, the KR's and the objective's views, and keeps
//! it when the model is rebuilt from the database. The daemon runs on a
//! manual clock at 2026-11-16, half way through 2026-Q4.

use chrono::{Days, TimeZone, Utc};
use serde_json::{Value, json};

use crate::support::api::{Api, Options, kr_body, start};
use crate::support::{backends, sample};

/// `calls` (decrease, 1000 → 500) falls 5 a day: day `d` of the quarter
/// (0-based) ends at 1000 − 5d, so its last day (d = 91) at 545, progress 0.91.
async fn check_in(api: &Api, d: u64) {
    let at = Utc.with_ymd_and_hms(2026, 10, 1, 12, 0, 0).unwrap() + Days::new(d);
    let body = json!({"value": 1000.0 - 5.0 * d as f64, "observed_at": at.to_rfc3339()});
    api.post("/key-results/calls/check-ins", &api.tokens.admin, body)
        .await
        .expect(201);
}

fn close(v: &Value, expected: f64) -> bool {
    v.as_f64().is_some_and(|v| (v - expected).abs() < 1e-9)
}

#[track_caller]
fn assert_forecast(kr: &Value, ctx: &str) {
    let f = &kr["forecast"];
    for field in ["value", "low", "high"] {
        assert!(close(&f[field], 545.0), "{ctx}: {field}: {kr:#}");
    }
    assert!(close(&f["progress"], 0.91), "{ctx}: {kr:#}");
    assert_eq!(f["at"], "2027-01-01T00:00:00.000Z", "{ctx}");
}

#[tokio::test]
async fn a_kr_with_three_days_of_history_has_a_forecast_everywhere() {
    for db in backends::databases().await {
        let api = start(
            &db,
            Options {
                source_url: "http://127.0.0.1:9/stats",
                extra_config: "",
            },
        )
        .await;
        let (b, admin) = (api.backend, api.tokens.admin.clone());

        for d in [36, 37] {
            check_in(&api, d).await;
        }
        let kr = api.get("/key-results/calls", &admin).await.expect(200);
        assert!(kr["forecast"].is_null(), "{b}: two days: {kr:#}");
        let m = api
            .metrics_until("the second value", |m| {
                sample(m, "okr_key_result_value", &["key_result=\"calls\""]) == Some(815.0)
            })
            .await;
        assert!(!m.contains("okr_key_result_forecast_value{"), "{b}");
        assert!(!m.contains("okr_objective_forecast_progress_ratio{"), "{b}");

        check_in(&api, 38).await;
        let kr = api.get("/key-results/calls", &admin).await.expect(200);
        assert_forecast(&kr, b);
        let m = api
            .metrics_until("the forecast", |m| {
                m.contains("okr_key_result_forecast_value{")
            })
            .await;
        let calls = [
            "key_result=\"calls\"",
            "objective=\"opex\"",
            "period=\"2026-Q4\"",
        ];
        assert_eq!(
            sample(&m, "okr_key_result_forecast_value", &calls),
            Some(545.0),
            "{b}"
        );
        let progress = sample(&m, "okr_key_result_forecast_progress_ratio", &calls);
        assert!(
            progress.is_some_and(|p| (p - 0.91).abs() < 1e-9),
            "{b}: {progress:?}"
        );
        let opex = sample(
            &m,
            "okr_objective_forecast_progress_ratio",
            &["objective=\"opex\""],
        );
        assert!(
            opex.is_some_and(|p| (p - 0.91).abs() < 1e-9),
            "{b}: {opex:?}"
        );
        assert_eq!(
            sample(
                &m,
                "okr_objective_forecast_progress_ratio",
                &["objective=\"reach\""]
            ),
            None,
            "{b}: no KR of `reach` has a forecast"
        );
        let opex = api.get("/objectives/opex", &admin).await.expect(200);
        assert!(close(&opex["forecast_progress"], 0.91), "{b}: {opex:#}");
        let reach = api.get("/objectives/reach", &admin).await.expect(200);
        assert!(reach["forecast_progress"].is_null(), "{b}: {reach:#}");

        // An API write rebuilds the model from the database: the history,
        // and so the forecast, come back from the stored check-ins.
        let draft = kr_body("draft", "reach", "growth", "kim@acme.example");
        api.post("/key-results", &api.tokens.growth, draft)
            .await
            .expect(201);
        let kr = api.get("/key-results/calls", &admin).await.expect(200);
        assert_forecast(&kr, &format!("{b}, after a reload"));

        let doc = api
            .call("GET", "/openapi.json", None, None)
            .await
            .expect(200);
        let schemas = &doc["components"]["schemas"];
        for (schema, field) in [
            ("ForecastView", "high"),
            ("KeyResultView", "forecast"),
            ("ObjectiveView", "forecast_progress"),
        ] {
            assert!(
                property(&schemas[schema], field).is_some(),
                "{b}: {schema}.{field}"
            );
        }
        api.stop().await;
    }
}

/// A property of an object schema, also when `allOf` holds it (a view
/// with flattened fields).
fn property<'a>(schema: &'a Value, name: &str) -> Option<&'a Value> {
    let own = schema["properties"].get(name);
    let parts = schema["allOf"].as_array().into_iter().flatten();
    own.or_else(|| parts.filter_map(|p| p["properties"].get(name)).next())
}
