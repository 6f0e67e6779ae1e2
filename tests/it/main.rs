//! The integration tests, in one test binary: `cargo test --test it`, or
//! `cargo test --test it <module>::` for one file's tests. Shared helpers
//! are in `support`. (`tests/scheduler_lag.rs` and `tests/too_large.rs`
//! measure process-wide state and keep test binaries of their own.)

mod support;

mod api_input;
mod api_workflow;
mod architecture;
mod catalog;
mod cli;
mod connectors_native;
mod connectors_sql_exec;
mod demo;
mod destinations;
mod durability;
mod e2e;
mod faults;
mod faults_redirect;
mod health;
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
