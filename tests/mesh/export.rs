//! From the playground to a cluster: `meshcon export kubernetes` writes
//! objects that validate against the Kubernetes OpenAPI schema of a current
//! release (the `kubernetes-validate` Python package) and Istio's CRD
//! schemas (an OpenAPI v3 check with Python's `jsonschema`), that meshcon's
//! own analyzer finds no error in, and that `meshcon import` turns back into
//! the same topology and rules; `meshcon workload` serves the demo
//! behaviour on its own and a chain of two propagates the trace.
//!
//! The schema checks need `python3` with `kubernetes-validate` and
//! `jsonschema` (`pip install kubernetes-validate jsonschema pyyaml`, as .ci/run
//! does); without them those checks say so on stderr and are skipped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use mesh::api::config::{self, Resource};
use mesh::api::Topology;
use serde_json::Value;

use crate::support::{meshcon_bin, peers::Istio};

const IMAGE: &str = "registry.example.com/shop/meshcon:test";

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A meshcon command that must succeed; its stdout and stderr.
fn meshcon(args: &[&str]) -> (String, String) {
    let out = Command::new(meshcon_bin())
        .args(args)
        .output()
        .expect("run meshcon");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "meshcon {args:?} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    (stdout, stderr)
}

/// The rules of `src` as the store would keep them: a later resource
/// replaces a same-named one; sorted by kind, namespace and name, and the
/// namespace written out (`default` when absent, as the playground reads
/// it), as the export writes it for `kubectl apply`.
fn rules_of(src: &str, topology: &Topology) -> Vec<Resource> {
    let (resources, findings) = config::check("rules.yaml", src, topology, &[]);
    assert!(findings.iter().all(|f| !f.blocks()), "{findings:#?}");
    let mut merged: Vec<Resource> = Vec::new();
    for r in resources {
        merged.retain(|m| m.key() != r.key());
        merged.push(r);
    }
    merged.sort_by_key(Resource::key);
    merged.iter().map(mesh::api::export::namespaced).collect()
}

/// Every demo rule file that applies (all but the broken one), as one text.
fn demo_rules() -> String {
    let mut names: Vec<PathBuf> = std::fs::read_dir(repo("demo/rules"))
        .expect("demo/rules")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| !p.ends_with("broken-weights.yaml"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| read(p))
        .collect::<Vec<_>>()
        .join("\n---\n")
}

/// Istio's Bookinfo rules from the reference material, when it is there:
/// those whose subsets all have pods in `demo/bookinfo.yaml` (the
/// `-all` DestinationRule names versions it does not run, IST0173).
fn bookinfo_rules() -> String {
    match Istio::find() {
        Some(istio) => [
            "samples/bookinfo/networking/destination-rule-reviews.yaml",
            "samples/bookinfo/networking/virtual-service-reviews-50-v3.yaml",
        ]
        .iter()
        .map(|f| istio.read(f))
        .collect::<Vec<_>>()
        .join("\n---\n"),
        None => String::new(),
    }
}

/// One exported case: the topology, the rules given and the output dir.
struct Case {
    topology: Topology,
    rules: Vec<Resource>,
    dir: tempfile::TempDir,
}

fn export(topology_file: Option<&str>, rules: &str) -> Case {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules_file = dir.path().join("rules.yaml");
    let out = dir.path().join("out");
    let mut args: Vec<String> = vec!["--state-dir".into()];
    args.push(dir.path().join("state").display().to_string());
    args.extend(["export", "kubernetes", "--image", IMAGE].map(String::from));
    let topology = match topology_file {
        Some(f) => {
            args.extend(["-f".to_string(), repo(f).display().to_string()]);
            Topology::parse(f, &read(&repo(f))).expect("topology")
        }
        None => Topology::demo(),
    };
    let rules = if rules.trim().is_empty() {
        Vec::new()
    } else {
        std::fs::write(&rules_file, rules).expect("write rules");
        args.extend(["--rules".to_string(), rules_file.display().to_string()]);
        rules_of(rules, &topology)
    };
    args.extend(["-o".to_string(), out.display().to_string()]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (stdout, _) = meshcon(&argv);
    assert!(stdout.contains("next: the commands in"), "{stdout}");
    Case {
        topology,
        rules,
        dir,
    }
}

impl Case {
    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// Every YAML file written, sorted.
    fn files(&self) -> Vec<PathBuf> {
        fn walk(d: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(d).expect("dir").flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "yaml") {
                    out.push(p);
                }
            }
        }
        let mut v = Vec::new();
        walk(&self.out(), &mut v);
        v.sort();
        v
    }

    /// Every document written, with its file.
    fn docs(&self) -> Vec<(PathBuf, Value)> {
        let mut out = Vec::new();
        for f in self.files() {
            for d in mesh::api::export::yaml_documents(&read(&f)).expect("yaml") {
                out.push((f.clone(), d));
            }
        }
        out
    }
}

/// A Python with both validation packages, or None after saying why.
fn python() -> Option<&'static str> {
    let ok = Command::new("python3")
        .args(["-c", "import kubernetes_validate, jsonschema, yaml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "export schema validation: skipped: no python3 with kubernetes-validate, jsonschema and pyyaml (pip install kubernetes-validate jsonschema pyyaml)"
        );
    }
    ok.then_some("python3")
}

/// Validates documents: core objects with kubernetes-validate against the
/// newest Kubernetes release it knows, strictly (unknown fields are
/// errors); Istio objects with jsonschema against the CRD's
/// openAPIV3Schema for their apiVersion, made strict the same way (a
/// structural schema prunes unknown fields; `kubectl apply` refuses them).
const VALIDATE_PY: &str = r#"
import sys, yaml, jsonschema, kubernetes_validate
from kubernetes_validate.utils import latest_version

crds, files = sys.argv[1], sys.argv[2:]

def strict(s):
    if isinstance(s, list):
        return [strict(x) for x in s]
    if not isinstance(s, dict):
        return s
    out = {k: (strict(v) if k != "properties" else {p: strict(q) for p, q in v.items()}) for k, v in s.items()}
    if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out \
            and not out.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out

schemas = {}
if crds != "-":
    for crd in yaml.safe_load_all(open(crds)):
        if not crd or crd.get("kind") != "CustomResourceDefinition":
            continue
        g, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for v in crd["spec"]["versions"]:
            schemas[(g + "/" + v["name"], kind)] = strict(v["schema"]["openAPIV3Schema"])

version = latest_version()
kube = istio = skipped = 0
errors = []
for f in files:
    for doc in yaml.safe_load_all(open(f)):
        if not doc:
            continue
        api, kind = doc.get("apiVersion", ""), doc.get("kind", "")
        name = "%s: %s %s" % (f, kind, doc.get("metadata", {}).get("name"))
        if "istio.io/" in api:
            if crds == "-":
                skipped += 1
                continue
            schema = schemas.get((api, kind))
            if schema is None:
                errors.append("%s: no CRD schema for %s" % (name, api))
                continue
            body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind", "metadata")}
            for e in jsonschema.validators.validator_for(schema)(schema).iter_errors(body):
                errors.append("%s: %s at %s" % (name, e.message, "/".join(map(str, e.path))))
            istio += 1
        else:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
                kube += 1
            except Exception as e:
                where = "/".join(map(str, getattr(e, "path", [])))
                errors.append("%s: %s at %s" % (name, getattr(e, "message", str(e)), where))
print("kubernetes %s: %d objects valid; istio CRDs: %d objects valid, %d not checked" % (version, kube, istio, skipped))
for e in errors:
    print("INVALID " + e)
sys.exit(1 if errors else 0)
"#;

fn crds() -> String {
    Istio::find()
        .map(|i| i.root.join("manifests/charts/base/files/crd-all.gen.yaml"))
        .map_or("-".to_string(), |p| p.display().to_string())
}

fn validate_schemas(case: &Case) {
    let Some(py) = python() else { return };
    let crds = crds();
    // IstioOperators are read by istioctl, not applied: checked below.
    let files: Vec<String> = case
        .files()
        .into_iter()
        .filter(|f| !f.to_string_lossy().contains("/install/"))
        .map(|f| f.display().to_string())
        .collect();
    let out = Command::new(py)
        .arg("-c")
        .arg(VALIDATE_PY)
        .arg(&crds)
        .args(&files)
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "schema validation failed:\n{text}");
    assert!(text.contains("objects valid"), "{text}");
}

/// What each cluster is given to `kubectl apply`, checked by the analyzer
/// `meshcon validate` runs: no errors.
fn analyze(case: &Case) {
    for c in &case.topology.clusters {
        let dir = case.out().join(&c.name);
        let text = [
            "namespaces.yaml",
            "workloads.yaml",
            "gateways.yaml",
            "rules.yaml",
        ]
        .iter()
        .map(|f| dir.join(f))
        .filter(|p| p.exists())
        .map(|p| read(&p))
        .collect::<Vec<_>>()
        .join("---\n");
        let (resources, findings) = config::check(&c.name, &text, &case.topology, &[]);
        let errors: Vec<String> = findings
            .iter()
            .filter(|f| f.is_error())
            .map(ToString::to_string)
            .collect();
        assert!(errors.is_empty(), "cluster {}: {errors:#?}", c.name);
        assert!(
            resources.len() > case.rules.len(),
            "the cluster's gateways are analysed with its rules"
        );
    }
}

/// The IstioOperators have no schema in Kubernetes or Istio's CRDs (istioctl
/// reads them on the user's machine): their multi-primary, multi-network
/// settings are checked field by field.
fn check_operators(case: &Case) {
    let t = &case.topology;
    for c in &t.clusters {
        let io = &mesh::api::export::yaml_documents(&read(
            &case.out().join(&c.name).join("install/istio.yaml"),
        ))
        .expect("yaml")[0];
        assert_eq!(io["kind"], "IstioOperator");
        let global = &io["spec"]["values"]["global"];
        assert_eq!(global["meshID"], t.mesh.as_str());
        assert_eq!(global["multiCluster"]["clusterName"], c.name.as_str());
        assert_eq!(global["network"], format!("network-{}", c.name).as_str());
        assert_eq!(
            io["spec"]["meshConfig"]["trustDomain"],
            c.trust_domain.as_str()
        );
        let others: Vec<&str> = t
            .clusters
            .iter()
            .filter(|o| o.name != c.name)
            .map(|o| o.trust_domain.as_str())
            .collect();
        let aliases: Vec<&str> = io["spec"]["meshConfig"]["trustDomainAliases"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert_eq!(aliases, others);
        let ew = case
            .out()
            .join(&c.name)
            .join("install/eastwest-gateway.yaml");
        if t.clusters.len() < 2 {
            assert!(!ew.exists(), "one cluster needs no east-west gateway");
            continue;
        }
        let ew = &mesh::api::export::yaml_documents(&read(&ew)).expect("yaml")[0];
        let gw = &ew["spec"]["components"]["ingressGateways"][0];
        assert_eq!(gw["label"]["istio"], "eastwestgateway");
        assert_eq!(gw["label"]["topology.istio.io/network"], global["network"]);
        assert_eq!(
            gw["k8s"]["env"][0]["name"],
            "ISTIO_META_REQUESTED_NETWORK_VIEW"
        );
        let ports: Vec<u64> = gw["k8s"]["service"]["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .filter_map(|p| p["port"].as_u64())
            .collect();
        assert_eq!(ports, [15021, 15443, 15012, 15017]);
        // The Gateway on it is Istio's own expose-services.yaml.
        if let Some(istio) = Istio::find() {
            let theirs = &mesh::api::export::yaml_documents(
                &istio.read("samples/multicluster/expose-services.yaml"),
            )
            .expect("yaml")[0];
            let ours = mesh::api::export::yaml_documents(&read(
                &case.out().join(&c.name).join("gateways.yaml"),
            ))
            .expect("yaml")
            .into_iter()
            .find(|d| d["spec"]["selector"]["istio"] == "eastwestgateway")
            .expect("the east-west Gateway");
            assert_eq!(ours["spec"], theirs["spec"]);
            assert_eq!(ours["apiVersion"], theirs["apiVersion"]);
        }
    }
}

/// The workloads' objects: labels Istio needs, replicas, identities, image.
fn check_workloads(case: &Case) {
    let docs = case.docs();
    for s in &case.topology.services {
        for v in &s.versions {
            let name = format!("{}-{}", s.name, v.name);
            let d = docs
                .iter()
                .map(|(_, d)| d)
                .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == name.as_str())
                .unwrap_or_else(|| panic!("no Deployment {name}"));
            assert_eq!(d["spec"]["replicas"].as_u64(), Some(u64::from(v.replicas)));
            let labels = &d["spec"]["template"]["metadata"]["labels"];
            assert_eq!(
                (&labels["app"], &labels["version"]),
                (&Value::from(s.name.as_str()), &Value::from(v.name.as_str()))
            );
            let pod = &d["spec"]["template"]["spec"];
            assert_eq!(pod["serviceAccountName"], s.service_account());
            assert_eq!(pod["containers"][0]["image"], IMAGE);
            assert_eq!(pod["containers"][0]["args"][0], "workload");
        }
        assert!(docs.iter().any(|(_, d)| d["kind"] == "ServiceAccount"
            && d["metadata"]["name"] == s.service_account()
            && d["metadata"]["namespace"] == s.namespace.as_str()));
    }
    // `kubectl apply` puts an object without a namespace wherever the
    // user's context points; the playground meant `default`.
    for (f, d) in &docs {
        if d["kind"] != "Namespace" {
            assert!(
                d["metadata"]["namespace"].is_string(),
                "{}: {} {} has no namespace",
                f.display(),
                d["kind"],
                d["metadata"]["name"]
            );
        }
    }
    let injected = docs.iter().any(|(_, d)| {
        d["kind"] == "Namespace" && d["metadata"]["labels"]["istio-injection"] == "enabled"
    });
    assert!(injected, "workload namespaces are labelled for injection");
    for c in case
        .topology
        .clusters
        .iter()
        .filter(|c| c.ingress.is_some())
    {
        let gw = docs
            .iter()
            .find(|(f, d)| {
                f.starts_with(case.out().join(&c.name))
                    && d["kind"] == "Gateway"
                    && d["spec"]["selector"]["istio"] == "ingressgateway"
            })
            .map(|(_, d)| d)
            .expect("ingress Gateway");
        let cred = &gw["spec"]["servers"][0]["tls"]["credentialName"];
        let readme = read(&case.out().join("README.md"));
        let secret = cred.as_str().expect("credentialName");
        assert!(
            readme.contains(&format!("secret tls {secret}")),
            "the README names the Secret"
        );
    }
}

/// `meshcon import` of the export gives the same topology and rules back.
fn round_trip(case: &Case) {
    let back = case.dir.path().join("back");
    let out = case.out();
    let (stdout, stderr) = meshcon(&[
        "import",
        &out.display().to_string(),
        "-o",
        &back.display().to_string(),
    ]);
    assert!(
        stdout.contains("everything read was mapped"),
        "{stdout}\n{stderr}"
    );
    let topo = read(&back.join("topology.yaml"));
    let topology = Topology::parse("topology.yaml", &topo).expect("imported topology parses");
    assert_eq!(topology, case.topology, "topology after export and import");
    let rules_file = back.join("rules.yaml");
    let rules = if rules_file.exists() {
        rules_of(&read(&rules_file), &case.topology)
    } else {
        Vec::new()
    };
    assert_eq!(rules, case.rules, "rules after export and import");
}

#[test]
fn the_demo_exports_valid_objects_and_comes_back_from_import() {
    let case = export(None, &demo_rules());
    assert!(case.rules.len() >= 5, "the demo rules cover every kind");
    validate_schemas(&case);
    analyze(&case);
    check_operators(&case);
    check_workloads(&case);
    round_trip(&case);
}

#[test]
fn the_schema_checks_refuse_a_field_the_schemas_lack() {
    let Some(py) = python() else { return };
    let crds = crds();
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  ports: [{port: 80}]\n  colour: red\n---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec:\n  selector: {istio: ingressgateway}\n  servers:\n  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: [a.example.com]\n    tls: {mode: SIMPLE, credentialName: c, colour: red}\n",
    )
    .expect("write");
    let out = Command::new(py)
        .arg("-c")
        .arg(VALIDATE_PY)
        .arg(&crds)
        .arg(&bad)
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("INVALID") && text.contains("Service a"),
        "{text}"
    );
    if crds != "-" {
        assert!(
            text.contains("Gateway g") && text.contains("spec/servers/0/tls"),
            "{text}"
        );
    }
}

#[test]
fn bookinfo_exports_valid_objects_and_comes_back_from_import() {
    let case = export(Some("demo/bookinfo.yaml"), &bookinfo_rules());
    validate_schemas(&case);
    analyze(&case);
    check_operators(&case);
    check_workloads(&case);
    round_trip(&case);
}

#[test]
fn a_version_needs_a_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(meshcon_bin())
        .args(["--state-dir", &dir.path().display().to_string()])
        .args(["export", "kubernetes", "--version", "v2", "-o"])
        .arg(dir.path().join("out"))
        .output()
        .expect("meshcon");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no config history") && err.contains("--rules FILE"),
        "{err}"
    );
}

/// The rules `import` gives back from what `export` wrote with `args`.
fn exported_rules(state: &Path, args: &[&str]) -> Vec<Resource> {
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, back) = (dir.path().join("out"), dir.path().join("back"));
    let mut argv = vec![
        "--state-dir",
        state.to_str().expect("utf-8 path"),
        "export",
        "kubernetes",
    ];
    argv.extend(args);
    let out_s = out.display().to_string();
    argv.extend(["-o", &out_s]);
    meshcon(&argv);
    meshcon(&["import", &out_s, "-o", &back.display().to_string()]);
    let rules = back.join("rules.yaml");
    if rules.exists() {
        rules_of(&read(&rules), &Topology::demo())
    } else {
        Vec::new()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_config_version_from_the_history_is_what_gets_exported() {
    let m = crate::support::demo().await;
    crate::support::apply_rule(&m, "canary-90-10.yaml").await;
    crate::support::apply_rule(&m, "strict-mtls.yaml").await;
    let state = m.dir.path().to_path_buf();
    let kinds = |r: &[Resource]| r.iter().map(|r| r.key().to_string()).collect::<Vec<_>>();
    let (v1, latest) = tokio::task::spawn_blocking(move || {
        (
            exported_rules(&state, &["--version", "v1"]),
            exported_rules(&state, &[]),
        )
    })
    .await
    .expect("export");
    assert_eq!(
        v1,
        rules_of(
            &read(&repo("demo/rules/canary-90-10.yaml")),
            &Topology::demo()
        )
    );
    assert_eq!(
        kinds(&latest).len(),
        kinds(&v1).len() + 1,
        "{:?}",
        kinds(&latest)
    );
    assert!(kinds(&latest)
        .iter()
        .any(|k| k.starts_with("PeerAuthentication")));
    m.stop().await;
}

#[test]
fn import_lists_what_it_cannot_map() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dump = dir.path().join("dump.yaml");
    std::fs::write(
        &dump,
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: web-v1, namespace: shop}\n  spec:\n    selector: {matchLabels: {app: web}}\n    template:\n      metadata: {labels: {app: web, version: v1}}\n      spec:\n        containers: [{name: web, image: nginx:1.27}]\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: settings, namespace: shop}\n- apiVersion: networking.istio.io/v1\n  kind: ServiceEntry\n  metadata: {name: payments, namespace: shop}\n  spec: {hosts: [pay.example.com], ports: [{number: 443, name: tls, protocol: TLS}], resolution: DNS}\n",
    )
    .expect("write");
    let (stdout, stderr) = meshcon(&[
        "import",
        &dump.display().to_string(),
        "-o",
        &dir.path().join("back").display().to_string(),
    ]);
    assert!(stdout.contains("1 services"), "{stdout}");
    for needle in [
        "nginx:1.27",
        "ConfigMap shop/settings",
        "ServiceEntry shop/payments",
    ] {
        assert!(stderr.contains(needle), "{needle} not listed:\n{stderr}");
    }
}

/// A `meshcon workload` process, killed when dropped.
struct Workload {
    child: Child,
    addr: String,
}

impl Drop for Workload {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn workload(args: &[&str]) -> Workload {
    let mut child = Command::new(meshcon_bin())
        .arg("workload")
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("meshcon workload");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("first line");
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .filter(|a| a.contains(':'))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    Workload { child, addr }
}

#[test]
fn a_chain_of_two_workloads_propagates_the_trace() {
    let billing = workload(&[
        "--service",
        "billing",
        "--version",
        "v2",
        "--latency",
        "2ms",
    ]);
    let target = format!("billing={}", billing.addr);
    let user = workload(&[
        "--service",
        "user",
        "--cluster",
        "eu",
        "--latency",
        "p50=1ms,p99=3ms",
        "--call",
        &target,
    ]);
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    let sent = format!("00-{trace_id}-{parent}-01");
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "30", "-H"])
        .arg(format!("traceparent: {sent}"))
        .arg(format!("http://{}/cart", user.addr))
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body: Value = serde_json::from_slice(&out.stdout).expect("JSON answer");
    assert_eq!(body["service"], "user");
    assert_eq!(body["cluster"], "eu");
    assert_eq!(body["traceparent"], sent.as_str(), "{body}");
    let call = &body["calls"][0];
    assert_eq!(
        (&call["service"], &call["version"], &call["status"]),
        (
            &Value::from("billing"),
            &Value::from("v2"),
            &Value::from(200)
        ),
        "{body}"
    );
    assert_eq!(call["path"], "/cart");
    let onward = call["traceparent"]
        .as_str()
        .expect("billing saw a traceparent");
    let parts: Vec<&str> = onward.split('-').collect();
    assert_eq!(parts.len(), 4, "{onward}");
    assert_eq!(parts[1], trace_id, "the same trace");
    assert_ne!(parts[2], parent, "a new parent span: user's own");
    assert_ne!(parts[2], "0000000000000000");
}

/// What the exported Deployments run: behind an Istio sidecar the app
/// passes the trace headers on as they came (Envoy makes the spans).
#[test]
fn behind_a_sidecar_a_workload_forwards_the_trace_headers_unchanged() {
    let auth = workload(&["--service", "auth", "--trace", "forward"]);
    let target = format!("auth={}", auth.addr);
    let front = workload(&[
        "--service",
        "frontend",
        "--trace",
        "forward",
        "--call",
        &target,
    ]);
    let sent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "30", "-H"])
        .arg(format!("traceparent: {sent}"))
        .arg(format!("http://{}/", front.addr))
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body: Value = serde_json::from_slice(&out.stdout).expect("JSON answer");
    let call = &body["calls"][0];
    assert_eq!(call["status"], 200, "{body}");
    assert_eq!(call["traceparent"], sent, "{body}");
}

#[test]
fn a_workload_answers_its_error_rate() {
    let w = workload(&["--service", "auth", "--error-rate", "1"]);
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "30",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .arg(format!("http://{}/", w.addr))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "503");
}

#[test]
fn the_dockerfile_builds_the_same_binary_into_a_small_image() {
    let text = read(&repo("Dockerfile"));
    let stages: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().to_ascii_uppercase().starts_with("FROM "))
        .collect();
    assert_eq!(
        stages.len(),
        2,
        "a build stage and a runtime stage: {stages:?}"
    );
    // Small: the runtime stage starts from a base without the toolchain.
    assert!(
        !stages[1].contains("rust") && stages[0].contains(" AS "),
        "{stages:?}"
    );
    let (build, runtime) = text.split_once(stages[1]).expect("second stage");
    assert!(
        build.contains("cargo build --release --bin meshcon"),
        "{build}"
    );
    assert!(
        runtime.contains("COPY --from=") && runtime.contains("release/meshcon"),
        "{runtime}"
    );
    assert!(
        runtime.contains("ENTRYPOINT") && runtime.contains("meshcon"),
        "{runtime}"
    );
    let ignore = read(&repo(".dockerignore"));
    assert!(
        ignore.lines().any(|l| l.trim() == "target"),
        "the build context leaves target/ out"
    );
}
