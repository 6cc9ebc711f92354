//! Upstream clusters (Envoy's word): the endpoints of one service or subset
//! with their load balancing, outlier detection, locality priorities and
//! connection-pool limits. A cluster's runtime state (round-robin position,
//! ejections, counters, in-flight limits) outlives config pushes, so a new
//! version of a DestinationRule does not forget which hosts are ejected.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rustls::ClientConfig;
use tokio::time::Instant;

use crate::config::model::{LocalityLbSetting, TrafficPolicy};
use crate::control::snapshot::Endpoint;
use crate::svc::balance::{self, Algorithm, Candidate};
use crate::svc::limits::{Limiter, PoolLimits};
use crate::svc::outlier::{Decision, OutlierDetector, OutlierPolicy};
use crate::svc::{ClusterCounters, Outcome, TriedHosts};

/// Envoy-style cluster name: `outbound|8080|v2|billing.default.svc.cluster.local`.
pub fn cluster_name(port: u16, subset: Option<&str>, host: &str) -> String {
    format!("outbound|{port}|{}|{host}", subset.unwrap_or(""))
}

/// Istio's SNI for a destination: `outbound_.8080_.v2_.billing.default.svc.cluster.local`.
pub fn sni(port: u16, subset: Option<&str>, host: &str) -> String {
    format!("outbound_.{port}_.{}_.{host}", subset.unwrap_or(""))
}

/// Parses an Istio SNI back into (port, subset, host).
pub fn parse_sni(sni: &str) -> Option<(u16, Option<String>, String)> {
    let rest = sni.strip_prefix("outbound_.")?;
    let (port, rest) = rest.split_once("_.")?;
    let (subset, host) = rest.split_once("_.")?;
    let port = port.parse().ok()?;
    let subset = (!subset.is_empty()).then(|| subset.to_string());
    Some((port, subset, host.to_string()))
}

/// The cluster a request goes to, set by the router (or by a mirror); the
/// concrete stack below the retry layer reads it.
#[derive(Debug, Clone)]
pub struct RouteTarget(pub Arc<UpstreamCluster>);

/// Where locality load balancing sends traffic first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LocalityPolicy {
    /// Prefer the caller's cluster, then failover targets.
    pub enabled: bool,
    /// Explicit failover: from cluster → to cluster.
    pub failover: Vec<(String, String)>,
    /// Fixed shares: from locality → (to locality, weight).
    pub distribute: Vec<(String, Vec<(String, u32)>)>,
}

impl LocalityPolicy {
    /// Istio applies locality load balancing only with outlier detection,
    /// which is what tells it a locality is unhealthy.
    pub fn from_config(setting: Option<&LocalityLbSetting>, outlier: bool) -> Self {
        let enabled = outlier && setting.and_then(|s| s.enabled).unwrap_or(true);
        Self {
            enabled,
            failover: setting
                .map(|s| {
                    s.failover
                        .iter()
                        .map(|f| (f.from.clone(), f.to.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            distribute: setting
                .map(|s| {
                    s.distribute
                        .iter()
                        .map(|d| {
                            (
                                d.from.clone(),
                                d.to.iter().map(|(k, v)| (k.clone(), *v)).collect(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// State that survives config pushes.
#[derive(Debug)]
pub struct ClusterState {
    rr: AtomicUsize,
    outlier: Mutex<OutlierDetector>,
    /// Envoy-style counters.
    pub counters: Arc<ClusterCounters>,
    limiter: Mutex<Arc<Limiter>>,
    load: Mutex<HashMap<String, Arc<AtomicUsize>>>,
}

impl ClusterState {
    fn new() -> Self {
        Self {
            rr: AtomicUsize::new(rand::random::<u32>() as usize),
            outlier: Mutex::new(OutlierDetector::new(OutlierPolicy::from_config(
                &Default::default(),
            ))),
            counters: Arc::new(ClusterCounters::default()),
            limiter: Mutex::new(Arc::new(Limiter::new(PoolLimits::default()))),
            load: Mutex::new(HashMap::new()),
        }
    }

    /// The in-flight counter of one host.
    pub fn load_of(&self, addr: &str) -> Arc<AtomicUsize> {
        Arc::clone(self.load.lock().entry(addr.to_string()).or_default())
    }
}

/// Keeps cluster state by name across config versions.
#[derive(Debug, Default)]
pub struct ClusterManager {
    states: Mutex<HashMap<String, Arc<ClusterState>>>,
}

impl ClusterManager {
    /// The state of a cluster, created on first use.
    pub fn state(&self, name: &str) -> Arc<ClusterState> {
        Arc::clone(
            self.states
                .lock()
                .entry(name.to_string())
                .or_insert_with(|| Arc::new(ClusterState::new())),
        )
    }

    /// Every cluster's counters (for exposition).
    pub fn all(&self) -> Vec<(String, Arc<ClusterState>)> {
        self.states
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect()
    }
}

/// One upstream cluster at one config version.
#[derive(Debug)]
pub struct UpstreamCluster {
    /// Envoy-style name.
    pub name: String,
    /// Service FQDN.
    pub host: String,
    /// Service port.
    pub port: u16,
    /// Subset, if any.
    pub subset: Option<String>,
    /// Endpoints selected by the subset's labels.
    pub endpoints: Vec<Endpoint>,
    /// mTLS towards this service (secure naming).
    pub tls: Arc<ClientConfig>,
    /// Load-balancing algorithm.
    pub algorithm: Algorithm,
    /// Outlier detection, when configured.
    pub outlier: Option<OutlierPolicy>,
    /// Locality preferences.
    pub locality: LocalityPolicy,
    /// Pool limits.
    pub limits: PoolLimits,
    /// HTTP/1.1 requests cross to the next sidecar as HTTP/2
    /// (`connectionPool.http.h2UpgradePolicy: UPGRADE`); a protocol, not a
    /// limit, so changing it leaves the limiter's state alone.
    pub upgrade_h2: bool,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Which DestinationRule shaped it.
    pub destination_rule: Option<String>,
    /// Runtime state.
    pub state: Arc<ClusterState>,
}

/// A pick, and what happened to the pool.
#[derive(Debug)]
pub struct Pick {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// Its in-flight counter.
    pub load: Arc<AtomicUsize>,
}

impl UpstreamCluster {
    /// Builds a cluster and brings its persistent state up to this policy.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        manager: &ClusterManager,
        host: &str,
        port: u16,
        subset: Option<&str>,
        endpoints: Vec<Endpoint>,
        tls: Arc<ClientConfig>,
        policy: &TrafficPolicy,
        destination_rule: Option<String>,
    ) -> Self {
        let name = cluster_name(port, subset, host);
        let state = manager.state(&name);
        let outlier = policy
            .outlier_detection
            .as_ref()
            .map(OutlierPolicy::from_config);
        {
            let mut det = state.outlier.lock();
            if let Some(p) = &outlier {
                if det.policy() != p {
                    det.set_policy(p.clone());
                }
            }
            det.retain(|h| endpoints.iter().any(|e| e.address == h));
        }
        let limits = policy
            .connection_pool
            .as_ref()
            .map(PoolLimits::from_config)
            .unwrap_or_default();
        {
            let mut l = state.limiter.lock();
            if l.limits() != limits {
                *l = Arc::new(Limiter::new(limits));
            }
        }
        state
            .counters
            .max_retries
            .store(limits.max_retries.unwrap_or(0), Ordering::Relaxed);
        let lb = policy.load_balancer.clone().unwrap_or_default();
        Self {
            host: host.to_string(),
            port,
            subset: subset.map(str::to_string),
            algorithm: Algorithm::from_config(&lb),
            locality: LocalityPolicy::from_config(
                lb.locality_lb_setting.as_ref(),
                outlier.is_some(),
            ),
            outlier,
            limits,
            upgrade_h2: policy
                .connection_pool
                .as_ref()
                .and_then(|c| c.http.as_ref())
                .and_then(|h| h.h2_upgrade_policy.as_deref())
                == Some("UPGRADE"),
            connect_timeout: policy
                .connection_pool
                .as_ref()
                .and_then(|c| c.tcp.as_ref())
                .and_then(|t| t.connect_timeout)
                .unwrap_or(Duration::from_secs(10)),
            endpoints,
            tls,
            destination_rule,
            state,
            name,
        }
    }

    /// The limiter in force.
    pub fn limiter(&self) -> Arc<Limiter> {
        Arc::clone(&self.state.limiter.lock())
    }

    /// The SNI for this cluster.
    pub fn sni(&self) -> String {
        sni(self.port, self.subset.as_deref(), &self.host)
    }

    /// Hosts currently ejected.
    pub fn ejected(&self, now: Instant) -> Vec<String> {
        let det = self.state.outlier.lock();
        self.endpoints
            .iter()
            .filter(|e| det.is_ejected(&e.address, now))
            .map(|e| e.address.clone())
            .collect()
    }

    fn priority(&self, ep: &Endpoint, local: &str) -> usize {
        if !self.locality.enabled || ep.cluster == local {
            return 0;
        }
        match self
            .locality
            .failover
            .iter()
            .position(|(from, to)| from == local && *to == ep.cluster)
        {
            Some(i) => 1 + i,
            None => 1 + self.locality.failover.len(),
        }
    }

    /// Picks an endpoint: not ejected, of the best locality priority that has
    /// any, preferring hosts this request has not tried, by the algorithm.
    pub fn pick(
        &self,
        local_cluster: &str,
        tried: Option<&TriedHosts>,
        hash: Option<u64>,
        now: Instant,
    ) -> Option<Pick> {
        let healthy: Vec<&Endpoint> = {
            let det = self.state.outlier.lock();
            self.endpoints
                .iter()
                .filter(|e| self.outlier.is_none() || !det.is_ejected(&e.address, now))
                .collect()
        };
        let group: Vec<&Endpoint> = match self.distribute_pick(local_cluster, &healthy) {
            Some(g) => g,
            None => {
                let best = healthy
                    .iter()
                    .map(|e| self.priority(e, local_cluster))
                    .min()?;
                healthy
                    .iter()
                    .copied()
                    .filter(|e| self.priority(e, local_cluster) == best)
                    .collect()
            }
        };
        let fresh: Vec<&Endpoint> = match tried {
            Some(t) => group
                .iter()
                .copied()
                .filter(|e| !t.contains(&e.address))
                .collect(),
            None => Vec::new(),
        };
        let pool = if fresh.is_empty() { group } else { fresh };
        let loads: Vec<Arc<AtomicUsize>> = pool
            .iter()
            .map(|e| self.state.load_of(&e.address))
            .collect();
        let candidates: Vec<Candidate> = pool
            .iter()
            .zip(&loads)
            .map(|(e, l)| Candidate {
                addr: &e.address,
                in_flight: l.load(Ordering::Relaxed),
            })
            .collect();
        let i = balance::pick(&self.algorithm, &candidates, &self.state.rr, hash)?;
        Some(Pick {
            endpoint: pool[i].clone(),
            load: Arc::clone(&loads[i]),
        })
    }

    fn distribute_pick<'a>(
        &self,
        local: &str,
        healthy: &[&'a Endpoint],
    ) -> Option<Vec<&'a Endpoint>> {
        if !self.locality.enabled {
            return None;
        }
        let (_, to) = self
            .locality
            .distribute
            .iter()
            .find(|(from, _)| locality_matches(from, local))?;
        let groups: Vec<(Vec<&Endpoint>, u32)> = to
            .iter()
            .map(|(loc, w)| {
                let members: Vec<&Endpoint> = healthy
                    .iter()
                    .copied()
                    .filter(|e| locality_matches(loc, &e.cluster))
                    .collect();
                (members, *w)
            })
            .filter(|(m, w)| !m.is_empty() && *w > 0)
            .collect();
        let total: u32 = groups.iter().map(|(_, w)| w).sum();
        if total == 0 {
            return None;
        }
        let mut r = rand::random::<u32>() % total;
        for (members, w) in groups {
            if r < w {
                return Some(members);
            }
            r -= w;
        }
        None
    }

    /// Feeds an attempt's outcome to outlier detection; returns what changed.
    pub fn record(&self, host: &str, outcome: Outcome, now: Instant) -> Vec<Decision> {
        if self.outlier.is_none() {
            return Vec::new();
        }
        let mut det = self.state.outlier.lock();
        let decisions = det.record(host, outcome, now, self.endpoints.len());
        for d in &decisions {
            if matches!(d, Decision::Ejected { .. }) {
                self.state
                    .counters
                    .ejections_enforced
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
        self.state
            .counters
            .ejections_active
            .store(det.ejected_count(now) as u64, Ordering::Relaxed);
        decisions
    }
}

/// `eu`, `eu/*` and `*` match cluster `eu` (meshcon's locality is the cluster).
fn locality_matches(pattern: &str, cluster: &str) -> bool {
    let region = pattern.split('/').next().unwrap_or(pattern);
    region == "*" || region == cluster
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sni_round_trips() {
        let s = sni(8080, Some("v2"), "billing.default.svc.cluster.local");
        assert_eq!(s, "outbound_.8080_.v2_.billing.default.svc.cluster.local");
        assert_eq!(
            parse_sni(&s),
            Some((
                8080,
                Some("v2".into()),
                "billing.default.svc.cluster.local".into()
            ))
        );
        assert_eq!(
            parse_sni("outbound_.8080_._.billing.default.svc.cluster.local"),
            Some((8080, None, "billing.default.svc.cluster.local".into()))
        );
        assert_eq!(parse_sni("billing.default"), None);
    }

    fn catalog(policy: serde_json::Value) -> UpstreamCluster {
        let endpoints = ["eu", "eu", "us"]
            .iter()
            .enumerate()
            .map(|(i, c)| Endpoint {
                address: format!("127.0.0.{}:15006", i + 1),
                instance: format!("catalog-v1-{i}"),
                cluster: c.to_string(),
                ..Default::default()
            })
            .collect();
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
        let policy: TrafficPolicy = serde_json::from_value(policy).expect("policy");
        UpstreamCluster::new(
            &ClusterManager::default(),
            "catalog.default.svc.cluster.local",
            8080,
            None,
            endpoints,
            Arc::new(tls),
            &policy,
            None,
        )
    }

    fn share_in(c: &UpstreamCluster, cluster: &str, picks: usize) -> f64 {
        let now = Instant::now();
        let hits = (0..picks)
            .filter_map(|_| c.pick("eu", None, None, now))
            .filter(|p| p.endpoint.cluster == cluster)
            .count();
        hits as f64 / picks as f64
    }

    #[test]
    fn locality_prefers_the_callers_cluster_only_with_outlier_detection() {
        let outlier = serde_json::json!({"consecutive5xxErrors": 3, "interval": "1s", "baseEjectionTime": "5s"});
        let with = catalog(serde_json::json!({"outlierDetection": outlier}));
        assert_eq!(share_in(&with, "eu", 300), 1.0);
        // As in Istio: without outlier detection nothing marks a locality
        // unhealthy, so locality load balancing stays off.
        let without = catalog(serde_json::json!({}));
        let us = share_in(&without, "us", 3000);
        assert!(
            (0.28..0.39).contains(&us),
            "round robin over 3 endpoints: {us}"
        );
    }

    #[test]
    fn distribute_sends_fixed_shares_across_localities() {
        let c = catalog(serde_json::json!({
            "outlierDetection": {"consecutive5xxErrors": 3, "interval": "1s", "baseEjectionTime": "5s"},
            "loadBalancer": {"localityLbSetting": {"distribute": [{"from": "eu", "to": {"eu": 80, "us": 20}}]}},
        }));
        let us = share_in(&c, "us", 5000);
        assert!((0.17..0.23).contains(&us), "20% to us: {us}");
    }
}
