//! "Why": what a proxy would do with a request, step by step, from its
//! compiled config: which VirtualService and route match, the destination
//! weights, the subset and its DestinationRule policies, the endpoints (and
//! which are ejected or behind an east-west gateway), and the identity the
//! server must present.

use std::fmt::Write;

use super::cluster::UpstreamCluster;
use super::compile::normalize_authority;
use super::context::ProxyContext;
use super::router::routes_for;
use super::routes::Action;
use crate::proto::ExplainRequest;
use crate::svc::RoutePolicy;

fn policy_text(p: &RoutePolicy) -> String {
    let mut parts = Vec::new();
    parts.push(match p.timeout {
        Some(t) if !t.is_zero() => format!("timeout {}", crate::duration::format(t)),
        _ => "no timeout".into(),
    });
    let r = &p.retry;
    parts.push(format!(
        "{} retr{} on {}{}",
        r.attempts,
        if r.attempts == 1 { "y" } else { "ies" },
        r.retry_on,
        r.per_try_timeout
            .map(|t| format!(", {} per try", crate::duration::format(t)))
            .unwrap_or_default()
    ));
    if let Some(f) = &p.fault {
        if let Some((d, pct)) = f.delay {
            parts.push(format!(
                "fault: delay {} for {pct}%",
                crate::duration::format(d)
            ));
        }
        if let Some((s, pct)) = f.abort {
            parts.push(format!("fault: abort {s} for {pct}%"));
        }
    }
    parts.join("; ")
}

fn cluster_text(out: &mut String, c: &UpstreamCluster, local: &str) {
    let now = tokio::time::Instant::now();
    let ejected = c.ejected(now);
    let _ = writeln!(out, "  cluster {}", c.name);
    let _ = writeln!(
        out,
        "    policy: {} load balancing{}{}{}",
        c.algorithm,
        c.outlier
            .as_ref()
            .map(|o| format!(
                ", outlier detection after {} consecutive 5xx (eject {}s × times ejected)",
                o.consecutive_5xx,
                o.base_ejection.as_secs()
            ))
            .unwrap_or_default(),
        if c.limits.max_in_flight.is_some() || c.limits.max_pending.is_some() {
            let n = |x: Option<usize>| x.map_or("unlimited".to_string(), |n| n.to_string());
            format!(
                ", pool limits {} in flight / {} pending",
                n(c.limits.max_in_flight),
                n(c.limits.max_pending)
            )
        } else {
            String::new()
        },
        c.destination_rule
            .as_ref()
            .map(|d| format!(" (DestinationRule {d})"))
            .unwrap_or_else(|| " (no DestinationRule)".into())
    );
    if c.locality.enabled {
        let _ = writeln!(
            out,
            "    locality: endpoints in {local} first, then other clusters"
        );
    }
    if c.endpoints.is_empty() {
        let _ = writeln!(
            out,
            "    endpoints: none — requests get 503 UH (no healthy upstream)"
        );
    }
    for e in &c.endpoints {
        let state = if ejected.contains(&e.address) {
            "EJECTED"
        } else {
            "healthy"
        };
        let via = match &e.gateway {
            Some(g) => format!(" via east-west gateway {g} (SNI {})", c.sni()),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "    endpoint {} {} ({}, {}) {state}{via}",
            e.instance,
            e.address,
            e.cluster,
            e.labels.get("version").cloned().unwrap_or_default()
        );
    }
}

/// Explains `req` as sent by the workload behind `ctx`.
pub fn explain(ctx: &ProxyContext, req: &ExplainRequest) -> String {
    let cfg = ctx.config();
    let mut out = String::new();
    let host = normalize_authority(&req.host);
    let method = if req.method.is_empty() {
        "GET"
    } else {
        req.method.as_str()
    };
    let path = if req.path.is_empty() {
        "/"
    } else {
        req.path.as_str()
    };
    let _ = writeln!(
        out,
        "{method} {path} to '{}' from {} ({}, config v{})",
        req.host, ctx.info.instance, ctx.info.cluster, cfg.version
    );
    let (routes, vs) = match routes_for(ctx, &cfg, &host) {
        Ok(x) => x,
        Err(e) => {
            let _ = writeln!(out, "→ {e} (404, flag {})", e.flags());
            return out;
        }
    };
    match &vs {
        Some(v) => {
            let _ = writeln!(
                out,
                "1. VirtualService {v} has {} route(s); the first that matches wins.",
                routes.len()
            );
        }
        None => {
            let _ = writeln!(out, "1. No VirtualService for this host: the default route sends everything to the service.");
        }
    }
    let mut builder = http::Request::builder().method(method).uri(path);
    for (k, v) in &req.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let Ok(request) = builder.body(bytes::Bytes::new()) else {
        let _ = writeln!(
            out,
            "→ the request is not valid HTTP (check the header names)"
        );
        return out;
    };
    let port = req
        .host
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(80);
    let mut chosen = None;
    for (i, r) in routes.iter().enumerate() {
        match r.matched(&request, &req.host, port, &ctx.source) {
            Some(block) => {
                let why = match block {
                    Some(b) => format!("its match #{b} holds"),
                    None => "it has no conditions".into(),
                };
                let _ = writeln!(out, "2. Route #{i} '{}' matches: {why}.", r.name);
                chosen = Some(r);
                break;
            }
            None => {
                let why = r.misses(&request, &req.host, port, &ctx.source);
                if let [one] = why.as_slice() {
                    let _ = writeln!(out, "   route #{i} '{}' does not match: {one}", r.name);
                } else {
                    let _ = writeln!(out, "   route #{i} '{}' does not match:", r.name);
                    for (b, w) in why.iter().enumerate() {
                        let _ = writeln!(out, "     match #{b}: {w}");
                    }
                }
            }
        }
    }
    let Some(route) = chosen else {
        let _ = writeln!(out, "→ no route matches: 404 NR");
        return out;
    };
    let dests = match &route.action {
        Action::Redirect(r) => {
            let _ = writeln!(
                out,
                "3. The route answers with a redirect {} to {}{}.",
                r.redirect_code.unwrap_or(301),
                r.authority.as_deref().unwrap_or("the same host"),
                r.uri.as_deref().unwrap_or("")
            );
            return out;
        }
        Action::Route(d) => d.clone(),
    };
    let total: u32 = dests.iter().map(|d| d.1).sum::<u32>().max(1);
    let _ = writeln!(out, "3. Destinations (picked by weight for each request):");
    for (name, w, _) in &dests {
        let _ = writeln!(out, "  {:>5.1}%  {name}", *w as f64 * 100.0 / total as f64);
    }
    let _ = writeln!(out, "4. Route policy: {}.", policy_text(&route.policy));
    if let Some((m, pct)) = &route.mirror {
        let _ = writeln!(out, "   mirror: {pct}% copied to {m} (answers ignored)");
    }
    let _ = writeln!(out, "5. Where each destination goes:");
    for (name, _, _) in &dests {
        match cfg.clusters.get(name) {
            Some(c) => {
                cluster_text(&mut out, c, &ctx.info.cluster);
                let ids = cfg
                    .services
                    .get(&c.host)
                    .map(|s| s.entry.identities.join(" or "))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "    mTLS: the server must present {ids} (secure naming)"
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "  {name}: no such cluster — requests get 503 NC (is the subset defined?)"
                );
            }
        }
    }
    out
}
