//! The Routing view's quick actions (canary ±5%, retries, fault, circuit
//! breaker). Each changes one field of one resource and keeps everything else
//! that resource says, reading the staged resources first and then what the
//! mesh runs, so presses add up and a canary never drops a circuit breaker.

use std::time::Duration;

use mesh::api::config::model::{
    Destination, DestinationRule, FaultDelay, HttpFaultInjection, HttpRetry, HttpRoute,
    HttpRouteDestination, Object, OutlierDetection, Percent, Resource, Subset, TrafficPolicy,
    VirtualService,
};
use mesh::api::config::short_name;

use super::scenario;

/// Resources being staged by quick actions, over what the mesh runs.
#[derive(Debug, Clone)]
pub struct Draft {
    staged: Vec<Resource>,
    applied: Vec<Resource>,
}

fn parse(yaml: &str) -> Vec<Resource> {
    mesh::api::config::parse("-", yaml)
        .resources
        .into_iter()
        .map(|p| p.resource)
        .collect()
}

fn is_vs_for(r: &Resource, service: &str) -> bool {
    matches!(r, Resource::VirtualService(vs)
        if vs.spec.gateways.is_empty() && vs.spec.hosts.iter().any(|h| short_name(h) == service))
}

fn is_dr_for(r: &Resource, service: &str) -> bool {
    matches!(r, Resource::DestinationRule(dr) if short_name(&dr.spec.host) == service)
}

fn object<S>(name: &str, spec: S) -> Object<S> {
    Object {
        api_version: "networking.istio.io/v1".into(),
        metadata: mesh::api::config::model::Metadata {
            name: name.into(),
            namespace: Some("default".into()),
            ..Default::default()
        },
        spec,
    }
}

fn destination(service: &str, subset: Option<&str>, weight: Option<i64>) -> HttpRouteDestination {
    HttpRouteDestination {
        destination: Destination {
            host: service.into(),
            subset: subset.map(str::to_string),
            port: None,
        },
        weight,
        headers: None,
    }
}

/// The route that takes whatever no other route matched: the last one
/// without conditions, added if the service has none.
fn catch_all<'a>(vs: &'a mut VirtualService, service: &str) -> &'a mut HttpRoute {
    let i = match vs.http.iter().rposition(|r| r.matches.is_empty()) {
        Some(i) => i,
        None => {
            vs.http.push(HttpRoute {
                route: vec![destination(service, None, None)],
                ..Default::default()
            });
            vs.http.len() - 1
        }
    };
    &mut vs.http[i]
}

impl Draft {
    /// Quick actions over `staged` (the editor's YAML, when it holds staged
    /// quick actions) and the mesh's `applied` resources.
    pub fn new(staged: Option<&str>, applied: &str) -> Self {
        Self {
            staged: staged.map(parse).unwrap_or_default(),
            applied: parse(applied),
        }
    }

    /// The staged resources as YAML.
    pub fn yaml(&self) -> String {
        mesh::api::config::to_yaml(&self.staged)
    }

    fn find(&self, pick: impl Fn(&Resource) -> bool) -> Option<&Resource> {
        self.staged
            .iter()
            .find(|r| pick(r))
            .or_else(|| self.applied.iter().find(|r| pick(r)))
    }

    fn put(&mut self, r: Resource) {
        let key = r.key();
        match self.staged.iter_mut().find(|s| s.key() == key) {
            Some(s) => *s = r,
            None => self.staged.push(r),
        }
    }

    fn vs(&self, service: &str) -> Object<VirtualService> {
        match self.find(|r| is_vs_for(r, service)) {
            Some(Resource::VirtualService(vs)) => vs.clone(),
            _ => object(
                service,
                VirtualService {
                    hosts: vec![service.into()],
                    ..Default::default()
                },
            ),
        }
    }

    fn dr(&self, service: &str) -> Object<DestinationRule> {
        match self.find(|r| is_dr_for(r, service)) {
            Some(Resource::DestinationRule(dr)) => dr.clone(),
            _ => object(
                service,
                DestinationRule {
                    host: service.into(),
                    ..Default::default()
                },
            ),
        }
    }

    /// The catch-all route of `service` (see [`catch_all`]), as it stands.
    fn route(&self, service: &str) -> Option<HttpRoute> {
        let vs = self.vs(service);
        vs.spec
            .http
            .into_iter()
            .rev()
            .find(|r| r.matches.is_empty())
    }

    fn edit_vs(&mut self, service: &str, f: impl FnOnce(&mut HttpRoute)) {
        let mut vs = self.vs(service);
        f(catch_all(&mut vs.spec, service));
        self.put(Resource::VirtualService(vs));
    }

    /// billing's share to v2 on its catch-all route, percent.
    pub fn canary(&self) -> u32 {
        let Some(route) = self.route("billing") else {
            return 0;
        };
        let alone = route.route.len() == 1;
        route
            .route
            .iter()
            .find(|d| d.destination.subset.as_deref() == Some("v2"))
            .map_or(0, |d| {
                d.weight
                    .unwrap_or(if alone { 100 } else { 0 })
                    .clamp(0, 100) as u32
            })
    }

    /// Splits billing's catch-all route `100 - v2` / `v2` between subsets v1
    /// and v2 (and makes sure the DestinationRule defines them).
    pub fn set_canary(&mut self, v2: u32) {
        let v2 = i64::from(v2.min(100));
        let mut dr = self.dr("billing");
        for v in ["v1", "v2"] {
            if !dr.spec.subsets.iter().any(|s| s.name == v) {
                dr.spec.subsets.push(Subset {
                    name: v.into(),
                    labels: [("version".to_string(), v.to_string())].into(),
                    traffic_policy: None,
                });
            }
        }
        self.put(Resource::DestinationRule(dr));
        self.edit_vs("billing", |r| {
            r.route = vec![
                destination("billing", Some("v1"), Some(100 - v2)),
                destination("billing", Some("v2"), Some(v2)),
            ];
        });
    }

    /// Whether billing's catch-all route retries.
    pub fn retries(&self) -> bool {
        self.route("billing").is_some_and(|r| r.retries.is_some())
    }

    /// Turns retries on billing's catch-all route on (3 attempts on 5xx,
    /// connect failures and resets) or off.
    pub fn set_retries(&mut self, on: bool) {
        self.edit_vs("billing", |r| {
            r.retries = on.then(|| HttpRetry {
                attempts: 3,
                per_try_timeout: Some(Duration::from_secs(1)),
                retry_on: Some("5xx,connect-failure,reset".into()),
                retry_remote_localities: None,
            });
        });
    }

    /// Whether auth's catch-all route injects a fault.
    pub fn fault(&self) -> bool {
        self.route("auth").is_some_and(|r| r.fault.is_some())
    }

    /// Delays every request to auth by 500 ms, or stops doing so.
    pub fn set_fault(&mut self, on: bool) {
        self.edit_vs("auth", |r| {
            r.fault = on.then(|| HttpFaultInjection {
                delay: Some(FaultDelay {
                    fixed_delay: Some(Duration::from_millis(500)),
                    percentage: Some(Percent { value: 100.0 }),
                    percent: None,
                }),
                abort: None,
            });
        });
    }

    /// Whether billing's DestinationRule ejects outliers.
    pub fn breaker(&self) -> bool {
        self.dr("billing")
            .spec
            .traffic_policy
            .is_some_and(|t| t.outlier_detection.is_some())
    }

    /// Gives billing the circuit breaker of `demo/rules/circuit-breaker.yaml`
    /// (connection pool and outlier detection), or takes both away, keeping
    /// its subsets and load balancing.
    pub fn set_breaker(&mut self, on: bool) {
        let mut dr = self.dr("billing");
        let rule = scenario::rule("circuit-breaker.yaml").map(parse);
        let breaker = rule
            .iter()
            .flatten()
            .find_map(|r| match r {
                Resource::DestinationRule(d) => d.spec.traffic_policy.clone(),
                _ => None,
            })
            .unwrap_or_default();
        let policy = dr.spec.traffic_policy.get_or_insert_with(Default::default);
        if on {
            policy.connection_pool = breaker.connection_pool;
            policy.outlier_detection = breaker.outlier_detection;
        } else {
            policy.connection_pool = None;
            policy.outlier_detection = None;
        }
        if dr.spec.traffic_policy.as_ref() == Some(&Default::default()) {
            dr.spec.traffic_policy = None;
        }
        self.put(Resource::DestinationRule(dr));
    }
}

/// A new resource of `kind` (`vs` or `dr`) for the service `name`, as the
/// editor's starting point: a VirtualService sending everything to the
/// service, or a DestinationRule with the outlier detection people reach
/// for first.
pub fn template(kind: &str, name: &str) -> String {
    let resource = match kind {
        "dr" => Resource::DestinationRule(object(
            name,
            DestinationRule {
                host: name.into(),
                traffic_policy: Some(TrafficPolicy {
                    outlier_detection: Some(OutlierDetection {
                        consecutive_5xx_errors: Some(5),
                        interval: Some(Duration::from_secs(1)),
                        base_ejection_time: Some(Duration::from_secs(30)),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )),
        _ => {
            let mut vs = VirtualService {
                hosts: vec![name.into()],
                ..Default::default()
            };
            catch_all(&mut vs, name);
            Resource::VirtualService(object(name, vs))
        }
    };
    mesh::api::config::to_yaml(std::slice::from_ref(&resource))
}

/// billing's canary with `v2` percent to v2 (and subsets, so it applies alone).
pub fn canary_yaml(v2: u32) -> String {
    let mut d = Draft::new(None, "");
    d.set_canary(v2);
    d.yaml()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(yaml: &str) {
        let demo = mesh::api::Topology::demo();
        let (res, f) = mesh::api::config::check("quick", yaml, &demo, &[]);
        assert!(!res.is_empty());
        assert!(f.iter().all(|f| !f.is_error()), "{yaml}\n{f:#?}");
    }

    #[test]
    fn templates_are_valid_resources_for_their_service() {
        for kind in ["vs", "dr"] {
            let yaml = template(kind, "auth");
            check(&yaml);
            let r = parse(&yaml);
            assert_eq!(r.len(), 1, "{yaml}");
            match (&r[0], kind) {
                (Resource::VirtualService(vs), "vs") => {
                    assert_eq!(vs.spec.hosts, vec!["auth".to_string()]);
                    assert_eq!(vs.spec.http[0].route[0].destination.host, "auth");
                }
                (Resource::DestinationRule(dr), "dr") => {
                    assert_eq!(dr.spec.host, "auth");
                    let od = dr
                        .spec
                        .traffic_policy
                        .as_ref()
                        .and_then(|p| p.outlier_detection.as_ref());
                    assert_eq!(od.and_then(|o| o.consecutive_5xx_errors), Some(5));
                }
                (other, _) => panic!("{kind} made {other:?}"),
            }
        }
    }

    #[test]
    fn a_canary_keeps_the_circuit_breaker_and_the_retries() {
        let applied = scenario::rule("circuit-breaker.yaml").unwrap_or_default();
        let mut d = Draft::new(None, applied);
        d.set_retries(true);
        d.set_canary(15);
        let staged = d.yaml();
        check(&staged);
        let again = Draft::new(Some(&staged), "");
        assert_eq!(again.canary(), 15);
        assert!(again.breaker(), "{staged}");
        assert!(again.retries(), "{staged}");
        assert!(staged.contains("maxEjectionPercent: 100"), "{staged}");
    }

    #[test]
    fn each_toggle_turns_its_field_on_and_off_and_nothing_else() {
        let mut d = Draft::new(None, "");
        assert_eq!(d.canary(), 0);
        d.set_canary(20);
        d.set_breaker(true);
        d.set_fault(true);
        check(&d.yaml());
        assert!(d.breaker() && d.fault());
        d.set_breaker(false);
        d.set_fault(false);
        assert!(!d.breaker() && !d.fault());
        assert_eq!(d.canary(), 20);
        let staged = d.yaml();
        check(&staged);
        assert!(staged.contains("name: v2"), "subsets stay: {staged}");
    }

    #[test]
    fn header_routes_stay_in_front_of_the_split() {
        let applied = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: billing, namespace: default}\nspec:\n  hosts: [billing]\n  http:\n  - match:\n    - headers:\n        end-user: {exact: tester}\n    route:\n    - destination: {host: billing, subset: v2}\n  - route:\n    - destination: {host: billing, subset: v1}\n";
        let mut d = Draft::new(None, applied);
        d.set_canary(10);
        let Some(Resource::VirtualService(vs)) = d.staged.iter().find(|r| is_vs_for(r, "billing"))
        else {
            panic!("no billing VirtualService staged");
        };
        assert_eq!(vs.spec.http.len(), 2);
        assert!(!vs.spec.http[0].matches.is_empty());
        assert_eq!(vs.spec.http[1].route.len(), 2);
    }

    #[test]
    fn the_canary_rule_splits_billing() {
        let demo = mesh::api::Topology::demo();
        let (res, f) = mesh::api::config::check("canary", &canary_yaml(15), &demo, &[]);
        assert!(!res.is_empty());
        assert!(f.iter().all(|f| !f.is_error()), "{f:#?}");
        assert_eq!(Draft::new(None, &canary_yaml(15)).canary(), 15);
    }
}
