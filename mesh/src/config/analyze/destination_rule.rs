//! DestinationRule checks: the host exists, subsets are well named and
//! select pods, and traffic policies (load balancer, outlier detection,
//! connection pool, TLS) hold valid values.

use std::collections::BTreeSet;

use super::context::Lookup;
use super::{effective_namespaces, is_host_pattern, selects, wildcard, Checker};
use crate::config::model::{ClientTlsSettings, DestinationRule, Object, TrafficPolicy};
use crate::config::parse::Parsed;
use crate::config::{codes, Level};

impl Checker<'_> {
    /// Every check of a DestinationRule: its host, then each subset and
    /// traffic policy.
    pub(super) fn destination_rule(&mut self, p: &Parsed, dr: &Object<DestinationRule>) {
        let ns = dr.metadata.ns().to_string();
        let spec = &dr.spec;
        if spec.host.is_empty() {
            self.push(
                p,
                codes::SCHEMA,
                Level::Error,
                "spec",
                "spec.host is required".into(),
                "name the service the rule applies to",
            );
            return;
        }
        if !is_host_pattern(&spec.host) {
            self.push(
                p,
                codes::SCHEMA,
                Level::Error,
                "spec.host",
                format!("spec.host {:?} is not a host name", spec.host),
                "write a DNS name (letters, digits, '-', '.'; a leading '*' for a wildcard)",
            );
            return;
        }
        if spec.workload_selector.is_some() {
            self.push(
                p,
                codes::UNSUPPORTED_FIELD,
                Level::Warning,
                "spec.workloadSelector",
                "spec.workloadSelector is analysed but not applied: meshcon applies the rule to every sidecar".into(),
                "remove it, or expect the rule to apply to every client",
            );
        }
        let ctx = self.ctx;
        let mut svc = None;
        let mut missing = false;
        if !wildcard(&spec.host) {
            for n in effective_namespaces(&ns, &spec.export_to) {
                match ctx.lookup(&spec.host, &ns, &n) {
                    Lookup::Found(s) => {
                        svc.get_or_insert(s);
                    }
                    Lookup::Hidden(_) | Lookup::Missing => missing = true,
                }
            }
        }
        if missing && ctx.can_tell_missing(&spec.host, &ns) {
            self.push(
                p,
                codes::UNKNOWN_DR_HOST,
                Level::Warning,
                "spec.host",
                format!(
                    "The host {} defined in the DestinationRule does not match any services in the mesh.",
                    spec.host
                ),
                "use the name of a service in the mesh (exported to this namespace); in Istio an outside host needs a ServiceEntry (meshcon reads one but routes only inside the mesh)",
            );
        } else if missing {
            self.push(
                p,
                codes::MESHCON_SEMANTICS,
                Level::Info,
                "spec.host",
                format!(
                    "The host {} is in a namespace this input says nothing about, so whether it exists cannot be checked without a mesh.",
                    spec.host
                ),
                "check it with `meshcon apply --dry-run` against a running mesh",
            );
        }
        let mut names = BTreeSet::new();
        for (i, s) in spec.subsets.iter().enumerate() {
            let sp = format!("spec.subsets[{i}]");
            if s.name.is_empty() || !crate::topology::is_dns_label(&s.name) {
                self.push(
                    p,
                    codes::SCHEMA,
                    Level::Error,
                    &format!("{sp}.name"),
                    format!("subset name '{}' must be a DNS label", s.name),
                    "use e.g. v1",
                );
            }
            if !names.insert(s.name.as_str()) {
                self.push(
                    p,
                    codes::SCHEMA,
                    Level::Error,
                    &format!("{sp}.name"),
                    format!("subset '{}' is defined twice", s.name),
                    "give each subset its own name",
                );
            }
            if let Some(svc) = svc {
                // A Service's pods are in its namespace; a ServiceEntry
                // without a selector leaves the subset's labels to pick
                // pods anywhere, as Istio's check does.
                let selected = ctx.pods.iter().any(|pod| {
                    (svc.service_entry || pod.namespace == svc.namespace)
                        && selects(&svc.selector, &pod.labels)
                        && selects(&s.labels, &pod.labels)
                });
                if !selected {
                    self.push(
                        p,
                        codes::SUBSET_NO_PODS,
                        Level::Error,
                        &sp,
                        format!("The Subset {} defined in the DestinationRule does not select any pods. Which may lead to 503 UH (NoHealthyUpstream).", s.name),
                        "deploy a version with these labels, or fix the subset's labels (the apply goes ahead)",
                    );
                }
            }
            if let Some(tp) = &s.traffic_policy {
                self.traffic_policy(p, tp, &format!("{sp}.trafficPolicy"), dr);
            }
        }
        if let Some(tp) = &spec.traffic_policy {
            self.traffic_policy(p, tp, "spec.trafficPolicy", dr);
        }
    }

    /// Checks a traffic policy of `dr` (its own or a subset's) at `path`.
    fn traffic_policy(
        &mut self,
        p: &Parsed,
        tp: &TrafficPolicy,
        path: &str,
        dr: &Object<DestinationRule>,
    ) {
        let ns = dr.metadata.ns();
        let name = &dr.metadata.name;
        let host = &dr.spec.host;
        let has_selector = dr.spec.workload_selector.is_some();
        if let Some(lb) = &tp.load_balancer {
            if let Some(ch) = &lb.consistent_hash {
                let keys = [
                    ch.http_header_name.is_some(),
                    ch.http_cookie.is_some(),
                    ch.use_source_ip.is_some(),
                    ch.http_query_parameter_name.is_some(),
                ]
                .iter()
                .filter(|b| **b)
                .count();
                if keys != 1 {
                    self.push(p, codes::SCHEMA, Level::Error, &format!("{path}.loadBalancer.consistentHash"), "consistentHash needs exactly one key".into(), "set one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName");
                }
                if lb.simple.is_some() {
                    self.push(
                        p,
                        codes::SCHEMA,
                        Level::Error,
                        &format!("{path}.loadBalancer"),
                        "simple and consistentHash cannot both be set".into(),
                        "keep one",
                    );
                }
            }
            if let Some(w) = &lb.warmup {
                let wp = format!("{path}.loadBalancer.warmup");
                if w.duration.is_none() {
                    self.push(
                        p,
                        codes::SCHEMA,
                        Level::Error,
                        &wp,
                        format!("{wp}.duration: Required value"),
                        "add duration: 60s",
                    );
                }
                if w.minimum_percent
                    .is_some_and(|v| !(0.0..=100.0).contains(&v))
                {
                    self.push(
                        p,
                        codes::SCHEMA,
                        Level::Error,
                        &format!("{wp}.minimumPercent"),
                        format!("{wp}.minimumPercent: Invalid value (0-100)"),
                        "use a percentage",
                    );
                }
                if w.aggression.is_some_and(|v| v < 1.0) {
                    self.push(
                        p,
                        codes::SCHEMA,
                        Level::Error,
                        &format!("{wp}.aggression"),
                        format!("{wp}.aggression: Invalid value (at least 1)"),
                        "use 1.0 for a linear ramp",
                    );
                }
                self.push(p, codes::UNSUPPORTED_FIELD, Level::Warning, &wp, "warmup is validated but not applied by meshcon (new endpoints get full traffic at once)".into(), "remove it, or expect no slow start");
            }
            if let Some(l) = &lb.locality_lb_setting {
                if !l.failover.is_empty() && !l.distribute.is_empty() {
                    self.push(
                        p,
                        codes::SCHEMA,
                        Level::Error,
                        &format!("{path}.loadBalancer.localityLbSetting"),
                        "failover and distribute cannot both be set".into(),
                        "keep one",
                    );
                }
                for (i, f) in l.failover.iter().enumerate() {
                    for (name, value) in [("from", &f.from), ("to", &f.to)] {
                        if value.is_empty() {
                            let at = format!("{path}.loadBalancer.localityLbSetting.failover[{i}]");
                            self.push(
                                p,
                                codes::SCHEMA,
                                Level::Error,
                                &at,
                                format!("{at}: a failover needs `{name}`, the locality traffic fails over {name}"),
                                "give both from and to, e.g. {from: us-east, to: us-west}",
                            );
                        }
                    }
                }
                for (i, d) in l.distribute.iter().enumerate() {
                    if d.from.is_empty() {
                        let at = format!("{path}.loadBalancer.localityLbSetting.distribute[{i}]");
                        self.push(
                            p,
                            codes::SCHEMA,
                            Level::Error,
                            &at,
                            format!("{at}: a distribute entry needs `from`, the callers' locality"),
                            "add from: \"region/zone/*\"",
                        );
                    }
                    let sum: u32 = d.to.values().sum();
                    if sum != 100 {
                        self.push(
                            p,
                            codes::SCHEMA,
                            Level::Error,
                            &format!("{path}.loadBalancer.localityLbSetting.distribute[{i}]"),
                            format!("distribute weights add up to {sum}, not 100"),
                            "make them add up to 100",
                        );
                    }
                }
                if tp.outlier_detection.is_none() {
                    self.push(
                        p,
                        codes::INEFFECTIVE,
                        Level::Warning,
                        &format!("{path}.loadBalancer.localityLbSetting"),
                        "locality load balancing needs outlierDetection to notice an unhealthy locality; without it, it has no effect".into(),
                        "add trafficPolicy.outlierDetection",
                    );
                }
            }
        }
        if let Some(od) = &tp.outlier_detection {
            for (field, v) in [
                ("maxEjectionPercent", od.max_ejection_percent),
                ("minHealthPercent", od.min_health_percent),
            ] {
                if v.is_some_and(|v| v > 100) {
                    self.push(
                        p,
                        codes::SCHEMA,
                        Level::Error,
                        &format!("{path}.outlierDetection.{field}"),
                        format!("{field} must be 0-100"),
                        "use a percentage",
                    );
                }
            }
            if od.consecutive_errors.is_some() {
                self.push(
                    p,
                    codes::DEPRECATED,
                    Level::Warning,
                    &format!("{path}.outlierDetection.consecutiveErrors"),
                    "consecutiveErrors is deprecated".into(),
                    "use consecutive5xxErrors or consecutiveGatewayErrors",
                );
            }
        }
        if let Some(cp) = &tp.connection_pool {
            let vals = [
                (
                    "tcp.maxConnections",
                    cp.tcp.as_ref().and_then(|t| t.max_connections),
                ),
                (
                    "http.http1MaxPendingRequests",
                    cp.http.as_ref().and_then(|h| h.http1_max_pending_requests),
                ),
                (
                    "http.http2MaxRequests",
                    cp.http.as_ref().and_then(|h| h.http2_max_requests),
                ),
                (
                    "http.maxRequestsPerConnection",
                    cp.http.as_ref().and_then(|h| h.max_requests_per_connection),
                ),
                (
                    "http.maxRetries",
                    cp.http.as_ref().and_then(|h| h.max_retries),
                ),
            ];
            for (field, v) in vals {
                if v.is_some_and(|v| v < 0) {
                    self.push(
                        p,
                        codes::SCHEMA,
                        Level::Error,
                        &format!("{path}.connectionPool.{field}"),
                        format!("{field} cannot be negative"),
                        "use a positive number",
                    );
                }
            }
        }
        // A credentialName carries the CA only for the gateways a
        // workloadSelector picks; elsewhere nothing verifies the server.
        let tls_warn = |tls: &ClientTlsSettings| {
            matches!(tls.mode.as_deref(), Some("SIMPLE") | Some("MUTUAL"))
                && tls.ca_certificates.is_none()
                && !(tls.credential_name.is_some() && has_selector)
        };
        if let Some(tls) = &tp.tls {
            if tls_warn(tls) {
                self.push(
                    p,
                    codes::NO_SERVER_CERT_VERIFICATION_DEST,
                    Level::Warning,
                    &format!("{path}.tls"),
                    format!(
                        "DestinationRule {ns}/{name} in namespace {ns} has TLS mode set to {} but no caCertificates are set to validate server identity for host: {host}",
                        tls.mode.clone().unwrap_or_default()
                    ),
                    "set caCertificates (or credentialName with a workloadSelector)",
                );
            }
        }
        for (i, pl) in tp.port_level_settings.iter().enumerate() {
            if let Some(tls) = &pl.tls {
                if tls_warn(tls) {
                    self.push(
                        p,
                        codes::NO_SERVER_CERT_VERIFICATION_PORT,
                        Level::Warning,
                        &format!("{path}.portLevelSettings[{i}].tls"),
                        format!(
                            "DestinationRule {ns}/{name} in namespace {ns} has TLS mode set to {} but no caCertificates are set to validate server identity for host: {host} at port {}",
                            tls.mode.clone().unwrap_or_default(),
                            pl.port.as_ref().map_or(0, |p| p.number)
                        ),
                        "set caCertificates (or credentialName with a workloadSelector)",
                    );
                }
            }
        }
    }
}
