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
