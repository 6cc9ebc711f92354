//! A cluster's certificate authority: a self-signed root (made with rcgen at
//! first start, kept in the state directory with mode 0600) that signs
//! workloads' CSRs into short-lived X.509-SVIDs.
//!
//! The CA never trusts what a CSR asks for: the SPIFFE ID comes from the
//! caller's verified bootstrap token, and the leaf gets exactly one URI SAN.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls::pki_types::CertificateDer;
use time::OffsetDateTime;

use super::{certinfo, IdentityError, SpiffeId};
use crate::state::write_private;

/// Lifetime of a generated root certificate.
const ROOT_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Leaves are back-dated a little so small clock differences never make them "not yet valid".
const BACKDATE: Duration = Duration::from_secs(60);

/// A certificate issued by the CA.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    /// Leaf first, then the root.
    pub chain_pem: Vec<String>,
    /// The leaf in DER.
    pub leaf_der: CertificateDer<'static>,
    /// When the leaf expires.
    pub not_after: OffsetDateTime,
    /// The leaf's serial, hex.
    pub serial: String,
}

/// A certificate authority for one trust domain (or, for the ingress, for DNS names).
pub struct CertificateAuthority {
    name: String,
    trust_domain: Option<String>,
    issuer: Issuer<'static, KeyPair>,
    root_pem: String,
    root_der: CertificateDer<'static>,
    serial: AtomicU64,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("name", &self.name)
            .field("trust_domain", &self.trust_domain)
            .finish()
    }
}

impl CertificateAuthority {
    /// Makes a new in-memory CA for a SPIFFE trust domain.
    pub fn generate(trust_domain: &str) -> Result<Self, IdentityError> {
        Self::generate_named(trust_domain, &format!("meshcon {trust_domain} root CA"))
    }

    fn generate_named(trust_domain: &str, common_name: &str) -> Result<Self, IdentityError> {
        let td_id = SpiffeId::trust_domain_id(trust_domain)?;
        let key = KeyPair::generate()?;
        let mut params = ca_params(common_name);
        params
            .subject_alt_names
            .push(SanType::URI(td_id.to_string().try_into()?));
        let cert = params.self_signed(&key)?;
        Self::from_parts(
            trust_domain.to_string(),
            Some(trust_domain.to_string()),
            cert.pem(),
            key,
        )
    }

    /// Makes a new in-memory CA for plain DNS server certificates (the ingress CA).
    pub fn generate_dns(name: &str) -> Result<Self, IdentityError> {
        let key = KeyPair::generate()?;
        let params = ca_params(name);
        let cert = params.self_signed(&key)?;
        Self::from_parts(name.to_string(), None, cert.pem(), key)
    }

    /// Loads the CA kept in `dir`, or makes one there. Key files are written 0600.
    pub fn load_or_create(
        dir: &Path,
        file_stem: &str,
        trust_domain: Option<&str>,
    ) -> Result<Self, IdentityError> {
        let key_path = dir.join(format!("{file_stem}-key.pem"));
        let cert_path = dir.join(format!("{file_stem}.pem"));
        if key_path.exists() && cert_path.exists() {
            let key_pem =
                std::fs::read_to_string(&key_path).map_err(|e| IdentityError::io(&key_path, e))?;
            let cert_pem = std::fs::read_to_string(&cert_path)
                .map_err(|e| IdentityError::io(&cert_path, e))?;
            let key = KeyPair::from_pem(&key_pem)?;
            let ca = Self::from_parts(
                file_stem.to_string(),
                trust_domain.map(str::to_string),
                cert_pem,
                key,
            )?;
            // A root whose trust domain changed in the topology must not be reused.
            if let Some(td) = trust_domain {
                let info = certinfo::inspect(&ca.root_der)?;
                if info.spiffe_id.as_ref().map(|id| id.trust_domain()) != Some(td) {
                    return Err(IdentityError::Mismatch(format!(
                        "{} holds a CA for another trust domain than {td}; remove it or use another --state-dir",
                        cert_path.display()
                    )));
                }
            }
            return Ok(ca);
        }
        let ca = match trust_domain {
            Some(td) => Self::generate(td)?,
            None => Self::generate_dns(file_stem)?,
        };
        ca.save(dir, file_stem)?;
        Ok(ca)
    }

    /// A successor for a root rotation: a new key and root for the same
    /// trust domain, with its own name so chains never confuse the two
    /// while both are trusted.
    pub fn successor(&self) -> Result<Self, IdentityError> {
        let td = self.trust_domain().ok_or_else(|| {
            IdentityError::Mismatch(format!(
                "{} is not a SPIFFE CA: nothing to rotate",
                self.name
            ))
        })?;
        let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
        Self::generate_named(td, &format!("meshcon {td} root CA (rotated at {stamp})"))
    }

    /// Keeps the key (0600) and root in `dir`, replacing what was there.
    pub fn save(&self, dir: &Path, file_stem: &str) -> Result<(), IdentityError> {
        let key_path = dir.join(format!("{file_stem}-key.pem"));
        let cert_path = dir.join(format!("{file_stem}.pem"));
        std::fs::create_dir_all(dir).map_err(|e| IdentityError::io(dir, e))?;
        write_private(&key_path, self.issuer.key().serialize_pem().as_bytes())
            .map_err(|e| IdentityError::io(&key_path, e))?;
        write_private(&cert_path, self.root_pem.as_bytes())
            .map_err(|e| IdentityError::io(&cert_path, e))
    }

    fn from_parts(
        name: String,
        trust_domain: Option<String>,
        root_pem: String,
        key: KeyPair,
    ) -> Result<Self, IdentityError> {
        let root_der = pem_to_der(&root_pem)?;
        let issuer = Issuer::from_ca_cert_der(&root_der, key)?;
        Ok(Self {
            name,
            trust_domain,
            issuer,
            root_pem,
            root_der,
            serial: AtomicU64::new(rand::random::<u32>() as u64),
        })
    }

    /// The trust domain this CA issues for (None for the DNS-only ingress CA).
    pub fn trust_domain(&self) -> Option<&str> {
        self.trust_domain.as_deref()
    }

    /// The root certificate, PEM.
    pub fn root_pem(&self) -> &str {
        &self.root_pem
    }

    /// The root certificate, DER.
    pub fn root_der(&self) -> &CertificateDer<'static> {
        &self.root_der
    }

    /// SHA-256 of the root certificate, lowercase hex.
    pub fn fingerprint(&self) -> String {
        certinfo::fingerprint(&self.root_der)
    }

    fn next_serial(&self) -> SerialNumber {
        let n = self.serial.fetch_add(1, Ordering::Relaxed);
        let mut bytes = vec![0x01];
        bytes.extend_from_slice(&rand::random::<[u8; 8]>());
        bytes.extend_from_slice(&n.to_be_bytes());
        SerialNumber::from_slice(&bytes)
    }

    /// Signs a workload's CSR as an X.509-SVID for `id`, valid for `ttl`.
    pub fn sign_csr(
        &self,
        csr_pem: &str,
        id: &SpiffeId,
        ttl: Duration,
    ) -> Result<IssuedCert, IdentityError> {
        if self.trust_domain.as_deref() != Some(id.trust_domain()) {
            return Err(IdentityError::Mismatch(format!(
                "CA {} does not issue for trust domain {}",
                self.name,
                id.trust_domain()
            )));
        }
        let mut csr = CertificateSigningRequestParams::from_pem(csr_pem)?;
        let now = OffsetDateTime::now_utc();
        let p = &mut csr.params;
        p.distinguished_name = DistinguishedName::new();
        p.subject_alt_names = vec![SanType::URI(id.to_string().try_into()?)];
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        p.not_before = now - BACKDATE;
        p.not_after = now + ttl;
        p.serial_number = Some(self.next_serial());
        p.use_authority_key_identifier_extension = true;
        p.custom_extensions.clear();
        p.name_constraints = None;
        let not_after = p.not_after;
        let cert = csr.signed_by(&self.issuer)?;
        let leaf_der = cert.der().clone();
        let serial = certinfo::inspect(&leaf_der)?.serial;
        Ok(IssuedCert {
            chain_pem: vec![cert.pem(), self.root_pem.clone()],
            leaf_der,
            not_after,
            serial,
        })
    }

    /// Issues a TLS server certificate for DNS names (ingress), returning the
    /// certificate and its private key, both PEM.
    pub fn issue_server(
        &self,
        dns_names: &[String],
        ttl: Duration,
    ) -> Result<(String, String), IdentityError> {
        self.issue_dns(dns_names, ttl, &[ExtendedKeyUsagePurpose::ServerAuth])
    }

    /// Issues a certificate for DNS names good for both ends of mTLS (the
    /// nginx pair the data-plane benchmark compares against).
    pub fn issue_peer(
        &self,
        dns_names: &[String],
        ttl: Duration,
    ) -> Result<(String, String), IdentityError> {
        self.issue_dns(
            dns_names,
            ttl,
            &[
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
        )
    }

    fn issue_dns(
        &self,
        dns_names: &[String],
        ttl: Duration,
        usages: &[ExtendedKeyUsagePurpose],
    ) -> Result<(String, String), IdentityError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(dns_names.to_vec())?;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - BACKDATE;
        params.not_after = now + ttl;
        params.serial_number = Some(self.next_serial());
        let mut dn = DistinguishedName::new();
        if let Some(first) = dns_names.first() {
            dn.push(DnType::CommonName, first.clone());
        }
        params.distinguished_name = dn;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = usages.to_vec();
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

fn ca_params(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    let now = OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now + ROOT_LIFETIME;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "meshcon");
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// Decodes the first certificate of a PEM text.
pub fn pem_to_der(pem: &str) -> Result<CertificateDer<'static>, IdentityError> {
    let mut reader = pem.as_bytes();
    let first = rustls_pemfile::certs(&mut reader)
        .next()
        .ok_or_else(|| IdentityError::Pem("no certificate in PEM text".into()))?;
    first.map_err(|e| IdentityError::Pem(e.to_string()))
}

/// Decodes every certificate of a PEM text.
pub fn pem_to_ders(pem: &str) -> Result<Vec<CertificateDer<'static>>, IdentityError> {
    let mut reader = pem.as_bytes();
    rustls_pemfile::certs(&mut reader)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| IdentityError::Pem(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csr() -> (KeyPair, String) {
        let key = KeyPair::generate().expect("key");
        let params = CertificateParams::new(vec!["evil.example.com".to_string()]).expect("params");
        let csr = params.serialize_request(&key).expect("csr");
        (key, csr.pem().expect("pem"))
    }

    #[test]
    fn leaf_has_exactly_the_spiffe_uri_san_the_ca_chose() {
        let ca = CertificateAuthority::generate("eu.mesh").expect("ca");
        let (_key, csr) = csr();
        let id = SpiffeId::workload("eu.mesh", "default", "frontend").expect("id");
        let issued = ca
            .sign_csr(&csr, &id, Duration::from_secs(3600))
            .expect("signed");
        let info = certinfo::inspect(&issued.leaf_der).expect("inspect");
        assert_eq!(info.spiffe_id, Some(id));
        assert_eq!(info.uri_sans, 1);
        assert_eq!(info.dns_sans, 0, "the CSR's DNS name must not be copied");
        assert!(!info.is_ca);
        assert_eq!(issued.chain_pem.len(), 2);
        assert_eq!(issued.serial, info.serial);
    }

    #[test]
    fn ca_refuses_foreign_trust_domains() {
        let ca = CertificateAuthority::generate("eu.mesh").expect("ca");
        let (_key, csr) = csr();
        let id = SpiffeId::workload("us.mesh", "default", "billing").expect("id");
        let err = ca
            .sign_csr(&csr, &id, Duration::from_secs(60))
            .expect_err("foreign");
        assert!(err.to_string().contains("does not issue"), "{err}");
    }

    #[test]
    fn keys_are_kept_private_and_reloaded() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("meshcon-ca-{}", rand::random::<u64>()));
        let a = CertificateAuthority::load_or_create(&dir, "eu", Some("eu.mesh")).expect("create");
        let b = CertificateAuthority::load_or_create(&dir, "eu", Some("eu.mesh")).expect("load");
        assert_eq!(a.fingerprint(), b.fingerprint());
        let mode = std::fs::metadata(dir.join("eu-key.pem"))
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let err = CertificateAuthority::load_or_create(&dir, "eu", Some("other.mesh"))
            .expect_err("trust domain changed");
        assert!(err.to_string().contains("another trust domain"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
