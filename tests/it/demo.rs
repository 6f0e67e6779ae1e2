//! `okrd demo` as a new user runs it: within 30 s `/metrics` shows a value for
//! every demo KR, and values change while it runs. Three KRs get their values
//! through catalog connectors (Plausible, Delighted, Zendesk) from the
//! simulator, and no fetch fails.

use std::time::{Duration, Instant};

use crate::support::daemon::{Launch, START_DEADLINE};

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

/// The value of the sample whose name and labels are exactly `series`.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn fetch(url: &str) -> Result<String, reqwest::Error> {
    reqwest::get(url).await?.text().await
}

/// A GET of the demo's API as JSON.
async fn read(client: &reqwest::Client, url: &str, token: &str) -> serde_json::Value {
    let resp = client.get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    resp.json().await.unwrap()
}

#[tokio::test]
async fn demo_krs_get_values_and_move() {
    // Stopped if the test fails before it stops it: SIGTERM (so it removes
    // its temporary files), SIGKILL after 5 s.
    let dir = tempfile::tempdir().unwrap();
    let mut demo = Launch::command(dir.path(), &["demo", "--listen", "127.0.0.1:0"]).spawn();
    // What it prints to stdout, up to its config file's line.
    let out = demo.stdout_path().to_path_buf();
    let printed = demo
        .wait_for(START_DEADLINE, "its config line on stdout", async || {
            let mut text = std::fs::read_to_string(&out).ok()?;
            text.truncate(text.rfind('\n')? + 1); // whole lines only
            text.lines()
                .any(|l| l.trim().starts_with("config"))
                .then_some(text)
        })
        .await;
    // On failure, show what the demo logged.
    let logged = || demo.stderr();
    let mut url = None;
    let mut config = None;
    let mut member_token = None;
    let mut link = None;
    for line in printed.lines() {
        let line = line.trim();
        if let Some(u) = line.strip_prefix("web app") {
            link = Some(u.trim().to_string());
        }
        if let Some(u) = line.strip_prefix("metrics") {
            url = Some(u.trim().to_string());
        }
        if let Some(t) = line.strip_prefix("member token") {
            member_token = t.split_whitespace().next().map(String::from);
        }
        if let Some(c) = line.strip_prefix("config") {
            config = Some(c.trim().to_string());
            break;
        }
    }
    let url = url.expect("the demo prints its metrics URL");
    one_click_signs_in_once(&link.expect("the demo prints its web app's link")).await;
    let config = config.expect("the demo prints its config file");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    // The KRs' sources use the catalog connectors.
    let config: toml::Table = std::fs::read_to_string(&config)
        .unwrap_or_else(|e| panic!("{config}: {e}"))
        .parse()
        .unwrap();
    let connectors: Vec<(&str, &str)> = config["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap(),
                s["connector"].as_str().unwrap(),
            )
        })
        .collect();
    for catalog in ["plausible", "delighted", "zendesk"] {
        assert!(
            connectors.contains(&(catalog, catalog)),
            "no source `{catalog}` with connector `{catalog}`: {connectors:?}"
        );
    }

    let started = Instant::now();
    let first = loop {
        let body = fetch(&url)
            .await
            .unwrap_or_else(|e| panic!("{e}\ndemo log:\n{}", logged()));
        let v = values(&body);
        if v.len() == 6 {
            break v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "after 30 s only {v:?}\ndemo log:\n{}",
            logged()
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
        "nps-most-weeks",
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
    // Those KRs are bound to the catalog sources, each of which fetched; no
    // fetch of any source failed (a wrong request or credential would).
    let body = fetch(&url).await.unwrap();
    for (kr, source) in [
        ("monthly-visitors", "plausible"),
        ("nps", "delighted"),
        ("reset-calls", "zendesk"),
        ("failed-passwords", "auth-prometheus"),
    ] {
        assert!(
            body.lines().any(|l| l.starts_with("okr_key_result_info{")
                && l.contains(&format!("key_result=\"{kr}\""))
                && l.contains(&format!("source=\"{source}\""))),
            "{kr} is not bound to {source}"
        );
        let fetches = sample(
            &body,
            &format!("okr_source_fetches_total{{source=\"{source}\"}}"),
        );
        assert!(
            fetches.is_some_and(|n| n >= 1.0),
            "{source}: fetches {fetches:?}\ndemo log:\n{}",
            logged()
        );
    }
    let failures: Vec<&str> = body
        .lines()
        .filter(|l| l.starts_with("okr_source_fetch_failures_total{") && !l.ends_with(" 0"))
        .collect();
    assert!(
        failures.is_empty(),
        "fetches failed: {failures:?}\ndemo log:\n{}",
        logged()
    );

    // The printed member token works the REST API: it reads the demo's KRs
    // and drafts one for its team.
    let token = member_token.expect("the demo prints a member token");
    let api = url.replace("/metrics", "/api/v1");
    let client = reqwest::Client::new();
    let krs = client
        .get(format!("{api}/key-results?objective=reduce-opex"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(krs.status(), 200);
    assert!(krs.text().await.unwrap().contains("\"failed-passwords\""));
    let draft = client
        .post(format!("{api}/key-results"))
        .bearer_auth(&token)
        .json(&serde_json::json!({
            "id": "self-service-reset", "objective": "reduce-opex", "team": "auth",
            "title": "Password resets done without calling us", "kind": "increase",
            "start": 20, "target": 80
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(draft.status(), 201, "{}", draft.text().await.unwrap());

    // The simulated exporter answers 0 once: held, never the KR's value,
    // then superseded by the next normal value.
    let glitch = Instant::now();
    loop {
        let page = read(
            &client,
            &format!("{api}/key-results/failed-passwords/check-ins?limit=100"),
            &token,
        )
        .await;
        let items = page["items"].as_array().unwrap();
        let zero = items.iter().find(|c| c["value"] == 0.0);
        if let Some(zero) = zero
            && zero["hold"] == "superseded"
        {
            break;
        }
        if let Some(zero) = zero {
            assert_eq!(zero["hold"], "held", "{zero}");
        }
        assert!(
            glitch.elapsed() < Duration::from_secs(40),
            "the glitch was not held and superseded: {page}\ndemo log:\n{}",
            logged()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let kr = read(
        &client,
        &format!("{api}/key-results/failed-passwords"),
        &token,
    )
    .await;
    assert!(kr["value"].as_f64().unwrap() > 1000.0, "{kr}");

    // Past days of the quarter were backfilled: the failed-passwords KR
    // (Prometheus at time=) starts with a line, not a dot.
    let backfilled = Instant::now();
    loop {
        let page = read(
            &client,
            &format!("{api}/key-results/failed-passwords/check-ins?limit=500"),
            &token,
        )
        .await;
        let past = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["origin"] == "backfill:auth-prometheus")
            .count();
        let today = chrono::Utc::now().date_naive();
        let days_so_far = (today - okrd::okr::Period::quarter_of(today).start).num_days();
        if past as i64 == days_so_far {
            break;
        }
        assert!(
            backfilled.elapsed() < Duration::from_secs(30),
            "{past} of {days_so_far} past days backfilled\ndemo log:\n{}",
            logged()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // With its history, failed-passwords has a forecast (unless the
    // quarter is under 3 days old).
    let today = chrono::Utc::now().date_naive();
    if (today - okrd::okr::Period::quarter_of(today).start).num_days() >= 3 {
        let kr = read(
            &client,
            &format!("{api}/key-results/failed-passwords"),
            &token,
        )
        .await;
        let forecast = &kr["forecast"];
        assert!(
            forecast["low"].as_f64() <= forecast["value"].as_f64()
                && forecast["value"].as_f64() <= forecast["high"].as_f64()
                && forecast["value"].is_number(),
            "{kr}"
        );
    }

    // The sustain KR lists the quarter's weeks and judges the closed ones.
    let sustain = read(
        &client,
        &format!("{api}/key-results/nps-most-weeks"),
        &token,
    )
    .await;
    let windows = sustain["windows"].as_array().unwrap();
    let (current, closed) = windows.split_last().expect("the current week at least");
    assert_eq!(current["closed"], false, "{sustain}");
    // Unless the quarter began this week, backfilled weeks are judged.
    assert!(
        closed
            .iter()
            .all(|w| w["closed"] == true && w["value"].is_number()),
        "{sustain}"
    );
    let body = fetch(&url).await.unwrap();
    assert!(
        body.lines().any(|l| l
            .starts_with("okr_key_result_windows_required{key_result=\"nps-most-weeks\"")
            && l.ends_with(" 9")),
        "no windows_required gauge"
    );

    // SIGTERM, like Ctrl-C: the demo stops cleanly and removes its temporary files.
    let (status, _) = demo.stop().await;
    assert!(status.success(), "the demo did not stop cleanly: {status}");
}

/// The printed link signs a browser in as the demo's leader, once.
async fn one_click_signs_in_once(link: &str) {
    assert!(link.contains("/sign-in/link?code="), "{link}");
    let base = link.split("/sign-in").next().unwrap();
    let mut browser = crate::support::web::Browser::new(base);
    let path = &link[base.len()..];
    let first = browser.get(path).await;
    assert_eq!(first.status, 303, "{}", first.body);
    assert_eq!(first.location.as_deref(), Some("/"));
    let overview = browser.get("/").await;
    assert!(
        overview
            .text()
            .contains("Signed in as lee@acme.example (leader)"),
        "{}",
        overview.text()
    );
    let mut again = crate::support::web::Browser::new(base);
    let second = again.get(path).await;
    assert_eq!(second.status, 401, "a one-time link worked twice");
    assert!(second.body.contains(r#"action="/sign-in""#));
}
