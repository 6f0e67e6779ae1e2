//! Pages rendered without a request: the same renderers the handlers use,
//! for a signed-in leader (the visitor with the most on a page), from a
//! snapshot and the data a handler would read. `benches/pages.rs` times
//! them and weighs their output.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::csrf::CsrfToken;
use super::pages::{key_result, layout, overview, rows, team};
use super::session::{SignedInBy, Visitor};
use crate::access::{Principal, Role};
use crate::live::Snapshot;
use crate::metrics::SourceHealth;
use crate::store::StoredCheckIn;

fn leader() -> Visitor {
    Visitor {
        principal: Some(Principal {
            token_id: Some("bench".into()),
            name: "lee".into(),
            role: Role::Leader,
            team: None,
        }),
        by: Some(SignedInBy::Cookie),
        csrf: CsrfToken {
            value: "0".repeat(32),
            fresh: false,
        },
        https: false,
    }
}

fn document(v: &Visitor, s: &Snapshot, title: &str, body: maud::Markup) -> String {
    layout::Page::new(v, title, layout::Nav::None)
        .showing(s)
        .document(body)
}

/// `/` for the period that is running at `now`.
pub fn overview_page(
    s: &Snapshot,
    health: &HashMap<String, SourceHealth>,
    now: DateTime<Utc>,
) -> String {
    let ctx = rows::Context::new(s, health, now);
    let v = leader();
    document(
        &v,
        s,
        "Overview",
        overview::render(&ctx, &overview::Filters::default()),
    )
}

/// `/teams/{id}`, if the team exists.
pub fn team_page(
    s: &Snapshot,
    health: &HashMap<String, SourceHealth>,
    now: DateTime<Utc>,
    id: &str,
) -> Option<String> {
    let team = s.index.current.teams.get(id)?;
    let ctx = rows::Context::new(s, health, now);
    let v = leader();
    Some(document(
        &v,
        s,
        &team.item.name,
        team::render(&ctx, id, &team.item.name),
    ))
}

/// `/key-results/{id}` with `check_ins` (newest first), if the KR exists.
pub fn key_result_page(
    s: &Snapshot,
    health: &HashMap<String, SourceHealth>,
    now: DateTime<Utc>,
    id: &str,
    check_ins: &[StoredCheckIn],
) -> Option<String> {
    let kr = &s.index.current.key_results.get(id)?.item;
    let ctx = rows::Context::new(s, health, now);
    let v = leader();
    let body = key_result::render(&key_result::KrPage {
        ctx: &ctx,
        visitor: &v,
        kr,
        state: s.key_result(id),
        check_ins,
        reviews: &[],
        schedule: None,
        problems: None,
        done: None,
    });
    Some(document(&v, s, &kr.title, body))
}
