//! The whole `/metrics` text, as chunks made when asked for: the domain
//! families from one snapshot, then the telemetry registry. `/metrics`
//! streams the chunks, so a scrape holds one chunk at a time however many
//! KRs there are; `render` writes them all into one buffer. Either way it
//! is the same writer and the same bytes.

use std::ops::Deref;

use chrono::{DateTime, Utc};

use super::Telemetry;
use super::domain::Domain;
use crate::live::Snapshot;

/// Bytes per chunk, give or take the last item. 64 KiB plus that item
/// stays under glibc's mmap threshold (128 KiB), so chunks come from the
/// heap instead of fresh pages on every one.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// Room for the item that crosses the chunk's end.
const SLACK: usize = 8 * 1024;

/// The exposition of `snapshot` at `now`: an iterator of chunks.
pub struct Exposition<S> {
    domain: Domain<S>,
    /// The telemetry families, gathered when the scrape began (a few
    /// lines per source), sent after the domain.
    telemetry: Option<Vec<u8>>,
    chunk_bytes: usize,
}

impl<S: Deref<Target = Snapshot>> Exposition<S> {
    pub fn new(snapshot: S, telemetry: &Telemetry, now: DateTime<Utc>) -> Exposition<S> {
        let mut gathered = Vec::new();
        telemetry.render(&mut gathered);
        Exposition {
            domain: Domain::new(snapshot, now),
            telemetry: Some(gathered),
            chunk_bytes: CHUNK_BYTES,
        }
    }

    /// Chunks of about `bytes` (at least one item each).
    pub fn with_chunk_bytes(mut self, bytes: usize) -> Exposition<S> {
        self.chunk_bytes = bytes.max(1);
        self
    }

    /// Everything that is left, appended to `out`.
    pub fn write_all(mut self, out: &mut Vec<u8>) {
        self.domain.write(out, usize::MAX);
        out.extend(self.telemetry.take().unwrap_or_default());
    }
}

impl<S: Deref<Target = Snapshot>> Iterator for Exposition<S> {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        // A larger chunk grows past this as it fills.
        let mut out = Vec::with_capacity(self.chunk_bytes.min(CHUNK_BYTES) + SLACK);
        if self.domain.write(&mut out, self.chunk_bytes) {
            return Some(out);
        }
        out.extend(self.telemetry.take().unwrap_or_default());
        (!out.is_empty()).then_some(out)
    }
}

/// The whole exposition at `now` in one buffer (pace and status follow the clock).
pub fn render(snapshot: &Snapshot, telemetry: &Telemetry, now: DateTime<Utc>) -> Vec<u8> {
    let mut out = Vec::with_capacity(snapshot.key_results.len() * 1600 + 4096);
    Exposition::new(snapshot, telemetry, now).write_all(&mut out);
    out
}
