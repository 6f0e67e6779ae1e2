//! Request extractors whose rejections are problem+json with a useful
//! `detail`: JSON bodies (type checked, unknown members refused, at most
//! `MAX_BODY_BYTES`), query strings and path ids.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Largest request body accepted (1 MiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON request body.
pub struct ApiJson<T>(pub T);

/// A JSON request body that may be left out (an empty body is `T::default()`).
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(req, state).await?;
        if bytes.is_empty() {
            return Err(ApiError::bad_request(
                "the request needs a JSON body (Content-Type: application/json)",
            ));
        }
        parse(&bytes).map(ApiJson)
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        parse(&bytes).map(OptionalJson)
    }
}

/// The body, refusing what is too large or not declared as JSON.
async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = Bytes::from_request(req, state).await.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than {} KiB", MAX_BODY_BYTES / 1024),
            )
        } else {
            ApiError::bad_request(format!("cannot read the body: {}", r.body_text()))
        }
    })?;
    // An empty body needs no type; anything else must say it is JSON.
    if !bytes.is_empty() && !content_type.as_deref().is_some_and(is_json) {
        let declared = content_type
            .map(|v| format!("`{v}`"))
            .unwrap_or_else(|| "no Content-Type".into());
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "the body must be JSON sent with Content-Type: application/json, not {declared}"
            ),
        ));
    }
    Ok(bytes)
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Syntax errors are 400; well-formed JSON of the wrong shape is 422, naming
/// the member at fault (`source.params`, `due`).
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| body_error(&e.path().to_string(), e.into_inner()))?;
    de.end().map_err(|e| body_error("", e))?;
    Ok(parsed)
}

fn body_error(path: &str, e: serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::bad_request(format!("the body is not valid JSON: {e}"))
        }
        Category::Data if path.is_empty() || path == "." => {
            ApiError::unprocessable(format!("invalid body: {e}"))
        }
        Category::Data => ApiError::unprocessable(format!("invalid body at `{path}`: {e}")),
    }
}

/// For PATCH bodies. A member that may be absent (keep it) but not `null`: it cannot be cleared.
pub fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// A member that may be `null` (clear it) or absent (keep it).
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A query string (unknown parameters are refused, so typos do not go unnoticed).
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|q| ApiQuery(q.0))
            .map_err(|r| {
                let text = r.body_text();
                let why = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text);
                ApiError::bad_request(format!("invalid query string: {why}"))
            })
    }
}

/// The `{id}` of a path.
pub struct PathId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|p| PathId(p.0))
            // An id that does not even decode names nothing that exists.
            .map_err(|_| {
                ApiError::new(
                    axum::http::StatusCode::NOT_FOUND,
                    "the id in the path does not decode as UTF-8: no entity with it exists",
                )
            })
    }
}
