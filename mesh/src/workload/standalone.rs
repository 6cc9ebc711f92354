//! `meshcon workload`: one version of one demo service as a plain HTTP
//! server, outside the playground (in a container, next to an Istio
//! sidecar). It is the playground's demo app ([`super::app`]) with its
//! callees dialled by address instead of through a meshcon sidecar.
//!
//! The command line is the contract between `meshcon export kubernetes`,
//! which writes it into each Deployment, and `meshcon import`, which reads
//! it back: both go through [`WorkloadSpec::to_args`] and
//! [`WorkloadSpec::from_args`], so the two cannot drift apart.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::app::{App, AppSpec, Direct};
use crate::topology::{Latency, MAX_LATENCY};

/// How the workload takes part in traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TraceMode {
    /// Each hop is a span of its own (a new parent span id, the same trace
    /// id): right when no proxy makes spans around the app.
    #[default]
    Span,
    /// Forward the trace headers unchanged: right behind an Istio sidecar,
    /// whose Envoy makes the spans.
    Forward,
}

impl TraceMode {
    /// As the command line writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            TraceMode::Span => "span",
            TraceMode::Forward => "forward",
        }
    }

    /// Reads `span` or `forward`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "span" => Ok(TraceMode::Span),
            "forward" => Ok(TraceMode::Forward),
            _ => Err(format!(
                "'{s}' is not a trace mode: give span (the app makes a span per hop) or forward (behind a sidecar)"
            )),
        }
    }
}

/// What one `meshcon workload` process serves.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadSpec {
    /// The service, e.g. `billing`.
    pub service: String,
    /// Its version label, e.g. `v2`.
    pub version: String,
    /// The cluster it runs in (shown in answers, so failover shows).
    pub cluster: String,
    /// Where it listens.
    pub listen: SocketAddr,
    /// How long it takes to answer.
    pub latency: Latency,
    /// Share of requests answered 503.
    pub error_rate: f64,
    /// Services called for every request: name and the `host:port` dialled.
    pub calls: Vec<(String, String)>,
    /// Whether it makes its own span per hop or forwards trace headers.
    pub trace: TraceMode,
}

/// `3ms`, or `p50=3ms,p99=10ms` for a log-normal latency.
pub fn format_latency(l: &Latency) -> String {
    use crate::duration::format;
    match l {
        Latency::Fixed(d) => format(*d),
        Latency::Distribution { p50, p99 } => format!("p50={},p99={}", format(*p50), format(*p99)),
    }
}

/// Reads what [`format_latency`] writes.
pub fn parse_latency(s: &str) -> Result<Latency, String> {
    let dur = |t: &str| {
        crate::duration::parse_at_most(t, MAX_LATENCY).map_err(|e| format!("latency '{t}': {e}"))
    };
    if !s.contains('=') {
        return dur(s).map(Latency::Fixed);
    }
    let (mut p50, mut p99) = (None, None);
    for part in s.split(',') {
        match part.split_once('=') {
            Some(("p50", v)) => p50 = Some(dur(v)?),
            Some(("p99", v)) => p99 = Some(dur(v)?),
            _ => {
                return Err(format!(
                    "latency '{s}': write a duration (3ms) or p50=3ms,p99=10ms"
                ))
            }
        }
    }
    match (p50, p99) {
        (Some(p50), Some(p99)) if p99 >= p50 => Ok(Latency::Distribution { p50, p99 }),
        (Some(_), Some(_)) => Err(format!("latency '{s}': p99 must not be below p50")),
        _ => Err(format!("latency '{s}': give both p50= and p99=")),
    }
}

/// Reads an error rate, a share between 0 and 1.
pub fn parse_error_rate(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|r| (0.0..=1.0).contains(r))
        .ok_or_else(|| format!("error rate '{s}' must be a number between 0.0 and 1.0"))
}

/// Reads a call, `NAME=HOST:PORT`.
pub fn parse_call(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, target)) if !name.is_empty() && target.contains(':') => {
            Ok((name.to_string(), target.to_string()))
        }
        _ => Err(format!(
            "call '{s}' must be NAME=HOST:PORT, e.g. billing=billing.default.svc.cluster.local:8080"
        )),
    }
}

impl WorkloadSpec {
    /// The arguments after `meshcon` that start this workload.
    pub fn to_args(&self) -> Vec<String> {
        let mut a: Vec<String> = [
            "workload",
            "--service",
            &self.service,
            "--version",
            &self.version,
            "--cluster",
            &self.cluster,
            "--listen",
            &self.listen.to_string(),
            "--latency",
            &format_latency(&self.latency),
            "--error-rate",
            &self.error_rate.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for (name, target) in &self.calls {
            a.push("--call".into());
            a.push(format!("{name}={target}"));
        }
        a.push("--trace".into());
        a.push(self.trace.as_str().into());
        a
    }

    /// Reads the arguments [`Self::to_args`] writes (`workload` first, or
    /// not); a flag it does not know is an error naming it.
    pub fn from_args(args: &[String]) -> Result<Self, String> {
        let mut it = args.iter().map(String::as_str).peekable();
        if it.peek() == Some(&"workload") {
            it.next();
        }
        let mut flags: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        while let Some(flag) = it.next() {
            let (name, value) = match flag.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n, v.to_string()),
                _ if flag.starts_with("--") => match it.next() {
                    Some(v) => (flag, v.to_string()),
                    None => return Err(format!("{flag} needs a value")),
                },
                _ => return Err(format!("unexpected argument '{flag}'")),
            };
            flags.entry(name).or_default().push(value);
        }
        let mut one = |name: &str| flags.remove(name).and_then(|mut v| v.pop());
        let service = one("--service").ok_or("--service is missing")?;
        let version = one("--version").unwrap_or_else(|| "v1".into());
        let cluster = one("--cluster").unwrap_or_default();
        let listen = match one("--listen") {
            Some(l) => l
                .parse()
                .map_err(|_| format!("--listen '{l}' is not HOST:PORT"))?,
            None => SocketAddr::from(([0, 0, 0, 0], 8080)),
        };
        let latency = one("--latency")
            .map(|l| parse_latency(&l))
            .transpose()?
            .unwrap_or_default();
        let error_rate = one("--error-rate")
            .map(|e| parse_error_rate(&e))
            .transpose()?
            .unwrap_or(0.0);
        let trace = one("--trace")
            .map(|t| TraceMode::parse(&t))
            .transpose()?
            .unwrap_or_default();
        let calls = flags
            .remove("--call")
            .unwrap_or_default()
            .iter()
            .map(|c| parse_call(c))
            .collect::<Result<_, _>>()?;
        if let Some(unknown) = flags.keys().next() {
            return Err(format!("unknown flag {unknown}"));
        }
        Ok(Self {
            service,
            version,
            cluster,
            listen,
            latency,
            error_rate,
            calls,
            trace,
        })
    }
}

/// Serves `spec` on `listener` until `cancel`, as instance `instance`.
pub async fn serve(
    spec: &WorkloadSpec,
    instance: &str,
    listener: TcpListener,
    cancel: CancellationToken,
) {
    let app = App::standalone(
        AppSpec {
            service: spec.service.clone(),
            version: spec.version.clone(),
            instance: instance.to_string(),
            cluster: spec.cluster.clone(),
            latency: spec.latency,
            error_rate: spec.error_rate,
            calls: spec.calls.iter().map(|(n, _)| n.clone()).collect(),
            // Every call has a target; this address is never dialled.
            outbound: SocketAddr::from(([127, 0, 0, 1], 9)),
        },
        Direct {
            targets: spec.calls.iter().cloned().collect(),
            own_span: spec.trace == TraceMode::Span,
        },
    );
    Arc::clone(&app).serve(listener, cancel).await;
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn arguments_read_back_as_written() {
        let spec = WorkloadSpec {
            service: "billing".into(),
            version: "v2".into(),
            cluster: "us".into(),
            listen: "0.0.0.0:8080".parse().expect("addr"),
            latency: Latency::Distribution {
                p50: Duration::from_millis(3),
                p99: Duration::from_millis(12),
            },
            error_rate: 0.25,
            calls: vec![("auth".into(), "auth.default.svc.cluster.local:8080".into())],
            trace: TraceMode::Forward,
        };
        assert_eq!(WorkloadSpec::from_args(&spec.to_args()), Ok(spec));
    }

    #[test]
    fn bad_arguments_are_named() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let e = WorkloadSpec::from_args(&args(&["--service", "a", "--colour", "red"]));
        assert_eq!(e, Err("unknown flag --colour".into()));
        let e = WorkloadSpec::from_args(&args(&["--service", "a", "--latency", "p50=9ms,p99=1ms"]));
        assert!(e.is_err_and(|e| e.contains("p99 must not be below p50")));
        let e = WorkloadSpec::from_args(&args(&["--service", "a", "--call", "billing"]));
        assert!(e.is_err_and(|e| e.contains("NAME=HOST:PORT")));
    }
}
