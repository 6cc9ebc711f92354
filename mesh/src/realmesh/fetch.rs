//! Bounded HTTP/1.1 GETs to a real mesh's plain-HTTP endpoints (Envoy's
//! admin port, a proxy's metrics port, Jaeger's query API) and bounded
//! reads of saved files.
//!
//! The size bound is checked against `Content-Length` before reading and
//! again while reading, so a 50 MB answer is refused after at most
//! `limit` bytes, whatever the server claims.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;

use super::RealMeshError;
use crate::http::{collect_limited, HttpError};

/// How long one fetch may take, connection included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// An HTTP endpoint: `HOST:PORT`, or `http://HOST:PORT[/prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `HOST:PORT` to connect to.
    pub authority: String,
    /// A path prefix the endpoint lives under (empty, or `/jaeger`).
    pub prefix: String,
}

impl Target {
    /// Reads `HOST:PORT` or an `http://` URL; `https://` is refused with a
    /// sentence saying what to do.
    pub fn parse(s: &str) -> Result<Self, RealMeshError> {
        let s = s.trim();
        if s.starts_with("https://") {
            return Err(RealMeshError::Address(format!(
                "{s}: only plain http is read here; port-forward the endpoint (kubectl port-forward) and give http://127.0.0.1:PORT"
            )));
        }
        let rest = s.strip_prefix("http://").unwrap_or(s);
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let port_ok = authority
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        if !port_ok {
            return Err(RealMeshError::Address(format!(
                "{s:?} is not HOST:PORT (e.g. 127.0.0.1:15000) or http://HOST:PORT"
            )));
        }
        Ok(Target {
            authority: authority.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// The target with `path` (and query) appended, for messages.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}{}", self.authority, self.prefix, path)
    }
}

/// GETs `path` from `target`: the body, at most `limit` bytes, within `timeout`.
pub async fn get(
    target: &Target,
    path: &str,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, RealMeshError> {
    let url = target.url(path);
    let unreachable = |detail: String| RealMeshError::Unreachable {
        target: url.clone(),
        detail,
    };
    let fut = async {
        let stream = tokio::net::TcpStream::connect(&target.authority)
            .await
            .map_err(|e| unreachable(format!("cannot connect: {e}")))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "fetch connection ended with an error");
            }
        });
        let req = http::Request::get(format!("{}{}", target.prefix, path))
            .header(http::header::HOST, &target.authority)
            .header(http::header::ACCEPT, "application/json, text/plain, */*")
            .body(Empty::<Bytes>::new())
            .map_err(|e| unreachable(e.to_string()))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(unreachable(format!("answered HTTP {status}")));
        }
        let declared = resp
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(RealMeshError::TooLarge {
                target: url.clone(),
                limit,
            });
        }
        collect_limited(resp.into_body(), limit)
            .await
            .map_err(|e| match e {
                HttpError::Body(b) if b.is::<http_body_util::LengthLimitError>() => {
                    RealMeshError::TooLarge {
                        target: url.clone(),
                        limit,
                    }
                }
                other => unreachable(format!("the answer could not be read: {other}")),
            })
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| RealMeshError::Unreachable {
            target: target.url(path),
            detail: format!("no answer within {timeout:?}"),
        })?
}

/// GETs `path` as UTF-8 text (invalid bytes replaced).
pub async fn get_text(
    target: &Target,
    path: &str,
    limit: usize,
    timeout: Duration,
) -> Result<String, RealMeshError> {
    let body = get(target, path, limit, timeout).await?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// Reads a saved file of at most `limit` bytes as text.
pub fn read_file(path: &std::path::Path, limit: usize) -> Result<String, RealMeshError> {
    use std::io::Read;
    let file_err = |source| RealMeshError::File {
        path: path.display().to_string(),
        source,
    };
    let f = std::fs::File::open(path).map_err(file_err)?;
    let mut buf = Vec::new();
    // One byte over the bound tells "too large" from "exactly the bound".
    f.take(limit as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(file_err)?;
    if buf.len() > limit {
        return Err(RealMeshError::TooLarge {
            target: path.display().to_string(),
            limit,
        });
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_host_port_or_http_urls() {
        let t = Target::parse("127.0.0.1:15000").expect("host:port");
        assert_eq!(t.authority, "127.0.0.1:15000");
        assert_eq!(t.url("/certs"), "http://127.0.0.1:15000/certs");
        let t = Target::parse("http://localhost:16686/jaeger/").expect("url");
        assert_eq!(t.prefix, "/jaeger");
        assert!(Target::parse("https://x:1").is_err());
        assert!(Target::parse("localhost").is_err());
        assert!(Target::parse(":80").is_err());
    }
}
