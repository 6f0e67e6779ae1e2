//! The `exec` connector: run a command, read one number from its stdout.
//!
//! ```toml
//! [[sources]]
//! name = "backlog"
//! connector = "exec"
//! timeout = "30s"                           # then the whole process group is killed
//! [sources.params]
//! command = "/usr/local/bin/count-backlog"  # no shell; a bare name is looked up in PATH
//! args = ["--since", "{{ period.start }}"]  # optional; templates are rendered first
//! env = { JIRA_TOKEN = { env = "JIRA_TOKEN" } }   # optional; secrets allowed
//! working_dir = "/var/lib/okrd"             # optional
//!
//! # on a KR: nothing, or params the command does not see (KRs cannot set
//! # command, args, env or working_dir)
//! use = "backlog"
//! ```
//!
//! The command runs without a shell, with stdin from /dev/null, in a process
//! group of its own, with only `PATH`, `HOME`, `LANG`, `LC_ALL`, `TZ` and
//! `TMPDIR` from the daemon's environment plus `env` (the daemon's other
//! variables may hold its own secrets). Its trimmed stdout must be one
//! number (`47`, `-3.5`, `1e3`, `47%`). When it exits, and on timeout, the
//! whole process group is killed, so nothing it started keeps running.
//!
//! Reasons: cannot start the command (not found, not executable, no such
//! working_dir) is `connect`; no exit within the timeout is `timeout`; a
//! non-zero exit or a signal is `http_5xx` (the command failed; the message
//! quotes the status and a redacted excerpt of stderr); stdout over 64 KiB
//! is `too_large`; empty stdout is `no_data`; several words or lines are
//! `parse`; one word that is not a finite number is `invalid_value`.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use crate::connectors::http::excerpt;
use crate::connectors::params::json_type;
use crate::connectors::value::parse_number_redacted;
use crate::connectors::{BoxFuture, Connector, FetchContext, FetchError, Params, Reason, Redactor};

/// The most stdout a command may print.
pub const MAX_STDOUT_BYTES: usize = 64 * 1024;
/// How much stderr is kept for messages (the rest is read and dropped, so
/// the command never blocks on a full pipe).
const MAX_STDERR_BYTES: usize = 4 * 1024;
/// Variables passed on from the daemon's environment.
const INHERITED_ENV: &[&str] = &["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"];

/// The `exec` connector.
#[derive(Debug, Default, Clone, Copy)]
pub struct Exec;

/// Validated params of one run.
struct Spec<'p> {
    command: &'p str,
    args: Vec<&'p str>,
    env: Vec<(&'p str, &'p str)>,
    working_dir: Option<&'p str>,
}

impl<'p> Spec<'p> {
    fn from_params(params: &'p Params) -> Result<Spec<'p>, String> {
        let command = params.require_str("command")?;
        let args = match params.get("args") {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_str().ok_or_else(|| {
                        format!("param `args[{i}]` must be a string, not {}", json_type(v))
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(format!(
                    "param `args` must be an array of strings, not {}",
                    json_type(other)
                ));
            }
        };
        let env = env_pairs(params.table("env")?)?;
        let working_dir = match params.get("working_dir") {
            None => None,
            Some(_) => Some(params.require_str("working_dir")?),
        };
        Ok(Spec {
            command,
            args,
            env,
            working_dir,
        })
    }
}

fn env_pairs(table: Option<&Map<String, Value>>) -> Result<Vec<(&str, &str)>, String> {
    let Some(table) = table else {
        return Ok(Vec::new());
    };
    table
        .iter()
        .map(|(k, v)| {
            if k.is_empty() || k.contains(['=', '\0']) {
                return Err(format!("param `env` has an invalid variable name {k:?}"));
            }
            match v {
                // The value may be a resolved secret: never quote it.
                Value::String(s) if !s.contains('\0') => Ok((k.as_str(), s.as_str())),
                Value::String(_) => Err(format!("param `env.{k}` holds a NUL byte")),
                other => Err(format!(
                    "param `env.{k}` must be a string, not {}",
                    json_type(other)
                )),
            }
        })
        .collect()
}

impl Connector for Exec {
    fn check_params(&self, params: &Params) -> Result<(), String> {
        Spec::from_params(params).map(|_| ())
    }

    fn fetch<'a>(&'a self, ctx: &'a FetchContext<'a>) -> BoxFuture<'a, Result<f64, FetchError>> {
        Box::pin(async move {
            let spec = Spec::from_params(ctx.params)
                .map_err(|m| FetchError::new(Reason::Parse, format!("invalid params: {m}")))?;
            run(&spec, ctx.timeout, ctx.redactor)
                .await
                .map_err(|e| e.redacted(ctx.redactor))
        })
    }

    fn source_only_params(&self) -> &'static [&'static str] {
        &["command", "args", "env", "working_dir"]
    }

    fn known_params(&self) -> Vec<String> {
        self.source_only_params()
            .iter()
            .map(|p| p.to_string())
            .collect()
    }
}

async fn run(spec: &Spec<'_>, timeout: Duration, redactor: &Redactor) -> Result<f64, FetchError> {
    if let Some(dir) = spec.working_dir
        && !tokio::fs::metadata(dir).await.is_ok_and(|m| m.is_dir())
    {
        return Err(FetchError::new(
            Reason::Connect,
            format!("working_dir {dir:?} is not a directory"),
        ));
    }
    let mut cmd = Command::new(spec.command);
    cmd.args(&spec.args)
        .env_clear()
        .envs(
            INHERITED_ENV
                .iter()
                .filter_map(|k| std::env::var_os(k).map(|v| (*k, v))),
        )
        .envs(spec.env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(dir) = spec.working_dir {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().map_err(|e| spawn_error(spec.command, &e))?;
    // Whatever happens next (an error, a timeout, the fetch dropped by the
    // core's own timeout), the group dies with this guard.
    let group = ProcessGroup::new(child.id());
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(FetchError::new(
            Reason::Connect,
            "command pipes unavailable",
        ));
    };
    let work = async {
        tokio::try_join!(read_stdout(stdout), read_stderr(stderr), async {
            let status = child.wait().await;
            // Children it left behind would hold stdout open.
            group.kill();
            status.map_err(|e| {
                FetchError::new(Reason::Connect, format!("waiting for the command: {e}"))
            })
        })
    };
    let (out, err, status) = match tokio::time::timeout(timeout, work).await {
        Ok(r) => r?,
        Err(_) => {
            group.kill();
            return Err(FetchError::new(
                Reason::Timeout,
                format!("command did not finish within {timeout:?}; its process group was killed"),
            ));
        }
    };
    if !status.success() {
        return Err(failed(status, &err, redactor));
    }
    parse_stdout(&out, redactor)
}

/// The child's process group, sent `SIGKILL` once: when the child exits,
/// on timeout, or when dropped (the fetch failed or was cancelled).
struct ProcessGroup {
    pgid: Option<libc::pid_t>,
    killed: AtomicBool,
}

impl ProcessGroup {
    fn new(child_id: Option<u32>) -> ProcessGroup {
        ProcessGroup {
            pgid: child_id.and_then(|id| libc::pid_t::try_from(id).ok()),
            killed: AtomicBool::new(false),
        }
    }

    fn kill(&self) {
        if self.killed.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Some(pgid) = self.pgid.filter(|p| *p > 1) {
            // SAFETY: kill(2) takes plain integers; a negative pid names the
            // group. ESRCH (the group is already gone) is fine.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn_error(command: &str, e: &io::Error) -> FetchError {
    let what = match e.kind() {
        io::ErrorKind::NotFound => "command not found".to_string(),
        io::ErrorKind::PermissionDenied => "command is not executable".to_string(),
        _ => format!("cannot start command: {e}"),
    };
    FetchError::new(Reason::Connect, format!("{what}: {command:?}"))
}

fn failed(status: ExitStatus, stderr: &[u8], redactor: &Redactor) -> FetchError {
    let how = match (status.code(), status.signal()) {
        (Some(code), _) => format!("command exited with status {code}"),
        (None, Some(sig)) => format!("command was killed by signal {sig}"),
        (None, None) => format!("command failed: {status}"),
    };
    let detail = excerpt(stderr, redactor);
    let message = if detail.is_empty() {
        how
    } else {
        format!("{how}: {detail}")
    };
    FetchError::new(Reason::Http5xx, message)
}

/// Stdout, or `too_large` as soon as it passes the cap.
async fn read_stdout(mut r: impl AsyncRead + Unpin) -> Result<Vec<u8>, FetchError> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = r.read(&mut buf).await.map_err(read_error)?;
        if n == 0 {
            return Ok(out);
        }
        if out.len() + n > MAX_STDOUT_BYTES {
            return Err(FetchError::new(
                Reason::TooLarge,
                format!("command printed more than {} KiB", MAX_STDOUT_BYTES / 1024),
            ));
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// The first few KiB of stderr; the rest is drained.
async fn read_stderr(mut r: impl AsyncRead + Unpin) -> Result<Vec<u8>, FetchError> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = r.read(&mut buf).await.map_err(read_error)?;
        if n == 0 {
            return Ok(out);
        }
        let keep = n.min(MAX_STDERR_BYTES - out.len());
        out.extend_from_slice(&buf[..keep]);
    }
}

fn read_error(e: io::Error) -> FetchError {
    FetchError::new(
        Reason::Connect,
        format!("reading the command's output: {e}"),
    )
}

/// One number from stdout: empty is `no_data`, several words or lines
/// `parse`, one word that is not a number `invalid_value`.
pub fn parse_stdout(out: &[u8], redactor: &Redactor) -> Result<f64, FetchError> {
    let text = String::from_utf8_lossy(out);
    let text = text.trim();
    if text.is_empty() {
        return Err(FetchError::new(Reason::NoData, "command printed nothing"));
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    // "47 %" is one value, as elsewhere.
    let one_value = words.len() == 1 || (words.len() == 2 && words[1] == "%");
    if !one_value {
        let lines = text.lines().count();
        let what = if lines > 1 {
            format!("{lines} lines")
        } else {
            format!("{} words", words.len())
        };
        return Err(FetchError::new(
            Reason::Parse,
            format!(
                "command printed {what}, expected one number: {}",
                excerpt(text.as_bytes(), redactor)
            ),
        ));
    }
    parse_number_redacted(&Value::String(text.to_string()), redactor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: Value) -> Result<(), String> {
        Exec.check_params(&Params::new(v.as_object().unwrap().clone()))
    }

    #[test]
    fn check_params_accepts_a_complete_set() {
        check(json!({"command": "/bin/true"})).unwrap();
        check(json!({
            "command": "count", "args": ["--since", "2026-10-01"],
            "env": {"TOKEN": "t"}, "working_dir": "/tmp"
        }))
        .unwrap();
    }

    #[test]
    fn check_params_names_the_problem() {
        let e = |v| check(v).unwrap_err();
        assert!(e(json!({})).contains("`command` is required"));
        assert!(e(json!({"command": ""})).contains("`command` is empty"));
        assert!(e(json!({"command": ["sh"]})).contains("string"));
        assert!(e(json!({"command": "x", "args": "a b"})).contains("array of strings"));
        assert!(e(json!({"command": "x", "args": ["a", 1]})).contains("`args[1]`"));
        assert!(e(json!({"command": "x", "env": ["A=1"]})).contains("table"));
        assert!(e(json!({"command": "x", "env": {"A": 1}})).contains("`env.A`"));
        assert!(e(json!({"command": "x", "env": {"A=B": "1"}})).contains("variable name"));
        assert!(e(json!({"command": "x", "working_dir": 3})).contains("`working_dir`"));
    }

    #[test]
    fn secret_env_values_are_never_quoted() {
        let e = check(json!({"command": "x", "env": {"A": "secret\0value"}})).unwrap_err();
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn stdout_rules() {
        let r = Redactor::default();
        let p = |s: &str| parse_stdout(s.as_bytes(), &r);
        assert_eq!(p("42\n").unwrap(), 42.0);
        assert_eq!(p("  -3.5  \n\n").unwrap(), -3.5);
        assert_eq!(p("47 %").unwrap(), 47.0);
        assert_eq!(p("1e3").unwrap(), 1000.0);
        assert_eq!(p("").unwrap_err().reason, Reason::NoData);
        assert_eq!(p(" \n\t").unwrap_err().reason, Reason::NoData);
        assert_eq!(p("abc").unwrap_err().reason, Reason::InvalidValue);
        assert_eq!(p("NaN").unwrap_err().reason, Reason::InvalidValue);
        let e = p("1\n2\n").unwrap_err();
        assert_eq!(e.reason, Reason::Parse);
        assert!(e.message.contains("2 lines"), "{}", e.message);
        let e = p("total: 3").unwrap_err();
        assert_eq!(e.reason, Reason::Parse);
        assert!(e.message.contains("2 words"), "{}", e.message);
    }

    #[test]
    fn every_param_is_source_only() {
        assert_eq!(
            Exec.source_only_params(),
            &["command", "args", "env", "working_dir"]
        );
    }
}
