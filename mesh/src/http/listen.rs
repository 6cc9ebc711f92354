//! Limits every mesh listener applies: how many connections it holds at once
//! (one process holds every listener, so one flooded port must not use up
//! the descriptors the others need), how long a client may take to send its
//! request head, and how long an idle connection is kept.
//!
//! Listeners served by hyper (ingress, sidecars, admin, apps) close an idle
//! connection with a watchdog that knows about requests in flight, so a slow
//! answer is never cut. gRPC listeners (the control planes and the console
//! API) are driven by tonic, which has no idle timeout: their connections
//! carry [`IdleIo`], which fails a read after the idle time without a byte
//! in; the server's HTTP/2 keepalive pings make every live client send
//! something well within it, streams that are quiet included.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

/// The largest request head (headers plus URI, counted as HTTP/2 counts a
/// header list: name + value + 32 per field) a mesh listener forwards.
/// Envoy's default `max_request_headers_kb` is 60.
pub const MAX_REQUEST_HEADER_BYTES: usize = 60 * 1024;

/// What mesh HTTP/2 servers accept as a header list: above what any proxy
/// forwards ([`MAX_REQUEST_HEADER_BYTES`] plus the headers a hop adds), so a
/// request the ingress let through never makes an upstream reset the
/// connection it shares with other clients' requests.
pub const H2_MAX_HEADER_LIST: u32 = 128 * 1024;

/// Connection limits of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Connections held at once; the next one is refused.
    pub max_connections: usize,
    /// A connection without a byte in and no request in flight for this
    /// long is closed.
    pub idle_timeout: Duration,
    /// Time to send a whole HTTP/1 request head. hyper also applies it to
    /// a keep-alive connection waiting for its next request, so it is kept
    /// above the mesh's own clients' pool idle timeouts (30 s): the client
    /// side closes an idle connection first and never races the server.
    pub header_read_timeout: Duration,
    /// Time to finish a TLS handshake, or send a first byte where the
    /// listener must see one before it knows the protocol.
    pub handshake_timeout: Duration,
}

impl ListenerLimits {
    /// The ingress gateway: the mesh's front door.
    pub const INGRESS: Self = Self {
        max_connections: 10_000,
        idle_timeout: Duration::from_secs(60),
        header_read_timeout: Duration::from_secs(60),
        handshake_timeout: Duration::from_secs(10),
    };
    /// A sidecar's inbound and outbound listeners, and the demo apps.
    pub const SIDECAR: Self = Self {
        max_connections: 4_096,
        idle_timeout: Duration::from_secs(300),
        header_read_timeout: Duration::from_secs(60),
        handshake_timeout: Duration::from_secs(10),
    };
    /// Admin listeners (`/ready`, `/stats/prometheus`): scrapes and probes.
    pub const ADMIN: Self = Self {
        max_connections: 256,
        idle_timeout: Duration::from_secs(60),
        header_read_timeout: Duration::from_secs(30),
        handshake_timeout: Duration::from_secs(10),
    };
    /// East-west gateways: TLS passed through to the peer cluster.
    pub const EASTWEST: Self = Self {
        max_connections: 4_096,
        idle_timeout: Duration::from_secs(300),
        header_read_timeout: Duration::from_secs(60),
        handshake_timeout: Duration::from_secs(10),
    };
    /// A control plane's gRPC listener (xDS, CSRs, federation, spans).
    pub const CONTROL_PLANE: Self = Self {
        max_connections: 4_096,
        idle_timeout: Duration::from_secs(300),
        header_read_timeout: Duration::from_secs(60),
        handshake_timeout: Duration::from_secs(10),
    };
    /// The console API.
    pub const CONSOLE: Self = Self {
        max_connections: 256,
        idle_timeout: Duration::from_secs(300),
        header_read_timeout: Duration::from_secs(60),
        handshake_timeout: Duration::from_secs(10),
    };

    /// These limits with the console API's idle timeout as set by
    /// [`set_console_idle_timeout`].
    pub fn console() -> Self {
        let ms = CONSOLE_IDLE_MS.load(Ordering::Relaxed);
        let mut l = Self::CONSOLE;
        if ms > 0 {
            l.idle_timeout = Duration::from_millis(ms);
        }
        l
    }

    /// How often a gRPC server pings each client, so that live ones are
    /// never idle: a third of the idle timeout.
    pub fn keepalive_interval(&self) -> Duration {
        (self.idle_timeout / 3).max(Duration::from_millis(100))
    }
}

/// 0: the default.
static CONSOLE_IDLE_MS: AtomicU64 = AtomicU64::new(0);

/// Changes the idle timeout of console API servers started from now on in
/// this process (tests use a short one). Live clients are unaffected: they
/// answer the server's keepalive pings.
pub fn set_console_idle_timeout(idle: Duration) {
    let ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX).max(1);
    CONSOLE_IDLE_MS.store(ms, Ordering::Relaxed);
}

/// How a listener turns a client away when it is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Plain HTTP: a 503 with a sentence, then close.
    Http503,
    /// TLS or gRPC: nothing a client could read, so log and close.
    Close,
}

/// Counts a listener's connections; a full listener refuses.
#[derive(Debug, Clone)]
pub struct Admission {
    name: &'static str,
    limits: ListenerLimits,
    permits: Arc<Semaphore>,
    refused: Arc<AtomicUsize>,
    /// When the last refusal was logged, in ms since `start`.
    last_log: Arc<AtomicU64>,
    start: Instant,
}

impl Admission {
    /// Admission for the listener `name`.
    pub fn new(name: &'static str, limits: ListenerLimits) -> Self {
        Self {
            name,
            limits,
            permits: Arc::new(Semaphore::new(limits.max_connections)),
            refused: Arc::new(AtomicUsize::new(0)),
            last_log: Arc::new(AtomicU64::new(0)),
            start: Instant::now(),
        }
    }

    /// A place for one more connection, or None when full (the refusal is
    /// logged, at most every ten seconds with a count).
    pub fn admit(&self, remote: SocketAddr) -> Option<OwnedSemaphorePermit> {
        if let Ok(p) = Arc::clone(&self.permits).try_acquire_owned() {
            return Some(p);
        }
        let n = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.last_log.load(Ordering::Relaxed);
        if (n == 1 || now.saturating_sub(last) >= 10_000)
            && self
                .last_log
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                listener = self.name,
                %remote,
                max = self.limits.max_connections,
                refused_so_far = n,
                "listener full: connection refused"
            );
        }
        None
    }

    /// The sentence a refused HTTP client reads.
    pub fn refusal_text(&self) -> String {
        format!(
            "meshcon: the {} listener already holds its maximum of {} connections; try again later\n",
            self.name, self.limits.max_connections
        )
    }
}

/// Accepts connections on `listener` until `cancel` fires, handing each one
/// (with `TCP_NODELAY` set, as every mesh hop wants) to `handle` on a task
/// of its own. `name` says which listener in the logs; past
/// `limits.max_connections` open ones a client is refused as `refusal` says.
///
/// Accept errors are logged and retried after a short pause: they are
/// usually transient (a peer reset before accept, descriptors running out)
/// and the listener must outlive them.
pub async fn accept_loop<H, F>(
    listener: TcpListener,
    name: &'static str,
    limits: ListenerLimits,
    refusal: Refusal,
    cancel: CancellationToken,
    mut handle: H,
) where
    H: FnMut(TcpStream, SocketAddr) -> F,
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let admission = Admission::new(name, limits);
    loop {
        let (stream, remote) = tokio::select! {
            _ = cancel.cancelled() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(listener = name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(permit) = admission.admit(remote) else {
            if refusal == Refusal::Http503 {
                tokio::spawn(refuse_http(stream, admission.refusal_text()));
            }
            continue;
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(listener = name, %remote, error = %e, "cannot set TCP_NODELAY");
        }
        let fut = handle(stream, remote);
        tokio::spawn(async move {
            fut.await;
            drop(permit);
        });
    }
}

/// Answers a refused plain-HTTP client without reading its request; a
/// client that does not take the answer within a second is dropped.
async fn refuse_http(mut stream: TcpStream, text: String) {
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\nretry-after: 1\r\n\r\n",
        text.len()
    );
    let write = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(text.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}

/// What a connection's idle watchdog reads: bytes moved, and requests in flight.
#[derive(Debug, Default)]
pub struct Activity {
    reads: AtomicU64,
    inflight: AtomicUsize,
}

impl Activity {
    /// Counts a request until the guard (kept by its response body) drops.
    pub fn request(self: &Arc<Self>) -> InFlight {
        self.inflight.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }

    /// Resolves once the connection has been idle for `idle`: no byte moved
    /// and no request in flight over a whole period (so between `idle` and
    /// twice that after the last activity).
    pub async fn idle(&self, idle: Duration) {
        let mut last = self.reads.load(Ordering::Relaxed);
        loop {
            tokio::time::sleep(idle).await;
            let now = self.reads.load(Ordering::Relaxed);
            if now == last && self.inflight.load(Ordering::Relaxed) == 0 {
                return;
            }
            last = now;
        }
    }
}

/// A request in flight on a connection.
#[derive(Debug)]
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection that counts its reads and writes for [`Activity`].
#[derive(Debug)]
pub struct Watched<IO> {
    io: IO,
    activity: Arc<Activity>,
}

impl<IO> Watched<IO> {
    /// Watches `io`.
    pub fn new(io: IO, activity: Arc<Activity>) -> Self {
        Self { io, activity }
    }
}

impl<IO> Watched<IO> {
    /// Bytes out count too: an answer being written is not idle.
    fn wrote(&self, r: &Poll<io::Result<usize>>) {
        if matches!(r, Poll::Ready(Ok(n)) if *n > 0) {
            self.activity.reads.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.reads.fetch_add(1, Ordering::Relaxed);
        }
        r
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        self.wrote(&r);
        r
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.wrote(&r);
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The HTTP/2 client preface: a gRPC client must send it all within the
/// handshake timeout, so one trickling a byte at a time is cut too.
const H2_PREFACE_LEN: usize = 24;

/// A gRPC connection: holds its listener place, and fails a read once
/// nothing has come in for the idle timeout, or the HTTP/2 preface has not
/// come in within the handshake timeout.
#[derive(Debug)]
pub struct IdleIo {
    io: TcpStream,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    /// Until the preface is in: when it must be.
    preface_deadline: Option<Pin<Box<Sleep>>>,
    read: usize,
    _permit: OwnedSemaphorePermit,
}

impl IdleIo {
    fn new(io: TcpStream, limits: ListenerLimits, permit: OwnedSemaphorePermit) -> Self {
        Self {
            io,
            idle: limits.idle_timeout,
            deadline: Box::pin(tokio::time::sleep(limits.idle_timeout)),
            preface_deadline: Some(Box::pin(tokio::time::sleep(limits.handshake_timeout))),
            read: 0,
            _permit: permit,
        }
    }
}

impl AsyncRead for IdleIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(r) => {
                let n = buf.filled().len() - before;
                if n > 0 {
                    let next = Instant::now() + self.idle;
                    self.deadline.as_mut().reset(next);
                    self.read = self.read.saturating_add(n);
                    if self.read >= H2_PREFACE_LEN {
                        self.preface_deadline = None;
                    }
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                if let Some(p) = self.preface_deadline.as_mut() {
                    if p.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "no HTTP/2 preface within the handshake timeout: closed",
                        )));
                    }
                }
                match self.deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "connection idle: closed",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncWrite for IdleIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl tonic::transport::server::Connected for IdleIo {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

/// A gRPC server's incoming connections from `listener`: at most
/// `limits.max_connections` at once (the next is logged and closed), each
/// closed after `limits.idle_timeout` without a byte in.
pub fn grpc_incoming(
    listener: TcpListener,
    name: &'static str,
    limits: ListenerLimits,
) -> impl futures::Stream<Item = io::Result<IdleIo>> + Send + 'static {
    let admission = Admission::new(name, limits);
    futures::stream::unfold(
        (listener, admission),
        move |(listener, admission)| async move {
            loop {
                match listener.accept().await {
                    Ok((stream, remote)) => {
                        let Some(permit) = admission.admit(remote) else {
                            continue;
                        };
                        if let Err(e) = stream.set_nodelay(true) {
                            tracing::debug!(listener = name, %remote, error = %e, "cannot set TCP_NODELAY");
                        }
                        let io = IdleIo::new(stream, limits, permit);
                        return Some((Ok(io), (listener, admission)));
                    }
                    Err(e) => {
                        tracing::warn!(listener = name, error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        },
    )
}

/// A tonic server with the keepalive and header limits every mesh gRPC
/// listener uses; pair it with [`grpc_incoming`].
pub fn grpc_server(limits: ListenerLimits) -> tonic::transport::Server {
    tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .http2_keepalive_interval(Some(limits.keepalive_interval()))
        .http2_keepalive_timeout(Some(limits.keepalive_interval()))
        .http2_max_header_list_size(H2_MAX_HEADER_LIST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_connection_is_idle_only_without_bytes_or_requests() {
        let idle = Duration::from_secs(60);
        let a = Arc::new(Activity::default());
        // A request in flight for five idle periods: never idle.
        let req = a.request();
        let waited = tokio::time::timeout(idle * 5, a.idle(idle)).await;
        assert!(waited.is_err(), "idle with a request in flight");
        drop(req);
        // Nothing moves: idle within two periods.
        let t0 = Instant::now();
        a.idle(idle).await;
        assert!(t0.elapsed() >= idle && t0.elapsed() <= idle * 2);
    }

    #[tokio::test]
    async fn a_full_listener_admits_again_once_a_connection_ends() {
        let limits = ListenerLimits {
            max_connections: 2,
            ..ListenerLimits::ADMIN
        };
        let adm = Admission::new("test", limits);
        let remote: SocketAddr = ([127, 0, 0, 1], 1).into();
        let a = adm.admit(remote).expect("first");
        let _b = adm.admit(remote).expect("second");
        assert!(
            adm.admit(remote).is_none(),
            "a third connection was admitted"
        );
        assert!(adm.refusal_text().contains("maximum of 2 connections"));
        drop(a);
        assert!(adm.admit(remote).is_some());
    }
}
