//! The README an export writes next to its YAML: the exact, ordered
//! commands that install Istio per cluster, link the clusters and apply
//! the mesh.

use std::fmt::Write;

use super::{ingress_secret, network, Export, ExportOptions};
use crate::topology::Topology;

/// `CTX_EU`: the shell variable holding a cluster's kubectl context.
fn ctx(cluster: &str) -> String {
    format!(
        "CTX_{}",
        cluster.to_ascii_uppercase().replace(['-', '.'], "_")
    )
}

/// The README's text.
pub(super) fn render(t: &Topology, opts: &ExportOptions, export: &Export) -> String {
    let mut r = String::new();
    let multi = t.clusters.len() > 1;
    let names: Vec<&str> = t.clusters.iter().map(|c| c.name.as_str()).collect();
    let _ = writeln!(r, "# Mesh `{}` on Kubernetes with Istio\n", t.mesh);
    let _ = writeln!(
        r,
        "Written by `meshcon export kubernetes` from the playground topology (clusters: {}) and {}. \
Each cluster is an Istio primary with its own istiod, CA trust domain and network{}.\n",
        names.join(", "),
        opts.rules_source,
        if multi {
            ", joined by east-west gateways (Istio's multi-primary, multi-network install)"
        } else {
            ""
        }
    );
    let _ = writeln!(r, "## Files\n");
    for f in &export.files {
        let _ = writeln!(r, "- `{}`", f.path);
    }
    let _ = writeln!(
        r,
        "\n`install/*.yaml` are `IstioOperator`s for `istioctl install -f` (read by istioctl, not applied \
to the cluster). IstioOperator rather than Helm values: the east-west gateway Istio documents for \
multi-network meshes (`samples/multicluster/gen-eastwest-gateway.sh`) is an IstioOperator, and so is \
each cluster's install in Istio's multi-primary guide, so one tool installs both and the files match \
the guide. The rest is plain YAML for `kubectl apply -f`.\n"
    );
    let _ = writeln!(r, "## Commands, in order\n");
    let _ = writeln!(
        r,
        "Set one kubectl context per cluster (names are examples):\n\n```sh"
    );
    for c in &names {
        let _ = writeln!(r, "export {}=kind-{c}", ctx(c));
    }
    let _ = writeln!(r, "```\n");
    let _ = writeln!(
        r,
        "1. Build the workload image from the meshcon repository and push it where the clusters pull \
from (the Deployments run `{}`; `--image` changes it). This needs a container tool (docker, podman, \
buildah):\n\n```sh\ndocker build -t {0} .\ndocker push {0}\n```\n",
        opts.image
    );
    let _ = writeln!(
        r,
        "2. Give the clusters one root of trust. The playground federates separate CAs; Istio's \
multi-primary set-up needs a shared root with an intermediate CA per cluster, plugged in as the \
`cacerts` Secret (Istio's \"Plug in CA certificates\" task), before installing. In an Istio \
release directory, `make -f tools/certs/Makefile.selfsigned.mk root-ca` makes the root and \
`make -f tools/certs/Makefile.selfsigned.mk <cluster>-cacerts` each cluster's files (copy them to \
`certs/<cluster>/`):\n\n```sh"
    );
    for c in &names {
        let _ = writeln!(
            r,
            "kubectl --context=\"${{{x}}}\" apply -f {c}/namespaces.yaml\n\
kubectl --context=\"${{{x}}}\" -n istio-system create secret generic cacerts \\\n    \
--from-file=certs/{c}/ca-cert.pem --from-file=certs/{c}/ca-key.pem \\\n    \
--from-file=certs/{c}/root-cert.pem --from-file=certs/{c}/cert-chain.pem",
            x = ctx(c)
        );
    }
    let _ = writeln!(
        r,
        "```\n\n   `namespaces.yaml` also labels `istio-system` with the cluster's network ({}), which Istio reads.\n",
        names
            .iter()
            .map(|c| format!("`{c}`: `{}`", network(c)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(r, "3. Install Istio in each cluster:\n\n```sh");
    for c in &names {
        let _ = writeln!(
            r,
            "istioctl install -y --context=\"${{{}}}\" -f {c}/install/istio.yaml",
            ctx(c)
        );
        if multi {
            let _ = writeln!(
                r,
                "istioctl install -y --context=\"${{{}}}\" -f {c}/install/eastwest-gateway.yaml",
                ctx(c)
            );
        }
    }
    let _ = writeln!(r, "```\n");
    let mut step = 4;
    if multi {
        let _ = writeln!(
            r,
            "{step}. Let each istiod read the other clusters' endpoints (remote secrets, both ways):\n\n```sh"
        );
        for a in &names {
            for b in names.iter().filter(|b| *b != a) {
                let _ = writeln!(
                    r,
                    "istioctl create-remote-secret --context=\"${{{}}}\" --name={a} | kubectl apply -f - --context=\"${{{}}}\"",
                    ctx(a),
                    ctx(b)
                );
            }
        }
        let _ = writeln!(r, "```\n");
        step += 1;
    }
    let _ = writeln!(
        r,
        "{step}. Apply the mesh: workloads, gateways and rules.\n\n```sh"
    );
    for c in &t.clusters {
        let files: Vec<&str> = export
            .files
            .iter()
            .filter_map(|f| f.path.strip_prefix(&format!("{}/", c.name)))
            .filter(|p| !p.starts_with("install/") && *p != "namespaces.yaml")
            .collect();
        for f in files {
            let _ = writeln!(
                r,
                "kubectl --context=\"${{{}}}\" apply -f {}/{f}",
                ctx(&c.name),
                c.name
            );
        }
    }
    let _ = writeln!(r, "```\n");
    step += 1;
    for c in t.clusters.iter().filter(|c| c.ingress.is_some()) {
        let hosts = c
            .ingress
            .as_ref()
            .map(|i| i.hosts.join(" "))
            .unwrap_or_default();
        let first = hosts.split(' ').next().unwrap_or_default().to_string();
        let _ = writeln!(
            r,
            "{step}. The ingress of `{}` serves {hosts} over HTTPS; its gateway reads the certificate from the \
Secret `{secret}` in `istio-system`:\n\n```sh\n\
openssl req -x509 -newkey rsa:2048 -nodes -days 90 -subj \"/CN={first}\" \\\n    \
-addext \"subjectAltName=DNS:{first}\" -keyout ingress.key -out ingress.crt\n\
kubectl --context=\"${{{x}}}\" -n istio-system create secret tls {secret} --key ingress.key --cert ingress.crt\n\
INGRESS=$(kubectl --context=\"${{{x}}}\" -n istio-system get svc istio-ingressgateway -o jsonpath='{{.status.loadBalancer.ingress[0].ip}}')\n\
curl --cacert ingress.crt --resolve {first}:443:$INGRESS https://{first}/\n```\n",
            c.name,
            secret = ingress_secret(&t.mesh),
            x = ctx(&c.name)
        );
        step += 1;
    }
    let _ = writeln!(
        r,
        "{step}. Watch it with the console: install Istio's Prometheus addon from the Istio release \
directory (as in step 2) in a cluster, forward its port and attach; `--context` lets the console read \
and edit the cluster's Istio resources through your kubectl:\n\n```sh\n\
kubectl --context=\"${{{x}}}\" apply -f samples/addons/prometheus.yaml\n\
kubectl --context=\"${{{x}}}\" -n istio-system port-forward svc/prometheus 9090:9090 &\n\
meshcon attach --prometheus http://127.0.0.1:9090 --context \"${{{x}}}\"\n```\n",
        x = ctx(names.first().copied().unwrap_or("cluster"))
    );
    let _ = writeln!(
        r,
        "## Differences from the playground\n\n\
- Rules are applied in every cluster: each primary's istiod reads only its own cluster's config.\n\
- A cluster that calls a service running elsewhere gets a Service of that name without pods, so the \
name resolves; Istio sends the calls through the other network's east-west gateway.\n\
- The workloads forward trace headers and leave the spans to their Envoy sidecars (`--trace forward`)."
    );
    if !export.notes.is_empty() {
        let _ = writeln!(r, "\n## Not exported\n");
        for n in &export.notes {
            let _ = writeln!(r, "- {n}");
        }
    }
    r.push_str(
        "\n`meshcon import DIR -o OUT` reads this directory (or a `kubectl get -o yaml` dump) back into a \
topology and rules for the playground.\n",
    );
    r
}
