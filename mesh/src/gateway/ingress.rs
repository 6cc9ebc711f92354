//! The ingress gateway: terminates TLS from outside clients with a
//! certificate for the topology's hosts, then routes each request into the
//! mesh over mTLS through the same outbound stack a sidecar uses (Gateway +
//! VirtualService routes when bound, else the topology's default service).

use std::sync::Arc;

use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::http::{accept_loop, serve_stack, ListenerLimits, Refusal};
use crate::proto::ProxyEvent;
use crate::proxy::admin;
use crate::proxy::context::ProxyContext;
use crate::proxy::outbound;
use crate::proxy::sidecar::{start_agent, AgentSpec, ProxyHandle};
use crate::telemetry::access::ConnInfo;

/// Starts an ingress gateway on `listener` (TLS) and `admin`.
pub fn start(
    ctx: Arc<ProxyContext>,
    events: tokio::sync::mpsc::Receiver<ProxyEvent>,
    spec: &AgentSpec,
    listener: TcpListener,
    admin_listener: TcpListener,
    tls: Arc<ServerConfig>,
) -> ProxyHandle {
    let cancel = CancellationToken::new();
    let mut tasks = start_agent(&ctx, events, spec, &cancel);
    tasks.push(tokio::spawn(admin::serve(
        admin_listener,
        Arc::clone(&ctx),
        cancel.clone(),
    )));
    let svc = outbound::stack(Arc::clone(&ctx));
    let acceptor = TlsAcceptor::from(tls);
    let c = cancel.clone();
    tasks.push(tokio::spawn(accept_loop(
        listener,
        "ingress",
        ListenerLimits::INGRESS,
        Refusal::Close,
        cancel.clone(),
        move |stream, remote| {
            let acceptor = acceptor.clone();
            let svc = svc.clone();
            let c = c.clone();
            async move {
                let tls = match tokio::time::timeout(
                    ListenerLimits::INGRESS.handshake_timeout,
                    acceptor.accept(stream),
                )
                .await
                {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        tracing::debug!(%remote, error = %e, "ingress TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%remote, "ingress TLS handshake timed out");
                        return;
                    }
                };
                let conn = ConnInfo {
                    peer_id: None,
                    remote: Some(remote),
                };
                serve_stack(tls, svc, conn, c, ListenerLimits::INGRESS).await;
            }
        },
    )));
    ProxyHandle::new(ctx, cancel, tasks)
}
