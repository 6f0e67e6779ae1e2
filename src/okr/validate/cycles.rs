//! Parent links that loop, for teams, objectives and key results.

use super::Checker;
use super::kind_label;
use crate::okr::model::EntityKind;

impl<'a> Checker<'a> {
    /// Parent links that loop, per kind; each cycle once, at its first member in list order.
    pub(super) fn cycles(&mut self) {
        let set = self.set;
        let teams: Vec<Option<usize>> = set
            .teams
            .iter()
            .map(|t| t.parent.as_deref().and_then(|p| self.teams.get(p).copied()))
            .collect();
        let objectives: Vec<Option<usize>> = set
            .objectives
            .iter()
            .map(|o| {
                o.parent
                    .as_deref()
                    .and_then(|p| self.objectives.get(p).copied())
            })
            .collect();
        let krs: Vec<Option<usize>> = set
            .key_results
            .iter()
            .map(|k| k.parent.as_deref().and_then(|p| self.krs.get(p).copied()))
            .collect();
        for (kind, parents) in [
            (EntityKind::Team, teams),
            (EntityKind::Objective, objectives),
            (EntityKind::KeyResult, krs),
        ] {
            for cycle in find_cycles(&parents) {
                let id_of = |i: usize| -> &str {
                    match kind {
                        EntityKind::Team => &set.teams[i].id,
                        EntityKind::Objective => &set.objectives[i].id,
                        _ => &set.key_results[i].id,
                    }
                };
                let label = kind_label(kind);
                let first = cycle[0];
                let msg = if cycle.len() == 1 {
                    format!(
                        "{label} `{}` is its own parent; remove `parent` or name another {label}",
                        id_of(first)
                    )
                } else {
                    let path: Vec<&str> = cycle.iter().chain([&first]).map(|&i| id_of(i)).collect();
                    format!(
                        "{label} parents form a cycle: {}; remove one of these `parent` links",
                        path.join(" → ")
                    )
                };
                self.error(kind, first, Some("parent"), msg);
            }
        }
    }
}

/// Cycles in a parent forest given as `parents[i] = Some(parent index)`.
/// Each cycle is listed once, starting at its member with the lowest index,
/// in parent order.
pub(super) fn find_cycles(parents: &[Option<usize>]) -> Vec<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut marks = vec![Mark::New; parents.len()];
    let mut cycles = Vec::new();
    for start in 0..parents.len() {
        let mut path = Vec::new();
        let mut cur = Some(start);
        while let Some(i) = cur {
            match marks[i] {
                Mark::Done => break,
                Mark::OnPath => {
                    let pos = path.iter().position(|&p| p == i).unwrap_or(0);
                    let mut cycle: Vec<usize> = path[pos..].to_vec();
                    let min_at = cycle
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, v)| **v)
                        .map(|(at, _)| at)
                        .unwrap_or(0);
                    cycle.rotate_left(min_at);
                    cycles.push(cycle);
                    break;
                }
                Mark::New => {
                    marks[i] = Mark::OnPath;
                    path.push(i);
                    cur = parents[i];
                }
            }
        }
        for i in path {
            marks[i] = Mark::Done;
        }
    }
    cycles.sort_by_key(|c| c[0]);
    cycles
}
