//! Per-entity parsing: the known keys of each kind, and periods, teams,
//! objectives and key results read from their `[[kind]]` tables into the set.

use std::ops::Range;

use toml::de::DeTable;

use super::reader::Parser;
use crate::okr::model::{
    EntityKind, KeyResult, KrKind, Objective, Period, Rollup, Team, WorkflowState,
};

pub(super) const TOP_KEYS: &[&str] = &["periods", "teams", "objectives", "key_results"];
const PERIOD_KEYS: &[&str] = &["id", "start", "end"];
const TEAM_KEYS: &[&str] = &["id", "name", "parent"];
const OBJECTIVE_KEYS: &[&str] = &["id", "title", "description", "period", "team", "parent"];
const KR_KEYS: &[&str] = &[
    "id",
    "objective",
    "team",
    "owner",
    "title",
    "description",
    "kind",
    "start",
    "target",
    "due",
    "unit",
    "weight",
    "parent",
    "rollup",
    "source",
    "comparison",
    "window",
    "required",
    "aggregate",
    "guard",
];
pub(super) const SOURCE_KEYS: &[&str] = &["use", "schedule", "params"];

impl<'a> Parser<'a> {
    pub(super) fn period(&mut self, table: &DeTable<'_>, span: Range<usize>) {
        let mut e = self.entry(EntityKind::Period, table, span, PERIOD_KEYS);
        let id = self.req_string(&mut e, "id");
        let start = self.date(&mut e, "start");
        let start = self.required(&mut e, "start", start);
        let end = self.date(&mut e, "end");
        let end = self.required(&mut e, "end", end);
        if self.finish(e, id.as_deref())
            && let (Some(id), Some(start), Some(end)) = (id, start, end)
        {
            self.out.set.periods.push(Period { id, start, end });
        }
    }

    pub(super) fn team(&mut self, table: &DeTable<'_>, span: Range<usize>) {
        let mut e = self.entry(EntityKind::Team, table, span, TEAM_KEYS);
        let id = self.req_string(&mut e, "id");
        let name = self.req_string(&mut e, "name");
        let parent = self.string(&mut e, "parent");
        if self.finish(e, id.as_deref())
            && let (Some(id), Some(name)) = (id, name)
        {
            self.out.set.teams.push(Team { id, name, parent });
        }
    }

    pub(super) fn objective(&mut self, table: &DeTable<'_>, span: Range<usize>) {
        let mut e = self.entry(EntityKind::Objective, table, span, OBJECTIVE_KEYS);
        let id = self.req_string(&mut e, "id");
        let title = self.req_string(&mut e, "title");
        let description = self.string(&mut e, "description");
        let period = self.req_string(&mut e, "period");
        let team = self.req_string(&mut e, "team");
        let parent = self.string(&mut e, "parent");
        if self.finish(e, id.as_deref())
            && let (Some(id), Some(title), Some(period), Some(team)) = (id, title, period, team)
        {
            self.out.set.objectives.push(Objective {
                id,
                title,
                description,
                period,
                team,
                parent,
                archived: false,
            });
        }
    }

    pub(super) fn key_result(&mut self, table: &DeTable<'_>, span: Range<usize>) {
        let mut e = self.entry(EntityKind::KeyResult, table, span, KR_KEYS);
        let id = self.req_string(&mut e, "id");
        let objective = self.req_string(&mut e, "objective");
        let team = self.req_string(&mut e, "team");
        let owner = self.req_string(&mut e, "owner");
        let title = self.req_string(&mut e, "title");
        let description = self.string(&mut e, "description");
        let kinds: Vec<&str> = KrKind::ALL.iter().map(|k| k.as_str()).collect();
        let kind = self.choice(&mut e, "kind", &kinds, KrKind::parse);
        let kind = self.required(&mut e, "kind", kind);
        let start = self.number(&mut e, "start");
        let target = self.number(&mut e, "target");
        let due = self.date(&mut e, "due");
        let unit = self.string(&mut e, "unit");
        let weight = self.number(&mut e, "weight").unwrap_or(1.0);
        let parent = self.string(&mut e, "parent");
        let rollups: Vec<&str> = Rollup::ALL.iter().map(|r| r.as_str()).collect();
        let rollup = self.choice(&mut e, "rollup", &rollups, Rollup::parse);
        let source = self.source(&mut e);
        let sustain = self.sustain(&mut e, kind, id.as_deref());
        let guard = self.guard(&mut e);
        if self.finish(e, id.as_deref())
            && let (Some(id), Some(objective), Some(team), Some(owner), Some(title), Some(kind)) =
                (id, objective, team, owner, title, kind)
        {
            self.out.set.key_results.push(KeyResult {
                id,
                objective,
                team,
                owner,
                title,
                description,
                kind,
                start,
                target,
                due,
                unit,
                weight,
                parent,
                rollup,
                source,
                state: WorkflowState::Approved,
                sustain,
                guard,
            });
        }
    }
}
