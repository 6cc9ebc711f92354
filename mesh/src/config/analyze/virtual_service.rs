//! VirtualService checks: each route's shape, weights, retries, faults and
//! match regexes, and every destination's host, port and subset.

use std::collections::BTreeMap;

use super::context::Lookup;
use super::{effective_namespaces, is_host_pattern, selects, Checker};
use crate::config::model::{
    Destination, HttpFaultInjection, HttpMatchRequest, HttpRoute, Object, StringMatch,
    VirtualService,
};
use crate::config::parse::Parsed;
use crate::config::{codes, Level};
use crate::svc::RetryOn;

/// A route destination and where it sits, for the checks every route kind
/// shares.
struct DestRef<'a> {
    dest: &'a Destination,
    /// Its path in the resource, where findings point.
    path: String,
    /// A mirror target rather than a route: findings name it so, and an
    /// empty subset loses only copies.
    mirror: bool,
}

/// One destination of a route and its share, for the weight checks.
struct Weighted<'a> {
    weight: Option<i64>,
    dest: &'a Destination,
}

/// The most retry attempts a route may ask for. Istio and Envoy only bound
/// it by the integer type; each attempt is a whole request to the upstream,
/// so a route asking for more than this turns one failure into a storm.
pub const MAX_RETRY_ATTEMPTS: i64 = 100;

impl Checker<'_> {
    /// IST0101 / IST0112 / IST0106 for one destination of a VirtualService
    /// in `ns` that takes effect in `from` (its own namespace first).
    fn check_destination(&mut self, p: &Parsed, ns: &str, from: &[String], d: &DestRef<'_>) {
        let DestRef { dest, path, mirror } = d;
        if dest.host.is_empty() {
            let what = if *mirror { "mirror" } else { "destination" };
            self.push(
                p,
                codes::SCHEMA,
                Level::Error,
                path,
                format!("{path}.host is required: a {what} must name a host"),
                "name the service to send to (a route entry `- {}` has no destination at all)",
            );
            return;
        }
        let what = if *mirror { "mirror host" } else { "host" };
        let ctx = self.ctx;
        let mut found = None;
        for n in from {
            match ctx.lookup(&dest.host, ns, n) {
                Lookup::Found(s) => {
                    found.get_or_insert(s);
                }
                Lookup::Hidden(s) => {
                    let export = s.export_to.join(",");
                    self.push(
                        p,
                        codes::REFERENCED_NOT_FOUND,
                        Level::Error,
                        &format!("{path}.host"),
                        format!("Referenced {what} not found: \"{}\"", dest.host),
                        &format!(
                            "{} is exported only to [{export}], not to namespace {n}; export it there (networking.istio.io/exportTo or spec.exportTo) or narrow this resource's exportTo",
                            dest.host
                        ),
                    );
                    return;
                }
                Lookup::Missing => {
                    self.push(
                        p,
                        codes::REFERENCED_NOT_FOUND,
                        Level::Error,
                        &format!("{path}.host"),
                        format!("Referenced {what} not found: \"{}\"", dest.host),
                        "use the name of a service in the mesh (see `meshcon get services`); in Istio an outside host needs a ServiceEntry (meshcon reads one but routes only inside the mesh)",
                    );
                    return;
                }
            }
        }
        let Some(svc) = found else {
            return;
        };
        match &dest.port {
            Some(port) if !svc.ports.iter().any(|p| u32::from(*p) == port.number) => self.push(
                p,
                codes::REFERENCED_NOT_FOUND,
                Level::Error,
                &format!("{path}.port"),
                format!("Referenced host:port not found: \"{}:{}\"", dest.host, port.number),
                &format!("use one of the ports {} exposes: {:?}", dest.host, svc.ports),
            ),
            None if svc.ports.len() > 1 => self.push(
                p,
                codes::PORT_SELECTOR_REQUIRED,
                Level::Error,
                path,
                format!(
                    "This VirtualService routes to a service \"{}\" that exposes multiple ports {}. Specifying a port in the destination is required to disambiguate.",
                    dest.host,
                    go_list(&svc.ports)
                ),
                "add port: {number: <port>} to the destination",
            ),
            _ => {}
        }
    }

    /// IST0101 for a subset no DestinationRule defines.
    fn check_subset(&mut self, p: &Parsed, ns: &str, d: &DestRef<'_>) {
        let Some(subset) = &d.dest.subset else {
            return;
        };
        if d.dest.host.is_empty() {
            return;
        }
        let labels: Option<BTreeMap<String, String>> = self
            .destination_rules_for(&d.dest.host, ns)
            .iter()
            .flat_map(|dr| dr.spec.subsets.iter())
            .find(|s| &s.name == subset)
            .map(|s| s.labels.clone());
        if let Some(labels) = labels {
            let ctx = self.ctx;
            if let Lookup::Found(svc) = ctx.lookup(&d.dest.host, ns, ns) {
                let runs = svc.service_entry
                    || ctx.pods.iter().any(|pod| {
                        pod.namespace == svc.namespace
                            && selects(&svc.selector, &pod.labels)
                            && selects(&labels, &pod.labels)
                    });
                if !runs && !d.mirror {
                    self.push(
                        p,
                        codes::ROUTE_TO_EMPTY_SUBSET,
                        Level::Warning,
                        &format!("{}.subset", d.path),
                        format!(
                            "traffic routed to subset {subset} of {} will fail with 503 UH (NoHealthyUpstream): the subset selects no pods",
                            d.dest.host
                        ),
                        "deploy the version the subset selects, or route to a subset that runs",
                    );
                }
            }
        } else {
            let what = if d.mirror {
                "mirror+subset in destinationrule"
            } else {
                "host+subset in destinationrule"
            };
            self.push(
                p,
                codes::REFERENCED_NOT_FOUND,
                Level::Error,
                &format!("{}.subset", d.path),
                format!("Referenced {what} not found: \"{}+{subset}\"", d.dest.host),
                &format!(
                    "define subset '{subset}' in a DestinationRule for {}, or route to an existing subset",
                    d.dest.host
                ),
            );
        }
    }

    /// Weights: each 0-100 and, when any is given, adding up to 100.
    fn check_weights(&mut self, p: &Parsed, rp: &str, weights: &[Weighted<'_>]) {
        for (j, w) in weights.iter().enumerate() {
            if let Some(w) = w.weight {
                if !(0..=100).contains(&w) {
                    self.push(
                        p,
                        codes::SCHEMA,
                        Level::Error,
                        &format!("{rp}.route[{j}].weight"),
                        format!("weight {w} must be between 0 and 100"),
                        "use a percentage",
                    );
                }
            }
        }
        let weighted = weights.len() > 1 || weights.iter().any(|w| w.weight.is_some());
        if !weighted {
            return;
        }
        let sum: i64 = weights.iter().map(|w| w.weight.unwrap_or(0)).sum();
        if sum != 100 {
            let list: Vec<String> = weights
                .iter()
                .map(|w| {
                    format!(
                        "{}{} {}",
                        w.dest.host,
                        w.dest
                            .subset
                            .as_ref()
                            .map(|s| format!("/{s}"))
                            .unwrap_or_default(),
                        w.weight.unwrap_or(0)
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

    /// Every check of a VirtualService: each route on its own, then its
    /// destinations against the mesh, then its place among other resources.
    pub(super) fn virtual_service(&mut self, p: &Parsed, vs: &Object<VirtualService>) {
        let ns = vs.metadata.ns().to_string();
        let spec = &vs.spec;
        let from = effective_namespaces(&ns, &spec.export_to);
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
        for (i, h) in spec.hosts.iter().enumerate() {
            if !is_host_pattern(h) {
                self.push(
                    p,
                    codes::SCHEMA,
                    Level::Error,
                    &format!("spec.hosts[{i}]"),
                    format!("spec.hosts[{i}] {h:?} is not a host name"),
                    "write a DNS name (letters, digits, '-', '.'; a leading '*' for a wildcard) or an IP address",
                );
            }
        }
        let mut dests: Vec<DestRef<'_>> = Vec::new();
        for (i, r) in spec.http.iter().enumerate() {
            let rp = format!("spec.http[{i}]");
            self.http_route(p, &rp, r);
            for (j, d) in r.route.iter().enumerate() {
                dests.push(DestRef {
                    dest: &d.destination,
                    path: format!("{rp}.route[{j}].destination"),
                    mirror: false,
                });
            }
            if let Some(m) = &r.mirror {
                dests.push(DestRef {
                    dest: m,
                    path: format!("{rp}.mirror"),
                    mirror: true,
                });
            }
        }
        for (kind, routes) in [
            (
                "tcp",
                spec.tcp
                    .iter()
                    .map(|r| r.route.as_slice())
                    .collect::<Vec<_>>(),
            ),
            (
                "tls",
                spec.tls
                    .iter()
                    .map(|r| r.route.as_slice())
                    .collect::<Vec<_>>(),
            ),
        ] {
            if routes.is_empty() {
                continue;
            }
            self.push(
                p,
                codes::UNSUPPORTED_FIELD,
                Level::Warning,
                &format!("spec.{kind}"),
                format!("spec.{kind}: {} routes are analysed but meshcon sidecars route HTTP only; they are ignored", kind.to_ascii_uppercase()),
                "route this traffic as HTTP, or expect no effect in meshcon",
            );
            for (i, route) in routes.iter().enumerate() {
                let rp = format!("spec.{kind}[{i}]");
                let weights: Vec<Weighted<'_>> = route
                    .iter()
                    .map(|d| Weighted {
                        weight: d.weight,
                        dest: &d.destination,
                    })
                    .collect();
                self.check_weights(p, &rp, &weights);
                for (j, d) in route.iter().enumerate() {
                    dests.push(DestRef {
                        dest: &d.destination,
                        path: format!("{rp}.route[{j}].destination"),
                        mirror: false,
                    });
                }
            }
        }
        for d in &dests {
            self.check_destination(p, &ns, &from, d);
            self.check_subset(p, &ns, d);
        }
        self.all_rule_shadowing(p, vs);
        self.gateway_bindings(p, vs);
        self.ingress_subset_routes(p, vs);
        self.jwt_claim_routes(p, vs);
    }

    /// The checks of one HTTP route at `rp` that need nothing outside it.
    fn http_route(&mut self, p: &Parsed, rp: &str, r: &HttpRoute) {
        if r.route.is_empty() && r.redirect.is_none() {
            self.push(
                p,
                codes::SCHEMA,
                Level::Error,
                rp,
                format!("{rp} needs `route` or `redirect`"),
                "add a route with a destination",
            );
        }
        if r.redirect.is_some() && !r.route.is_empty() {
            self.push(
                p,
                codes::SCHEMA,
                Level::Error,
                rp,
                format!("{rp} has both `redirect` and `route`"),
                "keep one of them",
            );
        }
        let weights: Vec<Weighted<'_>> = r
            .route
            .iter()
            .map(|d| Weighted {
                weight: d.weight,
                dest: &d.destination,
            })
            .collect();
        self.check_weights(p, rp, &weights);
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
            } else if rt.attempts > MAX_RETRY_ATTEMPTS {
                self.push(
                    p,
                    codes::SCHEMA,
                    Level::Error,
                    &format!("{rp}.retries.attempts"),
                    format!(
                        "retries.attempts {} is more than the maximum of {MAX_RETRY_ATTEMPTS}",
                        rt.attempts
                    ),
                    "use a few attempts (Istio's default is 2) with a perTryTimeout",
                );
            }
            if let Some(on) = &rt.retry_on {
                if let Err(e) = RetryOn::parse(on) {
                    self.push(
                        p,
                        codes::SCHEMA,
                        Level::Error,
                        &format!("{rp}.retries.retryOn"),
                        e.to_string(),
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
            self.fault(p, rp, f);
        }
        self.match_conditions(p, rp, &r.matches);
    }

    /// A fault needs its value, and percentages are 0-100.
    fn fault(&mut self, p: &Parsed, rp: &str, f: &HttpFaultInjection) {
        if let Some(d) = &f.delay {
            // Istio's schema accepts a delay without its length (it then
            // delays nothing); say so rather than refuse it.
            if d.fixed_delay.is_none() {
                self.push(
                    p,
                    codes::SCHEMA_WARNING,
                    Level::Warning,
                    &format!("{rp}.fault.delay"),
                    "a delay fault without fixedDelay delays nothing".into(),
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

    /// Header names are lowercase and regexes compile.
    fn match_conditions(&mut self, p: &Parsed, rp: &str, matches: &[HttpMatchRequest]) {
        for (k, m) in matches.iter().enumerate() {
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
}

/// A list as Go's `%v` prints it: `[80 443]`.
fn go_list(items: &[u16]) -> String {
    let parts: Vec<String> = items.iter().map(u16::to_string).collect();
    format!("[{}]", parts.join(" "))
}
