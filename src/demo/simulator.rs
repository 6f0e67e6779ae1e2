//! Simulated sources for the demo, on loopback. They answer the requests the
//! catalog connectors send (Plausible Stats API v2, Delighted metrics, Zendesk
//! Talk stats and Support search counts) and a Prometheus instant query, in
//! those APIs' shapes, with values that drift so KRs visibly move within
//! seconds. Wrong credentials get a 401 in the API's own error shape.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::okr::Period;
use crate::okr::progress::{expected_progress, expected_progress_between};

/// The site the simulated Plausible knows (the demo config's `site_id`).
pub const PLAUSIBLE_SITE_ID: &str = "acme.example";
/// The agent the simulated Zendesk knows (the demo config's `email`).
pub const ZENDESK_EMAIL: &str = "okrd@acme.example";

/// The simulated APIs' keys.
pub const PLAUSIBLE_API_KEY: &str = "demo-plausible-stats-key";
pub const DELIGHTED_API_KEY: &str = "demo-delighted-project-key";
pub const ZENDESK_API_TOKEN: &str = "demo-zendesk-api-token";

/// The demo writes each key to a file of this name in its temporary
/// directory and the config reads it as `{ file = "…" }`: catalog params
/// marked `secret` may not be inline.
pub const SECRET_FILES: [(&str, &str); 3] = [
    ("plausible-api-key", PLAUSIBLE_API_KEY),
    ("delighted-api-key", DELIGHTED_API_KEY),
    ("zendesk-api-token", ZENDESK_API_TOKEN),
];

/// The scheduled Prometheus query that answers 0 once, as an exporter
/// restarting with empty counters would: the daemon holds it (README "Held
/// values"), and the next normal value supersedes it.
const GLITCH_AT_QUERY: u32 = 3;

#[derive(Clone)]
struct Sim {
    started: Instant,
    /// The demo period's first and last instants: a past day's values
    /// (asked by backfill) follow the pace of that day.
    period: (DateTime<Utc>, DateTime<Utc>),
    /// Scheduled (not backfill) failed-password queries answered so far.
    failed_password_queries: Arc<AtomicU32>,
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

    /// Password-reset calls in the last 7 days: slightly ahead of pace and
    /// improving, so on track and heading for done.
    fn reset_calls(&self) -> f64 {
        let t = self.t();
        Self::along(1200.0, 600.0, self.pace + 0.03 + 0.004 * t).round()
    }

    /// Share of the period elapsed at `t`.
    fn pace_at(&self, t: DateTime<Utc>) -> f64 {
        expected_progress_between(self.period.0, self.period.1, t)
    }

    /// Days since the period started at `t`, for a day-to-day wobble.
    fn day_of(&self, t: DateTime<Utc>) -> f64 {
        (t - self.period.0).num_days() as f64
    }

    /// Failed passwords as of a past instant (backfill): behind that day's
    /// pace by the same share as now, with a day-to-day wobble, so the
    /// history trends towards today's value and a forecast has a slope.
    fn failed_passwords_at(&self, t: DateTime<Utc>) -> f64 {
        let wobble = 0.015 * (self.day_of(t) * 0.9).sin();
        Self::along(50_000.0, 25_000.0, self.pace_at(t) - 0.18 + wobble)
    }

    /// The NPS survey as of a past instant: answers grow by day, the
    /// promoter share swings week to week around the target of 30, so some
    /// weeks of the sustain KR hold the level and some do not.
    fn survey_at(&self, t: DateTime<Utc>) -> (u64, u64, u64) {
        let day = self.day_of(t).max(0.0);
        let answers = 20 + (day * 2.0) as u64;
        let n = answers as f64;
        let promoters = (n * (0.455 + 0.05 * (day / 4.0).sin())).round() as u64;
        let detractors = (n * 0.15).round() as u64;
        (promoters, answers - promoters - detractors, detractors)
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

    /// Survey answers (promoters, passives, detractors): one more every 2 s,
    /// with a promoter share that swings so the NPS crosses the target of 30
    /// and the KR flips on and off track.
    fn survey(&self) -> (u64, u64, u64) {
        let t = self.t();
        let answers = 220 + (t / 2.0) as u64;
        let n = answers as f64;
        let promoters = (n * (0.45 + 0.04 * (t / 9.0).sin())).round() as u64;
        let detractors = (n * 0.15).round() as u64;
        (promoters, answers - promoters - detractors, detractors)
    }

    /// Unique visitors over the asked range: a little behind pace, catching up.
    fn visitors(&self) -> f64 {
        let t = self.t();
        Self::along(1_200_000.0, 2_000_000.0, self.pace - 0.06 + 0.002 * t).round()
    }
}

/// Serve the simulator until `shutdown`; returns its base URL. Values
/// follow the pace of `period` (now, and on a past day asked for).
pub async fn start(period: &Period, shutdown: CancellationToken) -> std::io::Result<String> {
    let pace = expected_progress(period, Utc::now());
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    let sim = Sim {
        started: Instant::now(),
        period: (period.start_instant(), period.end_instant()),
        failed_password_queries: Arc::default(),
        pace,
    };
    let app = Router::new()
        .route("/prometheus/api/v1/query", get(prometheus_query))
        .route("/api/v2/query", post(plausible_query))
        .route("/v1/metrics.json", get(delighted_metrics))
        .route(
            "/api/v2/channels/voice/stats/{stat}",
            get(zendesk_talk_stats),
        )
        .route("/api/v2/search/count", get(zendesk_search_count))
        .with_state(sim);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
    });
    Ok(format!("http://{addr}"))
}

fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers.get("authorization").and_then(|v| v.to_str().ok())
}

/// Counts and most stats are whole numbers in the real answers.
fn int(x: f64) -> i64 {
    x.round() as i64
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

async fn prometheus_query(
    State(sim): State<Sim>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let now = Utc::now().timestamp_millis() as f64 / 1000.0;
    match q.get("query").map(String::as_str) {
        Some(query) if query.contains("auth_failed_password_attempts_total") => {
            // A query for a past moment (backfill) answers that moment's
            // value; scheduled queries ask for about now.
            let past = q
                .get("time")
                .and_then(|t| t.parse::<f64>().ok())
                .and_then(|t| DateTime::from_timestamp_millis((t * 1000.0) as i64))
                .filter(|t| *t < Utc::now() - Duration::minutes(10));
            let value = match past {
                Some(t) => sim.failed_passwords_at(t),
                None => {
                    let nth = sim.failed_password_queries.fetch_add(1, Ordering::Relaxed) + 1;
                    if nth == GLITCH_AT_QUERY {
                        0.0
                    } else {
                        sim.failed_passwords()
                    }
                }
            };
            Json(json!({
                "status": "success",
                "data": {"resultType": "vector", "result": [
                    {"metric": {}, "value": [now, format!("{value:.1}")]}
                ]}
            }))
            .into_response()
        }
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

/// Plausible Stats API v2: `POST /api/v2/query` with `Authorization: Bearer
/// <key>` and a JSON query; the answer has one row with one number per
/// metric asked for, in order.
async fn plausible_query(State(sim): State<Sim>, headers: HeaderMap, body: Bytes) -> Response {
    let error = |status: StatusCode, message: String| {
        (status, Json(json!({ "error": message }))).into_response()
    };
    let Some(auth) = authorization(&headers) else {
        return error(
            StatusCode::UNAUTHORIZED,
            "Missing API key. Please use a valid Plausible API key as a Bearer Token.".into(),
        );
    };
    let Ok(query) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "Invalid JSON in request body".into(),
        );
    };
    let wrong_site = query["site_id"].as_str() != Some(PLAUSIBLE_SITE_ID);
    if auth != format!("Bearer {}", PLAUSIBLE_API_KEY) || wrong_site {
        return error(
            StatusCode::UNAUTHORIZED,
            "Invalid API key or site ID. Please make sure you're using a valid API key with access to the site you've requested.".into(),
        );
    }
    let Some(asked) = query["metrics"].as_array().filter(|m| !m.is_empty()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "#/metrics: Expected a minimum of 1 items".into(),
        );
    };
    let visitors = sim.visitors();
    let mut metrics = Vec::new();
    for (i, m) in asked.iter().enumerate() {
        let value = match m.as_str().unwrap_or_default() {
            "visitors" => json!(int(visitors)),
            "visits" => json!(int(visitors * 1.31)),
            "pageviews" => json!(int(visitors * 3.42)),
            "events" => json!(int(visitors * 3.87)),
            "views_per_visit" => json!(2.61),
            "bounce_rate" => json!(43),
            "visit_duration" => json!(187),
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("#/metrics/{i} Invalid value in enum: {m}"),
                );
            }
        };
        metrics.push(value);
    }
    let Some(date_range) = plausible_date_range(&query["date_range"]) else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("#/date_range Invalid date range {}", query["date_range"]),
        );
    };
    Json(json!({
        "results": [{"metrics": metrics, "dimensions": []}],
        "meta": {},
        "query": {
            "site_id": PLAUSIBLE_SITE_ID,
            "metrics": asked,
            "date_range": date_range,
            "filters": query.get("filters").cloned().unwrap_or(json!([])),
            "dimensions": [],
            "order_by": [[asked[0], "desc"]],
            "include": {},
            "pagination": {"offset": 0, "limit": 10000}
        }
    }))
    .into_response()
}

/// The range Plausible echoes in `query.date_range`: two dates as the first
/// and last instant, `"Nd"` as the last N days including today, other named
/// ranges (`"month"`, `"year"`, ...) as given. `None` when it is missing.
fn plausible_date_range(asked: &Value) -> Option<Value> {
    let (first, last) = match asked {
        Value::Array(d) if d.len() == 2 => (d[0].as_str()?.to_string(), d[1].as_str()?.to_string()),
        Value::String(s) => match s.strip_suffix('d').and_then(|n| n.parse::<i64>().ok()) {
            Some(days) if days > 0 => {
                let today = Utc::now().date_naive();
                (
                    (today - Duration::days(days - 1)).to_string(),
                    today.to_string(),
                )
            }
            _ => return Some(asked.clone()),
        },
        _ => return None,
    };
    Some(json!([
        format!("{first}T00:00:00+00:00"),
        format!("{last}T23:59:59+00:00")
    ]))
}

/// Delighted: `GET /v1/metrics.json` with the project's API key as the Basic
/// user and an empty password; NPS and the counts behind it.
async fn delighted_metrics(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if authorization(&headers) != Some(basic(DELIGHTED_API_KEY, "").as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"status": 401, "message": "Unauthorized"})),
        )
            .into_response();
    }
    // `until` before today: the survey as of then (backfill).
    let past = q
        .get("until")
        .and_then(|t| t.parse::<i64>().ok())
        .and_then(|t| DateTime::from_timestamp(t, 0))
        .filter(|t| *t < Utc::now() - Duration::minutes(10));
    let (promoters, passives, detractors) = match past {
        Some(t) => sim.survey_at(t),
        None => sim.survey(),
    };
    let answers = promoters + passives + detractors;
    let percent = |count: u64| int(100.0 * count as f64 / answers as f64);
    Json(json!({
        "nps": percent(promoters) - percent(detractors),
        "promoter_count": promoters,
        "promoter_percent": percent(promoters),
        "passive_count": passives,
        "passive_percent": percent(passives),
        "detractor_count": detractors,
        "detractor_percent": percent(detractors),
        "response_count": answers
    }))
    .into_response()
}

/// Zendesk's Basic auth is `{email}/token:{api_token}`; a wrong one gets
/// Zendesk's 401.
fn zendesk_unauthorized(headers: &HeaderMap) -> Option<Response> {
    let expected = basic(&format!("{ZENDESK_EMAIL}/token"), ZENDESK_API_TOKEN);
    (authorization(headers) != Some(expected.as_str())).then(|| {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "Couldn't authenticate you"})),
        )
            .into_response()
    })
}

/// Zendesk Talk: `GET /api/v2/channels/voice/stats/<stat>`, the live queue
/// and today's call totals.
async fn zendesk_talk_stats(
    State(sim): State<Sim>,
    Path(stat): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(denied) = zendesk_unauthorized(&headers) {
        return denied;
    }
    let t = sim.t();
    // Today's calls: a seventh of the week's, six times the password resets.
    let calls = sim.reset_calls() * 6.0 / 7.0;
    let body = match stat.as_str() {
        "current_queue_activity" => json!({"current_queue_activity": {
            "agents_online": 7,
            "average_wait_time": int(42.0 + 8.0 * (t / 7.0).sin()),
            "callbacks_waiting": 1,
            "calls_waiting": int(3.0 + 2.0 * (t / 6.0).sin()),
            "embeddable_callbacks_waiting": 0,
            "longest_wait_time": int(118.0 + 30.0 * (t / 7.0).sin())
        }}),
        "account_overview" => json!({"account_overview": {
            "average_call_duration": 246,
            "average_callback_wait_time": 95,
            "average_hold_time": 21,
            "average_queue_wait_time": 38,
            "average_time_to_answer": 17,
            "average_wrap_up_time": 52,
            "max_calls_waiting": 9,
            "max_queue_wait_time": 611,
            "total_call_duration": int(calls) * 246,
            "total_callback_calls": int(calls * 0.015),
            "total_calls": int(calls),
            "total_calls_abandoned_in_queue": int(calls * 0.04),
            "total_calls_outside_business_hours": int(calls * 0.025),
            "total_calls_with_exceeded_queue_wait_time": int(calls * 0.01),
            "total_calls_with_requested_voicemail": int(calls * 0.013),
            "total_embeddable_callback_calls": 0,
            "total_hold_time": int(calls) * 11,
            "total_inbound_calls": int(calls * 0.87),
            "total_outbound_calls": int(calls) - int(calls * 0.87),
            "total_textback_requests": 2,
            "total_voicemails": int(calls * 0.017),
            "total_wrap_up_time": int(calls) * 52
        }}),
        _ => {
            return (
                StatusCode::NOT_FOUND,
                Json(json!({"error": "InvalidEndpoint", "description": "Not found"})),
            )
                .into_response();
        }
    };
    Json(body).into_response()
}

/// Zendesk Support: `GET /api/v2/search/count?query=…` → `{"count": N}`. The
/// simulator reads the `tags:` and `via:` terms and counts a week of tickets:
/// password resets by phone, all phone tickets, or all tickets.
async fn zendesk_search_count(
    State(sim): State<Sim>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(denied) = zendesk_unauthorized(&headers) {
        return denied;
    }
    let Some(query) = q.get("query").filter(|s| !s.trim().is_empty()) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "InvalidSearch", "description": "a query is required"})),
        )
            .into_response();
    };
    let terms: Vec<&str> = query.split_whitespace().collect();
    let resets = terms.contains(&"tags:password_reset");
    let voice = terms.contains(&"via:voice");
    let calls = sim.reset_calls();
    let count = match (resets, voice) {
        (true, true) => calls,
        (true, false) => calls * 1.4,
        (false, true) => calls * 6.0,
        (false, false) => calls * 15.0,
    };
    Json(json!({ "count": int(count) })).into_response()
}
