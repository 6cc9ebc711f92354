//! Istio's CRD OpenAPI schemas (`manifests/charts/base/files/crd-all.gen.yaml`
//! in the reference material) as the source of truth for what meshcon must
//! know: every field path of every kind meshcon reads is either accepted by
//! meshcon's model or reported as an Istio field meshcon does not implement,
//! never as an unknown field; and every enum value the schema lists is
//! accepted while a value it does not list is an IST0106 error at the
//! value's line and column. The schemas are read from the material, never
//! copied into the repository.

use serde_json::{json, Map, Value};

use mesh::api::config::{self, Finding, Level};
use mesh::api::util::parse_yaml;

use crate::support::peers::Istio;

const CRDS: &str = "manifests/charts/base/files/crd-all.gen.yaml";

/// The kinds meshcon reads, with the apiVersion a probe document uses.
const KINDS: &[(&str, &str)] = &[
    ("VirtualService", "networking.istio.io/v1"),
    ("DestinationRule", "networking.istio.io/v1"),
    ("Gateway", "networking.istio.io/v1"),
    ("ServiceEntry", "networking.istio.io/v1"),
    ("PeerAuthentication", "security.istio.io/v1"),
    ("AuthorizationPolicy", "security.istio.io/v1"),
    ("RequestAuthentication", "security.istio.io/v1"),
];

/// One step of a field path in the schema.
#[derive(Clone, Debug)]
enum Step {
    /// A named property.
    Key(String),
    /// An item of a list.
    Item,
    /// A value of a map (`additionalProperties`).
    Entry,
}

/// A leaf of the schema: where it is, and a value of its type.
struct Leaf {
    path: Vec<Step>,
    schema: Value,
}

fn show(path: &[Step]) -> String {
    let mut out = String::from("spec");
    for s in path {
        match s {
            Step::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::Item => out.push_str("[]"),
            Step::Entry => out.push_str(".<key>"),
        }
    }
    out
}

/// The `spec` schema of `kind`'s v1 version.
fn spec_schema(crds: &str, kind: &str) -> Option<Value> {
    for text in crds.split("\n---\n") {
        let Ok(doc) = parse_yaml(text) else { continue };
        let crd = doc.value;
        if crd["spec"]["names"]["kind"].as_str() != Some(kind) {
            continue;
        }
        let versions = crd["spec"]["versions"].as_array()?;
        let v1 = versions
            .iter()
            .find(|v| v["name"] == "v1")
            .or_else(|| versions.first())?;
        return Some(v1["schema"]["openAPIV3Schema"]["properties"]["spec"].clone());
    }
    None
}

fn leaves(schema: &Value, path: Vec<Step>, out: &mut Vec<Leaf>) {
    if let Some(props) = schema["properties"].as_object().filter(|p| !p.is_empty()) {
        for (k, sub) in props {
            let mut p = path.clone();
            p.push(Step::Key(k.clone()));
            leaves(sub, p, out);
        }
        return;
    }
    let items = &schema["items"];
    if schema["type"] == "array" && items["properties"].is_object() {
        let mut p = path.clone();
        p.push(Step::Item);
        leaves(items, p, out);
        return;
    }
    let entry = &schema["additionalProperties"];
    if entry["properties"].is_object() {
        let mut p = path.clone();
        p.push(Step::Entry);
        leaves(entry, p, out);
        return;
    }
    out.push(Leaf {
        path,
        schema: schema.clone(),
    });
}

/// A value the schema allows for a scalar or an opaque object.
fn sample(schema: &Value) -> Value {
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    let rules = schema["x-kubernetes-validations"].to_string();
    if schema["x-kubernetes-int-or-string"] == true {
        return json!(1);
    }
    match schema["type"].as_str() {
        Some("string") if rules.contains("duration(") => json!("1s"),
        Some("string") => json!("x"),
        Some("integer") if rules.contains("65535") => json!(80),
        Some("integer") => json!(1),
        Some("number") => json!(1.0),
        Some("boolean") => json!(true),
        Some("array") => json!([sample(&schema["items"])]),
        Some("object") if schema["additionalProperties"].is_object() => {
            json!({ "k": sample(&schema["additionalProperties"]) })
        }
        _ => json!({}),
    }
}

/// The schema's required properties of an object, with sample values, so
/// that a probe tests the one field rather than a missing neighbour.
fn required(schema: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    for name in schema["required"].as_array().into_iter().flatten() {
        if let Some(name) = name.as_str() {
            let sub = &schema["properties"][name];
            let v = if sub["properties"].is_object() {
                Value::Object(required(sub))
            } else {
                sample(sub)
            };
            out.insert(name.to_string(), v);
        }
    }
    out
}

/// A spec holding `value` at `path`, and the schema's required neighbours
/// on the way there.
fn probe(schema: &Value, path: &[Step], value: Value) -> Value {
    let Some((first, rest)) = path.split_first() else {
        return value;
    };
    match first {
        Step::Key(k) => {
            let mut obj = required(schema);
            obj.insert(k.clone(), probe(&schema["properties"][k], rest, value));
            Value::Object(obj)
        }
        Step::Item => json!([probe(&schema["items"], rest, value)]),
        Step::Entry => json!({ "k": probe(&schema["additionalProperties"], rest, value) }),
    }
}

/// Fields a kind needs before meshcon reads the rest of it, where Istio's
/// schema leaves them optional.
fn base_spec(kind: &str) -> Value {
    match kind {
        "ServiceEntry" => json!({"hosts": ["a.example.com"], "resolution": "STATIC"}),
        _ => json!({}),
    }
}

fn merge(base: &mut Value, add: Value) {
    match (base, add) {
        (Value::Object(b), Value::Object(a)) => {
            for (k, v) in a {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, add) => *slot = add,
    }
}

/// The document, pretty JSON (which YAML reads), so that every scalar
/// sits on a line of its own.
fn document(kind: &str, api: &str, spec: Value) -> String {
    let mut full = base_spec(kind);
    merge(&mut full, spec);
    let doc = json!({
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": "schema-probe", "namespace": "default"},
        "spec": full,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

fn schema_errors(findings: &[Finding]) -> Vec<String> {
    findings
        .iter()
        .filter(|f| f.code == "IST0106")
        .map(|f| f.message.clone())
        .collect()
}

/// The kinds meshcon reads and their spec schemas; a kind meshcon does not
/// read (yet) is left out with a note.
fn read_kinds(istio: &Istio) -> Vec<(&'static str, &'static str, Value)> {
    let crds = istio.read(CRDS);
    let mut out = Vec::new();
    for (kind, api) in KINDS {
        let Some(schema) = spec_schema(&crds, kind) else {
            panic!("{CRDS}: no CRD for {kind}");
        };
        let probe = document(kind, api, json!({}));
        let parsed = config::parse("probe.yaml", &probe);
        if parsed.resources.is_empty()
            && parsed.findings.iter().any(|f| f.code == "MC0003")
            && *kind != "ServiceEntry"
        {
            eprintln!("{kind}: not read by meshcon; its schema is not compared");
            continue;
        }
        out.push((*kind, *api, schema));
    }
    out
}

#[test]
fn every_field_of_istios_schema_is_known_to_meshcon() {
    let Some(istio) = Istio::find() else {
        return;
    };
    let mut gaps = Vec::new();
    let mut counted = 0;
    for (kind, api, schema) in read_kinds(&istio) {
        // A field Istio does not have is refused, so the probe is not vacuous.
        let bogus = document(kind, api, json!({"notAnIstioField": 1}));
        let f = config::parse("probe.yaml", &bogus).findings;
        assert!(
            f.iter()
                .any(|f| f.code == "IST0106" && f.message.contains("unknown field")),
            "{kind}: a field Istio does not have must be refused: {f:#?}"
        );
        let mut found = Vec::new();
        leaves(&schema, Vec::new(), &mut found);
        for leaf in found {
            counted += 1;
            let spec = probe(&schema, &leaf.path, sample(&leaf.schema));
            let src = document(kind, api, spec);
            let errors = schema_errors(&config::parse("probe.yaml", &src).findings);
            if !errors.is_empty() {
                gaps.push(format!("{kind} {}: {errors:?}", show(&leaf.path)));
            }
        }
    }
    assert!(
        gaps.is_empty(),
        "{} of {counted} schema fields are not known to meshcon (implement them, or list them in ISTIO_ONLY_FIELDS):\n{}",
        gaps.len(),
        gaps.join("\n")
    );
}

/// Line and column (1-based) of the first occurrence of `needle`.
fn position(src: &str, needle: &str) -> (u32, u32) {
    let at = src.find(needle).unwrap_or(0);
    let before = &src[..at];
    let line = before.matches('\n').count() + 1;
    let col = at - before.rfind('\n').map(|n| n + 1).unwrap_or(0) + 1;
    (
        u32::try_from(line).unwrap_or(0),
        u32::try_from(col).unwrap_or(0),
    )
}

#[test]
fn istios_enum_values_are_accepted_and_others_refused_where_they_are() {
    let Some(istio) = Istio::find() else {
        return;
    };
    let mut wrong = Vec::new();
    for (kind, api, schema) in read_kinds(&istio) {
        let mut found = Vec::new();
        leaves(&schema, Vec::new(), &mut found);
        for leaf in found {
            let Some(values) = leaf.schema["enum"].as_array() else {
                continue;
            };
            let field = show(&leaf.path);
            for v in values {
                let src = document(kind, api, probe(&schema, &leaf.path, v.clone()));
                let (line, _) = position(&src, &format!("{v}"));
                let f = config::analyze_standalone("probe.yaml", &src);
                let at: Vec<&Finding> = f
                    .iter()
                    .filter(|f| f.code == "IST0106" && f.pos.line == line)
                    .collect();
                if !at.is_empty() {
                    wrong.push(format!(
                        "{kind} {field}: Istio's value {v} is refused: {at:?}"
                    ));
                }
            }
            let bogus = "NOT_AN_ISTIO_VALUE";
            let src = document(kind, api, probe(&schema, &leaf.path, json!(bogus)));
            // The finding points at the value, or at its key on that line.
            let (line, col) = position(&src, &format!("\"{bogus}\""));
            let f = config::analyze_standalone("probe.yaml", &src);
            let refused = f.iter().any(|f| {
                f.code == "IST0106"
                    && f.level == Level::Error
                    && f.pos.line == line
                    && f.pos.col <= col
                    && f.message.contains(bogus)
            });
            if !refused {
                wrong.push(format!(
                    "{kind} {field}: {bogus} is not refused at {line}:{col}: {:?}",
                    f.iter().map(ToString::to_string).collect::<Vec<_>>()
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
