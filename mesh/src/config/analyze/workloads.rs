//! Workload selectors of policies: one that matches no workload (IST0127),
//! and one that picks the pods of a Kubernetes Gateway API gateway, where a
//! selector has no effect and `targetRefs` must be used (IST0166).

use std::collections::BTreeMap;

use super::{selects, Checker};
use crate::config::model::WorkloadSelector;
use crate::config::parse::Parsed;
use crate::config::scope::ROOT_NAMESPACE;
use crate::config::{codes, Level};

/// The label the Gateway API puts on the pods of the gateway it deploys.
const GATEWAY_NAME_LABEL: &str = "gateway.networking.k8s.io/gateway-name";

impl Checker<'_> {
    /// IST0127 and IST0166 for a policy in namespace `ns` with `selector`.
    /// Files checked alone say nothing about namespaces they hold no pods
    /// of: the pods may well be running, only not in the file.
    pub(super) fn workload_selector(
        &mut self,
        p: &Parsed,
        ns: &str,
        selector: Option<&WorkloadSelector>,
    ) {
        let ctx = self.ctx;
        let labels = selector.map(|s| &s.match_labels);
        let mesh_wide = ns == ROOT_NAMESPACE;
        let in_scope = |pod_ns: &str| mesh_wide || pod_ns == ns;
        let known = ctx.complete
            || ctx
                .pods
                .iter()
                .any(|pod| pod.namespace == ns && pod.namespace != ROOT_NAMESPACE);
        match labels {
            None if !mesh_wide && known && !ctx.pods.iter().any(|pod| pod.namespace == ns) => {
                self.push(
                    p,
                    codes::NO_MATCHING_WORKLOADS,
                    Level::Warning,
                    "metadata.name",
                    "No matching workloads for this resource with the following labels: ".into(),
                    &format!(
                        "deploy workloads in namespace {ns}, or put the policy where they run"
                    ),
                );
            }
            Some(l)
                if known
                    && !ctx
                        .pods
                        .iter()
                        .any(|pod| in_scope(&pod.namespace) && selects(l, &pod.labels)) =>
            {
                self.push(
                    p,
                    codes::NO_MATCHING_WORKLOADS,
                    Level::Warning,
                    "spec.selector.matchLabels",
                    format!(
                        "No matching workloads for this resource with the following labels: {}",
                        label_string(l)
                    ),
                    "fix the labels to match the workloads' pod labels (kubectl get pods --show-labels)",
                );
            }
            _ => {}
        }
        let targeted =
            p.spans.value("spec.targetRef").is_some() || p.spans.value("spec.targetRefs").is_some();
        let Some(l) = labels.filter(|_| !targeted) else {
            return;
        };
        let mut gateways: Vec<&str> = ctx
            .pods
            .iter()
            .filter(|pod| pod.namespace == ns && selects(l, &pod.labels))
            .filter_map(|pod| pod.labels.get(GATEWAY_NAME_LABEL).map(String::as_str))
            .collect();
        gateways.sort_unstable();
        gateways.dedup();
        for gw in gateways {
            self.push(
                p,
                codes::INEFFECTIVE_SELECTOR,
                Level::Warning,
                "spec.selector",
                format!("Ineffective selector on Kubernetes Gateway {gw}. Use the TargetRef field instead."),
                &format!("replace the selector with targetRefs: [{{kind: Gateway, group: gateway.networking.k8s.io, name: {gw}}}]"),
            );
        }
    }
}

/// `app=a,version=v1`, as Kubernetes prints a selector.
fn label_string(l: &BTreeMap<String, String>) -> String {
    l.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}
