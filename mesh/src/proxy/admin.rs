//! The admin listener, as Envoy's: `/ready`, `/certs`, `/config_dump`,
//! `/clusters`, `/stats/prometheus`, plus meshcon's `/stats/exact` (exact
//! per-edge percentiles) and `/tap` (recent requests) for the console.

use std::convert::Infallible;
use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::context::ProxyContext;
use crate::http::{
    accept_loop, full, json_response, serve_connection_with, text_response, Body, ListenerLimits,
    Refusal,
};
use crate::identity::certinfo::rfc3339;

fn query_param(uri: &http::Uri, name: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

/// Answers one admin request.
pub fn handle(ctx: &ProxyContext, req: &http::Request<Incoming>) -> http::Response<Body> {
    match req.uri().path() {
        "/ready" | "/healthz/ready" => {
            if *ctx.ready.borrow() {
                text_response(200, "LIVE\n")
            } else {
                text_response(503, "PRE_INITIALIZING\n")
            }
        }
        "/certs" => match ctx.identity.current() {
            Some(svid) => json_response(
                200,
                &json!({
                    "spiffe_id": svid.id.to_string(),
                    "serial": svid.serial,
                    "issuer": svid.issuer,
                    "not_before": rfc3339(svid.not_before),
                    "not_after": rfc3339(svid.not_after),
                    "rotations": ctx.identity.rotations(),
                    "chain_pem": svid.chain_pem,
                    "root_fingerprint": svid.root_fingerprint,
                    "trust_domains": ctx.trust.load().fingerprints(),
                }),
            ),
            None => text_response(503, "no certificate yet\n"),
        },
        "/config_dump" => {
            let cfg = ctx.config();
            let now = tokio::time::Instant::now();
            let mut clusters: Vec<_> = cfg
                .clusters
                .values()
                .map(|c| {
                    json!({
                        "name": c.name,
                        "endpoints": c.endpoints.iter().map(|e| json!({
                            "address": e.address, "instance": e.instance, "cluster": e.cluster,
                            "identity": e.identity, "labels": e.labels, "gateway": e.gateway,
                        })).collect::<Vec<_>>(),
                        "ejected": c.ejected(now),
                        "lb": format!("{:?}", c.algorithm),
                        "outlier_detection": c.outlier.as_ref().map(|o| format!("{o:?}")),
                        "limits": format!("{:?}", c.limits),
                        "destination_rule": c.destination_rule,
                    })
                })
                .collect();
            clusters.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
            json_response(
                200,
                &json!({
                    "node": {
                        "id": ctx.info.id, "kind": ctx.info.kind.as_str(), "cluster": ctx.info.cluster,
                        "spiffe_id": ctx.info.spiffe_id.to_string(),
                    },
                    "version": cfg.version,
                    "control_plane_connected": *ctx.control_plane.borrow(),
                    "mtls_mode": cfg.mtls_mode,
                    "snapshot": *ctx.snapshot(),
                    "clusters": clusters,
                }),
            )
        }
        "/clusters" => {
            let cfg = ctx.config();
            let now = tokio::time::Instant::now();
            let mut out = String::new();
            let mut names: Vec<_> = cfg.clusters.keys().collect();
            names.sort();
            for n in names {
                if let Some(c) = cfg.clusters.get(n) {
                    let ejected = c.ejected(now);
                    for e in &c.endpoints {
                        let health = if ejected.contains(&e.address) { "/failed_outlier_check" } else { "healthy" };
                        let _ = writeln!(out, "{}::{}::health_flags::{health}::instance::{}", c.name, e.address, e.instance);
                    }
                }
            }
            text_response(200, out)
        }
        "/stats/prometheus" => {
            let text = ctx.metrics.render();
            // A scraper holding this very exposition gets 304 instead of it
            // again: an idle mesh's expositions do not change, and the
            // console scrapes every proxy every second.
            let etag = {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                text.hash(&mut h);
                format!("\"{:016x}\"", h.finish())
            };
            let held = req
                .headers()
                .get(http::header::IF_NONE_MATCH)
                .is_some_and(|v| v.as_bytes() == etag.as_bytes());
            let mut resp = if held {
                let mut r = http::Response::new(full(""));
                *r.status_mut() = http::StatusCode::NOT_MODIFIED;
                r
            } else {
                let mut r = http::Response::new(full(text));
                r.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                r
            };
            if let Ok(v) = http::HeaderValue::from_str(&etag) {
                resp.headers_mut().insert(http::header::ETAG, v);
            }
            resp
        }
        "/stats/exact" => {
            let window = query_param(req.uri(), "window")
                .and_then(|w| w.parse::<u64>().ok())
                .unwrap_or(60)
                .clamp(1, 60);
            json_response(200, &ctx.latencies.stats(Duration::from_secs(window)))
        }
        "/tap" => {
            let n = query_param(req.uri(), "n").and_then(|n| n.parse::<usize>().ok()).unwrap_or(100);
            json_response(200, &ctx.tap.recent(n))
        }
        _ => text_response(
            404,
            "admin endpoints: /ready /certs /config_dump /clusters /stats/prometheus /stats/exact /tap\n",
        ),
    }
}

/// Serves the admin listener until `cancel`.
pub async fn serve(listener: TcpListener, ctx: Arc<ProxyContext>, cancel: CancellationToken) {
    let c = cancel.clone();
    accept_loop(
        listener,
        "admin",
        ListenerLimits::ADMIN,
        Refusal::Http503,
        cancel,
        move |stream, _remote| {
            let ctx = Arc::clone(&ctx);
            serve_connection_with(
                stream,
                move |req: http::Request<Incoming>| {
                    let resp = handle(&ctx, &req);
                    async move { Ok::<_, Infallible>(resp) }
                },
                c.clone(),
                Duration::from_secs(1),
                ListenerLimits::ADMIN,
            )
        },
    )
    .await
}
