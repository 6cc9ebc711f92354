//! A small inner service for testing layers with paused time: it answers
//! from a script, can take a while to answer, counts its calls, and checks
//! that every call was preceded by `poll_ready` (tower's contract).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tower::Service;

use super::{ClusterCounters, ClusterStats, ProxyError, Req, RoutePolicy, SvcFuture, SvcResult};
use crate::http::text_response;

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Answer {
    /// A response with this status.
    Status(u16),
    /// A failure.
    Fail(ProxyError),
    /// A response with this status, after this long (on top of the latency).
    After(Duration, u16),
}

/// The scripted service. Clones share the script and the counters.
#[derive(Debug, Clone)]
pub struct Scripted {
    script: Arc<Mutex<VecDeque<Answer>>>,
    /// How long each answer takes.
    pub latency: Duration,
    calls: Arc<AtomicUsize>,
    ready: bool,
}

impl Scripted {
    /// Answers in order; once the script runs out, 200.
    pub fn new(answers: impl IntoIterator<Item = Answer>) -> Self {
        Self {
            script: Arc::new(Mutex::new(answers.into_iter().collect())),
            latency: Duration::ZERO,
            calls: Arc::new(AtomicUsize::new(0)),
            ready: false,
        }
    }

    /// Every answer takes `latency`.
    pub fn slow(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Calls so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Service<Req> for Scripted {
    type Response = super::Resp;
    type Error = ProxyError;
    type Future = SvcFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ProxyError>> {
        self.ready = true;
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: Req) -> SvcFuture {
        assert!(
            std::mem::take(&mut self.ready),
            "called without poll_ready first"
        );
        self.calls.fetch_add(1, Ordering::SeqCst);
        let answer = self
            .script
            .lock()
            .pop_front()
            .unwrap_or(Answer::Status(200));
        let latency = self.latency;
        Box::pin(async move {
            tokio::time::sleep(latency).await;
            match answer {
                Answer::Status(s) => SvcResult::Ok(text_response(s, "")),
                Answer::Fail(e) => Err(e),
                Answer::After(d, s) => {
                    tokio::time::sleep(d).await;
                    Ok(text_response(s, ""))
                }
            }
        })
    }
}

/// A GET carrying `policy` and the cluster's counters, as the router would
/// hand it down.
pub fn request(policy: RoutePolicy, counters: &Arc<ClusterCounters>) -> Req {
    let mut req = http::Request::get("http://billing/")
        .body(Bytes::new())
        .expect("request");
    req.extensions_mut().insert(policy);
    req.extensions_mut()
        .insert(ClusterStats(Arc::clone(counters)));
    req
}
