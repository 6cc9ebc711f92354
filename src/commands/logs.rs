//! `meshcon logs INSTANCE [-f]`: one proxy's access log, in Envoy's default
//! format, from the requests it keeps; `-f` follows new ones, as
//! `kubectl logs -f POD -c istio-proxy` would.

use std::process::ExitCode;

use mesh::api::{TapEntry, TapRequest};

use crate::client::{resolve_addr, status_error, MeshClient};

async fn entries(
    c: &mut MeshClient,
    instance: &str,
    recent_only: bool,
) -> anyhow::Result<tonic::Streaming<TapEntry>> {
    Ok(c.console
        .tap(TapRequest {
            filter: instance.to_string(),
            recent_only,
        })
        .await
        .map_err(status_error)?
        .into_inner())
}

/// Prints the access log of `instance` (`billing-v1-0`, or
/// `istio-eastwestgateway-0.us` where a name repeats across clusters): the
/// last `tail` kept lines (all by default), then, with `follow`, new ones.
pub async fn run(
    mesh: Option<&str>,
    instance: &str,
    follow: bool,
    tail: Option<usize>,
) -> anyhow::Result<ExitCode> {
    let mut c = MeshClient::connect(&resolve_addr(mesh)).await?;
    let mut kept = Vec::new();
    let mut stream = entries(&mut c, instance, true).await?;
    while let Some(e) = stream.message().await.map_err(status_error)? {
        kept.push(e);
    }
    let skip = tail.map_or(0, |n| kept.len().saturating_sub(n));
    for e in kept.iter().skip(skip) {
        crate::outln!("{}", e.access_log_line());
    }
    if !follow {
        return Ok(ExitCode::SUCCESS);
    }
    // A live stream starts with the kept entries again: skip what was read.
    let last_ms = kept.last().map_or(i64::MIN, |e| e.unix_ms);
    let mut stream = entries(&mut c, instance, false).await?;
    while let Some(e) = stream.message().await.map_err(status_error)? {
        if e.unix_ms < last_ms || (e.unix_ms == last_ms && kept.contains(&e)) {
            continue;
        }
        crate::outln!("{}", e.access_log_line());
    }
    Ok(ExitCode::SUCCESS)
}
