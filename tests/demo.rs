//! `okrd demo` as a new user runs it: within 30 s `/metrics` shows a value for
//! every demo KR, and values change while it runs.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn values(metrics: &str) -> Vec<(String, String)> {
    metrics
        .lines()
        .filter(|l| l.starts_with("okr_key_result_value{"))
        .filter_map(|l| {
            let kr = l
                .split("key_result=\"")
                .nth(1)?
                .split('"')
                .next()?
                .to_string();
            Some((kr, l.rsplit(' ').next()?.to_string()))
        })
        .collect()
}

async fn fetch(url: &str) -> Result<String, reqwest::Error> {
    reqwest::get(url).await?.text().await
}

#[tokio::test]
async fn demo_krs_get_values_and_move() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_okrd"))
        .args(["demo", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(log.reopen().unwrap())
        .spawn()
        .expect("okrd demo starts");
    // On failure, show what the demo logged.
    let logged = || std::fs::read_to_string(log.path()).unwrap_or_default();
    let stdout = child.stdout.take().unwrap();
    let url = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.trim()
                .strip_prefix("metrics")
                .map(|u| u.trim().to_string())
        })
        .expect("the demo prints its metrics URL");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let started = Instant::now();
    let first = loop {
        let body = fetch(&url)
            .await
            .unwrap_or_else(|e| panic!("{e}\ndemo log:\n{}", logged()));
        let v = values(&body);
        if v.len() == 5 {
            break v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "after 30 s only {v:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let krs: Vec<&str> = first.iter().map(|(k, _)| k.as_str()).collect();
    for kr in [
        "password-pain",
        "reset-calls",
        "failed-passwords",
        "nps",
        "monthly-visitors",
    ] {
        assert!(krs.contains(&kr), "{kr} missing from {krs:?}");
    }
    let moved = Instant::now();
    loop {
        let body = fetch(&url)
            .await
            .unwrap_or_else(|e| panic!("{e}\ndemo log:\n{}", logged()));
        if values(&body) != first {
            break;
        }
        assert!(
            moved.elapsed() < Duration::from_secs(30),
            "no KR changed in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // SIGTERM, like Ctrl-C: the demo stops cleanly and removes its temporary files.
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let status = child.wait().unwrap();
    assert!(status.success(), "the demo did not stop cleanly: {status}");
}
