//! Envoy's admin API as `istioctl proxy-config` reads it: `/config_dump`
//! (SDS secrets, clusters, endpoints, routes) and `/certs`.
//!
//! The dump is JSON of Envoy's admin protos. Only the fields the console
//! shows are declared; everything else is ignored, so a newer Envoy's
//! additions do not break reading. Each section is read the way istioctl
//! reads it (order, filtering, how a match or a VirtualService is
//! described), so `meshcon get proxy-config` and `istioctl proxy-config`
//! state the same facts about the same dump. Secrets live in
//! [`secrets`]; routes in [`routes`].

mod routes;
mod secrets;

use serde::{Deserialize, Serialize};

pub use routes::RouteRow;
pub use secrets::{parse_certs, AdminCert, CertFacts, SdsSecret};

use super::fetch::{self, Target};
use super::RealMeshError;

/// The largest config dump read (a big mesh's sidecar without a Sidecar
/// resource dumps tens of MB; more is not a dump worth waiting for).
pub const MAX_DUMP_BYTES: usize = 64 * 1024 * 1024;

/// Fetches and reads `/config_dump?include_eds` from an Envoy admin
/// address (`HOST:PORT`, e.g. a port-forwarded 15000).
pub async fn fetch_config_dump(
    admin: &str,
    timeout: std::time::Duration,
) -> Result<ConfigDump, RealMeshError> {
    let target = Target::parse(admin)?;
    // Without include_eds Envoy leaves endpoints out of the dump.
    let text =
        fetch::get_text(&target, "/config_dump?include_eds", MAX_DUMP_BYTES, timeout).await?;
    parse_config_dump(&text)
}

/// Reads a saved config dump (`kubectl exec ... curl localhost:15000/config_dump`).
pub fn read_config_dump(path: &std::path::Path) -> Result<ConfigDump, RealMeshError> {
    parse_config_dump(&fetch::read_file(path, MAX_DUMP_BYTES)?)
}

/// Fetches and reads `/certs` from an Envoy admin address.
pub async fn fetch_certs(
    admin: &str,
    timeout: std::time::Duration,
) -> Result<Vec<AdminCert>, RealMeshError> {
    let target = Target::parse(admin)?;
    parse_certs(&fetch::get_text(&target, "/certs", MAX_DUMP_BYTES, timeout).await?)
}

/// What one proxy's `/config_dump` says, as the console shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ConfigDump {
    /// SDS secrets: warming ones first, then active ones, as istioctl lists them.
    pub secrets: Vec<SdsSecret>,
    /// Clusters, static then dynamic.
    pub clusters: Vec<ClusterRow>,
    /// Endpoints, one per host, sorted by cluster as istioctl sorts them.
    pub endpoints: Vec<EndpointRow>,
    /// Routes, one per route of each virtual host (dynamic route configs first).
    pub routes: Vec<RouteRow>,
}

/// One upstream cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterRow {
    /// Envoy's name (`outbound|9080|v1|reviews.default.svc.cluster.local`).
    pub name: String,
    /// The service host the name encodes (the whole name when it encodes none).
    pub service: String,
    /// The port the name encodes, when it does.
    pub port: Option<u16>,
    /// The DestinationRule subset the name encodes (empty for none).
    pub subset: String,
    /// `outbound`, `inbound`, or empty.
    pub direction: String,
    /// Envoy's discovery type (`EDS`, `STATIC`, `STRICT_DNS`, `ORIGINAL_DST`...).
    pub discovery: String,
    /// Pushed by the control plane (true) or in the bootstrap (false).
    pub dynamic: bool,
}

/// One endpoint of a cluster and its health.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointRow {
    /// `IP:PORT`, a pipe path, or `envoy://listener/id` for an internal address.
    pub address: String,
    /// Envoy's health status (`HEALTHY`, `UNHEALTHY`, `DRAINING`, `TIMEOUT`,
    /// `DEGRADED`, `UNKNOWN`).
    pub status: String,
    /// `region/zone/subzone`, empty when the endpoint has none.
    pub locality: String,
    /// The cluster it belongs to.
    pub cluster: String,
    /// Load-balancing weight, when set.
    pub weight: Option<u32>,
}

/// The parts of a config dump this module reads: `configs` holds one entry
/// per section, told apart by `@type`.
#[derive(Deserialize)]
struct RawDump {
    configs: Vec<serde_json::Value>,
}

/// Parses the JSON Envoy's `/config_dump` answers (or a saved copy).
pub fn parse_config_dump(text: &str) -> Result<ConfigDump, RealMeshError> {
    let raw: RawDump = serde_json::from_str(text).map_err(|e| RealMeshError::Malformed {
        what: "config dump".into(),
        detail: format!(
            "{e}; expected the JSON of Envoy's /config_dump (an object with \"configs\")"
        ),
    })?;
    let mut dump = ConfigDump::default();
    for section in raw.configs {
        let kind = section
            .get("@type")
            .and_then(|t| t.as_str())
            .unwrap_or_default()
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_string();
        let read = |e: serde_json::Error| RealMeshError::Malformed {
            what: format!("config dump section {kind}"),
            detail: e.to_string(),
        };
        match kind.as_str() {
            "SecretsConfigDump" => {
                dump.secrets = secrets::from_dump(serde_json::from_value(section).map_err(read)?)
            }
            "ClustersConfigDump" => {
                dump.clusters = clusters(serde_json::from_value(section).map_err(read)?)
            }
            "EndpointsConfigDump" => {
                dump.endpoints = endpoints(serde_json::from_value(section).map_err(read)?)
            }
            "RoutesConfigDump" => {
                dump.routes = routes::from_dump(serde_json::from_value(section).map_err(read)?)
            }
            // Bootstrap, listeners, scoped routes, ECDS: not shown.
            _ => {}
        }
    }
    Ok(dump)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ClustersSection {
    static_clusters: Vec<ClusterEntry>,
    dynamic_active_clusters: Vec<ClusterEntry>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ClusterEntry {
    cluster: ClusterProto,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ClusterProto {
    name: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    cluster_type: Option<serde_json::Value>,
}

/// Istio's cluster name `direction|port|subset|host`, split; other names
/// (`agent`, `xds-grpc`) are all host.
pub(crate) fn subset_key(name: &str) -> (&str, &str, &str, Option<u16>) {
    let parts: Vec<&str> = name.split('|').collect();
    match parts[..] {
        [direction, port, subset, host] => (direction, subset, host, port.parse().ok()),
        _ => ("", "", name, None),
    }
}

fn clusters(s: ClustersSection) -> Vec<ClusterRow> {
    let row = |c: ClusterEntry, dynamic: bool| {
        let (direction, subset, host, port) = subset_key(&c.cluster.name);
        // A cluster with a custom type (e.g. Istio's ORIGINAL_DST variants)
        // names it in cluster_type; the plain ones in type, EDS when unset
        // would be wrong, so say what Envoy's default is: STATIC.
        let discovery = match (&c.cluster.kind, &c.cluster.cluster_type) {
            (Some(k), _) => k.clone(),
            (None, Some(t)) => t
                .get("name")
                .and_then(|n| n.as_str())
                .unwrap_or("custom")
                .to_string(),
            (None, None) => "STATIC".into(),
        };
        ClusterRow {
            service: host.to_string(),
            port,
            subset: subset.to_string(),
            direction: direction.to_string(),
            discovery,
            dynamic,
            name: c.cluster.name,
        }
    };
    s.static_clusters
        .into_iter()
        .map(|c| row(c, false))
        .chain(s.dynamic_active_clusters.into_iter().map(|c| row(c, true)))
        .collect()
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EndpointsSection {
    static_endpoint_configs: Vec<EndpointConfigEntry>,
    dynamic_endpoint_configs: Vec<EndpointConfigEntry>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EndpointConfigEntry {
    endpoint_config: Option<LoadAssignment>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LoadAssignment {
    cluster_name: String,
    endpoints: Vec<LocalityEndpoints>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LocalityEndpoints {
    locality: Locality,
    lb_endpoints: Vec<LbEndpoint>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Locality {
    region: String,
    zone: String,
    sub_zone: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LbEndpoint {
    endpoint: EndpointProto,
    health_status: Option<String>,
    load_balancing_weight: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EndpointProto {
    address: AddressProto,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AddressProto {
    socket_address: Option<SocketAddressProto>,
    pipe: Option<PipeProto>,
    envoy_internal_address: Option<InternalAddressProto>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SocketAddressProto {
    address: String,
    port_value: u32,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PipeProto {
    path: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InternalAddressProto {
    server_listener_name: String,
    endpoint_id: String,
}

impl AddressProto {
    fn text(&self) -> String {
        if let Some(s) = &self.socket_address {
            return format!("{}:{}", s.address, s.port_value);
        }
        if let Some(p) = &self.pipe {
            return p.path.clone();
        }
        if let Some(i) = &self.envoy_internal_address {
            return format!("envoy://{}/{}", i.server_listener_name, i.endpoint_id);
        }
        "unknown".into()
    }
}

impl Locality {
    /// istioctl's `region/zone/subzone`, empty parts dropped from the end.
    fn text(&self) -> String {
        let parts = [&self.region, &self.zone, &self.sub_zone];
        match parts.iter().rposition(|p| !p.is_empty()) {
            Some(last) => parts[..=last]
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join("/"),
            None => String::new(),
        }
    }
}

fn endpoints(s: EndpointsSection) -> Vec<EndpointRow> {
    // Dynamic before static, assignments without hosts dropped, then sorted
    // by host, subset, port and direction: istioctl's order.
    let mut cla: Vec<LoadAssignment> = s
        .dynamic_endpoint_configs
        .into_iter()
        .chain(s.static_endpoint_configs)
        .filter_map(|e| e.endpoint_config)
        .filter(|c| c.endpoints.iter().any(|l| !l.lb_endpoints.is_empty()))
        .collect();
    cla.sort_by(|a, b| {
        let (ad, asub, ahost, aport) = subset_key(&a.cluster_name);
        let (bd, bsub, bhost, bport) = subset_key(&b.cluster_name);
        (ahost, asub, aport.unwrap_or(0), ad).cmp(&(bhost, bsub, bport.unwrap_or(0), bd))
    });
    let mut rows = Vec::new();
    for c in cla {
        for l in &c.endpoints {
            for ep in &l.lb_endpoints {
                rows.push(EndpointRow {
                    address: ep.endpoint.address.text(),
                    // The proto's zero value is UNKNOWN, and JSON leaves it out.
                    status: ep.health_status.clone().unwrap_or_else(|| "UNKNOWN".into()),
                    locality: l.locality.text(),
                    cluster: c.cluster_name.clone(),
                    weight: ep.load_balancing_weight,
                });
            }
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn istio_cluster_names_split_and_others_are_all_host() {
        assert_eq!(
            subset_key("outbound|9080|v1|reviews.default.svc.cluster.local"),
            (
                "outbound",
                "v1",
                "reviews.default.svc.cluster.local",
                Some(9080)
            )
        );
        assert_eq!(subset_key("agent"), ("", "", "agent", None));
    }

    #[test]
    fn endpoints_keep_health_and_missing_status_is_unknown() {
        let dump = r#"{"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.EndpointsConfigDump",
          "dynamic_endpoint_configs":[{"endpoint_config":{"cluster_name":"outbound|80||b.default.svc.cluster.local",
            "endpoints":[{"locality":{"region":"eu","zone":"a"},"lb_endpoints":[
              {"endpoint":{"address":{"socket_address":{"address":"10.0.0.1","port_value":80}}},"health_status":"UNHEALTHY"},
              {"endpoint":{"address":{"socket_address":{"address":"10.0.0.2","port_value":80}}}}]}]}},
            {"endpoint_config":{"cluster_name":"empty"}}]}]}"#;
        let d = parse_config_dump(dump).expect("parses");
        assert_eq!(d.endpoints.len(), 2);
        assert_eq!(d.endpoints[0].status, "UNHEALTHY");
        assert_eq!(d.endpoints[0].locality, "eu/a");
        assert_eq!(d.endpoints[1].status, "UNKNOWN");
        assert_eq!(d.endpoints[1].address, "10.0.0.2:80");
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let e = parse_config_dump("<html>nope</html>").expect_err("not json");
        assert!(e.to_string().contains("/config_dump"), "{e}");
        let e = parse_config_dump(
            r#"{"configs":[{"@type":"x.RoutesConfigDump","dynamic_route_configs":7}]}"#,
        )
        .expect_err("wrong shape");
        assert!(e.to_string().contains("RoutesConfigDump"), "{e}");
    }
}
