//! `meshcon get proxy-config secret|endpoint|route|cluster`: what an Envoy
//! says of itself, from its admin port or a saved `/config_dump`, in the
//! columns `istioctl proxy-config` prints, so the two can be read side by
//! side.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;
use mesh::api::realmesh::{self, ConfigDump};
use serde::Serialize;

use crate::output::{self, Format};

/// Which part of a proxy's configuration to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Section {
    /// SDS secrets: certificate chains, serials, validity, the root CA.
    Secret,
    /// Endpoints of every cluster, with their health.
    Endpoint,
    /// Routes: route config, virtual host, domains, match, VirtualService.
    Route,
    /// Upstream clusters.
    Cluster,
}

impl Section {
    /// The word the command line uses (`secret`).
    pub fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }
}

/// Where the configuration comes from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Envoy admin addresses (`HOST:PORT`).
    pub envoy_admin: Vec<String>,
    /// A saved `/config_dump`.
    pub config_dump: Option<PathBuf>,
}

/// One proxy's answer, for `-o json|yaml` with several proxies.
#[derive(Serialize)]
struct PerProxy<'a, T: Serialize> {
    source: &'a str,
    rows: T,
}

/// Every source's dump, read in order, and what could not be read.
pub async fn dumps(sources: &Sources) -> (Vec<(String, ConfigDump)>, Vec<String>) {
    let mut dumps = Vec::new();
    let mut errors = Vec::new();
    if let Some(path) = &sources.config_dump {
        match realmesh::read_config_dump(path) {
            Ok(d) => dumps.push((path.display().to_string(), d)),
            Err(e) => errors.push(format!("reading the config dump {}: {e}", path.display())),
        }
    }
    for admin in &sources.envoy_admin {
        match realmesh::fetch_config_dump(admin, realmesh::DEFAULT_TIMEOUT).await {
            Ok(d) => dumps.push((admin.clone(), d)),
            Err(e) => errors.push(format!("reading Envoy's admin API at {admin}: {e}")),
        }
    }
    (dumps, errors)
}

/// Reads every source and prints `section` of each.
pub async fn run(section: Section, sources: Sources, format: Format) -> anyhow::Result<ExitCode> {
    let (dumps, errors) = dumps(&sources).await;
    if let Some(e) = errors.into_iter().next() {
        anyhow::bail!("{e}");
    }
    if dumps.is_empty() {
        anyhow::bail!(
            "proxy-config needs a proxy: --envoy-admin HOST:PORT (kubectl port-forward POD 15000) or --config-dump FILE"
        );
    }
    let several = dumps.len() > 1;
    let mut out = String::new();
    if format == Format::Table {
        for (source, dump) in &dumps {
            if several {
                out.push_str(&format!("# {}\n", output::escape(source)));
            }
            out.push_str(&table(section, dump));
            if several {
                out.push('\n');
            }
        }
    } else {
        let rows = |d: &ConfigDump| -> anyhow::Result<serde_json::Value> {
            Ok(match section {
                Section::Secret => serde_json::to_value(&d.secrets)?,
                Section::Endpoint => serde_json::to_value(&d.endpoints)?,
                Section::Route => serde_json::to_value(&d.routes)?,
                Section::Cluster => serde_json::to_value(&d.clusters)?,
            })
        };
        out = if several {
            let all = dumps
                .iter()
                .map(|(s, d)| {
                    Ok(PerProxy {
                        source: s,
                        rows: rows(d)?,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            output::structured(&all, format)?
        } else {
            output::structured(&rows(&dumps[0].1)?, format)?
        };
    }
    use std::io::Write;
    std::io::stdout()
        .write_all(out.as_bytes())
        .unwrap_or_else(|e| output::stdout_failed(e));
    Ok(ExitCode::SUCCESS)
}

/// The table istioctl prints for `section`, plus the SPIFFE ID for secrets.
pub fn table(section: Section, d: &ConfigDump) -> String {
    let e = |s: &str| output::escape(s);
    match section {
        Section::Secret => output::table(
            &[
                "RESOURCE NAME",
                "TYPE",
                "STATUS",
                "VALID CERT",
                "SERIAL NUMBER",
                "NOT AFTER",
                "NOT BEFORE",
                "IDENTITY",
            ],
            &d.secrets
                .iter()
                .map(|s| {
                    vec![
                        e(&s.name),
                        s.kind.clone(),
                        e(&s.state),
                        s.valid.to_string(),
                        e(&s.serial),
                        s.not_after.clone(),
                        s.not_before.clone(),
                        e(s.spiffe_id.as_deref().unwrap_or("")),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
        Section::Endpoint => output::table(
            &["NAME", "STATUS", "LOCALITY", "CLUSTER"],
            &d.endpoints
                .iter()
                .map(|r| vec![e(&r.address), e(&r.status), e(&r.locality), e(&r.cluster)])
                .collect::<Vec<_>>(),
        ),
        Section::Route => output::table(
            &["NAME", "VHOST NAME", "DOMAINS", "MATCH", "VIRTUAL SERVICE"],
            &d.routes
                .iter()
                .map(|r| {
                    vec![
                        e(&r.name),
                        e(&r.vhost),
                        e(&r.domains_text),
                        e(&r.match_text),
                        e(&r.virtual_service),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
        Section::Cluster => output::table(
            &["SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE"],
            &d.clusters
                .iter()
                .map(|c| {
                    vec![
                        e(&c.service),
                        c.port.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                        if c.subset.is_empty() {
                            "-".into()
                        } else {
                            e(&c.subset)
                        },
                        if c.direction.is_empty() {
                            "-".into()
                        } else {
                            e(&c.direction)
                        },
                        e(&c.discovery),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
    }
}
