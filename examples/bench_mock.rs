//! A local mock API for `bench/schedule.sh`: answers the native `http_json`
//! connector (`GET /v` → `{"v": n}`) and Plausible's Stats API v2
//! (`POST /api/v2/query` → a v2 aggregate body), and counts what it served
//! (`GET /stats`). One thread, so it leaves the other core to the daemon.
//!
//! Usage: `cargo run --release --example bench_mock -- PORT`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use serde_json::{Value, json};

#[derive(Default)]
struct Counts {
    http_json: AtomicU64,
    plausible: AtomicU64,
    rejected: AtomicU64,
}

impl Counts {
    /// A value that changes per request, 0..=100.
    fn value(&self) -> u64 {
        let n = self.http_json.load(Ordering::Relaxed) + self.plausible.load(Ordering::Relaxed);
        n.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 57
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(19787);
    let counts = Arc::new(Counts::default());
    let app = Router::new()
        .route("/v", get(http_json))
        .route("/api/v2/query", post(plausible))
        .route("/stats", get(stats))
        .with_state(counts);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await
}

async fn http_json(State(c): State<Arc<Counts>>) -> Json<Value> {
    let v = c.value();
    c.http_json.fetch_add(1, Ordering::Relaxed);
    Json(json!({ "v": v }))
}

/// Checks what a real Plausible would (a bearer key, a site, one metric) and
/// answers in the v2 shape the catalog's manifest extracts from.
async fn plausible(
    State(c): State<Arc<Counts>>,
    headers: HeaderMap,
    body: Json<Value>,
) -> (StatusCode, Json<Value>) {
    let authorised = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer ") && v.len() > 7);
    let query = body.0;
    let metrics = query.get("metrics").and_then(Value::as_array);
    if !authorised {
        c.rejected.fetch_add(1, Ordering::Relaxed);
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "Invalid API key or site ID." })),
        );
    }
    if query.get("site_id").and_then(Value::as_str).is_none() || metrics.is_none_or(Vec::is_empty) {
        c.rejected.fetch_add(1, Ordering::Relaxed);
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "site_id and metrics are required" })),
        );
    }
    let values: Vec<u64> = metrics.into_iter().flatten().map(|_| c.value()).collect();
    c.plausible.fetch_add(1, Ordering::Relaxed);
    (
        StatusCode::OK,
        Json(json!({
            "results": [{ "metrics": values, "dimensions": [] }],
            "meta": {},
            "query": query,
        })),
    )
}

async fn stats(State(c): State<Arc<Counts>>) -> String {
    format!(
        "http_json {}\nplausible {}\nrejected {}\n",
        c.http_json.load(Ordering::Relaxed),
        c.plausible.load(Ordering::Relaxed),
        c.rejected.load(Ordering::Relaxed)
    )
}
