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
    /// Seconds to let the mesh run before the next step (at most a minute).
    #[serde(default)]
    pub wait: Option<u64>,
}

/// A scenario: what to do, and what to look at.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scenario {
    /// Short name for `:scenario NAME`.
    pub name: String,
    /// A one-line title, for the note and the status line.
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
            let doc = mesh::api::util::parse_yaml(src).ok()?;
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
}
