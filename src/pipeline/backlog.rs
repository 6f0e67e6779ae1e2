//! Fetched values the database could not take yet (locked, restarting,
//! unreachable). They wait here, in order, with their original observation
//! time, and are written when it comes back. Bounded: when full, the oldest
//! value of the KR that has the most waiting goes first, so every KR keeps
//! its newest values and one noisy KR cannot push the others out.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::binding::Binding;
use crate::okr::guard::Verdict;

/// Values kept while the database is away: at ~300 bytes each, about 30 MiB.
pub const BACKLOG_CAPACITY: usize = 100_000;

/// One fetched value waiting to be written.
#[derive(Debug, Clone)]
pub struct Pending {
    pub binding: Arc<Binding>,
    pub value: f64,
    pub observed_at: DateTime<Utc>,
    /// The schedule slot, for the check-in's idempotency key.
    pub slot_ms: i64,
    /// How long the fetch took, for the success event once written.
    pub took: Duration,
    /// What the KR's guard said of the value when it was fetched.
    pub verdict: Verdict,
}

/// The waiting values, oldest first.
#[derive(Debug)]
pub struct Backlog {
    queue: VecDeque<Pending>,
    per_kr: HashMap<String, usize>,
    capacity: usize,
}

impl Backlog {
    pub fn new(capacity: usize) -> Backlog {
        Backlog {
            queue: VecDeque::new(),
            per_kr: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Adds a value at the back; returns how many values were dropped to
    /// make room (0 or 1).
    pub fn push(&mut self, p: Pending) -> usize {
        let dropped = usize::from(self.queue.len() >= self.capacity && self.evict(Some(&p)));
        self.count(&p.binding.key_result, 1);
        self.queue.push_back(p);
        dropped
    }

    /// Up to `n` of the oldest values, taken out.
    pub fn take(&mut self, n: usize) -> Vec<Pending> {
        let n = n.min(self.queue.len());
        let taken: Vec<Pending> = self.queue.drain(..n).collect();
        for p in &taken {
            self.count(&p.binding.key_result, -1);
        }
        taken
    }

    /// Puts values taken but not written back at the front, in their order;
    /// returns how many values were dropped because the backlog filled up
    /// meanwhile (a put-back value when its KR has newer ones waiting, else
    /// the oldest of the KR with the most waiting).
    pub fn put_back(&mut self, values: Vec<Pending>) -> usize {
        let mut dropped = 0;
        for p in values.into_iter().rev() {
            if self.queue.len() >= self.capacity {
                dropped += 1;
                if self.per_kr.contains_key(&p.binding.key_result) || !self.evict(None) {
                    continue;
                }
            }
            self.count(&p.binding.key_result, 1);
            self.queue.push_front(p);
        }
        dropped
    }

    /// Drops the oldest value of `incoming`'s KR if it has any waiting,
    /// else of the KR with the most waiting. False if nothing could go.
    fn evict(&mut self, incoming: Option<&Pending>) -> bool {
        let own = incoming
            .map(|p| p.binding.key_result.as_str())
            .filter(|kr| self.per_kr.contains_key(*kr));
        let victim = match own {
            Some(kr) => kr.to_string(),
            None => match self.per_kr.iter().max_by_key(|(_, n)| **n) {
                Some((kr, _)) => kr.clone(),
                None => return false,
            },
        };
        let Some(at) = self
            .queue
            .iter()
            .position(|p| p.binding.key_result == victim)
        else {
            return false;
        };
        self.queue.remove(at);
        self.count(&victim, -1);
        true
    }

    fn count(&mut self, kr: &str, delta: isize) {
        let n = self.per_kr.entry(kr.to_string()).or_default();
        *n = n.saturating_add_signed(delta);
        if *n == 0 {
            self.per_kr.remove(kr);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::okr::{KrKind, Period};

    fn pending(kr: &str, value: f64) -> Pending {
        Pending {
            binding: Arc::new(Binding {
                key_result: kr.into(),
                kind: KrKind::Increase,
                source: "s".into(),
                params: Default::default(),
                period: Period::quarter_of(chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()),
                schedule: "* * * * *".into(),
                timezone: chrono_tz::UTC,
                guard: Default::default(),
            }),
            value,
            observed_at: Utc::now(),
            slot_ms: value as i64,
            took: Duration::ZERO,
            verdict: Verdict::Inside,
        }
    }

    fn values(b: &mut Backlog) -> Vec<(String, f64)> {
        b.take(usize::MAX)
            .into_iter()
            .map(|p| (p.binding.key_result.clone(), p.value))
            .collect()
    }

    #[test]
    fn values_leave_in_the_order_they_came() {
        let mut b = Backlog::new(10);
        for (kr, v) in [("a", 1.0), ("b", 2.0), ("a", 3.0)] {
            assert_eq!(b.push(pending(kr, v)), 0);
        }
        let first = b.take(2);
        assert_eq!(first.len(), 2);
        assert_eq!(b.put_back(first), 0);
        assert_eq!(
            values(&mut b),
            [("a".into(), 1.0), ("b".into(), 2.0), ("a".into(), 3.0)]
        );
        assert!(b.is_empty());
    }

    #[test]
    fn when_full_a_krs_own_oldest_value_goes_first() {
        let mut b = Backlog::new(3);
        for (kr, v) in [("a", 1.0), ("b", 2.0), ("a", 3.0)] {
            b.push(pending(kr, v));
        }
        // `a` has values waiting: its oldest (1) goes, `b` keeps its only one.
        assert_eq!(b.push(pending("a", 4.0)), 1);
        // `c` has none: the KR with the most waiting (`a`) gives its oldest (3).
        assert_eq!(b.push(pending("c", 5.0)), 1);
        assert_eq!(b.len(), 3);
        assert_eq!(
            values(&mut b),
            [("b".into(), 2.0), ("a".into(), 4.0), ("c".into(), 5.0)]
        );
    }

    #[test]
    fn put_back_into_a_full_backlog_still_keeps_the_bound() {
        let mut b = Backlog::new(2);
        b.push(pending("a", 1.0));
        b.push(pending("a", 2.0));
        let taken = b.take(2);
        b.push(pending("b", 3.0));
        b.push(pending("b", 4.0));
        // a2 takes b3's place (b keeps b4); a1 goes, as a has a newer value.
        assert_eq!(b.put_back(taken), 2);
        assert_eq!(values(&mut b), [("a".into(), 2.0), ("b".into(), 4.0)]);
    }
}
