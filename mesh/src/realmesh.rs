//! Readers for a real Istio or Linkerd mesh: what the console attaches to
//! when the mesh is not meshcon's.
//!
//! Each reader speaks one of the interfaces the real mesh's own tools use,
//! and fills the same typed payloads a meshcon mesh fills:
//! - [`envoy`]: Envoy's admin API (`/config_dump`, `/certs`), read as
//!   `istioctl proxy-config` reads it.
//! - [`traces`]: receivers the proxies can send spans to (OTLP/gRPC, Zipkin
//!   v2 JSON) and a reader of an existing Jaeger's HTTP API, all filing
//!   into the mesh's [`TraceStore`](crate::telemetry::collector::TraceStore).
//! - [`scrape`]: a proxy's Prometheus exposition (Envoy's
//!   `/stats/prometheus`, linkerd-proxy's `/metrics`), fetched and parsed.
//!
//! Everything fetched is fetched with a deadline and a size bound
//! ([`fetch`]): a hung or hostile endpoint costs a clear error, never a
//! frozen console or an exhausted memory.

pub mod envoy;
pub mod fetch;
pub mod scrape;
pub mod traces;

/// Why a real mesh's endpoint could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RealMeshError {
    /// Nothing answered, or the exchange failed.
    #[error("{target}: {detail}")]
    Unreachable {
        /// The address or URL asked.
        target: String,
        /// What failed.
        detail: String,
    },
    /// The answer was larger than this reader accepts.
    #[error("{target}: the answer is larger than {limit} bytes; refusing to read it (is this the right endpoint?)")]
    TooLarge {
        /// The address, URL or file.
        target: String,
        /// The bound, bytes.
        limit: usize,
    },
    /// The answer was read but is not what the endpoint should serve.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// What was being read (`config dump`, `Zipkin spans`...).
        what: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A saved file could not be read.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// An address to listen on or reach is not `HOST:PORT` or a URL.
    #[error("{0}")]
    Address(String),
}
