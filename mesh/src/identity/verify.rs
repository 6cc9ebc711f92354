//! rustls verifiers for SPIFFE mTLS.
//!
//! rustls's stock verifiers check DNS names and IP addresses, not URI SANs, so
//! each direction has its own verifier: RFC 5280 chain validation (webpki)
//! against the roots of the peer's own trust domain, then the X.509-SVID leaf
//! rules, then (for the client side) secure naming: the server's SPIFFE ID must
//! be one the destination is allowed to run as.
//!
//! webpki enforces the basic constraints of intermediates (the CA flag and
//! their path length) but takes a trust anchor as a bare name and key, so a
//! root's own constraints are checked here: a root must be a CA, and its
//! `pathlen` bounds the intermediates below it (the mesh's roots have
//! `pathlen:0`: an intermediate made with a root key is refused).
//!
//! The roots live in a [`TrustStore`] that the control plane updates in place;
//! verifiers hold it by `Arc`, so a new trust bundle takes effect for the next
//! handshake without rebuilding any TLS configuration.

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, TrustAnchor, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, OtherError};

use super::{certinfo, IdentityError, SpiffeId};

/// The roots of one trust domain.
#[derive(Debug, Clone)]
pub struct DomainRoots {
    /// Root certificates, DER.
    pub roots: Vec<CertificateDer<'static>>,
    anchors: Vec<TrustAnchor<'static>>,
    /// Each root's `pathlen` (None: unbounded), by the index of its anchor.
    path_lens: Vec<Option<u32>>,
}

/// Trust bundles by trust domain: whom a proxy accepts as a peer.
#[derive(Debug, Default, Clone)]
pub struct TrustSet {
    domains: BTreeMap<String, DomainRoots>,
    /// Counts the removals of roots in the store holding the set, so TLS
    /// sessions and connections verified under roots since removed are not
    /// reused. Added roots cannot make a verified chain fail, so they do
    /// not count.
    generation: u64,
    /// When that generation began (None: no root was removed yet).
    changed_at: Option<std::time::Instant>,
}

impl TrustSet {
    /// Builds a set from PEM roots per trust domain.
    pub fn from_pem(
        bundles: impl IntoIterator<Item = (String, Vec<String>)>,
    ) -> Result<Self, IdentityError> {
        let mut set = TrustSet::default();
        for (td, pems) in bundles {
            let mut roots = Vec::new();
            for pem in pems {
                roots.extend(super::ca::pem_to_ders(&pem)?);
            }
            set.insert(td, roots)?;
        }
        Ok(set)
    }

    /// Adds (or replaces) the roots of one trust domain.
    pub fn insert(
        &mut self,
        trust_domain: String,
        roots: Vec<CertificateDer<'static>>,
    ) -> Result<(), IdentityError> {
        let anchors = roots
            .iter()
            .map(|der| {
                webpki::anchor_from_trusted_cert(der)
                    .map(|a| a.to_owned())
                    .map_err(|e| {
                        IdentityError::Certificate(format!("bad root for {trust_domain}: {e}"))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let path_lens = roots
            .iter()
            .map(|der| root_path_len(der, &trust_domain))
            .collect::<Result<Vec<_>, _>>()?;
        self.domains.insert(
            trust_domain,
            DomainRoots {
                roots,
                anchors,
                path_lens,
            },
        );
        Ok(())
    }

    /// The trust domains in the set.
    pub fn trust_domains(&self) -> impl Iterator<Item = &str> {
        self.domains.keys().map(String::as_str)
    }

    /// The roots of a trust domain.
    pub fn roots(&self, trust_domain: &str) -> Option<&DomainRoots> {
        self.domains.get(trust_domain)
    }

    /// Whether this set trusts every root `other` trusts, for the same
    /// domains: then no chain `other` accepts is refused here.
    pub fn trusts_all_of(&self, other: &TrustSet) -> bool {
        other.domains.iter().all(|(td, theirs)| {
            self.domains
                .get(td)
                .is_some_and(|ours| theirs.roots.iter().all(|r| ours.roots.contains(r)))
        })
    }

    /// SHA-256 fingerprints of every root, by trust domain.
    pub fn fingerprints(&self) -> BTreeMap<String, Vec<String>> {
        self.domains
            .iter()
            .map(|(td, r)| {
                (
                    td.clone(),
                    r.roots.iter().map(certinfo::fingerprint).collect(),
                )
            })
            .collect()
    }
}

/// The live trust bundles of a proxy, swapped atomically on updates.
#[derive(Debug)]
pub struct TrustStore {
    current: ArcSwap<TrustSet>,
    /// The generation, for connections that must end when their peer is no
    /// longer trusted.
    changes: tokio::sync::watch::Sender<u64>,
}

impl Default for TrustStore {
    fn default() -> Self {
        Self::new(TrustSet::default())
    }
}

impl TrustStore {
    /// A store holding `set`.
    pub fn new(set: TrustSet) -> Self {
        Self {
            changes: tokio::sync::watch::Sender::new(set.generation),
            current: ArcSwap::from_pointee(set),
        }
    }

    /// Replaces the bundles; the next handshake uses them. A removed root
    /// starts a new generation.
    pub fn replace(&self, set: TrustSet) {
        let before = self.current.rcu(|current| {
            let mut next = set.clone();
            if set.trusts_all_of(current) {
                next.generation = current.generation;
                next.changed_at = current.changed_at;
            } else {
                next.generation = current.generation + 1;
                next.changed_at = Some(std::time::Instant::now());
            }
            next
        });
        let now = self.generation();
        if now != before.generation {
            self.changes.send_replace(now);
        }
    }

    /// Wakes on every new generation of roots (a root removed).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Checks a peer's chain (leaf first) again against the roots in force,
    /// as its handshake did: `usage` is `client_auth` for a client's chain,
    /// `server_auth` for a server's.
    pub fn verify_chain(
        &self,
        chain: &[CertificateDer<'_>],
        usage: webpki::KeyUsage,
    ) -> Result<SpiffeId, IdentityError> {
        let (leaf, intermediates) = chain
            .split_first()
            .ok_or_else(|| IdentityError::Certificate("no certificate".into()))?;
        self.verify_peer(leaf, intermediates, UnixTime::now(), usage, &algorithms())
    }

    /// Which generation of roots is in force: it changes whenever a root is
    /// removed, not when one is added or the same bundles are pushed again.
    pub fn generation(&self) -> u64 {
        self.current.load().generation
    }

    /// Whether a root was removed less than `window` ago.
    pub fn changed_within(&self, window: std::time::Duration) -> bool {
        self.current
            .load()
            .changed_at
            .is_some_and(|t| t.elapsed() < window)
    }

    /// The bundles now in force.
    pub fn load(&self) -> Arc<TrustSet> {
        self.current.load_full()
    }

    /// Validates a peer's chain and SVID rules and returns its SPIFFE ID.
    pub fn verify_peer(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        usage: webpki::KeyUsage,
        algs: &WebPkiSupportedAlgorithms,
    ) -> Result<SpiffeId, IdentityError> {
        let id = certinfo::svid_id(end_entity)?;
        let set = self.load();
        let roots = set.roots(id.trust_domain()).ok_or_else(|| {
            IdentityError::Untrusted(format!(
                "trust domain {} is not federated with this mesh (peer {id})",
                id.trust_domain()
            ))
        })?;
        let cert = webpki::EndEntityCert::try_from(end_entity)
            .map_err(|e| IdentityError::Certificate(e.to_string()))?;
        let path = cert
            .verify_for_usage(
                algs.all,
                &roots.anchors,
                intermediates,
                now,
                usage,
                None,
                None,
            )
            .map_err(|e| {
                IdentityError::Untrusted(format!(
                    "{id} does not chain to the {} trust bundle: {}",
                    id.trust_domain(),
                    chain_failure(&e)
                ))
            })?;
        let below = path.intermediate_certificates().count();
        let limit = roots
            .anchors
            .iter()
            .position(|a| std::ptr::eq(a, path.anchor()))
            .and_then(|i| roots.path_lens.get(i).copied().flatten());
        if let Some(max) = limit {
            if below > max as usize {
                return Err(IdentityError::Untrusted(format!(
                    "{id} does not chain to the {} trust bundle: its chain has {below} intermediate CA(s) but the root allows {max} (pathlen:{max})",
                    id.trust_domain()
                )));
            }
        }
        Ok(id)
    }
}

/// A root's `pathlen`, or why it cannot be a root: it must say it is a CA.
fn root_path_len(
    der: &CertificateDer<'_>,
    trust_domain: &str,
) -> Result<Option<u32>, IdentityError> {
    use x509_parser::prelude::FromDer;
    let bad =
        |why: String| IdentityError::Certificate(format!("bad root for {trust_domain}: {why}"));
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der.as_ref())
        .map_err(|e| bad(e.to_string()))?;
    match cert.basic_constraints() {
        Ok(Some(bc)) if bc.value.ca => Ok(bc.value.path_len_constraint),
        Ok(_) => Err(bad(
            "it is not a CA certificate (basicConstraints CA:TRUE is missing)".into(),
        )),
        Err(e) => Err(bad(e.to_string())),
    }
}

/// A chain validation failure in words.
fn chain_failure(e: &webpki::Error) -> String {
    match e {
        webpki::Error::UnknownIssuer => "its issuer is not a root this mesh trusts".into(),
        webpki::Error::CertExpired { .. } => "it has expired".into(),
        webpki::Error::CertNotValidYet { .. } => "it is not valid yet".into(),
        webpki::Error::InvalidSignatureForPublicKey => "its signature does not verify".into(),
        other => format!("{other:?}"),
    }
}

/// Why a TLS handshake failed, in words: our own verifier's reason when it
/// refused the peer, rather than rustls's nested debug form.
pub fn handshake_failure(e: &std::io::Error) -> String {
    let Some(inner) = e.get_ref() else {
        return e.to_string();
    };
    match inner.downcast_ref::<rustls::Error>() {
        Some(rustls::Error::InvalidCertificate(CertificateError::Other(o))) => o.0.to_string(),
        Some(r) => r.to_string(),
        None => inner.to_string(),
    }
}

fn rustls_error(e: IdentityError) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(e))))
}

fn algorithms() -> WebPkiSupportedAlgorithms {
    rustls::crypto::ring::default_provider().signature_verification_algorithms
}

/// The client-side verifier: chain, SVID rules and secure naming.
#[derive(Debug)]
pub struct SpiffeServerVerifier {
    trust: Arc<TrustStore>,
    /// The identities the destination may present; empty accepts any trusted SVID.
    expected: Vec<SpiffeId>,
    algs: WebPkiSupportedAlgorithms,
}

impl SpiffeServerVerifier {
    /// A verifier that accepts only `expected` (any trusted identity if empty).
    pub fn new(trust: Arc<TrustStore>, expected: Vec<SpiffeId>) -> Self {
        Self {
            trust,
            expected,
            algs: algorithms(),
        }
    }
}

impl ServerCertVerifier for SpiffeServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let id = self
            .trust
            .verify_peer(
                end_entity,
                intermediates,
                now,
                webpki::KeyUsage::server_auth(),
                &self.algs,
            )
            .map_err(rustls_error)?;
        if !self.expected.is_empty() && !self.expected.contains(&id) {
            let want: Vec<String> = self.expected.iter().map(ToString::to_string).collect();
            return Err(rustls_error(IdentityError::SecureNaming {
                got: id.to_string(),
                want: want.join(" or "),
            }));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// The server-side verifier: any SVID that chains to a federated trust
/// domain. Who may call what is authorization's business, not the handshake's.
#[derive(Debug)]
pub struct SpiffeClientVerifier {
    trust: Arc<TrustStore>,
    algs: WebPkiSupportedAlgorithms,
}

impl SpiffeClientVerifier {
    /// A verifier over the given trust store.
    pub fn new(trust: Arc<TrustStore>) -> Self {
        Self {
            trust,
            algs: algorithms(),
        }
    }
}

impl ClientCertVerifier for SpiffeClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.trust
            .verify_peer(
                end_entity,
                intermediates,
                now,
                webpki::KeyUsage::client_auth(),
                &self.algs,
            )
            .map_err(rustls_error)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// A client-side verifier that accepts any server: only for playing a rogue
/// workload, which does not care whom it talks to.
#[derive(Debug)]
pub struct AcceptAnyServer {
    algs: WebPkiSupportedAlgorithms,
}

impl AcceptAnyServer {
    /// A verifier that accepts any server certificate, checking only the
    /// handshake signatures.
    pub fn new() -> Self {
        Self { algs: algorithms() }
    }
}

impl Default for AcceptAnyServer {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algs.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose, SanType,
    };

    use super::*;

    fn ca(name: &str, constraints: BasicConstraints) -> CertificateParams {
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, name);
        p.is_ca = IsCa::Ca(constraints);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        p
    }

    fn leaf() -> CertificateParams {
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, "leaf");
        p.subject_alt_names = vec![SanType::URI(
            "spiffe://eu.local/ns/default/sa/billing"
                .try_into()
                .expect("test certificate"),
        )];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        p
    }

    /// A root with `root_bc`, an intermediate (a CA if `int_is_ca`) signed
    /// with the root's key, and an SVID under the intermediate: verified as
    /// a client's chain.
    fn verify_via_intermediate(
        root_bc: BasicConstraints,
        int_is_ca: bool,
    ) -> Result<SpiffeId, IdentityError> {
        let root_key = KeyPair::generate().expect("test certificate");
        let root = ca("root", root_bc)
            .self_signed(&root_key)
            .expect("test certificate");
        let root_params = ca("root", root_bc);
        let root_issuer = Issuer::from_params(&root_params, &root_key);
        let int_key = KeyPair::generate().expect("test certificate");
        let mut int_params = ca("intermediate", BasicConstraints::Constrained(0));
        if !int_is_ca {
            int_params.is_ca = IsCa::ExplicitNoCa;
        }
        let int = int_params
            .signed_by(&int_key, &root_issuer)
            .expect("test certificate");
        let int_issuer = Issuer::from_params(&int_params, &int_key);
        let leaf_key = KeyPair::generate().expect("test certificate");
        let leaf = leaf()
            .signed_by(&leaf_key, &int_issuer)
            .expect("test certificate");
        let mut set = TrustSet::default();
        set.insert("eu.local".into(), vec![root.der().clone()])
            .expect("test certificate");
        TrustStore::new(set).verify_peer(
            leaf.der(),
            &[int.der().clone()],
            UnixTime::now(),
            webpki::KeyUsage::client_auth(),
            &algorithms(),
        )
    }

    #[test]
    fn an_issuer_that_is_not_a_ca_is_refused() {
        let err =
            verify_via_intermediate(BasicConstraints::Unconstrained, false).expect_err("refused");
        assert!(err.to_string().contains("does not chain"), "{err}");
    }

    #[test]
    fn intermediate_under_pathlen_zero_root_is_refused() {
        let err =
            verify_via_intermediate(BasicConstraints::Constrained(0), true).expect_err("refused");
        assert!(err.to_string().contains("pathlen:0"), "{err}");
    }

    #[test]
    fn intermediate_under_unconstrained_root_is_accepted() {
        let id = verify_via_intermediate(BasicConstraints::Unconstrained, true)
            .expect("test certificate");
        assert_eq!(id.to_string(), "spiffe://eu.local/ns/default/sa/billing");
    }

    #[test]
    fn root_that_is_not_a_ca_is_refused() {
        let key = KeyPair::generate().expect("test certificate");
        let not_ca = leaf().self_signed(&key).expect("test certificate");
        let err = TrustSet::default()
            .insert("eu.local".into(), vec![not_ca.der().clone()])
            .expect_err("refused");
        assert!(err.to_string().contains("not a CA"), "{err}");
    }
}
