//! HTTP plumbing shared by proxies, gateways and demo apps: one body type,
//! one error type, the accept loop every mesh listener runs, and the
//! connection-serving loop every server uses.
//!
//! This module sits below `proxy/` and `svc/` and imports neither: the
//! stack a connection drives is any tower service over buffered requests.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tower::{Service, ServiceExt};

/// A boxed error, as hyper and tower use.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type of every response the mesh produces or forwards.
pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// A body holding `bytes`.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

/// Boxes a received body.
pub fn incoming(body: Incoming) -> Body {
    body.map_err(|e| Box::new(e) as BoxError).boxed_unsync()
}

/// A plain-text response.
pub fn text_response(status: u16, text: impl Into<String>) -> http::Response<Body> {
    let mut resp = http::Response::new(full(text.into()));
    *resp.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// A JSON response.
pub fn json_response(status: u16, value: &impl serde::Serialize) -> http::Response<Body> {
    let body = serde_json::to_vec_pretty(value).unwrap_or_default();
    let mut resp = http::Response::new(full(body));
    *resp.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

/// What can go wrong in this module's helpers.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// A body could not be read whole (too large, or the peer failed).
    #[error("{0}")]
    Body(BoxError),
    /// No TCP connection to `addr`.
    #[error("{addr}: {source}")]
    Connect {
        /// Where.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The HTTP exchange failed (handshake, request, or reading the answer).
    #[error("{0}")]
    Exchange(String),
    /// The server answered with a failure status.
    #[error("{addr}{path}: HTTP {status}")]
    Status {
        /// Where.
        addr: String,
        /// What was asked for.
        path: String,
        /// The answer.
        status: http::StatusCode,
    },
    /// No answer in time.
    #[error("{addr}{path}: no answer within {timeout:?}")]
    Timeout {
        /// Where.
        addr: String,
        /// What was asked for.
        path: String,
        /// How long we waited.
        timeout: Duration,
    },
}

/// Reads a whole body, refusing more than `limit` bytes.
pub async fn collect_limited<B>(body: B, limit: usize) -> Result<Bytes, HttpError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let limited = http_body_util::Limited::new(body, limit);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => Err(HttpError::Body(e)),
    }
}

/// Request bodies are buffered (so retries can replay them) up to this size.
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// Turns an incoming HTTP request into a buffered one, or the 413 answer.
pub async fn buffered(
    req: http::Request<Incoming>,
) -> Result<http::Request<Bytes>, http::Response<Body>> {
    let (parts, body) = req.into_parts();
    match collect_limited(body, MAX_BODY).await {
        Ok(bytes) => Ok(http::Request::from_parts(parts, bytes)),
        Err(e) => Err(text_response(
            413,
            format!("meshcon proxy: request body refused ({e}); the mesh buffers at most {MAX_BODY} bytes\n"),
        )),
    }
}

/// Accepts connections on `listener` until `cancel` fires, handing each one
/// (with `TCP_NODELAY` set, as every mesh hop wants) to `handle` on a task
/// of its own. `name` says which listener in the logs.
///
/// Accept errors are logged and retried after a short pause: they are
/// usually transient (a peer reset before accept, descriptors running out)
/// and the listener must outlive them.
pub async fn accept_loop<H, F>(
    listener: TcpListener,
    name: &'static str,
    cancel: CancellationToken,
    mut handle: H,
) where
    H: FnMut(TcpStream, SocketAddr) -> F,
    F: Future<Output = ()> + Send + 'static,
{
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
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(listener = name, %remote, error = %e, "cannot set TCP_NODELAY");
        }
        tokio::spawn(handle(stream, remote));
    }
}

/// Serves HTTP/1.1 and HTTP/2 (by preface or ALPN) on one connection until it
/// ends or `cancel` fires, after which in-flight requests get `grace` to finish.
pub async fn serve_connection<IO, S, F>(
    io: IO,
    service: S,
    cancel: CancellationToken,
    grace: Duration,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Fn(http::Request<Incoming>) -> F + Send + Sync + Clone + 'static,
    F: Future<Output = Result<http::Response<Body>, Infallible>> + Send + 'static,
{
    let svc = hyper::service::service_fn(service);
    let builder = auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        res = conn.as_mut() => {
            if let Err(e) = res {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        _ = cancel.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(grace, conn).await;
        }
    }
}

/// Drives `svc` for every request of one connection: buffers the body,
/// attaches `conn` (facts about the connection) to the request, and turns
/// the stack's errors into answers.
pub async fn serve_stack<IO, S, C>(io: IO, svc: S, conn: C, cancel: CancellationToken)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<http::Request<Bytes>, Response = http::Response<Body>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send,
    S::Error: Into<http::Response<Body>>,
    C: Clone + Send + Sync + 'static,
{
    serve_connection(
        io,
        move |req: http::Request<Incoming>| {
            let svc = svc.clone();
            let conn = conn.clone();
            async move {
                let mut req = match buffered(req).await {
                    Ok(r) => r,
                    Err(resp) => return Ok::<_, Infallible>(resp),
                };
                req.extensions_mut().insert(conn);
                let resp = match svc.oneshot(req).await {
                    Ok(r) => r,
                    Err(e) => e.into(),
                };
                Ok(resp)
            }
        },
        cancel,
        Duration::from_secs(5),
    )
    .await
}

/// Headers that belong to one connection and are never forwarded.
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "proxy-authorization",
    "proxy-authenticate",
];

/// Strips hop-by-hop headers from a header map.
pub fn strip_hop_by_hop(headers: &mut http::HeaderMap) {
    for h in HOP_BY_HOP {
        headers.remove(*h);
    }
}

/// A plain HTTP/1.1 GET (admin endpoints, scrapes): the body as text.
pub async fn get_text(addr: &str, path: &str, timeout: Duration) -> Result<String, HttpError> {
    let exchange = |e: hyper::Error| HttpError::Exchange(e.to_string());
    let fut = async {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|source| HttpError::Connect {
                addr: addr.to_string(),
                source,
            })?;
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%addr, error = %e, "cannot set TCP_NODELAY");
        }
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(exchange)?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "GET connection ended with an error");
            }
        });
        let req = http::Request::get(path)
            .header(http::header::HOST, addr)
            .body(Empty::<Bytes>::new())
            .map_err(|e| HttpError::Exchange(e.to_string()))?;
        let resp = sender.send_request(req).await.map_err(exchange)?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(exchange)?
            .to_bytes();
        if !status.is_success() {
            return Err(HttpError::Status {
                addr: addr.to_string(),
                path: path.to_string(),
                status,
            });
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| HttpError::Timeout {
            addr: addr.to_string(),
            path: path.to_string(),
            timeout,
        })?
}
