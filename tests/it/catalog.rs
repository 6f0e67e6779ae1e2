//! Golden tests of the connector catalog: every case of every
//! `connectors/<name>/tests.toml` replayed through a local mock server,
//! checking the value (or failure reason) and every request the connector
//! made; then `okrd source test` run against the same mock for each
//! connector. The case format is documented in `connectors/README.md`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_lc_rs::signature::{
    KeyPair as _, RSA_PKCS1_2048_8192_SHA256, RsaKeyPair, UnparsedPublicKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use okrd::connectors::declarative::Catalog;
use okrd::connectors::http::{HttpClient, HttpPolicy};
use okrd::connectors::template::{TemplateContext, render_params};
use okrd::connectors::{Connector, FetchContext, Params, Redactor};
use okrd::okr::Period;

/// Every catalog connector has a test below: adding a folder without one fails.
const TESTED: &[&str] = &[
    "aircall",
    "delighted",
    "github",
    "google_analytics",
    "google_sheets",
    "jira",
    "matomo",
    "plausible",
    "twilio",
    "typeform",
    "umami",
    "zendesk",
];

const DEFAULT_NOW: &str = "2026-11-23T12:00:00Z";

/// The longest a JWT assertion may be valid (`exp - iat`): Google refuses
/// more than an hour.
const JWT_MAX_LIFETIME_SECS: i64 = 3600;

/// How long before the fetch started a JWT's `iat` may lie: signers
/// back-date it a little so a host clock ahead of the server's is not
/// "issued in the future".
const JWT_MAX_BACKDATE_SECS: i64 = 300;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cases {
    case: Vec<Case>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default)]
    now: Option<String>,
    #[serde(default)]
    source: Map<String, Value>,
    #[serde(default)]
    kr: Map<String, Value>,
    #[serde(default)]
    secret_files: Map<String, Value>,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    reason: Option<String>,
    /// Whether these params answer for a past day (`history` in the
    /// manifest): checked, and when true, the request must change a day
    /// later (a backfill renders it for each past day's end).
    #[serde(default)]
    history: Option<bool>,
    #[serde(default)]
    exchange: Vec<Exchange>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Exchange {
    method: String,
    path: String,
    #[serde(default = "ok")]
    status: u16,
    #[serde(default)]
    headers: Map<String, Value>,
    #[serde(default)]
    body_file: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    expect_headers: Map<String, Value>,
    #[serde(default)]
    expect_query: Map<String, Value>,
    #[serde(default)]
    expect_json: Option<Value>,
    #[serde(default)]
    expect_form: Map<String, Value>,
    #[serde(default)]
    expect_jwt: Option<ExpectJwt>,
}

/// A signed JWT the request must carry in a form field (the JWT bearer
/// grant, RFC 7523): its RS256 signature, header, claims and lifetime.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectJwt {
    /// The form field holding the JWT (`assertion` at Google's token endpoint).
    field: String,
    /// A service-account key file, relative to the connector's folder: the
    /// public half of its `private_key` must verify the signature, and the
    /// header's `kid` must be its `private_key_id`.
    key_file: String,
    /// Claims that must be present with these values (`{{ mock }}` allowed).
    #[serde(default)]
    claims: Map<String, Value>,
}

fn ok() -> u16 {
    200
}

fn connectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("connectors")
}

fn load_cases(connector: &str) -> Vec<Case> {
    let file = connectors_dir().join(connector).join("tests.toml");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let cases: Cases = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    cases.case
}

/// Answers requests with the case's exchanges in order; a request that is
/// not the expected one gets a 599 so the fetch fails loudly.
struct Replay {
    exchanges: Vec<(Exchange, Vec<u8>)>,
    next: AtomicUsize,
}

impl Respond for Replay {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let i = self.next.fetch_add(1, Ordering::SeqCst);
        let Some((ex, body)) = self.exchanges.get(i) else {
            return ResponseTemplate::new(599).set_body_string("unexpected extra request");
        };
        if !request.method.as_str().eq_ignore_ascii_case(&ex.method)
            || request.url.path() != ex.path
        {
            return ResponseTemplate::new(599).set_body_string(format!(
                "expected {} {}, got {} {}",
                ex.method,
                ex.path,
                request.method,
                request.url.path()
            ));
        }
        let mut t = ResponseTemplate::new(ex.status).set_body_bytes(body.clone());
        let mut has_type = false;
        for (k, v) in &ex.headers {
            has_type |= k.eq_ignore_ascii_case("content-type");
            t = t.insert_header(k.as_str(), text(v).as_str());
        }
        if !has_type {
            t = t.insert_header("content-type", "application/json");
        }
        t
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `{{ mock }}` replaced by the mock server's URL in every string.
fn with_mock(v: &Value, mock: &str) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace("{{ mock }}", mock)),
        Value::Array(a) => Value::Array(a.iter().map(|v| with_mock(v, mock)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), with_mock(v, mock)))
                .collect(),
        ),
        other => other.clone(),
    }
}

struct Prepared {
    /// The connector's folder, which the case's file names are relative to.
    dir: PathBuf,
    server: MockServer,
    source: Map<String, Value>,
    kr: Map<String, Value>,
    secrets: Vec<String>,
}

async fn prepare(connector: &str, case: &Case, catalog: &Catalog) -> Prepared {
    let dir = connectors_dir().join(connector);
    let manifest = catalog.get(connector).expect("connector in the catalog");
    let server = MockServer::start().await;
    let exchanges =
        case.exchange
            .iter()
            .map(|ex| {
                let body = match (&ex.body_file, &ex.body) {
                    (Some(f), _) => std::fs::read(dir.join(f))
                        .unwrap_or_else(|e| panic!("{connector}/{f}: {e}")),
                    (None, Some(b)) => b.clone().into_bytes(),
                    (None, None) => Vec::new(),
                };
                (ex.clone(), body)
            })
            .collect();
    Mock::given(wiremock::matchers::any())
        .respond_with(Replay {
            exchanges,
            next: AtomicUsize::new(0),
        })
        .mount(&server)
        .await;
    let mock = server.uri();
    let mut source = match with_mock(&Value::Object(case.source.clone()), &mock) {
        Value::Object(m) => m,
        _ => unreachable!(),
    };
    if manifest.params.contains_key("base_url") && !source.contains_key("base_url") {
        source.insert("base_url".into(), Value::String(mock.clone()));
    }
    for (param, file) in &case.secret_files {
        let path = dir.join(text(file));
        let content =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        source.insert(
            param.clone(),
            Value::String(content.replace("{{ mock }}", &mock)),
        );
    }
    let kr = match with_mock(&Value::Object(case.kr.clone()), &mock) {
        Value::Object(m) => m,
        _ => unreachable!(),
    };
    let secrets = manifest
        .secret_params()
        .iter()
        .filter_map(|p| source.get(p).or(kr.get(p)).and_then(Value::as_str))
        .map(str::to_string)
        .collect();
    Prepared {
        dir,
        server,
        source,
        kr,
        secrets,
    }
}

/// Run every case of one connector; panics listing every failure.
async fn run_connector(connector: &str) {
    let catalog = Catalog::embedded().unwrap_or_else(|p| panic!("{}", p.join("\n")));
    let cases = load_cases(connector);
    assert!(!cases.is_empty(), "{connector}: tests.toml has no case");
    let manifest = catalog.get(connector).expect("connector in the catalog");
    let declares_history =
        manifest.history || manifest.variants.iter().any(|v| v.history == Some(true));
    assert!(
        !declares_history || cases.iter().any(|c| c.history == Some(true)),
        "{connector}: the manifest declares `history`, but no case has `history = true` \
         (a fetch as of a past day's end, checking the request asks up to that day)"
    );
    let mut failures = Vec::new();
    for case in &cases {
        match run_case(connector, case, &catalog).await {
            Ok(()) => println!("{connector}: {} ... ok", case.name),
            Err(e) => {
                println!("{connector}: {} ... FAILED", case.name);
                failures.push(format!("{connector}: {}: {e}", case.name));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}\n", failures.join("\n"));
}

async fn run_case(connector: &str, case: &Case, catalog: &Catalog) -> Result<(), String> {
    let p = prepare(connector, case, catalog).await;
    let conn = catalog.connector(connector).expect("connector");
    let mut redactor = Redactor::default();
    for s in &p.secrets {
        redactor.add(s);
    }
    let merged = Params::new(p.source.clone()).merged_with(&p.kr);
    conn.check_params(&merged)
        .map_err(|e| format!("check_params: {e}"))?;
    let now: DateTime<Utc> = case
        .now
        .as_deref()
        .unwrap_or(DEFAULT_NOW)
        .parse()
        .map_err(|e| format!("now: {e}"))?;
    let period = Period::quarter_of(now.date_naive());
    let template = TemplateContext {
        period_id: period.id.clone(),
        period_start: period.start,
        period_end: period.end,
        now,
        timezone: chrono_tz::UTC,
        key_result: "kr".into(),
    };
    let params = render_params(&merged, &template, &redactor)?;
    if let Some(want) = case.history {
        check_history(conn.as_ref(), &merged, &params, &template, &redactor, want)?;
    }
    let http = HttpClient::new(HttpPolicy::default())?;
    let ctx = FetchContext {
        source: "test",
        key_result: "kr",
        params: &params,
        http: &http,
        timeout: std::time::Duration::from_secs(5),
        redactor: &redactor,
        template: &template,
        trace: None,
    };
    let started = unix_now();
    let result = conn.fetch(&ctx).await;
    for secret in &p.secrets {
        if let Err(e) = &result
            && e.message.contains(secret.as_str())
        {
            return Err(format!("the error message holds a secret: {}", e.message));
        }
    }
    match (&result, case.value, &case.reason) {
        (Ok(v), Some(want), None) if same_value(*v, want) => {}
        (Err(e), None, Some(want)) if e.reason.as_str() == want => {}
        (Ok(_), None, None) | (Err(_), None, None) => {
            return Err("the case needs `value` or `reason`".into());
        }
        (got, _, _) => {
            return Err(format!(
                "expected {}, got {}",
                case.value
                    .map(|v| format!("value {v}"))
                    .or(case.reason.as_ref().map(|r| format!("reason {r}")))
                    .unwrap_or_default(),
                match got {
                    Ok(v) => format!("value {v}"),
                    Err(e) => format!("{} ({})", e.reason, e.message),
                }
            ));
        }
    }
    check_requests(&p, case, started).await
}

/// The connector answers for a past day exactly when the case says so;
/// one that does asks for something else a day later.
fn check_history(
    conn: &dyn Connector,
    merged: &Params,
    params: &Params,
    template: &TemplateContext,
    redactor: &Redactor,
    want: bool,
) -> Result<(), String> {
    let got = conn.answers_for_past(merged);
    if got != want {
        return Err(format!("answers_for_past: expected {want}, got {got}"));
    }
    if !want {
        return Ok(());
    }
    let later = TemplateContext {
        now: template.now + chrono::TimeDelta::days(1),
        ..template.clone()
    };
    let later_params = render_params(merged, &later, redactor)?;
    let today = conn.request_as_of(params, template)?;
    if today == conn.request_as_of(&later_params, &later)? {
        return Err(format!(
            "the request is the same a day later, so it cannot answer for a past day: {today}"
        ));
    }
    Ok(())
}

/// Values are numbers: equal up to floating-point rounding.
fn same_value(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-9 * want.abs().max(1.0)
}

fn unix_now() -> i64 {
    Utc::now().timestamp()
}

/// `started`: Unix seconds just before the fetch, for the JWT lifetime check.
async fn check_requests(p: &Prepared, case: &Case, started: i64) -> Result<(), String> {
    let mock = p.server.uri();
    let got = p.server.received_requests().await.unwrap_or_default();
    if got.len() != case.exchange.len() {
        let list: Vec<String> = got
            .iter()
            .map(|r| format!("{} {}", r.method, r.url))
            .collect();
        return Err(format!(
            "expected {} request(s), got {}: {}",
            case.exchange.len(),
            got.len(),
            list.join(", ")
        ));
    }
    for (i, (req, ex)) in got.iter().zip(&case.exchange).enumerate() {
        let at = format!("request {} ({} {})", i + 1, ex.method, ex.path);
        if !req.method.as_str().eq_ignore_ascii_case(&ex.method) || req.url.path() != ex.path {
            return Err(format!("{at}: got {} {}", req.method, req.url.path()));
        }
        for (name, want) in &ex.expect_headers {
            let want = text(&with_mock(want, &mock));
            let have = req.headers.get(name.as_str()).and_then(|v| v.to_str().ok());
            if have != Some(want.as_str()) {
                return Err(format!(
                    "{at}: header {name}: expected {want:?}, got {have:?}"
                ));
            }
        }
        let query: Vec<(String, String)> = req
            .url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        for (name, want) in &ex.expect_query {
            let want = text(&with_mock(want, &mock));
            if !query.iter().any(|(k, v)| k == name && *v == want) {
                return Err(format!(
                    "{at}: query {name}={want:?} missing; query was {:?}",
                    req.url.query().unwrap_or("")
                ));
            }
        }
        if let Some(want) = &ex.expect_json {
            let body: Value = serde_json::from_slice(&req.body)
                .map_err(|e| format!("{at}: body is not JSON ({e})"))?;
            if let Some(diff) = subset(&with_mock(want, &mock), &body, "$") {
                return Err(format!("{at}: JSON body: {diff}; body was {body}"));
            }
        }
        if !ex.expect_form.is_empty() || ex.expect_jwt.is_some() {
            let form: Vec<(String, String)> = form_urlencoded::parse(&req.body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            if let Some(want) = &ex.expect_jwt {
                check_jwt(&form, want, &p.dir, &mock, started).map_err(|e| format!("{at}: {e}"))?;
            }
            for (name, want) in &ex.expect_form {
                let want = text(&with_mock(want, &mock));
                if !form.iter().any(|(k, v)| k == name && *v == want) {
                    return Err(format!(
                        "{at}: form field {name}={want:?} missing; form was {:?}",
                        String::from_utf8_lossy(&req.body)
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The JWT in form field `want.field`: signed (RS256) by the key in
/// `want.key_file`, with that key's `kid`, the claims listed, and an
/// `iat`/`exp` that make sense for a fetch that started at `started`.
fn check_jwt(
    form: &[(String, String)],
    want: &ExpectJwt,
    dir: &Path,
    mock: &str,
    started: i64,
) -> Result<(), String> {
    let found: Vec<&str> = form
        .iter()
        .filter(|(k, _)| *k == want.field)
        .map(|(_, v)| v.as_str())
        .collect();
    let [jwt] = found[..] else {
        return Err(format!(
            "form field {}: expected one JWT, got {} values",
            want.field,
            found.len()
        ));
    };
    let key = SigningKeyFile::read(&dir.join(&want.key_file))?;
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return Err(format!(
            "{}: a JWT has 3 parts, this has {}",
            want.field,
            parts.len()
        ));
    };
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|e| format!("JWT signature is not base64url ({e})"))?;
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &key.public_der)
        .verify(format!("{header}.{claims}").as_bytes(), &signature)
        .map_err(|_| {
            format!(
                "the JWT's RS256 signature does not verify with the public key of {}",
                want.key_file
            )
        })?;
    let header = jwt_json(header, "header")?;
    let claims = jwt_json(claims, "claims")?;
    if header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err(format!(
            "JWT header: alg must be RS256; header was {header}"
        ));
    }
    if let Some(kid) = &key.private_key_id
        && header.get("kid").and_then(Value::as_str) != Some(kid.as_str())
    {
        return Err(format!(
            "JWT header: kid must be {kid:?} (the key's private_key_id); header was {header}"
        ));
    }
    if let Some(diff) = subset(
        &with_mock(&Value::Object(want.claims.clone()), mock),
        &claims,
        "claims",
    ) {
        return Err(format!("JWT {diff}; claims were {claims}"));
    }
    let time = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_i64)
            .ok_or_else(|| format!("JWT claims: {name} must be Unix seconds; claims were {claims}"))
    };
    let (iat, exp) = (time("iat")?, time("exp")?);
    let now = unix_now();
    if iat < started - JWT_MAX_BACKDATE_SECS || iat > now {
        return Err(format!(
            "JWT claims: iat {iat} is not the time of the request (between {} and {now})",
            started - JWT_MAX_BACKDATE_SECS
        ));
    }
    if exp <= now || exp - iat > JWT_MAX_LIFETIME_SECS {
        return Err(format!(
            "JWT claims: exp {exp} must be after now ({now}) and at most \
             {JWT_MAX_LIFETIME_SECS} s after iat {iat}"
        ));
    }
    Ok(())
}

fn jwt_json(part: &str, what: &str) -> Result<Value, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|e| format!("JWT {what} is not base64url ({e})"))?;
    match serde_json::from_slice(&bytes) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(format!("JWT {what} is not a JSON object")),
    }
}

/// What a JWT check needs from a service-account key file.
struct SigningKeyFile {
    private_key_id: Option<String>,
    /// RSAPublicKey DER of the key's public half, as `UnparsedPublicKey` takes it.
    public_der: Vec<u8>,
}

impl SigningKeyFile {
    fn read(path: &Path) -> Result<SigningKeyFile, String> {
        let at = path.display();
        let text = std::fs::read_to_string(path).map_err(|e| format!("{at}: {e}"))?;
        let json: Value = serde_json::from_str(&text).map_err(|e| format!("{at}: {e}"))?;
        let pem = json
            .get("private_key")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{at}: no private_key"))?;
        let b64: String = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>()
            .split_whitespace()
            .collect();
        let der = STANDARD
            .decode(b64)
            .map_err(|e| format!("{at}: private_key is not PEM ({e})"))?;
        let pair = RsaKeyPair::from_pkcs8(&der)
            .map_err(|e| format!("{at}: private_key is not an RSA PKCS#8 key ({e})"))?;
        Ok(SigningKeyFile {
            private_key_id: json
                .get("private_key_id")
                .and_then(Value::as_str)
                .map(str::to_string),
            public_der: pair.public_key().as_ref().to_vec(),
        })
    }
}

/// Where `want` is not contained in `have` (objects: a subset of keys;
/// everything else: equal), or `None`.
fn subset(want: &Value, have: &Value, at: &str) -> Option<String> {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => w.iter().find_map(|(k, wv)| match h.get(k) {
            None => Some(format!("{at}.{k} missing")),
            Some(hv) => subset(wv, hv, &format!("{at}.{k}")),
        }),
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => None,
        _ if want == have => None,
        _ => Some(format!("{at}: expected {want}, got {have}")),
    }
}

/// `okrd source test` against the connector's first successful case: the
/// binary loads the catalog, prints the requests and the value, exits 0.
fn source_test_cli(connector: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let catalog = Catalog::embedded().unwrap_or_else(|p| panic!("{}", p.join("\n")));
    let case = load_cases(connector)
        .into_iter()
        .find(|c| c.value.is_some())
        .unwrap_or_else(|| panic!("{connector}: no case with a value"));
    let p = rt.block_on(prepare(connector, &case, &catalog));
    let manifest = catalog.get(connector).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut env = Vec::new();
    let mut params = toml::Table::new();
    for (k, v) in &p.source {
        if manifest.params.get(k).is_some_and(|s| s.secret) {
            let var = format!("OKRD_TEST_SECRET_{}", k.to_uppercase());
            env.push((var.clone(), text(v)));
            let mut t = toml::Table::new();
            t.insert("env".into(), toml::Value::String(var));
            params.insert(k.clone(), toml::Value::Table(t));
        } else {
            params.insert(k.clone(), json_to_toml(v));
        }
    }
    let mut kr_params = toml::Table::new();
    for (k, v) in &p.kr {
        kr_params.insert(k.clone(), json_to_toml(v));
    }
    let period = Period::quarter_of(Utc::now().date_naive());
    let okrs = format!(
        r#"[[periods]]
id = "{id}"
start = "{start}"
end = "{end}"

[[teams]]
id = "t"
name = "T"

[[objectives]]
id = "o"
title = "O"
period = "{id}"
team = "t"

[[key_results]]
id = "k"
objective = "o"
team = "t"
owner = "x@example.com"
title = "K"
kind = "increase"
start = 0
target = 1000000
[key_results.source]
use = "s"
params = {kr}
"#,
        id = period.id,
        start = period.start,
        end = period.end,
        kr = toml::Value::Table(kr_params),
    );
    std::fs::write(dir.path().join("okrs.toml"), okrs).unwrap();
    let mut source = toml::Table::new();
    source.insert("name".into(), "s".into());
    source.insert("connector".into(), connector.into());
    source.insert("params".into(), toml::Value::Table(params));
    let mut config = toml::Table::new();
    let mut okrs_section = toml::Table::new();
    okrs_section.insert("files".into(), toml::Value::Array(vec!["okrs.toml".into()]));
    config.insert("okrs".into(), toml::Value::Table(okrs_section));
    let mut db = toml::Table::new();
    db.insert("url".into(), "sqlite://okrd.db".into());
    config.insert("database".into(), toml::Value::Table(db));
    config.insert(
        "sources".into(),
        toml::Value::Array(vec![toml::Value::Table(source)]),
    );
    let cfg = dir.path().join("okrd.toml");
    std::fs::write(&cfg, toml::to_string(&config).unwrap()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_okrd"))
        .current_dir(dir.path())
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "source",
            "test",
            "s",
            "--kr",
            "k",
        ])
        .envs(env)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{connector}: okrd source test failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let want = case.value.unwrap();
    let printed: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("value:"))
        .collect();
    let [printed] = printed[..] else {
        panic!("{connector}: expected one `value:` line\n{stdout}");
    };
    let got: f64 = printed.trim().parse().unwrap_or_else(|e| {
        panic!("{connector}: `value:{printed}` is not a number ({e})\n{stdout}")
    });
    assert!(
        same_value(got, want),
        "{connector}: expected value {want}, printed {got}\n{stdout}"
    );
    assert!(
        stdout.contains("request: "),
        "{connector}: no request printed\n{stdout}"
    );
    for s in &p.secrets {
        assert!(
            !stdout.contains(s.as_str()),
            "{connector}: a secret was printed\n{stdout}"
        );
    }
    drop(p);
}

fn json_to_toml(v: &Value) -> toml::Value {
    match v {
        Value::String(s) => toml::Value::String(s.clone()),
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64().unwrap_or_default()),
        },
        Value::Array(a) => toml::Value::Array(a.iter().map(json_to_toml).collect()),
        Value::Object(m) => toml::Value::Table(
            m.iter()
                .map(|(k, v)| (k.clone(), json_to_toml(v)))
                .collect(),
        ),
        Value::Null => toml::Value::String(String::new()),
    }
}

/// A user's manifest folder, relative to the config file, found from any
/// working directory; a secret param set inline in a KR is refused.
#[test]
fn user_manifests_and_secret_params_through_okrd_check() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("etc/manifests/acme_stats")).unwrap();
    std::fs::write(
        root.join("etc/manifests/acme_stats/connector.toml"),
        r#"name = "acme_stats"
[params]
base_url = { default = "https://stats.acme.example" }
token = { required = true, secret = true }
metric = { default = "signups" }
[[auth]]
kind = "bearer"
token = "{{ token }}"
[request]
url = "{{ base_url }}/v1/{{ metric }}"
[extract]
value = "$.total"
"#,
    )
    .unwrap();
    let period = Period::quarter_of(Utc::now().date_naive());
    let okrs = |params: &str| {
        format!(
            "[[periods]]\nid = \"{id}\"\nstart = \"{s}\"\nend = \"{e}\"\n\n[[teams]]\nid = \"t\"\nname = \"T\"\n\n\
             [[objectives]]\nid = \"o\"\ntitle = \"O\"\nperiod = \"{id}\"\nteam = \"t\"\n\n\
             [[key_results]]\nid = \"k\"\nobjective = \"o\"\nteam = \"t\"\nowner = \"x@example.com\"\ntitle = \"K\"\n\
             kind = \"increase\"\nstart = 0\ntarget = 10\n[key_results.source]\nuse = \"acme\"\nparams = {params}\n",
            id = period.id,
            s = period.start,
            e = period.end,
        )
    };
    std::fs::write(
        root.join("etc/okrd.toml"),
        "[okrs]\nfiles = [\"okrs.toml\"]\n[connectors]\ndirs = [\"manifests\"]\n\
         [[sources]]\nname = \"acme\"\nconnector = \"acme_stats\"\n\
         [sources.params]\ntoken = { env = \"ACME_TOKEN\" }\n",
    )
    .unwrap();
    let check = || {
        Command::new(env!("CARGO_BIN_EXE_okrd"))
            .current_dir("/")
            .args([
                "--config",
                root.join("etc/okrd.toml").to_str().unwrap(),
                "check",
            ])
            .env("ACME_TOKEN", "acme-test-token")
            .output()
            .unwrap()
    };
    std::fs::write(root.join("etc/okrs.toml"), okrs("{ metric = \"visits\" }")).unwrap();
    let out = check();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(
        root.join("etc/okrs.toml"),
        okrs("{ token = \"inline-kr-secret\" }"),
    )
    .unwrap();
    let out = check();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("param `token` is a secret"), "{text}");
}

#[test]
fn every_catalog_connector_is_tested_and_documented() {
    let catalog = Catalog::embedded().unwrap_or_else(|p| panic!("{}", p.join("\n")));
    let names: Vec<&str> = catalog.names().collect();
    assert_eq!(names, TESTED, "add a test for each new connector below");
    for name in names {
        let dir = connectors_dir().join(name);
        for file in ["README.md", "tests.toml"] {
            assert!(dir.join(file).is_file(), "{name}: {file} missing");
        }
        assert!(dir.join("fixtures").is_dir(), "{name}: fixtures/ missing");
        let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
        assert!(
            readme.contains("[[sources]]") && readme.contains(&format!("connector = \"{name}\"")),
            "{name}: README.md needs a sample [[sources]] block"
        );
    }
}

macro_rules! connector_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn golden_cases() {
                    super::run_connector(stringify!($name)).await;
                }

                #[test]
                fn okrd_source_test() {
                    super::source_test_cli(stringify!($name));
                }
            }
        )*
    };
}

connector_tests!(
    aircall,
    delighted,
    github,
    google_analytics,
    google_sheets,
    jira,
    matomo,
    plausible,
    twilio,
    typeform,
    umami,
    zendesk,
);
