//! One client connection, from accept to close: hyper's HTTP/1 over the
//! socket, and a deadline for what the connection is doing. Sending a
//! request head gets `header_read_timeout` (from the connection, or from
//! the first byte of a later request); waiting for the next request gets
//! `idle_timeout`; a request in progress gets twice `request_timeout` (the
//! handler's share, then as long again to send the answer to a client that
//! reads slowly). The phase is also what `listener` looks at to choose
//! which connection makes room at the cap.
//!
//! hyper's own header-read timeout is not used: it also runs while a
//! keep-alive connection waits, idle, for its next request, so it would be
//! the idle timeout too.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What one connection buffers of a request; also the largest request head.
const MAX_BUFFER_BYTES: usize = 64 * 1024;

/// What bounds the server's connections (`[server]`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub request_timeout: Duration,
}

impl Limits {
    /// How long a request may be in progress, its answer's sending
    /// included, before its connection is closed.
    fn answer_deadline(&self) -> Duration {
        self.request_timeout.saturating_mul(2)
    }
}

/// Serves `router` on `stream` until the client leaves, a deadline
/// passes, `state` is told to make room, or `shutdown` (then the request
/// in progress, if any, is answered first). `changed` is woken when a
/// request ends.
pub async fn serve(
    stream: TcpStream,
    router: Router,
    state: Arc<ConnectionState>,
    changed: Arc<Notify>,
    limits: Limits,
    shutdown: CancellationToken,
) {
    // Handlers that trust a proxy's header check who sent it (`ConnectInfo`).
    let peer = stream.peer_addr().ok();
    let io = TokioIo::new(Watched {
        stream,
        state: state.clone(),
    });
    let service = Routed {
        inner: TowerToHyperService::new(router),
        state: state.clone(),
        changed,
        peer,
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    http.header_read_timeout(Option::<Duration>::None)
        // A head larger than this is refused: a thousand connections must
        // not each hold hyper's default 400 KiB of half-sent headers.
        .max_buf_size(MAX_BUFFER_BYTES);
    let connection = http.serve_connection(io, service);
    tokio::pin!(connection);
    let mut stopping = false;
    loop {
        let (phase, deadline) = state.deadline(&limits);
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = state.close_for_room.cancelled() => {
                tracing::debug!(?phase, "closed a connection to make room");
                return;
            }
            () = shutdown.cancelled(), if !stopping => {
                stopping = true;
                // A head still arriving is a request not yet made: the client
                // may send it elsewhere. A request in progress is answered,
                // then its connection closes; an idle one closes at once.
                if state.deadline(&limits).0 == Phase::Head {
                    return;
                }
                connection.as_mut().graceful_shutdown();
            }
            () = state.phase_changed.notified() => {}
            () = tokio::time::sleep_until(deadline) => {
                let (phase, deadline) = state.deadline(&limits);
                if deadline <= Instant::now() {
                    tracing::debug!(?phase, "closed a connection past its deadline");
                    return;
                }
            }
        }
    }
}

/// What a connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Sending a request head: from the connection (its first request) or
    /// from the first byte of a later one.
    Head,
    /// Between requests, silent.
    Idle,
    /// A request in progress, until its answer is sent.
    Busy,
}

struct Activity {
    phase: Phase,
    since: Instant,
    requests_in_progress: usize,
}

/// One connection's activity, shared by its reader, its service and the registry.
pub struct ConnectionState {
    activity: Mutex<Activity>,
    /// Cancelled when the connection must give way to a new one.
    pub close_for_room: CancellationToken,
    /// Woken when the phase changes: its deadline changes with it.
    phase_changed: Notify,
}

impl ConnectionState {
    pub fn new() -> ConnectionState {
        ConnectionState {
            activity: Mutex::new(Activity {
                phase: Phase::Head,
                since: Instant::now(),
                requests_in_progress: 0,
            }),
            close_for_room: CancellationToken::new(),
            phase_changed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Activity> {
        self.activity.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn bytes_arrived(&self) {
        let mut a = self.lock();
        if a.phase == Phase::Idle {
            self.enter(&mut a, Phase::Head);
        }
    }

    pub fn request_started(&self) {
        let mut a = self.lock();
        a.requests_in_progress += 1;
        if a.phase != Phase::Busy {
            self.enter(&mut a, Phase::Busy);
        }
    }

    pub fn request_ended(&self) {
        let mut a = self.lock();
        a.requests_in_progress = a.requests_in_progress.saturating_sub(1);
        if a.requests_in_progress == 0 {
            self.enter(&mut a, Phase::Idle);
        }
    }

    fn enter(&self, a: &mut Activity, phase: Phase) {
        a.phase = phase;
        a.since = Instant::now();
        self.phase_changed.notify_one();
    }

    /// What it does now and since when.
    pub fn phase(&self) -> (Phase, Instant) {
        let a = self.lock();
        (a.phase, a.since)
    }

    /// The phase and when it must end.
    pub fn deadline(&self, limits: &Limits) -> (Phase, Instant) {
        let a = self.lock();
        let allowed = match a.phase {
            Phase::Head => limits.header_read_timeout,
            Phase::Idle => limits.idle_timeout,
            Phase::Busy => limits.answer_deadline(),
        };
        (a.phase, a.since + allowed)
    }
}

impl Default for ConnectionState {
    fn default() -> Self {
        ConnectionState::new()
    }
}

/// The socket, noting when bytes arrive on a connection that was idle.
struct Watched {
    stream: TcpStream,
    state: Arc<ConnectionState>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.state.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The router, marking each request in progress until its answer is sent.
struct Routed {
    inner: TowerToHyperService<Router>,
    state: Arc<ConnectionState>,
    changed: Arc<Notify>,
    /// The client's address, given to handlers as `ConnectInfo`.
    peer: Option<SocketAddr>,
}

type Answer = hyper::Response<Body>;

impl hyper::service::Service<hyper::Request<Incoming>> for Routed {
    type Response = Answer;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Answer, Infallible>> + Send>>;

    fn call(&self, mut request: hyper::Request<Incoming>) -> Self::Future {
        if let Some(peer) = self.peer {
            request.extensions_mut().insert(ConnectInfo(peer));
        }
        let in_progress = InProgress::start(self.state.clone(), self.changed.clone());
        let answer = hyper::service::Service::call(&self.inner, request);
        Box::pin(async move {
            let answer = answer.await?;
            Ok(answer.map(|body| {
                Body::new(Sending {
                    body,
                    _in_progress: in_progress,
                })
            }))
        })
    }
}

/// A request in progress; ended when dropped (its answer sent, or the
/// connection gone).
struct InProgress {
    state: Arc<ConnectionState>,
    changed: Arc<Notify>,
}

impl InProgress {
    fn start(state: Arc<ConnectionState>, changed: Arc<Notify>) -> InProgress {
        state.request_started();
        InProgress { state, changed }
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.state.request_ended();
        self.changed.notify_one();
    }
}

/// An answer's body while it is being sent.
struct Sending {
    body: Body,
    _in_progress: InProgress,
}

impl HttpBody for Sending {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_connections: 4,
            header_read_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(90),
            request_timeout: Duration::from_secs(30),
        }
    }

    /// The phase and how long it is allowed, from when it began.
    fn allowed(state: &ConnectionState) -> (Phase, Duration) {
        let since = state.lock().since;
        let (phase, deadline) = state.deadline(&limits());
        (phase, deadline - since)
    }

    /// Moves the start of the current phase `by` into the past.
    pub fn age(state: &ConnectionState, by: Duration) {
        let mut a = state.lock();
        a.since = a
            .since
            .checked_sub(by)
            .expect("the clock has run that long");
    }

    #[test]
    fn each_phase_has_its_deadline() {
        let state = ConnectionState::new();
        assert_eq!(allowed(&state), (Phase::Head, Duration::from_secs(5)));
        state.request_started();
        assert_eq!(allowed(&state), (Phase::Busy, Duration::from_secs(60)));
        state.request_ended();
        assert_eq!(allowed(&state), (Phase::Idle, Duration::from_secs(90)));
        // The first byte of the next request starts its head's clock.
        age(&state, Duration::from_secs(10));
        state.bytes_arrived();
        assert_eq!(allowed(&state), (Phase::Head, Duration::from_secs(5)));
        assert!(state.deadline(&limits()).1 > Instant::now());
        // Body bytes of a request in progress change nothing.
        state.request_started();
        state.bytes_arrived();
        assert_eq!(state.deadline(&limits()).0, Phase::Busy);
    }
}
