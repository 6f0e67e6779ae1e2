//! Reading the OKR model: every period, team, objective and KR (archived
//! ones too), and which OKR file manages each.

use std::collections::BTreeMap;

use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::codec::{corrupt, parse_date, parse_enum};
use super::{Store, StoreError};
use crate::okr::{
    EntityKind, Id, KeyResult, KrKind, Objective, OkrSet, Ownership, Period, Rollup, SourceRef,
    Team, WorkflowState,
};

/// One stored entity and the file that manages it (`None`: created over the API).
#[derive(Debug, Clone)]
pub struct Stored<T> {
    pub item: T,
    pub meta: EntityMeta,
}

/// What the store knows about an entity beyond its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityMeta {
    /// The OKR file that manages it; `None`: created over the API.
    pub managed_by: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
}

/// Everything the store holds, keyed (and so ordered) by id.
#[derive(Debug, Default, Clone)]
pub struct Current {
    pub periods: BTreeMap<Id, Stored<Period>>,
    pub teams: BTreeMap<Id, Stored<Team>>,
    pub objectives: BTreeMap<Id, Stored<Objective>>,
    /// When each archived objective was archived (unix ms).
    pub objective_archived_at: BTreeMap<Id, i64>,
    pub key_results: BTreeMap<Id, Stored<KeyResult>>,
}

impl Current {
    pub fn into_set(self) -> OkrSet {
        OkrSet {
            periods: self.periods.into_values().map(|s| s.item).collect(),
            teams: self.teams.into_values().map(|s| s.item).collect(),
            objectives: self.objectives.into_values().map(|s| s.item).collect(),
            key_results: self.key_results.into_values().map(|s| s.item).collect(),
        }
    }

    pub fn ownership(&self) -> Ownership {
        fn add<T>(out: &mut Ownership, kind: EntityKind, rows: &BTreeMap<Id, Stored<T>>) {
            for (id, s) in rows {
                if let Some(file) = &s.meta.managed_by {
                    out.insert((kind, id.clone()), file.clone());
                }
            }
        }
        let mut out = Ownership::new();
        add(&mut out, EntityKind::Period, &self.periods);
        add(&mut out, EntityKind::Team, &self.teams);
        add(&mut out, EntityKind::Objective, &self.objectives);
        add(&mut out, EntityKind::KeyResult, &self.key_results);
        out
    }
}

impl Store {
    /// The whole model, archived objectives and KRs in every state included,
    /// each list ordered by id (byte order, the same on both backends).
    pub async fn load_okrs(&self) -> Result<OkrSet, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Ok(load_current(&mut conn).await?.into_set())
    }

    /// Which OKR file manages each entity; entities created over the API are absent.
    pub async fn ownership(&self) -> Result<Ownership, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Ok(load_current(&mut conn).await?.ownership())
    }

    /// The whole model with each entity's file and timestamps, keyed by id.
    pub async fn load_current(&self) -> Result<Current, StoreError> {
        let mut conn = self.pool.acquire().await?;
        load_current(&mut conn).await
    }
}

/// Reads everything on one connection (inside a transaction when `apply`
/// calls it, so the plan matches what it overwrites).
pub(crate) async fn load_current(conn: &mut AnyConnection) -> Result<Current, StoreError> {
    let mut current = Current::default();

    for row in sqlx::query(
        "SELECT id, start_date, end_date, managed_by, created_at, updated_at FROM periods",
    )
    .fetch_all(&mut *conn)
    .await?
    {
        let id: String = row.try_get("id")?;
        let start: String = row.try_get("start_date")?;
        let end: String = row.try_get("end_date")?;
        let period = Period {
            start: parse_date(&start, "periods.start_date", &id)?,
            end: parse_date(&end, "periods.end_date", &id)?,
            id: id.clone(),
        };
        current.periods.insert(id, stored(period, &row)?);
    }

    for row in
        sqlx::query("SELECT id, name, parent_id, managed_by, created_at, updated_at FROM teams")
            .fetch_all(&mut *conn)
            .await?
    {
        let team = Team {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            parent: row.try_get("parent_id")?,
        };
        current.teams.insert(team.id.clone(), stored(team, &row)?);
    }

    for row in sqlx::query(
        "SELECT id, title, description, period_id, team_id, parent_id, archived_at, managed_by, \
         created_at, updated_at FROM objectives",
    )
    .fetch_all(&mut *conn)
    .await?
    {
        let archived_at: Option<i64> = row.try_get("archived_at")?;
        let objective = Objective {
            id: row.try_get("id")?,
            title: row.try_get("title")?,
            description: row.try_get("description")?,
            period: row.try_get("period_id")?,
            team: row.try_get("team_id")?,
            parent: row.try_get("parent_id")?,
            archived: archived_at.is_some(),
        };
        if let Some(at) = archived_at {
            current
                .objective_archived_at
                .insert(objective.id.clone(), at);
        }
        current
            .objectives
            .insert(objective.id.clone(), stored(objective, &row)?);
    }

    for row in sqlx::query(
        "SELECT id, objective_id, team_id, owner, title, description, kind, start_value, \
         target_value, due_date, unit, weight, parent_id, rollup, source_name, source_schedule, \
         source_params, state, sustain, guard, managed_by, created_at, updated_at \
         FROM key_results",
    )
    .fetch_all(&mut *conn)
    .await?
    {
        let kr = key_result(&row)?;
        current.key_results.insert(kr.id.clone(), stored(kr, &row)?);
    }

    Ok(current)
}

fn stored<T>(item: T, row: &AnyRow) -> Result<Stored<T>, StoreError> {
    Ok(Stored {
        item,
        meta: EntityMeta {
            managed_by: row.try_get("managed_by")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        },
    })
}

fn key_result(row: &AnyRow) -> Result<KeyResult, StoreError> {
    let id: String = row.try_get("id")?;
    let kind: String = row.try_get("kind")?;
    let state: String = row.try_get("state")?;
    let rollup: Option<String> = row.try_get("rollup")?;
    let due: Option<String> = row.try_get("due_date")?;
    let source_name: Option<String> = row.try_get("source_name")?;
    let source = match source_name {
        None => None,
        Some(source) => {
            let params: Option<String> = row.try_get("source_params")?;
            let params = match params {
                None => serde_json::Map::new(),
                Some(text) => serde_json::from_str(&text)
                    .map_err(|_| corrupt("key_results.source_params", &id, text))?,
            };
            Some(SourceRef {
                source,
                schedule: row.try_get("source_schedule")?,
                params,
            })
        }
    };
    Ok(KeyResult {
        objective: row.try_get("objective_id")?,
        team: row.try_get("team_id")?,
        owner: row.try_get("owner")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        kind: parse_enum(&kind, KrKind::parse, "key_results.kind", &id)?,
        start: row.try_get("start_value")?,
        target: row.try_get("target_value")?,
        due: due
            .map(|d| parse_date(&d, "key_results.due_date", &id))
            .transpose()?,
        unit: row.try_get("unit")?,
        weight: row.try_get("weight")?,
        parent: row.try_get("parent_id")?,
        rollup: rollup
            .map(|r| parse_enum(&r, Rollup::parse, "key_results.rollup", &id))
            .transpose()?,
        source,
        state: parse_enum(&state, WorkflowState::parse, "key_results.state", &id)?,
        sustain: json_column(row, "sustain", "key_results.sustain", &id)?,
        guard: json_column(row, "guard", "key_results.guard", &id)?,
        id,
    })
}

/// A nullable column of JSON text holding `T`.
fn json_column<T: serde::de::DeserializeOwned>(
    row: &AnyRow,
    name: &str,
    column: &'static str,
    id: &str,
) -> Result<Option<T>, StoreError> {
    let text: Option<String> = row.try_get(name)?;
    text.map(|t| serde_json::from_str(&t).map_err(|_| corrupt(column, id, t)))
        .transpose()
}
