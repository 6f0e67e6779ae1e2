//! The shipped `okrd` binary as a child process: `okrd serve` with its
//! stdout and stderr captured in files, for what only the real process
//! shows (its log), and the CLI run against the same config while it serves.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// How long the binary may take to start serving on a busy machine.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// How long SIGTERM may take: `shutdown_grace` (10 s) plus slack.
const STOP_DEADLINE: Duration = Duration::from_secs(20);

/// A running `okrd serve`, killed when dropped.
pub struct Daemon {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Daemon {
    /// `okrd serve --config <config>` on a free port (`OKRD_SERVER__LISTEN`
    /// overrides the config's), with `env` added and `RUST_LOG` removed so
    /// the config's `[log]` applies. Its output goes to `okrd.stdout` and
    /// `okrd.stderr` next to `config`. Returns once `/readyz` answers 200;
    /// the config's log level must show info events of `okrd` (the line
    /// naming the address is how the port is found).
    pub async fn spawn(config: &Path, env: &[(&str, &str)]) -> Daemon {
        let dir = config.parent().expect("the config is in a directory");
        let (stdout, stderr) = (dir.join("okrd.stdout"), dir.join("okrd.stderr"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_okrd"));
        cmd.current_dir(dir)
            .arg("serve")
            .arg("--config")
            .arg(config)
            .env_remove("RUST_LOG")
            .env("OKRD_SERVER__LISTEN", "127.0.0.1:0")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap());
        let mut daemon = Daemon {
            child: cmd.spawn().expect("okrd starts"),
            base: String::new(),
            stdout,
            stderr,
        };
        let deadline = Instant::now() + START_DEADLINE;
        let port = loop {
            if let Some(port) = listening_port(&daemon.log()) {
                break port;
            }
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!(
                    "okrd serve exited with {status} before serving:\n{}",
                    daemon.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "okrd serve did not say where it listens:\n{}",
                daemon.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        daemon.base = format!("http://127.0.0.1:{port}");
        loop {
            if let Ok(r) = reqwest::get(format!("{}/readyz", daemon.base)).await
                && r.status().is_success()
            {
                return daemon;
            }
            assert!(
                Instant::now() < deadline,
                "okrd serve did not get ready:\n{}",
                daemon.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Everything it wrote so far: stdout, then stderr.
    pub fn log(&self) -> String {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        format!("{}{}", read(&self.stdout), read(&self.stderr))
    }

    /// SIGTERM, then waits for it to exit: its exit status and whole log.
    pub async fn stop(mut self) -> (ExitStatus, String) {
        let pid = i32::try_from(self.child.id()).expect("a pid fits in pid_t");
        // SAFETY: signals the child this value owns and has not reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, self.log());
            }
            assert!(
                Instant::now() < deadline,
                "okrd serve did not stop on SIGTERM:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The port in the `serving /metrics, ...` line, text or JSON format.
fn listening_port(log: &str) -> Option<u16> {
    let line = log.lines().find(|l| l.contains("serving /metrics"))?;
    let rest = &line[line.find("127.0.0.1:")? + "127.0.0.1:".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// `okrd <args> --config <config>` to completion, `RUST_LOG` removed.
pub async fn cli(config: &Path, args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_okrd"));
    cmd.args(args)
        .arg("--config")
        .arg(config)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    cmd.output().await.expect("okrd runs")
}
