//! What the integration tests share.
//!
//! - `backends`: a fresh database per test on every backend the machine
//!   offers (SQLite always, PostgreSQL and MySQL/MariaDB when configured).
//! - `daemon`: the one way to start a daemon, in-process or as the binary.
//! - `api`: a daemon with OKRs and tokens for every role, and a REST client.

pub mod api;
pub mod backends;
pub mod daemon;

/// The value of one sample of a `/metrics` exposition, by metric name and
/// label fragments such as `key_result="x"`.
pub fn sample(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{'))
        .find(|l| labels.iter().all(|f| l.contains(f)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
