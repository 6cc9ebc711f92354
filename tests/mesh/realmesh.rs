//! Reading a real Istio or Linkerd mesh (`mesh::api::realmesh`): Envoy's
//! admin API against istioctl's own test dumps and outputs, trace
//! receivers fed by real OpenTelemetry and Zipkin clients, a Jaeger
//! reader, and direct scrapes; every endpoint served by a real HTTP
//! server on loopback.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;

mod admin;
mod istioctl;
mod scrape;
mod traces;

/// One canned answer: status, content type, body.
#[derive(Clone)]
struct Answer {
    status: u16,
    content_type: &'static str,
    body: Bytes,
}

impl Answer {
    fn json(body: impl Into<Bytes>) -> Self {
        Answer {
            status: 200,
            content_type: "application/json",
            body: body.into(),
        }
    }

    fn text(body: impl Into<Bytes>) -> Self {
        Answer {
            status: 200,
            content_type: "text/plain; version=0.0.4",
            body: body.into(),
        }
    }
}

/// A hyper HTTP/1 server on 127.0.0.1 answering each path (query ignored)
/// with its canned answer, 404 otherwise; it records every request's path
/// and query. It runs until the test's runtime ends.
async fn serve(
    routes: Vec<(&'static str, Answer)>,
) -> (SocketAddr, Arc<parking_lot::Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let routes: Arc<HashMap<&'static str, Answer>> = Arc::new(routes.into_iter().collect());
    let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let routes = routes.clone();
            let log = log.clone();
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let routes = routes.clone();
                        log.lock().push(
                            req.uri()
                                .path_and_query()
                                .map(|p| p.to_string())
                                .unwrap_or_default(),
                        );
                        async move {
                            let a = routes.get(req.uri().path()).cloned().unwrap_or(Answer {
                                status: 404,
                                content_type: "text/plain",
                                body: Bytes::from_static(b"not found\n"),
                            });
                            let resp = http::Response::builder()
                                .status(a.status)
                                .header(http::header::CONTENT_TYPE, a.content_type)
                                .body(Full::new(a.body))
                                .expect("response");
                            Ok::<_, Infallible>(resp)
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, seen)
}
