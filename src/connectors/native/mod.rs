//! The connectors written in Rust, one directory each with its README:
//! `http_json` (a number from any JSON API), `prometheus` (an instant
//! query), `sql` (a query on SQLite, PostgreSQL or MySQL) and `exec` (a
//! command's output). `registry` lists them by their config name.

pub mod exec;
pub mod http_json;
pub mod prometheus;
pub mod sql;
