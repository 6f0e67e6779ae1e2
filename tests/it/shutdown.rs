//! One shutdown path: once the daemon reports it has stopped, no task it
//! spawned is left running (the scheduler, the publisher, the refresher, the
//! memory trim and the check-in writer included) and its store is closed.

use std::time::Duration;

use crate::support::daemon::Launch;

const OKRS: &str = r#"
[[periods]]
id = "2026-Q4"
start = "2026-10-01"
end = "2026-12-31"
[[teams]]
id = "t"
name = "T"
[[objectives]]
id = "o"
title = "O"
period = "2026-Q4"
team = "t"
[[key_results]]
id = "kr"
objective = "o"
team = "t"
owner = "o@example.com"
title = "KR"
kind = "increase"
start = 0
target = 10
"#;

#[test]
fn no_task_outlives_the_daemon_and_its_database_is_closed() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("okrs.toml"), OKRS).unwrap();
        let db = dir.path().join("okrd.db");
        let config = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[database]\nurl = \"sqlite://{}\"\nrefresh_interval = \"1s\"\n[okrs]\nfiles = [\"okrs.toml\"]\n",
            db.display()
        );
        let cfg = dir.path().join("okrd.toml");
        std::fs::write(&cfg, config).unwrap();

        let metrics = tokio::runtime::Handle::current().metrics();
        let before = metrics.num_alive_tasks();
        let running = Launch::serve(&cfg).in_process().await;
        // Ready when start returns: no polling.
        let base = running.base();
        let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
        assert_eq!(ready.status(), 200);
        assert!(metrics.num_alive_tasks() > before, "the daemon runs tasks");

        running.shut_down();
        tokio::time::timeout(Duration::from_secs(10), running.wait())
            .await
            .expect("the daemon stops within its grace")
            .unwrap();
        // A task ends an instant after its last await; give it that instant.
        let mut left = metrics.num_alive_tasks();
        for _ in 0..100 {
            if left == before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            left = metrics.num_alive_tasks();
        }
        assert_eq!(left, before, "tasks left running after the daemon stopped");

        // Closed, not just idle: SQLite's write-ahead log is checkpointed and
        // removed when the last connection closes.
        let wal = dir.path().join("okrd.db-wal");
        assert!(!wal.exists(), "the store was not closed: {wal:?} remains");
    });
}
