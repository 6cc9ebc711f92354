//! `meshcon get proxy-config` against istioctl's own test dumps
//! (SOURCES.md §6): for each recorded `/config_dump`, the facts meshcon
//! states (library and CLI) are istioctl's, compared field by field with
//! the output recorded beside the dump.

use std::collections::BTreeMap;
use std::path::PathBuf;

use mesh::api::realmesh::{self, ConfigDump};

use crate::support::meshcon_bin;
use crate::support::peers::Istio;

const TESTDATA: &str = "istioctl/pkg/writer/envoy/configdump/testdata";

fn dump_path(istio: &Istio, rel: &str) -> PathBuf {
    istio.root.join(TESTDATA).join(rel)
}

fn read_dump(istio: &Istio, rel: &str) -> ConfigDump {
    realmesh::read_config_dump(&dump_path(istio, rel)).expect("the recorded dump reads")
}

/// A tabwriter table (istioctl's or ours) as rows of header → cell. Columns
/// start where the header's names start (names hold single spaces, columns
/// are parted by two or more), and every cell sits inside its column.
fn table_rows(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().expect("a header line");
    let mut starts = vec![0];
    let bytes = header.as_bytes();
    for i in 2..bytes.len() {
        if bytes[i] != b' ' && bytes[i - 1] == b' ' && bytes[i - 2] == b' ' {
            starts.push(i);
        }
    }
    let names: Vec<String> = starts
        .iter()
        .enumerate()
        .map(|(n, &s)| {
            let end = starts.get(n + 1).copied().unwrap_or(header.len());
            header[s..end].trim().to_string()
        })
        .collect();
    lines
        .map(|l| {
            names
                .iter()
                .enumerate()
                .map(|(n, name)| {
                    let s = starts[n].min(l.len());
                    let e = starts.get(n + 1).copied().unwrap_or(l.len()).min(l.len());
                    (name.clone(), l[s..e].trim().to_string())
                })
                .collect()
        })
        .collect()
}

/// `meshcon get proxy-config SECTION --config-dump FILE`'s table.
fn cli_table(section: &str, dump: &PathBuf) -> String {
    let out = std::process::Command::new(meshcon_bin())
        .args(["get", "proxy-config", section, "--config-dump"])
        .arg(dump)
        .output()
        .expect("run meshcon");
    assert!(
        out.status.success(),
        "meshcon get proxy-config {section}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Every column istioctl prints, compared row by row with ours (which may
/// print more columns).
fn assert_same_facts(ours: &str, theirs: &str) {
    let ours = table_rows(ours);
    let theirs = table_rows(theirs);
    assert_eq!(ours.len(), theirs.len(), "row count");
    for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        for (col, want) in t {
            assert_eq!(o.get(col), Some(want), "row {i} column {col}");
        }
    }
}

#[test]
fn secrets_state_istioctls_names_serials_and_validity() {
    let Some(istio) = Istio::find() else { return };
    let d = read_dump(&istio, "secret/istio/config_dump.json");
    let expected = table_rows(&istio.read(&format!("{TESTDATA}/secret/istio/output")));
    assert_eq!(d.secrets.len(), expected.len());
    for (s, row) in d.secrets.iter().zip(&expected) {
        assert_eq!(s.name, row["RESOURCE NAME"]);
        assert_eq!(s.kind, row["TYPE"]);
        assert_eq!(s.state, row["STATUS"]);
        assert_eq!(s.valid.to_string(), row["VALID CERT"], "{}", s.name);
        assert_eq!(s.serial, row["SERIAL NUMBER"]);
        assert_eq!(s.not_after, row["NOT AFTER"]);
        assert_eq!(s.not_before, row["NOT BEFORE"]);
    }
    // What istioctl does not print but the Identities view needs.
    let leaf = d
        .secrets
        .iter()
        .find(|s| s.name == "default")
        .expect("default");
    assert_eq!(
        leaf.spiffe_id.as_deref(),
        Some("spiffe://cluster.local/ns/ambient/sa/namespace-istio-waypoint")
    );
    assert_eq!(leaf.chain.len(), 2, "leaf and its CA");
    assert!(leaf.chain[1].is_ca);
    let root = d.secrets.iter().find(|s| s.name == "ROOTCA").expect("root");
    assert!(root.root_ca && !leaf.root_ca);
    assert_eq!(root.chain[0].subject, "O=cluster.local");
    let warming = d
        .secrets
        .iter()
        .find(|s| s.state == "WARMING")
        .expect("warming");
    assert!(warming.chain.is_empty() && warming.problem.is_none());

    let cli = cli_table(
        "secret",
        &dump_path(&istio, "secret/istio/config_dump.json"),
    );
    assert_same_facts(
        &cli,
        &istio.read(&format!("{TESTDATA}/secret/istio/output")),
    );
}

#[test]
fn endpoints_state_istioctls_addresses_health_and_clusters() {
    let Some(istio) = Istio::find() else { return };
    let d = read_dump(&istio, "endpoint/configdump.json");
    let expected = table_rows(&istio.read(&format!("{TESTDATA}/endpoint/emptyfilter_output.txt")));
    assert_eq!(d.endpoints.len(), expected.len());
    for (e, row) in d.endpoints.iter().zip(&expected) {
        assert_eq!(e.address, row["NAME"]);
        assert_eq!(e.status, row["STATUS"]);
        assert_eq!(e.locality, row["LOCALITY"]);
        assert_eq!(e.cluster, row["CLUSTER"]);
    }
    // The JSON istioctl prints beside it: the same clusters, in the same order.
    let json: serde_json::Value =
        serde_json::from_str(&istio.read(&format!("{TESTDATA}/endpoint/emptyfilter_output.json")))
            .expect("json");
    let mut clusters: Vec<&str> = d.endpoints.iter().map(|e| e.cluster.as_str()).collect();
    clusters.dedup();
    let theirs: Vec<&str> = json
        .as_array()
        .expect("array")
        .iter()
        .map(|c| c["clusterName"].as_str().expect("name"))
        .collect();
    assert_eq!(clusters, theirs);

    let cli = cli_table("endpoint", &dump_path(&istio, "endpoint/configdump.json"));
    assert_same_facts(
        &cli,
        &istio.read(&format!("{TESTDATA}/endpoint/emptyfilter_output.txt")),
    );
}

#[test]
fn routes_state_istioctls_hosts_matches_and_virtual_services() {
    let Some(istio) = Istio::find() else { return };
    for case in [
        "empty-gateway",
        "istio-gateway-http-route-prefix",
        "k8s-gateway-http-route-path-prefix",
    ] {
        let dump = format!("routes/{case}/configdump.json");
        let theirs = istio.read(&format!("{TESTDATA}/routes/{case}/output.txt"));
        let d = read_dump(&istio, &dump);
        let expected = table_rows(&theirs);
        assert_eq!(d.routes.len(), expected.len(), "{case}");
        for (r, row) in d.routes.iter().zip(&expected) {
            assert_eq!(r.name, row["NAME"], "{case}");
            assert_eq!(r.vhost, row["VHOST NAME"], "{case}");
            assert_eq!(r.domains_text, row["DOMAINS"], "{case}");
            assert_eq!(r.match_text, row["MATCH"], "{case}");
            assert_eq!(r.virtual_service, row["VIRTUAL SERVICE"], "{case}");
        }
        assert_same_facts(&cli_table("route", &dump_path(&istio, &dump)), &theirs);
    }
}

#[test]
fn json_output_carries_the_same_facts_for_scripts() {
    let Some(istio) = Istio::find() else { return };
    let out = std::process::Command::new(meshcon_bin())
        .args([
            "get",
            "proxy-config",
            "secret",
            "-o",
            "json",
            "--config-dump",
        ])
        .arg(dump_path(&istio, "secret/istio/config_dump.json"))
        .output()
        .expect("run meshcon");
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let root = v
        .as_array()
        .expect("rows")
        .iter()
        .find(|s| s["name"] == "ROOTCA")
        .expect("ROOTCA");
    assert_eq!(root["serial"], "0193a543fe2b0d9cd4847675394dfc54");
    assert_eq!(root["kind"], "CA");
    assert_eq!(root["root_ca"], true);
}

#[test]
fn proxy_config_without_a_proxy_or_with_a_bad_dump_says_so() {
    let out = std::process::Command::new(meshcon_bin())
        .args(["get", "proxy-config", "route"])
        .output()
        .expect("run meshcon");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--envoy-admin"), "{err}");

    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("dump.json");
    std::fs::write(&bad, "{\"configs\": [tr").expect("write");
    let out = std::process::Command::new(meshcon_bin())
        .args(["get", "proxy-config", "endpoint", "--config-dump"])
        .arg(&bad)
        .output()
        .expect("run meshcon");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("malformed config dump"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
