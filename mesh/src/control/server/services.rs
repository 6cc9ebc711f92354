//! The gRPC face of a control plane: Discovery (one bidirectional stream per
//! proxy) and Certificates (CSR in, chain out). Authentication by bootstrap
//! token happens here; everything else is the control plane's.

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::Stream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::{short_fp, ControlPlane, MAX_CERT_TTL};
use crate::control::events::EventKind;
use crate::identity::certinfo;
use crate::proto::certificates_server::Certificates;
use crate::proto::discovery_server::Discovery;
use crate::proto::{DiscoveryRequest, DiscoveryResponse, SignRequest, SignResponse};

pub(super) struct DiscoveryService {
    pub(super) cp: ControlPlane,
}

type ResponseStream = Pin<Box<dyn Stream<Item = Result<DiscoveryResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Discovery for DiscoveryService {
    type StreamStream = ResponseStream;

    async fn stream(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        let mut incoming = request.into_inner();
        let first = incoming.message().await?.ok_or_else(|| {
            Status::invalid_argument("the stream must start with the proxy's Node")
        })?;
        let node = first.node.clone().ok_or_else(|| {
            Status::invalid_argument("the first message must carry the proxy's Node")
        })?;
        let entry = self.cp.authenticate(&node.token)?;
        if entry.id() != node.id {
            return Err(Status::permission_denied(format!(
                "token belongs to {}, not {}",
                entry.id(),
                node.id
            )));
        }
        let id = node.id.clone();
        let (tx, rx) = mpsc::channel(8);
        let seq = self.cp.inner.stream_seq.fetch_add(1, Ordering::Relaxed) + 1;
        // A reconnecting proxy says which version it still runs.
        let held = first.version_info.parse::<u64>().unwrap_or(0);
        self.cp.on_connect(&id, seq, tx, held);
        let cp = self.cp.clone();
        let session = self.cp.inner.session.lock().clone();
        tokio::spawn(async move {
            cp.on_request(&id, seq, first);
            loop {
                tokio::select! {
                    _ = session.cancelled() => break,
                    msg = incoming.message() => match msg {
                        Ok(Some(req)) => cp.on_request(&id, seq, req),
                        _ => break,
                    }
                }
            }
            cp.on_disconnect(&id, seq);
        });
        let stream = ReceiverStream::new(rx);
        Ok(Response::new(Box::pin(stream)))
    }
}

pub(super) struct CertificateService {
    pub(super) cp: ControlPlane,
}

#[tonic::async_trait]
impl Certificates for CertificateService {
    async fn sign(&self, request: Request<SignRequest>) -> Result<Response<SignResponse>, Status> {
        let req = request.into_inner();
        let entry = self.cp.authenticate(&req.token)?;
        let ttl = Duration::from_secs(req.ttl_seconds.max(1)).min(MAX_CERT_TTL);
        let ca = self.cp.ca();
        let issued = ca
            .sign_csr(&req.csr_pem, &entry.spiffe_id, ttl)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let not_after = certinfo::rfc3339(issued.not_after);
        let root = ca.fingerprint();
        let issuer = format!("{} root {}", self.cp.inner.trust_domain, short_fp(&root));
        let id = entry.id();
        let mut rotated = false;
        self.cp.inner.registry.write().update(&id, |e| {
            rotated = e.certs_issued > 0;
            e.certs_issued += 1;
            e.cert_serial = issued.serial.clone();
            e.cert_not_after = not_after.clone();
            e.issuer = issuer.clone();
            e.cert_root = root.clone();
        });
        let kind = if rotated {
            EventKind::CertRotated
        } else {
            EventKind::CertIssued
        };
        self.cp.inner.events.emit(
            kind,
            &self.cp.inner.cluster,
            &id,
            format!(
                "{} serial {} until {not_after}",
                entry.spiffe_id,
                &issued.serial[..issued.serial.len().min(16)]
            ),
        );
        Ok(Response::new(SignResponse {
            cert_chain_pem: issued.chain_pem,
            spiffe_id: entry.spiffe_id.to_string(),
        }))
    }
}
