//! HTTP plumbing shared by proxies, gateways and demo apps: one body type,
//! one error type, the accept loop every mesh listener runs, and the
//! connection-serving loop every server uses.
//!
//! This module sits below `proxy/` and `svc/` and imports neither: the
//! stack a connection drives is any tower service over buffered requests.
//! `listen` holds the limits every listener applies (connections, header
//! and idle timeouts) and the accept loops that apply them; `pod` the
//! private path from a sidecar to its app.

mod listen;
pub mod pod;

pub use listen::{
    accept_loop, grpc_incoming, grpc_server, set_console_idle_timeout, Activity, ListenerLimits,
    Refusal, Watched, H2_MAX_HEADER_LIST, MAX_REQUEST_HEADER_BYTES,
};

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
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

/// Turns an incoming HTTP request into a buffered one, or the answer that
/// refuses it: 413 for a body over [`MAX_BODY`], 400 for one that cannot be
/// read (a bad chunk size, a body cut short).
pub async fn buffered(
    req: http::Request<Incoming>,
) -> Result<http::Request<Bytes>, http::Response<Body>> {
    let (parts, body) = req.into_parts();
    match collect_limited(body, MAX_BODY).await {
        Ok(bytes) => Ok(http::Request::from_parts(parts, bytes)),
        Err(HttpError::Body(e)) if !e.is::<http_body_util::LengthLimitError>() => Err(text_response(
            400,
            format!("meshcon proxy: the request body could not be read ({e}); check its framing (Content-Length or chunk sizes)\n"),
        )),
        Err(e) => Err(text_response(
            413,
            format!("meshcon proxy: request body refused ({e}); the mesh buffers at most {MAX_BODY} bytes\n"),
        )),
    }
}

/// The size of a request head as HTTP/2 counts a header list (name + value
/// + 32 per field), plus its URI.
pub fn head_size<B>(req: &http::Request<B>) -> usize {
    let uri = req.uri().to_string().len();
    req.headers()
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 32)
        .sum::<usize>()
        + uri
}

/// The answer refusing a request head no proxy should forward: over
/// [`MAX_REQUEST_HEADER_BYTES`] (431), or with more than one `Host`
/// (400, RFC 9112 section 3.2).
pub fn check_head<B>(req: &http::Request<B>) -> Option<http::Response<Body>> {
    let size = head_size(req);
    if size > MAX_REQUEST_HEADER_BYTES {
        return Some(text_response(
            431,
            format!("meshcon proxy: the request headers are {size} bytes; the mesh forwards at most {MAX_REQUEST_HEADER_BYTES}\n"),
        ));
    }
    if req.headers().get_all(http::header::HOST).iter().count() > 1 {
        return Some(text_response(
            400,
            "meshcon proxy: the request has more than one Host header; send exactly one\n",
        ));
    }
    None
}

/// Serves HTTP/1.1 and HTTP/2 (by preface or ALPN) on one connection until it
/// ends or `cancel` fires, after which in-flight requests get `grace` to
/// finish. Uses the sidecar's [`ListenerLimits`].
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
    serve_connection_with(io, service, cancel, grace, ListenerLimits::SIDECAR).await
}

/// [`serve_connection`] under `limits`: the request head must arrive within
/// the header-read timeout (HTTP/1), and the connection is closed (gracefully:
/// GOAWAY for HTTP/2) once idle for the idle timeout. A request in flight,
/// its response body included, keeps the connection from being idle.
pub async fn serve_connection_with<IO, S, F>(
    io: IO,
    service: S,
    cancel: CancellationToken,
    grace: Duration,
    limits: ListenerLimits,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Fn(http::Request<Incoming>) -> F + Send + Sync + Clone + 'static,
    F: Future<Output = Result<http::Response<Body>, Infallible>> + Send + 'static,
{
    let activity = Arc::new(Activity::default());
    let io = Watched::new(io, Arc::clone(&activity));
    let watch = Arc::clone(&activity);
    let svc = hyper::service::service_fn(move |req| {
        let guard = watch.request();
        let fut = service(req);
        async move {
            let resp = fut.await?;
            // The guard lives as long as the body, so a long answer is in
            // flight until its last byte.
            Ok::<_, Infallible>(resp.map(|b| {
                b.map_frame(move |f| {
                    let _ = &guard;
                    f
                })
                .boxed_unsync()
            }))
        }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(H2_MAX_HEADER_LIST);
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
        _ = activity.idle(limits.idle_timeout) => {
            tracing::debug!(idle = ?limits.idle_timeout, "closing an idle connection");
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(grace.min(Duration::from_secs(2)), conn).await;
        }
    }
}

/// Drives `svc` for every request of one connection: refuses heads no proxy
/// should forward ([`check_head`]), buffers the body, attaches `conn` (facts
/// about the connection) to the request, and turns the stack's errors into
/// answers.
pub async fn serve_stack<IO, S, C>(
    io: IO,
    svc: S,
    conn: C,
    cancel: CancellationToken,
    limits: ListenerLimits,
) where
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
    serve_connection_with(
        io,
        move |req: http::Request<Incoming>| {
            let svc = svc.clone();
            let conn = conn.clone();
            async move {
                if let Some(refused) = check_head(&req) {
                    return Ok::<_, Infallible>(refused);
                }
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
        limits,
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
    match get_if_changed(addr, path, timeout, None).await? {
        Fetched::Changed { text, .. } => Ok(text),
        Fetched::Unchanged => Err(HttpError::Exchange(format!(
            "{addr}{path}: 304 Not Modified to a GET that held nothing"
        ))),
    }
}

/// What a conditional GET found.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetched {
    /// A new text, and its entity tag if the server gave one.
    Changed {
        /// The body.
        text: String,
        /// The `ETag` to send next time.
        etag: Option<String>,
    },
    /// The text held under the tag sent is still current (304).
    Unchanged,
}

/// A GET that sends `If-None-Match: etag` when one is held: a scrape of an
/// exposition that has not changed costs the scraper no transfer and no
/// parse (the console scrapes every proxy every second).
pub async fn get_if_changed(
    addr: &str,
    path: &str,
    timeout: Duration,
    etag: Option<&str>,
) -> Result<Fetched, HttpError> {
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
        let mut req = http::Request::get(path).header(http::header::HOST, addr);
        if let Some(tag) = etag {
            req = req.header(http::header::IF_NONE_MATCH, tag);
        }
        let req = req
            .body(Empty::<Bytes>::new())
            .map_err(|e| HttpError::Exchange(e.to_string()))?;
        let resp = sender.send_request(req).await.map_err(exchange)?;
        let status = resp.status();
        if status == http::StatusCode::NOT_MODIFIED && etag.is_some() {
            return Ok(Fetched::Unchanged);
        }
        let tag = resp
            .headers()
            .get(http::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
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
        // Scrapes run to hundreds of kilobytes a second: no second copy
        // unless the text is not UTF-8.
        let text = String::from_utf8(Vec::from(body))
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        Ok(Fetched::Changed { text, etag: tag })
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| HttpError::Timeout {
            addr: addr.to_string(),
            path: path.to_string(),
            timeout,
        })?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> http::Request<()> {
        let mut b = http::Request::get("/");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).expect("request")
    }

    #[test]
    fn heads_over_the_limit_get_431_and_duplicate_hosts_400() {
        assert!(check_head(&req(&[("host", "a"), ("x", "y")])).is_none());
        let big = "a".repeat(MAX_REQUEST_HEADER_BYTES);
        let r = check_head(&req(&[("host", "a"), ("x-big", &big)])).expect("refused");
        assert_eq!(r.status(), 431);
        let r = check_head(&req(&[("host", "a"), ("host", "b")])).expect("refused");
        assert_eq!(r.status(), 400);
    }
}
