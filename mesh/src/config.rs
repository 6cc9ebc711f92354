//! Istio resources: the typed model, which resources concern which workload,
//! YAML parsing with positions, and `istioctl analyze`-style validation.
//!
//! - [`model`]: VirtualService, DestinationRule, Gateway, PeerAuthentication,
//!   AuthorizationPolicy as Rust types with Istio's field names.
//! - [`parse`]: YAML to resources, with schema findings at `file:line:col`.
//! - [`analyze`]: cross-resource checks against the mesh.
//! - [`scope`]: host names, gateway binding, policy precedence.

pub mod analyze;
pub mod model;
pub mod parse;
pub mod scope;

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::topology::Topology;
use crate::yaml::{escape_control, Pos};
use model::{Metadata, Resource};

/// Finding codes: Istio's where Istio has one, `MC…` for meshcon's own.
pub mod codes {
    /// A deprecated field or API version.
    pub const DEPRECATED: &str = "IST0002";
    /// A referenced host, subset, gateway or selector does not exist.
    pub const REFERENCED_NOT_FOUND: &str = "IST0101";
    /// The resource breaks the schema.
    pub const SCHEMA: &str = "IST0106";
    /// Several mesh VirtualServices define one host.
    pub const CONFLICTING_MESH_HOSTS: &str = "IST0109";
    /// A multi-port destination without a port.
    pub const PORT_SELECTOR_REQUIRED: &str = "IST0112";
    /// DestinationRule TLS without server verification.
    pub const NO_SERVER_CERT_VERIFICATION_DEST: &str = "IST0128";
    /// The same, at port level.
    pub const NO_SERVER_CERT_VERIFICATION_PORT: &str = "IST0129";
    /// A rule that can never match.
    pub const UNREACHABLE_RULE: &str = "IST0130";
    /// A match covered by an earlier one.
    pub const INEFFECTIVE_MATCH: &str = "IST0131";
    /// A VirtualService host its Gateway does not serve.
    pub const HOST_NOT_IN_GATEWAY: &str = "IST0132";
    /// A selector that matches no workload.
    pub const NO_MATCHING_WORKLOADS: &str = "IST0127";
    /// A ServiceEntry without addresses for a TCP port.
    pub const SERVICE_ENTRY_ADDRESSES_REQUIRED: &str = "IST0134";
    /// The same certificate on several Gateways.
    pub const GATEWAY_DUPLICATE_CERTIFICATE: &str = "IST0138";
    /// Gateways with the same selector, port and hosts.
    pub const CONFLICTING_GATEWAYS: &str = "IST0145";
    /// A Gateway port the gateway's service does not expose.
    pub const GATEWAY_PORT_NOT_ON_SERVICE: &str = "IST0162";
    /// A setting that has no effect.
    pub const INEFFECTIVE: &str = "IST0167";
    /// A subset that selects no pods.
    pub const SUBSET_NO_PODS: &str = "IST0173";
    /// A DestinationRule for a host that does not exist.
    pub const UNKNOWN_DR_HOST: &str = "IST0174";
    /// The resource breaks a schema recommendation.
    pub const SCHEMA_WARNING: &str = "IST0133";
    /// A subset route that ingress gateway requests bypass.
    pub const INGRESS_ROUTE_NOT_AFFECTED: &str = "IST0140";
    /// Routing on JWT claims with nothing to validate the JWT.
    pub const JWT_CLAIM_ROUTE_WITHOUT_AUTHN: &str = "IST0149";
    /// A reference to a Gateway an implementation generated.
    pub const REFERENCED_INTERNAL_GATEWAY: &str = "IST0165";
    /// A workload selector that picks a Kubernetes Gateway's pods.
    pub const INEFFECTIVE_SELECTOR: &str = "IST0166";
    /// ServiceEntries giving one host and port different protocols.
    pub const CONFLICTING_SERVICE_ENTRY_PROTOCOL: &str = "IST0177";
    /// Error-level codes that describe the mesh's current state rather than
    /// the resource: they are reported but do not block an apply, since a
    /// subset may be defined before its pods are deployed.
    pub const ADVISORY: &[&str] = &[SUBSET_NO_PODS];
    /// YAML that does not parse.
    pub const SYNTAX: &str = "MC0001";
    /// An Istio field meshcon does not implement.
    pub const UNSUPPORTED_FIELD: &str = "MC0002";
    /// An Istio kind meshcon does not implement.
    pub const UNSUPPORTED_KIND: &str = "MC0003";
    /// Where meshcon's behaviour differs from Istio's.
    pub const MESHCON_SEMANTICS: &str = "MC0004";
    /// A route to a subset that selects no pods (Istio reports IST0173 on
    /// the DestinationRule only; the route is where the 503s come from).
    pub const ROUTE_TO_EMPTY_SUBSET: &str = "MC0005";
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Level {
    /// Blocks an apply.
    Error,
    /// Applies, but probably not what was meant.
    Warning,
    /// For information.
    Info,
}

impl Level {
    /// `Error`, `Warning` or `Info`, as istioctl prints them.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "Error",
            Level::Warning => "Warning",
            Level::Info => "Info",
        }
    }
}

/// One validation finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// `IST0101`, `MC0002`...
    pub code: &'static str,
    /// How serious: errors block an apply unless the code is advisory.
    pub level: Level,
    /// `Kind namespace/name`.
    pub resource: String,
    /// What is wrong, control characters escaped.
    pub message: String,
    /// What to do.
    pub fix: String,
    /// The file name as the user gave it.
    pub file: String,
    /// Line and column of the node at fault.
    pub pos: Pos,
}

impl Finding {
    /// A finding, with Istio's fixed prefix for schema and deprecation
    /// codes added to `message` when missing.
    pub fn new(
        code: &'static str,
        level: Level,
        resource: &str,
        message: String,
        fix: &str,
        file: &str,
        pos: Pos,
    ) -> Self {
        // Istio's templates for these codes wrap the detail in a fixed phrase.
        let prefix = match code {
            codes::SCHEMA => "Schema validation error: ",
            codes::SCHEMA_WARNING => "Schema validation warning: ",
            codes::DEPRECATED => "Deprecated: ",
            _ => "",
        };
        let message = if message.starts_with(prefix) {
            message
        } else {
            format!("{prefix}{message}")
        };
        // Names and values come from the input and reach terminals: an ESC
        // or NUL in them must show as text, not act on the terminal.
        Self {
            code,
            level,
            resource: escape_control(resource),
            message: escape_control(&message),
            fix: escape_control(fix),
            file: escape_control(file),
            pos,
        }
    }

    /// Whether its level is `Error`, as istioctl would print it.
    pub fn is_error(&self) -> bool {
        self.level == Level::Error
    }

    /// Whether it blocks an apply: an error that is not advisory
    /// ([`codes::ADVISORY`]).
    pub fn blocks(&self) -> bool {
        self.is_error() && !codes::ADVISORY.contains(&self.code)
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {} [{}] ({}) {}\n    fix: {}",
            self.file,
            self.pos.line,
            self.pos.col,
            self.level.as_str(),
            self.code,
            self.resource,
            self.message,
            self.fix
        )
    }
}

/// Parses and analyses `src` against the mesh and its current config.
/// Returns the resources and every finding, sorted by position.
pub fn check(
    file: &str,
    src: &str,
    topology: &Topology,
    current: &[Resource],
) -> (Vec<Resource>, Vec<Finding>) {
    let out = parse::parse(file, src);
    let mut ctx = analyze::Context::from_topology(topology);
    ctx.add_kube(&out.kube);
    let mut findings = out.findings;
    findings.extend(analyze::analyze(file, &out.resources, current, &ctx));
    findings.sort_by_key(|f| (f.pos.line, f.pos.col, f.level));
    let nothing = out.resources.is_empty() && out.kube.is_empty();
    let resources = out.resources.into_iter().map(|p| p.resource).collect();
    // A file of only `---` or comments holds as little as an empty one.
    if findings.is_empty() && nothing {
        findings.push(Finding::new(
            codes::SYNTAX,
            Level::Error,
            "-",
            "the input holds no resources".into(),
            "pass a file with Istio YAML",
            file,
            Pos { line: 1, col: 1 },
        ));
    }
    (resources, findings)
}

/// Analyses a file on its own, as `istioctl analyze <file>` without a cluster:
/// the registry is what the file holds plus the default ingress gateway
/// istioctl assumes, and hosts in namespaces the file never mentions are
/// not reported as missing (see [`analyze::Context::standalone`]).
pub fn analyze_standalone(file: &str, src: &str) -> Vec<Finding> {
    let out = parse::parse(file, src);
    let mut ctx = analyze::Context::standalone();
    ctx.add_kube(&out.kube);
    for p in &out.resources {
        ctx.add_namespace(p.resource.metadata().ns());
    }
    let mut findings = out.findings;
    findings.extend(analyze::analyze(file, &out.resources, &[], &ctx));
    findings
}

/// `kubectl apply`: new resources replace those with the same kind,
/// namespace and name. Returns the result and a summary of the change.
pub fn merge(current: &[Resource], new: Vec<Resource>) -> (Vec<Resource>, String) {
    let mut by_key: BTreeMap<model::ResourceKey, Resource> =
        current.iter().map(|r| (r.key(), r.clone())).collect();
    let mut parts = Vec::new();
    for r in new {
        let key = r.key();
        let verb = match by_key.get(&key) {
            None => "created",
            Some(old) if *old == r => "unchanged",
            Some(_) => "configured",
        };
        parts.push(format!("{key} {verb}"));
        by_key.insert(key, r);
    }
    (
        by_key.into_values().collect(),
        format!("apply: {}", parts.join(", ")),
    )
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Out<'a, S: Serialize> {
    api_version: &'a str,
    kind: &'a str,
    metadata: &'a Metadata,
    spec: &'a S,
}

fn out<S: Serialize>(o: &model::Object<S>, kind: &str) -> String {
    let v = Out {
        api_version: &o.api_version,
        kind,
        metadata: &o.metadata,
        spec: &o.spec,
    };
    serde_saphyr::to_string(&v).unwrap_or_default()
}

/// Resources as a multi-document YAML text.
pub fn to_yaml(resources: &[Resource]) -> String {
    resources
        .iter()
        .map(|r| match r {
            Resource::VirtualService(o) => out(o, "VirtualService"),
            Resource::DestinationRule(o) => out(o, "DestinationRule"),
            Resource::Gateway(o) => out(o, "Gateway"),
            Resource::PeerAuthentication(o) => out(o, "PeerAuthentication"),
            Resource::AuthorizationPolicy(o) => out(o, "AuthorizationPolicy"),
            Resource::RequestAuthentication(o) => out(o, "RequestAuthentication"),
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// Whether a user's kind word (`vs`, `virtualservices`, `dr`...) names `kind`.
pub fn kind_matches(word: &str, kind: &str) -> bool {
    let w = word.to_ascii_lowercase();
    let short = match kind {
        "VirtualService" => "vs",
        "DestinationRule" => "dr",
        "Gateway" => "gw",
        "PeerAuthentication" => "pa",
        "AuthorizationPolicy" => "ap",
        _ => "",
    };
    let k = kind.to_ascii_lowercase();
    w == short
        || w == k
        || w == format!("{k}s")
        || w == format!("{k}es")
        || (w == "routes" && matches!(kind, "VirtualService" | "DestinationRule" | "Gateway"))
}

/// A unified diff of two texts.
pub fn diff(a: &str, b: &str, label_a: &str, label_b: &str) -> String {
    similar::TextDiff::from_lines(a, b)
        .unified_diff()
        .context_radius(3)
        .header(label_a, label_b)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo_check(src: &str) -> (Vec<Resource>, Vec<Finding>) {
        check("f.yaml", src, &Topology::demo(), &[])
    }

    #[test]
    fn a_file_of_only_separators_holds_no_resources_like_an_empty_one() {
        for src in ["", "---\n", "---\n# nothing\n---\n"] {
            let (r, f) = demo_check(src);
            assert!(r.is_empty());
            assert!(
                f.iter()
                    .any(|f| f.level == Level::Error && f.message.contains("no resources")),
                "{src:?}: {f:?}"
            );
        }
    }

    #[test]
    fn a_kind_list_is_read_item_by_item_with_their_positions() {
        let src = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: networking.istio.io/v1\n  kind: VirtualService\n  metadata: {name: billing, namespace: default}\n  spec:\n    hosts: [billing]\n    http:\n    - route:\n      - destination: {host: billing}\n- apiVersion: networking.istio.io/v1\n  kind: DestinationRule\n  metadata: {name: auth, namespace: default}\n  spec:\n    host: auth\n    bogus: 1\n";
        let (r, f) = demo_check(src);
        assert_eq!(r.len(), 2, "both items are read: {f:?}");
        let bogus = f
            .iter()
            .find(|f| f.message.contains("bogus"))
            .expect("the second item's unknown field");
        assert_eq!((bogus.pos.line, bogus.pos.col), (17, 5), "{bogus:?}");
    }

    #[test]
    fn an_enum_value_istio_does_not_list_is_refused_at_the_value() {
        let src = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: billing, namespace: default}\nspec:\n  host: billing\n  trafficPolicy:\n    tls:\n      mode: SIMPEL\n";
        let (r, f) = demo_check(src);
        assert!(r.len() <= 1);
        let bad = f
            .iter()
            .find(|f| f.code == codes::SCHEMA && f.message.contains("SIMPEL"))
            .expect("the misspelt mode is refused");
        assert!(bad.blocks(), "{bad}");
        assert_eq!((bad.pos.line, bad.pos.col), (8, 13), "{bad}");
        assert!(
            bad.message.contains("\"ISTIO_MUTUAL\"") && bad.fix.contains("SIMPLE"),
            "{bad}"
        );
    }

    #[test]
    fn a_delay_without_its_length_is_accepted_with_a_warning() {
        let src = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: billing, namespace: default}\nspec:\n  hosts: [billing]\n  http:\n  - fault:\n      delay:\n        percentage: {value: 10}\n    route:\n    - destination: {host: billing}\n";
        let (r, f) = demo_check(src);
        assert_eq!(r.len(), 1);
        assert!(f.iter().all(|f| f.level != Level::Error), "{f:?}");
        assert!(f.iter().any(|f| f.message.contains("delays nothing")));
    }
}

#[cfg(test)]
mod service_entry_tests {
    use super::*;

    fn errors(spec: &str) -> Vec<String> {
        let src = format!(
            "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: ext, namespace: default}}\nspec:\n{spec}"
        );
        check("se.yaml", &src, &Topology::demo(), &[])
            .1
            .into_iter()
            .filter(|f| f.level == Level::Error)
            .map(|f| f.message)
            .collect()
    }

    #[test]
    fn a_valid_service_entry_passes() {
        let ok = "  hosts: [api.example.com]\n  ports: [{number: 443, name: https, protocol: TLS}]\n  resolution: DNS\n";
        assert!(errors(ok).is_empty(), "{:?}", errors(ok));
    }

    #[test]
    fn a_misspelt_service_entry_field_or_value_is_refused() {
        let typo =
            "  hosts: [a.example.com]\n  ports: [{number: 80, name: a}]\n  resolutoin: DNS\n";
        assert!(
            errors(typo)
                .iter()
                .any(|e| e.contains("unknown field `resolutoin`")),
            "{:?}",
            errors(typo)
        );
        let value =
            "  hosts: [a.example.com]\n  ports: [{number: 80, name: a}]\n  resolution: DSN\n";
        assert!(
            errors(value)
                .iter()
                .any(|e| e.contains("Unsupported value: \"DSN\"")),
            "{:?}",
            errors(value)
        );
    }

    #[test]
    fn istios_service_entry_rules_are_enforced() {
        let cases = [
            ("  ports: [{number: 80, name: http}]\n", "at least one host"),
            ("  hosts: ['*']\n  ports: [{number: 80, name: http}]\n", "invalid host *"),
            ("  hosts: [a.example.com]\n  ports: [{number: 80, name: http}]\n  resolution: STATIC\n  workloadSelector: {labels: {app: a}}\n  endpoints: [{address: 1.2.3.4}]\n", "only one of workloadSelector"),
            ("  hosts: [a.example.com]\n  addresses: [10.0.0.0/16]\n  ports: [{number: 80, name: http}]\n  resolution: DNS\n", "CIDR addresses"),
            ("  hosts: [a.example.com]\n  ports: [{number: 80, name: http}, {number: 81, name: http}]\n", "port name http is not unique"),
            ("  hosts: [a.example.com]\n  ports: [{number: 80, name: a}, {number: 80, name: b}]\n", "port number 80 is not unique"),
            ("  hosts: [a.example.com]\n  ports: [{number: 0, name: a}]\n", "between 1 and 65535"),
            ("  hosts: [a.example.com]\n  ports: [{number: 65536, name: a}]\n", "between 1 and 65535"),
            ("  hosts: [a.example.com]\n  ports: [{number: 80, name: a}]\n  resolution: NONE\n  endpoints: [{address: 1.2.3.4}]\n", "resolution type NONE"),
            ("  hosts: [a.example.com]\n  ports: [{number: 80, name: a}]\n  resolution: DNS_ROUND_ROBIN\n  endpoints: [{address: a.example.com}, {address: b.example.com}]\n", "DNS_ROUND_ROBIN"),
        ];
        for (spec, phrase) in cases {
            let e = errors(spec);
            assert!(
                e.iter().any(|m| m.contains(phrase)),
                "{phrase}: {e:?}\n{spec}"
            );
        }
    }
}
