//! A KR's guard against implausible fetched values (README "Held values").
//!
//! A fetched value outside the guard is held: stored, shown, but not the
//! KR's value until the same level persists or a leader accepts it.

use serde::{Deserialize, Serialize};

use super::model::KrKind;

/// The largest believable step, as a share of the KR's scale, when unset.
pub const DEFAULT_MAX_CHANGE: f64 = 1.0;
/// Consecutive fetches at one out-of-guard level that confirm it, when unset.
pub const DEFAULT_CONFIRM_AFTER: u32 = 3;

/// What a source (`[sources.guard]`) or a KR (`[key_results.guard]`) sets;
/// a KR's fields win over its source's, and unset fields take the defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Guard {
    /// Values below are held (never confirmed by repetition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Values above are held (never confirmed by repetition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// The largest believable step from the last counted value: a share of
    /// `|target − start|` (increase, decrease), or of the last counted value
    /// (at_least, at_most, sustain). Default 1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_change: Option<f64>,
    /// Consecutive held fetches at one level that make it the KR's value. Default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_after: Option<u32>,
}

impl Guard {
    /// `self` (a KR's guard) over `base` (its source's): set fields win.
    pub fn over(self, base: Guard) -> Guard {
        Guard {
            min: self.min.or(base.min),
            max: self.max.or(base.max),
            max_change: self.max_change.or(base.max_change),
            confirm_after: self.confirm_after.or(base.confirm_after),
        }
    }

    /// A problem with the guard's own values, for validation.
    pub fn problem(&self) -> Option<String> {
        for (name, v) in [("min", self.min), ("max", self.max)] {
            if v.is_some_and(|v| !v.is_finite()) {
                return Some(format!("guard.{name} must be a finite number"));
            }
        }
        if let (Some(min), Some(max)) = (self.min, self.max)
            && min > max
        {
            return Some(format!("guard.min ({min}) is above guard.max ({max})"));
        }
        if self.max_change.is_some_and(|c| !c.is_finite() || c <= 0.0) {
            return Some("guard.max_change must be a number above 0".into());
        }
        if self.confirm_after == Some(0) {
            return Some("guard.confirm_after must be at least 1".into());
        }
        None
    }
}

/// Where a fetched check-in stands with respect to the guard (`NULL` in
/// the store: counted as fetched).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Hold {
    /// Outside the guard, waiting: it does not count.
    Held,
    /// A value inside the guard came after it: it never counted.
    Superseded,
    /// A leader or admin rejected it.
    Dismissed,
    /// The same level persisted for `confirm_after` fetches: it counts.
    Confirmed,
    /// A leader or admin accepted it: it counts.
    Accepted,
}

impl Hold {
    pub const ALL: [Hold; 5] = [
        Hold::Held,
        Hold::Superseded,
        Hold::Dismissed,
        Hold::Confirmed,
        Hold::Accepted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Hold::Held => "held",
            Hold::Superseded => "superseded",
            Hold::Dismissed => "dismissed",
            Hold::Confirmed => "confirmed",
            Hold::Accepted => "accepted",
        }
    }

    pub fn parse(s: &str) -> Option<Hold> {
        Hold::ALL.into_iter().find(|h| h.as_str() == s)
    }

    /// The check-in counts as a KR value.
    pub fn counts(self) -> bool {
        matches!(self, Hold::Confirmed | Hold::Accepted)
    }
}

/// A guard with its defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resolved {
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub max_change: f64,
    pub confirm_after: u32,
}

impl Default for Resolved {
    fn default() -> Resolved {
        Resolved::from(Guard::default())
    }
}

impl From<Guard> for Resolved {
    fn from(g: Guard) -> Resolved {
        Resolved {
            min: g.min,
            max: g.max,
            max_change: g.max_change.unwrap_or(DEFAULT_MAX_CHANGE),
            confirm_after: g.confirm_after.unwrap_or(DEFAULT_CONFIRM_AFTER).max(1),
        }
    }
}

/// What the guard says of a fetched value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Believable: it becomes the KR's value.
    Inside,
    /// Below `min` or above `max`: held until a person accepts it.
    OutOfBounds,
    /// A step larger than `allowed` from the last counted value: held until
    /// the same level persists for `confirm_after` fetches or a person accepts it.
    TooLargeStep { allowed: f64 },
}

/// The KR facts a guard reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    pub kind: KrKind,
    pub start: Option<f64>,
    pub target: Option<f64>,
    /// The KR's last counted value.
    pub last: Option<f64>,
}

impl Scale {
    /// The largest believable step, or `None` when there is nothing to
    /// measure a step against (no last value, a milestone, a zero scale).
    fn allowed_step(&self, max_change: f64) -> Option<f64> {
        self.last?;
        let scale = match self.kind {
            KrKind::Increase | KrKind::Decrease => (self.target? - self.start?).abs(),
            KrKind::Milestone => return None,
            _ => self.last?.abs(),
        };
        (scale.is_finite() && scale > 0.0).then_some(scale * max_change)
    }
}

impl Resolved {
    /// Below `min` or above `max`.
    pub fn out_of_bounds(&self, value: f64) -> bool {
        self.min.is_some_and(|m| value < m) || self.max.is_some_and(|m| value > m)
    }

    pub fn judge(&self, scale: &Scale, value: f64) -> Verdict {
        if self.out_of_bounds(value) {
            return Verdict::OutOfBounds;
        }
        match (scale.allowed_step(self.max_change), scale.last) {
            (Some(allowed), Some(last)) if (value - last).abs() > allowed => {
                Verdict::TooLargeStep { allowed }
            }
            _ => Verdict::Inside,
        }
    }

    /// Two held values are one level when the step between them is
    /// believable by the same rule (noise of a new level, not a new glitch).
    pub fn same_level(&self, scale: &Scale, a: f64, b: f64) -> bool {
        scale
            .allowed_step(self.max_change)
            .is_some_and(|allowed| (a - b).abs() <= allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn increase(last: Option<f64>) -> Scale {
        Scale {
            kind: KrKind::Increase,
            start: Some(100.0),
            target: Some(200.0),
            last,
        }
    }

    #[test]
    fn steps_are_measured_against_the_kr_s_scale() {
        let g = Resolved::from(Guard::default());
        // |target − start| = 100: a step of exactly 100 is believable.
        assert_eq!(g.judge(&increase(Some(150.0)), 250.0), Verdict::Inside);
        assert_eq!(
            g.judge(&increase(Some(150.0)), 250.5),
            Verdict::TooLargeStep { allowed: 100.0 }
        );
        // Downwards too: a broken tracker's 0.
        assert!(matches!(
            g.judge(&increase(Some(150.0)), 0.0),
            Verdict::TooLargeStep { .. }
        ));
        // Thresholds measure against the last value: 40 → 81 is more than 100%.
        let nps = Scale {
            kind: KrKind::AtLeast,
            start: None,
            target: Some(40.0),
            last: Some(40.0),
        };
        assert_eq!(g.judge(&nps, 80.0), Verdict::Inside);
        assert!(matches!(g.judge(&nps, 81.0), Verdict::TooLargeStep { .. }));
    }

    #[test]
    fn nothing_to_measure_against_means_only_the_bounds() {
        let g = Resolved::from(Guard {
            min: Some(1.0),
            ..Guard::default()
        });
        assert_eq!(g.judge(&increase(None), 1e9), Verdict::Inside);
        assert_eq!(g.judge(&increase(None), 0.0), Verdict::OutOfBounds);
        let zero = Scale {
            kind: KrKind::AtMost,
            start: None,
            target: Some(5.0),
            last: Some(0.0),
        };
        assert_eq!(g.judge(&zero, 50.0), Verdict::Inside);
        let milestone = Scale {
            kind: KrKind::Milestone,
            start: None,
            target: None,
            last: Some(0.0),
        };
        assert_eq!(g.judge(&milestone, 1.0), Verdict::Inside);
    }

    #[test]
    fn a_kr_s_fields_win_over_its_source_s_and_defaults_fill_the_rest() {
        let source = Guard {
            min: Some(0.0),
            max_change: Some(0.5),
            ..Guard::default()
        };
        let kr = Guard {
            max_change: Some(2.0),
            ..Guard::default()
        };
        let r = Resolved::from(kr.over(source));
        assert_eq!(
            r,
            Resolved {
                min: Some(0.0),
                max: None,
                max_change: 2.0,
                confirm_after: 3
            }
        );
    }

    #[test]
    fn held_values_are_one_level_when_their_step_is_believable() {
        let g = Resolved::from(Guard::default());
        let s = increase(Some(150.0));
        assert!(g.same_level(&s, 900.0, 960.0));
        assert!(!g.same_level(&s, 900.0, 1001.0));
    }

    #[test]
    fn hold_names_parse_back() {
        for h in Hold::ALL {
            assert_eq!(Hold::parse(h.as_str()), Some(h));
            assert_eq!(serde_json::to_value(h).unwrap(), h.as_str());
        }
        assert_eq!(
            Hold::ALL.map(Hold::counts),
            [false, false, false, true, true]
        );
    }

    #[test]
    fn bad_guards_are_named() {
        let bad = |g: Guard| g.problem().unwrap_or_default();
        assert!(
            bad(Guard {
                min: Some(5.0),
                max: Some(1.0),
                ..Guard::default()
            })
            .contains("above")
        );
        assert!(
            bad(Guard {
                max_change: Some(0.0),
                ..Guard::default()
            })
            .contains("max_change")
        );
        assert!(
            bad(Guard {
                confirm_after: Some(0),
                ..Guard::default()
            })
            .contains("confirm_after")
        );
        assert!(
            bad(Guard {
                min: Some(f64::NAN),
                ..Guard::default()
            })
            .contains("finite")
        );
        assert_eq!(Guard::default().problem(), None);
    }
}
