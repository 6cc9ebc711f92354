//! SDS secrets from `/config_dump` and certificates from `/certs`.
//!
//! A secret's certificate chain (or trusted CA) travels as PEM inside the
//! proto's `inline_bytes`, which JSON carries as base64. The first
//! certificate speaks for the secret, as in istioctl: its serial (hex, as
//! Go prints a serial's bytes), validity, and whether it is valid now.

use base64::Engine;
use rustls::pki_types::CertificateDer;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::identity::certinfo::{inspect, rfc3339};
use crate::realmesh::RealMeshError;

/// One SDS secret a proxy holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SdsSecret {
    /// The SDS resource name (`default`, `ROOTCA`, `kubernetes://my-cert`).
    pub name: String,
    /// `ACTIVE` (in use) or `WARMING` (requested, not yet delivered).
    pub state: String,
    /// `Cert Chain` (a workload certificate), `CA` (a CA certificate), or
    /// empty when the secret carries no certificate yet.
    pub kind: String,
    /// The first certificate parsed and is within its validity now.
    pub valid: bool,
    /// The first certificate's serial, lowercase hex.
    pub serial: String,
    /// Start of validity (RFC 3339), empty without a certificate.
    pub not_before: String,
    /// End of validity (RFC 3339), empty without a certificate.
    pub not_after: String,
    /// The workload's SPIFFE ID (the first certificate's URI SAN), when it has one.
    pub spiffe_id: Option<String>,
    /// The secret is a validation context: the trust anchors (`ROOTCA`).
    pub root_ca: bool,
    /// Every certificate of the chain, leaf first.
    pub chain: Vec<CertFacts>,
    /// When Envoy last received it (RFC 3339), as the dump says.
    pub last_updated: String,
    /// Why the certificate could not be read, when it could not.
    pub problem: Option<String>,
}

/// What one certificate says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CertFacts {
    /// Serial, lowercase hex without leading zero bytes.
    pub serial: String,
    /// Subject distinguished name.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// The URI SAN when it is a SPIFFE ID.
    pub spiffe_id: Option<String>,
    /// Start of validity, RFC 3339.
    pub not_before: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
    /// Basic constraints cA.
    pub is_ca: bool,
    /// Within its validity now.
    pub valid_now: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct SecretsSection {
    static_secrets: Vec<DynamicSecret>,
    dynamic_active_secrets: Vec<DynamicSecret>,
    dynamic_warming_secrets: Vec<DynamicSecret>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DynamicSecret {
    name: String,
    last_updated: String,
    secret: SecretProto,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SecretProto {
    tls_certificate: Option<TlsCertificate>,
    validation_context: Option<ValidationContext>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TlsCertificate {
    certificate_chain: DataSource,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ValidationContext {
    trusted_ca: DataSource,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DataSource {
    inline_bytes: String,
    inline_string: String,
    filename: String,
}

impl DataSource {
    /// The PEM text, when the dump carries it inline.
    fn pem(&self) -> Result<Option<Vec<u8>>, String> {
        if !self.inline_bytes.is_empty() {
            return base64::engine::general_purpose::STANDARD
                .decode(self.inline_bytes.trim())
                .map(Some)
                .map_err(|e| format!("inline_bytes is not base64: {e}"));
        }
        if !self.inline_string.is_empty() {
            return Ok(Some(self.inline_string.as_bytes().to_vec()));
        }
        if !self.filename.is_empty() {
            return Err(format!(
                "the certificate is in a file on the proxy ({}), not in the dump",
                self.filename
            ));
        }
        Ok(None)
    }
}

/// The certificates of PEM text, leaf first.
fn facts_of_pem(pem: &[u8], now: OffsetDateTime) -> Result<Vec<CertFacts>, String> {
    let ders: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<_, _>>()
        .map_err(|e| format!("not PEM certificates: {e}"))?;
    if ders.is_empty() {
        return Err("no PEM certificate in the secret".into());
    }
    ders.iter().map(|d| facts(d, now)).collect()
}

fn facts(der: &CertificateDer<'_>, now: OffsetDateTime) -> Result<CertFacts, String> {
    let info = inspect(der).map_err(|e| e.to_string())?;
    // Go prints a serial's big-endian bytes; DER may add a 00 to keep it positive.
    let mut serial = info.serial.as_str();
    while serial.len() > 2 && serial.starts_with("00") {
        serial = &serial[2..];
    }
    Ok(CertFacts {
        serial: serial.to_string(),
        subject: info.subject,
        issuer: info.issuer,
        spiffe_id: info.spiffe_id.map(|s| s.to_string()),
        not_before: rfc3339(info.not_before),
        not_after: rfc3339(info.not_after),
        is_ca: info.is_ca,
        valid_now: info.not_before <= now && now <= info.not_after,
    })
}

fn secret(s: DynamicSecret, state: &str, now: OffsetDateTime) -> SdsSecret {
    let root_ca = s.secret.tls_certificate.is_none() && s.secret.validation_context.is_some();
    let source = s
        .secret
        .tls_certificate
        .as_ref()
        .map(|t| &t.certificate_chain)
        .or(s.secret.validation_context.as_ref().map(|v| &v.trusted_ca));
    let (chain, problem) = match source.map(DataSource::pem) {
        None | Some(Ok(None)) => (Vec::new(), None),
        Some(Err(e)) => (Vec::new(), Some(e)),
        Some(Ok(Some(pem))) => match facts_of_pem(&pem, now) {
            Ok(c) => (c, None),
            Err(e) => (Vec::new(), Some(e)),
        },
    };
    let first = chain.first();
    SdsSecret {
        name: s.name,
        state: state.into(),
        kind: match first {
            Some(c) if c.is_ca => "CA".into(),
            Some(_) => "Cert Chain".into(),
            None => String::new(),
        },
        valid: first.is_some_and(|c| c.valid_now),
        serial: first.map(|c| c.serial.clone()).unwrap_or_default(),
        not_before: first.map(|c| c.not_before.clone()).unwrap_or_default(),
        not_after: first.map(|c| c.not_after.clone()).unwrap_or_default(),
        spiffe_id: first.and_then(|c| c.spiffe_id.clone()),
        root_ca,
        chain,
        last_updated: s.last_updated,
        problem,
    }
}

pub(super) fn from_dump(s: SecretsSection) -> Vec<SdsSecret> {
    from_dump_at(s, OffsetDateTime::now_utc())
}

fn from_dump_at(s: SecretsSection, now: OffsetDateTime) -> Vec<SdsSecret> {
    s.dynamic_warming_secrets
        .into_iter()
        .map(|x| secret(x, "WARMING", now))
        .chain(
            s.dynamic_active_secrets
                .into_iter()
                .map(|x| secret(x, "ACTIVE", now)),
        )
        .chain(
            s.static_secrets
                .into_iter()
                .map(|x| secret(x, "STATIC", now)),
        )
        .collect()
}

/// One certificate as Envoy's `/certs` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdminCert {
    /// `CA` (a trust anchor) or `Cert Chain` (the proxy's own).
    pub kind: String,
    /// Where Envoy read it (`<inline>` for SDS).
    pub path: String,
    /// Serial, lowercase hex, as Envoy prints it.
    pub serial: String,
    /// The SPIFFE ID among its URI SANs, when there is one.
    pub spiffe_id: Option<String>,
    /// Every SAN, as `URI:...`, `DNS:...` or `IP:...`.
    pub sans: Vec<String>,
    /// Start of validity, RFC 3339.
    pub not_before: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
    /// Days until it (or its chain) expires, as Envoy counted.
    pub days_until_expiration: Option<u64>,
}

#[derive(Deserialize)]
struct CertsAnswer {
    #[serde(default)]
    certificates: Vec<CertificateEntry>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CertificateEntry {
    ca_cert: Vec<CertificateDetails>,
    cert_chain: Vec<CertificateDetails>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CertificateDetails {
    path: String,
    serial_number: String,
    subject_alt_names: Vec<SubjectAltName>,
    /// A uint64: protobuf's JSON writes it as a string, some tools as a number.
    days_until_expiration: Option<serde_json::Value>,
    valid_from: String,
    expiration_time: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SubjectAltName {
    uri: String,
    dns: String,
    ip_address: String,
}

/// Parses the JSON Envoy's `/certs` answers.
pub fn parse_certs(text: &str) -> Result<Vec<AdminCert>, RealMeshError> {
    let answer: CertsAnswer = serde_json::from_str(text).map_err(|e| RealMeshError::Malformed {
        what: "certs".into(),
        detail: format!(
            "{e}; expected the JSON of Envoy's /certs (an object with \"certificates\")"
        ),
    })?;
    let mut out = Vec::new();
    for c in answer.certificates {
        let all = c
            .ca_cert
            .into_iter()
            .map(|d| ("CA", d))
            .chain(c.cert_chain.into_iter().map(|d| ("Cert Chain", d)));
        for (kind, d) in all {
            let sans: Vec<String> = d
                .subject_alt_names
                .iter()
                .filter_map(|s| match (&s.uri, &s.dns, &s.ip_address) {
                    (u, _, _) if !u.is_empty() => Some(format!("URI:{u}")),
                    (_, n, _) if !n.is_empty() => Some(format!("DNS:{n}")),
                    (_, _, i) if !i.is_empty() => Some(format!("IP:{i}")),
                    _ => None,
                })
                .collect();
            let spiffe_id = d
                .subject_alt_names
                .iter()
                .find(|s| s.uri.starts_with("spiffe://"))
                .map(|s| s.uri.clone());
            let days = d.days_until_expiration.as_ref().and_then(|v| match v {
                serde_json::Value::String(s) => s.parse().ok(),
                other => other.as_u64(),
            });
            out.push(AdminCert {
                kind: kind.into(),
                path: d.path,
                serial: d.serial_number.to_ascii_lowercase(),
                spiffe_id,
                sans,
                not_before: d.valid_from,
                not_after: d.expiration_time,
                days_until_expiration: days,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certs_answer_reads_spiffe_ids_and_days() {
        let text = r#"{"certificates":[{"ca_cert":[{"path":"<inline>","serial_number":"0193A5","subject_alt_names":[],
            "days_until_expiration":"3000","valid_from":"2023-05-05T03:41:33Z","expiration_time":"2033-05-02T03:41:33Z"}],
          "cert_chain":[{"path":"<inline>","serial_number":"6fbe","subject_alt_names":[{"uri":"spiffe://cluster.local/ns/default/sa/bookinfo"}],
            "days_until_expiration":0,"valid_from":"2023-05-15T01:30:52Z","expiration_time":"2023-05-16T01:32:52Z"}]}]}"#;
        let certs = parse_certs(text).expect("parses");
        assert_eq!(certs.len(), 2);
        assert_eq!(certs[0].kind, "CA");
        assert_eq!(certs[0].serial, "0193a5");
        assert_eq!(certs[0].days_until_expiration, Some(3000));
        assert_eq!(
            certs[1].spiffe_id.as_deref(),
            Some("spiffe://cluster.local/ns/default/sa/bookinfo")
        );
        assert_eq!(certs[1].days_until_expiration, Some(0));
        assert!(parse_certs("[1,2]").is_err());
    }

    #[test]
    fn a_secret_with_garbage_bytes_says_why_instead_of_failing() {
        let s: SecretsSection = serde_json::from_str(
            r#"{"dynamic_active_secrets":[{"name":"default","secret":{"tls_certificate":{"certificate_chain":{"inline_bytes":"!!!"}}}}]}"#,
        )
        .expect("shape");
        let out = from_dump(s);
        assert_eq!(out.len(), 1);
        assert!(!out[0].valid);
        assert!(out[0]
            .problem
            .as_deref()
            .is_some_and(|p| p.contains("base64")));
    }
}
