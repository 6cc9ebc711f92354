//! Identity: per-cluster CAs, SPIFFE IDs, the CSR flow, trust bundles,
//! rustls verifiers and certificate rotation.
//!
//! - [`ca`]: the cluster CA (rcgen), keys kept 0600 in the state directory.
//! - [`spiffe`]: parsing and forming `spiffe://td/ns/N/sa/S`.
//! - [`certinfo`]: what a certificate says, and the X.509-SVID leaf rules.
//! - [`verify`]: trust stores and the two SPIFFE verifiers (chain + URI SAN +
//!   secure naming), since rustls's stock ones only know DNS names.
//! - [`svid`]: a workload's own certificate, made from its own key and rotated
//!   at half-life without dropping a request.
//! - [`tls`]: the rustls configurations built from all of the above.
//! - [`resumption`]: TLS session caches that forget their sessions when the
//!   trusted roots change.

pub mod ca;
pub mod certinfo;
pub mod resumption;
pub mod spiffe;
pub mod svid;
pub mod tls;
pub mod verify;

use std::path::Path;

pub use ca::CertificateAuthority;
pub use spiffe::SpiffeId;
pub use svid::{CertificateSigner, Svid, WorkloadIdentity};
pub use verify::{TrustSet, TrustStore};

/// What can go wrong with certificates and identities.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A SPIFFE ID that breaks the standard.
    #[error("invalid SPIFFE ID '{id}': {why}")]
    BadSpiffeId {
        /// The text given.
        id: String,
        /// Which rule it breaks.
        why: String,
    },
    /// rcgen could not make or sign a certificate.
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// rustls refused a configuration.
    #[error("TLS configuration failed: {0}")]
    Tls(#[from] rustls::Error),
    /// A PEM text without what it should hold.
    #[error("bad PEM: {0}")]
    Pem(String),
    /// A certificate that cannot be parsed or used.
    #[error("{0}")]
    Certificate(String),
    /// A certificate that is not a valid X.509-SVID.
    #[error("not an X.509-SVID: {0}")]
    NotSvid(String),
    /// A peer that does not chain to a trust bundle we hold.
    #[error("untrusted peer: {0}")]
    Untrusted(String),
    /// A trusted peer that is not who the route expects.
    #[error("secure naming: server presented {got}, expected {want}")]
    SecureNaming {
        /// The identity presented.
        got: String,
        /// The identities allowed.
        want: String,
    },
    /// A request the CA will not sign, or a key that belongs elsewhere.
    #[error("{0}")]
    Mismatch(String),
    /// The CA's bootstrap token check failed.
    #[error("bootstrap token rejected: {0}")]
    Token(String),
    /// The signing service could not be reached.
    #[error("certificate service unavailable: {0}")]
    Unavailable(String),
    /// Reading or writing a key or certificate file.
    #[error("{path}: {source}")]
    Io {
        /// The key or certificate file.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
}

impl IdentityError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
