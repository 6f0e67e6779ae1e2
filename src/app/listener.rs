//! The HTTP server's accept loop, here rather than `axum::serve`, which
//! has no header-read or idle timeout and no connection cap: 1,100
//! half-sent request lines once held a daemon's every file descriptor, and
//! then neither `/healthz` nor the database could open anything.
//!
//! Each connection has deadlines (`connection`). Open connections are
//! capped; at the cap, the connection that has been sending a head for
//! longest, else the one idle for longest, is closed to make room, so slow
//! or silent clients can never lock out a real one. A connection with a
//! request in progress is never closed for room: at a cap of busy
//! connections, new ones wait in the kernel's queue.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use super::connection::Limits;
use super::connection::{self, ConnectionState, Phase};

/// How often, at most, the same trouble is logged while it lasts.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// Serves `router` on `listener` until `shutdown`, then lets requests in
/// progress finish and returns once every connection is closed. Dropping
/// the future closes every connection at once.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let registry = Arc::new(Registry::default());
    // Aborts every connection's task when the server is dropped (at the
    // end of the shutdown grace).
    let mut connections = JoinSet::new();
    let mut next_id: u64 = 0;
    let mut full_logged: Option<Instant> = None;
    let mut error_logged: Option<Instant> = None;
    'accept: loop {
        // Room first: a new connection's descriptor must fit under the cap.
        loop {
            let (open, closing) = registry.counts();
            if open < limits.max_connections {
                break;
            }
            if open - closing >= limits.max_connections
                && registry.make_room()
                && logged_long_ago(&mut full_logged)
            {
                tracing::warn!(
                    max_connections = limits.max_connections,
                    "at [server] max_connections: closing the connections that wait longest \
                     without a request in progress to make room for new ones"
                );
            }
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break 'accept,
                () = registry.changed.notified() => {}
            }
        }
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break 'accept,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    next_id += 1;
                    let registered = registry.insert(next_id);
                    let served = connection::serve(
                        stream,
                        router.clone(),
                        registered.state.clone(),
                        registry.changed.clone(),
                        limits,
                        shutdown.clone(),
                    );
                    connections.spawn(async move {
                        served.await;
                        drop(registered);
                    });
                }
                Err(e) if is_per_connection(&e) => {}
                Err(e) => {
                    // Out of descriptors, most likely: wait rather than spin.
                    if logged_long_ago(&mut error_logged) {
                        tracing::warn!(error = %e, "cannot accept connections; retrying");
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => break 'accept,
                        () = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
            },
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// An accept error that concerns one connection only (it was reset before
/// being accepted), not the listener.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
    )
}

/// True, and now remembered, when `last` is `None` or older than `LOG_EVERY`.
fn logged_long_ago(last: &mut Option<Instant>) -> bool {
    let now = Instant::now();
    if last.is_some_and(|at| now.duration_since(at) < LOG_EVERY) {
        return false;
    }
    *last = Some(now);
    true
}

/// The open connections.
#[derive(Default)]
struct Registry {
    open: Mutex<HashMap<u64, Arc<ConnectionState>>>,
    /// Woken when a connection closes or a request ends: room may be made.
    changed: Arc<Notify>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<ConnectionState>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn insert(self: &Arc<Self>, id: u64) -> Registered {
        let state = Arc::new(ConnectionState::new());
        self.lock().insert(id, state.clone());
        Registered {
            registry: self.clone(),
            id,
            state,
        }
    }

    /// Open connections, and those of them told to make room that have not
    /// closed yet.
    fn counts(&self) -> (usize, usize) {
        let open = self.lock();
        let closing = open
            .values()
            .filter(|c| c.close_for_room.is_cancelled())
            .count();
        (open.len(), closing)
    }

    /// Tells the connection that gives way best to close: the one sending
    /// a head for longest, else the one idle for longest. False when every
    /// connection has a request in progress (or already gives way).
    fn make_room(&self) -> bool {
        let open = self.lock();
        let oldest = open
            .values()
            .filter(|c| !c.close_for_room.is_cancelled())
            .filter_map(|c| {
                let (phase, since) = c.phase();
                let rank = match phase {
                    Phase::Head => 0,
                    Phase::Idle => 1,
                    Phase::Busy => return None,
                };
                Some(((rank, since), c))
            })
            .min_by_key(|(key, _)| *key);
        match oldest {
            Some((_, c)) => {
                c.close_for_room.cancel();
                true
            }
            None => false,
        }
    }
}

/// A connection's place in the registry, given up when its task ends
/// (or is aborted).
struct Registered {
    registry: Arc<Registry>,
    id: u64,
    state: Arc<ConnectionState>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
        self.registry.changed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::connection::tests::age;

    #[test]
    fn room_is_made_by_the_longest_waiting_head_then_the_longest_idle() {
        let registry = Arc::new(Registry::default());
        let idle = registry.insert(1);
        idle.state.request_started();
        idle.state.request_ended();
        age(&idle.state, Duration::from_secs(60));
        let busy = registry.insert(2);
        busy.state.request_started();
        age(&busy.state, Duration::from_secs(60));
        let old_head = registry.insert(3);
        age(&old_head.state, Duration::from_secs(2));
        let new_head = registry.insert(4);

        assert!(registry.make_room());
        assert!(old_head.state.close_for_room.is_cancelled());
        assert!(!new_head.state.close_for_room.is_cancelled());
        assert_eq!(registry.counts(), (4, 1));
        assert!(registry.make_room());
        assert!(new_head.state.close_for_room.is_cancelled());
        assert!(registry.make_room());
        assert!(idle.state.close_for_room.is_cancelled());
        // A request in progress is never closed for room.
        assert!(!registry.make_room());
        assert!(!busy.state.close_for_room.is_cancelled());
        drop(old_head);
        assert_eq!(registry.counts(), (3, 2));
    }
}
