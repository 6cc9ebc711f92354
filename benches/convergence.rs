//! `cargo bench --bench convergence`: apply → every proxy ACKed, over a
//! generated mesh of 200 services (the same run as `meshcon bench
//! convergence`). Budget (DESIGN.md): under 50 ms at P99.

use meshcon::commands::bench::{run, BenchWhat};
use meshcon::output::Format;

fn main() -> anyhow::Result<()> {
    tokio::runtime::Runtime::new()?.block_on(run(BenchWhat::Convergence {
        services: 200,
        applies: 50,
        output: Format::Table,
    }))?;
    Ok(())
}
