//! Rendered page bodies of the pages that come only from the snapshot (the
//! overview, objective and team pages), kept while the snapshot and the
//! clock's second stay the same, as the API keeps its reads. A wall screen
//! and a team opening the overview together cost one render. The shell
//! around a body (who is signed in, the CSRF cookie) is added per request,
//! so one entry serves every visitor of a role.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use crate::live::SnapshotIndex;
use crate::okr::validate::Finding;

/// Entries kept before the cache is emptied.
const MAX_ENTRIES: usize = 256;
/// Bytes kept before the cache is emptied.
const MAX_BYTES: usize = 16 * 1024 * 1024;

#[derive(Clone, Default)]
pub struct PageCache(Arc<Kept>);

#[derive(Default)]
struct Kept {
    bodies: Mutex<Entries>,
    /// The review queue's rule findings for one model (an index): the
    /// whole model is checked once per model, not once per view. Weak, so
    /// it never keeps a replaced model alive.
    findings: Mutex<Option<FindingsOf>>,
}

/// Findings and the model they were checked on.
type FindingsOf = (Weak<SnapshotIndex>, Arc<[Finding]>);

#[derive(Default)]
struct Entries {
    map: HashMap<String, (At, Arc<str>)>,
    bytes: usize,
}

/// The snapshot version and the second a body was rendered for.
pub type At = (u64, i64);

impl PageCache {
    /// The body kept for `key` at `at`, or `render`'s, kept.
    pub fn get_or_render(&self, key: String, at: At, render: impl FnOnce() -> String) -> Arc<str> {
        if let Some((kept_at, body)) = self.lock().map.get(&key)
            && *kept_at == at
        {
            return body.clone();
        }
        let body: Arc<str> = render().into();
        let mut entries = self.lock();
        if entries.map.len() >= MAX_ENTRIES || entries.bytes + body.len() > MAX_BYTES {
            entries.map.clear();
            entries.bytes = 0;
        }
        entries.bytes += body.len();
        if let Some((_, old)) = entries.map.insert(key, (at, body.clone())) {
            entries.bytes -= old.len();
        }
        body
    }

    /// The findings kept for `index`, or `check`'s, kept.
    pub fn findings_of(
        &self,
        index: &Arc<SnapshotIndex>,
        check: impl FnOnce() -> Vec<Finding>,
    ) -> Arc<[Finding]> {
        let mut kept = self.0.findings.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((of, findings)) = kept.as_ref()
            && of.upgrade().is_some_and(|of| Arc::ptr_eq(&of, index))
        {
            return findings.clone();
        }
        let findings: Arc<[Finding]> = check().into();
        *kept = Some((Arc::downgrade(index), findings.clone()));
        findings
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.0.bodies.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_rendered_once_per_snapshot_and_second() {
        let cache = PageCache::default();
        let mut renders = 0;
        let mut get = |at: At| {
            cache
                .get_or_render("/".into(), at, || {
                    renders += 1;
                    format!("body {at:?}")
                })
                .to_string()
        };
        assert_eq!(get((1, 10)), "body (1, 10)");
        assert_eq!(get((1, 10)), "body (1, 10)");
        assert_eq!(get((2, 10)), "body (2, 10)", "a new snapshot renders anew");
        assert_eq!(get((2, 11)), "body (2, 11)", "so does a new second");
        assert_eq!(renders, 3);
    }

    #[test]
    fn findings_are_checked_once_per_model() {
        let cache = PageCache::default();
        let checks = std::cell::Cell::new(0);
        let findings_of = |index: &Arc<SnapshotIndex>| {
            cache.findings_of(index, || {
                checks.set(checks.get() + 1);
                Vec::new()
            });
        };
        let model = Arc::new(SnapshotIndex::default());
        findings_of(&model);
        findings_of(&model.clone());
        assert_eq!(checks.get(), 1);
        findings_of(&Arc::new(SnapshotIndex::default()));
        assert_eq!(checks.get(), 2, "another model is checked anew");
    }
}
