//! Istio's analyzer codes on small inputs of our own: each code where Istio
//! reports it, at the node at fault, with a fix; and not where Istio does
//! not.

use mesh::api::config::{self, Finding, Level};
use mesh::api::Topology;

fn standalone(src: &str) -> Vec<Finding> {
    config::analyze_standalone("in.yaml", src)
}

fn with_code<'a>(f: &'a [Finding], code: &str) -> Vec<&'a Finding> {
    f.iter().filter(|f| f.code == code).collect()
}

fn show(f: &[Finding]) -> String {
    f.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: billing-1, namespace: shop, labels: {app: billing}}\n---\n";

#[test]
fn ist0127_a_policy_selector_matching_no_pod_is_reported() {
    let src = format!("{POD}apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: deny-x, namespace: shop}}\nspec:\n  selector:\n    matchLabels: {{app: biling}}\n  action: DENY\n  rules:\n  - to:\n    - operation: {{methods: [DELETE]}}\n");
    let f = standalone(&src);
    let found = with_code(&f, "IST0127");
    assert_eq!(found.len(), 1, "{}", show(&f));
    let x = found[0];
    assert_eq!(x.level, Level::Warning);
    assert!(x.message.contains("app=biling"), "{x}");
    assert_eq!((x.pos.line, x.pos.col), (10, 5), "at matchLabels: {x}");
    assert!(!x.fix.is_empty());

    let ok = src.replace("biling", "billing");
    let f = standalone(&ok);
    assert!(with_code(&f, "IST0127").is_empty(), "{}", show(&f));
}

#[test]
fn ist0127_is_not_guessed_for_namespaces_a_file_holds_no_pods_of() {
    let src = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: deny-x, namespace: other}\nspec:\n  selector:\n    matchLabels: {app: billing}\n  action: DENY\n";
    let f = standalone(src);
    assert!(with_code(&f, "IST0127").is_empty(), "{}", show(&f));
}

#[test]
fn ist0127_on_a_running_mesh_checks_its_workloads() {
    let topo = Topology::demo();
    let src = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: nobody, namespace: default}\nspec:\n  selector:\n    matchLabels: {app: no-such-app}\n";
    let (_, f) = config::check("in.yaml", src, &topo, &[]);
    assert_eq!(with_code(&f, "IST0127").len(), 1, "{}", show(&f));
    // Policies still apply: the finding is a warning.
    assert!(f.iter().all(|f| !f.blocks()), "{}", show(&f));
}

#[test]
fn ist0134_a_tcp_service_entry_port_needs_addresses() {
    let src = "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: db, namespace: shop}\nspec:\n  hosts: [db.example.com]\n  location: MESH_EXTERNAL\n  resolution: DNS\n  ports:\n  - {number: 5432, name: pg, protocol: TCP}\n  - {number: 443, name: https, protocol: TLS}\n";
    let f = standalone(src);
    let found = with_code(&f, "IST0134");
    assert_eq!(found.len(), 1, "only the TCP port: {}", show(&f));
    assert_eq!(found[0].level, Level::Warning);
    assert!(
        found[0].message.contains("addresses are required"),
        "{}",
        found[0]
    );
    assert_eq!(found[0].pos.line, 9, "{}", found[0]);

    let with_addresses = src.replace("  location:", "  addresses: [10.9.0.1]\n  location:");
    let f = standalone(&with_addresses);
    assert!(with_code(&f, "IST0134").is_empty(), "{}", show(&f));
}

#[test]
fn ist0138_one_certificate_on_two_gateways_is_reported_on_both() {
    let gw = |name: &str, cred: &str| {
        format!("apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {{name: {name}, namespace: istio-system}}\nspec:\n  selector: {{istio: ingressgateway}}\n  servers:\n  - port: {{number: 443, name: https, protocol: HTTPS}}\n    hosts: [\"{name}.example.com\"]\n    tls: {{mode: SIMPLE, credentialName: {cred}}}\n")
    };
    let src = format!(
        "{}---\n{}",
        gw("shop", "wildcard-cert"),
        gw("blog", "wildcard-cert")
    );
    let f = standalone(&src);
    let found = with_code(&f, "IST0138");
    assert_eq!(found.len(), 2, "{}", show(&f));
    for x in &found {
        assert!(
            x.message.contains("istio-system/shop") && x.message.contains("istio-system/blog"),
            "{x}"
        );
        assert_eq!(x.pos.col, 25, "at credentialName: {x}");
    }
    let distinct = format!(
        "{}---\n{}",
        gw("shop", "shop-cert"),
        gw("blog", "blog-cert")
    );
    let f = standalone(&distinct);
    assert!(with_code(&f, "IST0138").is_empty(), "{}", show(&f));
}

#[test]
fn ist0166_a_selector_on_kubernetes_gateway_pods_is_ineffective() {
    let src = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web-gw-1\n  namespace: shop\n  labels: {gateway.networking.k8s.io/gateway-name: web-gw, app: web-gw}\n---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: gw-policy, namespace: shop}\nspec:\n  selector:\n    matchLabels: {app: web-gw}\n  action: DENY\n  rules:\n  - to:\n    - operation: {paths: [/admin]}\n";
    let f = standalone(src);
    let found = with_code(&f, "IST0166");
    assert_eq!(found.len(), 1, "{}", show(&f));
    assert!(
        found[0].message.contains("Kubernetes Gateway web-gw"),
        "{}",
        found[0]
    );
    assert!(found[0].fix.contains("targetRefs"), "{}", found[0]);
    assert_eq!(found[0].pos.line, 12, "{}", found[0]);
    // The selector does match a pod, so there is no IST0127.
    assert!(with_code(&f, "IST0127").is_empty(), "{}", show(&f));
}

#[test]
fn ist0177_service_entries_with_conflicting_protocols_are_reported() {
    let se = |name: &str, proto: &str, export: &str| {
        format!("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: {name}, namespace: shop}}\nspec:\n  hosts: [api.example.com]\n  addresses: [10.9.0.2]\n  exportTo: [\"{export}\"]\n  resolution: DNS\n  ports: [{{number: 443, name: p, protocol: {proto}}}]\n")
    };
    let src = format!(
        "{}---\n{}",
        se("api-tls", "TLS", "*"),
        se("api-https", "HTTPS", ".")
    );
    let f = standalone(&src);
    let found = with_code(&f, "IST0177");
    assert_eq!(found.len(), 2, "{}", show(&f));
    for x in &found {
        assert!(
            x.message.contains("shop/api-https, shop/api-tls")
                && x.message.contains("\"api.example.com\"")
                && x.message.contains("port 443")
                && x.message.contains("HTTPS, TLS"),
            "{x}"
        );
        assert_eq!(x.level, Level::Warning);
    }
    // Visible in different namespaces only: no conflict.
    let apart = format!(
        "{}---\n{}",
        se("api-tls", "TLS", "."),
        se("api-https", "HTTPS", "other")
    );
    let f = standalone(&apart);
    assert!(with_code(&f, "IST0177").is_empty(), "{}", show(&f));
    // The same protocol, spelled differently, is no conflict.
    let same = format!("{}---\n{}", se("a", "TLS", "*"), se("b", "tls", "*"));
    let f = standalone(&same);
    assert!(with_code(&f, "IST0177").is_empty(), "{}", show(&f));
}

#[test]
fn ist0162_compares_gateway_ports_with_the_services_target_port() {
    let src = "apiVersion: v1\nkind: Pod\nmetadata: {name: gw-1, namespace: edge, labels: {app: edge-gw}}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: edge-gw, namespace: edge}\nspec:\n  selector: {app: edge-gw}\n  ports:\n  - {name: http, port: 80, targetPort: 8080}\n---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: edge, namespace: edge}\nspec:\n  selector: {app: edge-gw}\n  servers:\n  - port: {number: 8080, name: http, protocol: HTTP}\n    hosts: [\"*\"]\n";
    let f = standalone(src);
    assert!(
        with_code(&f, "IST0162").is_empty(),
        "8080 is the target port: {}",
        show(&f)
    );
    let wrong = src.replace("number: 8080", "number: 80");
    let f = standalone(&wrong);
    let found = with_code(&f, "IST0162");
    assert_eq!(
        found.len(),
        1,
        "80 is not where the pods listen: {}",
        show(&f)
    );
    assert!(found[0].message.contains("port 80"), "{}", found[0]);
    assert!(found[0].fix.contains("8080"), "{}", found[0]);
    // A named targetPort cannot be resolved without the pod: the port counts.
    let named = src
        .replace("targetPort: 8080", "targetPort: http-alt")
        .replace("number: 8080", "number: 80");
    let f = standalone(&named);
    assert!(with_code(&f, "IST0162").is_empty(), "{}", show(&f));
}
