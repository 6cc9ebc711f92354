//! A workload's own identity: it makes its key pair and CSR, has the CA sign
//! it, serves the result to rustls, and rotates it at about half its lifetime.
//!
//! The certificate sits behind an `ArcSwapOption` and rustls asks for it at
//! every handshake (`ResolvesServerCert` / `ResolvesClientCert`), so rotation
//! swaps one pointer: connections being set up get the new certificate,
//! established ones carry on, and no request fails.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use futures::future::BoxFuture;
use rcgen::{CertificateParams, KeyPair};
use rustls::client::ResolvesClientCert;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::SignatureScheme;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use super::{ca::pem_to_der, certinfo, IdentityError, SpiffeId};

/// A signed X.509-SVID with its private key, ready for rustls.
#[derive(Debug)]
pub struct Svid {
    /// The identity the certificate carries.
    pub id: SpiffeId,
    /// Certificate and signing key for rustls.
    pub certified: Arc<CertifiedKey>,
    /// The leaf, PEM.
    pub leaf_pem: String,
    /// The chain the CA returned (leaf first), PEM.
    pub chain_pem: Vec<String>,
    /// Serial, hex.
    pub serial: String,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// The issuer's distinguished name.
    pub issuer: String,
    /// SHA-256 fingerprint of the root the chain ends in (empty when the CA
    /// returned the leaf alone).
    pub root_fingerprint: String,
    /// When this process received it.
    pub received: OffsetDateTime,
}

impl Svid {
    /// Builds an SVID from a signed chain and the PKCS#8 key that matches it.
    pub fn from_parts(chain_pem: Vec<String>, key_pkcs8: Vec<u8>) -> Result<Self, IdentityError> {
        let leaf_pem = chain_pem
            .first()
            .cloned()
            .ok_or_else(|| IdentityError::Pem("the CA returned an empty chain".into()))?;
        let leaf_der = pem_to_der(&leaf_pem)?;
        let info = certinfo::inspect(&leaf_der)?;
        let id = certinfo::svid_id(&leaf_der)?;
        let provider = rustls::crypto::ring::default_provider();
        let certified = CertifiedKey::from_der(
            vec![leaf_der],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pkcs8)),
            &provider,
        )
        .map_err(|e| IdentityError::Certificate(format!("key does not match certificate: {e}")))?;
        let root_fingerprint = match chain_pem.get(1..).and_then(<[String]>::last) {
            Some(root) => certinfo::fingerprint(&pem_to_der(root)?),
            None => String::new(),
        };
        Ok(Self {
            id,
            certified: Arc::new(certified),
            leaf_pem,
            chain_pem,
            serial: info.serial,
            not_before: info.not_before,
            not_after: info.not_after,
            issuer: info.issuer,
            root_fingerprint,
            received: OffsetDateTime::now_utc(),
        })
    }

    /// The instant at which a rotation should happen: about half of the
    /// remaining life at receipt (the CA back-dates `not_before` a little),
    /// with jitter so a thousand sidecars do not all call the CA at once.
    pub fn refresh_at(&self) -> OffsetDateTime {
        let life = self.not_after - self.received.max(self.not_before);
        let frac = 0.45 + rand::random::<f64>() * 0.1;
        self.received + life * frac
    }
}

/// Something that turns a CSR into a signed chain: the control plane's
/// Certificates service, or a CA directly in tests.
pub trait CertificateSigner: Send + Sync {
    /// Signs `csr_pem` for a lifetime of `ttl`, returning the chain (leaf first).
    fn sign(
        &self,
        csr_pem: String,
        ttl: Duration,
    ) -> BoxFuture<'static, Result<Vec<String>, IdentityError>>;
}

/// The identity of one proxy, rotated in place.
#[derive(Debug, Default)]
pub struct WorkloadIdentity {
    current: ArcSwapOption<Svid>,
    rotations: AtomicU32,
    renew_now: tokio::sync::Notify,
}

impl WorkloadIdentity {
    /// An identity with no certificate yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The certificate in use, if any.
    pub fn current(&self) -> Option<Arc<Svid>> {
        self.current.load_full()
    }

    /// How many times the certificate was replaced after the first one.
    pub fn rotations(&self) -> u32 {
        self.rotations.load(Ordering::Relaxed)
    }

    /// Asks the rotation task to renew now (the cluster's root changed).
    pub fn renew_soon(&self) {
        self.renew_now.notify_one();
    }

    /// Puts a certificate in place (the first one, or a rotation).
    pub fn install(&self, svid: Svid) {
        if self.current.swap(Some(Arc::new(svid))).is_some() {
            self.rotations.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Makes a fresh key and CSR, has them signed, and installs the result.
    pub async fn renew(
        &self,
        signer: &dyn CertificateSigner,
        ttl: Duration,
    ) -> Result<Arc<Svid>, IdentityError> {
        let (csr_pem, key_der) = make_csr()?;
        let chain = signer.sign(csr_pem, ttl).await?;
        let svid = Svid::from_parts(chain, key_der)?;
        self.install(svid);
        self.current()
            .ok_or_else(|| IdentityError::Certificate("certificate vanished".into()))
    }

    /// Keeps the certificate fresh until `cancel`: renews at about half-life
    /// or when asked to ([`Self::renew_soon`]), and retries every second when
    /// the CA cannot be reached. `on_rotate` is
    /// told of each new certificate.
    pub fn spawn_rotation(
        self: &Arc<Self>,
        signer: Arc<dyn CertificateSigner>,
        ttl: Duration,
        cancel: CancellationToken,
        on_rotate: impl Fn(&Svid) + Send + Sync + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                let wait = match me.current() {
                    Some(svid) => {
                        let at = svid.refresh_at() - OffsetDateTime::now_utc();
                        Duration::try_from(at).unwrap_or(Duration::ZERO)
                    }
                    None => Duration::ZERO,
                };
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                    _ = me.renew_now.notified() => {}
                }
                match me.renew(signer.as_ref(), ttl).await {
                    Ok(svid) => on_rotate(&svid),
                    Err(e) => {
                        tracing::warn!(error = %e, "certificate renewal failed; retrying in 1s");
                        tokio::select! {
                            _ = cancel.cancelled() => return,
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                }
            }
        })
    }
}

/// A new P-256 key pair and a CSR for it. The CSR names nothing: the CA
/// decides the identity from the bootstrap token.
pub fn make_csr() -> Result<(String, Vec<u8>), IdentityError> {
    let key = KeyPair::generate()?;
    let params = CertificateParams::new(Vec::<String>::new())?;
    let csr = params.serialize_request(&key)?;
    Ok((csr.pem()?, key.serialize_der()))
}

impl ResolvesServerCert for WorkloadIdentity {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current().map(|s| Arc::clone(&s.certified))
    }
}

impl ResolvesClientCert for WorkloadIdentity {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.current().map(|s| Arc::clone(&s.certified))
    }

    fn has_certs(&self) -> bool {
        self.current.load().is_some()
    }
}

/// Signs directly with a CA held in this process (tests, benchmarks).
pub struct LocalSigner {
    /// The CA that signs every CSR.
    pub ca: Arc<super::CertificateAuthority>,
    /// The identity every CSR is signed for.
    pub id: SpiffeId,
}

impl CertificateSigner for LocalSigner {
    fn sign(
        &self,
        csr_pem: String,
        ttl: Duration,
    ) -> BoxFuture<'static, Result<Vec<String>, IdentityError>> {
        let res = self
            .ca
            .sign_csr(&csr_pem, &self.id, ttl)
            .map(|c| c.chain_pem);
        Box::pin(async move { res })
    }
}
