//! Config commands: apply, validate, delete, history, diff, rollback; and chaos.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use mesh::api::OfflineHistory;
use mesh::api::{ApplyRequest, ChaosRequest, DeleteRequest, DiffRequest, Empty, RollbackRequest};

use crate::client::{change_error, resolve_addr, status_error, MeshClient};
use crate::output::{self, Format};

async fn client(mesh: Option<&str>) -> anyhow::Result<MeshClient> {
    MeshClient::connect(&resolve_addr(mesh)).await
}

/// Prints findings as `file:line:col: Level [CODE] (resource) message` with
/// the fix. Every field is escaped again here: a mesh of another version may
/// not have escaped the control characters its input held.
pub fn print_findings(findings: &[mesh::api::Finding]) {
    let e = output::escape;
    for f in findings {
        eprintln!(
            "{}:{}:{}: {} [{}] ({}) {}\n    fix: {}",
            e(&f.file),
            f.line,
            f.column,
            e(&f.level),
            e(&f.code),
            e(&f.resource),
            e(&f.message),
            e(&f.fix)
        );
    }
}

/// Reads a config file (or standard input for `-`), refusing one larger than
/// the mesh would parse before reading all of it.
pub(crate) fn read_input(file: &str) -> anyhow::Result<(String, String)> {
    let limit = mesh::api::util::MAX_INPUT_BYTES;
    let shown = output::escape(file);
    let too_big = |size: String| {
        anyhow::anyhow!(
            "{shown} is {size} bytes; meshcon reads at most {limit} bytes ({} MiB) of YAML at once: split it into several files and apply them one by one",
            limit / (1024 * 1024)
        )
    };
    let mut bytes = Vec::new();
    if file == "-" {
        std::io::stdin()
            .take(limit as u64 + 1)
            .read_to_end(&mut bytes)
            .context("cannot read standard input")?;
    } else {
        let f = std::fs::File::open(file).with_context(|| format!("cannot read {shown}"))?;
        if let Ok(m) = f.metadata() {
            if m.len() > limit as u64 {
                return Err(too_big(m.len().to_string()));
            }
        }
        f.take(limit as u64 + 1)
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read {shown}"))?;
    }
    if bytes.len() > limit {
        return Err(too_big(format!("more than {limit}")));
    }
    let text = String::from_utf8(bytes)
        .map_err(|e| anyhow::anyhow!("{shown} is not UTF-8 text: {}", e.utf8_error()))?;
    Ok((file.to_string(), text))
}

/// `meshcon apply -f FILE` (or `validate` with `dry_run`).
pub async fn apply(mesh: Option<&str>, file: &str, dry_run: bool) -> anyhow::Result<ExitCode> {
    let (name, yaml) = read_input(file)?;
    let mut c = match client(mesh).await {
        Ok(c) => c,
        // Validating needs no mesh: check against the demo's services.
        Err(_) if dry_run => return Ok(validate_offline(&name, &yaml)),
        Err(e) => return Err(e),
    };
    let req = ApplyRequest { yaml, file: name };
    let reply = if dry_run {
        c.console.validate(req).await
    } else {
        c.console.apply(req).await
    }
    .map_err(|s| {
        if dry_run {
            status_error(s)
        } else {
            change_error(s)
        }
    })?
    .into_inner();
    print_findings(&reply.findings);
    if dry_run {
        return Ok(validity(
            reply.summary == "invalid",
            reply.findings.len(),
            "",
        ));
    }
    if !reply.applied {
        eprintln!("{}", output::escape(&reply.summary));
        return Ok(ExitCode::from(1));
    }
    crate::outln!("{}", output::escape(&reply.summary));
    for n in &reply.nacks {
        crate::outln!("  NACK {}", output::escape(n));
    }
    Ok(ExitCode::SUCCESS)
}

fn validity(invalid: bool, findings: usize, against: &str) -> ExitCode {
    if invalid {
        eprintln!("invalid: `meshcon apply` would refuse this file and change nothing{against}");
        return ExitCode::from(1);
    }
    crate::outln!("valid ({findings} finding(s) below error level){against}");
    ExitCode::SUCCESS
}

fn validate_offline(file: &str, yaml: &str) -> ExitCode {
    let topology = mesh::api::Topology::demo();
    let (_, findings) = mesh::api::config::check(file, yaml, &topology, &[]);
    let protos: Vec<_> = findings.iter().map(mesh::api::finding).collect();
    print_findings(&protos);
    validity(
        findings.iter().any(|f| f.blocks()),
        findings.len(),
        " (no mesh answered: checked against the demo topology's services)",
    )
}

/// `meshcon delete KIND NAME`.
pub async fn delete(
    mesh: Option<&str>,
    kind: &str,
    name: &str,
    namespace: &str,
) -> anyhow::Result<ExitCode> {
    let mut c = client(mesh).await?;
    let reply = c
        .console
        .delete(DeleteRequest {
            kind: kind.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        })
        .await
        .map_err(change_error)?
        .into_inner();
    crate::outln!("{}", reply.summary);
    Ok(ExitCode::SUCCESS)
}

/// The config history of a state directory, for when no mesh answers: it
/// lives in SQLite there, so it can be read with the mesh stopped.
/// A damaged file is an error that says so, not "no mesh answered".
fn stored(state_dir: Option<&Path>) -> anyhow::Result<Option<OfflineHistory>> {
    let dir = state_dir.map_or_else(mesh::api::state::default_dir, Path::to_path_buf);
    let db = dir.join("config.db");
    if !db.exists() {
        return Ok(None);
    }
    let store = OfflineHistory::open(&db)?;
    eprintln!("(no mesh answered: read from {})", db.display());
    Ok(Some(store))
}

/// `meshcon history`.
pub async fn history(
    mesh: Option<&str>,
    state_dir: Option<&Path>,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let h = match client(mesh).await {
        Ok(mut c) => c
            .console
            .history(Empty {})
            .await
            .map_err(status_error)?
            .into_inner(),
        Err(e) => match stored(state_dir)? {
            Some(store) => store.history()?,
            None => return Err(e),
        },
    };
    match format {
        Format::Table => {
            let rows: Vec<Vec<String>> = h
                .entries
                .iter()
                .map(|e| {
                    let when = e
                        .unix_time
                        .parse::<i64>()
                        .ok()
                        .and_then(|ms| time::OffsetDateTime::from_unix_timestamp(ms / 1000).ok())
                        .map(mesh::api::util::rfc3339)
                        .unwrap_or_default();
                    vec![
                        format!("v{}", e.version),
                        when,
                        e.resources.to_string(),
                        e.summary.clone(),
                    ]
                })
                .collect();
            if rows.is_empty() {
                crate::outln!("no config applied yet (version 0: no rules)");
            } else {
                crate::out!(
                    "{}",
                    output::table(&["VERSION", "APPLIED", "RESOURCES", "CHANGE"], &rows)
                );
            }
        }
        f => crate::out!("{}", output::structured(&h.entries, f)?),
    }
    Ok(ExitCode::SUCCESS)
}

/// `meshcon diff V1 [V2]`.
pub async fn diff(
    mesh: Option<&str>,
    state_dir: Option<&Path>,
    from: u64,
    to: Option<u64>,
) -> anyhow::Result<ExitCode> {
    let to = to.unwrap_or(0);
    let text = match client(mesh).await {
        Ok(mut c) => {
            c.console
                .diff(DiffRequest { from, to })
                .await
                .map_err(status_error)?
                .into_inner()
                .text
        }
        Err(e) => match stored(state_dir)? {
            Some(store) => store.diff(from, to)?,
            None => return Err(e),
        },
    };
    if text.is_empty() {
        crate::outln!("no difference");
    } else {
        crate::out!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `meshcon rollback V`.
pub async fn rollback(mesh: Option<&str>, version: u64) -> anyhow::Result<ExitCode> {
    let mut c = client(mesh).await?;
    let reply = c
        .console
        .rollback(RollbackRequest { version })
        .await
        .map_err(change_error)?
        .into_inner();
    crate::outln!("{}", reply.summary);
    Ok(ExitCode::SUCCESS)
}

/// `meshcon chaos ACTION TARGET`.
pub async fn chaos(
    mesh: Option<&str>,
    action: &str,
    target: &str,
    delay_ms: u64,
    rate: f64,
) -> anyhow::Result<ExitCode> {
    let mut c = client(mesh).await?;
    let reply = c
        .console
        .chaos(ChaosRequest {
            action: action.to_string(),
            target: target.to_string(),
            delay_ms,
            error_rate: rate,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    crate::outln!("{}", reply.text);
    Ok(ExitCode::SUCCESS)
}
