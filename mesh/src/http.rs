//! HTTP plumbing shared by proxies, gateways and demo apps: one body type,
//! one error type, and the connection-serving loop every server uses.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

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

/// An empty body.
pub fn empty() -> Body {
    Empty::<Bytes>::new()
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

/// Reads a whole body, refusing more than `limit` bytes.
pub async fn collect_limited<B>(body: B, limit: usize) -> Result<Bytes, String>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let limited = http_body_util::Limited::new(body, limit);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => Err(e.to_string()),
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

/// A plain HTTP/1.1 GET (admin endpoints, scrapes): the body as text.
pub async fn get_text(addr: &str, path: &str, timeout: Duration) -> Result<String, String> {
    let fut = async {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("{addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let req = http::Request::get(path)
            .header(http::header::HOST, addr)
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        if !status.is_success() {
            return Err(format!("{addr}{path}: HTTP {status}"));
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| format!("{addr}{path}: no answer within {timeout:?}"))?
}
