//! A PostgreSQL cluster of the test's own (initdb into a temporary
//! directory, run with pg_ctl on a free port), for tests that stop and
//! restart the server: doing that to the shared cluster would break every
//! other test running against it.
//!
//! PostgreSQL refuses to run as root, so when the tests run as root every
//! command runs as the `postgres` user (`runuser`) in a directory it owns.
//! Trust authentication and no fsync: a throwaway cluster, fast to start.
//! Dropping it stops the server (immediate) and removes the directory.
//!
//! ```ignore
//! let Some(pg) = PrivatePostgres::start() else { return }; // no binaries
//! let url = pg.url();
//! pg.stop();  // ...the replicas carry on without it...
//! pg.start_again();
//! ```

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A running private cluster.
pub struct PrivatePostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// Run as this user (by name) through `runuser`, when the test is root.
    run_as: Option<&'static str>,
}

const SERVER_USER: &str = "postgres";

impl PrivatePostgres {
    /// Where `initdb` and `pg_ctl` are, if installed: the newest of
    /// `/usr/lib/postgresql/*/bin`.
    pub fn binaries() -> Option<PathBuf> {
        let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(Result::ok)
            .filter_map(|e| {
                let version = e.file_name().to_str()?.parse().ok()?;
                let bin = e.path().join("bin");
                (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
                    .then_some((version, bin))
            })
            .collect();
        found.sort();
        found.pop().map(|(_, bin)| bin)
    }

    /// Creates and starts a cluster; `None` if the server binaries are not
    /// installed. Fails the test if they are but the cluster does not start.
    pub fn start() -> Option<PrivatePostgres> {
        let bin = Self::binaries()?;
        let dir = tempfile::tempdir().expect("temporary directory");
        // SAFETY: geteuid has no preconditions.
        let run_as = (unsafe { libc::geteuid() } == 0).then_some(SERVER_USER);
        if let Some(user) = run_as {
            give_to(dir.path(), user);
        }
        let pg = PrivatePostgres {
            bin,
            dir,
            port: free_port(),
            run_as,
        };
        let data = pg.data().display().to_string();
        pg.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        pg.start_again();
        Some(pg)
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server the way an operator's restart does (`-m fast`:
    /// sessions are ended, what was committed is kept), and waits for it.
    pub fn stop(&self) {
        self.pg_ctl(&["stop", "-m", "fast"]);
    }

    /// Starts the (stopped) server and waits until it accepts connections.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        self.pg_ctl(&["start", "-l", &log, "-o", &options]);
    }

    /// The server's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.data().display().to_string();
        let mut all = vec!["-D", &data, "-w", "-t", "60"];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all);
    }

    /// Runs one of the server's programs to completion; fails the test if
    /// it fails.
    fn run(&self, program: &str, args: &[&str]) -> Output {
        let out = self
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?} failed ({}):\n{}{}\n--- server log ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        out
    }

    /// One of the server's programs, as the server's user, in its directory.
    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        let mut cmd = match self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        cmd.current_dir(self.dir.path());
        cmd
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        // Best effort and quick: the directory goes anyway.
        let data = self.data().display().to_string();
        let _ = self
            .command("pg_ctl")
            .args(["-D", &data, "-w", "-t", "20", "stop", "-m", "immediate"])
            .output();
    }
}

/// Makes `dir` the server user's, so the server may write there.
fn give_to(dir: &Path, user: &str) {
    let name = std::ffi::CString::new(user).expect("a user name");
    // SAFETY: getpwnam with a NUL-terminated name; the record is read at
    // once, before any other call could reuse its buffer.
    let (uid, gid) = unsafe {
        let pw = libc::getpwnam(name.as_ptr());
        assert!(!pw.is_null(), "no user {user} to run PostgreSQL as");
        ((*pw).pw_uid, (*pw).pw_gid)
    };
    std::os::unix::fs::chown(dir, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", dir.display()));
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}
