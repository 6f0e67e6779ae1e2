//! `/healthz` and `/readyz` of a running daemon, on SQLite and PostgreSQL:
//! `/readyz` answers 503 while the database is unreachable or not migrated
//! and 200 again once it is back; `/healthz` (the process is alive) stays 200.

use std::time::{Duration, Instant};

use crate::support::api::{Api, Options, start};
use crate::support::backends::{self, execute};

/// How long `/readyz` may take to notice a change (the pool gives up on a
/// connection after 10 s at most).
const NOTICE_DEADLINE: Duration = Duration::from_secs(15);

async fn daemon(db: &backends::TestDb) -> Api {
    start(
        db,
        Options {
            source_url: "http://127.0.0.1:9/stats",
            extra_config: "",
        },
    )
    .await
}

/// Status and body of `GET path` on the daemon.
async fn probe(api: &Api, path: &str) -> (u16, String) {
    let r = api
        .client
        .get(format!("{}{path}", api.base))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Polls `/readyz` until it answers `status`; its body then.
async fn readyz_becomes(api: &Api, status: u16, when: &str) -> String {
    let deadline = Instant::now() + NOTICE_DEADLINE;
    loop {
        let (got, body) = probe(api, "/readyz").await;
        if got == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{}: /readyz answered {got} {body:?} {when}, not {status}",
            api.backend
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn readyz_fails_while_the_schema_is_not_migrated_and_recovers() {
    for db in backends::databases().await {
        let api = daemon(&db).await;
        let b = api.backend;
        assert_eq!(probe(&api, "/readyz").await.0, 200, "{b}");

        execute(
            &db.url,
            "ALTER TABLE _sqlx_migrations RENAME TO _sqlx_migrations_away",
        )
        .await;
        let body = readyz_becomes(&api, 503, "without the migrations table").await;
        assert!(body.contains("migrations"), "{b}: {body}");
        assert_eq!(
            probe(&api, "/healthz").await.0,
            200,
            "{b}: /healthz while not ready"
        );

        execute(
            &db.url,
            "ALTER TABLE _sqlx_migrations_away RENAME TO _sqlx_migrations",
        )
        .await;
        readyz_becomes(&api, 200, "with the migrations table back").await;
        api.stop().await;
    }
}

/// PostgreSQL only: a database that refuses connections (and has closed the
/// daemon's) is unreachable. A SQLite file cannot be made unreachable under
/// a daemon that holds it open.
#[tokio::test]
async fn readyz_fails_while_postgres_refuses_connections_and_recovers() {
    let Some(admin_url) = backends::postgres_url() else {
        backends::skip_backend(backends::POSTGRES_ENV, "PostgreSQL");
        return;
    };
    let db = backends::postgres_db(&admin_url).await;
    let api = daemon(&db).await;
    assert_eq!(probe(&api, "/readyz").await.0, 200);
    let name = db
        .url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap();

    execute(
        &admin_url,
        &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"),
    )
    .await;
    execute(
        &admin_url,
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ),
    )
    .await;
    let body = readyz_becomes(&api, 503, "while the database refuses connections").await;
    assert!(body.contains("unreachable"), "{body}");
    assert_eq!(
        probe(&api, "/healthz").await.0,
        200,
        "/healthz while the database is unreachable"
    );

    execute(
        &admin_url,
        &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"),
    )
    .await;
    readyz_becomes(&api, 200, "once the database accepts connections again").await;
    api.stop().await;
}
