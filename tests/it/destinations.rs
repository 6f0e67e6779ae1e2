//! Where a source's requests (and so its credentials) may go: only to the
//! origins its config names. A KR made over the REST API tries to move them
//! elsewhere through every param it may set, for every catalog manifest and
//! every native connector; a listener that records every connection is the
//! judge. Redirects to another origin are not followed, and no `Referer`
//! is sent.

use std::sync::Arc;

use chrono::Utc;
use futures_util::StreamExt as _;
use serde_json::{Map, Value, json};
use wiremock::matchers::{any, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use okrd::binding::{Binding, ConfiguredSource, build_sources, fetch_value};
use okrd::connectors::Reason;
use okrd::connectors::declarative::Catalog;
use okrd::connectors::params::SystemSecrets;
use okrd::okr::{KrKind, Period};

use crate::support::api::{Options, kr_body, start};
use crate::support::backends::sqlite_db;
use crate::support::elsewhere::Elsewhere;

/// Values that try to move a request to `host` (`127.0.0.1:PORT`) from
/// wherever a param lands: the host, userinfo, a path segment, a query.
fn attacks(host: &str) -> Vec<String> {
    vec![
        format!("@{host}/"),
        format!("@{host}/v1"),
        format!("//{host}/"),
        format!("http://{host}/"),
        format!("%2F%2F{host}"),
        format!("\\\\{host}\\"),
        format!("/../../../@{host}/"),
        format!(".{host}"),
        host.to_string(),
    ]
}

fn connectors_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("connectors")
}

/// The first case of a manifest's `tests.toml`: a working source config
/// (`{{ mock }}` → `mock`, and every `*_url` param the mock) with its
/// secrets as files in `dir`, and the KR params it needs.
fn catalog_source(
    name: &str,
    mock: &str,
    dir: &std::path::Path,
    manifest: &okrd::connectors::declarative::manifest::Manifest,
) -> (String, Map<String, Value>) {
    let secret = manifest.secret_params();
    let text = std::fs::read_to_string(connectors_dir().join(name).join("tests.toml")).unwrap();
    let cases: toml::Table = toml::from_str(&text.replace("{{ mock }}", mock)).unwrap();
    let case = cases["case"].as_array().unwrap()[0].as_table().unwrap();
    let mut params = toml::Table::new();
    for (k, v) in case
        .get("source")
        .and_then(|s| s.as_table())
        .cloned()
        .unwrap_or_default()
    {
        if secret.contains(&k) {
            let file = dir.join(format!("{name}-{k}"));
            std::fs::write(&file, v.as_str().unwrap()).unwrap();
            params.insert(k, file_ref(&file));
        } else {
            params.insert(k, v);
        }
    }
    for name in manifest.params.keys() {
        if (name == "url" || name.ends_with("_url")) && !params.contains_key(name) {
            params.insert(name.clone(), mock.into());
        }
    }
    for (k, v) in case
        .get("secret_files")
        .and_then(|s| s.as_table())
        .cloned()
        .unwrap_or_default()
    {
        let fixture = connectors_dir().join(name).join(v.as_str().unwrap());
        let text = std::fs::read_to_string(fixture)
            .unwrap()
            .replace("{{ mock }}", mock);
        let file = dir.join(format!("{name}-{k}"));
        std::fs::write(&file, text).unwrap();
        params.insert(k, file_ref(&file));
    }
    let kr: Map<String, Value> = case
        .get("kr")
        .map(|k| serde_json::to_value(k).unwrap())
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    let mut source = toml::Table::new();
    source.insert("name".into(), name.into());
    source.insert("connector".into(), name.into());
    source.insert("timeout".into(), "2s".into());
    source.insert("retries".into(), 0.into());
    source.insert("params".into(), params.into());
    let mut top = toml::Table::new();
    top.insert("sources".into(), vec![toml::Value::from(source)].into());
    (toml::to_string(&top).unwrap(), kr)
}

fn file_ref(path: &std::path::Path) -> toml::Value {
    let mut t = toml::Table::new();
    t.insert("file".into(), path.display().to_string().into());
    t.into()
}

/// Every param a KR may set over the API on `source`: the connector's,
/// less the source's own, its secrets and its source-only params.
fn kr_settable(source: &ConfiguredSource) -> Vec<String> {
    let c = &source.connector;
    let secret = c.secret_params();
    c.known_params()
        .into_iter()
        .filter(|p| source.params.get(p).is_none())
        .filter(|p| !secret.contains(p))
        .filter(|p| !c.source_only_params().contains(&p.as_str()))
        .collect()
}

#[tokio::test]
async fn no_param_a_kr_sets_over_the_api_moves_a_request_to_another_host() {
    let elsewhere = Elsewhere::start();
    let mock = MockServer::start().await;
    // Logins and token exchanges succeed; every other answer is empty JSON.
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"token": "tok-1234", "access_token": "tok-1234", "expires_in": 3600}),
        ))
        .mount(&mock)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::embedded().unwrap();
    let mut config = String::new();
    let mut kr_params = Vec::new();
    for name in catalog.names() {
        let manifest = catalog.get(name).unwrap();
        let (text, kr) = catalog_source(name, &mock.uri(), dir.path(), manifest);
        config.push_str(&text);
        kr_params.push((name.to_string(), kr));
    }
    let uri = mock.uri();
    let db = dir.path().join("warehouse.db");
    sqlite_file(&db).await;
    config.push_str(&format!(
        r#"
[[sources]]
name = "json"
connector = "http_json"
timeout = "2s"
retries = 0
[sources.params]
url = "{uri}/v1/stats"
headers = {{ Authorization = {{ file = "{token}" }} }}

[[sources]]
name = "prom"
connector = "prometheus"
timeout = "2s"
retries = 0
[sources.params]
url = "{uri}"

[[sources]]
name = "warehouse"
connector = "sql"
[sources.params]
url = "sqlite://{db}"

[[sources]]
name = "script"
connector = "exec"
[sources.params]
command = "true"
"#,
        token = write(dir.path(), "json-token", "Bearer json-secret-token"),
        db = db.display(),
    ));
    for (name, params) in [
        ("json", json!({"value": "$.x"})),
        ("prom", json!({"query": "up"})),
        ("warehouse", json!({"query": "SELECT 1"})),
        ("script", json!({})),
    ] {
        kr_params.push((name.to_string(), params.as_object().unwrap().clone()));
    }

    let test_db = sqlite_db();
    let api = start(
        &test_db,
        Options {
            source_url: &format!("{uri}/web"),
            extra_config: &config,
        },
    )
    .await;
    let settings = okrd::config::load_with_env(Some(&api.config), &[]).unwrap();
    let (sources, _) = build_sources(&settings, &SystemSecrets).unwrap();
    let (auth, leader) = (&api.tokens.auth, &api.tokens.leader);
    api.approved_kr(auth, kr_body("sweep", "opex", "auth", "dana@acme.example"))
        .await;

    let host = format!("127.0.0.1:{}", elsewhere.port);
    let (mut tried, mut accepted) = (0, Vec::new());
    for (name, base) in &kr_params {
        let source = &sources[name];
        for param in kr_settable(source) {
            for value in attacks(&host) {
                let mut params = base.clone();
                params.insert(param.clone(), Value::String(value.clone()));
                tried += 1;
                let resp = api
                    .patch(
                        "/key-results/sweep",
                        leader,
                        json!({"source": {"use": name, "params": params}}),
                    )
                    .await;
                match resp.status {
                    422 => {}
                    200 => accepted.push((name.clone(), params)),
                    s => panic!("{name}.{param} = {value:?}: status {s}: {}", resp.body),
                }
            }
        }
    }
    // Fetch every accepted binding the way the daemon's scheduler does
    // (`binding::fetch_value` with the source the config built).
    let fetched = futures_util::stream::iter(accepted.iter().map(|(name, params)| {
        let source = sources[name].clone();
        let binding = Binding {
            source: name.clone(),
            ..binding(Value::Object(params.clone()))
        };
        async move {
            let _ = fetch_value(&source, &binding, &Default::default(), Utc::now()).await;
        }
    }))
    .buffer_unordered(16)
    .count()
    .await;
    assert!(tried > 300, "only {tried} bindings tried");
    assert_eq!(fetched, accepted.len());
    assert!(
        !accepted.is_empty(),
        "every binding refused: the sweep fetched nothing"
    );
    assert!(
        mock.received_requests().await.unwrap().len() >= accepted.len() / 2,
        "the accepted bindings were not fetched"
    );
    let accepted: Vec<String> = accepted
        .iter()
        .map(|(name, params)| format!("{name}: {}", Value::Object(params.clone())))
        .collect();
    assert_eq!(
        elsewhere.connections(),
        0,
        "a request reached {} after these bindings were accepted:\n{}",
        elsewhere.origin(),
        accepted.join("\n")
    );
    api.stop().await;
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// An SQLite file the sql source can open (it is opened read-only, never created).
async fn sqlite_file(path: &std::path::Path) {
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE t (n INTEGER)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

// ---- one source, fetched directly: refused origins and redirects ----

fn source_for(config: &str) -> Arc<ConfiguredSource> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("okrd.toml");
    std::fs::write(&path, config).unwrap();
    let settings = okrd::config::load_with_env(Some(&path), &[]).unwrap();
    let (sources, _) = build_sources(&settings, &SystemSecrets).unwrap();
    sources.values().next().unwrap().clone()
}

fn json_source(url: &str, extra: &str) -> Arc<ConfiguredSource> {
    source_for(&format!(
        r#"
[[sources]]
name = "api"
connector = "http_json"
timeout = "2s"
retries = 0
[sources.params]
url = "{url}"
value = "$.x"
{extra}
"#
    ))
}

fn binding(params: Value) -> Binding {
    Binding {
        key_result: "kr".into(),
        kind: KrKind::Increase,
        source: "api".into(),
        params: params.as_object().unwrap().clone(),
        period: Period::quarter_of(Utc::now().date_naive()),
        schedule: "* * * * *".into(),
        timezone: chrono_tz::UTC,
        guard: Default::default(),
    }
}

/// One fetch of `source` for a KR with `params`, as the scheduler runs it.
async fn fetch(
    source: &ConfiguredSource,
    params: Value,
) -> Result<f64, okrd::connectors::FetchError> {
    fetch_value(source, &binding(params), &Default::default(), Utc::now()).await
}

#[tokio::test]
async fn a_request_to_an_origin_the_config_does_not_name_is_not_sent() {
    let elsewhere = Elsewhere::start();
    let mock = MockServer::start().await;
    let source = json_source(&format!("{}/v1", mock.uri()), "");
    // An OKR file may override `url` (its writer also writes the config),
    // but not past the origins the config allows.
    let url = format!("{}/x", elsewhere.origin());
    let e = fetch(&source, json!({"url": url})).await.unwrap_err();
    assert_eq!(e.reason, Reason::Connect, "{e:?}");
    assert!(
        e.message.contains("not sent") && e.message.contains(&elsewhere.origin()),
        "{}",
        e.message
    );
    // Userinfo, even towards the allowed host, is refused before anything is sent.
    for url in [
        format!("http://127.0.0.1@127.0.0.1:{}/x", elsewhere.port),
        format!("http://user:pw@{}/x", mock.address()),
    ] {
        let e = fetch(&source, json!({"url": url})).await.unwrap_err();
        assert!(e.message.contains("userinfo"), "{url}: {}", e.message);
    }
    assert_eq!(elsewhere.connections(), 0);
    assert!(mock.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_redirect_to_another_origin_is_not_followed() {
    let elsewhere = Elsewhere::start();
    let mock = MockServer::start().await;
    for status in [301, 302, 303, 307, 308] {
        Mock::given(path(format!("/r{status}")))
            .respond_with(
                ResponseTemplate::new(status)
                    .insert_header("location", format!("{}/steal", elsewhere.origin())),
            )
            .mount(&mock)
            .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let token = write(dir.path(), "t", "s3cret-key-value");
    for status in [301, 302, 303, 307, 308] {
        // A POST with a credential in the body, a header and the query.
        let source = json_source(
            &format!("{}/r{status}?api_key=s3cret-query", mock.uri()),
            &format!(
                "method = \"POST\"\nbody = {{ token_auth = {{ file = \"{token}\" }} }}\n\
                 headers = {{ X-Api-Key = {{ file = \"{token}\" }} }}"
            ),
        );
        let e = fetch(&source, json!({})).await.unwrap_err();
        assert_eq!(e.reason, Reason::Http4xx, "{status}: {e:?}");
        assert!(
            e.message.contains(&elsewhere.origin()) && e.message.contains("not followed"),
            "{status}: {}",
            e.message
        );
        assert!(!e.message.contains("s3cret"), "{}", e.message);
    }
    assert_eq!(elsewhere.connections(), 0, "a redirect was followed");
}

#[tokio::test]
async fn same_origin_redirects_are_followed_without_a_referer_up_to_five() {
    let mock = MockServer::start().await;
    Mock::given(path("/old"))
        .respond_with(ResponseTemplate::new(308).insert_header("location", "/new"))
        .mount(&mock)
        .await;
    Mock::given(path("/new"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"x": 7})))
        .mount(&mock)
        .await;
    for i in 0..6 {
        Mock::given(path(format!("/loop{i}")))
            .respond_with(
                ResponseTemplate::new(302).insert_header("location", format!("/loop{}", i + 1)),
            )
            .mount(&mock)
            .await;
    }
    Mock::given(path("/loop6"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"x": 1})))
        .mount(&mock)
        .await;
    let source = json_source(&format!("{}/old?api_key=s3cret-query", mock.uri()), "");
    let v = fetch(&source, json!({})).await.unwrap();
    assert_eq!(v, 7.0);
    let seen: Vec<Request> = mock.received_requests().await.unwrap();
    assert_eq!(seen.len(), 2);
    assert!(
        seen.iter().all(|r| !r.headers.contains_key("referer")),
        "a Referer was sent: {:?}",
        seen[1].headers
    );
    // Six redirects in a row are one too many.
    let source = json_source(&format!("{}/loop0", mock.uri()), "");
    let e = fetch(&source, json!({})).await.unwrap_err();
    assert_eq!(e.reason, Reason::Http4xx, "{e:?}");
}

#[test]
fn a_source_must_say_where_its_requests_go() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("okrd.toml");
    std::fs::write(
        &path,
        "[[sources]]\nname = \"api\"\nconnector = \"http_json\"\n[sources.params]\nvalue = \"$.x\"\n\n\
         [[sources]]\nname = \"u\"\nconnector = \"umami\"\n[sources.params]\nwebsite_id = \"w\"\n\n\
         [[sources]]\nname = \"typo\"\nconnector = \"plausible\"\n[sources.params]\nsite_idd = \"x\"\n",
    )
    .unwrap();
    let settings = okrd::config::load_with_env(Some(&path), &[]).unwrap();
    let problems = build_sources(&settings, &SystemSecrets)
        .err()
        .unwrap()
        .join("\n");
    assert!(
        problems.contains("source `api`")
            && problems.contains("`url` must be set in the source's config"),
        "{problems}"
    );
    assert!(
        problems.contains("source `u`") && problems.contains("`base_url` must be set"),
        "{problems}"
    );
    assert!(
        problems.contains("unknown param `site_idd`; did you mean `site_id`?"),
        "{problems}"
    );
}
