//! Sustained KRs (README "Sustained key results"): a level to hold in
//! enough windows (days, weeks or months) of the period, such as "NPS at
//! least 40 in 10 of the 13 weeks".
//!
//! The rule ([`Sustain`]), how OKR files and the API spell it
//! ([`SustainFields`]), and the pure judgement ([`judge`]): the period cut
//! into windows of local days, each window's value from the KR's daily
//! history, which windows are satisfied and closed, and the progress and
//! status that follow.

mod fields;
mod windows;

use serde::{Deserialize, Serialize};

pub use fields::SustainFields;
pub use windows::{
    SustainState, WindowState, day_start, judge, judge_on, window_count, windows_of,
};

/// Which side of `target` a window's value must be on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    AtLeast,
    AtMost,
}

impl Comparison {
    pub const ALL: [Comparison; 2] = [Comparison::AtLeast, Comparison::AtMost];

    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::AtLeast => "at_least",
            Comparison::AtMost => "at_most",
        }
    }

    pub fn parse(s: &str) -> Option<Comparison> {
        Comparison::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Inclusive, as for `at_least` and `at_most` KRs.
    pub fn holds(self, value: f64, target: f64) -> bool {
        match self {
            Comparison::AtLeast => value >= target,
            Comparison::AtMost => value <= target,
        }
    }
}

/// How the period is cut: local days, weeks from Monday, calendar months,
/// in the scheduler's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    Day,
    Week,
    Month,
}

impl Window {
    pub const ALL: [Window; 3] = [Window::Day, Window::Week, Window::Month];

    pub fn as_str(self) -> &'static str {
        match self {
            Window::Day => "day",
            Window::Week => "week",
            Window::Month => "month",
        }
    }

    pub fn parse(s: &str) -> Option<Window> {
        Window::ALL.into_iter().find(|w| w.as_str() == s)
    }

    /// "3 of 10 weeks".
    pub fn plural(self) -> &'static str {
        match self {
            Window::Day => "days",
            Window::Week => "weeks",
            Window::Month => "months",
        }
    }
}

/// How a window's value comes from its days.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    /// The value at the window's last day with one (carried forward).
    #[default]
    Last,
    /// The mean of the window's daily values (each day's last value,
    /// carried over days without a check-in).
    Mean,
}

impl Aggregate {
    pub const ALL: [Aggregate; 2] = [Aggregate::Last, Aggregate::Mean];

    pub fn as_str(self) -> &'static str {
        match self {
            Aggregate::Last => "last",
            Aggregate::Mean => "mean",
        }
    }

    pub fn parse(s: &str) -> Option<Aggregate> {
        Aggregate::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// A sustain KR's rule: its value must be `comparison` its `target` in
/// `required` windows of the period.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sustain {
    pub comparison: Comparison,
    pub window: Window,
    /// Windows of the period that must satisfy it (1 to the period's windows).
    pub required: u32,
    #[serde(default)]
    pub aggregate: Aggregate,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire<T: Serialize>(v: T) -> String {
        match serde_json::to_value(v) {
            Ok(serde_json::Value::String(s)) => s,
            other => panic!("not a string: {other:?}"),
        }
    }

    #[test]
    fn names_match_json_and_parse_back() {
        for c in Comparison::ALL {
            assert_eq!(c.as_str(), wire(c));
            assert_eq!(Comparison::parse(c.as_str()), Some(c));
        }
        for w in Window::ALL {
            assert_eq!(w.as_str(), wire(w));
            assert_eq!(Window::parse(w.as_str()), Some(w));
        }
        for a in Aggregate::ALL {
            assert_eq!(a.as_str(), wire(a));
            assert_eq!(Aggregate::parse(a.as_str()), Some(a));
        }
        assert_eq!(Window::parse("weekly"), None);
        assert_eq!(Comparison::parse("at-least"), None);
        assert_eq!(Aggregate::default(), Aggregate::Last);
    }

    #[test]
    fn the_rule_is_json_with_last_by_default() {
        let rule: Sustain =
            serde_json::from_str(r#"{"comparison":"at_least","window":"week","required":10}"#)
                .unwrap();
        assert_eq!(
            rule,
            Sustain {
                comparison: Comparison::AtLeast,
                window: Window::Week,
                required: 10,
                aggregate: Aggregate::Last,
            }
        );
        let back: Sustain = serde_json::from_str(&serde_json::to_string(&rule).unwrap()).unwrap();
        assert_eq!(back, rule);
        assert!(serde_json::from_str::<Sustain>(r#"{"comparison":"at_least"}"#).is_err());
    }

    #[test]
    fn comparisons_are_inclusive() {
        assert!(Comparison::AtLeast.holds(40.0, 40.0));
        assert!(!Comparison::AtLeast.holds(39.9, 40.0));
        assert!(Comparison::AtMost.holds(5.0, 5.0));
        assert!(!Comparison::AtMost.holds(5.1, 5.0));
    }
}
