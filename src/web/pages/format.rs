//! How values read on a page: numbers, percentages, times, the status
//! badge (a colour always with its word) and the progress bar with the
//! expected-pace mark.

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use crate::okr::Status;

/// `1234`, `12.5`, `0.42`: whole numbers without decimals, others with two
/// at most.
pub fn number(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    // As many decimals as a reader can use: 30661, 412.5, 0.42.
    let s = match v.abs() {
        a if a >= 1000.0 => format!("{v:.0}"),
        a if a >= 100.0 => format!("{v:.1}"),
        _ => format!("{v:.2}"),
    };
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A value with its unit: `1234 visits`, `42 %`.
pub fn with_unit(v: f64, unit: Option<&str>) -> String {
    match unit {
        Some(u) if !u.is_empty() => format!("{} {u}", number(v)),
        _ => number(v),
    }
}

/// A 0..1 ratio as a whole percentage.
pub fn percent(ratio: f64) -> String {
    format!("{:.0}%", (ratio * 100.0).clamp(-9999.0, 9999.0))
}

pub fn status_word(s: Status) -> &'static str {
    match s {
        Status::NoData => "no data",
        Status::OffTrack => "off track",
        Status::AtRisk => "at risk",
        Status::OnTrack => "on track",
        Status::Done => "done",
    }
}

/// The status as a coloured badge that says it in words.
pub fn status_badge(s: Status) -> Markup {
    html! { span class={ "st " (s.as_str()) } { (status_word(s)) } }
}

/// A progress bar with a mark where the pace says it should be by now.
/// Screen readers get both numbers in its label.
pub fn progress_bar(progress: f64, expected: Option<f64>) -> Markup {
    let width = (progress.clamp(0.0, 1.0) * 100.0 * 10.0).round() / 10.0;
    let label = match expected {
        Some(e) => format!("{} done, {} expected by now", percent(progress), percent(e)),
        None => format!("{} done", percent(progress)),
    };
    html! {
        span.bar role="img" aria-label=(label) {
            span.fill style={ "width:" (width) "%" } {}
            @if let Some(e) = expected {
                span.pace style={ "left:" (((e.clamp(0.0, 1.0)) * 1000.0).round() / 10.0) "%" } {}
            }
        }
    }
}

/// `2026-10-03 14:05 UTC`.
pub fn instant(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// `5 min ago`, `3 h ago`, `2 days ago`; `in 4 min` for the future.
pub fn ago(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds();
    let (n, future) = (secs.unsigned_abs(), secs < 0);
    let text = match n {
        0..60 => {
            return if future {
                "in a moment".into()
            } else {
                "just now".into()
            };
        }
        60..3600 => format!("{} min", n / 60),
        3600..86_400 => format!("{} h", n / 3600),
        _ => format!("{} days", n / 86_400),
    };
    if future {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn numbers_read_plainly() {
        assert_eq!(number(1234.0), "1234");
        assert_eq!(number(12.5), "12.5");
        assert_eq!(number(0.4242), "0.42");
        assert_eq!(number(30661.47), "30661");
        assert_eq!(number(412.55), "412.6");
        assert_eq!(number(f64::NAN), "–");
        assert_eq!(with_unit(3.0, Some("visits")), "3 visits");
        assert_eq!(percent(0.425), "42%");
    }

    #[test]
    fn every_status_has_its_word() {
        for s in [
            Status::NoData,
            Status::OffTrack,
            Status::AtRisk,
            Status::OnTrack,
            Status::Done,
        ] {
            let badge = status_badge(s).into_string();
            assert!(
                badge.contains(status_word(s)) && badge.contains(s.as_str()),
                "{badge}"
            );
        }
    }

    #[test]
    fn times_say_how_long_ago() {
        let now = Utc.with_ymd_and_hms(2026, 10, 3, 12, 0, 0).unwrap();
        assert_eq!(ago(now - chrono::Duration::minutes(5), now), "5 min ago");
        assert_eq!(ago(now - chrono::Duration::days(2), now), "2 days ago");
        assert_eq!(ago(now + chrono::Duration::minutes(4), now), "in 4 min");
        assert_eq!(ago(now, now), "just now");
    }
}
