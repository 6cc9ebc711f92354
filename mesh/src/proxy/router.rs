//! The router: from the request's host to a service (or, on an ingress
//! gateway, to the VirtualService bound to the Gateway), the first route
//! whose match holds, and a destination picked by weight. It attaches the
//! route's policy and target to the request for the layers below, applies
//! rewrites and header operations, answers redirects, and fires mirrors.
//! On an ingress gateway it first verifies the request's JWT
//! (RequestAuthentication), so routes can match on its claims.

use std::sync::Arc;
use std::task::{Context, Poll};

use tower::{Layer, Service};

use tower::ServiceExt;

use super::cluster::RouteTarget;
use super::compile::{normalize_authority, CompiledConfig};
use super::context::ProxyContext;
use super::routes::{apply_header_ops, Action, CompiledRoute};
use crate::control::events::EventKind;
use crate::control::registry::ProxyKind;
use crate::svc::{clone_request, ClusterStats, MeshService, ProxyError, Req, Resp, SvcFuture};
use crate::telemetry::access::{RequestLog, ServiceRef};

/// Layer for [`Router`].
#[derive(Debug, Clone)]
pub struct RouterLayer {
    ctx: Arc<ProxyContext>,
    mirror: MeshService,
}

impl RouterLayer {
    /// A router for one proxy; mirrored copies go to `mirror` (the stack
    /// below retries: fire and forget, one attempt, no timeout).
    pub fn new(ctx: Arc<ProxyContext>, mirror: MeshService) -> Self {
        Self { ctx, mirror }
    }
}

impl<S> Layer<S> for RouterLayer {
    type Service = Router<S>;
    fn layer(&self, inner: S) -> Router<S> {
        Router {
            inner,
            mirror: self.mirror.clone(),
            ctx: Arc::clone(&self.ctx),
        }
    }
}

/// Routes requests; see the module docs.
#[derive(Debug, Clone)]
pub struct Router<S> {
    inner: S,
    ctx: Arc<ProxyContext>,
    mirror: MeshService,
}

/// The authority a request names: absolute-form URI first, then Host.
pub fn authority_of<B>(req: &http::Request<B>) -> String {
    req.uri()
        .authority()
        .map(|a| a.to_string())
        .or_else(|| {
            req.headers()
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_default()
}

fn host_pattern_matches(pattern: &str, host: &str) -> bool {
    let p = pattern
        .rsplit('/')
        .next()
        .unwrap_or(pattern)
        .to_ascii_lowercase();
    p == "*"
        || p == host
        || p.strip_prefix('*')
            .is_some_and(|suffix| host.ends_with(suffix))
}

/// The routes that apply to a request, and what they are called.
pub fn routes_for<'a>(
    ctx: &'a ProxyContext,
    cfg: &'a CompiledConfig,
    host: &str,
) -> Result<(&'a [CompiledRoute], Option<String>), ProxyError> {
    if ctx.info.kind == ProxyKind::IngressGateway {
        if let Some(b) = cfg
            .ingress
            .iter()
            .find(|b| b.hosts.iter().any(|p| host_pattern_matches(p, host)))
        {
            return Ok((&b.routes, Some(b.virtual_service.clone())));
        }
        if let Some((hosts, service)) = &ctx.default_ingress {
            if hosts.iter().any(|h| host_pattern_matches(h, host)) {
                if let Some(svc) = cfg.lookup(service) {
                    return Ok((&svc.routes, svc.virtual_service.clone()));
                }
            }
        }
        return Err(ProxyError::NoRoute {
            host: host.to_string(),
            hint: "the ingress gateway serves no such host (check the Gateway's hosts and VirtualServices bound to it)".into(),
        });
    }
    match cfg.lookup(host) {
        Some(svc) => Ok((&svc.routes, svc.virtual_service.clone())),
        None => Err(ProxyError::NoRoute {
            host: host.to_string(),
            hint: match cfg.known_services() {
                known if known.is_empty() => "this proxy is scoped to the services its workload calls (as an Istio Sidecar resource's egress hosts would scope it), and it calls none".to_string(),
                known => format!(
                    "this proxy is scoped to the services its workload calls (as an Istio Sidecar resource's egress hosts would scope it): {}",
                    known.join(", ")
                ),
            },
        }),
    }
}

fn rewrite(req: &mut Req, route: &CompiledRoute, block: Option<usize>) {
    let Some(rw) = &route.rewrite else { return };
    if let Some(new) = &rw.uri {
        let path = req.uri().path().to_string();
        let new_path = match route.matched_prefix(block) {
            Some(prefix) if path.starts_with(prefix) => format!("{new}{}", &path[prefix.len()..]),
            _ => new.clone(),
        };
        let pq = match req.uri().query() {
            Some(q) => format!("{new_path}?{q}"),
            None => new_path,
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(p) = pq.parse() {
            parts.path_and_query = Some(p);
        }
        if let Ok(u) = http::Uri::from_parts(parts) {
            *req.uri_mut() = u;
        }
    }
    if let Some(a) = &rw.authority {
        if let Ok(v) = http::HeaderValue::from_str(a) {
            req.headers_mut().insert(http::header::HOST, v);
        }
        let mut parts = req.uri().clone().into_parts();
        if parts.authority.is_some() {
            if let Ok(auth) = a.parse() {
                parts.authority = Some(auth);
            }
            if let Ok(u) = http::Uri::from_parts(parts) {
                *req.uri_mut() = u;
            }
        }
    }
}

impl<S> Service<Req> for Router<S>
where
    S: Service<Req, Response = Resp, Error = ProxyError, Future = SvcFuture>
        + Clone
        + Send
        + 'static,
{
    type Response = Resp;
    type Error = ProxyError;
    type Future = SvcFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ProxyError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> SvcFuture {
        // The ingress gateway verifies tokens and enforces the policies that
        // select it before routing, as Istio's gateway does, so routes can
        // match on claims (Istio routes on claims only at gateways).
        let cfg = self.ctx.config();
        if self.ctx.info.kind != ProxyKind::IngressGateway
            || (cfg.jwt.is_empty() && cfg.authorization.is_empty())
        {
            return self.route(req);
        }
        // The ready inner service goes with the request; a clone stays.
        let clone = self.clone();
        let mut this = std::mem::replace(self, clone);
        Box::pin(async move {
            let refused = |why| this.ctx.emit(EventKind::Denied, why);
            let req = match super::jwt::authenticate(&cfg.jwt, req, refused).await {
                Ok(req) => req,
                Err(resp) => return Ok(resp),
            };
            super::authz::authorize(&this.ctx, &cfg.authorization, &req, None)?;
            this.route(req).await
        })
    }
}

impl<S> Router<S>
where
    S: Service<Req, Response = Resp, Error = ProxyError, Future = SvcFuture>
        + Clone
        + Send
        + 'static,
{
    fn route(&mut self, mut req: Req) -> SvcFuture {
        let cfg = self.ctx.config();
        let authority = authority_of(&req);
        let host = normalize_authority(&authority);
        let port = authority
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok())
            .unwrap_or(80);
        let (routes, _vs) = match routes_for(&self.ctx, &cfg, &host) {
            Ok(r) => r,
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        let Some((route, block)) = routes.iter().find_map(|r| {
            r.matched(&req, &authority, port, &self.ctx.source)
                .map(|b| (r, b))
        }) else {
            let e = ProxyError::NoRoute {
                host,
                hint: "no route of its VirtualService matched the request".into(),
            };
            return Box::pin(async move { Err(e) });
        };
        if let Action::Redirect(r) = &route.action {
            let location = format!(
                "http://{}{}",
                r.authority.clone().unwrap_or(authority),
                r.uri
                    .clone()
                    .unwrap_or_else(|| req.uri().path().to_string())
            );
            let mut resp = crate::http::text_response(r.redirect_code.unwrap_or(301), "");
            if let Ok(v) = http::HeaderValue::from_str(&location) {
                resp.headers_mut().insert(http::header::LOCATION, v);
            }
            return Box::pin(async move { Ok(resp) });
        }
        let Some((cluster_name, _, dest_headers)) = route.pick_destination().cloned() else {
            let e = ProxyError::NoRoute {
                host,
                hint: "the route has no destination".into(),
            };
            return Box::pin(async move { Err(e) });
        };
        let Some(cluster) = cfg.clusters.get(&cluster_name).cloned() else {
            let e = ProxyError::NoCluster {
                cluster: cluster_name,
                hint: "the destination host or subset is not defined (is there a DestinationRule with that subset?)".into(),
            };
            return Box::pin(async move { Err(e) });
        };
        rewrite(&mut req, route, block);
        apply_header_ops(
            req.headers_mut(),
            route.headers.as_ref().and_then(|h| h.request.as_ref()),
        );
        apply_header_ops(
            req.headers_mut(),
            dest_headers.as_ref().and_then(|h| h.request.as_ref()),
        );
        if let Some(log) = req.extensions().get::<RequestLog>() {
            let svc = cfg.services.get(&cluster.host);
            log.update(|l| {
                l.service = Some(ServiceRef {
                    name: svc
                        .map(|s| s.entry.name.clone())
                        .unwrap_or_else(|| cluster.host.clone()),
                    namespace: svc.map(|s| s.entry.namespace.clone()).unwrap_or_default(),
                    fqdn: cluster.host.clone(),
                });
                l.route = Some(route.name.clone());
                l.cluster = Some(cluster.name.clone());
            });
        }
        req.extensions_mut().insert(route.policy.clone());
        req.extensions_mut()
            .insert(ClusterStats(Arc::clone(&cluster.state.counters)));
        req.extensions_mut()
            .insert(RouteTarget(Arc::clone(&cluster)));

        if let Some((mirror_cluster, pct)) = &route.mirror {
            if let Some(mc) = cfg.clusters.get(mirror_cluster).cloned() {
                if *pct >= 100.0 || rand::random::<f64>() * 100.0 < *pct {
                    let mut copy = clone_request(&req);
                    copy.extensions_mut().remove::<RequestLog>();
                    copy.extensions_mut().insert(RouteTarget(mc));
                    let shadow = format!("{}-shadow", normalize_authority(&authority));
                    if let Ok(v) = http::HeaderValue::from_str(&shadow) {
                        copy.headers_mut().insert(http::header::HOST, v);
                    }
                    let m = self.mirror.clone();
                    tokio::spawn(async move {
                        // A mirror's answer (or failure) is dropped by design,
                        // as Envoy's shadowing does; its telemetry is the
                        // attempt span.
                        if let Err(e) = m.oneshot(copy).await {
                            tracing::debug!(error = %e, "mirrored request failed");
                        }
                    });
                }
            }
        }

        let response_ops = route.headers.as_ref().and_then(|h| h.response.clone());
        let dest_response_ops = dest_headers.and_then(|h| h.response);
        let fut = self.inner.call(req);
        Box::pin(async move {
            let mut resp = fut.await?;
            apply_header_ops(resp.headers_mut(), response_ops.as_ref());
            apply_header_ops(resp.headers_mut(), dest_response_ops.as_ref());
            Ok(resp)
        })
    }
}
