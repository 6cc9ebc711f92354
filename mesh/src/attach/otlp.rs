//! An OTLP/gRPC receiver for a real mesh's proxies (Envoy's OpenTelemetry
//! tracer, an OpenTelemetry Collector exporting onwards): the same
//! collector meshcon's control planes run, filing into a store the console reads.

use std::net::SocketAddr;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceServiceServer;

use crate::telemetry::collector::{Collector, TraceStore};

/// Serves OTLP/gRPC on `listener` into `store` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: TraceStore,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .add_service(TraceServiceServer::new(Collector { store }))
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            shutdown,
        )
        .await
}

/// Binds `addr` for [`serve`], saying clearly when the port is taken.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, super::AttachError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| super::AttachError::Unreachable {
            url: format!("OTLP receiver {addr}"),
            why: format!("cannot listen: {e}"),
        })
}
