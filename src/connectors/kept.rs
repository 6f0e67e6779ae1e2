//! What a fetch compiles from text (templates, expressions, JSONPaths),
//! kept by that text. Every fetch of a binding compiles the same few texts
//! (its manifest's request, its KR's params, its path), and compiling one
//! costs more than using it.
//!
//! Kept by the text itself, so an edited text is another entry and a stale
//! one can never be used. Texts come from the API too, so what is kept is
//! bounded: past `MAX_KEPT_BYTES` of text, or for a text longer than
//! `MAX_TEXT_BYTES`, the caller compiles for each use, as it always did.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde_json_path::{JsonPath, ParseError};

/// The most bytes of text kept by one `Kept`, over all its entries.
const MAX_KEPT_BYTES: usize = 1024 * 1024;

/// Longer texts are not kept.
pub const MAX_TEXT_BYTES: usize = 4 * 1024;

/// Compiled values by their text, bounded.
pub struct Kept<T> {
    inner: RwLock<Inner<T>>,
}

struct Inner<T> {
    by_text: HashMap<Box<str>, Arc<T>>,
    /// Text kept so far.
    bytes: usize,
}

impl<T> Default for Kept<T> {
    fn default() -> Kept<T> {
        Kept {
            inner: RwLock::new(Inner {
                by_text: HashMap::new(),
                bytes: 0,
            }),
        }
    }
}

impl<T> Inner<T> {
    fn has_room(&self, text: &str) -> bool {
        text.len() <= MAX_TEXT_BYTES && self.bytes + text.len() <= MAX_KEPT_BYTES
    }

    fn insert(&mut self, text: &str, value: Arc<T>) {
        self.bytes += text.len();
        self.by_text.insert(text.into(), value);
    }
}

impl<T> Kept<T> {
    /// What `text` compiled to, if kept.
    pub fn get(&self, text: &str) -> Option<Arc<T>> {
        self.read().by_text.get(text).cloned()
    }

    /// Keeps `value`, compiled from `text`, if there is room; returns it
    /// (or the one another caller kept meanwhile).
    pub fn keep(&self, text: &str, value: T) -> Arc<T> {
        let value = Arc::new(value);
        let mut inner = self.write();
        if let Some(v) = inner.by_text.get(text) {
            return v.clone();
        }
        if inner.has_room(text) {
            inner.insert(text, value.clone());
        }
        value
    }

    /// Like `keep`, for a value that is worth making only to keep it:
    /// `make` runs only when there is room. `None` when there is none.
    pub fn keep_with(&self, text: &str, make: impl FnOnce() -> Option<T>) -> Option<Arc<T>> {
        let mut inner = self.write();
        if let Some(v) = inner.by_text.get(text) {
            return Some(v.clone());
        }
        if !inner.has_room(text) {
            return None;
        }
        let value = Arc::new(make()?);
        inner.insert(text, value.clone());
        Some(value)
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner<T>> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner<T>> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }
}

static JSON_PATHS: LazyLock<Kept<JsonPath>> = LazyLock::new(Kept::default);

/// `text` parsed as a JSONPath, kept.
pub fn json_path(text: &str) -> Result<Arc<JsonPath>, ParseError> {
    if let Some(p) = JSON_PATHS.get(text) {
        return Ok(p);
    }
    Ok(JSON_PATHS.keep(text, JsonPath::parse(text)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_kept_once_and_an_edited_text_is_another_entry() {
        let kept: Kept<String> = Kept::default();
        assert!(kept.get("a").is_none());
        let first = kept.keep("a", "A".into());
        let again = kept.keep("a", "other".into());
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(*kept.get("a").unwrap(), "A");
        assert_eq!(*kept.keep("ab", "AB".into()), "AB");
        assert_eq!(*kept.get("ab").unwrap(), "AB");
    }

    #[test]
    fn a_kept_json_path_queries_like_a_parsed_one() {
        let body = serde_json::json!({"a": [1, 2]});
        let kept = json_path("$.a[1]").unwrap();
        assert!(Arc::ptr_eq(&kept, &json_path("$.a[1]").unwrap()));
        assert_eq!(kept.query(&body).all(), vec![&serde_json::json!(2)]);
        assert_eq!(
            json_path("$.a[0]").unwrap().query(&body).all(),
            vec![&serde_json::json!(1)]
        );
        let e = json_path("$.[").unwrap_err();
        assert_eq!(
            e.to_string(),
            JsonPath::parse("$.[").unwrap_err().to_string()
        );
    }

    #[test]
    fn what_is_kept_is_bounded() {
        let kept: Kept<usize> = Kept::default();
        let long = "x".repeat(MAX_TEXT_BYTES + 1);
        assert_eq!(*kept.keep(&long, 1), 1);
        assert!(kept.get(&long).is_none());
        let mut n = 0;
        loop {
            let text = format!("{n:0>width$}", width = MAX_TEXT_BYTES);
            kept.keep(&text, n);
            if kept.get(&text).is_none() {
                break;
            }
            n += 1;
        }
        assert_eq!(n, MAX_KEPT_BYTES / MAX_TEXT_BYTES);
        // Full: nothing more is made or kept.
        let mut made = false;
        let out = kept.keep_with("new", || {
            made = true;
            Some(0)
        });
        assert!(out.is_none() && !made);
    }
}
