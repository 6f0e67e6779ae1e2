//! Progress, expected progress and status of one KR (README "Progress and status", a contract).
//!
//! Pure functions: the rollup engine calls them per KR, the renderers call
//! `expected_progress` and `status` at render time so pace follows the clock.

use chrono::{DateTime, NaiveDate, Utc};

use super::model::{KrKind, Period, Status, end_of_day};

/// How far behind the expected pace a KR may be and still count as on track.
const ON_TRACK_SLACK: f64 = 0.10;
/// How far behind the pace a KR may be and still be only at risk.
const AT_RISK_SLACK: f64 = 0.25;

/// Progress of a KR with a value, 0..=1. `None` value means no check-in yet: 0.
pub fn progress(kind: KrKind, value: Option<f64>, start: Option<f64>, target: Option<f64>) -> f64 {
    let Some(current) = value else { return 0.0 };
    match kind {
        KrKind::Increase | KrKind::Decrease => match (start, target) {
            (Some(start), Some(target)) if target != start => {
                clamp01((current - start) / (target - start))
            }
            _ => 0.0,
        },
        KrKind::AtLeast => match target {
            Some(t) if current >= t => 1.0,
            _ => 0.0,
        },
        KrKind::AtMost => match target {
            Some(t) if current <= t => 1.0,
            _ => 0.0,
        },
        KrKind::Milestone => {
            if current >= 1.0 {
                1.0
            } else {
                0.0
            }
        }
        // A value alone says nothing: windows do (`sustain_progress`).
        KrKind::Sustain => 0.0,
    }
}

/// Progress of a sustain KR: satisfied closed windows over `required`, at most 1.
pub fn sustain_progress(satisfied: u32, required: u32) -> f64 {
    clamp01(f64::from(satisfied) / f64::from(required.max(1)))
}

/// Status of a sustain KR from its windows: `done` once `satisfied` closed
/// windows reach `required`; `off_track` once the `remaining` windows (the
/// current one included) cannot make up the difference; `at_risk` when
/// every one of them must be satisfied; otherwise `on_track`.
pub fn sustain_status(has_value: bool, satisfied: u32, remaining: u32, required: u32) -> Status {
    let required = required.max(1);
    if satisfied >= required {
        return Status::Done;
    }
    if !has_value {
        return Status::NoData;
    }
    let reachable = u64::from(satisfied) + u64::from(remaining);
    match reachable.cmp(&u64::from(required)) {
        std::cmp::Ordering::Less => Status::OffTrack,
        std::cmp::Ordering::Equal => Status::AtRisk,
        std::cmp::Ordering::Greater => Status::OnTrack,
    }
}

/// Share of the period elapsed at `now`, 0..=1 (the period ends at the end of its last day).
pub fn expected_progress(period: &Period, now: DateTime<Utc>) -> f64 {
    expected_progress_between(period.start_instant(), period.end_instant(), now)
}

/// `expected_progress` with the period given as instants (cheap in hot loops).
pub fn expected_progress_between(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> f64 {
    let total = (end - start).num_milliseconds();
    if total <= 0 {
        return if now >= end { 1.0 } else { 0.0 };
    }
    clamp01((now - start).num_milliseconds() as f64 / total as f64)
}

/// Status of a KR. `has_value` is false when the KR has no check-in (or no
/// rolled-up value) yet.
pub fn status(
    kind: KrKind,
    has_value: bool,
    progress: f64,
    expected: f64,
    due: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Status {
    if !has_value {
        return Status::NoData;
    }
    match kind {
        KrKind::Increase | KrKind::Decrease => pace_status(progress, expected),
        KrKind::AtLeast | KrKind::AtMost => {
            if progress >= 1.0 {
                Status::OnTrack
            } else {
                Status::OffTrack
            }
        }
        KrKind::Milestone => {
            if progress >= 1.0 {
                Status::Done
            } else if due.is_none_or(|d| now < end_of_day(d)) {
                Status::OnTrack
            } else {
                Status::OffTrack
            }
        }
        // Without its windows (a KR the engine does not judge, such as a
        // draft): what its progress says.
        KrKind::Sustain => {
            if progress >= 1.0 {
                Status::Done
            } else {
                Status::OnTrack
            }
        }
    }
}

/// Status against the pace, for KRs (and parents) measured by progress.
pub fn pace_status(progress: f64, expected: f64) -> Status {
    if progress >= 1.0 {
        Status::Done
    } else if progress >= expected - ON_TRACK_SLACK {
        Status::OnTrack
    } else if progress >= expected - AT_RISK_SLACK {
        Status::AtRisk
    } else {
        Status::OffTrack
    }
}

fn clamp01(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn q4() -> Period {
        Period {
            id: "2026-Q4".into(),
            start: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
            end: NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
        }
    }

    #[test]
    fn increase_is_linear_between_start_and_target() {
        let p = progress(KrKind::Increase, Some(150.0), Some(100.0), Some(200.0));
        assert!((p - 0.5).abs() < 1e-12);
    }

    #[test]
    fn overshoot_is_capped_at_one() {
        assert_eq!(
            progress(KrKind::Increase, Some(500.0), Some(100.0), Some(200.0)),
            1.0
        );
    }

    #[test]
    fn decrease_past_target_is_done_and_capped() {
        let p = progress(KrKind::Decrease, Some(400.0), Some(1200.0), Some(600.0));
        assert_eq!(p, 1.0);
        let half = progress(KrKind::Decrease, Some(900.0), Some(1200.0), Some(600.0));
        assert!((half - 0.5).abs() < 1e-12);
    }

    #[test]
    fn value_back_past_start_is_zero_not_negative() {
        assert_eq!(
            progress(KrKind::Increase, Some(50.0), Some(100.0), Some(200.0)),
            0.0
        );
        assert_eq!(
            progress(KrKind::Decrease, Some(1500.0), Some(1200.0), Some(600.0)),
            0.0
        );
    }

    #[test]
    fn no_check_in_means_zero_progress_and_no_data() {
        assert_eq!(progress(KrKind::Increase, None, Some(0.0), Some(1.0)), 0.0);
        let now = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        assert_eq!(
            status(KrKind::Increase, false, 0.0, 0.3, None, now),
            Status::NoData
        );
        assert_eq!(
            status(KrKind::AtLeast, false, 0.0, 0.3, None, now),
            Status::NoData
        );
    }

    #[test]
    fn a_kr_that_measures_nothing_makes_no_progress() {
        // start = target divides by zero; validation refuses such a KR, and
        // the engine must still give 0, not 1 from an infinite share.
        for value in [50.0, 100.0, 150.0] {
            for kind in [KrKind::Increase, KrKind::Decrease] {
                let p = progress(kind, Some(value), Some(100.0), Some(100.0));
                assert_eq!(p, 0.0, "{kind:?} at {value}");
            }
        }
        assert_eq!(progress(KrKind::Increase, Some(5.0), None, Some(10.0)), 0.0);
        assert_eq!(progress(KrKind::Increase, Some(5.0), Some(0.0), None), 0.0);
        assert_eq!(progress(KrKind::AtLeast, Some(5.0), None, None), 0.0);
        assert_eq!(progress(KrKind::AtMost, Some(5.0), None, None), 0.0);
    }

    #[test]
    fn thresholds_are_inclusive() {
        assert_eq!(progress(KrKind::AtLeast, Some(30.0), None, Some(30.0)), 1.0);
        assert_eq!(progress(KrKind::AtLeast, Some(29.9), None, Some(30.0)), 0.0);
        assert_eq!(progress(KrKind::AtMost, Some(5.0), None, Some(5.0)), 1.0);
        assert_eq!(progress(KrKind::AtMost, Some(5.1), None, Some(5.0)), 0.0);
    }

    #[test]
    fn threshold_status_is_on_or_off_track() {
        let now = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        assert_eq!(
            status(KrKind::AtLeast, true, 1.0, 0.9, None, now),
            Status::OnTrack
        );
        assert_eq!(
            status(KrKind::AtMost, true, 0.0, 0.0, None, now),
            Status::OffTrack
        );
    }

    #[test]
    fn expected_progress_before_during_and_after_period() {
        let p = q4();
        let before = Utc.with_ymd_and_hms(2026, 9, 1, 0, 0, 0).unwrap();
        let after = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 1).unwrap();
        assert_eq!(expected_progress(&p, before), 0.0);
        assert_eq!(expected_progress(&p, after), 1.0);
        // The period is 92 days; its last day counts in full.
        let day46 = Utc.with_ymd_and_hms(2026, 11, 16, 0, 0, 0).unwrap();
        assert!((expected_progress(&p, day46) - 46.0 / 92.0).abs() < 1e-12);
        let last_noon = Utc.with_ymd_and_hms(2026, 12, 31, 12, 0, 0).unwrap();
        assert!(expected_progress(&p, last_noon) < 1.0);
    }

    #[test]
    fn a_period_of_no_length_is_all_expected_from_its_end() {
        let t = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();
        let second = chrono::Duration::seconds(1);
        assert_eq!(expected_progress_between(t, t, t - second), 0.0);
        assert_eq!(expected_progress_between(t, t, t), 1.0);
        assert_eq!(expected_progress_between(t, t, t + second), 1.0);
        // An inverted period (end before start) as well.
        assert_eq!(
            expected_progress_between(t, t - second, t - second * 2),
            0.0
        );
        assert_eq!(expected_progress_between(t, t - second, t - second), 1.0);
    }

    #[test]
    fn pace_bands() {
        assert_eq!(pace_status(1.0, 0.5), Status::Done);
        assert_eq!(pace_status(0.40, 0.5), Status::OnTrack);
        assert_eq!(pace_status(0.39, 0.5), Status::AtRisk);
        assert_eq!(pace_status(0.25, 0.5), Status::AtRisk);
        assert_eq!(pace_status(0.24, 0.5), Status::OffTrack);
        // Before the period starts nothing is expected, so any progress is on track.
        assert_eq!(pace_status(0.0, 0.0), Status::OnTrack);
    }

    #[test]
    fn sustain_progress_counts_satisfied_closed_windows() {
        assert_eq!(sustain_progress(0, 10), 0.0);
        assert!((sustain_progress(3, 10) - 0.3).abs() < 1e-12);
        assert_eq!(sustain_progress(12, 10), 1.0);
        // A rule of 0 windows (refused by validation) does not divide by zero.
        assert_eq!(sustain_progress(0, 0), 0.0);
        assert_eq!(progress(KrKind::Sustain, Some(50.0), None, Some(40.0)), 0.0);
    }

    #[test]
    fn sustain_status_follows_what_the_remaining_windows_can_reach() {
        // 10 of 13 needed.
        assert_eq!(sustain_status(false, 0, 13, 10), Status::NoData);
        assert_eq!(sustain_status(true, 0, 13, 10), Status::OnTrack);
        assert_eq!(sustain_status(true, 1, 12, 10), Status::OnTrack);
        // 4 closed, 2 satisfied: 9 remain and 8 are needed.
        assert_eq!(sustain_status(true, 2, 9, 10), Status::OnTrack);
        // Every remaining window must hold.
        assert_eq!(sustain_status(true, 2, 8, 10), Status::AtRisk);
        // Out of reach.
        assert_eq!(sustain_status(true, 2, 7, 10), Status::OffTrack);
        assert_eq!(sustain_status(true, 9, 0, 10), Status::OffTrack);
        // Enough: done, whatever remains, even with no value counted now.
        assert_eq!(sustain_status(true, 10, 3, 10), Status::Done);
        assert_eq!(sustain_status(false, 10, 0, 10), Status::Done);
    }

    #[test]
    fn milestone_done_before_and_after_due() {
        let due = NaiveDate::from_ymd_opt(2026, 11, 15).unwrap();
        let before = Utc.with_ymd_and_hms(2026, 11, 15, 23, 0, 0).unwrap();
        let after = Utc.with_ymd_and_hms(2026, 11, 16, 0, 0, 0).unwrap();
        assert_eq!(progress(KrKind::Milestone, Some(1.0), None, None), 1.0);
        assert_eq!(progress(KrKind::Milestone, Some(0.0), None, None), 0.0);
        assert_eq!(
            status(KrKind::Milestone, true, 1.0, 0.9, Some(due), after),
            Status::Done
        );
        assert_eq!(
            status(KrKind::Milestone, true, 0.0, 0.9, Some(due), before),
            Status::OnTrack
        );
        assert_eq!(
            status(KrKind::Milestone, true, 0.0, 0.9, Some(due), after),
            Status::OffTrack
        );
    }
}
