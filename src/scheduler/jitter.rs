//! Deterministic per-binding jitter, so many KRs on one schedule do not all
//! hit their sources in the same second, yet each KR always runs at the same
//! offset (predictable, and stable across restarts and replicas).

use std::time::Duration;

/// The offset of binding `id` within `window`: in `[0, window)` (zero for an
/// empty window), whole milliseconds, derived only from `id`.
pub fn jitter_offset(id: &str, window: Duration) -> Duration {
    let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
    // Scale the 64-bit hash onto the window: uniform and always < window.
    let offset_ms = (u128::from(stable_hash(id)) * u128::from(window_ms)) >> 64;
    Duration::from_millis(offset_ms as u64)
}

/// FNV-1a followed by the splitmix64 finaliser. Spelled out rather than
/// `std`'s hasher, whose output may change between Rust releases; the
/// finaliser spreads ids that differ only in their last character.
fn stable_hash(id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in id.bytes() {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_within_the_window() {
        let window = Duration::from_secs(60);
        for i in 0..1000 {
            let id = format!("kr-{i}");
            let a = jitter_offset(&id, window);
            assert_eq!(a, jitter_offset(&id, window));
            assert!(a < window, "{id}: {a:?}");
        }
        assert_eq!(jitter_offset("kr-1", Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn pinned_values() {
        // Offsets must not change between releases: replicas and restarts
        // agree on when each KR runs.
        let minute = Duration::from_secs(60);
        assert_eq!(
            jitter_offset("reset-calls", minute),
            Duration::from_millis(6893)
        );
        assert_eq!(jitter_offset("kr-1", minute), Duration::from_millis(9268));
        assert_eq!(jitter_offset("kr-2", minute), Duration::from_millis(4549));
    }

    #[test]
    fn spread_over_the_window() {
        let window = Duration::from_secs(60);
        let mut buckets = [0u32; 10];
        for i in 0..1000 {
            let offset = jitter_offset(&format!("kr-{i}"), window);
            buckets[(offset.as_secs() / 6) as usize] += 1;
        }
        // 100 expected per bucket; allow generous statistical slack.
        assert!(
            buckets.iter().all(|&n| (60..=140).contains(&n)),
            "{buckets:?}"
        );
    }
}
