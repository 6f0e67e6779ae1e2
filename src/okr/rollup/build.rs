//! Building a [`RollupEngine`] from an [`OkrSet`]: resolving ids to indices,
//! cutting cycles, ordering children first and laying out the aggregate trees.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::children::{EMPTY_AGG, Mode};
use super::graph::{self, NONE};
use super::tree::{Arena, Group};
use super::{
    KrPlacement, KrState, ObjLinks, ObjectiveState, Own, RollupEngine, TeamState, Topology,
};
use crate::okr::chunked::Chunked;
use crate::okr::model::{KrKind, ModelRefs, OkrSet, WorkflowState};
use crate::okr::sustain::SustainState;

fn ix<K: std::borrow::Borrow<str> + std::hash::Hash + Eq>(map: &HashMap<K, u32>, key: &str) -> u32 {
    map.get(key).copied().unwrap_or(NONE)
}

/// One `Arc<str>` per distinct text, so the KRs of one objective, team,
/// period or owner share it instead of each holding a copy.
#[derive(Default)]
struct Interner<'a>(HashMap<&'a str, Arc<str>>);

impl<'a> Interner<'a> {
    fn get(&mut self, text: &'a str) -> Arc<str> {
        self.0
            .entry(text)
            .or_insert_with(|| Arc::from(text))
            .clone()
    }
}

impl RollupEngine {
    /// Builds the engine from approved KRs and non-archived objectives; every
    /// KR starts without data. KRs of an archived objective are left out.
    /// Links to unknown or excluded entities, and links on a cycle, are ignored.
    pub fn new(set: &OkrSet) -> RollupEngine {
        RollupEngine::from_refs(&set.refs())
    }

    /// `new` over a borrowed model.
    pub fn from_refs(set: &ModelRefs) -> RollupEngine {
        let mut period_index = HashMap::with_capacity(set.periods.len());
        for (i, p) in set.periods.iter().enumerate() {
            period_index.entry(p.id.clone()).or_insert(i as u32);
        }
        let mut team_decl: HashMap<&str, u32> = HashMap::with_capacity(set.teams.len());
        for (i, t) in set.teams.iter().enumerate() {
            team_decl.entry(t.id.as_str()).or_insert(i as u32);
        }

        let mut text = Interner::default();
        // Objectives.
        let mut obj_index = HashMap::with_capacity(set.objectives.len());
        let mut objectives = Vec::with_capacity(set.objectives.len());
        let mut obj_parent_ids = Vec::with_capacity(set.objectives.len());
        let mut archived: HashSet<&str> = HashSet::new();
        for &o in &set.objectives {
            if o.archived {
                archived.insert(o.id.as_str());
                continue;
            }
            if obj_index.contains_key(o.id.as_str()) {
                continue;
            }
            let id = text.get(&o.id);
            obj_index.insert(id.clone(), objectives.len() as u32);
            obj_parent_ids.push(o.parent.as_deref());
            objectives.push(ObjectiveState {
                id,
                title: Arc::from(o.title.as_str()),
                team: text.get(&o.team),
                period: text.get(&o.period),
                parent: None,
                progress: 0.0,
            });
        }
        let mut obj_parent: Vec<u32> = obj_parent_ids
            .iter()
            .enumerate()
            .map(|(i, p)| match p.map(|p| ix(&obj_index, p)) {
                Some(p) if p as usize != i => p,
                _ => NONE,
            })
            .collect();
        graph::break_cycles(&mut obj_parent);

        // Key results.
        let mut kr_index = HashMap::with_capacity(set.key_results.len());
        let mut krs = Vec::with_capacity(set.key_results.len());
        let mut kr_parent_ids = Vec::with_capacity(set.key_results.len());
        let mut kr_objective = Vec::with_capacity(set.key_results.len());
        for &kr in &set.key_results {
            if kr.state != WorkflowState::Approved || kr_index.contains_key(kr.id.as_str()) {
                continue;
            }
            let objective = ix(&obj_index, &kr.objective);
            if objective == NONE && archived.contains(kr.objective.as_str()) {
                continue;
            }
            let period = if objective == NONE {
                text.get("")
            } else {
                objectives[objective as usize].period.clone()
            };
            let id = text.get(&kr.id);
            kr_index.insert(id.clone(), krs.len() as u32);
            kr_parent_ids.push(kr.parent.as_deref());
            kr_objective.push(objective);
            krs.push(KrState {
                id,
                objective: text.get(&kr.objective),
                team: text.get(&kr.team),
                period_ix: ix(&period_index, &period),
                period,
                owner: text.get(&kr.owner),
                title: Arc::from(kr.title.as_str()),
                kind: kr.kind,
                unit: kr.unit.as_deref().map(|u| text.get(u)),
                source: kr.source.as_ref().map(|s| text.get(&s.source)),
                start: kr.start,
                target: kr.target,
                due: kr.due,
                weight: kr.weight,
                parent: None,
                rollup: kr.rollup,
                derived: false,
                value: None,
                progress: 0.0,
                has_data: false,
                last_update: None,
                sustain: kr
                    .sustain
                    .filter(|_| kr.kind == KrKind::Sustain)
                    .map(|rule| Arc::new(SustainState::pending(rule))),
                forecast: None,
            });
        }
        let mut kr_parent: Vec<u32> = kr_parent_ids
            .iter()
            .enumerate()
            .map(|(i, p)| match p.map(|p| ix(&kr_index, p)) {
                Some(p) if p as usize != i => p,
                _ => NONE,
            })
            .collect();
        graph::break_cycles(&mut kr_parent);

        // Derived KRs and their child groups; children take slots in index order.
        let mut child_count = vec![0u32; krs.len()];
        for &p in &kr_parent {
            if p != NONE {
                child_count[p as usize] += 1;
            }
        }
        let mut child_aggs = Arena::default();
        let mut kr_links: Vec<KrPlacement> = Vec::with_capacity(krs.len());
        for (i, kr) in krs.iter_mut().enumerate() {
            let derived = child_count[i] > 0 && kr.source.is_none();
            kr.derived = derived;
            // A parent judged by its children has no windows of its own.
            if derived {
                kr.sustain = None;
            }
            let mode = derived.then(|| Mode::of(kr.rollup));
            let children = if derived {
                child_aggs.alloc(child_count[i], EMPTY_AGG)
            } else {
                Group::default()
            };
            let weight = if kr.weight.is_finite() && kr.weight > 0.0 {
                kr.weight
            } else {
                0.0
            };
            kr_links.push(KrPlacement {
                parent: kr_parent[i],
                parent_slot: NONE,
                objective: kr_objective[i],
                objective_slot: NONE,
                team: NONE,
                team_slot: NONE,
                mode,
                children,
                weight,
            });
        }
        let mut next_child = vec![0u32; krs.len()];
        for i in 0..krs.len() {
            let p = kr_parent[i];
            if p == NONE {
                continue;
            }
            krs[i].parent = Some(krs[p as usize].id.clone());
            if kr_links[p as usize].mode.is_some() {
                kr_links[i].parent_slot = next_child[p as usize];
                next_child[p as usize] += 1;
            }
        }

        // Objective groups: KRs first (index order), then child objectives.
        let mut kr_members = vec![0u32; objectives.len()];
        let mut obj_members = vec![0u32; objectives.len()];
        let mut weights = vec![0.0f64; objectives.len()];
        for l in &mut kr_links {
            if l.objective != NONE {
                let o = l.objective as usize;
                l.objective_slot = kr_members[o];
                kr_members[o] += 1;
                weights[o] += l.weight;
            }
        }
        let mut obj_slots = vec![NONE; objectives.len()];
        for (i, &p) in obj_parent.iter().enumerate() {
            if p != NONE {
                obj_slots[i] = kr_members[p as usize] + obj_members[p as usize];
                obj_members[p as usize] += 1;
            }
        }
        let mut sums = Arena::default();
        let mut obj_links = Vec::with_capacity(objectives.len());
        for i in 0..objectives.len() {
            let p = obj_parent[i];
            if p != NONE {
                objectives[i].parent = Some(objectives[p as usize].id.clone());
            }
            obj_links.push(ObjLinks {
                parent: p,
                parent_slot: obj_slots[i],
                group: sums.alloc(kr_members[i] + obj_members[i], 0.0),
                total_weight: weights[i] + f64::from(obj_members[i]),
            });
        }

        // Team groups: one per (declared team, known period) with KRs, in declaration order.
        let team_key = |kr: &KrState| -> Option<(u32, u32)> {
            let team = team_decl.get(&*kr.team)?;
            (kr.period_ix != NONE).then_some((*team, kr.period_ix))
        };
        let mut keys: Vec<(u32, u32)> = krs.iter().filter_map(team_key).collect();
        keys.sort_unstable();
        keys.dedup();
        let mut team_members = vec![0u32; keys.len()];
        for (kr, l) in krs.iter().zip(kr_links.iter_mut()) {
            if let Some(key) = team_key(kr)
                && let Ok(t) = keys.binary_search(&key)
            {
                l.team = t as u32;
                l.team_slot = team_members[t];
                team_members[t] += 1;
            }
        }
        let teams = keys
            .iter()
            .map(|&(t, p)| TeamState {
                team: text.get(&set.teams[t as usize].id),
                period: text.get(&set.periods[p as usize].id),
                progress: 0.0,
            })
            .collect();
        let team_groups = team_members.iter().map(|&n| sums.alloc(n, 0.0)).collect();

        let topo = Topology {
            sustained: krs.iter().any(|k| k.sustain.is_some()),
            periods: set.periods.iter().map(|&p| p.clone()).collect(),
            period_index,
            kr_links,
            kr_order: graph::children_first(&kr_parent),
            kr_index,
            obj_links,
            obj_order: graph::children_first(&obj_parent),
            obj_index,
            team_groups,
        };
        let mut engine = RollupEngine {
            topo: Arc::new(topo),
            own: vec![Own::default(); krs.len()],
            history: vec![Arc::default(); krs.len()],
            timezone: chrono_tz::UTC,
            today: None,
            forecaster: Default::default(),
            krs: Chunked::from_vec(krs),
            objectives: Chunked::from_vec(objectives),
            teams,
            sums,
            child_aggs,
            touched: Vec::new(),
        };
        engine.recompute_all();
        engine
    }
}
