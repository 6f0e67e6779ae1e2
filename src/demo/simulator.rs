//! Simulated sources for the demo, on loopback: they answer in the shapes of
//! real APIs (Prometheus instant queries, call-center stats, NPS metrics, web
//! analytics) with values that drift, so KRs visibly move within seconds.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// The bearer token the simulated call center expects (the demo sets it as a secret).
pub const CALLCENTER_TOKEN: &str = "demo-callcenter-token";

#[derive(Clone)]
struct Sim {
    started: Instant,
    /// Share of the demo period already elapsed: values are set around this
    /// pace so the demo shows a mix of on-track, at-risk and moving KRs.
    pace: f64,
}

impl Sim {
    /// Seconds since the demo started.
    fn t(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// A value `share` of the way from `start` to `target`, clamped to the KR's range.
    fn along(start: f64, target: f64, share: f64) -> f64 {
        start + (target - start) * share.clamp(0.0, 1.0)
    }

    /// Reset calls: slightly ahead of pace and improving, so on track and heading for done.
    fn reset_calls(&self) -> f64 {
        let t = self.t();
        Self::along(1200.0, 600.0, self.pace + 0.03 + 0.004 * t).round()
    }

    /// Failed passwords: well behind pace (at risk), wobbling as real weekly data does.
    fn failed_passwords(&self) -> f64 {
        let t = self.t();
        Self::along(
            50_000.0,
            25_000.0,
            self.pace - 0.18 + 0.002 * t + 0.01 * (t / 5.0).sin(),
        )
    }

    /// NPS swings around the target of 30, so the KR flips on and off track.
    fn nps(&self) -> f64 {
        let t = self.t();
        (30.0 + 4.0 * (t / 9.0).sin()).round()
    }

    /// Visitors: a little behind pace, catching up.
    fn visitors(&self) -> f64 {
        let t = self.t();
        Self::along(1_200_000.0, 2_000_000.0, self.pace - 0.06 + 0.002 * t).round()
    }
}

/// Serve the simulator until `shutdown`; returns its base URL. `pace` is the
/// share of the demo period elapsed.
pub async fn start(pace: f64, shutdown: CancellationToken) -> std::io::Result<String> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    let sim = Sim {
        started: Instant::now(),
        pace,
    };
    let app = Router::new()
        .route("/prometheus/api/v1/query", get(prometheus_query))
        .route("/api/v2/channels/voice/stats/weekly", get(callcenter))
        .route("/v1/metrics.json", get(nps))
        .route("/api/v2/query", post(web_query))
        .with_state(sim);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
    });
    Ok(format!("http://{addr}"))
}

async fn prometheus_query(
    State(sim): State<Sim>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    match q.get("query").map(String::as_str) {
        Some(query) if query.contains("auth_failed_password_attempts_total") => Json(json!({
            "status": "success",
            "data": {"resultType": "vector", "result": [
                {"metric": {}, "value": [now, format!("{:.1}", sim.failed_passwords())]}
            ]}
        }))
        .into_response(),
        Some(_) => Json(json!({
            "status": "success",
            "data": {"resultType": "vector", "result": []}
        }))
        .into_response(),
        None => (
            StatusCode::BAD_REQUEST,
            Json(json!({"status": "error", "errorType": "bad_data", "error": "query is required"})),
        )
            .into_response(),
    }
}

async fn callcenter(State(sim): State<Sim>, headers: HeaderMap) -> Response {
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == CALLCENTER_TOKEN);
    if !authorized {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "Couldn't authenticate you"})),
        )
            .into_response();
    }
    Json(json!({"stats": {
        "password_reset_calls_7d": sim.reset_calls(),
        "total_calls_7d": sim.reset_calls() * 6.0,
        "calls_waiting": 3
    }}))
    .into_response()
}

async fn nps(State(sim): State<Sim>) -> Json<serde_json::Value> {
    let nps = sim.nps();
    Json(json!({
        "nps": nps,
        "promoter_count": 120,
        "promoter_percent": 45.0,
        "passive_count": 60,
        "passive_percent": 22.5,
        "detractor_count": 40,
        "detractor_percent": 15.0,
        "response_count": 220
    }))
}

async fn web_query(State(sim): State<Sim>) -> Json<serde_json::Value> {
    Json(json!({
        "results": [{"metrics": [sim.visitors()], "dimensions": []}],
        "meta": {},
        "query": {"metrics": ["visitors"], "date_range": ["2026-10-24T00:00:00Z", "2026-11-23T23:59:59Z"]}
    }))
}
