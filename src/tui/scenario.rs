//! Scenarios and quick actions: the demo's ready-made rules and scenario
//! files (embedded, so they work from any directory), and the YAML the
//! routing view's quick actions write for the user.

use serde::Deserialize;

/// The files of `demo/rules/`, embedded.
pub const RULES: &[(&str, &str)] = &[
    (
        "auth-abort.yaml",
        include_str!("../../demo/rules/auth-abort.yaml"),
    ),
    (
        "auth-delay.yaml",
        include_str!("../../demo/rules/auth-delay.yaml"),
    ),
    (
        "billing-subsets.yaml",
        include_str!("../../demo/rules/billing-subsets.yaml"),
    ),
    (
        "broken-weights.yaml",
        include_str!("../../demo/rules/broken-weights.yaml"),
    ),
    (
        "canary-90-10.yaml",
        include_str!("../../demo/rules/canary-90-10.yaml"),
    ),
    (
        "circuit-breaker.yaml",
        include_str!("../../demo/rules/circuit-breaker.yaml"),
    ),
    (
        "deny-user.yaml",
        include_str!("../../demo/rules/deny-user.yaml"),
    ),
    (
        "header-routing.yaml",
        include_str!("../../demo/rules/header-routing.yaml"),
    ),
    (
        "permissive-mtls.yaml",
        include_str!("../../demo/rules/permissive-mtls.yaml"),
    ),
    (
        "retries.yaml",
        include_str!("../../demo/rules/retries.yaml"),
    ),
    (
        "strict-mtls.yaml",
        include_str!("../../demo/rules/strict-mtls.yaml"),
    ),
    (
        "timeout-2s.yaml",
        include_str!("../../demo/rules/timeout-2s.yaml"),
    ),
];

const SCENARIOS: &[&str] = &[
    include_str!("../../demo/scenarios/canary.yaml"),
    include_str!("../../demo/scenarios/retries.yaml"),
    include_str!("../../demo/scenarios/circuit-breaker.yaml"),
    include_str!("../../demo/scenarios/latency-regression.yaml"),
    include_str!("../../demo/scenarios/rogue.yaml"),
    include_str!("../../demo/scenarios/federation.yaml"),
];

/// A chaos step.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChaosStep {
    /// slow, fail, heal, kill, restart, rogue, ...
    pub action: String,
    /// Instance, workload, service or cluster.
    pub target: String,
    /// For slow.
    #[serde(default)]
    pub delay_ms: u64,
    /// For fail.
    #[serde(default)]
    pub rate: f64,
}

/// One step of a scenario.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Step {
    /// Roll back to no rules and heal every workload.
    #[serde(default)]
    pub reset: bool,
    /// A file of demo/rules/ to apply.
    #[serde(default)]
    pub apply: Option<String>,
    /// A chaos action.
    #[serde(default)]
    pub chaos: Option<ChaosStep>,
}

/// A scenario: what to do, and what to look at.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scenario {
    /// Short name for `:scenario NAME`.
    pub name: String,
    /// One line.
    pub title: String,
    /// Steps, in order.
    pub steps: Vec<Step>,
    /// What to look at afterwards.
    pub look: String,
}

/// Every scenario (each file is checked by a unit test).
pub fn all() -> Vec<Scenario> {
    SCENARIOS
        .iter()
        .filter_map(|src| {
            let doc = mesh::yaml::parse_one(src).ok()?;
            serde_json::from_value(doc.value).ok()
        })
        .collect()
}

/// A scenario by name.
pub fn find(name: &str) -> Option<Scenario> {
    all().into_iter().find(|s| s.name == name)
}

/// A rule file's text.
pub fn rule(name: &str) -> Option<&'static str> {
    RULES
        .iter()
        .find(|(n, _)| *n == name || n.strip_suffix(".yaml") == Some(name))
        .map(|(_, t)| *t)
}

/// billing's canary with `v2` percent to v2 (and subsets, so it applies alone).
pub fn canary_yaml(v2: u32) -> String {
    let v2 = v2.min(100);
    format!(
        "{}---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: billing\n  namespace: default\nspec:\n  hosts:\n  - billing\n  http:\n  - route:\n    - destination:\n        host: billing\n        subset: v1\n      weight: {}\n    - destination:\n        host: billing\n        subset: v2\n      weight: {v2}\n",
        rule("billing-subsets.yaml").unwrap_or_default(),
        100 - v2
    )
}

/// billing's VirtualService with or without retries, keeping the canary split.
pub fn retries_yaml(on: bool, v2: u32) -> String {
    let mut y = canary_yaml(v2);
    if on {
        y.push_str("    retries:\n      attempts: 3\n      perTryTimeout: 1s\n      retryOn: 5xx,connect-failure,reset\n");
    }
    y
}

/// A delay fault on auth, or auth's plain route.
pub fn fault_yaml(on: bool) -> String {
    if on {
        rule("auth-delay.yaml").unwrap_or_default().to_string()
    } else {
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: auth\n  namespace: default\nspec:\n  hosts:\n  - auth\n  http:\n  - route:\n    - destination:\n        host: auth\n".into()
    }
}

/// billing's DestinationRule with or without outlier detection.
pub fn breaker_yaml(on: bool) -> String {
    if on {
        rule("circuit-breaker.yaml").unwrap_or_default().to_string()
    } else {
        rule("billing-subsets.yaml").unwrap_or_default().to_string()
    }
}

/// The v2 weight of billing's route in applied YAML (0 if none).
pub fn current_canary(resources_yaml: &str) -> u32 {
    let out = mesh::config::parse::parse("-", resources_yaml);
    for p in out.resources {
        if let mesh::config::model::Resource::VirtualService(vs) = p.resource {
            if vs.metadata.name == "billing" {
                for r in &vs.spec.http {
                    for d in &r.route {
                        if d.destination.subset.as_deref() == Some("v2") {
                            return d
                                .weight
                                .unwrap_or(if r.route.len() == 1 { 100 } else { 0 })
                                .clamp(0, 100) as u32;
                        }
                    }
                }
            }
        }
    }
    0
}

/// Whether `yaml` holds a resource of `kind` called `name`.
pub fn defines(yaml: &str, kind: &str, name: &str) -> bool {
    mesh::config::parse::parse("-", yaml)
        .resources
        .iter()
        .any(|p| p.resource.kind() == kind && p.resource.metadata().name == name)
}

/// Whether billing's applied route has retries.
pub fn has_retries(resources_yaml: &str) -> bool {
    mesh::config::parse::parse("-", resources_yaml).resources.iter().any(|p| {
        matches!(&p.resource, mesh::config::model::Resource::VirtualService(vs) if vs.metadata.name == "billing" && vs.spec.http.iter().any(|h| h.retries.is_some()))
    })
}

/// Whether auth has a fault applied.
pub fn has_fault(resources_yaml: &str) -> bool {
    mesh::config::parse::parse("-", resources_yaml).resources.iter().any(|p| {
        matches!(&p.resource, mesh::config::model::Resource::VirtualService(vs) if vs.metadata.name == "auth" && vs.spec.http.iter().any(|h| h.fault.is_some()))
    })
}

/// Whether billing has outlier detection applied.
pub fn has_breaker(resources_yaml: &str) -> bool {
    mesh::config::parse::parse("-", resources_yaml).resources.iter().any(|p| {
        matches!(&p.resource, mesh::config::model::Resource::DestinationRule(dr) if dr.spec.host == "billing" && dr.spec.traffic_policy.as_ref().is_some_and(|t| t.outlier_detection.is_some()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_parses_and_names_existing_rules() {
        let all = all();
        assert_eq!(all.len(), SCENARIOS.len(), "a scenario file does not parse");
        for s in &all {
            for step in &s.steps {
                if let Some(a) = &step.apply {
                    assert!(rule(a).is_some(), "{}: unknown rule {a}", s.name);
                }
            }
        }
        for want in [
            "canary",
            "retries",
            "circuit-breaker",
            "latency-regression",
            "rogue",
            "federation",
        ] {
            assert!(find(want).is_some(), "{want}");
        }
    }

    #[test]
    fn quick_actions_write_valid_rules() {
        let demo = mesh::topology::Topology::demo();
        for yaml in [
            canary_yaml(15),
            retries_yaml(true, 10),
            retries_yaml(false, 0),
            fault_yaml(true),
            fault_yaml(false),
            breaker_yaml(true),
            breaker_yaml(false),
        ] {
            let (res, f) = mesh::config::check("quick", &yaml, &demo, &[]);
            assert!(!res.is_empty());
            assert!(f.iter().all(|f| !f.is_error()), "{yaml}\n{f:#?}");
        }
        assert_eq!(current_canary(&canary_yaml(15)), 15);
        assert!(has_retries(&retries_yaml(true, 5)));
        assert!(!has_retries(&retries_yaml(false, 5)));
    }
}
