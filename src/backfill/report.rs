//! What backfilling one KR came to, for the log and `okrd backfill`.

use std::fmt;

use crate::connectors::{FetchError, Reason};

/// Why a KR gets no past days at all.
#[derive(Debug, Clone, PartialEq)]
pub enum Skip {
    /// Its source is not in the config.
    NotConfigured,
    /// Its connector only tells the present (`http_json`, `exec`, a
    /// manifest without `history`).
    PresentOnly { connector: String },
    /// Its request is the same for a past day as for now (its params pin
    /// the range), so every past day would get today's value.
    SameEveryDay,
    /// Its params cannot be rendered or used; its fetches fail too.
    Unusable(String),
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::NotConfigured => f.write_str("its source is not configured"),
            Skip::PresentOnly { connector } => write!(
                f,
                "connector `{connector}` answers only for now, not for a past day"
            ),
            Skip::SameEveryDay => f.write_str(
                "its request is the same for a past day as for today (its params use no \
                 `{{ today }}` or `{{ now }}`), so every past day would get today's value",
            ),
            Skip::Unusable(why) => write!(f, "its params cannot be used: {why}"),
        }
    }
}

/// Why a KR's backfill stopped before its last day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Asked to stop (Ctrl-C, shutdown, or its binding changed).
    Interrupted,
    /// The source failed in a way the next day would too (unreachable,
    /// rate limited, 5xx, refused credentials, or failure after failure).
    SourceFailing(Reason),
}

/// The days of one KR's backfill.
#[derive(Debug, Clone, Default)]
pub struct KrReport {
    /// Past days of the period looked at.
    pub days: usize,
    /// Days fetched and written now.
    pub fetched: usize,
    /// Days that already had a check-in (skipped).
    pub already: usize,
    /// Days whose fetch failed.
    pub failed: usize,
    pub stopped: Option<Stopped>,
    /// The last failure, for people.
    pub last_error: Option<FetchError>,
}

impl KrReport {
    /// Days not tried because the backfill stopped first.
    pub fn left(&self) -> usize {
        self.days
            .saturating_sub(self.fetched + self.already + self.failed)
    }

    /// Whether every past day now has a value.
    pub fn complete(&self) -> bool {
        self.failed == 0 && self.left() == 0
    }
}

impl fmt::Display for KrReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} past days: {} fetched, {} already had a check-in, {} failed",
            self.days, self.fetched, self.already, self.failed
        )?;
        if let Some(e) = &self.last_error {
            write!(f, " (last: {e})")?;
        }
        match self.stopped {
            None => Ok(()),
            Some(Stopped::Interrupted) => write!(f, "; interrupted, {} days left", self.left()),
            Some(Stopped::SourceFailing(reason)) => write!(
                f,
                "; stopped on `{reason}`, {} days left for the next backfill",
                self.left()
            ),
        }
    }
}

/// What backfilling one KR did.
#[derive(Debug, Clone)]
pub enum KrOutcome {
    Skipped(Skip),
    Ran(KrReport),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_says_what_is_left() {
        let r = KrReport {
            days: 10,
            fetched: 4,
            already: 3,
            failed: 1,
            stopped: Some(Stopped::SourceFailing(Reason::Http5xx)),
            last_error: Some(FetchError::new(Reason::Http5xx, "HTTP 503")),
        };
        assert_eq!(r.left(), 2);
        assert!(!r.complete());
        assert_eq!(
            r.to_string(),
            "10 past days: 4 fetched, 3 already had a check-in, 1 failed \
             (last: http_5xx: HTTP 503); stopped on `http_5xx`, 2 days left for the next backfill"
        );
        let skip = Skip::PresentOnly {
            connector: "http_json".into(),
        };
        assert_eq!(
            skip.to_string(),
            "connector `http_json` answers only for now, not for a past day"
        );
        assert!(Skip::SameEveryDay.to_string().contains("`{{ today }}`"));
    }
}
