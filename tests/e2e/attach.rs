//! The console attached to a real mesh's config: Istio's own sample YAML
//! read from a file is listed and analysed, and an edit applied through a
//! kubeconfig whose server does not answer shows kubectl's own error,
//! records nothing, and leaves the console working.

use std::time::Duration;

use crate::support::meshcon_bin;
use crate::support::peers::Istio;
use crate::support::tmux::{terminal_restored, Tmux, AFTER_EXIT};

const LONG: Duration = Duration::from_secs(60);

fn have_kubectl() -> bool {
    let ok = std::process::Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: kubectl not found (Debian package kubernetes-client; see .ci/run)");
    }
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_meshs_config_is_listed_analysed_and_edits_go_through_kubectl() {
    let Some(istio) = Istio::find() else { return };
    if !have_kubectl() {
        return;
    }
    let file = istio
        .root
        .join("samples/bookinfo/networking/virtual-service-all-v1.yaml");
    let dir = tempfile::TempDir::new().expect("dir");
    // A cluster that does not answer: nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster: {{server: 'https://127.0.0.1:{port}', insecure-skip-tls-verify: true}}\ncontexts:\n- name: gone\n  context: {{cluster: gone, user: u}}\ncurrent-context: gone\nusers:\n- name: u\n  user: {{token: t}}\n"
        ),
    )
    .expect("kubeconfig");
    let t = Tmux::start(
        &format!(
            "{} --state-dir {} attach --resources {} --kubeconfig {}{AFTER_EXIT}",
            meshcon_bin().display(),
            dir.path().join("state").display(),
            file.display(),
            kubeconfig.display()
        ),
        160,
        45,
    );
    t.wait_text(LONG, "virtual-service-all-v1.yaml").await;
    t.keys(&["6"]).await;
    let s = t
        .wait_for(LONG, "the file's resources listed", |s| {
            ["productpage", "reviews", "ratings", "details"]
                .iter()
                .all(|n| {
                    s.lines()
                        .any(|l| l.contains("VirtualService") && l.contains(n))
                })
        })
        .await;
    // The analyzer's findings, as `meshcon validate` reports them.
    let validate = std::process::Command::new(meshcon_bin())
        .args(["validate", "-f", file.to_str().expect("path")])
        .output()
        .expect("validate");
    let reported = String::from_utf8_lossy(&validate.stdout).into_owned()
        + &String::from_utf8_lossy(&validate.stderr);
    assert!(s.contains("Findings in the loaded config"), "{s}");
    let shown: Vec<(String, String)> = s
        .lines()
        .filter_map(|l| {
            let l = l.trim_matches(|c: char| c == '│' || c.is_whitespace());
            let (pos, rest) = l.split_once(' ')?;
            let code = rest.split('[').nth(1)?.split(']').next()?;
            pos.contains(':')
                .then(|| (pos.to_string(), code.to_string()))
        })
        .collect();
    assert!(!shown.is_empty(), "findings shown: {s}");
    for (pos, code) in &shown {
        assert!(
            reported
                .lines()
                .any(|l| l.contains(&format!(":{pos}: ")) && l.contains(&format!("[{code}]"))),
            "{pos} [{code}] is not among validate's:\n{reported}"
        );
    }
    // An edit: the cluster's dry run cannot be reached, and kubectl says why.
    t.keys(&["+"]).await;
    t.wait_text(Duration::from_secs(10), "Staged").await;
    t.keys(&["a"]).await;
    t.wait_text(Duration::from_secs(10), "Apply the editor's YAML")
        .await;
    t.keys(&["y"]).await;
    let s = t
        .wait_for(LONG, "kubectl's error", |s| {
            s.contains("dry run refused") && s.contains(&format!("127.0.0.1:{port}"))
        })
        .await;
    assert!(s.contains("refused"), "{s}");
    // Nothing was recorded as applied.
    assert!(s.contains("Applied · v0"), "no version recorded: {s}");
    // The console keeps working.
    t.keys(&["Escape", "2"]).await;
    t.wait_text(Duration::from_secs(10), "Services").await;
    t.keys(&["q"]).await;
    let s = t.wait_text(LONG, "EXITED:").await;
    assert!(s.contains("EXITED:0") && terminal_restored(&s), "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_from_the_opentelemetry_sdk_show_in_the_traces_view() {
    use crate::support::python::{python_with, run_python, OTEL_CLIENT};
    let Some(python) = python_with(
        "opentelemetry.exporter.otlp.proto.grpc",
        "pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-grpc",
    ) else {
        return;
    };
    let dir = tempfile::TempDir::new().expect("dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let t = Tmux::start(
        &format!(
            "{} --state-dir {} attach --otlp-listen 127.0.0.1:{port}{AFTER_EXIT}",
            meshcon_bin().display(),
            dir.path().join("state").display(),
        ),
        160,
        40,
    );
    t.wait_text(LONG, "data").await;
    let trace_id = run_python(&python, OTEL_CLIENT, &format!("http://127.0.0.1:{port}")).await;
    t.keys(&["5"]).await;
    t.wait_text(LONG, &trace_id[..12]).await;
    // The waterfall keeps the parent and its child, the failed one marked.
    t.keys(&["Enter"]).await;
    let s = t
        .wait_for(LONG, "the waterfall", |s| {
            s.contains("GET /checkout") && s.contains("POST /charge")
        })
        .await;
    let row = |name: &str| s.lines().position(|l| l.contains(name));
    assert!(
        row("GET /checkout") < row("POST /charge"),
        "parent above child: {s}"
    );
    t.keys(&["Escape", "q"]).await;
    let s = t.wait_text(LONG, "EXITED:").await;
    assert!(s.contains("EXITED:0") && terminal_restored(&s), "{s}");
}
