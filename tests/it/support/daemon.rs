//! The one way tests start a daemon: `Launch` a config file either
//! in-process (`okrd::app::start`, on a clock the test may hold) or as the
//! shipped binary (`okrd serve`, its stdout and stderr in files), for what
//! only the real process shows: its log, its exit, signals.
//!
//! Both return once the daemon is ready, so no test polls `/readyz` to wait
//! for it: `app::start` returns then, and the binary logs its "serving" line
//! (with the address; how the port is found) only then. Every wait has a
//! deadline, so a daemon that hangs fails its test with its log instead of
//! hanging the suite.
//!
//! ```ignore
//! let daemon = Launch::serve(&config).clock(clock).in_process().await;
//! let daemon = Launch::serve(&config).env("OKRD_LOG__LEVEL", "debug").binary().await;
//! ```
//!
//! A daemon meant to fail to start, or to be killed at chosen moments, is
//! `spawn`ed without waiting; `Binary::serving`, `logged`, `wait_for`,
//! `sigterm`, `sigkill` and `wait_exit` then take it step by step.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use okrd::app::{AppError, Running};
use okrd::clock::{Clock, SystemClock};
use tokio_util::sync::CancellationToken;

/// How long a daemon may take to get ready, on a busy machine.
pub const START_DEADLINE: Duration = Duration::from_secs(60);

/// How long stopping may take: `shutdown_grace` (10 s by default) plus slack.
pub const STOP_DEADLINE: Duration = Duration::from_secs(20);

/// How long a binary dropped while running gets to stop on SIGTERM (and
/// remove what it created) before SIGKILL.
const DROP_GRACE: Duration = Duration::from_secs(5);

const POLL: Duration = Duration::from_millis(20);

/// How to start a daemon: the config, environment and clock.
pub struct Launch {
    /// The working directory; the binary's output files go there too.
    dir: PathBuf,
    /// The config file, for `okrd serve` and the in-process daemon.
    config: Option<PathBuf>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    clock: Arc<dyn Clock>,
    /// Names the daemon in failure messages.
    context: String,
    /// The binary's open-file limit (soft, hard), if not the test's.
    fd_limit: Option<(u64, u64)>,
}

impl Launch {
    /// The daemon of `config`, run in the config's directory.
    pub fn serve(config: &Path) -> Launch {
        let dir = config.parent().expect("the config is in a directory");
        Launch {
            dir: dir.to_path_buf(),
            config: Some(config.to_path_buf()),
            args: vec![
                "serve".into(),
                "--config".into(),
                config.display().to_string(),
            ],
            env: Vec::new(),
            clock: Arc::new(SystemClock),
            context: "okrd serve".into(),
            fd_limit: None,
        }
    }

    /// Another command of the binary that serves (`okrd demo`), run in
    /// `dir`. Binary only.
    pub fn command(dir: &Path, args: &[&str]) -> Launch {
        Launch {
            dir: dir.to_path_buf(),
            config: None,
            args: args.iter().map(|a| a.to_string()).collect(),
            env: Vec::new(),
            clock: Arc::new(SystemClock),
            context: format!("okrd {}", args.join(" ")),
            fd_limit: None,
        }
    }

    /// An environment variable: an `OKRD_SECTION__KEY` override of the
    /// config (either way), or one a source reads with `{ env = … }`
    /// (binary). Nothing else of the test's environment starting with
    /// `OKRD_` reaches the daemon: the config and these decide.
    pub fn env(mut self, name: &str, value: &str) -> Launch {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    /// `env` for each pair.
    pub fn envs(self, vars: &[(&str, &str)]) -> Launch {
        vars.iter()
            .fold(self, |l, (name, value)| l.env(name, value))
    }

    /// The in-process daemon's clock (default: the system's). The binary
    /// runs on the real clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Launch {
        self.clock = clock;
        self
    }

    /// What failure messages call the daemon (e.g. its backend and run).
    pub fn context(mut self, context: impl Into<String>) -> Launch {
        self.context = context.into();
        self
    }

    /// The binary's open-file limit, soft and hard (such as systemd's
    /// default soft limit of 1,024), whatever the test process's is.
    /// Binary only.
    pub fn fd_limit(mut self, soft: u64, hard: u64) -> Launch {
        self.fd_limit = Some((soft, hard));
        self
    }

    fn config(&self) -> &Path {
        self.config
            .as_deref()
            .expect("an in-process daemon runs a config: Launch::serve")
    }

    /// The settings the in-process daemon runs: the config with the
    /// environment's overrides.
    pub fn settings(&self) -> okrd::config::Settings {
        okrd::config::load_with_env(Some(self.config()), &self.env)
            .unwrap_or_else(|e| panic!("{}: {}: {e}", self.context, self.config().display()))
    }

    /// In-process on a free port of 127.0.0.1 (the config's `listen` is not
    /// used), returned once ready. Fails the test if it does not start.
    pub async fn in_process(self) -> InProcess {
        let context = self.context.clone();
        self.try_in_process()
            .await
            .unwrap_or_else(|e| panic!("{context}: the daemon did not start: {e}"))
    }

    /// `in_process`, or the error the daemon refused to start with.
    pub async fn try_in_process(self) -> Result<InProcess, AppError> {
        let settings = self.settings();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let shutdown = CancellationToken::new();
        let start = okrd::app::start(settings, listener, shutdown.clone(), self.clock);
        let running = tokio::time::timeout(START_DEADLINE, start)
            .await
            .unwrap_or_else(|_| panic!("{}: not ready within {START_DEADLINE:?}", self.context))?;
        Ok(InProcess {
            addr: running.local_addr(),
            shutdown,
            running,
            context: self.context,
        })
    }

    /// The binary, returned once it logged that it serves (its log level
    /// must show `okrd`'s info events). Fails the test if it exits first.
    pub async fn binary(self) -> Binary {
        let mut daemon = self.spawn();
        daemon.serving().await;
        daemon
    }

    /// The binary, started and not waited for. `okrd serve` listens on a
    /// free port of 127.0.0.1 (`OKRD_SERVER__LISTEN`, unless `env` sets it).
    pub fn spawn(self) -> Binary {
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let run = RUNS.fetch_add(1, Ordering::Relaxed);
        let stdout = self.dir.join(format!("okrd-{run}.stdout"));
        let stderr = self.dir.join(format!("okrd-{run}.stderr"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_okrd"));
        cmd.current_dir(&self.dir)
            .args(&self.args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap());
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("OKRD_") {
                cmd.env_remove(name);
            }
        }
        if self.config.is_some() {
            cmd.env("OKRD_SERVER__LISTEN", "127.0.0.1:0");
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some((soft, hard)) = self.fd_limit {
            use std::os::unix::process::CommandExt;
            let limit = libc::rlimit {
                rlim_cur: soft,
                rlim_max: hard,
            };
            // SAFETY: between fork and exec, setrlimit (async-signal-safe)
            // on the child only.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{}: cannot start okrd: {e}", self.context));
        Binary {
            child,
            stdout,
            stderr,
            addr: None,
            context: self.context,
        }
    }
}

/// `GET <base>/metrics`, as text.
pub async fn metrics(base: &str) -> String {
    reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// A daemon running in the test's process.
pub struct InProcess {
    addr: SocketAddr,
    shutdown: CancellationToken,
    running: Running,
    context: String,
}

impl InProcess {
    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn metrics(&self) -> String {
        metrics(&self.base()).await
    }

    /// Tells it to stop (what SIGTERM does to the binary).
    pub fn shut_down(&self) {
        self.shutdown.cancel();
    }

    /// Waits, without a deadline, until it has stopped (see
    /// `okrd::app::Running::wait`): for a test that times the stop itself.
    pub async fn wait(self) -> Result<(), AppError> {
        self.running.wait().await
    }

    /// Stops it and asserts that it stopped cleanly, within `STOP_DEADLINE`.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let context = self.context;
        tokio::time::timeout(STOP_DEADLINE, self.running.wait())
            .await
            .unwrap_or_else(|_| panic!("{context}: not stopped within {STOP_DEADLINE:?}"))
            .unwrap_or_else(|e| panic!("{context}: stopped with an error: {e}"));
    }
}

/// The binary as a child process. Stopped if dropped while running
/// (SIGTERM, then SIGKILL), so a failed test leaves no daemon behind.
pub struct Binary {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    /// Where it serves, once it said so.
    addr: Option<SocketAddr>,
    context: String,
}

impl Binary {
    /// Waits until it logs that it serves (ready from then on); where.
    pub async fn serving(&mut self) -> SocketAddr {
        if let Some(addr) = self.addr {
            return addr;
        }
        let (stdout, stderr) = (self.stdout.clone(), self.stderr.clone());
        let addr = self
            .wait_for(
                START_DEADLINE,
                "its \"serving\" line in the log",
                async || serving_addr(&read_both(&stdout, &stderr)),
            )
            .await;
        self.addr = Some(addr);
        addr
    }

    /// Where it serves; `serving` (or `Launch::binary`) must have said.
    pub fn addr(&self) -> SocketAddr {
        self.addr
            .unwrap_or_else(|| panic!("{}: not known to serve yet", self.context))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// Its process id (for `/proc/PID/status`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub async fn metrics(&self) -> String {
        metrics(&self.base()).await
    }

    /// Polls `f` until it returns something; fails if the daemon exits
    /// first or `within` passes.
    pub async fn wait_for<T>(
        &mut self,
        within: Duration,
        what: &str,
        mut f: impl AsyncFnMut() -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + within;
        loop {
            if let Some(found) = f().await {
                return found;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{}: okrd exited ({status}) while waiting for {what}\n{}",
                    self.context,
                    self.log_tail()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "{}: no {what} within {within:?}\n{}",
                    self.context,
                    self.log_tail()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until its output holds `what`.
    pub async fn logged(&mut self, what: &str) {
        let (stdout, stderr) = (self.stdout.clone(), self.stderr.clone());
        self.wait_for(
            START_DEADLINE,
            &format!("{what:?} in the log"),
            async || read_both(&stdout, &stderr).contains(what).then_some(()),
        )
        .await;
    }

    /// Everything it wrote so far: stdout, then stderr (its log).
    pub fn log(&self) -> String {
        read_both(&self.stdout, &self.stderr)
    }

    /// The file its stdout goes to.
    pub fn stdout_path(&self) -> &Path {
        &self.stdout
    }

    /// What it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The last 40 lines of its log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = self.log();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        format!("--- okrd log ({}) ---\n{tail}", self.stderr.display())
    }

    pub fn sigterm(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid fits in pid_t");
        // SAFETY: kill(2) with the pid of our own child, not yet reaped.
        let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(sent, 0, "{}: cannot send SIGTERM", self.context);
    }

    /// SIGKILL; fails if it had already exited by itself.
    pub async fn sigkill(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{}: okrd exited by itself ({status}) before the SIGKILL\n{}",
                self.context,
                self.log_tail()
            );
        }
        self.child.kill().expect("SIGKILL");
        self.wait_exit(Duration::from_secs(30), "SIGKILL").await;
    }

    /// Waits for the exit; past `within`, kills it and fails.
    pub async fn wait_exit(&mut self, within: Duration, after: &str) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for okrd") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{}: okrd still running {within:?} after {after}; killed it\n{}",
                    self.context,
                    self.log_tail()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// SIGTERM, then waits (`STOP_DEADLINE`) for the exit: its exit status
    /// and whole log.
    pub async fn stop(mut self) -> (ExitStatus, String) {
        self.sigterm();
        let status = self.wait_exit(STOP_DEADLINE, "SIGTERM").await;
        (status, self.log())
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        // SIGTERM first: `okrd demo` removes its temporary files then.
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill(2) with the pid of our own child, not yet reaped.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + DROP_GRACE;
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_both(stdout: &Path, stderr: &Path) -> String {
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    format!("{}{}", read(stdout), read(stderr))
}

/// The address in the `serving /metrics, ...` line, text or JSON format.
fn serving_addr(log: &str) -> Option<SocketAddr> {
    let line = log.lines().find(|l| l.contains("serving /metrics"))?;
    let rest = &line[line.find("127.0.0.1:")? + "127.0.0.1:".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some(SocketAddr::from(([127, 0, 0, 1], digits.parse().ok()?)))
}
