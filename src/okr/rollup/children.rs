//! How a derived KR (a parent KR without a source of its own) combines its children.

use chrono::{DateTime, Utc};

use super::KrState;
use crate::okr::model::Rollup;

/// How a derived KR combines its children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// No `rollup`: mean of the children's progress.
    Progress,
    Sum,
    Mean,
    Min,
    Max,
}

impl Mode {
    pub(super) fn of(rollup: Option<Rollup>) -> Mode {
        match rollup {
            None => Mode::Progress,
            Some(Rollup::Sum) => Mode::Sum,
            Some(Rollup::Mean) => Mode::Mean,
            Some(Rollup::Min) => Mode::Min,
            Some(Rollup::Max) => Mode::Max,
        }
    }

    /// A child's contribution to its parent's tree.
    pub(super) fn leaf(self, child: &KrState) -> ChildAgg {
        let (acc, n) = match (self, child.value) {
            (Mode::Progress, _) => (child.progress, u32::from(child.has_data)),
            (_, Some(v)) => (v, 1),
            (Mode::Min, None) => (f64::INFINITY, 0),
            (Mode::Max, None) => (f64::NEG_INFINITY, 0),
            (Mode::Sum | Mode::Mean, None) => (0.0, 0),
        };
        ChildAgg {
            acc,
            n,
            last: child.last_update,
        }
    }

    pub(super) fn combine(self, a: ChildAgg, b: ChildAgg) -> ChildAgg {
        let acc = match self {
            Mode::Progress | Mode::Sum | Mode::Mean => a.acc + b.acc,
            Mode::Min => a.acc.min(b.acc),
            Mode::Max => a.acc.max(b.acc),
        };
        ChildAgg {
            acc,
            n: a.n + b.n,
            last: a.last.max(b.last),
        }
    }
}

/// Aggregate of some of a derived KR's children. `n` counts children with data
/// (with a value, except in `Mode::Progress`); `acc` is their sum, min or max.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct ChildAgg {
    pub(super) acc: f64,
    pub(super) n: u32,
    pub(super) last: Option<DateTime<Utc>>,
}

pub(super) const EMPTY_AGG: ChildAgg = ChildAgg {
    acc: 0.0,
    n: 0,
    last: None,
};
