//! The cluster's Istio resources through the user's own `kubectl` (their
//! kubeconfig, context and credentials, nothing of ours), and edits applied
//! the careful way: a server-side dry run first, the real apply after.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::AttachError;

/// The Istio kinds the console lists, as `kubectl get` names them.
pub const KINDS: &[&str] = &[
    "virtualservices.networking.istio.io",
    "destinationrules.networking.istio.io",
    "gateways.networking.istio.io",
    "serviceentries.networking.istio.io",
    "peerauthentications.security.istio.io",
    "authorizationpolicies.security.istio.io",
    "requestauthentications.security.istio.io",
];

/// Largest output read from kubectl.
const MAX_OUTPUT: usize = 64 << 20;

/// How to run kubectl.
#[derive(Debug, Clone)]
pub struct Kubectl {
    /// The program (`kubectl` on the PATH unless told otherwise).
    pub program: PathBuf,
    /// `--context`.
    pub context: Option<String>,
    /// `--kubeconfig` (else kubectl's own rule: `KUBECONFIG`, then ~/.kube/config).
    pub kubeconfig: Option<PathBuf>,
    /// How long one call may take.
    pub timeout: Duration,
}

impl Default for Kubectl {
    fn default() -> Self {
        Kubectl {
            program: PathBuf::from("kubectl"),
            context: None,
            kubeconfig: None,
            timeout: Duration::from_secs(20),
        }
    }
}

/// What one kubectl run said.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// Whether it exited 0.
    pub ok: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl Output {
    /// What to show the user: stdout and stderr, trimmed.
    pub fn text(&self) -> String {
        [self.stdout.trim(), self.stderr.trim()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Kubectl {
    /// Runs kubectl with `args`, feeding `input` on stdin.
    pub async fn run(&self, args: &[&str], input: Option<&str>) -> Result<Output, AttachError> {
        let mut cmd = tokio::process::Command::new(&self.program);
        if let Some(k) = &self.kubeconfig {
            cmd.arg("--kubeconfig").arg(k);
        }
        if let Some(c) = &self.context {
            cmd.arg("--context").arg(c);
        }
        cmd.arg(format!(
            "--request-timeout={}s",
            self.timeout.as_secs().max(1)
        ));
        cmd.args(args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| {
            AttachError::Kubectl(format!(
                "cannot run {}: {e} (install kubectl, or attach with --resources FILE)",
                self.program.display()
            ))
        })?;
        if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
            stdin
                .write_all(text.as_bytes())
                .await
                .map_err(|e| AttachError::Kubectl(format!("writing to kubectl: {e}")))?;
        }
        let out = tokio::time::timeout(
            self.timeout + Duration::from_secs(5),
            child.wait_with_output(),
        )
        .await
        .map_err(|_| {
            AttachError::Kubectl(format!(
                "kubectl gave no answer within {} s",
                self.timeout.as_secs() + 5
            ))
        })?
        .map_err(|e| AttachError::Kubectl(format!("kubectl: {e}")))?;
        if out.stdout.len() > MAX_OUTPUT {
            return Err(AttachError::Kubectl(format!(
                "kubectl printed more than {MAX_OUTPUT} bytes"
            )));
        }
        Ok(Output {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: crate::yaml::escape_control(&String::from_utf8_lossy(&out.stderr)),
        })
    }

    /// Every Istio resource in every namespace, as one YAML stream.
    pub async fn resources(&self) -> Result<String, AttachError> {
        let kinds = KINDS.join(",");
        let out = self
            .run(&["get", &kinds, "--all-namespaces", "-o", "json"], None)
            .await?;
        if !out.ok {
            return Err(AttachError::Kubectl(format!("kubectl get: {}", out.text())));
        }
        clean(&out.stdout)
    }

    /// `kubectl apply --server-side` of `yaml`, as a server-side dry run or for real.
    pub async fn apply(&self, yaml: &str, dry_run: bool) -> Result<Output, AttachError> {
        let mut args = vec![
            "apply",
            "--server-side",
            "--field-manager=meshcon",
            "-f",
            "-",
        ];
        if dry_run {
            args.push("--dry-run=server");
        }
        self.run(&args, Some(yaml)).await
    }
}

/// A `kubectl get -o json` answer (a List or one object) reduced to what a
/// user wrote: apiVersion, kind, metadata's name, namespace, labels and
/// annotations (not kubectl's own), and spec, as a YAML stream.
pub fn clean(json: &str) -> Result<String, AttachError> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| AttachError::Malformed {
        what: "kubectl's answer".into(),
        why: e.to_string(),
    })?;
    let items: Vec<serde_json::Value> = match v.get("items").and_then(|i| i.as_array()) {
        Some(items) => items.clone(),
        None => vec![v],
    };
    let mut docs = Vec::new();
    for item in items {
        let mut out = serde_json::Map::new();
        for k in ["apiVersion", "kind"] {
            if let Some(x) = item.get(k) {
                out.insert(k.into(), x.clone());
            }
        }
        let mut meta = serde_json::Map::new();
        if let Some(m) = item.get("metadata").and_then(|m| m.as_object()) {
            for k in ["name", "namespace", "labels"] {
                if let Some(x) = m.get(k) {
                    meta.insert(k.into(), x.clone());
                }
            }
            if let Some(a) = m.get("annotations").and_then(|a| a.as_object()) {
                let mine: serde_json::Map<String, serde_json::Value> = a
                    .iter()
                    .filter(|(k, _)| !k.starts_with("kubectl.kubernetes.io/"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if !mine.is_empty() {
                    meta.insert("annotations".into(), mine.into());
                }
            }
        }
        out.insert("metadata".into(), meta.into());
        if let Some(s) = item.get("spec") {
            out.insert("spec".into(), s.clone());
        }
        let doc = serde_saphyr::to_string(&serde_json::Value::Object(out)).map_err(|e| {
            AttachError::Malformed {
                what: "kubectl's answer".into(),
                why: e.to_string(),
            }
        })?;
        docs.push(doc);
    }
    Ok(docs.join("---\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kubectl_list_is_reduced_to_what_a_user_wrote() {
        let json = r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"reviews","namespace":"default","uid":"x","resourceVersion":"7","managedFields":[{}],"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}"}},"spec":{"hosts":["reviews"],"http":[{"route":[{"destination":{"host":"reviews","subset":"v1"}}]}]},"status":{"observedGeneration":1}}]}"#;
        let yaml = clean(json).expect("clean");
        assert!(yaml.contains("name: reviews"), "{yaml}");
        for gone in [
            "uid",
            "resourceVersion",
            "managedFields",
            "status",
            "last-applied",
        ] {
            assert!(!yaml.contains(gone), "{gone} kept: {yaml}");
        }
        let parsed = crate::config::parse::parse("kubectl", &yaml);
        assert_eq!(parsed.resources.len(), 1, "{:?}", parsed.findings);
        assert!(parsed.findings.is_empty(), "{:?}", parsed.findings);
    }

    #[test]
    fn garbage_from_kubectl_is_a_clear_error() {
        let e = clean("<html>").expect_err("not JSON");
        assert!(e.to_string().contains("kubectl's answer"), "{e}");
    }
}
