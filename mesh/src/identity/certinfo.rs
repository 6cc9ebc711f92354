//! Reading what a certificate says (x509-parser): its SPIFFE ID, serial,
//! validity and issuer; and the X.509-SVID leaf rules.

use rustls::pki_types::CertificateDer;
use time::OffsetDateTime;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::{IdentityError, SpiffeId};

/// What the console and the verifiers need to know of a certificate.
#[derive(Debug, Clone)]
pub struct CertInfo {
    /// The URI SAN, when there is exactly one and it is a valid SPIFFE ID.
    pub spiffe_id: Option<SpiffeId>,
    /// How many URI SANs the certificate has.
    pub uri_sans: usize,
    /// How many DNS SANs the certificate has.
    pub dns_sans: usize,
    /// Basic constraints cA.
    pub is_ca: bool,
    /// Key usage keyCertSign or cRLSign present.
    pub can_sign: bool,
    /// Serial number, lowercase hex.
    pub serial: String,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// The issuer's distinguished name.
    pub issuer: String,
    /// The subject's distinguished name.
    pub subject: String,
}

/// Parses a DER certificate.
pub fn inspect(der: &CertificateDer<'_>) -> Result<CertInfo, IdentityError> {
    let (_, cert) = X509Certificate::from_der(der.as_ref())
        .map_err(|e| IdentityError::Certificate(format!("cannot parse certificate: {e}")))?;
    let mut uris = Vec::new();
    let mut dns_sans = 0;
    let mut is_ca = false;
    let mut can_sign = false;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                for name in &san.general_names {
                    match name {
                        GeneralName::URI(u) => uris.push(u.to_string()),
                        GeneralName::DNSName(_) => dns_sans += 1,
                        _ => {}
                    }
                }
            }
            ParsedExtension::BasicConstraints(bc) => is_ca = bc.ca,
            ParsedExtension::KeyUsage(ku) => can_sign = ku.key_cert_sign() || ku.crl_sign(),
            _ => {}
        }
    }
    let spiffe_id = match uris.as_slice() {
        [one] => one.parse::<SpiffeId>().ok(),
        _ => None,
    };
    let to_time = |t: x509_parser::time::ASN1Time| {
        OffsetDateTime::from_unix_timestamp(t.timestamp()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    };
    Ok(CertInfo {
        spiffe_id,
        uri_sans: uris.len(),
        dns_sans,
        is_ca,
        can_sign,
        serial: hex(cert.raw_serial()),
        not_before: to_time(cert.validity().not_before),
        not_after: to_time(cert.validity().not_after),
        issuer: cert.issuer().to_string(),
        subject: cert.subject().to_string(),
    })
}

/// Applies the X.509-SVID leaf rules and returns the peer's SPIFFE ID.
pub fn svid_id(der: &CertificateDer<'_>) -> Result<SpiffeId, IdentityError> {
    let info = inspect(der)?;
    if info.uri_sans != 1 {
        return Err(IdentityError::NotSvid(format!(
            "an X.509-SVID has exactly one URI SAN, this certificate has {}",
            info.uri_sans
        )));
    }
    if info.is_ca || info.can_sign {
        return Err(IdentityError::NotSvid(
            "a leaf SVID must not be a CA or carry keyCertSign/cRLSign".into(),
        ));
    }
    let id = info.spiffe_id.ok_or_else(|| {
        IdentityError::NotSvid("the URI SAN is not a valid SPIFFE ID".to_string())
    })?;
    if id.path().is_empty() {
        return Err(IdentityError::NotSvid(
            "a leaf SPIFFE ID must have a path".into(),
        ));
    }
    Ok(id)
}

/// SHA-256 of a DER certificate, lowercase hex.
pub fn fingerprint(der: &CertificateDer<'_>) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, der.as_ref()).as_ref())
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    // Trace and request ids are hexed on every request: no formatter per byte.
    hex::encode(bytes)
}

/// RFC 3339 text of a time (UTC).
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
