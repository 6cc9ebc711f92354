//! A pod's private path from its sidecar to its app. The demo apps run in
//! the mesh's own process, so the sidecar's inbound side registers each
//! connection it opens to its app (by the connection's local address) just
//! before dialling, and the app answers only registered connections: a
//! plaintext client that skips the sidecar (and with it mTLS and
//! authorization) is closed before it can send a request.
//!
//! The app enforces this when it has a pod IP of its own (the loopback
//! plan `meshcon up` runs). Under the ephemeral plan every listener shares
//! 127.0.0.1 and the apps stay reachable, so tests can measure an app
//! beside the mesh.

use std::collections::HashSet;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};

/// Open sidecar-to-app connections: (the sidecar's end, the app's address).
static FROM_SIDECAR: LazyLock<Mutex<HashSet<(SocketAddr, SocketAddr)>>> =
    LazyLock::new(|| Mutex::new(HashSet::new()));

/// Whether an app listening on `app` answers only its sidecar: when it has
/// a pod IP of its own.
pub fn sidecar_only(app: SocketAddr) -> bool {
    app.ip() != IpAddr::V4(Ipv4Addr::LOCALHOST)
}

/// Whether the connection from `remote` to the app at `app` was opened by
/// a sidecar.
pub fn from_sidecar(remote: SocketAddr, app: SocketAddr) -> bool {
    FROM_SIDECAR.lock().contains(&(remote, app))
}

/// A sidecar's connection to its app, registered while it is open.
#[derive(Debug)]
pub struct PodConn {
    stream: TcpStream,
    key: (SocketAddr, SocketAddr),
}

impl Drop for PodConn {
    fn drop(&mut self) {
        FROM_SIDECAR.lock().remove(&self.key);
    }
}

impl PodConn {
    /// Dials the app at `app` from the pod's own address, registered first.
    pub async fn connect(app: SocketAddr, timeout: Duration) -> io::Result<PodConn> {
        let socket = if app.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.bind(SocketAddr::new(app.ip(), 0))?;
        let key = (socket.local_addr()?, app);
        FROM_SIDECAR.lock().insert(key);
        // From here on the registration is removed on every path: by the
        // guard's drop, or below if the connect fails.
        let connected = tokio::time::timeout(timeout, socket.connect(app)).await;
        let stream = match connected {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                FROM_SIDECAR.lock().remove(&key);
                return Err(e);
            }
            Err(_) => {
                FROM_SIDECAR.lock().remove(&key);
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("connect {app}: no answer within {timeout:?}"),
                ));
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%app, error = %e, "cannot set TCP_NODELAY");
        }
        Ok(PodConn { stream, key })
    }
}

impl AsyncRead for PodConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for PodConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

impl Connection for PodConn {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

/// The connector a sidecar's client to its app uses: [`PodConn`]s.
#[derive(Debug, Clone)]
pub struct PodConnector {
    /// How long a connect may take.
    pub timeout: Duration,
}

impl tower::Service<http::Uri> for PodConnector {
    type Response = TokioIo<PodConn>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TokioIo<PodConn>>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let timeout = self.timeout;
        Box::pin(async move {
            let addr: SocketAddr = uri
                .authority()
                .map(|a| a.as_str())
                .unwrap_or_default()
                .parse()
                .map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("the app's address in {uri} is not ip:port: {e}"),
                    )
                })?;
            PodConn::connect(addr, timeout).await.map(TokioIo::new)
        })
    }
}
