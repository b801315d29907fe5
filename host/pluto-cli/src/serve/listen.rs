//! The listener: accepts connections and serves them with the limits a public server needs and
//! `axum::serve` does not set.
//!
//! - At most `max` connections are served at once. Beyond that, a small reserve of further
//!   connections is served by the health routes only (`/healthz`, `/readyz`; anything else gets
//!   `503`), with a short header timeout, so that a load balancer still sees the instance alive
//!   while clients are turned away; past the reserve a connection is closed at once. Each turned
//!   away connection is counted in `pluto_connections_refused_total`.
//! - A client has `header_timeout` to send a request's headers (slow or silent clients go).
//! - A connection with no request in progress and no bytes moving for `idle_timeout` is closed.
//!   A request is in progress until its response body is over, so a live SSE stream is never
//!   idle, and a WebSocket leaves this loop once upgraded.
//! - At start the open-file soft limit is raised to the hard limit, and the connection cap is
//!   lowered (with a warning) when the descriptors could not hold it.

use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use http_body_util::BodyExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::metrics::Metrics;

/// Connections served beyond the cap, by the health routes only.
pub const RESERVE: usize = 32;
/// The header timeout of a reserve connection.
const RESERVE_HEADER_TIMEOUT: Duration = Duration::from_secs(2);
/// Descriptors kept for everything but client connections (state stores, MCP servers, files).
const OTHER_DESCRIPTORS: u64 = 256;
/// How long open connections may take to finish after shutdown.
const DRAIN: Duration = Duration::from_secs(10);

/// How connections are limited.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    /// The most connections served at once.
    pub max: usize,
    /// How long a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// How long a connection may sit idle between requests.
    pub idle_timeout: Duration,
}

/// Raises the soft open-file limit to the hard limit; the soft limit in force afterwards.
pub fn raise_open_files() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => hard,
            Err(e) => {
                tracing::warn!(soft, hard, error = %e, "cannot raise the open-file limit");
                soft
            }
        },
        Ok((soft, _)) => soft,
        Err(_) => u64::MAX,
    }
}

/// The connection cap that `open_files` descriptors can hold: `wanted`, or less with a warning.
pub fn fit_cap(wanted: usize, open_files: u64) -> usize {
    let room = open_files.saturating_sub(OTHER_DESCRIPTORS + RESERVE as u64);
    let room = usize::try_from(room).unwrap_or(usize::MAX).max(1);
    if wanted > room {
        eprintln!(
            "pluto serve: --max-connections {wanted} lowered to {room}: the open-file limit is \
             {open_files} (raise it with `ulimit -n` or the service manager's LimitNOFILE)"
        );
        room
    } else {
        wanted
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then lets open connections finish
/// (for up to [`DRAIN`]). `health` serves the reserve connections.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    health: Router,
    limits: ConnLimits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max));
    let reserve = Arc::new(Semaphore::new(RESERVE));
    let stop = CancellationToken::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of descriptors, or a connection reset before it was accepted: wait a
                    // moment rather than spin.
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let (permit, router, header_timeout) = match slots.clone().try_acquire_owned() {
            Ok(permit) => (permit, app.clone(), limits.header_timeout),
            Err(_) => {
                metrics.connections_refused.inc();
                match reserve.clone().try_acquire_owned() {
                    Ok(permit) => (permit, health.clone(), RESERVE_HEADER_TIMEOUT),
                    Err(_) => continue,
                }
            }
        };
        let _ = tcp.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Watched {
            inner: tcp,
            activity: activity.clone(),
        });
        let service = {
            let activity = activity.clone();
            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let busy = Busy::new(activity.clone());
                let router = router.clone();
                async move {
                    // The request stays busy until its response body is over (a stream
                    // included), however long that body is silent.
                    let response = router.oneshot(req.map(Body::new)).await;
                    response.map(|r| {
                        r.map(move |body| {
                            body.map_frame(move |frame| {
                                let _busy = &busy;
                                frame
                            })
                        })
                    })
                }
            })
        };
        let (metrics, stop, idle) = (metrics.clone(), stop.clone(), limits.idle_timeout);
        metrics.connections.inc();
        tokio::spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let conn = builder.serve_connection(io, service).with_upgrades();
            let mut conn = pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                () = activity.idle_for(idle) => {}
                () = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(DRAIN, conn).await;
                }
            }
            metrics.connections.dec();
        });
    }
    drop(listener);
    stop.cancel();
    // Each connection holds a permit until it is done: all are back when all are closed.
    let open =
        || (limits.max - slots.available_permits()) + (RESERVE - reserve.available_permits());
    let deadline = Instant::now() + DRAIN;
    while open() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// When a connection last moved bytes, and how many of its requests are in progress.
struct Activity {
    started: Instant,
    last_ms: AtomicU64,
    busy: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Activity {
            started: Instant::now(),
            last_ms: AtomicU64::new(0),
            busy: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Completes once no request has been in progress and no byte has moved for `idle`.
    async fn idle_for(&self, idle: Duration) {
        let tick = (idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
        loop {
            tokio::time::sleep(tick).await;
            let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            if self.busy.load(Ordering::Relaxed) == 0 && self.started.elapsed() - last >= idle {
                return;
            }
        }
    }
}

/// A request in progress on a connection (until its response body is dropped).
struct Busy(Arc<Activity>);

impl Busy {
    fn new(activity: Arc<Activity>) -> Self {
        activity.busy.fetch_add(1, Ordering::Relaxed);
        Busy(activity)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection's stream, noting each transfer in its [`Activity`].
struct Watched<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
