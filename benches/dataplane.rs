//! `cargo bench --bench dataplane`: the latency and CPU two sidecars doing
//! mTLS add to a call, against the same call made directly (the same run as
//! `meshcon bench dataplane`). Budget (DESIGN.md): at most 0.1 ms added at
//! P90 and 0.05 CPU-seconds per 1000 requests per proxy, and less than a
//! pair of nginx proxies doing mTLS (run too when nginx is installed).

use std::time::Duration;

use meshcon::commands::bench::{run, BenchWhat};
use meshcon::output::Format;

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    for trace_sampling in [100.0, 0.0] {
        rt.block_on(run(BenchWhat::Dataplane {
            rate: vec![1000],
            duration: Duration::from_secs(5),
            body: 1024,
            trace_sampling,
            nginx: "nginx".into(),
            no_nginx: false,
            dataplane_threads: 1,
            output: Format::Table,
        }))?;
    }
    Ok(())
}
