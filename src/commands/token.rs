//! `okrd token create | list | revoke`: API tokens in the configured database.
//! `create` prints only the token on stdout, so `TOKEN=$(okrd token create ...)`
//! works; everything for people goes to stderr.

use std::process::ExitCode;

use chrono::DateTime;

use crate::access::{Role, token};
use crate::app;
use crate::config::Settings;
use crate::okr::validate::closest;
use crate::store::{AuditEntry, Store, TokenRecord};

/// Who the audit log names for what these commands do.
const CLI_ACTOR: &str = "okrd token (command line)";

pub async fn create(
    settings: Settings,
    role: &str,
    team: Option<String>,
    name: Option<String>,
) -> ExitCode {
    let Some(role) = Role::parse(role) else {
        let known: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        eprintln!("unknown role `{role}`: use one of {}", known.join(", "));
        return ExitCode::FAILURE;
    };
    match (role, &team) {
        (Role::Member, None) => {
            eprintln!("a member token needs --team: the team whose key results it works on");
            return ExitCode::FAILURE;
        }
        (Role::Member, Some(_)) => {}
        (_, Some(_)) => {
            eprintln!("--team is for member tokens only: a {role} acts on every team; drop --team");
            return ExitCode::FAILURE;
        }
        (_, None) => {}
    }
    if let Some(n) = &name
        && (n.trim().is_empty() || n.chars().count() > 200)
    {
        eprintln!("--name must be 1 to 200 characters");
        return ExitCode::FAILURE;
    }
    let Some(store) = open(&settings).await else {
        return ExitCode::FAILURE;
    };
    if let Some(team) = &team {
        match known_team(&store, team).await {
            Ok(()) => {}
            Err(msg) => {
                eprintln!("{msg}");
                return ExitCode::FAILURE;
            }
        }
    }
    let now = chrono::Utc::now().timestamp_millis();
    let mut made = match token::generate(role, team, name.unwrap_or_default(), now) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot make a token: {e}");
            return ExitCode::FAILURE;
        }
    };
    if made.record.name.is_empty() {
        made.record.name = format!("{role}-{}", made.record.id);
    }
    let audit = AuditEntry {
        actor: CLI_ACTOR.into(),
        action: "token.create".into(),
        entity_kind: "token",
        entity_id: made.record.id.clone(),
        before: None,
        after: Some(describe_json(&made.record)),
    };
    if let Err(e) = store.insert_token(&made.record, &audit).await {
        eprintln!("cannot store the token: {e}");
        return ExitCode::FAILURE;
    }
    println!("{}", made.token);
    eprintln!(
        "token {} ({}{}, name `{}`): keep it now, it is not shown again",
        made.record.id,
        made.record.role,
        made.record
            .team
            .as_deref()
            .map(|t| format!(" of team `{t}`"))
            .unwrap_or_default(),
        made.record.name
    );
    ExitCode::SUCCESS
}

pub async fn list(settings: Settings) -> ExitCode {
    let Some(store) = open(&settings).await else {
        return ExitCode::FAILURE;
    };
    let tokens = match store.tokens().await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read tokens: {e}");
            return ExitCode::FAILURE;
        }
    };
    if tokens.is_empty() {
        eprintln!("no tokens yet: make one with `okrd token create --role admin`");
        return ExitCode::SUCCESS;
    }
    println!(
        "{:<14} {:<7} {:<16} {:<24} {:<21} REVOKED",
        "ID", "ROLE", "TEAM", "NAME", "CREATED"
    );
    for t in &tokens {
        println!(
            "{:<14} {:<7} {:<16} {:<24} {:<21} {}",
            t.id,
            t.role,
            t.team.as_deref().unwrap_or("-"),
            t.name,
            time(t.created_at),
            t.revoked_at.map_or_else(|| "-".to_string(), time)
        );
    }
    ExitCode::SUCCESS
}

pub async fn revoke(settings: Settings, id: &str) -> ExitCode {
    let Some(store) = open(&settings).await else {
        return ExitCode::FAILURE;
    };
    // Accept the whole token too: people paste what they have.
    let id = token::id_of(id).unwrap_or(id);
    let before = match store.token(id).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            eprintln!("no token with id `{id}`; `okrd token list` shows them");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("cannot read tokens: {e}");
            return ExitCode::FAILURE;
        }
    };
    let now = chrono::Utc::now().timestamp_millis();
    let after = TokenRecord {
        revoked_at: Some(now),
        ..before.clone()
    };
    let audit = AuditEntry {
        actor: CLI_ACTOR.into(),
        action: "token.revoke".into(),
        entity_kind: "token",
        entity_id: id.to_string(),
        before: Some(describe_json(&before)),
        after: Some(describe_json(&after)),
    };
    match store.revoke_token(id, now, &audit).await {
        Ok(true) => {}
        Ok(false) => {
            eprintln!("token `{id}` was already revoked");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("cannot revoke: {e}");
            return ExitCode::FAILURE;
        }
    }
    eprintln!(
        "revoked token `{id}`; a running daemon refuses it within {} s",
        crate::access::cache::TOKEN_CACHE_TTL.as_secs()
    );
    ExitCode::SUCCESS
}

async fn open(settings: &Settings) -> Option<Store> {
    match app::open_store(settings).await {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("{e}");
            None
        }
    }
}

async fn known_team(store: &Store, team: &str) -> Result<(), String> {
    let current = store
        .load_current()
        .await
        .map_err(|e| format!("cannot read teams: {e}"))?;
    if current.teams.contains_key(team) {
        return Ok(());
    }
    let hint = closest(team, current.teams.keys().map(String::as_str))
        .map(|c| format!("; did you mean `{c}`?"))
        .unwrap_or_else(|| "; create it first (OKR file or POST /api/v1/teams)".into());
    Err(format!("team `{team}` does not exist{hint}"))
}

/// A token as the audit log shows it: never its hash.
fn describe_json(t: &TokenRecord) -> serde_json::Value {
    serde_json::json!({
        "id": t.id,
        "role": t.role,
        "team": t.team,
        "name": t.name,
        "revoked": t.revoked_at.is_some(),
    })
}

fn time(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| ms.to_string())
}
