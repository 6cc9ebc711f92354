//! Classify once: what a failure is (5xx, gateway error, reset, connect
//! failure, timeout, overflow), the Envoy response flags that name it, and
//! the HTTP answer a caller gets for a locally generated failure. Retry,
//! outlier detection and telemetry all read the same classification.

use std::fmt;

use crate::http::{text_response, Body};

/// Envoy response flags, as a set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flags(u32);

impl Flags {
    /// UH: no healthy upstream.
    pub const UH: Flags = Flags(1);
    /// UF: upstream connection failure.
    pub const UF: Flags = Flags(1 << 1);
    /// UO: upstream overflow (circuit breaker).
    pub const UO: Flags = Flags(1 << 2);
    /// NR: no route.
    pub const NR: Flags = Flags(1 << 3);
    /// URX: retry limit exceeded.
    pub const URX: Flags = Flags(1 << 4);
    /// UT: upstream request timeout.
    pub const UT: Flags = Flags(1 << 5);
    /// DI: delay injected.
    pub const DI: Flags = Flags(1 << 6);
    /// FI: fault (abort) injected.
    pub const FI: Flags = Flags(1 << 7);
    /// UC: upstream connection termination.
    pub const UC: Flags = Flags(1 << 8);
    /// UR: upstream reset.
    pub const UR: Flags = Flags(1 << 9);
    /// RBAC: denied by authorization policy.
    pub const RBAC: Flags = Flags(1 << 10);
    /// DC: downstream connection termination.
    pub const DC: Flags = Flags(1 << 11);
    /// NC: no cluster found for the route's destination.
    pub const NC: Flags = Flags(1 << 12);

    const NAMES: [(Flags, &'static str); 13] = [
        (Flags::UH, "UH"),
        (Flags::UF, "UF"),
        (Flags::UO, "UO"),
        (Flags::NR, "NR"),
        (Flags::URX, "URX"),
        (Flags::UT, "UT"),
        (Flags::DI, "DI"),
        (Flags::FI, "FI"),
        (Flags::UC, "UC"),
        (Flags::UR, "UR"),
        (Flags::RBAC, "RBAC"),
        (Flags::DC, "DC"),
        (Flags::NC, "NC"),
    ];

    /// No flag set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every flag of `other` is set.
    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Adds flags.
    pub fn insert(&mut self, other: Flags) {
        self.0 |= other.0;
    }

    /// Parses Envoy's comma-separated form (`-` is empty).
    pub fn parse(text: &str) -> Flags {
        let mut f = Flags::default();
        for part in text.split(',') {
            if let Some((flag, _)) = Self::NAMES.iter().find(|(_, n)| *n == part.trim()) {
                f.insert(*flag);
            }
        }
        f
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl fmt::Display for Flags {
    /// Envoy's form: `-` for none, else names joined by commas.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("-");
        }
        let names: Vec<&str> = Self::NAMES
            .iter()
            .filter(|(flag, _)| self.contains(*flag))
            .map(|(_, n)| *n)
            .collect();
        f.write_str(&names.join(","))
    }
}

/// A failure produced by the proxy itself (no upstream answer).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProxyError {
    /// No route or service for the host.
    #[error("no route to host '{host}': {hint}")]
    NoRoute {
        /// The host asked for.
        host: String,
        /// What exists instead.
        hint: String,
    },
    /// The route names a destination (or subset) that does not exist.
    #[error("no cluster {cluster}: {hint}")]
    NoCluster {
        /// Envoy-style cluster name.
        cluster: String,
        /// What to check.
        hint: String,
    },
    /// Every endpoint is ejected, or there are none.
    #[error("no healthy upstream for {cluster}")]
    NoHealthyUpstream {
        /// Envoy-style cluster name.
        cluster: String,
    },
    /// TCP or TLS connect failed.
    #[error("upstream connect error to {endpoint}: {reason}")]
    ConnectFailure {
        /// The endpoint address.
        endpoint: String,
        /// Why (TLS errors name the identity problem).
        reason: String,
    },
    /// The connection pool or retry budget is full.
    #[error("upstream overflow: {cluster} is at its connection pool limit")]
    Overflow {
        /// Envoy-style cluster name.
        cluster: String,
    },
    /// The route or per-try timeout fired.
    #[error("upstream request timeout after {after_ms} ms")]
    Timeout {
        /// The timeout that fired.
        after_ms: u64,
    },
    /// The stream or connection was reset before a response.
    #[error("upstream reset before response: {reason}")]
    Reset {
        /// Why.
        reason: String,
    },
    /// Authorization policy denied the request.
    #[error("RBAC: access denied ({reason})")]
    Denied {
        /// Which policy or rule.
        reason: String,
    },
    /// The request itself is unusable.
    #[error("bad request: {0}")]
    BadRequest(String),
}

impl ProxyError {
    /// The flag that names this failure.
    pub fn flags(&self) -> Flags {
        match self {
            ProxyError::NoRoute { .. } => Flags::NR,
            ProxyError::NoCluster { .. } => Flags::NC,
            ProxyError::NoHealthyUpstream { .. } => Flags::UH,
            ProxyError::ConnectFailure { .. } => Flags::UF,
            ProxyError::Overflow { .. } => Flags::UO,
            ProxyError::Timeout { .. } => Flags::UT,
            ProxyError::Reset { .. } => Flags::UR,
            ProxyError::Denied { .. } => Flags::RBAC,
            ProxyError::BadRequest(_) => Flags::default(),
        }
    }

    /// The HTTP status a caller sees.
    pub fn status(&self) -> u16 {
        match self {
            ProxyError::NoRoute { .. } => 404,
            ProxyError::Timeout { .. } => 504,
            ProxyError::Denied { .. } => 403,
            ProxyError::BadRequest(_) => 400,
            _ => 503,
        }
    }

    /// The answer the caller gets, with the flags attached.
    pub fn into_response(self, extra: Flags) -> http::Response<Body> {
        let flags = self.flags() | extra;
        let mut resp = text_response(self.status(), format!("meshcon proxy: {self}\n"));
        resp.headers_mut().insert(
            "x-meshcon-flags",
            http::HeaderValue::from_str(&flags.to_string())
                .unwrap_or(http::HeaderValue::from_static("-")),
        );
        resp.extensions_mut().insert(flags);
        resp
    }
}

impl From<ProxyError> for http::Response<Body> {
    /// The answer for a failure no layer turned into one (no extra flags).
    fn from(e: ProxyError) -> Self {
        e.into_response(Flags::default())
    }
}

/// The outcome of one attempt, as retry and outlier detection see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A response below 500.
    Success(u16),
    /// A 5xx response from upstream.
    Status5xx(u16),
    /// Could not connect.
    ConnectFailure,
    /// Reset before a response.
    Reset,
    /// Timed out.
    Timeout,
    /// Refused locally before any upstream was tried (overflow, no host).
    Local,
}

impl Outcome {
    /// Classifies an attempt's result.
    pub fn of(result: &Result<http::Response<Body>, ProxyError>) -> Outcome {
        match result {
            Ok(r) if r.status().is_server_error() => Outcome::Status5xx(r.status().as_u16()),
            Ok(r) => Outcome::Success(r.status().as_u16()),
            Err(ProxyError::ConnectFailure { .. }) => Outcome::ConnectFailure,
            Err(ProxyError::Reset { .. }) => Outcome::Reset,
            Err(ProxyError::Timeout { .. }) => Outcome::Timeout,
            Err(_) => Outcome::Local,
        }
    }

    /// Counts for `consecutive5xxErrors`: 5xx answers and locally seen
    /// upstream failures (Envoy folds these together unless told otherwise).
    pub fn is_5xx(self) -> bool {
        matches!(
            self,
            Outcome::Status5xx(_) | Outcome::ConnectFailure | Outcome::Reset | Outcome::Timeout
        )
    }

    /// Counts for `consecutiveGatewayErrors`: 502, 503, 504 and local failures.
    pub fn is_gateway_error(self) -> bool {
        matches!(
            self,
            Outcome::Status5xx(502..=504)
                | Outcome::ConnectFailure
                | Outcome::Reset
                | Outcome::Timeout
        )
    }
}

/// Conditions of `retryOn`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RetryOn {
    /// `5xx`.
    pub any_5xx: bool,
    /// `gateway-error`.
    pub gateway_error: bool,
    /// `reset`.
    pub reset: bool,
    /// `connect-failure`.
    pub connect_failure: bool,
    /// `refused-stream`.
    pub refused_stream: bool,
    /// `retriable-4xx` (409).
    pub retriable_4xx: bool,
    /// Explicit status codes.
    pub statuses: Vec<u16>,
}

/// The retryOn keywords meshcon understands.
pub const RETRY_ON_KEYWORDS: &[&str] = &[
    "5xx",
    "gateway-error",
    "reset",
    "connect-failure",
    "refused-stream",
    "retriable-4xx",
    "retriable-status-codes",
    "unavailable",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
];

impl std::fmt::Display for RetryOn {
    /// As a `retryOn` value: `connect-failure,refused-stream,503`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let words = [
            (self.any_5xx, "5xx"),
            (self.gateway_error, "gateway-error"),
            (self.reset, "reset"),
            (self.connect_failure, "connect-failure"),
            (self.refused_stream, "refused-stream"),
            (self.retriable_4xx, "retriable-4xx"),
        ];
        let mut all: Vec<String> = words
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, w)| w.to_string())
            .collect();
        all.extend(self.statuses.iter().map(u16::to_string));
        if all.is_empty() {
            f.write_str("nothing")
        } else {
            f.write_str(&all.join(","))
        }
    }
}

/// A `retryOn` word meshcon does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown retryOn condition '{word}' (use {} or a status code)", RETRY_ON_KEYWORDS.join(", "))]
pub struct RetryOnError {
    /// The word.
    pub word: String,
}

impl RetryOn {
    /// Parses `5xx,connect-failure,503`. Unknown words are an error.
    pub fn parse(text: &str) -> Result<RetryOn, RetryOnError> {
        let mut r = RetryOn::default();
        for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word {
                "5xx" => r.any_5xx = true,
                "gateway-error" => r.gateway_error = true,
                "reset" => r.reset = true,
                "connect-failure" => r.connect_failure = true,
                "refused-stream" => r.refused_stream = true,
                "retriable-4xx" => r.retriable_4xx = true,
                // gRPC conditions and the status-code switch have no effect on plain HTTP.
                "retriable-status-codes"
                | "unavailable"
                | "cancelled"
                | "deadline-exceeded"
                | "internal"
                | "resource-exhausted" => {}
                code => match code.parse::<u16>() {
                    Ok(c) if (100..600).contains(&c) => r.statuses.push(c),
                    _ => {
                        return Err(RetryOnError {
                            word: code.to_string(),
                        })
                    }
                },
            }
        }
        Ok(r)
    }

    /// Istio's default when a route sets no retry policy.
    pub fn istio_default() -> RetryOn {
        RetryOn {
            connect_failure: true,
            refused_stream: true,
            ..Default::default()
        }
    }

    /// Whether an attempt with this outcome should be retried.
    pub fn matches(&self, outcome: Outcome) -> bool {
        match outcome {
            Outcome::Success(code) => {
                (self.retriable_4xx && code == 409) || self.statuses.contains(&code)
            }
            Outcome::Status5xx(code) => {
                self.any_5xx
                    || (self.gateway_error && (502..=504).contains(&code))
                    || self.statuses.contains(&code)
            }
            Outcome::ConnectFailure => self.any_5xx || self.gateway_error || self.connect_failure,
            Outcome::Reset => {
                self.any_5xx || self.gateway_error || self.reset || self.refused_stream
            }
            Outcome::Timeout => self.any_5xx || self.gateway_error,
            Outcome::Local => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_print_like_envoy() {
        assert_eq!(Flags::default().to_string(), "-");
        assert_eq!((Flags::URX | Flags::UF).to_string(), "UF,URX");
        assert_eq!(Flags::parse("UF,URX"), Flags::URX | Flags::UF);
    }

    #[test]
    fn retry_on_conditions() {
        let r = RetryOn::parse("5xx").expect("valid");
        assert!(r.matches(Outcome::Status5xx(500)));
        assert!(r.matches(Outcome::ConnectFailure));
        assert!(!r.matches(Outcome::Success(404)));
        let g = RetryOn::parse("gateway-error").expect("valid");
        assert!(g.matches(Outcome::Status5xx(503)));
        assert!(!g.matches(Outcome::Status5xx(500)));
        let c = RetryOn::parse("retriable-4xx, 418").expect("valid");
        assert!(c.matches(Outcome::Success(409)));
        assert!(c.matches(Outcome::Success(418)));
        let err = RetryOn::parse("5xx,sometimes").expect_err("unknown");
        assert!(err.to_string().contains("'sometimes'"), "{err}");
        assert!(RetryOn::istio_default().matches(Outcome::ConnectFailure));
        assert!(!RetryOn::istio_default().matches(Outcome::Status5xx(503)));
    }

    #[test]
    fn outcomes_feed_outlier_detection() {
        assert!(Outcome::Status5xx(500).is_5xx());
        assert!(!Outcome::Status5xx(500).is_gateway_error());
        assert!(Outcome::Status5xx(503).is_gateway_error());
        assert!(Outcome::ConnectFailure.is_gateway_error());
        assert!(!Outcome::Success(404).is_5xx());
    }
}
