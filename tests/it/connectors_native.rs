//! The native connectors (`http_json`, `prometheus`) against local servers:
//! wiremock serving recorded bodies, and a tiny raw TCP server for what
//! wiremock cannot do (no Content-Length, endless or stalled bodies).
//! No test talks to the internet or sleeps beyond a short timeout.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use okrd::connectors::http::{HttpClient, HttpPolicy};
use okrd::connectors::registry;
use okrd::connectors::template::TemplateContext;
use okrd::connectors::value::Reduce;
use okrd::connectors::{FetchContext, FetchError, Params, Reason, Redactor};

use crate::support::read_request_head;

const TIMEOUT: Duration = Duration::from_secs(5);
const SHORT_TIMEOUT: Duration = Duration::from_millis(200);
const SMALL_CAP: usize = 64 * 1024;

fn fixture(name: &str) -> Vec<u8> {
    let p = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn json_response(status: u16, fixture_name: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(fixture(fixture_name), "application/json")
}

/// One fetch through the registry, as the pipeline will run it.
struct Fetch {
    connector: &'static str,
    params: Value,
    timeout: Duration,
    policy: HttpPolicy,
    redactor: Redactor,
}

impl Fetch {
    fn new(connector: &'static str, params: Value) -> Fetch {
        Fetch {
            connector,
            params,
            timeout: TIMEOUT,
            policy: HttpPolicy::default(),
            redactor: Redactor::default(),
        }
    }

    fn timeout(mut self, t: Duration) -> Fetch {
        self.timeout = t;
        self
    }

    fn cap(mut self, bytes: usize) -> Fetch {
        self.policy.max_body_bytes = bytes;
        self
    }

    fn secret(mut self, s: &str) -> Fetch {
        self.redactor.add(s);
        self
    }

    async fn run(&self) -> Result<f64, FetchError> {
        let connector = registry::native(self.connector).expect("native connector");
        let params = Params::new(self.params.as_object().expect("params table").clone());
        connector
            .check_params(&params)
            .unwrap_or_else(|e| panic!("check_params: {e}"));
        let http = HttpClient::new(self.policy.clone()).unwrap();
        let ctx = FetchContext {
            source: "test",
            key_result: "kr",
            params: &params,
            http: &http,
            timeout: self.timeout,
            redactor: &self.redactor,
            template: &TemplateContext::example(),
            trace: None,
        };
        connector.fetch(&ctx).await
    }

    async fn ok(&self) -> f64 {
        self.run()
            .await
            .unwrap_or_else(|e| panic!("expected a value: {e}"))
    }

    async fn err(&self, reason: Reason) -> FetchError {
        match self.run().await {
            Ok(v) => panic!("expected {reason}, got value {v}"),
            Err(e) => {
                assert_eq!(e.reason, reason, "{e}");
                e
            }
        }
    }
}

// ---------------------------------------------------------------- prometheus

/// A Prometheus behind a path prefix answering `query` with a fixture.
async fn prometheus(query: &str, status: u16, fixture_name: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/prom/api/v1/query"))
        .and(query_param("query", query))
        .respond_with(json_response(status, fixture_name))
        .expect(1)
        .mount(&server)
        .await;
    server
}

fn prom(server: &MockServer, query: &str) -> Fetch {
    Fetch::new(
        "prometheus",
        json!({"url": format!("{}/prom/", server.uri()), "query": query}),
    )
}

#[tokio::test]
async fn prometheus_vector_single() {
    let q = "sum(increase(http_requests_total[30d]))";
    let server = prometheus(q, 200, "prometheus_query_vector_single.json").await;
    assert_eq!(prom(&server, q).ok().await, 18432.0);
}

#[tokio::test]
async fn prometheus_query_is_url_encoded() {
    let q = r#"sum by (queue) (increase(calls_total{job="a b",x=~"y|z"}[30d])) / 2 + 1 & #"#;
    let server = prometheus(q, 200, "prometheus_query_vector_single.json").await;
    assert_eq!(prom(&server, q).ok().await, 18432.0);
}

#[tokio::test]
async fn prometheus_vector_several_with_reduce() {
    let q = "sum by (queue)(increase(calls_total[30d]))";
    let server = prometheus(q, 200, "prometheus_query_vector.json").await;
    let mut f = prom(&server, q);
    f.params["reduce"] = json!("sum");
    assert_eq!(f.ok().await, 1284.0 + 377.0);
}

#[tokio::test]
async fn prometheus_vector_several_with_every_reduce() {
    let q = "calls";
    let server = MockServer::start().await;
    Mock::given(path("/prom/api/v1/query"))
        .respond_with(json_response(200, "prometheus_query_vector.json"))
        .mount(&server)
        .await;
    for (how, want) in [
        (Reduce::Sum, 1661.0),
        (Reduce::Mean, 830.5),
        (Reduce::Min, 377.0),
        (Reduce::Max, 1284.0),
        (Reduce::Count, 2.0),
        (Reduce::Last, 377.0),
    ] {
        let mut f = prom(&server, q);
        f.params["reduce"] = json!(how.as_str());
        assert_eq!(f.ok().await, want, "{how}");
    }
}

#[tokio::test]
async fn prometheus_vector_several_without_reduce_is_an_error() {
    let q = "sum by (queue)(increase(calls_total[30d]))";
    let server = prometheus(q, 200, "prometheus_query_vector.json").await;
    let e = prom(&server, q).err(Reason::Parse).await;
    assert!(e.message.contains("2 series"), "{e}");
    assert!(e.message.contains("reduce"), "{e}");
}

#[tokio::test]
async fn prometheus_scalar() {
    let q = "scalar(sum(nps_score))";
    let server = prometheus(q, 200, "prometheus_query_scalar.json").await;
    assert_eq!(prom(&server, q).ok().await, 42.7);
}

#[tokio::test]
async fn prometheus_empty_vector_is_no_data() {
    let q = r#"up{job="missing"}"#;
    let server = prometheus(q, 200, "prometheus_query_vector_empty.json").await;
    let e = prom(&server, q).err(Reason::NoData).await;
    assert!(e.message.contains("empty vector"), "{e}");
    // Also with reduce = count: an absent series is not a count of 0.
    let server = prometheus(q, 200, "prometheus_query_vector_empty.json").await;
    let mut f = prom(&server, q);
    f.params["reduce"] = json!("count");
    f.err(Reason::NoData).await;
}

#[tokio::test]
async fn prometheus_nan_is_invalid_value() {
    let q = "sum(ratio)";
    let server = prometheus(q, 200, "prometheus_query_vector_nan.json").await;
    let e = prom(&server, q).err(Reason::InvalidValue).await;
    assert!(e.message.contains("NaN"), "{e}");
}

#[tokio::test]
async fn prometheus_matrix_asks_for_an_instant_query() {
    let q = "up[30s]";
    let server = prometheus(q, 200, "prometheus_query_range_matrix.json").await;
    let e = prom(&server, q).err(Reason::Parse).await;
    assert!(e.message.contains("instant query"), "{e}");
}

#[tokio::test]
async fn prometheus_bad_data_400_is_http_4xx_with_the_error_text() {
    let q = "sum(calls]";
    let server = prometheus(q, 400, "prometheus_query_error.json").await;
    let e = prom(&server, q).err(Reason::Http4xx).await;
    assert!(e.message.contains("400"), "{e}");
    assert!(e.message.contains("bad_data"), "{e}");
    assert!(e.message.contains("unexpected right bracket"), "{e}");
}

#[tokio::test]
async fn prometheus_execution_422_is_http_4xx() {
    let server = MockServer::start().await;
    Mock::given(path("/prom/api/v1/query"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "status": "error", "errorType": "execution", "error": "many-to-many matching not allowed"
        })))
        .mount(&server)
        .await;
    let e = prom(&server, "a / b").err(Reason::Http4xx).await;
    assert!(e.message.contains("execution: many-to-many"), "{e}");
}

#[tokio::test]
async fn prometheus_timeout_503_is_http_5xx_with_the_error_text() {
    let q = "sum(rate(x[1y]))";
    let server = prometheus(q, 503, "prometheus_query_error_timeout.json").await;
    let e = prom(&server, q).err(Reason::Http5xx).await;
    assert!(e.message.contains("503"), "{e}");
    assert!(e.message.contains("query timed out"), "{e}");
}

#[tokio::test]
async fn prometheus_error_envelope_on_200_is_parse() {
    let server = MockServer::start().await;
    Mock::given(path("/prom/api/v1/query"))
        .respond_with(json_response(200, "prometheus_query_error.json"))
        .mount(&server)
        .await;
    let e = prom(&server, "x").err(Reason::Parse).await;
    assert!(e.message.contains("bad_data"), "{e}");
}

#[tokio::test]
async fn prometheus_warnings_still_succeed() {
    let q = "sum(rate(calls[5m]))";
    let server = prometheus(q, 200, "prometheus_query_with_warnings.json").await;
    assert_eq!(prom(&server, q).ok().await, 5700.0);
}

#[tokio::test]
async fn prometheus_sends_proxy_headers() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/query"))
        .and(header("authorization", "Basic aW5zdGFuY2U6dG9rZW4="))
        .and(header("x-scope-orgid", "tenant-1"))
        .respond_with(json_response(200, "prometheus_query_scalar.json"))
        .expect(1)
        .mount(&server)
        .await;
    let f = Fetch::new(
        "prometheus",
        json!({
            "url": server.uri(), "query": "scalar(x)",
            "headers": {"Authorization": "Basic aW5zdGFuY2U6dG9rZW4=", "X-Scope-OrgID": "tenant-1"}
        }),
    );
    assert_eq!(f.ok().await, 42.7);
}

// ----------------------------------------------------------------- http_json

async fn serve_json(body: Value) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/stats"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&server)
        .await;
    server
}

fn hj(server: &MockServer, value: &str) -> Fetch {
    Fetch::new(
        "http_json",
        json!({"url": format!("{}/stats", server.uri()), "value": value}),
    )
}

#[tokio::test]
async fn http_json_number() {
    let server = serve_json(json!({"nps": 31})).await;
    assert_eq!(hj(&server, "$.nps").ok().await, 31.0);
}

#[tokio::test]
async fn http_json_numeric_string() {
    let server = serve_json(json!({"rows": [{"metricValues": [{"value": "2541"}]}]})).await;
    let f = hj(&server, "$.rows[0].metricValues[0].value");
    assert_eq!(f.ok().await, 2541.0);
}

#[tokio::test]
async fn http_json_nested_path_and_percent_string() {
    let server = serve_json(json!({"results": {"bounce_rate": {"value": "47%"}}})).await;
    assert_eq!(hj(&server, "$.results.bounce_rate.value").ok().await, 47.0);
}

#[tokio::test]
async fn http_json_several_matches_with_each_reduce() {
    let server = serve_json(json!({"queues": [
        {"name": "a", "waiting": 4}, {"name": "b", "waiting": "10"}, {"name": "c", "waiting": 1}
    ]}))
    .await;
    for (how, want) in [
        (Reduce::Sum, 15.0),
        (Reduce::Mean, 5.0),
        (Reduce::Min, 1.0),
        (Reduce::Max, 10.0),
        (Reduce::Count, 3.0),
        (Reduce::Last, 1.0),
    ] {
        let mut f = hj(&server, "$.queues[*].waiting");
        f.params["reduce"] = json!(how.as_str());
        assert_eq!(f.ok().await, want, "{how}");
    }
    let e = hj(&server, "$.queues[*].waiting").err(Reason::Parse).await;
    assert!(e.message.contains("matched 3 values; set reduce"), "{e}");
}

#[tokio::test]
async fn http_json_missing_field_is_no_data() {
    let server = serve_json(json!({"kind": "runReportResponse", "metadata": {}})).await;
    let e = hj(&server, "$.rows[0].metricValues[0].value")
        .err(Reason::NoData)
        .await;
    assert!(e.message.contains("matched nothing"), "{e}");
}

#[tokio::test]
async fn http_json_count_of_nothing_is_zero() {
    let server = serve_json(json!({"incidents": []})).await;
    let mut f = hj(&server, "$.incidents[*]");
    f.params["reduce"] = json!("count");
    assert_eq!(f.ok().await, 0.0);
}

#[tokio::test]
async fn http_json_null_and_nan_are_invalid_values() {
    let server = serve_json(json!({"a": null, "b": "NaN", "c": "n/a"})).await;
    for p in ["$.a", "$.b", "$.c"] {
        hj(&server, p).err(Reason::InvalidValue).await;
    }
}

#[tokio::test]
async fn http_json_post_sends_json_body_and_headers() {
    let server = MockServer::start().await;
    let body = json!({"jql": "project = SUP AND created >= \"2026-10-01\"", "limit": 5});
    Mock::given(method("POST"))
        .and(path("/rest/api/3/search/approximate-count"))
        .and(header("authorization", "Basic ZGFuYTp0b2tlbg=="))
        .and(header("x-custom", "yes"))
        .and(header("content-type", "application/json"))
        .and(header("accept", "application/json"))
        .and(body_json(&body))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"count": 153})))
        .expect(1)
        .mount(&server)
        .await;
    let f = Fetch::new(
        "http_json",
        json!({
            "url": format!("{}/rest/api/3/search/approximate-count", server.uri()),
            "method": "POST",
            "headers": {"Authorization": "Basic ZGFuYTp0b2tlbg==", "X-Custom": "yes"},
            "body": body,
            "value": "$.count",
        }),
    );
    assert_eq!(f.ok().await, 153.0);
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    let sent: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(sent, body);
}

/// A server answering every request with `response`.
async fn answer(response: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(path("/stats"))
        .respond_with(response)
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn http_json_500_is_http_5xx() {
    let server =
        answer(ResponseTemplate::new(500).set_body_json(json!({"error": "internal failure"})))
            .await;
    let e = hj(&server, "$.x").err(Reason::Http5xx).await;
    assert!(e.message.contains("500"), "{e}");
    assert!(e.message.contains("internal failure"), "{e}");
    assert_eq!(e.retry_after, None);
}

#[tokio::test]
async fn http_json_503_html_is_http_5xx_with_retry_after() {
    let page = "<html><head><title>503 Service Temporarily Unavailable</title></head>\n\
                <body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>";
    let server = answer(
        ResponseTemplate::new(503)
            .set_body_raw(page, "text/html")
            .insert_header("retry-after", "120"),
    )
    .await;
    let e = hj(&server, "$.x").err(Reason::Http5xx).await;
    assert!(e.message.contains("503 Service Unavailable"), "{e}");
    assert!(e.message.contains("Temporarily Unavailable"), "{e}");
    assert_eq!(e.retry_after, Some(Duration::from_secs(120)));
}

#[tokio::test]
async fn http_json_404_is_http_4xx() {
    let server = answer(ResponseTemplate::new(404)).await;
    let e = hj(&server, "$.x").err(Reason::Http4xx).await;
    assert!(e.message.contains("404"), "{e}");
}

#[tokio::test]
async fn http_json_truncated_json_is_parse() {
    let server = answer(
        ResponseTemplate::new(200)
            .set_body_raw(r#"{"results": {"visitors": {"val"#, "application/json"),
    )
    .await;
    let e = hj(&server, "$.results.visitors.value")
        .err(Reason::Parse)
        .await;
    assert!(e.message.contains("not valid JSON"), "{e}");
    assert!(e.message.contains(r#"{"results":"#), "{e}");
}

#[tokio::test]
async fn http_json_html_on_200_is_parse() {
    let server = answer(ResponseTemplate::new(200).set_body_raw(
        "<!DOCTYPE html><html><body>Please log in</body></html>",
        "text/html",
    ))
    .await;
    let e = hj(&server, "$.x").err(Reason::Parse).await;
    assert!(e.message.contains("Please log in"), "{e}");
}

#[tokio::test]
async fn http_json_empty_body_is_parse() {
    let server = answer(ResponseTemplate::new(200)).await;
    let e = hj(&server, "$.x").err(Reason::Parse).await;
    assert!(e.message.contains("empty"), "{e}");
}

#[tokio::test]
async fn http_json_401_and_403_are_auth() {
    for status in [401, 403] {
        let server = answer(ResponseTemplate::new(status).set_body_json(json!({
            "error": "Invalid API key or site ID."
        })))
        .await;
        let e = hj(&server, "$.x").err(Reason::Auth).await;
        assert!(e.message.contains(&format!("HTTP {status}")), "{e}");
        assert!(e.message.contains("Invalid API key"), "{e}");
        assert!(!e.reason.is_transient());
    }
}

#[tokio::test]
async fn http_json_429_with_retry_after_seconds() {
    let server = answer(
        ResponseTemplate::new(429)
            .set_body_json(json!({"error": "Too many API requests."}))
            .insert_header("retry-after", "3"),
    )
    .await;
    let e = hj(&server, "$.x").err(Reason::RateLimited).await;
    assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
    assert!(e.message.contains("429"), "{e}");
}

#[tokio::test]
async fn http_json_429_with_retry_after_http_date() {
    let at = Utc::now() + chrono::Duration::seconds(90);
    let date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let server =
        answer(ResponseTemplate::new(429).insert_header("retry-after", date.as_str())).await;
    let e = hj(&server, "$.x").err(Reason::RateLimited).await;
    let wait = e.retry_after.expect("retry_after");
    // Second precision and the time the test takes: not exactly 90 s.
    assert!(
        wait > Duration::from_secs(60) && wait <= Duration::from_secs(90),
        "{wait:?}"
    );
}

#[tokio::test]
async fn http_json_429_plain_text_body_is_tolerated() {
    let server = answer(
        ResponseTemplate::new(429)
            .set_body_raw(fixture("zendesk_error_429.txt"), "text/plain")
            .insert_header("retry-after", "37"),
    )
    .await;
    let e = hj(&server, "$.x").err(Reason::RateLimited).await;
    assert!(
        e.message
            .contains("Number of allowed API requests per minute exceeded"),
        "{e}"
    );
    assert_eq!(e.retry_after, Some(Duration::from_secs(37)));
}

#[tokio::test]
async fn http_json_slow_server_times_out() {
    let server = answer(
        ResponseTemplate::new(200)
            .set_body_json(json!({"x": 1}))
            .set_delay(Duration::from_secs(30)),
    )
    .await;
    let e = hj(&server, "$.x")
        .timeout(SHORT_TIMEOUT)
        .err(Reason::Timeout)
        .await;
    assert!(e.message.contains("200 ms"), "{e}");
}

#[tokio::test]
async fn http_json_stalled_body_times_out() {
    // Headers arrive at once, the body never completes: the timeout covers the body.
    let addr = raw_server(|mut s| {
        let _ = s.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"x\": ",
        );
        wait_for_close(s);
    });
    let f = Fetch::new(
        "http_json",
        json!({"url": format!("http://{addr}/stats"), "value": "$.x"}),
    );
    f.timeout(SHORT_TIMEOUT).err(Reason::Timeout).await;
}

#[tokio::test]
async fn http_json_connection_refused_is_connect() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let f = Fetch::new(
        "http_json",
        json!({"url": format!("http://127.0.0.1:{port}/stats"), "value": "$.x"}),
    );
    let e = f.err(Reason::Connect).await;
    assert!(
        e.message.contains(&format!("127.0.0.1:{port}/stats")),
        "{e}"
    );
}

#[tokio::test]
async fn http_json_tls_handshake_failure_is_connect() {
    // https to a plain-HTTP server: the TLS handshake fails.
    let server = serve_json(json!({"x": 1})).await;
    let url = server.uri().replace("http://", "https://");
    let f = Fetch::new(
        "http_json",
        json!({"url": format!("{url}/stats"), "value": "$.x"}),
    );
    f.err(Reason::Connect).await;
}

#[tokio::test]
async fn http_json_oversized_body_with_content_length_is_too_large() {
    let big = format!(r#"{{"x": 1, "pad": "{}"}}"#, "a".repeat(100 * 1024));
    let server = answer(ResponseTemplate::new(200).set_body_raw(big, "application/json")).await;
    let e = hj(&server, "$.x")
        .cap(SMALL_CAP)
        .err(Reason::TooLarge)
        .await;
    assert!(e.message.contains("65536-byte cap"), "{e}");
    // Under the cap, the same server's answer is fine.
    assert_eq!(hj(&server, "$.x").ok().await, 1.0);
}

#[tokio::test]
async fn http_json_endless_chunked_body_is_too_large() {
    // No Content-Length and no end: only a streaming cap stops this.
    let addr = raw_server(|mut s| {
        let head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
        if s.write_all(head).is_err() {
            return;
        }
        let chunk = [b' '; 8192];
        let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
        frame.extend_from_slice(&chunk);
        frame.extend_from_slice(b"\r\n");
        while s.write_all(&frame).is_ok() {}
    });
    let f = Fetch::new(
        "http_json",
        json!({"url": format!("http://{addr}/stats"), "value": "$.x"}),
    );
    let e = f.cap(SMALL_CAP).err(Reason::TooLarge).await;
    assert!(e.message.contains("exceeds the 65536-byte cap"), "{e}");
}

#[tokio::test]
async fn http_json_oversized_error_body_keeps_its_status_reason() {
    let big = "x".repeat(200 * 1024);
    let server = answer(ResponseTemplate::new(502).set_body_raw(big, "text/plain")).await;
    hj(&server, "$.x").cap(SMALL_CAP).err(Reason::Http5xx).await;
}

#[tokio::test]
async fn http_json_gzip_response_is_decoded() {
    let server = MockServer::start().await;
    Mock::given(path("/stats"))
        .and(header("accept-encoding", "gzip"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("http_json_gzip.json.gz"), "application/json")
                .insert_header("content-encoding", "gzip"),
        )
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(hj(&server, "$.results.visitors.value").ok().await, 201524.0);
}

#[tokio::test]
async fn http_json_gzip_bomb_is_too_large() {
    let server = answer(
        ResponseTemplate::new(200)
            .set_body_raw(fixture("http_json_gzip_bomb.json.gz"), "application/json")
            .insert_header("content-encoding", "gzip"),
    )
    .await;
    // 4 KiB on the wire, 4 MiB decoded: the cap applies to what we hold.
    hj(&server, "$.value")
        .cap(SMALL_CAP)
        .err(Reason::TooLarge)
        .await;
}

#[tokio::test]
async fn user_agent_is_sent() {
    let server = MockServer::start().await;
    let ua = format!("okrd/{}", env!("CARGO_PKG_VERSION"));
    Mock::given(header("user-agent", ua.as_str()))
        .respond_with(json_response(200, "prometheus_query_scalar.json"))
        .expect(2)
        .mount(&server)
        .await;
    hj(&server, "$.data.result[1]").ok().await;
    prom(&server, "x").ok().await;
}

// ------------------------------------------------------------------- secrets

const SECRET: &str = "s3cr3t-Key/with+chars";
const SECRET_ENC: &str = "s3cr3t-Key%2Fwith%2Bchars";

fn assert_no_secret(e: &FetchError) {
    for s in [SECRET, SECRET_ENC] {
        assert!(!e.message.contains(s), "secret leaked: {e}");
        assert!(!format!("{e:?}").contains(s), "secret leaked: {e:?}");
    }
}

fn secret_fetch(base: &str) -> Fetch {
    Fetch::new(
        "http_json",
        json!({
            "url": format!("{base}/stats?api_key={SECRET_ENC}&site=x"),
            "headers": {"Authorization": format!("Bearer {SECRET}")},
            "value": "$.x",
        }),
    )
    .secret(SECRET)
}

#[tokio::test]
async fn secrets_never_appear_in_fetch_errors() {
    // The server echoes the credential back in every kind of body.
    let echo = format!("bad key {SECRET} (encoded {SECRET_ENC})");
    let cases: Vec<(ResponseTemplate, Reason)> = vec![
        (
            ResponseTemplate::new(401).set_body_json(json!({"error": echo})),
            Reason::Auth,
        ),
        (
            ResponseTemplate::new(500).set_body_raw(echo.clone(), "text/plain"),
            Reason::Http5xx,
        ),
        (
            ResponseTemplate::new(429).set_body_json(json!({"message": echo})),
            Reason::RateLimited,
        ),
        (
            ResponseTemplate::new(200).set_body_raw(echo.clone(), "text/html"),
            Reason::Parse,
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"x": echo})),
            Reason::InvalidValue,
        ),
    ];
    for (response, reason) in cases {
        let server = MockServer::start().await;
        Mock::given(path("/stats"))
            .and(query_param("api_key", SECRET))
            .and(header("authorization", format!("Bearer {SECRET}").as_str()))
            .respond_with(response)
            .expect(1)
            .mount(&server)
            .await;
        let e = secret_fetch(&server.uri()).err(reason).await;
        assert_no_secret(&e);
        assert!(
            e.message.contains("***") || reason == Reason::InvalidValue,
            "{e}"
        );
    }

    // Transport failures quote the URL: the query string must not survive.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = secret_fetch(&format!("http://127.0.0.1:{port}"))
        .err(Reason::Connect)
        .await;
    assert_no_secret(&e);

    let server = answer(ResponseTemplate::new(200).set_delay(Duration::from_secs(30))).await;
    let e = secret_fetch(&server.uri())
        .timeout(SHORT_TIMEOUT)
        .err(Reason::Timeout)
        .await;
    assert_no_secret(&e);

    let big = format!("{SECRET} {}", "a".repeat(100 * 1024));
    let server = answer(ResponseTemplate::new(200).set_body_raw(big, "application/json")).await;
    let e = secret_fetch(&server.uri())
        .cap(SMALL_CAP)
        .err(Reason::TooLarge)
        .await;
    assert_no_secret(&e);
}

#[tokio::test]
async fn secrets_in_prometheus_errors_are_redacted() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/query"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "status": "error", "errorType": "bad_data",
            "error": format!("parse error near {SECRET}")
        })))
        .mount(&server)
        .await;
    let f = Fetch::new(
        "prometheus",
        json!({
            "url": format!("{}/?token={SECRET_ENC}", server.uri()),
            "query": format!("x{{k=\"{SECRET}\"}}"),
            "headers": {"Authorization": format!("Bearer {SECRET}")},
        }),
    )
    .secret(SECRET);
    let e = f.err(Reason::Http4xx).await;
    assert_no_secret(&e);
    assert!(e.message.contains("parse error near ***"), "{e}");
}

// -------------------------------------------------------------- raw server

/// A one-connection HTTP server on a thread: reads the request head, then
/// hands the socket to `respond`. For what wiremock cannot send.
fn raw_server(respond: impl FnOnce(std::net::TcpStream) + Send + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        if read_request_head(&mut s) {
            respond(s);
        }
    });
    addr
}

/// Block until the client hangs up (it does when its timeout fires).
fn wait_for_close(mut s: std::net::TcpStream) {
    let mut buf = [0u8; 64];
    while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
}
