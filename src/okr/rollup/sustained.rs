//! Sustain KRs in the engine: their windows judged on the engine's local
//! day, which `advance_to` moves. A window closes when a day ends, with or
//! without a new value, so the clock alone can move progress and status.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::RollupEngine;
use crate::okr::history::local_day;
use crate::okr::sustain::{SustainState, day_start, judge_on};

impl RollupEngine {
    /// Moves the engine's clock to `now`. When the local day changed and
    /// some KR is a sustain KR, every KR is judged again (windows may have
    /// closed) and true is returned. Otherwise it costs one time zone
    /// conversion: callers may call it on every read.
    pub fn advance_to(&mut self, now: DateTime<Utc>) -> bool {
        let today = local_day(self.timezone, now);
        if self.today == Some(today) {
            return false;
        }
        self.today = Some(today);
        if !self.topo.sustained {
            return false;
        }
        // Once a day: the whole model, so objectives and teams follow.
        self.recompute_all();
        true
    }

    /// When the engine's local day ends: the next instant `advance_to`
    /// may change something. `None` without sustain KRs or before the
    /// engine was told the time.
    pub fn next_change(&self) -> Option<DateTime<Utc>> {
        if !self.topo.sustained {
            return None;
        }
        let tomorrow = self.today?.succ_opt()?;
        Some(day_start(self.timezone, tomorrow))
    }

    /// Judges sustain KR `i` again from its history; its progress follows.
    pub(super) fn refresh_sustain(&mut self, i: usize) {
        let kr = &self.krs[i];
        let Some(rule) = kr.sustain.as_ref().map(|s| s.rule) else {
            return;
        };
        let state = match self.topo.periods.get(kr.period_ix as usize) {
            Some(period) => judge_on(rule, kr.target, period, &self.history[i], self.today),
            None => SustainState::pending(rule),
        };
        let kr = &mut self.krs[i];
        kr.progress = state.progress();
        kr.sustain = Some(Arc::new(state));
    }
}
