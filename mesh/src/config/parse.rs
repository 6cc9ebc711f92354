//! Parsing Istio YAML into typed resources, keeping positions: schema
//! errors (wrong types, bad durations, unknown fields) become findings with
//! `file:line:col`, and fields Istio has but meshcon does not implement are
//! reported as warnings, never dropped in silence.
//!
//! - `fields`: what meshcon knows of Istio's schema beyond the typed model
//!   (Istio fields it ignores with a warning, enum values of string fields);
//!   `tests/mesh/analyze/schema.rs` checks both against Istio's CRDs.
//! - `service_entry`: Istio's ServiceEntry rules, IST0134 and IST0177.
//!
//! Kubernetes objects (Service, Pod, Namespace, Deployment) are read too:
//! they are never applied, but analysis uses them the way `istioctl analyze`
//! uses files that carry the services and pods they refer to.

mod fields;
mod service_entry;

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::model::{Metadata, Object, Resource, ServiceEntry};
use super::{codes, Finding, Level};
use crate::yaml::{self, Document, Pos, SpanIndex};
use fields::{enum_mistakes, istio_only, KUBE_METADATA_FIELDS};
use service_entry::{addresses_required, conflicting_protocols, service_entry_mistakes, Declared};

/// A resource and where it came from.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The typed resource.
    pub resource: Resource,
    /// Positions in its document.
    pub spans: SpanIndex,
    /// Where its document starts.
    pub start: Pos,
}

/// A Kubernetes object found among the resources (analysis context only).
#[derive(Debug, Clone)]
pub enum KubeObject {
    /// A Service: name, namespace, ports, selector, visibility.
    Service {
        /// `metadata.name`, the first label of the service's host.
        name: String,
        /// Namespace, the second label of its host; pods it selects live here.
        namespace: String,
        /// `spec.ports[].port`; several make a destination port required.
        ports: Vec<u16>,
        /// The TCP ports reaching the pods: each `targetPort` given as a
        /// number, else the `port`. Gateways listen on these.
        target_ports: Vec<u16>,
        /// Pod selector.
        selector: BTreeMap<String, String>,
        /// The `networking.istio.io/exportTo` annotation, split; empty means everywhere.
        export_to: Vec<String>,
    },
    /// Hosts a ServiceEntry adds to the registry.
    ExternalHosts {
        /// `spec.hosts`, wildcards allowed.
        hosts: Vec<String>,
        /// `spec.ports[].number`.
        ports: Vec<u16>,
        /// The ServiceEntry's namespace.
        namespace: String,
        /// `spec.exportTo`; empty means everywhere.
        export_to: Vec<String>,
    },
    /// A pod (or a Deployment's pod template): namespace and labels.
    Pod {
        /// Name (the Deployment's, for a pod template).
        name: String,
        /// Namespace; a Service selects only pods of its own.
        namespace: String,
        /// Labels that Services and subsets select by.
        labels: BTreeMap<String, String>,
        /// `spec.nodeName`, whose topology labels the pod's endpoints carry.
        node: Option<String>,
    },
    /// A node: its labels give pods their region and zone.
    Node {
        /// Name, which `spec.nodeName` of a pod refers to.
        name: String,
        /// Labels; the topology ones are copied onto its pods.
        labels: BTreeMap<String, String>,
    },
    /// A namespace the input declares.
    Namespace {
        /// Name, so hosts in it count as checkable without a mesh.
        name: String,
    },
    /// A Kubernetes Gateway API Gateway (`gateway.networking.k8s.io`):
    /// VirtualServices may bind to it, so analysis knows its hostnames.
    KubeGateway {
        /// Name a VirtualService's `gateways` entry refers to.
        name: String,
        /// Namespace, the `ns/` of such a reference.
        namespace: String,
        /// Listener hostnames; a listener without one accepts any host.
        hostnames: Vec<String>,
    },
}

/// Everything read from one text.
#[derive(Debug, Default)]
pub struct ParseOutput {
    /// Istio resources, in input order, with their positions.
    pub resources: Vec<Parsed>,
    /// Kubernetes objects, for the analysis context only.
    pub kube: Vec<KubeObject>,
    /// Syntax and schema findings, before cross-resource analysis.
    pub findings: Vec<Finding>,
}

const NETWORKING: &[&str] = &[
    "networking.istio.io/v1",
    "networking.istio.io/v1beta1",
    "networking.istio.io/v1alpha3",
];
const SECURITY: &[&str] = &["security.istio.io/v1", "security.istio.io/v1beta1"];

/// `spec.http[0].match[1]` to `spec.http.match`.
fn without_indices(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Renders a serde_ignored path in our `a.b[0].c` form.
fn ignored_path(p: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path as P;
    match p {
        P::Root => String::new(),
        P::Seq { parent, index } => format!("{}[{index}]", ignored_path(parent)),
        P::Map { parent, key } => yaml::join_key(&ignored_path(parent), key),
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            ignored_path(parent)
        }
    }
}

/// Renders a serde_path_to_error path in our form.
fn error_path(p: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment as S;
    let mut out = String::new();
    for seg in p.iter() {
        match seg {
            S::Seq { index } => out = yaml::join_index(&out, *index),
            S::Map { key } => out = yaml::join_key(&out, key),
            S::Enum { variant } => out = yaml::join_key(&out, variant),
            S::Unknown => {}
        }
    }
    out
}

fn kind_name(doc: &Document) -> String {
    let v = &doc.value;
    format!(
        "{} {}/{}",
        v["kind"].as_str().unwrap_or("?"),
        v["metadata"]["namespace"].as_str().unwrap_or("default"),
        v["metadata"]["name"].as_str().unwrap_or("?")
    )
}

/// Deserializes a document as `Object<S>`, reporting type errors and every
/// unknown field with its position.
fn typed<S: DeserializeOwned>(
    file: &str,
    doc: &Document,
    findings: &mut Vec<Finding>,
) -> Option<Object<S>> {
    let resource = kind_name(doc);
    let mut value = doc.value.clone();
    if let Some(o) = value.as_object_mut() {
        o.remove("kind");
        o.remove("status");
        o.remove("_err");
    }
    let first: Result<Object<S>, _> = serde_path_to_error::deserialize(value.clone());
    if let Err(e) = first {
        let path = error_path(e.path());
        let pos = doc.spans.nearest(&path);
        let inner = e.into_inner().to_string();
        let message = if path.is_empty() {
            inner
        } else {
            format!("{path}: {inner}")
        };
        findings.push(Finding::new(
            codes::SCHEMA,
            Level::Error,
            &resource,
            message,
            "fix the field's type or value (see the Istio reference for this kind)",
            file,
            pos,
        ));
        return None;
    }
    let mut unknown = Vec::new();
    let obj: Result<Object<S>, _> =
        serde_ignored::deserialize(value, |p| unknown.push(ignored_path(&p)));
    let kind = doc.value["kind"].as_str().unwrap_or_default();
    for path in unknown {
        let field = path.rsplit(['.', '[']).next().unwrap_or(&path).to_string();
        let plain = without_indices(&path);
        let parent = plain
            .strip_suffix(&field)
            .unwrap_or_default()
            .trim_end_matches('.');
        if parent == "metadata" && KUBE_METADATA_FIELDS.contains(&field.as_str()) {
            continue;
        }
        let pos = doc
            .spans
            .key(&path)
            .unwrap_or_else(|| doc.spans.nearest(&path));
        if istio_only(kind, parent, &field) {
            findings.push(Finding::new(
                codes::UNSUPPORTED_FIELD,
                Level::Warning,
                &resource,
                format!(
                    "{path}: Istio supports `{field}` here but meshcon does not; it is ignored"
                ),
                "remove it, or expect it to have no effect in meshcon",
                file,
                pos,
            ));
        } else {
            findings.push(Finding::new(
                codes::SCHEMA,
                Level::Error,
                &resource,
                format!("{path}: unknown field `{field}`"),
                "check the spelling and the place against the Istio reference (field names are camelCase)",
                file,
                pos,
            ));
        }
    }
    obj.ok()
}

fn str_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let s = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), s)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn str_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|h| h.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn ports(v: &Value, key: &str) -> Vec<u16> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p[key].as_u64())
                .filter_map(|p| u16::try_from(p).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// A Service's TCP ports as its pods see them: a numeric `targetPort`, or
/// the `port` when the target is absent or named (as Istio's analyzer does).
fn target_ports(v: &Value) -> Vec<u16> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["protocol"].as_str().is_none_or(|proto| proto == "TCP"))
        .filter_map(|p| {
            p["targetPort"]
                .as_u64()
                .filter(|t| *t != 0)
                .or_else(|| p["port"].as_u64())
        })
        .filter_map(|p| u16::try_from(p).ok())
        .collect()
}

fn kube_object(doc: &Document) -> Option<Vec<KubeObject>> {
    let v = &doc.value;
    let ns = v["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_string();
    let name = v["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    match v["kind"].as_str()? {
        "Service" => Some(vec![KubeObject::Service {
            name,
            namespace: ns,
            ports: ports(&v["spec"]["ports"], "port"),
            target_ports: target_ports(&v["spec"]["ports"]),
            selector: str_map(&v["spec"]["selector"]),
            export_to: v["metadata"]["annotations"]["networking.istio.io/exportTo"]
                .as_str()
                .map(|a| {
                    a.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
        }]),
        "Pod" => Some(vec![KubeObject::Pod {
            name,
            namespace: ns,
            labels: str_map(&v["metadata"]["labels"]),
            node: v["spec"]["nodeName"].as_str().map(str::to_string),
        }]),
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => Some(vec![KubeObject::Pod {
            name,
            namespace: ns,
            labels: str_map(&v["spec"]["template"]["metadata"]["labels"]),
            node: None,
        }]),
        "Node" => Some(vec![KubeObject::Node {
            name,
            labels: str_map(&v["metadata"]["labels"]),
        }]),
        "Namespace" => Some(vec![KubeObject::Namespace { name }]),
        "ServiceAccount" | "ConfigMap" | "Secret" => Some(Vec::new()),
        _ => None,
    }
}

/// Parses a (multi-document) YAML text of Istio resources.
pub fn parse(file: &str, src: &str) -> ParseOutput {
    let mut out = ParseOutput::default();
    let docs = match yaml::parse_documents(src) {
        Ok(d) => d,
        Err(e) => {
            let (message, fix) = if e.limit {
                (
                    format!("input refused: {}", e.message),
                    "keep the file within meshcon's limits (see README, Limits)",
                )
            } else {
                (
                    format!("YAML syntax error: {}", e.message),
                    "fix the YAML (indentation, quotes, a missing ':'?)",
                )
            };
            out.findings.push(Finding::new(
                codes::SYNTAX,
                Level::Error,
                "-",
                message,
                fix,
                file,
                e.pos,
            ));
            return out;
        }
    };
    // `kubectl get -o yaml` wraps what it lists in a `kind: List`: its items
    // are the documents.
    let docs = docs.into_iter().flat_map(|doc| {
        let is_list = doc.value["kind"].as_str() == Some("List")
            && doc.value["apiVersion"].as_str() == Some("v1");
        match (is_list, doc.value["items"].as_array()) {
            (true, Some(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let prefix = format!("items[{i}]");
                    let spans = doc.spans.subtree(&prefix);
                    crate::yaml::Document {
                        value: item.clone(),
                        start: spans.value("").unwrap_or(doc.start),
                        spans,
                    }
                })
                .collect::<Vec<_>>(),
            _ => vec![doc],
        }
    });
    // ServiceEntries, for the conflicts between them (IST0177).
    let mut entries = Vec::new();
    for doc in docs {
        let v = &doc.value;
        if !v.is_object() {
            out.findings.push(Finding::new(
                codes::SCHEMA,
                Level::Error,
                "-",
                "a resource must be a mapping with apiVersion, kind, metadata and spec".to_string(),
                "start the document with `apiVersion:`",
                file,
                doc.start,
            ));
            continue;
        }
        let api = v["apiVersion"].as_str().unwrap_or("").to_string();
        let kind = v["kind"].as_str().unwrap_or("").to_string();
        let resource = kind_name(&doc);
        let at = |p: &str| doc.spans.nearest(p);
        if kind.is_empty() || api.is_empty() {
            let missing = if kind.is_empty() {
                "kind"
            } else {
                "apiVersion"
            };
            out.findings.push(Finding::new(
                codes::SCHEMA,
                Level::Error,
                &resource,
                format!("`{missing}` is missing"),
                "every resource needs apiVersion and kind",
                file,
                doc.start,
            ));
            continue;
        }
        if api == "v1" || api.starts_with("apps/") {
            if let Some(objs) = kube_object(&doc) {
                out.kube.extend(objs);
                continue;
            }
        }
        if kind == "ServiceEntry" && NETWORKING.contains(&api.as_str()) {
            // Typed only to find unknown fields and wrong types: meshcon
            // keeps what analysis needs from the raw value below.
            let _ = typed::<ServiceEntry>(file, &doc, &mut out.findings);
            enum_findings(file, &doc, &kind, &mut out.findings);
            for (path, message, fix) in service_entry_mistakes(&v["spec"]) {
                out.findings.push(Finding::new(
                    codes::SCHEMA,
                    Level::Error,
                    &resource,
                    message,
                    fix,
                    file,
                    doc.spans.nearest(&path),
                ));
            }
            for (path, message, fix) in addresses_required(&v["spec"]) {
                out.findings.push(Finding::new(
                    codes::SERVICE_ENTRY_ADDRESSES_REQUIRED,
                    Level::Warning,
                    &resource,
                    message,
                    fix,
                    file,
                    doc.spans.nearest(&path),
                ));
            }
            let namespace = v["metadata"]["namespace"].as_str().unwrap_or("default");
            let name = v["metadata"]["name"].as_str().unwrap_or("?");
            entries.push((
                Declared::new(format!("{namespace}/{name}"), namespace.into(), &v["spec"]),
                resource.clone(),
                doc.spans.nearest("metadata.name"),
            ));
            out.kube.push(KubeObject::ExternalHosts {
                hosts: str_list(&v["spec"]["hosts"]),
                ports: ports(&v["spec"]["ports"], "number"),
                namespace: v["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("default")
                    .to_string(),
                export_to: str_list(&v["spec"]["exportTo"]),
            });
            out.findings.push(Finding::new(
                codes::UNSUPPORTED_KIND,
                Level::Warning,
                &resource,
                "ServiceEntry is read for analysis (its hosts count as known) but meshcon does not route to outside hosts".into(),
                "traffic to these hosts will get 404 NR from meshcon sidecars",
                file,
                at("kind"),
            ));
            continue;
        }
        if kind == "Gateway" && api.starts_with("gateway.networking.k8s.io/") {
            let listeners = v["spec"]["listeners"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            out.kube.push(KubeObject::KubeGateway {
                name: v["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                namespace: v["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("default")
                    .to_string(),
                hostnames: listeners
                    .iter()
                    .map(|l| l["hostname"].as_str().unwrap_or("*").to_string())
                    .collect(),
            });
            out.findings.push(Finding::new(
                codes::UNSUPPORTED_KIND,
                Level::Warning,
                &resource,
                format!("the Kubernetes Gateway API ({api}) is read for analysis (VirtualServices may name it) but meshcon does not serve it"),
                "use a networking.istio.io/v1 Gateway for meshcon's ingress",
                file,
                at("kind"),
            ));
            continue;
        }
        let group_ok = match kind.as_str() {
            "VirtualService" | "DestinationRule" | "Gateway" => NETWORKING.contains(&api.as_str()),
            "PeerAuthentication" | "AuthorizationPolicy" | "RequestAuthentication" => {
                SECURITY.contains(&api.as_str())
            }
            _ => {
                out.findings.push(Finding::new(
                    codes::UNSUPPORTED_KIND,
                    Level::Warning,
                    &resource,
                    format!("kind {kind} ({api}) is not implemented by meshcon; the document is skipped"),
                    "meshcon implements VirtualService, DestinationRule, Gateway, PeerAuthentication, RequestAuthentication and AuthorizationPolicy",
                    file,
                    at("kind"),
                ));
                continue;
            }
        };
        if !group_ok {
            out.findings.push(Finding::new(
                codes::SCHEMA,
                Level::Error,
                &resource,
                format!("apiVersion {api} does not serve {kind}"),
                match kind.as_str() {
                    "PeerAuthentication" | "AuthorizationPolicy" | "RequestAuthentication" => {
                        "use security.istio.io/v1"
                    }
                    _ => "use networking.istio.io/v1",
                },
                file,
                at("apiVersion"),
            ));
            continue;
        }
        if api.ends_with("v1alpha3") || (api.ends_with("v1beta1") && kind != "Gateway") {
            out.findings.push(Finding::new(
                codes::DEPRECATED,
                Level::Info,
                &resource,
                format!("{api} is an older version of the API; it is read as v1"),
                "write apiVersion: networking.istio.io/v1 (or security.istio.io/v1)",
                file,
                at("apiVersion"),
            ));
        }
        let meta: Metadata = serde_json::from_value(v["metadata"].clone()).unwrap_or_default();
        if meta.name.is_empty() {
            out.findings.push(Finding::new(
                codes::SCHEMA,
                Level::Error,
                &resource,
                "metadata.name is required".to_string(),
                "give the resource a name",
                file,
                at("metadata"),
            ));
            continue;
        }
        if !is_dns_subdomain(&meta.name) {
            out.findings.push(Finding::new(
                codes::SCHEMA,
                Level::Error,
                &resource,
                format!(
                    "metadata.name '{}' must be a DNS-1123 subdomain (a-z, 0-9, '-', '.')",
                    meta.name
                ),
                "use lowercase letters, digits and dashes",
                file,
                at("metadata.name"),
            ));
            continue;
        }
        enum_findings(file, &doc, &kind, &mut out.findings);
        let f = &mut out.findings;
        let resource = match kind.as_str() {
            "VirtualService" => typed(file, &doc, f).map(Resource::VirtualService),
            "DestinationRule" => typed(file, &doc, f).map(Resource::DestinationRule),
            "Gateway" => typed(file, &doc, f).map(Resource::Gateway),
            "PeerAuthentication" => typed(file, &doc, f).map(Resource::PeerAuthentication),
            "RequestAuthentication" => typed(file, &doc, f).map(Resource::RequestAuthentication),
            _ => typed(file, &doc, f).map(Resource::AuthorizationPolicy),
        };
        if let Some(resource) = resource {
            out.resources.push(Parsed {
                resource,
                spans: doc.spans,
                start: doc.start,
            });
        }
    }
    let declared: Vec<Declared> = entries.iter().map(|(d, _, _)| d.clone()).collect();
    for (i, message) in conflicting_protocols(&declared) {
        let (_, resource, pos) = &entries[i];
        out.findings.push(Finding::new(
            codes::CONFLICTING_SERVICE_ENTRY_PROTOCOL,
            Level::Warning,
            resource,
            message,
            "use one protocol for the port in every ServiceEntry of the host, or merge them",
            file,
            *pos,
        ));
    }
    out
}

/// Reports enum values Istio's schema does not list, at the value.
fn enum_findings(file: &str, doc: &Document, kind: &str, findings: &mut Vec<Finding>) {
    for (path, message, fix) in enum_mistakes(kind, &doc.value) {
        findings.push(Finding::new(
            codes::SCHEMA,
            Level::Error,
            &kind_name(doc),
            message,
            &fix,
            file,
            doc.spans
                .value(&path)
                .unwrap_or_else(|| doc.spans.nearest(&path)),
        ));
    }
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(crate::topology::is_dns_label)
}
