//! How long a binding waits after a failed run before it may run again.

use std::time::Duration;

use super::{Outcome, SchedulerConfig};

/// Exponential backoff: `min(base · 2^(failures − 1), max)`; zero for no failures.
pub fn backoff_delay(base: Duration, max: Duration, failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let exponent = (failures - 1).min(31);
    base.checked_mul(1u32 << exponent).unwrap_or(max).min(max)
}

/// How long to hold a binding off after `outcome`, where `failures` is its
/// consecutive failure count including this outcome.
///
/// - success: no hold-off;
/// - transient failure: `max(retry_after, backoff_delay(..))`;
/// - permanent failure: only an explicit `retry_after` (the next slot may
///   well succeed after a config fix, and hammering is not a concern at the
///   schedule's own pace).
pub fn hold_off(outcome: &Outcome, failures: u32, config: &SchedulerConfig) -> Option<Duration> {
    match *outcome {
        Outcome::Success | Outcome::Deferred { .. } => None,
        Outcome::Failure {
            transient: true,
            retry_after,
        } => {
            let backoff = backoff_delay(config.backoff_base, config.backoff_max, failures);
            Some(retry_after.unwrap_or(Duration::ZERO).max(backoff))
        }
        Outcome::Failure {
            transient: false,
            retry_after,
        } => retry_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn config() -> SchedulerConfig {
        SchedulerConfig {
            backoff_base: 30 * S,
            backoff_max: 3600 * S,
            ..SchedulerConfig::default()
        }
    }

    #[test]
    fn doubles_from_base_and_caps_at_max() {
        let got: Vec<u64> = (0..10)
            .map(|n| backoff_delay(30 * S, 3600 * S, n).as_secs())
            .collect();
        assert_eq!(got, vec![0, 30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(backoff_delay(30 * S, 3600 * S, u32::MAX), 3600 * S);
    }

    #[test]
    fn hold_off_per_outcome() {
        let c = config();
        assert_eq!(hold_off(&Outcome::Success, 0, &c), None);
        let transient = |retry_after| Outcome::Failure {
            transient: true,
            retry_after,
        };
        assert_eq!(hold_off(&transient(None), 1, &c), Some(30 * S));
        assert_eq!(hold_off(&transient(None), 3, &c), Some(120 * S));
        // Retry-After wins when longer, backoff when Retry-After is shorter.
        assert_eq!(hold_off(&transient(Some(300 * S)), 1, &c), Some(300 * S));
        assert_eq!(hold_off(&transient(Some(5 * S)), 2, &c), Some(60 * S));
        // Retry-After beyond backoff_max is still honoured.
        assert_eq!(hold_off(&transient(Some(7200 * S)), 1, &c), Some(7200 * S));
        let permanent = |retry_after| Outcome::Failure {
            transient: false,
            retry_after,
        };
        assert_eq!(hold_off(&permanent(None), 4, &c), None);
        assert_eq!(hold_off(&permanent(Some(90 * S)), 4, &c), Some(90 * S));
    }
}
