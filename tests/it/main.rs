//! The integration tests, in one test binary: `cargo test --test it`, or
//! `cargo test --test it <module>::` for one file's tests. Shared helpers
//! are in `support`. (`tests/scheduler_lag.rs` and `tests/too_large.rs`
//! measure process-wide state and keep test binaries of their own.)
//!
//! The fault suite, each with nothing lost and every acknowledged check-in
//! stored afterwards: `faults` (SQLite locked for 10 s), `faults_postgres`
//! (a PostgreSQL restart under three replicas, one SIGKILLed),
//! `server_limits` (2,000 idle and half-sent connections), `template_bounds`
//! (a template bomb in a param) and `faults_redirect` (an upstream that
//! redirects to another origin).

mod support;

mod api_input;
mod api_workflow;
mod architecture;
mod backfill;
mod catalog;
mod cli;
mod connectors_native;
mod connectors_sql_exec;
mod demo;
mod destinations;
mod durability;
mod e2e;
mod exposition;
mod faults;
mod faults_postgres;
mod faults_redirect;
mod forecast;
mod health;
mod held;
mod http_policy;
mod okr_files;
mod redaction_surfaces;
mod scheduler;
mod scheduler_lag;
mod secrets_in_logs;
mod server_limits;
mod shutdown;
mod sql_readonly;
mod status_page;
mod storage_compaction;
mod storage_heartbeat;
mod store;
mod sustain;
mod template_bounds;
mod web_app;
