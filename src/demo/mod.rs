//! `okrd demo`: the daemon's main job with nothing to set up. A temporary
//! SQLite database, example OKRs for the current quarter, simulated sources on
//! loopback (Plausible, Delighted, Zendesk and Prometheus) and real connectors
//! (three from the catalog) polling them every few seconds. It prints a
//! one-time link that signs a browser into the web app as the demo's
//! leader, and API tokens for an admin, a leader and a member.

mod simulator;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::access::{Role, token};
use crate::okr::Period;
use crate::store::AuditEntry;
use crate::{app, config};

const OKRS: &str = include_str!("okrs.toml");
const CONFIG: &str = include_str!("config.toml");

pub async fn run(listen: SocketAddr) -> ExitCode {
    let shutdown = CancellationToken::new();
    let dir = match demo_dir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("cannot create a temporary directory: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = run_in(&dir, listen, shutdown).await;
    let _ = std::fs::remove_dir_all(&dir);
    code
}

async fn run_in(dir: &Path, listen: SocketAddr, shutdown: CancellationToken) -> ExitCode {
    let period = Period::quarter_of(Utc::now().date_naive());
    let sim = match simulator::start(&period, shutdown.clone()).await {
        Ok(url) => url,
        Err(e) => {
            eprintln!("cannot start the simulated sources: {e}");
            return ExitCode::FAILURE;
        }
    };
    let settings = match write_files(dir, &period, listen, &sim) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    crate::logging::init_tracing(&settings);
    let tokens = match demo_tokens(&settings).await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot make the demo's API tokens: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "cannot listen on {listen}: {e}\ntry another address: okrd demo --listen 127.0.0.1:9786"
            );
            return ExitCode::FAILURE;
        }
    };
    app::cancel_on_signals(shutdown.clone());
    let clock = std::sync::Arc::new(crate::clock::SystemClock);
    let running = match app::start(settings, listener, shutdown.clone(), clock).await {
        Ok(r) => r,
        Err(e) => {
            shutdown.cancel();
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = running.local_addr();
    let link = running.sign_in_link(&tokens.leader);
    // A closed stdout (`okrd demo | head`) must not stop the demo: ignore write errors.
    let _ = writeln!(
        std::io::stdout(),
        "okrd demo is running.\n\n  web app      http://{addr}{link}\n               \
         (one click signs you in as the demo's leader; the link works once)\n  \
         metrics      http://{addr}/metrics\n  health       http://{addr}/healthz\n  \
         REST API     http://{addr}/api/v1 (described at /api/v1/openapi.json)\n\n  \
         admin token  {}\n  leader token {}\n  member token {} (team auth)\n\n  \
         config       {}\n  OKRs         {}\n  database     {}\n\n\
         Sources poll a simulator every 5 s: Plausible, Delighted and Zendesk through the\n\
         connector catalog, and Prometheus. KR values move within seconds. Try:\n  \
         curl -s http://{addr}/metrics | grep '^okr_key_result_value'\n  \
         curl -s -H 'Authorization: Bearer {}' http://{addr}/api/v1/objectives/reduce-opex/tree\n\n\
         Sign in at http://{addr}/sign-in with one of the tokens above to act as the others.\n\
         Press Ctrl-C to stop (the temporary files are removed).\n",
        tokens.admin,
        tokens.leader,
        tokens.member,
        dir.join("okrd.toml").display(),
        dir.join("okrs.toml").display(),
        dir.join("demo.db").display(),
        tokens.member,
    );
    match running.wait().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            shutdown.cancel();
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// API tokens to try the REST API with: an admin, a leader, a member of `auth`.
struct DemoTokens {
    admin: String,
    leader: String,
    member: String,
}

async fn demo_tokens(settings: &config::Settings) -> Result<DemoTokens, String> {
    let store = app::open_store(settings).await.map_err(|e| e.to_string())?;
    let now = Utc::now().timestamp_millis();
    let make = async |role: Role, team: Option<&str>, name: &str| -> Result<String, String> {
        let t = token::generate(role, team.map(String::from), name.to_string(), now)?;
        let audit = AuditEntry {
            actor: "okrd demo".into(),
            action: "token.create".into(),
            entity_kind: "token",
            entity_id: t.record.id.clone(),
            before: None,
            after: None,
        };
        store
            .insert_token(&t.record, &audit)
            .await
            .map_err(|e| e.to_string())?;
        Ok(t.token)
    };
    Ok(DemoTokens {
        admin: make(Role::Admin, None, "demo-admin").await?,
        leader: make(Role::Leader, None, "lee@acme.example").await?,
        member: make(Role::Member, Some("auth"), "dana@acme.example").await?,
    })
}

/// Write the demo's config and OKR file into `dir` and load them like any others.
fn write_files(
    dir: &Path,
    period: &Period,
    listen: SocketAddr,
    sim: &str,
) -> Result<config::Settings, String> {
    let okrs = OKRS
        .replace("@PERIOD_ID@", &period.id)
        .replace("@PERIOD_START@", &period.start.to_string())
        .replace("@PERIOD_END@", &period.end.to_string());
    let db = dir.join("demo.db");
    let cfg = CONFIG
        .replace("@LISTEN@", &listen.to_string())
        .replace("@DATABASE_URL@", &format!("sqlite://{}", db.display()))
        .replace("@SIM@", sim)
        .replace("@DIR@", &dir.display().to_string());
    let okrs_path = dir.join("okrs.toml");
    let cfg_path = dir.join("okrd.toml");
    std::fs::write(&okrs_path, okrs).map_err(|e| format!("{}: {e}", okrs_path.display()))?;
    std::fs::write(&cfg_path, cfg).map_err(|e| format!("{}: {e}", cfg_path.display()))?;
    for (name, key) in simulator::SECRET_FILES {
        let path = dir.join(name);
        write_secret(&path, key).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    config::load_with_env(Some(&cfg_path), &[]).map_err(|e| e.to_string())
}

/// A secret file readable by its owner only (the keys are fake; the habit is not).
fn write_secret(path: &Path, secret: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(secret.as_bytes())
}

fn demo_dir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("okrd-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
