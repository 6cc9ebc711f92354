//! rustls configurations for the mesh's three kinds of TLS:
//! - inbound mTLS (sidecar server): our SVID, client certificates required and
//!   checked by [`SpiffeClientVerifier`];
//! - outbound mTLS (sidecar client): our SVID, the server checked by
//!   [`SpiffeServerVerifier`] against the destination's identities;
//! - edge TLS (ingress gateway): a DNS certificate for external clients.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, ServerConfig};

use super::resumption;
use super::verify::{SpiffeClientVerifier, SpiffeServerVerifier, TrustStore};
use super::{IdentityError, SpiffeId, WorkloadIdentity};

/// ALPN for mesh connections between proxies: HTTP/2 multiplexes every
/// request to one endpoint over one connection.
pub const ALPN_H2: &[u8] = b"h2";
/// ALPN for HTTP/1.1.
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

/// One provider for every TLS config the process builds (a thousand
/// proxies rebuild theirs on every push).
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    static PROVIDER: std::sync::OnceLock<Arc<rustls::crypto::CryptoProvider>> =
        std::sync::OnceLock::new();
    Arc::clone(PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())))
}

/// Inbound mTLS: present our SVID, require a trusted client SVID.
pub fn inbound_server_config(
    identity: Arc<WorkloadIdentity>,
    trust: Arc<TrustStore>,
) -> Result<Arc<ServerConfig>, IdentityError> {
    let mut cfg = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(Arc::new(SpiffeClientVerifier::new(Arc::clone(&trust))))
        .with_cert_resolver(identity);
    cfg.alpn_protocols = vec![ALPN_H2.to_vec(), ALPN_HTTP11.to_vec()];
    cfg.session_storage = resumption::server_sessions(trust);
    Ok(Arc::new(cfg))
}

/// Outbound mTLS: present our SVID, accept only a server whose SPIFFE ID is
/// one of `expected` (secure naming).
pub fn outbound_client_config(
    identity: Arc<WorkloadIdentity>,
    trust: Arc<TrustStore>,
    expected: Vec<SpiffeId>,
) -> Result<Arc<ClientConfig>, IdentityError> {
    let mut cfg = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(SpiffeServerVerifier::new(
            Arc::clone(&trust),
            expected,
        )))
        .with_client_cert_resolver(identity);
    cfg.alpn_protocols = vec![ALPN_H2.to_vec()];
    cfg.resumption = rustls::client::Resumption::store(resumption::client_sessions(trust));
    Ok(Arc::new(cfg))
}

/// Edge TLS for the ingress gateway, from PEM certificate and key.
pub fn edge_server_config(
    cert_pem: &str,
    key_pem: &str,
) -> Result<Arc<ServerConfig>, IdentityError> {
    let certs: Vec<CertificateDer<'static>> = super::ca::pem_to_ders(cert_pem)?;
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .map_err(|e| IdentityError::Pem(e.to_string()))?
        .ok_or_else(|| IdentityError::Pem("no private key in PEM text".into()))?;
    let mut cfg = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    cfg.alpn_protocols = vec![ALPN_H2.to_vec(), ALPN_HTTP11.to_vec()];
    Ok(Arc::new(cfg))
}

/// A self-made SVID that claims `id` without any CA behind it: what a rogue
/// workload would present. Returned as (certificate PEM, PKCS#8 key DER).
pub fn self_signed_svid(id: &SpiffeId) -> Result<(String, Vec<u8>), IdentityError> {
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.subject_alt_names = vec![rcgen::SanType::URI(id.to_string().try_into()?)];
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_der()))
}
