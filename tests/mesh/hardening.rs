//! Hostile and absurd input: files that would exhaust the stack or the
//! memory of whoever parses them (deep nesting, alias bombs, thousands of
//! conflicting resources), values beyond any sane bound, and control
//! characters meant for the terminal. Each is refused with a finding that
//! names the limit, in `validate` offline, in `up -f`, and by a running
//! mesh, which goes on serving.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mesh::api::config::{self, Finding};
use mesh::api::Topology;

use crate::support::{self, outbound_of, request};

/// The address space a `meshcon` process may use: a parse that copied
/// aliases or recursed without bound would pass it and fail.
const MEMORY_LIMIT: u64 = 160 * 1024 * 1024;

/// `- - - … x`: 10 KB, 5,000 levels of block sequences.
fn deep_block(levels: usize) -> String {
    format!("{}x\n", "- ".repeat(levels))
}

/// 414 bytes whose aliases would expand to 10^8 strings.
fn alias_bomb() -> String {
    let mut src = String::from("a0: &a0 \"lol\"\n");
    for i in 1..9 {
        let list = vec![format!("*a{}", i - 1); 10].join(",");
        src.push_str(&format!("a{i}: &a{i} [{list}]\n"));
    }
    src
}

/// Runs `meshcon ARGS` with its address space limited by `prlimit`, so it
/// can never use more than [`MEMORY_LIMIT`].
fn meshcon_limited(args: &[&str]) -> Output {
    let limit = format!("--as={MEMORY_LIMIT}");
    let bin = support::meshcon_bin();
    let mut all: Vec<&str> = vec![&limit, bin.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    let mut cmd = Command::new("prlimit");
    support::with_credentials(&mut cmd, args);
    cmd.args(&all)
        .env("NO_COLOR", "1")
        .output()
        .expect("prlimit (util-linux) runs meshcon")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Asserts `meshcon` refused the input with `phrase` and did not crash.
fn assert_refused(out: &Output, phrase: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(phrase), "{err}");
    assert!(
        !err.contains("overflow") && !err.contains("memory allocation"),
        "{err}"
    );
}

#[test]
fn a_10kb_nesting_file_is_refused_offline_with_bounded_memory() {
    let dir = tempfile::TempDir::new().expect("dir");
    let deep = write(dir.path(), "d.yaml", &deep_block(5000));
    assert!(std::fs::metadata(&deep).expect("size").len() <= 10_002);
    let out = meshcon_limited(&["validate", "-f", path_str(&deep), "--mesh", "127.0.0.1:9"]);
    assert_refused(&out, "nest deeper than 64 levels");
    assert_refused(&out, "d.yaml:1:");
    // The levels at which `validate` and `up -f` used to crash.
    for levels in [20_000, 25_000] {
        let f = write(dir.path(), "deeper.yaml", &deep_block(levels));
        let out = meshcon_limited(&["validate", "-f", path_str(&f), "--mesh", "127.0.0.1:9"]);
        assert_refused(&out, "nest deeper than 64 levels");
        let state = dir.path().join("state");
        let out = meshcon_limited(&[
            "up",
            "--headless",
            "-f",
            path_str(&f),
            "--state-dir",
            path_str(&state),
        ]);
        assert_refused(&out, "nest deeper than 64 levels");
    }
    let flow = write(
        dir.path(),
        "flow.yaml",
        &format!("a: {}1{}\n", "[{b: ".repeat(3000), "}]".repeat(3000)),
    );
    let out = meshcon_limited(&["validate", "-f", path_str(&flow), "--mesh", "127.0.0.1:9"]);
    assert_refused(&out, "nest deeper than 64 levels");
}

#[test]
fn a_414_byte_alias_bomb_is_refused_offline_with_bounded_memory() {
    let dir = tempfile::TempDir::new().expect("dir");
    let bomb = alias_bomb();
    assert_eq!(bomb.len(), 414);
    let f = write(dir.path(), "laughs.yaml", &bomb);
    let out = meshcon_limited(&["validate", "-f", path_str(&f), "--mesh", "127.0.0.1:9"]);
    assert_refused(&out, "aliases expand to more than 100000");
    assert_refused(&out, "laughs.yaml:");
    let state = dir.path().join("state");
    let out = meshcon_limited(&[
        "up",
        "--headless",
        "-f",
        path_str(&f),
        "--state-dir",
        path_str(&state),
    ]);
    assert_refused(&out, "aliases expand to more than 100000");
}

#[test]
fn oversized_files_are_refused_before_they_are_read() {
    let dir = tempfile::TempDir::new().expect("dir");
    let big = "# padding\n".repeat(600_000);
    let f = write(dir.path(), "big.yaml", &big);
    let out = meshcon_limited(&["validate", "-f", path_str(&f), "--mesh", "127.0.0.1:9"]);
    assert_refused(&out, "meshcon reads at most 4194304 bytes (4 MiB)");
    // The same limit holds for callers of the library, such as the console API.
    let (_, f) = config::check("big.yaml", &big, &Topology::demo(), &[]);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].message.contains("input refused"), "{}", f[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_mesh_refuses_hostile_files_and_keeps_serving() {
    let m = support::start(Topology::demo(), |_| {}).await;
    let api = m.mesh.api_addr().to_string();
    let dir = tempfile::TempDir::new().expect("dir");
    let files = [
        (
            write(dir.path(), "d.yaml", &deep_block(5000)),
            "nest deeper than 64 levels",
        ),
        (
            write(dir.path(), "d25k.yaml", &deep_block(25_000)),
            "nest deeper than 64 levels",
        ),
        (
            write(dir.path(), "laughs.yaml", &alias_bomb()),
            "aliases expand to more than 100000",
        ),
    ];
    for (f, phrase) in &files {
        for verb in ["validate", "apply"] {
            let (f, api) = (f.clone(), api.clone());
            let out = tokio::task::spawn_blocking(move || {
                meshcon_limited(&[verb, "-f", path_str(&f), "--mesh", &api])
            })
            .await
            .expect("meshcon ran");
            assert_refused(&out, phrase);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!err.contains("no mesh answered"), "{verb}: {err}");
        }
        let text = std::fs::read_to_string(f).expect("read");
        let reply = support::apply(&m, &text).await;
        assert!(!reply.applied, "{}", reply.summary);
        assert!(
            reply.findings.iter().any(|f| f.message.contains(phrase)),
            "{:?}",
            reply.findings
        );
    }
    // Names the server quotes back are escaped too.
    let out = tokio::task::spawn_blocking(move || {
        meshcon_limited(&["delete", "vs", "a\u{1b}[2Jb", "--mesh", &api])
    })
    .await
    .expect("meshcon ran");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("a\\u{1b}[2Jb"), "{err}");
    assert!(!out.stderr.contains(&0x1b), "{err}");
    // Still serving: traffic flows and a good rule still applies.
    let user = outbound_of(&m, "user-v1-0").await;
    let r = request(&user, "billing", "/", &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = support::apply_rule(&m, "canary-90-10.yaml").await;
    assert!(r.applied, "{}", r.summary);
    m.stop().await;
}

fn same_host_virtual_services(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: vs-{i}\nspec:\n  hosts: [billing]\n  http:\n  - route:\n    - destination:\n        host: billing\n"
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

fn total_size(findings: &[Finding]) -> usize {
    findings
        .iter()
        .map(|f| f.message.len() + f.fix.len() + f.resource.len())
        .sum()
}

#[tokio::test]
async fn conflict_findings_grow_linearly_with_the_resources() {
    // Analysing 10,000 resources keeps a core busy for seconds in a debug
    // build: meshes of other tests do not start meanwhile.
    let _alone = support::alone().await;
    let demo = Topology::demo();
    let (_, small) = config::check("vs.yaml", &same_host_virtual_services(1000), &demo, &[]);
    let (_, large) = config::check("vs.yaml", &same_host_virtual_services(10_000), &demo, &[]);
    let conflicts = |f: &[Finding]| f.iter().filter(|f| f.code == "IST0109").count();
    assert_eq!(conflicts(&small), 1000);
    assert_eq!(conflicts(&large), 10_000);
    for f in &large {
        assert!(f.message.len() < 1000, "{}", f.message);
    }
    assert!(
        large[0].message.contains("and 9995 more (10000 in all)"),
        "{}",
        large[0].message
    );
    // Ten times the resources, about ten times the text (not a hundred).
    let ratio = total_size(&large) as f64 / total_size(&small) as f64;
    assert!((8.0..=12.0).contains(&ratio), "ratio {ratio}");
}

/// A VirtualService for billing whose first HTTP route holds `route_extra`
/// (indented as route fields) and whose hosts are `hosts`.
fn vs_with(hosts: &str, route_extra: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: bounded\nspec:\n  hosts: {hosts}\n  http:\n  - route:\n    - destination:\n        host: billing\n{route_extra}"
    )
}

/// The 1-based line and column where `needle` starts in `text`.
fn position_of(text: &str, needle: &str) -> (u32, u32) {
    let at = text.find(needle).expect("needle in text");
    let line = text[..at].matches('\n').count() + 1;
    let col = at - text[..at].rfind('\n').map_or(0, |i| i + 1) + 1;
    (line as u32, col as u32)
}

#[test]
fn values_beyond_their_bounds_are_findings_at_their_position() {
    let demo = Topology::demo();
    let cases = [
        (
            vs_with("[billing]", "    timeout: 100000h\n"),
            "timeout:",
            "'100000h' is longer than the maximum of 24h",
        ),
        (
            vs_with(
                "[billing]",
                "    retries:\n      attempts: 3\n      perTryTimeout: 25h\n",
            ),
            "perTryTimeout:",
            "maximum of 24h",
        ),
        (
            vs_with(
                "[billing]",
                "    fault:\n      delay:\n        fixedDelay: 48h\n        percentage: {value: 1}\n",
            ),
            "fixedDelay:",
            "maximum of 24h",
        ),
        (
            vs_with("[billing]", "    retries:\n      attempts: 2147483647\n"),
            "attempts:",
            "retries.attempts 2147483647 is more than the maximum of 100",
        ),
        (
            vs_with("[billing, \"bil\\eling\"]", ""),
            "\"bil",
            "spec.hosts[1] \"bil\\u{1b}ling\" is not a host name",
        ),
        (
            vs_with("[billing, \"\u{1f4a5}.example.com\"]", ""),
            "\"\u{1f4a5}",
            "is not a host name",
        ),
        (
            vs_with("[billing, \"\"]", ""),
            "\"\"",
            "spec.hosts[1] \"\" is not a host name",
        ),
        (
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: dr\nspec:\n  host: \"bill\\ting\"\n".to_string(),
            "host:",
            "spec.host \"bill\\ting\" is not a host name",
        ),
        (
            "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: gw\nspec:\n  selector: {istio: ingressgateway}\n  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: [\"*/ok.example.com\", \"*/\u{1f4a5}.example.com\"]\n".to_string(),
            "\"*/\u{1f4a5}",
            "spec.servers[0].hosts[1] \"*/\u{1f4a5}.example.com\" is not a host name",
        ),
    ];
    for (yaml, needle, phrase) in &cases {
        let (_, findings) = config::check("bounds.yaml", yaml, &demo, &[]);
        let f = findings
            .iter()
            .find(|f| f.message.contains(phrase))
            .unwrap_or_else(|| panic!("no finding with {phrase:?} for\n{yaml}\n{findings:?}"));
        assert!(f.blocks(), "{f}");
        assert_eq!(
            (f.pos.line, f.pos.col),
            position_of(yaml, needle),
            "{f}\n{yaml}"
        );
        assert!(f.to_string().starts_with("bounds.yaml:"), "{f}");
    }
    // Sane values pass.
    let ok = vs_with(
        "[billing, \"*.example.com\", 10.0.0.1]",
        "    timeout: 24h\n    retries:\n      attempts: 100\n      perTryTimeout: 1h\n",
    );
    let (_, findings) = config::check("ok.yaml", &ok, &demo, &[]);
    assert!(!findings.iter().any(Finding::blocks), "{findings:?}");
}

const TOPOLOGY_HEAD: &str = "clusters:\n- name: eu\n  trustDomain: eu.mesh\n";

#[test]
fn topology_values_beyond_their_bounds_are_errors_at_their_position() {
    let service = |version: &str| {
        format!("services:\n- name: a\n  cluster: eu\n  versions:\n  - name: v1\n{version}")
    };
    let ingress = |host: &str| {
        format!(
            "{TOPOLOGY_HEAD}  ingress:\n    service: a\n    hosts: [{host}]\n{}",
            service("")
        )
    };
    let cases = [
        (
            format!("{TOPOLOGY_HEAD}{}", service("    latency: 100000h\n")),
            "latency:",
            "longer than the maximum of 60s",
        ),
        (
            format!(
                "{TOPOLOGY_HEAD}{}",
                service("    latency: {p50: 1ms, p99: 2h}\n")
            ),
            "latency:",
            "longer than the maximum of 60s",
        ),
        (
            format!("{TOPOLOGY_HEAD}{}", service("    replicas: 65\n")),
            "replicas:",
            "at most 64 replicas",
        ),
        (ingress("\"\""), "\"\"", "must be a DNS name"),
        (ingress("\"*\""), "\"*\"", "must be a DNS name"),
        (
            ingress("\"shop.example.com\\r\\nX: y\""),
            "\"shop",
            "\"shop.example.com\\r\\nX: y\" must be a DNS name",
        ),
    ];
    for (yaml, needle, phrase) in &cases {
        let e = Topology::parse("t.yaml", yaml).expect_err("out of bounds");
        assert!(e.message.contains(phrase), "{e}\n{yaml}");
        assert_eq!(
            (e.pos.line, e.pos.col),
            position_of(yaml, needle),
            "{e}\n{yaml}"
        );
        assert!(e.to_string().starts_with("t.yaml:"), "{e}");
    }
}

#[test]
fn control_characters_are_escaped_in_every_message() {
    let dir = tempfile::TempDir::new().expect("dir");
    let vs = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: \"red\\e[31malert\\0\"\nspec:\n  hosts: [\"bill\\e]0;pwned\\aing\"]\n  http:\n  - route:\n    - destination: {host: billing}\n";
    let f = write(dir.path(), "esc.yaml", vs);
    let out = meshcon_limited(&["validate", "-f", path_str(&f), "--mesh", "127.0.0.1:9"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("red\\u{1b}[31malert\\0"), "{err}");
    let validate_out = out;
    let topo = "clusters:\n- name: \"eu\\e[2J\"\n  trustDomain: eu.mesh\n";
    let t = write(dir.path(), "topo.yaml", topo);
    let state = dir.path().join("state");
    let out = meshcon_limited(&[
        "up",
        "--headless",
        "-f",
        path_str(&t),
        "--state-dir",
        path_str(&state),
    ]);
    let up_err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{up_err}");
    assert!(up_err.contains("eu\\u{1b}[2J"), "{up_err}");
    for bytes in [
        &out.stderr,
        &out.stdout,
        &validate_out.stderr,
        &validate_out.stdout,
    ] {
        assert!(
            !bytes.iter().any(|b| *b == 0x1b || *b == 0 || *b == 0x07),
            "raw control characters reached the terminal: {up_err}"
        );
    }
    let (_, findings) = config::check("esc.yaml", vs, &Topology::demo(), &[]);
    for f in &findings {
        let text = f.to_string();
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
    }
    assert!(!findings.is_empty());
}
