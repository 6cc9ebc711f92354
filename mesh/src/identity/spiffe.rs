//! SPIFFE IDs: `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`.
//!
//! Parsing follows the SPIFFE-ID standard: lowercase trust domain of
//! `[a-z0-9.-_]`, path segments of `[a-zA-Z0-9.-_]`, no empty, `.` or `..`
//! segments, no query, fragment, port or user info.

use std::fmt;
use std::str::FromStr;

use super::IdentityError;

/// A parsed, valid SPIFFE ID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpiffeId {
    trust_domain: String,
    path: String,
}

impl SpiffeId {
    /// The Istio-shaped workload ID for a namespace and service account.
    pub fn workload(
        trust_domain: &str,
        namespace: &str,
        service_account: &str,
    ) -> Result<Self, IdentityError> {
        format!("spiffe://{trust_domain}/ns/{namespace}/sa/{service_account}").parse()
    }

    /// The ID of a trust domain itself (no path), as carried by a CA certificate.
    pub fn trust_domain_id(trust_domain: &str) -> Result<Self, IdentityError> {
        format!("spiffe://{trust_domain}").parse()
    }

    /// The trust domain, e.g. `eu.mesh`.
    pub fn trust_domain(&self) -> &str {
        &self.trust_domain
    }

    /// The path, e.g. `/ns/default/sa/billing` (empty for a trust-domain ID).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The namespace, for Istio-shaped IDs.
    pub fn namespace(&self) -> Option<&str> {
        self.segment_after("ns")
    }

    /// The service account, for Istio-shaped IDs.
    pub fn service_account(&self) -> Option<&str> {
        self.segment_after("sa")
    }

    fn segment_after(&self, key: &str) -> Option<&str> {
        let mut parts = self.path.trim_start_matches('/').split('/');
        while let Some(p) = parts.next() {
            if p == key {
                return parts.next();
            }
        }
        None
    }

    /// The Istio principal form, `<trust-domain>/ns/<ns>/sa/<sa>`.
    pub fn principal(&self) -> String {
        format!("{}{}", self.trust_domain, self.path)
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "spiffe://{}{}", self.trust_domain, self.path)
    }
}

impl FromStr for SpiffeId {
    type Err = IdentityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| IdentityError::BadSpiffeId {
            id: s.to_string(),
            why: why.to_string(),
        };
        if s.len() > 2048 {
            return Err(bad("longer than 2048 bytes"));
        }
        let rest = s
            .strip_prefix("spiffe://")
            .ok_or_else(|| bad("the scheme must be spiffe://"))?;
        if rest.contains(['?', '#']) {
            return Err(bad("a query or fragment is not allowed"));
        }
        let (td, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if td.is_empty() {
            return Err(bad("the trust domain is empty"));
        }
        if td.len() > 255 {
            return Err(bad("the trust domain is longer than 255 bytes"));
        }
        if td.contains([':', '@']) {
            return Err(bad("a port or user info is not allowed"));
        }
        if !td
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'))
        {
            return Err(bad("the trust domain may hold only [a-z0-9.-_]"));
        }
        if !path.is_empty() {
            if path.ends_with('/') {
                return Err(bad("a trailing / is not allowed"));
            }
            for seg in path[1..].split('/') {
                if seg.is_empty() || seg == "." || seg == ".." {
                    return Err(bad("empty, '.' and '..' path segments are not allowed"));
                }
                if !seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
                {
                    return Err(bad("path segments may hold only [a-zA-Z0-9.-_]"));
                }
            }
        }
        Ok(SpiffeId {
            trust_domain: td.to_string(),
            path: path.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_ids_round_trip() {
        let id = SpiffeId::workload("eu.mesh", "default", "frontend").expect("valid");
        assert_eq!(id.to_string(), "spiffe://eu.mesh/ns/default/sa/frontend");
        assert_eq!(id.namespace(), Some("default"));
        assert_eq!(id.service_account(), Some("frontend"));
        assert_eq!(id.principal(), "eu.mesh/ns/default/sa/frontend");
        let parsed: SpiffeId = "spiffe://eu.mesh/ns/default/sa/frontend"
            .parse()
            .expect("valid");
        assert_eq!(parsed, id);
    }

    #[test]
    fn invalid_ids_are_rejected_with_a_reason() {
        for (bad, why) in [
            ("https://eu.mesh/ns/a", "scheme"),
            ("spiffe://", "empty"),
            ("spiffe://EU.mesh/x", "[a-z0-9.-_]"),
            ("spiffe://eu.mesh:443/x", "port"),
            ("spiffe://eu.mesh/ns//sa", "empty"),
            ("spiffe://eu.mesh/ns/../sa", "'..'"),
            ("spiffe://eu.mesh/ns/a/", "trailing"),
            ("spiffe://eu.mesh/ns/a?x=1", "query"),
            ("spiffe://eu.mesh/ns/a%20b", "[a-zA-Z0-9.-_]"),
        ] {
            let err = bad.parse::<SpiffeId>().expect_err(bad).to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn trust_domain_ids_have_no_path() {
        let id = SpiffeId::trust_domain_id("us.mesh").expect("valid");
        assert_eq!(id.path(), "");
        assert_eq!(id.to_string(), "spiffe://us.mesh");
    }
}
