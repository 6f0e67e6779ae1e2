//! The rows of the OKR model to write, borrowed from the set being applied
//! (or the API's change), and writing them: consecutive rows of one kind go
//! out together, many per statement (see `store::batch`).

use sqlx::AnyConnection;

use crate::okr::{KeyResult, Objective, Period, Team, WorkflowState};
use crate::store::batch::{AnyQuery, Sql, rows_per_statement};
use crate::store::codec::date_text;
use crate::store::{Backend, StoreError};

/// One row to write.
pub(in crate::store) enum Write<'a> {
    /// The period and the file that manages it.
    Period(&'a Period, Option<&'a str>),
    Team(&'a Team, Option<&'a str>),
    /// The objective, its file and when it was archived (unix ms).
    Objective(&'a Objective, Option<&'a str>, Option<i64>),
    /// The KR, the workflow state to store (an applied KR is approved
    /// whatever the set says) and its file.
    KeyResult(&'a KeyResult, WorkflowState, Option<&'a str>),
    ArchiveObjective(&'a str),
    ArchiveKeyResult(&'a str),
}

const PERIODS: &str = "INSERT INTO periods (id, start_date, end_date, managed_by, created_at, \
     updated_at) VALUES";
const PERIODS_CONFLICT: &str = "ON CONFLICT (id) DO UPDATE SET start_date = excluded.start_date, \
     end_date = excluded.end_date, managed_by = excluded.managed_by, \
     updated_at = excluded.updated_at";
const TEAMS: &str =
    "INSERT INTO teams (id, name, parent_id, managed_by, created_at, updated_at) VALUES";
const TEAMS_CONFLICT: &str = "ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
     parent_id = excluded.parent_id, managed_by = excluded.managed_by, \
     updated_at = excluded.updated_at";
const OBJECTIVES: &str = "INSERT INTO objectives (id, title, description, period_id, team_id, \
     parent_id, archived_at, managed_by, created_at, updated_at) VALUES";
const OBJECTIVES_CONFLICT: &str = "ON CONFLICT (id) DO UPDATE SET title = excluded.title, \
     description = excluded.description, period_id = excluded.period_id, \
     team_id = excluded.team_id, parent_id = excluded.parent_id, \
     archived_at = excluded.archived_at, managed_by = excluded.managed_by, \
     updated_at = excluded.updated_at";
const KEY_RESULTS: &str = "INSERT INTO key_results (id, objective_id, team_id, owner, title, \
     description, kind, start_value, target_value, due_date, unit, weight, parent_id, rollup, \
     source_name, source_schedule, source_params, state, managed_by, created_at, updated_at, \
     sustain, guard) VALUES";
const KEY_RESULTS_CONFLICT: &str = "ON CONFLICT (id) DO UPDATE SET \
     objective_id = excluded.objective_id, team_id = excluded.team_id, owner = excluded.owner, \
     title = excluded.title, description = excluded.description, kind = excluded.kind, \
     start_value = excluded.start_value, target_value = excluded.target_value, \
     due_date = excluded.due_date, unit = excluded.unit, weight = excluded.weight, \
     parent_id = excluded.parent_id, rollup = excluded.rollup, \
     source_name = excluded.source_name, source_schedule = excluded.source_schedule, \
     source_params = excluded.source_params, state = excluded.state, \
     managed_by = excluded.managed_by, updated_at = excluded.updated_at, \
     sustain = excluded.sustain, guard = excluded.guard";

impl Write<'_> {
    /// The parameters of one row, and those all rows of a statement share.
    fn columns(&self) -> (usize, usize) {
        match self {
            Write::Period(..) | Write::Team(..) => (6, 0),
            Write::Objective(..) => (10, 0),
            Write::KeyResult(..) => (23, 0),
            Write::ArchiveObjective(_) | Write::ArchiveKeyResult(_) => (1, 2),
        }
    }

    /// The statement writing `rows` rows of this kind, with the parameters
    /// they share bound. An upsert takes one `(..)` per row; an archival
    /// its shared parameters, then one id per row into `IN (..)`.
    fn statement(&self, backend: Backend, rows: usize, now: i64) -> AnyQuery {
        let mut sql = Sql::new(backend);
        let (head, columns, tail) = match self {
            Write::Period(..) => (PERIODS, 6, PERIODS_CONFLICT),
            Write::Team(..) => (TEAMS, 6, TEAMS_CONFLICT),
            Write::Objective(..) => (OBJECTIVES, 10, OBJECTIVES_CONFLICT),
            Write::KeyResult(..) => (KEY_RESULTS, 23, KEY_RESULTS_CONFLICT),
            Write::ArchiveObjective(_) => {
                sql.push("UPDATE objectives SET archived_at = ").param();
                sql.push(", updated_at = ").param().push(" WHERE id IN");
                return sql.rows(rows, 1).statement().bind(now).bind(now);
            }
            Write::ArchiveKeyResult(_) => {
                sql.push("UPDATE key_results SET state = ").param();
                sql.push(", updated_at = ").param().push(" WHERE id IN");
                let archived = WorkflowState::Archived.as_str();
                return sql.rows(rows, 1).statement().bind(archived).bind(now);
            }
        };
        sql.push(head)
            .rows(columns, rows)
            .push(" ")
            .push(tail)
            .statement()
    }

    fn same_kind(&self, other: &Write<'_>) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }

    /// Binds this row's parameters.
    fn bind(&self, q: AnyQuery, now: i64) -> AnyQuery {
        match self {
            Write::Period(p, managed_by) => q
                .bind(p.id.as_str())
                .bind(date_text(p.start))
                .bind(date_text(p.end))
                .bind(*managed_by)
                .bind(now)
                .bind(now),
            Write::Team(t, managed_by) => q
                .bind(t.id.as_str())
                .bind(t.name.as_str())
                .bind(t.parent.as_deref())
                .bind(*managed_by)
                .bind(now)
                .bind(now),
            Write::Objective(o, managed_by, archived_at) => q
                .bind(o.id.as_str())
                .bind(o.title.as_str())
                .bind(o.description.as_deref())
                .bind(o.period.as_str())
                .bind(o.team.as_str())
                .bind(o.parent.as_deref())
                .bind(*archived_at)
                .bind(*managed_by)
                .bind(now)
                .bind(now),
            Write::KeyResult(k, state, managed_by) => {
                bind_key_result(q, k, *state, *managed_by, now)
            }
            Write::ArchiveObjective(id) | Write::ArchiveKeyResult(id) => q.bind(*id),
        }
    }
}

fn bind_key_result(
    q: AnyQuery,
    k: &KeyResult,
    state: WorkflowState,
    managed_by: Option<&str>,
    now: i64,
) -> AnyQuery {
    let json = |v: Option<serde_json::Value>| v.map(|v| v.to_string());
    let source = k.source.as_ref();
    q.bind(k.id.as_str())
        .bind(k.objective.as_str())
        .bind(k.team.as_str())
        .bind(k.owner.as_str())
        .bind(k.title.as_str())
        .bind(k.description.as_deref())
        .bind(k.kind.as_str())
        .bind(k.start)
        .bind(k.target)
        .bind(k.due.map(date_text))
        .bind(k.unit.as_deref())
        .bind(k.weight)
        .bind(k.parent.as_deref())
        .bind(k.rollup.map(|r| r.as_str()))
        .bind(source.map(|s| s.source.as_str()))
        .bind(source.and_then(|s| s.schedule.as_deref()))
        .bind(source.map(|s| serde_json::to_string(&s.params).unwrap_or_default()))
        .bind(state.as_str())
        .bind(managed_by)
        .bind(now)
        .bind(now)
        .bind(json(k.sustain.map(|r| serde_json::json!(r))))
        .bind(json(k.guard.map(|g| serde_json::json!(g))))
}

/// Writes every row, in order, consecutive rows of one kind together.
pub(in crate::store) async fn execute(
    conn: &mut AnyConnection,
    backend: Backend,
    writes: &[Write<'_>],
    now: i64,
) -> Result<(), StoreError> {
    let mut rest = writes;
    while let Some(first) = rest.first() {
        let (columns, shared) = first.columns();
        let run = rest.iter().take_while(|w| w.same_kind(first)).count();
        let (rows, after) = rest.split_at(run.min(rows_per_statement(columns, shared)));
        let q = first.statement(backend, rows.len(), now);
        let q = rows.iter().fold(q, |q, w| w.bind(q, now));
        // Binds nullable doubles: see `NULLABLE_DOUBLES` in store/mod.rs.
        q.persistent(false).execute(&mut *conn).await?;
        rest = after;
    }
    Ok(())
}
