//! A 50 MiB answer fails with `too_large` and the process never holds it:
//! peak memory (VmHWM) grows by far less than the body. Alone in its own
//! test binary so no other test's allocations blur the measurement.

use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use bytes::Bytes;
use chrono::Utc;

use okrd::binding::build_sources;
use okrd::binding::{Binding, fetch_value};
use okrd::connectors::Reason;
use okrd::connectors::params::SystemSecrets;
use okrd::okr::{KrKind, Period};

const CHUNK: usize = 64 * 1024;
const BODY_MIB: usize = 50;

/// Peak resident set size of this process, in bytes.
fn peak_rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/self/status");
    let kib: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmHWM in kB");
    kib * 1024
}

/// A server whose `/small` answers `{"x": 1}` and whose `/big` streams 50 MiB
/// of JSON whitespace, chunk by chunk, made only as they are sent.
async fn serve() -> std::net::SocketAddr {
    let big = || async {
        let chunks = (0..BODY_MIB * 1024 * 1024 / CHUNK)
            .map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b' '; CHUNK])));
        (
            [(CONTENT_TYPE, "application/json")],
            Body::from_stream(futures_util::stream::iter(chunks)),
        )
    };
    let app = axum::Router::new()
        .route("/big", axum::routing::get(big))
        .route("/small", axum::routing::get(|| async { "{\"x\": 1}" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test]
async fn a_50_mib_answer_is_too_large_without_being_held() {
    let addr = serve().await;
    let config = format!(
        "[[sources]]\nname = \"big\"\nconnector = \"http_json\"\ntimeout = \"20s\"\n\
         [sources.params]\nurl = \"http://{addr}/big\"\nvalue = \"$.x\"\n\
         [[sources]]\nname = \"small\"\nconnector = \"http_json\"\n\
         [sources.params]\nurl = \"http://{addr}/small\"\nvalue = \"$.x\"\n"
    );
    let settings = okrd::config::parse_with_env(&config, "okrd.toml", &[]).unwrap();
    let (sources, redactor) = build_sources(&settings, &SystemSecrets).unwrap();
    let binding = |source: &str| Binding {
        key_result: "kr".into(),
        kind: KrKind::Increase,
        source: source.into(),
        params: Default::default(),
        period: Period::quarter_of(Utc::now().date_naive()),
        schedule: String::new(),
        timezone: chrono_tz::UTC,
        guard: Default::default(),
    };
    // Warm up the client, the server and the allocator on a small answer.
    let small = fetch_value(&sources["small"], &binding("small"), &redactor, Utc::now()).await;
    assert_eq!(small, Ok(1.0));

    let before = peak_rss();
    let err = fetch_value(&sources["big"], &binding("big"), &redactor, Utc::now())
        .await
        .unwrap_err();
    assert_eq!(err.reason, Reason::TooLarge, "{err}");
    assert!(
        err.message.contains("exceeds the 10485760-byte cap"),
        "{err}"
    );
    let grown = peak_rss().saturating_sub(before);
    assert!(
        grown < 20 * 1024 * 1024,
        "peak memory grew by {} MiB for a {BODY_MIB} MiB answer",
        grown / (1024 * 1024)
    );
}
