//! Rendered answers of the reads that come only from the snapshot (periods,
//! teams, objectives, KRs), kept while the snapshot and the clock's second
//! stay the same. Dashboards poll the same pages over and over; between two
//! check-ins the answer does not change, and rendering a page of KRs is most
//! of what a read costs. What a reader may see does not depend on their
//! role here, so one entry serves every token.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiState;

/// Entries kept before the cache is emptied.
const MAX_ENTRIES: usize = 512;
/// Bytes kept before the cache is emptied.
const MAX_BYTES: usize = 32 * 1024 * 1024;

#[derive(Default)]
pub struct ResponseCache {
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    map: HashMap<String, Entry>,
    bytes: usize,
}

struct Entry {
    /// The snapshot version and the second it was rendered for.
    at: (u64, i64),
    body: Bytes,
}

impl ResponseCache {
    fn get(&self, key: &str, at: (u64, i64)) -> Option<Bytes> {
        let inner = self.lock();
        inner
            .map
            .get(key)
            .filter(|e| e.at == at)
            .map(|e| e.body.clone())
    }

    fn put(&self, key: String, at: (u64, i64), body: Bytes) {
        let mut inner = self.lock();
        if inner.map.len() >= MAX_ENTRIES || inner.bytes + body.len() > MAX_BYTES {
            inner.map.clear();
            inner.bytes = 0;
        }
        inner.bytes += body.len();
        if let Some(old) = inner.map.insert(key, Entry { at, body }) {
            inner.bytes -= old.body.len();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Middleware for snapshot-only GET routes: a fresh answer from the cache,
/// or the handler's, kept when it is a 200.
pub async fn serve(State(api): State<ApiState>, req: Request, next: Next) -> Response {
    if req.method() != Method::GET {
        return next.run(req).await;
    }
    let key = req.uri().to_string();
    let at = (api.snapshot().version, api.now().timestamp());
    if let Some(body) = api.cache.get(&key, at) {
        return json(body);
    }
    let response = next.run(req).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => {
            api.cache.put(key, at, bytes.clone());
            Response::from_parts(parts, Body::from(bytes))
        }
        Err(e) => {
            super::ApiError::internal(format!("cannot buffer a response: {e}")).into_response()
        }
    }
}

fn json(body: Bytes) -> Response {
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}
