//! HTTP(S) GET for the outside servers a real mesh offers (Prometheus and
//! the like): bearer or basic credentials, a custom CA, a bounded answer
//! and a deadline.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;

use super::AttachError;

/// How to prove who we are to a server.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Auth {
    /// Nothing.
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// `Authorization: Basic base64(user:password)`.
    Basic {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
}

/// Where a server is and how to talk to it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `http` or `https`.
    https: bool,
    /// `host:port`.
    authority: String,
    /// Host name for SNI and the certificate check.
    host: String,
    /// A path prefix the API lives under (`/prometheus` behind some proxies), no trailing `/`.
    prefix: String,
    /// Credentials.
    pub auth: Auth,
    /// A PEM file of CA certificates to trust instead of the system's.
    pub ca: Option<PathBuf>,
    /// Largest answer accepted.
    pub limit: usize,
    /// Deadline for one exchange.
    pub timeout: Duration,
    /// The TLS settings, built on first use: every query of a refresh
    /// would otherwise read and parse the CA bundle again.
    tls: Arc<std::sync::OnceLock<Arc<rustls::ClientConfig>>>,
}

impl Endpoint {
    /// Reads `http://host:port[/prefix]` or `https://...`; a bare
    /// `host:port` is taken as `http://`.
    pub fn parse(url: &str) -> Result<Endpoint, AttachError> {
        let bad = || AttachError::Url(url.to_string());
        let full = if url.contains("://") {
            url.to_string()
        } else {
            format!("http://{url}")
        };
        let uri: http::Uri = full.parse().map_err(|_| bad())?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(bad()),
        };
        let auth = uri.authority().ok_or_else(bad)?;
        let host = auth.host().trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad());
        }
        let port = auth.port_u16().unwrap_or(if https { 443 } else { 80 });
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        Ok(Endpoint {
            https,
            authority,
            host: host.to_string(),
            prefix: uri.path().trim_end_matches('/').to_string(),
            auth: Auth::None,
            ca: None,
            limit: 32 << 20,
            timeout: Duration::from_secs(10),
            tls: Arc::default(),
        })
    }

    /// The URL as the user would write it, for messages and the footer.
    pub fn url(&self) -> String {
        format!(
            "{}://{}{}",
            if self.https { "https" } else { "http" },
            self.authority,
            self.prefix
        )
    }

    /// GETs `path_and_query` (which starts with `/`) and returns the body.
    pub async fn get(&self, path_and_query: &str) -> Result<Bytes, AttachError> {
        // Messages name the endpoint and path; a query would crowd out the reason.
        let path = path_and_query.split('?').next().unwrap_or_default();
        let url = format!("{}{path}", self.url());
        match tokio::time::timeout(self.timeout, self.exchange(&url, path_and_query)).await {
            Ok(r) => r,
            Err(_) => Err(AttachError::Unreachable {
                url,
                why: format!("no answer within {} s", self.timeout.as_secs()),
            }),
        }
    }

    async fn exchange(&self, url: &str, path_and_query: &str) -> Result<Bytes, AttachError> {
        let unreachable = |why: String| AttachError::Unreachable {
            url: url.to_string(),
            why,
        };
        let tcp = tokio::net::TcpStream::connect(&self.authority)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let mut req = http::Request::get(format!("{}{path_and_query}", self.prefix))
            .header(http::header::HOST, &self.authority)
            .header(http::header::ACCEPT, "application/json, text/plain;q=0.9");
        match &self.auth {
            Auth::None => {}
            Auth::Bearer(t) => {
                req = req.header(http::header::AUTHORIZATION, format!("Bearer {}", t.trim()));
            }
            Auth::Basic { user, password } => {
                let b64 =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                req = req.header(http::header::AUTHORIZATION, format!("Basic {b64}"));
            }
        }
        let req = req
            .body(Empty::<Bytes>::new())
            .map_err(|e| unreachable(e.to_string()))?;
        let resp = if self.https {
            let config = match self.tls.get() {
                Some(c) => c.clone(),
                None => {
                    // A bad CA file is said again next time, not remembered.
                    let c = Arc::new(self.tls_config()?);
                    let _ = self.tls.set(c.clone());
                    c
                }
            };
            let tls = tokio_rustls::TlsConnector::from(config);
            let name = rustls::pki_types::ServerName::try_from(self.host.clone())
                .map_err(|e| AttachError::Tls(format!("{}: {e}", self.host)))?;
            let stream = tls
                .connect(name, tcp)
                .await
                .map_err(|e| unreachable(format!("TLS: {e}")))?;
            send(TokioIo::new(stream), req).await.map_err(unreachable)?
        } else {
            send(TokioIo::new(tcp), req).await.map_err(unreachable)?
        };
        let status = resp.status();
        let body = match Limited::new(resp.into_body(), self.limit).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                return Err(AttachError::TooLarge {
                    url: url.to_string(),
                    limit: self.limit,
                })
            }
            Err(e) => return Err(unreachable(e.to_string())),
        };
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            let mut body: String = text.chars().take(200).collect();
            body = crate::yaml::escape_control(&body);
            return Err(AttachError::Status {
                url: url.to_string(),
                status: status.as_u16(),
                body: body.trim().to_string(),
            });
        }
        Ok(body)
    }

    fn tls_config(&self) -> Result<rustls::ClientConfig, AttachError> {
        let mut roots = rustls::RootCertStore::empty();
        let file = self
            .ca
            .clone()
            .unwrap_or_else(|| PathBuf::from("/etc/ssl/certs/ca-certificates.crt"));
        let pem = std::fs::read(&file)
            .map_err(|e| AttachError::Tls(format!("CA file {}: {e}", file.display())))?;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert =
                cert.map_err(|e| AttachError::Tls(format!("CA file {}: {e}", file.display())))?;
            roots
                .add(cert)
                .map_err(|e| AttachError::Tls(format!("CA file {}: {e}", file.display())))?;
        }
        if roots.is_empty() {
            return Err(AttachError::Tls(format!(
                "CA file {} holds no certificate",
                file.display()
            )));
        }
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| AttachError::Tls(e.to_string()))
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
    }
}

async fn send<T>(
    io: T,
    req: http::Request<Empty<Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "attach connection ended with an error");
        }
    });
    sender.send_request(req).await.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_read_with_defaults_and_prefixes() {
        let e = Endpoint::parse("127.0.0.1:9090").expect("bare");
        assert_eq!(e.url(), "http://127.0.0.1:9090");
        let e = Endpoint::parse("https://prom.example/prometheus/").expect("prefix");
        assert_eq!(e.url(), "https://prom.example:443/prometheus");
        let e = Endpoint::parse("http://[::1]:9090").expect("v6");
        assert_eq!(e.authority, "[::1]:9090");
        for bad in ["ftp://x", "http://", "::::"] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }
}
