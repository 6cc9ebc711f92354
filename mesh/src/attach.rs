//! Attaching to a real mesh: the readers that let the console show an Istio
//! or Linkerd mesh it did not start. Metrics come from the mesh's
//! Prometheus (queried the way Kiali and `linkerd viz` query it), config
//! from the cluster through the user's own `kubectl`, or from files.
//!
//! Everything here talks to outside servers and programs, so every answer
//! is bounded in size and time and every failure is a typed, readable
//! error: a bad endpoint must never freeze or crash the console.

pub mod fetch;
pub mod kube;
pub mod observed;
pub mod prometheus;

/// Why something could not be read from a real mesh.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    /// The address is not a URL this reader understands.
    #[error("'{0}' is not a URL like http://127.0.0.1:9090")]
    Url(String),
    /// A TLS setting could not be used (the CA file, the server name).
    #[error("TLS: {0}")]
    Tls(String),
    /// Nothing answered, or the exchange broke off.
    #[error("{url}: {why}")]
    Unreachable {
        /// What was asked.
        url: String,
        /// Why it failed.
        why: String,
    },
    /// The server answered with a failure status.
    #[error("{url}: HTTP {status}{}", if .body.is_empty() { String::new() } else { format!(": {}", .body) })]
    Status {
        /// What was asked.
        url: String,
        /// The status.
        status: u16,
        /// The start of the answer, which usually says why.
        body: String,
    },
    /// The answer was larger than a reader accepts.
    #[error("{url}: the answer is larger than {limit} bytes")]
    TooLarge {
        /// What was asked.
        url: String,
        /// The limit.
        limit: usize,
    },
    /// The answer was not in the expected form.
    #[error("{what}: {why}")]
    Malformed {
        /// What was read.
        what: String,
        /// What was wrong with it.
        why: String,
    },
    /// Prometheus answered but has no series of a mesh it knows.
    #[error("{0}")]
    NoMesh(String),
    /// kubectl could not be run, or refused.
    #[error("{0}")]
    Kubectl(String),
}
