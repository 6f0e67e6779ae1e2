//! What the integration tests share.
//!
//! - `backends`: a fresh database per test on every backend the machine
//!   offers (SQLite always, PostgreSQL and MySQL/MariaDB when configured).
//! - `daemon`: the one way to start a daemon, in-process or as the binary.
//! - `api`: a daemon with OKRs and tokens for every role, and a REST client.
//! - `elsewhere`: a host no request may reach, counting connections.
//! - `private_postgres`: a PostgreSQL cluster of the test's own, to restart.
//! - `storage`: KRs and check-ins for the `[storage]` tests.
//! - `web`: a cookie-keeping client for the web app's pages and forms.

pub mod api;
pub mod backends;
pub mod daemon;
pub mod elsewhere;
pub mod private_postgres;
pub mod storage;
pub mod web;

/// The value of one sample of a `/metrics` exposition, by metric name and
/// label fragments such as `key_result="x"` (none for an unlabelled metric).
pub fn sample(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| {
            l.starts_with(name) && matches!(l.as_bytes().get(name.len()), Some(b'{' | b' '))
        })
        .find(|l| labels.iter().all(|f| l.contains(f)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Reads an HTTP request's head (up to its blank line) from `s`, for
/// servers that answer what wiremock cannot; false if the connection closed
/// or failed first.
pub fn read_request_head(s: &mut std::net::TcpStream) -> bool {
    use std::io::Read;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    true
}
