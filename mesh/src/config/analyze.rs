//! Analysis in the manner of `istioctl analyze`: checks within a resource
//! (weights, durations, regexes, retry conditions, fault values) and across
//! resources and the mesh (hosts, subsets and gateways that do not exist,
//! subsets that select no pods, conflicting or shadowed rules). Each finding
//! carries Istio's code where Istio has one, and a one-line fix.

use std::collections::{BTreeMap, BTreeSet};

use super::model::*;
use super::parse::{KubeObject, Parsed};
use super::scope::{normalize_host, ROOT_NAMESPACE};
use super::{codes, Finding, Level};
use crate::svc::RetryOn;
use crate::topology::Topology;

/// A service the analysis knows of.
#[derive(Debug, Clone)]
pub struct SvcInfo {
    /// Name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Ports.
    pub ports: Vec<u16>,
    /// Pod selector.
    pub selector: BTreeMap<String, String>,
}

/// A pod the analysis knows of.
#[derive(Debug, Clone)]
pub struct PodInfo {
    /// Namespace.
    pub namespace: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// What resources are checked against.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Services.
    pub services: Vec<SvcInfo>,
    /// Pods (workload instances and gateways).
    pub pods: Vec<PodInfo>,
    /// Hosts outside the mesh that ServiceEntries name.
    pub external: Vec<SvcInfo>,
}

impl Context {
    /// The services and pods of a topology, with its gateways.
    pub fn from_topology(t: &Topology) -> Self {
        let mut ctx = Context::default();
        for s in &t.services {
            if !ctx
                .services
                .iter()
                .any(|x| x.name == s.name && x.namespace == s.namespace)
            {
                ctx.services.push(SvcInfo {
                    name: s.name.clone(),
                    namespace: s.namespace.clone(),
                    ports: vec![s.port],
                    selector: BTreeMap::from([("app".to_string(), s.name.clone())]),
                });
            }
        }
        for i in t.instances() {
            ctx.pods.push(PodInfo {
                namespace: i.namespace.clone(),
                labels: BTreeMap::from([
                    ("app".to_string(), i.service.clone()),
                    ("version".to_string(), i.version.clone()),
                    ("topology.istio.io/cluster".to_string(), i.cluster.clone()),
                ]),
            });
        }
        let gw = |istio: &str, app: &str| PodInfo {
            namespace: ROOT_NAMESPACE.into(),
            labels: BTreeMap::from([
                ("istio".to_string(), istio.to_string()),
                ("app".to_string(), app.to_string()),
            ]),
        };
        if t.clusters.iter().any(|c| c.ingress.is_some()) {
            ctx.pods.push(gw("ingressgateway", "istio-ingressgateway"));
            ctx.services.push(SvcInfo {
                name: "istio-ingressgateway".into(),
                namespace: ROOT_NAMESPACE.into(),
                ports: vec![80, 443, 8080, 8443],
                selector: BTreeMap::from([("istio".to_string(), "ingressgateway".to_string())]),
            });
        }
        if t.clusters.len() > 1 {
            ctx.pods
                .push(gw("eastwestgateway", "istio-eastwestgateway"));
            ctx.services.push(SvcInfo {
                name: "istio-eastwestgateway".into(),
                namespace: ROOT_NAMESPACE.into(),
                ports: vec![15443],
                selector: BTreeMap::from([("istio".to_string(), "eastwestgateway".to_string())]),
            });
        }
        ctx
    }

    /// Adds the Kubernetes objects found among the resources.
    pub fn add_kube(&mut self, objs: &[KubeObject]) {
        for o in objs {
            match o {
                KubeObject::Service {
                    name,
                    namespace,
                    ports,
                    selector,
                } => self.services.push(SvcInfo {
                    name: name.clone(),
                    namespace: namespace.clone(),
                    ports: ports.clone(),
                    selector: selector.clone(),
                }),
                KubeObject::ExternalHosts { hosts, ports } => {
                    for h in hosts {
                        self.external.push(SvcInfo {
                            name: h.clone(),
                            namespace: String::new(),
                            ports: ports.clone(),
                            selector: BTreeMap::new(),
                        });
                    }
                }
                KubeObject::Pod { namespace, labels } => self.pods.push(PodInfo {
                    namespace: namespace.clone(),
                    labels: labels.clone(),
                }),
            }
        }
    }

    fn service(&self, host: &str, ns: &str) -> Option<&SvcInfo> {
        let fq = normalize_host(host, ns);
        self.services
            .iter()
            .find(|s| crate::topology::fqdn(&s.name, &s.namespace) == fq)
            .or_else(|| self.external.iter().find(|s| s.name == host))
    }
}

fn selects(sel: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    sel.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn wildcard(host: &str) -> bool {
    host.contains('*')
}

struct Checker<'a> {
    file: &'a str,
    ctx: &'a Context,
    /// New resources override existing ones with the same key.
    effective: Vec<Resource>,
    out: Vec<Finding>,
}

impl Checker<'_> {
    fn push(
        &mut self,
        p: &Parsed,
        code: &'static str,
        level: Level,
        path: &str,
        message: String,
        fix: &str,
    ) {
        let pos = if path.is_empty() {
            p.start
        } else {
            p.spans.nearest(path)
        };
        self.out.push(Finding::new(
            code,
            level,
            &p.resource.key().to_string(),
            message,
            fix,
            self.file,
            pos,
        ));
    }

    fn destination_rules_for(&self, host: &str, ns: &str) -> Vec<&Object<DestinationRule>> {
        let fq = normalize_host(host, ns);
        self.effective
            .iter()
            .filter_map(|r| match r {
                Resource::DestinationRule(d)
                    if normalize_host(&d.spec.host, d.metadata.ns()) == fq =>
                {
                    Some(d)
                }
                _ => None,
            })
            .collect()
    }

    fn gateway(&self, reference: &str, vs_ns: &str) -> Option<&Object<Gateway>> {
        let (ns, name) = reference.split_once('/').unwrap_or((vs_ns, reference));
        self.effective.iter().find_map(|r| match r {
            Resource::Gateway(g) if g.metadata.name == name && g.metadata.ns() == ns => Some(g),
            _ => None,
        })
    }

    fn check_destination(
        &mut self,
        p: &Parsed,
        ns: &str,
        d: &Destination,
        path: &str,
        mirror: bool,
    ) {
        if d.host.is_empty() {
            self.push(
                p,
                codes::SCHEMA,
                Level::Error,
                path,
                format!("{path}.host is required"),
                "name the destination service",
            );
            return;
        }
        if wildcard(&d.host) {
            return;
        }
        let what = if mirror { "mirror host" } else { "host" };
        let Some(svc) = self.ctx.service(&d.host, ns).cloned() else {
            self.push(
                p,
                codes::REFERENCED_NOT_FOUND,
                Level::Error,
                &format!("{path}.host"),
                format!("Referenced {what} not found: \"{}\"", d.host),
                "use the name of a service in the mesh (see `meshcon get services`)",
            );
            return;
        };
        match &d.port {
            Some(port) if !svc.ports.is_empty() && !svc.ports.contains(&(port.number as u16)) => self.push(
                p,
                codes::REFERENCED_NOT_FOUND,
                Level::Error,
                &format!("{path}.port"),
                format!("Referenced host:port not found: \"{}:{}\"", d.host, port.number),
                &format!("the service exposes port(s) {:?}", svc.ports),
            ),
            None if svc.ports.len() > 1 && !mirror => self.push(
                p,
                codes::PORT_SELECTOR_REQUIRED,
                Level::Error,
                path,
                format!("This VirtualService routes to a service with more than one port, but does not specify which to use: \"{}\"", d.host),
                "add destination.port.number",
            ),
            _ => {}
        }
        if let Some(subset) = &d.subset {
            let found = self
                .destination_rules_for(&d.host, ns)
                .iter()
                .any(|dr| dr.spec.subsets.iter().any(|s| &s.name == subset));
            if !found {
                let what = if mirror {
                    "mirror+subset in destinationrule"
                } else {
                    "host+subset in destinationrule"
                };
                self.push(
                    p,
                    codes::REFERENCED_NOT_FOUND,
                    Level::Error,
                    &format!("{path}.subset"),
                    format!("Referenced {what} not found: \"{}+{subset}\"", d.host),
                    &format!("define subset '{subset}' in a DestinationRule for {}, or route to an existing subset", d.host),
                );
            }
        }
    }

    fn virtual_service(&mut self, p: &Parsed, vs: &Object<VirtualService>) {
        let ns = vs.metadata.ns().to_string();
        let spec = &vs.spec;
        if spec.hosts.is_empty() {
            self.push(
                p,
                codes::SCHEMA,
                Level::Error,
                "spec",
                "spec.hosts is required: a VirtualService must name at least one host".into(),
                "add hosts: [<service>]",
            );
        }
        for (i, r) in spec.http.iter().enumerate() {
            let rp = format!("spec.http[{i}]");
            if r.route.is_empty() && r.redirect.is_none() {
                self.push(
                    p,
                    codes::SCHEMA,
                    Level::Error,
                    &rp,
                    format!("{rp} needs `route` or `redirect`"),
                    "add a route with a destination",
                );
            }
            if r.redirect.is_some() && !r.route.is_empty() {
                self.push(
                    p,
                    codes::SCHEMA,
                    Level::Error,
                    &rp,
                    format!("{rp} has both `redirect` and `route`"),
                    "keep one of them",
                );
            }
            let weighted = r.route.len() > 1 || r.route.iter().any(|d| d.weight.is_some());
            for (j, d) in r.route.iter().enumerate() {
                let dp = format!("{rp}.route[{j}]");
                if let Some(w) = d.weight {
                    if !(0..=100).contains(&w) {
                        self.push(
                            p,
                            codes::SCHEMA,
                            Level::Error,
                            &format!("{dp}.weight"),
                            format!("weight {w} must be between 0 and 100"),
                            "use a percentage",
                        );
                    }
                }
                self.check_destination(p, &ns, &d.destination, &format!("{dp}.destination"), false);
            }
            if weighted {
                let sum: i64 = r.route.iter().map(|d| d.weight.unwrap_or(0)).sum();
                if sum != 100 {
                    let list: Vec<String> = r
                        .route
                        .iter()
                        .map(|d| {
                            format!(
                                "{}{} {}",
                                d.destination.host,
                                d.destination
                                    .subset
                                    .as_ref()
                                    .map(|s| format!("/{s}"))
                                    .unwrap_or_default(),
                                d.weight.unwrap_or(0)
                            )
                        })
                        .collect();
                    self.push(
                        p,
                        codes::SCHEMA,
                        Level::Error,
                        &format!("{rp}.route"),
                        format!(
                            "route weights add up to {sum}, not 100 ({})",
                            list.join(", ")
                        ),
                        &format!("make the weights under {rp}.route add up to 100"),
                    );
                }
            }
            if let Some(m) = &r.mirror {
                self.check_destination(p, &ns, m, &format!("{rp}.mirror"), true);
            }
            if let Some(mp) = &r.mirror_percentage {
                if !(0.0..=100.0).contains(&mp.value) {
                    self.push(
                        p,
                        codes::SCHEMA,
                        Level::Error,
                        &format!("{rp}.mirrorPercentage"),
                        "mirrorPercentage must be 0-100".into(),
                        "use a percentage",
                    );
                }
            }
            if let Some(rt) = &r.retries {
                if rt.attempts < 0 {
                    self.push(
                        p,
                        codes::SCHEMA,
                        Level::Error,
                        &format!("{rp}.retries.attempts"),
                        "attempts cannot be negative".into(),
                        "use 0 to disable retries",
                    );
                }
                if let Some(on) = &rt.retry_on {
                    if let Err(e) = RetryOn::parse(on) {
                        self.push(
                            p,
                            codes::SCHEMA,
                            Level::Error,
                            &format!("{rp}.retries.retryOn"),
                            e,
                            "use e.g. retryOn: 5xx,connect-failure",
                        );
                    }
                }
                if let (Some(per), Some(total)) = (rt.per_try_timeout, r.timeout) {
                    if per > total && !total.is_zero() {
                        self.push(
                            p,
                            codes::INEFFECTIVE,
                            Level::Warning,
                            &format!("{rp}.retries.perTryTimeout"),
                            format!("perTryTimeout {:?} is longer than the route timeout {:?}, so no retry can happen after a timed-out try", per, total),
                            "make perTryTimeout shorter than timeout",
                        );
                    }
                }
            }
            if let Some(f) = &r.fault {
                if let Some(d) = &f.delay {
                    if d.fixed_delay.is_none() {
                        self.push(
                            p,
                            codes::SCHEMA,
                            Level::Error,
                            &format!("{rp}.fault.delay"),
                            "a delay fault needs fixedDelay".into(),
                            "add fixedDelay: 2s",
                        );
                    }
                    if d.percent.is_some() {
                        self.push(
                            p,
                            codes::DEPRECATED,
                            Level::Warning,
                            &format!("{rp}.fault.delay.percent"),
                            "fault.delay.percent is deprecated".into(),
                            "use percentage: {value: N}",
                        );
                    }
                    if let Some(pc) = &d.percentage {
                        if !(0.0..=100.0).contains(&pc.value) {
                            self.push(
                                p,
                                codes::SCHEMA,
                                Level::Error,
                                &format!("{rp}.fault.delay.percentage"),
                                "percentage must be 0-100".into(),
                                "use a percentage",
                            );
                        }
                    }
                }
                if let Some(a) = &f.abort {
                    match a.http_status {
                        Some(s) if (200..=599).contains(&s) => {}
                        Some(s) => self.push(
                            p,
                            codes::SCHEMA,
                            Level::Error,
                            &format!("{rp}.fault.abort.httpStatus"),
                            format!("httpStatus {s} must be 200-599"),
                            "use e.g. 503",
                        ),
                        None => self.push(
                            p,
                            codes::SCHEMA,
                            Level::Error,
                            &format!("{rp}.fault.abort"),
                            "an abort fault needs httpStatus".into(),
                            "add httpStatus: 503",
                        ),
                    }
                    if let Some(pc) = &a.percentage {
                        if !(0.0..=100.0).contains(&pc.value) {
                            self.push(
                                p,
                                codes::SCHEMA,
                                Level::Error,
                                &format!("{rp}.fault.abort.percentage"),
                                "percentage must be 0-100".into(),
                                "use a percentage",
                            );
                        }
                    }
                }
            }
            for (k, m) in r.matches.iter().enumerate() {
                let mp = format!("{rp}.match[{k}]");
                let mut regexes: Vec<(String, &StringMatch)> = Vec::new();
                if let Some(u) = &m.uri {
                    regexes.push((format!("{mp}.uri"), u));
                }
                for (h, v) in &m.headers {
                    if h.chars().any(|c| c.is_ascii_uppercase()) {
                        self.push(
                            p,
                            codes::SCHEMA,
                            Level::Error,
                            &format!("{mp}.headers.{h}"),
                            format!("header name '{h}' must be lowercase"),
                            "write header names in lowercase",
                        );
                    }
                    regexes.push((format!("{mp}.headers.{h}"), v));
                }
                for (path, sm) in regexes {
                    if let StringMatch::Regex(re) = sm {
                        if let Err(e) = regex::Regex::new(re) {
                            let first = e
                                .to_string()
                                .lines()
                                .last()
                                .unwrap_or_default()
                                .trim()
                                .to_string();
                            self.push(
                                p,
                                codes::SCHEMA,
                                Level::Error,
                                &path,
                                format!("invalid regex '{re}': {first}"),
                                "fix the regular expression (RE2 syntax)",
                            );
                        }
                    }
                }
            }
        }
        self.rule_shadowing(p, vs);
        for (i, g) in spec.gateways.iter().enumerate() {
            if g == "mesh" {
                continue;
            }
            let gp = format!("spec.gateways[{i}]");
            let Some(gw) = self.gateway(g, &ns).cloned() else {
                self.push(
                    p,
                    codes::REFERENCED_NOT_FOUND,
                    Level::Error,
                    &gp,
                    format!("Referenced gateway not found: \"{g}\""),
                    "apply the Gateway first, or fix the name (ns/name)",
                );
                continue;
            };
            for (h_i, host) in spec.hosts.iter().enumerate() {
                let ok = gw
                    .spec
                    .servers
                    .iter()
                    .flat_map(|s| s.hosts.iter())
                    .any(|sh| server_host_matches(sh, gw.metadata.ns(), host, &ns));
                if !ok {
                    self.push(
                        p,
                        codes::HOST_NOT_IN_GATEWAY,
                        Level::Warning,
                        &format!("spec.hosts[{h_i}]"),
                        format!("one or more host [{host}] defined in VirtualService {ns}/{} not found in Gateway {}/{}.", vs.metadata.name, gw.metadata.ns(), gw.metadata.name),
                        "add the host to the Gateway's servers, or remove it from the VirtualService",
                    );
                }
            }
        }
    }

    /// IST0130 / IST0131: rules after a catch-all never match; matches
    /// covered by an earlier match are ineffective.
    fn rule_shadowing(&mut self, p: &Parsed, vs: &Object<VirtualService>) {
        let http = &vs.spec.http;
        let mut catch_all: Option<usize> = None;
        for (i, r) in http.iter().enumerate() {
            if let Some(c) = catch_all {
                self.push(
                    p,
                    codes::UNREACHABLE_RULE,
                    Level::Warning,
                    &format!("spec.http[{i}]"),
                    format!("VirtualService rule #{i} not used (only the last rule can have no matches; rule #{c} matches everything)"),
                    "move the rule without a match to the end",
                );
                continue;
            }
            if r.matches.is_empty() {
                catch_all = Some(i);
                continue;
            }
            let mut covered = 0;
            for (k, m) in r.matches.iter().enumerate() {
                let earlier = http[..i]
                    .iter()
                    .enumerate()
                    .flat_map(|(j, e)| e.matches.iter().enumerate().map(move |(l, em)| (j, l, em)))
                    .chain(r.matches[..k].iter().enumerate().map(|(l, em)| (i, l, em)))
                    .find(|(_, _, em)| covers(em, m));
                if let Some((j, l, _)) = earlier {
                    covered += 1;
                    self.push(
                        p,
                        codes::INEFFECTIVE_MATCH,
                        Level::Info,
                        &format!("spec.http[{i}].match[{k}]"),
                        format!("VirtualService rule #{i} match #{k} is not used (duplicate/overlapping match in rule #{j} match #{l})"),
                        "remove the match, or make it more specific than the earlier one",
                    );
                }
            }
            if covered == r.matches.len() {
                self.push(
                    p,
                    codes::UNREACHABLE_RULE,
                    Level::Warning,
                    &format!("spec.http[{i}]"),
                    format!("VirtualService rule #{i} not used (all matches used by prior rules)"),
                    "remove the rule, or reorder the rules",
                );
            }
        }
    }

    fn destination_rule(&mut self, p: &Parsed, dr: &Object<DestinationRule>) {
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
        let svc = self.ctx.service(&spec.host, &ns).cloned();
        if svc.is_none() && !wildcard(&spec.host) {
            self.push(
                p,
                codes::UNKNOWN_DR_HOST,
                Level::Warning,
                "spec.host",
                format!(
                    "DestinationRule for host \"{}\" does not match any service in the mesh",
                    spec.host
                ),
                "use the name of a service in the mesh",
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
            if let Some(svc) = &svc {
                let selected = self.ctx.pods.iter().any(|pod| {
                    pod.namespace == svc.namespace
                        && selects(&svc.selector, &pod.labels)
                        && selects(&s.labels, &pod.labels)
                });
                if !selected {
                    self.push(
                        p,
                        codes::SUBSET_NO_PODS,
                        Level::Error,
                        &sp,
                        format!("The Subset {} defined in the DestinationRule does not select any pods, which may lead to 503 UH (NoHealthyUpstream).", s.name),
                        "fix the subset's labels to match a version that runs",
                    );
                }
            }
            if let Some(tp) = &s.traffic_policy {
                self.traffic_policy(
                    p,
                    tp,
                    &format!("{sp}.trafficPolicy"),
                    &ns,
                    &spec.host,
                    &dr.metadata.name,
                );
            }
        }
        if let Some(tp) = &spec.traffic_policy {
            self.traffic_policy(
                p,
                tp,
                "spec.trafficPolicy",
                &ns,
                &spec.host,
                &dr.metadata.name,
            );
        }
    }

    fn traffic_policy(
        &mut self,
        p: &Parsed,
        tp: &TrafficPolicy,
        path: &str,
        ns: &str,
        host: &str,
        name: &str,
    ) {
        if let Some(lb) = &tp.load_balancer {
            if let Some(simple) = &lb.simple {
                if ![
                    "ROUND_ROBIN",
                    "LEAST_REQUEST",
                    "LEAST_CONN",
                    "RANDOM",
                    "PASSTHROUGH",
                    "UNSPECIFIED",
                ]
                .contains(&simple.as_str())
                {
                    self.push(
                        p,
                        codes::SCHEMA,
                        Level::Error,
                        &format!("{path}.loadBalancer.simple"),
                        format!("unknown load balancer '{simple}'"),
                        "use ROUND_ROBIN, LEAST_REQUEST or RANDOM",
                    );
                }
            }
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
                    self.push(p, codes::SCHEMA, Level::Error, &wp, format!("{wp}.duration: Required value"), "add duration: 60s");
                }
                if w.minimum_percent.is_some_and(|v| !(0.0..=100.0).contains(&v)) {
                    self.push(p, codes::SCHEMA, Level::Error, &format!("{wp}.minimumPercent"), format!("{wp}.minimumPercent: Invalid value (0-100)"), "use a percentage");
                }
                if w.aggression.is_some_and(|v| v < 1.0) {
                    self.push(p, codes::SCHEMA, Level::Error, &format!("{wp}.aggression"), format!("{wp}.aggression: Invalid value (at least 1)"), "use 1.0 for a linear ramp");
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
                for (i, d) in l.distribute.iter().enumerate() {
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
        let tls_warn = |tls: &ClientTlsSettings| {
            matches!(tls.mode.as_deref(), Some("SIMPLE") | Some("MUTUAL"))
                && tls.ca_certificates.is_none()
                && tls.credential_name.is_none()
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
                    "set caCertificates (or credentialName)",
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
                            "DestinationRule {ns}/{name} in namespace {ns} has TLS mode set to {} but no caCertificates are set to validate server identity for host: {host} at port number: {}",
                            tls.mode.clone().unwrap_or_default(),
                            pl.port.as_ref().map_or(0, |p| p.number)
                        ),
                        "set caCertificates (or credentialName)",
                    );
                }
            }
        }
    }

    fn gateway_checks(&mut self, p: &Parsed, gw: &Object<Gateway>) {
        let spec = &gw.spec;
        if spec.servers.is_empty() {
            self.push(
                p,
                codes::SCHEMA,
                Level::Error,
                "spec",
                "a Gateway needs at least one server".into(),
                "add servers: [{port: {number: 443, protocol: HTTPS}, hosts: [...]}]",
            );
        }
        for (i, s) in spec.servers.iter().enumerate() {
            let sp = format!("spec.servers[{i}]");
            if s.hosts.is_empty() {
                self.push(
                    p,
                    codes::SCHEMA,
                    Level::Error,
                    &sp,
                    format!("{sp}.hosts is required"),
                    "list the hosts this server accepts",
                );
            }
            if s.port.number == 0 || s.port.number > 65535 {
                self.push(
                    p,
                    codes::SCHEMA,
                    Level::Error,
                    &format!("{sp}.port"),
                    "port.number must be 1-65535".into(),
                    "set port.number",
                );
            }
            if let Some(proto) = &s.port.protocol {
                if ![
                    "HTTP", "HTTPS", "HTTP2", "GRPC", "TCP", "TLS", "MONGO", "REDIS", "MYSQL",
                    "GRPC-WEB",
                ]
                .contains(&proto.to_ascii_uppercase().as_str())
                {
                    self.push(
                        p,
                        codes::SCHEMA,
                        Level::Error,
                        &format!("{sp}.port.protocol"),
                        format!("unknown protocol '{proto}'"),
                        "use HTTP, HTTPS, HTTP2, GRPC, TCP or TLS",
                    );
                }
            }
        }
        let gw_pods: Vec<&PodInfo> = self
            .ctx
            .pods
            .iter()
            .filter(|pod| !spec.selector.is_empty() && selects(&spec.selector, &pod.labels))
            .collect();
        if gw_pods.is_empty() && !spec.selector.is_empty() {
            let sel: Vec<String> = spec
                .selector
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            self.push(
                p,
                codes::REFERENCED_NOT_FOUND,
                Level::Error,
                "spec.selector",
                format!("Referenced selector not found: \"{}\"", sel.join(",")),
                "select the ingress gateway with `istio: ingressgateway`",
            );
        } else if !gw_pods.is_empty() {
            let ports: Vec<u16> = self
                .ctx
                .services
                .iter()
                .filter(|s| {
                    !s.selector.is_empty()
                        && gw_pods.iter().any(|pod| selects(&s.selector, &pod.labels))
                })
                .flat_map(|s| s.ports.iter().copied())
                .collect();
            if !ports.is_empty() {
                for (i, s) in spec.servers.iter().enumerate() {
                    if !ports.contains(&(s.port.number as u16)) {
                        self.push(
                            p,
                            codes::GATEWAY_PORT_NOT_ON_SERVICE,
                            Level::Warning,
                            &format!("spec.servers[{i}].port"),
                            format!("The gateway refers to a port that is not exposed on the workload. Pod selector {:?}, port {}", spec.selector, s.port.number),
                            &format!("use one of the gateway service's ports {ports:?}"),
                        );
                    }
                }
            }
        }
        // IST0145: same selector, same port, overlapping hosts.
        let others: Vec<Object<Gateway>> = self
            .effective
            .iter()
            .filter_map(|r| match r {
                Resource::Gateway(o)
                    if o.metadata.name != gw.metadata.name
                        || o.metadata.ns() != gw.metadata.ns() =>
                {
                    Some(o.clone())
                }
                _ => None,
            })
            .collect();
        for o in others {
            if o.spec.selector != spec.selector {
                continue;
            }
            for s in &spec.servers {
                for os in &o.spec.servers {
                    if s.port.number != os.port.number {
                        continue;
                    }
                    let overlap = s
                        .hosts
                        .iter()
                        .any(|h| os.hosts.iter().any(|oh| hosts_overlap(h, oh)));
                    if overlap {
                        let sel: Vec<String> = spec
                            .selector
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect();
                        self.push(
                            p,
                            codes::CONFLICTING_GATEWAYS,
                            Level::Error,
                            "spec.servers",
                            format!(
                                "Conflict with gateways {}/{} (workload selector {}, port {}, hosts {:?}).",
                                o.metadata.ns(),
                                o.metadata.name,
                                sel.join(","),
                                s.port.number,
                                s.hosts
                            ),
                            "give the gateways different ports or hosts",
                        );
                        return;
                    }
                }
            }
        }
    }

    fn peer_authentication(&mut self, p: &Parsed, pa: &Object<PeerAuthentication>) {
        let mut modes: Vec<(String, &MtlsSetting)> = pa
            .spec
            .mtls
            .iter()
            .map(|m| ("spec.mtls.mode".to_string(), m))
            .collect();
        modes.extend(
            pa.spec
                .port_level_mtls
                .iter()
                .flatten()
                .map(|(port, m)| (format!("spec.portLevelMtls.{port}.mode"), m)),
        );
        for (path, m) in modes {
            match m.mode.as_deref() {
                None | Some("UNSET") | Some("PERMISSIVE") | Some("STRICT") => {}
                Some("DISABLE") => self.push(
                    p,
                    codes::MESHCON_SEMANTICS,
                    Level::Info,
                    &path,
                    "meshcon serves DISABLE like PERMISSIVE: its sidecars always originate mTLS, so plaintext peers are accepted but mTLS ones are too".into(),
                    "use PERMISSIVE to say what happens",
                ),
                Some(other) => self.push(p, codes::SCHEMA, Level::Error, &path, format!("unknown mTLS mode '{other}'"), "use STRICT, PERMISSIVE, DISABLE or UNSET"),
            }
        }
        if let Some(plm) = &pa.spec.port_level_mtls {
            if plm.is_empty() {
                self.push(p, codes::SCHEMA, Level::Error, "spec.portLevelMtls", "spec.portLevelMtls in body should have at least 1 properties".into(), "remove portLevelMtls or list a port");
            } else if pa.spec.selector.is_none() {
                self.push(p, codes::SCHEMA, Level::Error, "spec.portLevelMtls", "portLevelMtls requires selector".into(), "add selector.matchLabels, or use spec.mtls for every port");
            }
            for port in plm.keys() {
                match port.parse::<u64>() {
                    Ok(n) if (1..=65535).contains(&n) => {}
                    Ok(_) => self.push(p, codes::SCHEMA, Level::Error, &format!("spec.portLevelMtls.{port}"), format!("port {port}: port must be between 1-65535"), "use a port number"),
                    Err(_) => self.push(p, codes::SCHEMA, Level::Error, &format!("spec.portLevelMtls.{port}"), format!("'{port}': type conversion error from string to port number"), "use a port number as the key"),
                }
            }
            if !plm.is_empty() {
                self.push(p, codes::UNSUPPORTED_FIELD, Level::Warning, "spec.portLevelMtls", "portLevelMtls is analysed but not applied: meshcon sidecars have one inbound port".into(), "use spec.mtls.mode");
            }
        }
    }

    fn authorization_policy(&mut self, p: &Parsed, ap: &Object<AuthorizationPolicy>) {
        match ap.spec.action.as_deref() {
            None | Some("ALLOW") | Some("DENY") | Some("AUDIT") => {}
            Some("CUSTOM") => self.push(p, codes::UNSUPPORTED_FIELD, Level::Warning, "spec.action", "action CUSTOM (external authorization) is not implemented by meshcon; the policy is ignored".into(), "use ALLOW or DENY"),
            Some(other) => self.push(p, codes::SCHEMA, Level::Error, "spec.action", format!("unknown action '{other}'"), "use ALLOW, DENY or AUDIT"),
        }
        for (i, r) in ap.spec.rules.iter().enumerate() {
            for (j, f) in r.from.iter().enumerate() {
                for (k, pr) in f.source.principals.iter().enumerate() {
                    if pr != "*" && !pr.contains('/') && !pr.starts_with('*') && !pr.ends_with('*')
                    {
                        self.push(
                            p,
                            codes::SCHEMA,
                            Level::Warning,
                            &format!("spec.rules[{i}].from[{j}].source.principals[{k}]"),
                            format!("principal '{pr}' will never match: principals look like <trust-domain>/ns/<namespace>/sa/<service-account>"),
                            "write e.g. eu.mesh/ns/default/sa/user",
                        );
                    }
                }
            }
        }
    }
}

/// Whether an earlier match `a` catches every request `b` would.
fn covers(a: &HttpMatchRequest, b: &HttpMatchRequest) -> bool {
    let sm = |a: &Option<StringMatch>, b: &Option<StringMatch>| match (a, b) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(x), Some(y)) => string_covers(x, y),
    };
    sm(&a.uri, &b.uri)
        && sm(&a.method, &b.method)
        && sm(&a.authority, &b.authority)
        && sm(&a.scheme, &b.scheme)
        && a.headers
            .iter()
            .all(|(k, v)| b.headers.get(k).is_some_and(|bv| string_covers(v, bv)))
        && a.query_params
            .iter()
            .all(|(k, v)| b.query_params.get(k).is_some_and(|bv| string_covers(v, bv)))
        && a.without_headers
            .iter()
            .all(|(k, v)| b.without_headers.get(k) == Some(v))
        && a.source_labels
            .iter()
            .all(|(k, v)| b.source_labels.get(k) == Some(v))
        && (a.source_namespace.is_none() || a.source_namespace == b.source_namespace)
        && (a.port.is_none() || a.port == b.port)
        && (a.gateways.is_empty() || a.gateways.iter().all(|g| b.gateways.contains(g)))
        && a.ignore_uri_case == b.ignore_uri_case
}

fn string_covers(a: &StringMatch, b: &StringMatch) -> bool {
    match (a, b) {
        (StringMatch::Exact(x), StringMatch::Exact(y)) => x == y,
        (StringMatch::Prefix(x), StringMatch::Exact(y))
        | (StringMatch::Prefix(x), StringMatch::Prefix(y)) => y.starts_with(x.as_str()),
        (StringMatch::Regex(x), StringMatch::Regex(y)) => x == y,
        (StringMatch::Regex(x), StringMatch::Exact(y)) => {
            regex::Regex::new(&format!("^(?:{x})$")).is_ok_and(|r| r.is_match(y))
        }
        _ => false,
    }
}

fn host_matches_pattern(pattern: &str, host: &str) -> bool {
    pattern == "*"
        || pattern == host
        || pattern.strip_prefix('*').is_some_and(|s| host.ends_with(s))
        || {
            // A VS host wildcard is served by a server with the same or a wider wildcard.
            host.strip_prefix('*')
                .is_some_and(|hs| pattern.strip_prefix('*').is_some_and(|ps| hs.ends_with(ps)))
        }
}

fn server_host_matches(server_host: &str, gw_ns: &str, vs_host: &str, vs_ns: &str) -> bool {
    let (ns, h) = match server_host.split_once('/') {
        Some((".", h)) => (gw_ns, h),
        Some((ns, h)) => (ns, h),
        None => ("*", server_host),
    };
    (ns == "*" || ns == vs_ns) && host_matches_pattern(h, vs_host)
}

fn hosts_overlap(a: &str, b: &str) -> bool {
    let strip = |h: &str| h.rsplit('/').next().unwrap_or(h).to_string();
    let (a, b) = (strip(a), strip(b));
    host_matches_pattern(&a, &b) || host_matches_pattern(&b, &a)
}

/// Analyses `parsed` (new resources) against `existing` resources and the mesh.
pub fn analyze(
    file: &str,
    parsed: &[Parsed],
    existing: &[Resource],
    ctx: &Context,
) -> Vec<Finding> {
    let new_keys: BTreeSet<ResourceKey> = parsed.iter().map(|p| p.resource.key()).collect();
    let mut effective: Vec<Resource> = existing
        .iter()
        .filter(|r| !new_keys.contains(&r.key()))
        .cloned()
        .collect();
    effective.extend(parsed.iter().map(|p| p.resource.clone()));
    let mut c = Checker {
        file,
        ctx,
        effective,
        out: Vec::new(),
    };
    for p in parsed {
        match &p.resource {
            Resource::VirtualService(vs) => c.virtual_service(p, vs),
            Resource::DestinationRule(dr) => c.destination_rule(p, dr),
            Resource::Gateway(g) => c.gateway_checks(p, g),
            Resource::PeerAuthentication(pa) => c.peer_authentication(p, pa),
            Resource::AuthorizationPolicy(ap) => c.authorization_policy(p, ap),
        }
    }
    // IST0109: several VirtualServices for the mesh defining one host.
    let mut by_host: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &c.effective {
        if let Resource::VirtualService(vs) = r {
            if super::scope::vs_applies_to_mesh(&vs.spec) {
                for h in &vs.spec.hosts {
                    by_host
                        .entry(normalize_host(h, vs.metadata.ns()))
                        .or_default()
                        .push(format!("{}/{}", vs.metadata.ns(), vs.metadata.name));
                }
            }
        }
    }
    for p in parsed {
        let Resource::VirtualService(vs) = &p.resource else {
            continue;
        };
        if !super::scope::vs_applies_to_mesh(&vs.spec) {
            continue;
        }
        let me = format!("{}/{}", vs.metadata.ns(), vs.metadata.name);
        for (i, h) in vs.spec.hosts.iter().enumerate() {
            let fq = normalize_host(h, vs.metadata.ns());
            let Some(all) = by_host.get(&fq) else {
                continue;
            };
            let mut names = all.clone();
            names.sort();
            names.dedup();
            if names.len() > 1 {
                c.push(
                    p,
                    codes::CONFLICTING_MESH_HOSTS,
                    Level::Error,
                    &format!("spec.hosts[{i}]"),
                    format!(
                        "The VirtualServices {} associated with mesh define the same host ({fq}) which can lead to undefined behavior. This can be fixed by merging the conflicting VirtualServices into a single resource.",
                        names.join(",")
                    ),
                    &format!("merge the routes into one VirtualService ({me} is one of them)"),
                );
            }
        }
    }
    c.out
}
