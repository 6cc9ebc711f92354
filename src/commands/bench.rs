//! `meshcon bench`: the data-plane and convergence benchmarks.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use mesh::bench;

use crate::output::{self, Format};

/// Which benchmark.
#[derive(Debug, Subcommand)]
pub enum BenchWhat {
    /// Latency added by two sidecars doing mTLS, against a direct call.
    Dataplane {
        /// Requests per second; several (`500,1000,2000,4000`) sweep the
        /// rates one after another, each against its own mesh and nginx.
        #[arg(long, value_delimiter = ',', default_value = "1000", value_parser = clap::value_parser!(u32).range(1..))]
        rate: Vec<u32>,
        /// Length of each phase.
        #[arg(long, default_value = "10s", value_parser = some_time)]
        duration: Duration,
        /// Request and response body, bytes.
        #[arg(long, default_value_t = 1024)]
        body: usize,
        /// Trace sampling in the sidecars, percent.
        #[arg(long, default_value_t = 100.0)]
        trace_sampling: f64,
        /// The nginx binary for the comparison pair (DESIGN budget: the
        /// sidecars must add less than two nginx proxies doing mTLS).
        #[arg(long, default_value = "nginx")]
        nginx: PathBuf,
        /// Skip the nginx comparison.
        #[arg(long)]
        no_nginx: bool,
        /// Threads the sidecars' data plane runs on.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
        dataplane_threads: u16,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Format,
    },
    /// Apply → every proxy ACKed, over a generated mesh.
    Convergence {
        /// Services (one proxy each).
        #[arg(long, default_value_t = 200)]
        services: usize,
        /// Applies to measure.
        #[arg(long, default_value_t = 50)]
        applies: usize,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Format,
    },
}

/// A duration that is not zero.
fn some_time(s: &str) -> Result<Duration, String> {
    match mesh::api::util::parse_duration(s) {
        Ok(d) if d.is_zero() => Err("a phase must last longer than 0 s".into()),
        other => other.map_err(|e| e.to_string()),
    }
}

fn row(r: &bench::LatencyReport) -> Vec<String> {
    let ms = |us: u64| format!("{:.3}", us as f64 / 1000.0);
    vec![
        r.label.clone(),
        format!("{:.0}", r.rps),
        r.errors.to_string(),
        ms(r.p50_us),
        ms(r.p90_us),
        ms(r.p99_us),
        ms(r.p999_us),
    ]
}

/// One rate's figures as a table, and what each pair adds to a direct call.
fn print_dataplane(r: &bench::DataplaneReport) {
    let added = |label: &str, to: &bench::LatencyReport| {
        let d = |a: u64, b: u64| format!("{:+.3}", (b as f64 - a as f64) / 1000.0);
        vec![
            label.to_string(),
            String::new(),
            String::new(),
            d(r.direct.p50_us, to.p50_us),
            d(r.direct.p90_us, to.p90_us),
            d(r.direct.p99_us, to.p99_us),
            d(r.direct.p999_us, to.p999_us),
        ]
    };
    let mut rows = vec![row(&r.direct), row(&r.meshed)];
    rows.extend(r.nginx.iter().map(|n| row(&n.latency)));
    rows.push(added("added by the sidecars", &r.meshed));
    for n in &r.nginx {
        rows.push(added(&format!("added by {}", n.latency.label), &n.latency));
    }
    crate::out!(
        "{}",
        output::table(
            &["PATH", "RPS", "ERRORS", "P50 ms", "P90 ms", "P99 ms", "P99.9 ms"],
            &rows
        )
    );
    crate::outln!(
        "sidecar CPU: {:.4} CPU-seconds per 1000 requests for both sidecars ({:.4} per proxy)",
        r.sidecar_cpu_per_1000,
        r.sidecar_cpu_per_1000 / 2.0
    );
    if r.dataplane_thread_cpu_per_1000 > 0.0 {
        crate::outln!(
            "sidecar CPU on their data-plane threads alone, read per thread: {:.4} ({:.4} per proxy)",
            r.dataplane_thread_cpu_per_1000,
            r.dataplane_thread_cpu_per_1000 / 2.0
        );
    }
    for n in &r.nginx {
        crate::outln!(
            "{}: {:.4} CPU-seconds per 1000 requests ({:.4} per proxy)",
            n.latency.label,
            n.cpu_per_1000,
            n.cpu_per_1000 / 2.0
        );
    }
    if let Some(why) = &r.nginx_skipped {
        crate::outln!("nginx pair skipped: {why}");
    }
}

/// Runs a benchmark.
pub async fn run(what: BenchWhat) -> anyhow::Result<ExitCode> {
    let dir = tempfile_dir()?;
    match what {
        BenchWhat::Dataplane {
            rate,
            duration,
            body,
            trace_sampling,
            nginx,
            no_nginx,
            dataplane_threads,
            output: fmt,
        } => {
            let mut reports = Vec::new();
            for rate in rate {
                eprintln!("meshcon bench: {rate} req/s for {duration:?} per phase, {body}-byte bodies, tracing {trace_sampling}%, {dataplane_threads} data-plane thread(s)");
                let r = bench::dataplane(
                    &bench::DataplaneOptions {
                        rate,
                        duration,
                        body,
                        trace_sampling,
                        nginx: (!no_nginx).then(|| nginx.clone()),
                        dataplane_threads: usize::from(dataplane_threads),
                    },
                    &dir,
                )
                .await?;
                if fmt == Format::Table {
                    print_dataplane(&r);
                }
                reports.push(r);
            }
            if fmt != Format::Table {
                crate::out!("{}", output::structured(&reports, fmt)?);
            }
        }
        BenchWhat::Convergence {
            services,
            applies,
            output: fmt,
        } => {
            eprintln!("meshcon bench: {services} services, {applies} applies");
            let r = bench::convergence(services, applies, &dir).await?;
            match fmt {
                Format::Table => crate::outln!(
                    "{} proxies: apply → all ACKed P50 {:.1} ms, P99 {:.1} ms, max {:.1} ms over {} applies; process RSS {:.0} MiB, {:.0} KiB per proxy",
                    r.proxies, r.p50_ms, r.p99_ms, r.max_ms, r.applies, r.rss_mib, r.rss_per_proxy_kib
                ),
                f => crate::out!("{}", output::structured(&r, f)?),
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ExitCode::SUCCESS)
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("meshcon-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
