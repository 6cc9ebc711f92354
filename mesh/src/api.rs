//! The console contract: everything a client of a mesh reads or sends.
//!
//! The console (TUI and CLI) imports this module and nothing else of the
//! mesh's insides (hosting a mesh goes through [`crate::runtime`]). It is
//! the seam a second source plugs into: a real Istio or Linkerd mesh seen
//! through Prometheus, Envoy's admin API and trace receivers fills the same
//! types.
//!
//! The contract is the console service in `proto/meshcon.proto` plus the
//! typed payloads below. Three RPCs (`Traces`, `Latency`, `Federation`)
//! carry their payload as JSON text: the structs here are that JSON's one
//! definition on both ends, decoded with [`decode`], so a renamed field is
//! a compile error rather than a `?` on screen.

use serde::de::DeserializeOwned;

pub use crate::proto::console_client::ConsoleClient;
pub use crate::proto::{
    Addresses, ApplyReply, ApplyRequest, ChaosRequest, DeleteRequest, DiffRequest, Empty, Event,
    EventsRequest, ExplainRequest, Finding, HistoryEntry, HistoryList, LatencyRequest, ProxyList,
    ProxyState, ResourcesRequest, RollbackRequest, TapEntry, TapRequest, Text, TraceQuery,
    TrustDomain, Workload, WorkloadList,
};

pub use crate::control::events::{ejected_instances, EventKind};
pub use crate::control::federation::{
    ClusterFederation, ExportedService, FederationStatus, RemoteEndpoints,
};
pub use crate::control::registry::ProxyKind;
pub use crate::control::store::StoreError;
pub use crate::runtime::plan::DEFAULT_API;
pub use crate::telemetry::collector::{
    Collector, Query as TraceStoreQuery, StoredSpan, Trace, TraceStore,
};
pub use crate::telemetry::exact::{EdgeKey, EdgeStat};
pub use crate::telemetry::golden::{
    histogram_quantile, merge_exact, prometheus_rate, scrape_config, EdgeSignal, ScrapeError,
    ServiceSignal, Signals,
};
pub use crate::topology::Topology;

/// Istio resources as the console edits and validates them before sending.
pub mod config {
    pub use crate::config::model;
    pub use crate::config::model::{Metadata, Resource};
    pub use crate::config::parse::parse;
    pub use crate::config::scope::short_name;
    pub use crate::config::{analyze_standalone, check, kind_matches, to_yaml, Finding, Level};
}

/// Readers for a real Istio or Linkerd mesh: Envoy's admin API (as
/// `istioctl proxy-config` reads it), trace receivers and a Jaeger reader
/// filing into a [`TraceStore`], and direct Prometheus scrapes.
pub mod realmesh {
    pub use crate::realmesh::envoy::{
        fetch_certs, fetch_config_dump, parse_certs, parse_config_dump, read_config_dump,
        AdminCert, CertFacts, ClusterRow, ConfigDump, EndpointRow, RouteRow, SdsSecret,
        MAX_DUMP_BYTES,
    };
    pub use crate::realmesh::fetch::{Target, DEFAULT_TIMEOUT};
    pub use crate::realmesh::scrape::{
        parse_exposition, read_exposition, scrape, Exposition, MetricSample, MAX_EXPOSITION_BYTES,
    };
    pub use crate::realmesh::traces::jaeger;
    pub use crate::realmesh::traces::{
        listen, serve_otlp, serve_zipkin, DEFAULT_OTLP_LISTEN, DEFAULT_ZIPKIN_LISTEN,
    };
    pub use crate::realmesh::RealMeshError;
    pub use crate::telemetry::collector::Query as TraceFilter;
}

/// The playground's mesh on real clusters: Kubernetes and Istio YAML out
/// (`meshcon export kubernetes`), back in (`meshcon import`), and the demo
/// app as a standalone server (`meshcon workload`).
pub mod export {
    pub use crate::export::{
        import, ingress_secret, kubernetes, namespaced, network, to_yaml, Export, ExportFile,
        ExportOptions, ImportError, Imported, SourceFile,
    };
    pub use crate::topology::Latency;

    /// The documents of a multi-document YAML text as JSON values (YAML's
    /// core schema), for reading what an export wrote.
    pub fn yaml_documents(src: &str) -> Result<Vec<serde_json::Value>, String> {
        crate::yaml::parse_documents(src)
            .map(|docs| docs.into_iter().map(|d| d.value).collect())
            .map_err(|e| e.message)
    }

    pub use crate::workload::standalone::{
        parse_call, parse_error_rate, parse_latency, serve as serve_workload, TraceMode,
        WorkloadSpec,
    };
}

/// The state directory a mesh keeps its keys, history and address in.
pub mod state {
    pub use crate::state::{
        default_dir, make_private, private_dir, touch_private, write_atomic, write_private,
    };
}

/// The console API's access token: what a client sends with every call
/// (see the module doc of the console API for why a token file).
pub mod auth {
    pub use crate::control::console::{Credentials, CLIENT_KEY, NO_TOKEN, TOKEN_KEY, WRONG_TOKEN};
    pub use crate::state::{read_token, token_file, TokenError, TOKEN_FILE};

    /// A console API client that sends [`Credentials`] with every call.
    pub type AuthedClient<T> =
        super::ConsoleClient<tonic::service::interceptor::InterceptedService<T, Credentials>>;
}

/// Reading a real Istio or Linkerd mesh: its Prometheus, its resources through kubectl.
pub mod attach {
    pub use crate::attach::fetch::{Auth, Endpoint};
    pub use crate::attach::kube::{
        clean as clean_kubectl_json, Kubectl, Output as KubectlOutput, KINDS,
    };
    pub use crate::attach::observed::topology as observed_topology;
    pub use crate::attach::prometheus::{Dialect, MeshSignals, Prometheus, Sample};
    pub use crate::attach::AttachError;
}

/// Small helpers a client needs to read what a mesh serves.
pub mod util {
    pub use crate::duration::parse as parse_duration;
    pub use crate::http::{get_if_changed, get_text, Fetched};
    pub use crate::identity::certinfo::rfc3339;
    pub use crate::yaml::parse_one as parse_yaml;
    pub use crate::yaml::{escape_control, MAX_INPUT_BYTES};
}

/// Why a typed payload could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The JSON did not match the contract: the mesh and the console differ in version.
    #[error("the mesh answered in a form this console does not read ({0}); are both the same meshcon version?")]
    Payload(#[from] serde_json::Error),
}

/// Reads a JSON payload of the contract (`Traces`, `Latency`, `Federation`).
pub fn decode<T: DeserializeOwned>(text: &Text) -> Result<T, ApiError> {
    Ok(serde_json::from_str(&text.text)?)
}

/// The first 12 hex digits of a certificate fingerprint: enough to tell
/// roots apart on screen.
pub fn short_fp(fp: &str) -> &str {
    fp.get(..fp.len().min(12)).unwrap_or(fp)
}

/// Turns a validation finding into its wire form.
pub fn finding(f: &crate::config::Finding) -> Finding {
    crate::control::console::finding_proto(f)
}

impl Event {
    /// The kind of event, if this console knows it (a newer mesh may send
    /// kinds it does not).
    pub fn event_kind(&self) -> Option<EventKind> {
        self.kind.parse().ok()
    }
}

impl Workload {
    /// What kind of proxy this workload is, if the mesh named a known one.
    pub fn proxy_kind(&self) -> Option<ProxyKind> {
        [
            ProxyKind::Sidecar,
            ProxyKind::IngressGateway,
            ProxyKind::EastwestGateway,
        ]
        .into_iter()
        .find(|k| k.as_str() == self.kind)
    }

    /// A sidecar next to an application (not a gateway).
    pub fn is_sidecar(&self) -> bool {
        self.proxy_kind() == Some(ProxyKind::Sidecar)
    }
}

/// The config history a stopped mesh left in its state directory, read
/// without the mesh (`meshcon history` and `diff` offline).
pub struct OfflineHistory(crate::control::store::ConfigStore);

impl OfflineHistory {
    /// Opens the history database at `db`.
    pub fn open(db: &std::path::Path) -> Result<Self, StoreError> {
        crate::control::store::ConfigStore::open(Some(db)).map(Self)
    }

    /// Every version, oldest first.
    pub fn history(&self) -> Result<HistoryList, StoreError> {
        self.0.history_list()
    }

    /// The resources of `version`; 0 means the latest.
    pub fn resources(&self, version: u64) -> Result<(u64, Vec<config::Resource>), StoreError> {
        if version == 0 {
            let current = self.0.current();
            return Ok((current.version, current.resources.as_ref().clone()));
        }
        Ok((version, self.0.at(version)?))
    }

    /// A unified diff of the resources between two versions.
    pub fn diff(&self, from: u64, to: u64) -> Result<String, StoreError> {
        self.0.diff(from, to)
    }
}
