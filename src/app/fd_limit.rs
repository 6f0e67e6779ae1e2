//! The open-file limit, and how many client connections fit under it.
//!
//! Every client connection, database connection, source socket and exec
//! pipe is a file descriptor. Many systems start a process with a soft
//! limit of 1,024, far below the hard limit; okrd raises the soft limit to
//! the hard one at start (as Go's runtime does) and then keeps room under
//! it for the database and the sources, so that clients, however many,
//! can never take the descriptors a fetch or the database needs.

use crate::config::Settings;

/// Descriptors the process needs whatever it serves: standard streams,
/// the log, the runtime's epoll and wakers, signal pipes, SQLite's journal
/// files, DNS lookups, config and secret files being read.
const RESERVED: u64 = 64;
/// Per database connection: a socket, or SQLite's database, WAL and shared-memory files.
const PER_DATABASE_CONNECTION: u64 = 3;
/// Per fetch running at once: a socket, or an exec's three pipes and its process handle.
const PER_FETCH: u64 = 4;
/// Per source: idle connections its client keeps for the next fetch.
const PER_SOURCE: u64 = 2;

/// Raises the soft open-file limit to the hard one; the limit then in force
/// and the one before, or `None` where the platform has no such limit.
pub fn raise_open_file_limit() -> Option<(u64, u64)> {
    raise()
}

#[cfg(unix)]
fn raise() -> Option<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    let before = limit.rlim_cur;
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we own; raising the soft limit
        // up to the hard one needs no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = limit.rlim_max;
        }
    }
    Some((to_u64(limit.rlim_cur), to_u64(before)))
}

/// `rlim_t` is `u64` on Linux and `i64` on some BSDs.
#[cfg(unix)]
fn to_u64<T: TryInto<u64>>(n: T) -> u64 {
    n.try_into().unwrap_or(u64::MAX)
}

#[cfg(not(unix))]
fn raise() -> Option<(u64, u64)> {
    None
}

/// Descriptors kept for everything but client connections.
pub fn needed_besides_clients(settings: &Settings) -> u64 {
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    RESERVED
        .saturating_add(
            PER_DATABASE_CONNECTION.saturating_mul(u64::from(settings.database.max_connections)),
        )
        .saturating_add(PER_FETCH.saturating_mul(count(settings.scheduler.max_concurrency)))
        .saturating_add(PER_SOURCE.saturating_mul(count(settings.sources.len())))
}

/// The connection cap: `[server] max_connections`, lowered to what `limit`
/// leaves after the database and the sources (with a warning saying what
/// to raise). At least a few connections are always allowed, so a limit
/// that is far too low still serves `/healthz`.
pub fn connection_cap(settings: &Settings, limit: Option<u64>) -> (usize, Option<String>) {
    let wanted = settings.server.max_connections;
    let Some(limit) = limit else {
        return (wanted, None);
    };
    let besides = needed_besides_clients(settings);
    let room = usize::try_from(limit.saturating_sub(besides)).unwrap_or(usize::MAX);
    if room >= wanted {
        return (wanted, None);
    }
    let cap = room.max(8);
    let needed = besides.saturating_add(u64::try_from(wanted).unwrap_or(u64::MAX));
    let warning = format!(
        "the open-file limit ({limit}) leaves room for {room} client connections beside the \
         database ({} connections), {} fetches at once and {} sources: serving at most {cap} \
         instead of [server] max_connections = {wanted}; raise the limit to at least {needed} \
         (systemd: LimitNOFILE=, a shell: ulimit -n) or lower max_connections",
        settings.database.max_connections,
        settings.scheduler.max_concurrency,
        settings.sources.len(),
    );
    (cap, Some(warning))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_fit_under_a_limit_of_4096() {
        let settings = Settings::default();
        // 64 + 3 × 8 database connections + 4 × 16 fetches.
        assert_eq!(needed_besides_clients(&settings), 152);
        assert_eq!(connection_cap(&settings, Some(4096)), (1024, None));
        assert_eq!(connection_cap(&settings, None), (1024, None));
    }

    #[test]
    fn a_low_limit_lowers_the_cap_and_says_what_to_raise() {
        let settings = Settings::default();
        let (cap, warning) = connection_cap(&settings, Some(1024));
        assert_eq!(cap, 1024 - 152);
        let warning = warning.unwrap();
        assert!(warning.contains("at least 1176"), "{warning}");
        assert!(warning.contains("LimitNOFILE"), "{warning}");
        // Far too low: still a few connections, for /healthz.
        assert_eq!(connection_cap(&settings, Some(100)).0, 8);
    }

    #[test]
    fn raising_keeps_the_limit_within_the_hard_one() {
        if let Some((now, before)) = raise_open_file_limit() {
            assert!(now >= before);
        }
    }
}
