use super::*;
use crate::config::parse::parse;

fn opts() -> ExportOptions {
    ExportOptions {
        image: "registry.example.com/meshcon:1".into(),
        rules_source: "test rules".into(),
    }
}

fn sources(e: &Export) -> Vec<SourceFile> {
    e.files
        .iter()
        .filter(|f| f.path.ends_with(".yaml"))
        .map(|f| SourceFile {
            path: f.path.clone(),
            text: f.text.clone(),
        })
        .collect()
}

fn sorted(mut r: Vec<Resource>) -> Vec<Resource> {
    r.sort_by_key(Resource::key);
    r
}

#[test]
fn the_demo_comes_back_from_its_export() {
    let t = Topology::demo();
    let src = [
        include_str!("../../../demo/rules/billing-subsets.yaml"),
        include_str!("../../../demo/rules/canary-90-10.yaml"),
        include_str!("../../../demo/rules/strict-mtls.yaml"),
    ]
    .join("\n---\n");
    // As the store keeps them: a later resource replaces a same-named one.
    let (rules, _) = crate::config::merge(
        &[],
        parse("rules.yaml", &src)
            .resources
            .into_iter()
            .map(|p| p.resource)
            .collect(),
    );
    assert!(rules.len() >= 3);
    let e = kubernetes(&t, &rules, &opts());
    let back = import(&sources(&e)).expect("import");
    assert_eq!(back.topology, t);
    assert_eq!(sorted(back.rules), sorted(rules));
    assert!(back.unmapped.is_empty(), "{:#?}", back.unmapped);
}

#[test]
fn a_foreign_deployment_is_imported_with_a_note() {
    let src = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec:\n  replicas: 3\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: web, image: nginx}]\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: shop}\ndata: {a: b}\n---\napiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: default, namespace: shop}\nspec: {}\n";
    let back = import(&[SourceFile {
        path: "dump.yaml".into(),
        text: src.into(),
    }])
    .expect("import");
    let web = &back.topology.services[0];
    assert_eq!((web.name.as_str(), web.versions[0].replicas), ("web", 3));
    let all = back.unmapped.join("\n");
    for needle in [
        "nginx",
        "`version` label",
        "ConfigMap shop/settings",
        "Sidecar",
    ] {
        assert!(all.contains(needle), "{needle} missing from:\n{all}");
    }
}

#[test]
fn an_external_process_is_left_out_with_a_note_and_its_callers_named() {
    let t = Topology::parse(
        "t.yaml",
        "mesh: ext\nclusters:\n- name: eu\n  trustDomain: eu.mesh\nservices:\n- name: web\n  cluster: eu\n  versions: [{name: v1}]\n  calls: [legacy]\n- name: legacy\n  cluster: eu\n  external: {app: '127.0.0.1:9999'}\n",
    )
    .expect("topology");
    let e = kubernetes(&t, &[], &opts());
    let objects: Vec<Value> = e
        .files
        .iter()
        .filter(|f| f.path.ends_with(".yaml"))
        .flat_map(|f| crate::yaml::parse_documents(&f.text).expect("yaml"))
        .map(|d| d.value)
        .collect();
    assert!(
        !objects.iter().any(|o| o["metadata"]["name"] == "legacy"),
        "no object stands for the external process"
    );
    assert_eq!(e.notes.len(), 1, "{:?}", e.notes);
    assert!(
        e.notes[0].contains("'legacy'") && e.notes[0].contains("calls of web"),
        "{}",
        e.notes[0]
    );
    let readme = &e.files[0];
    assert!(readme.text.contains("## Not exported") && readme.text.contains(&e.notes[0]));
    // Import still gives a topology that loads, and says what it dropped.
    let back = import(&sources(&e)).expect("import");
    assert!(back.topology.services.iter().all(|s| s.calls.is_empty()));
    let all = back.unmapped.join("\n");
    assert!(all.contains("calls 'legacy'"), "{all}");
}

#[test]
fn a_real_clusters_own_workloads_are_listed_not_imported() {
    let src = "apiVersion: v1\nkind: List\nitems:\n\
- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: istiod, namespace: istio-system}\n  spec:\n    selector: {matchLabels: {app: istiod}}\n    template:\n      metadata: {labels: {app: istiod}}\n      spec: {containers: [{name: discovery, image: istio/pilot}]}\n\
- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: coredns, namespace: kube-system}\n  spec:\n    selector: {matchLabels: {k8s-app: kube-dns}}\n    template:\n      metadata: {labels: {k8s-app: kube-dns}}\n      spec: {containers: [{name: coredns, image: coredns}]}\n\
- apiVersion: v1\n  kind: Service\n  metadata: {name: kubernetes, namespace: default}\n  spec: {ports: [{name: https, port: 443}]}\n\
- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: details-v1, namespace: default, uid: x, resourceVersion: '9'}\n  spec:\n    replicas: 2\n    selector: {matchLabels: {app: details, version: v1}}\n    template:\n      metadata: {labels: {app: details, version: v1}}\n      spec: {containers: [{name: details, image: istio/examples-bookinfo-details-v1, ports: [{containerPort: 9080}]}]}\n  status: {replicas: 2}\n";
    let back = import(&[SourceFile {
        path: "dump.yaml".into(),
        text: src.into(),
    }])
    .expect("import");
    let t = &back.topology;
    let names: Vec<&str> = t.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["details"]);
    assert_eq!(t.services[0].port, 9080, "the container's port");
    assert_eq!(t.clusters[0].trust_domain, "cluster.local");
    let all = back.unmapped.join("\n");
    for needle in [
        "Deployment istio-system/istiod: part of Istio or Kubernetes itself",
        "Deployment kube-system/coredns: part of Istio or Kubernetes itself",
        "Service default/kubernetes in cluster 'primary': part of Istio or Kubernetes itself",
    ] {
        assert!(all.contains(needle), "{needle} missing from:\n{all}");
    }
}

#[test]
fn the_readme_gives_the_commands_in_order() {
    let e = kubernetes(&Topology::demo(), &[], &opts());
    let readme = &e.files[0];
    assert_eq!(readme.path, "README.md");
    let at = |needle: &str| {
        readme
            .text
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing from:\n{}", readme.text))
    };
    let order = [
        "docker build -t registry.example.com/meshcon:1 .",
        "create secret generic cacerts",
        "istioctl install -y --context=\"${CTX_EU}\" -f eu/install/istio.yaml",
        "istioctl install -y --context=\"${CTX_EU}\" -f eu/install/eastwest-gateway.yaml",
        "istioctl install -y --context=\"${CTX_US}\" -f us/install/istio.yaml",
        "istioctl create-remote-secret --context=\"${CTX_EU}\" --name=eu | kubectl apply -f - --context=\"${CTX_US}\"",
        "istioctl create-remote-secret --context=\"${CTX_US}\" --name=us | kubectl apply -f - --context=\"${CTX_EU}\"",
        "kubectl --context=\"${CTX_EU}\" apply -f eu/workloads.yaml",
        "kubectl --context=\"${CTX_US}\" apply -f us/gateways.yaml",
        "create secret tls shop-ingress-cert",
        "meshcon attach --prometheus http://127.0.0.1:9090",
    ];
    let positions: Vec<usize> = order.iter().map(|n| at(n)).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "out of order: {order:#?} at {positions:?}"
    );
    // Every file the export wrote is listed, and every cluster file applied.
    for f in e.files.iter().skip(1) {
        assert!(readme.text.contains(&format!("`{}`", f.path)), "{}", f.path);
        assert!(
            readme.text.contains(&format!("-f {}", f.path)),
            "{} is never applied",
            f.path
        );
    }
}

#[test]
fn an_ingress_the_topology_cannot_say_stays_a_rule() {
    // Istio's bookinfo-gateway.yaml: plain HTTP, routes by path.
    let src = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: productpage-v1}\nspec:\n  selector: {matchLabels: {app: productpage, version: v1}}\n  template:\n    metadata: {labels: {app: productpage, version: v1}}\n    spec: {containers: [{name: p, image: istio/examples-bookinfo-productpage-v1}]}\n\
---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: bookinfo-gateway}\nspec:\n  selector: {istio: ingressgateway}\n  servers:\n  - port: {number: 8080, name: http, protocol: HTTP}\n    hosts: ['*']\n\
---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: bookinfo}\nspec:\n  hosts: ['*']\n  gateways: [bookinfo-gateway]\n  http:\n  - match: [{uri: {exact: /productpage}}, {uri: {prefix: /static}}]\n    route: [{destination: {host: productpage, port: {number: 9080}}}]\n";
    let back = import(&[SourceFile {
        path: "bookinfo.yaml".into(),
        text: src.into(),
    }])
    .expect("import");
    assert!(back.topology.clusters[0].ingress.is_none());
    let kinds: Vec<&str> = back.rules.iter().map(Resource::kind).collect();
    assert_eq!(kinds, ["Gateway", "VirtualService"]);
    let all = back.unmapped.join("\n");
    assert!(
        all.contains("Gateway default/bookinfo-gateway is not the plain HTTPS ingress"),
        "{all}"
    );
}
