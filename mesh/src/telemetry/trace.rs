//! Distributed tracing in the data plane: trace context from W3C
//! `traceparent`/`tracestate` or B3 (multi- and single-header), joined or
//! started per the W3C rules (an invalid header restarts the trace, never
//! fails the request); spans built as OTLP protobufs and exported in batches
//! over gRPC to the collectors.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span::SpanKind, status::StatusCode, ResourceSpans, ScopeSpans, Span, Status,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Where a trace context came from (and how to pass it on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// W3C Trace Context.
    W3c,
    /// B3 multi-header (`X-B3-TraceId`...).
    B3Multi,
    /// B3 single header (`b3`).
    B3Single,
}

/// The context a span is created under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// 16-byte trace id.
    pub trace_id: [u8; 16],
    /// The span id of the parent (the caller's span).
    pub span_id: [u8; 8],
    /// Sampled flag.
    pub sampled: bool,
    /// Vendor state, passed on unchanged when valid.
    pub tracestate: Option<String>,
    /// Where it came from.
    pub format: Format,
    /// Other trace-flags bits (the W3C "random" bit), kept when passed on.
    pub extra_flags: u8,
}

/// A new random id of N bytes, never all zeros.
pub fn random_id<const N: usize>() -> [u8; N] {
    loop {
        let mut id = [0u8; N];
        for b in id.iter_mut() {
            *b = rand::random();
        }
        if id.iter().any(|b| *b != 0) {
            return id;
        }
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    crate::identity::certinfo::hex(bytes)
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != N * 2
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut out = [0u8; N];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[i * 2..i * 2 + 2], 16).ok()?;
    }
    Some(out)
}

fn nonzero(b: &[u8]) -> bool {
    b.iter().any(|x| *x != 0)
}

/// Parses a `traceparent` value by the W3C rules.
pub fn parse_traceparent(value: &str) -> Option<TraceContext> {
    let v = value.trim_matches(|c| c == ' ' || c == '\t');
    if v.len() < 55 {
        return None;
    }
    let version = unhex::<1>(&v[0..2])?[0];
    if version == 0xff {
        return None;
    }
    if version == 0 && v.len() != 55 {
        return None;
    }
    if version > 0 && v.len() > 55 && v.as_bytes()[55] != b'-' {
        return None;
    }
    let b = v.as_bytes();
    if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
        return None;
    }
    let trace_id = unhex::<16>(&v[3..35])?;
    let span_id = unhex::<8>(&v[36..52])?;
    let flags = unhex::<1>(&v[53..55])?[0];
    if !nonzero(&trace_id) || !nonzero(&span_id) {
        return None;
    }
    Some(TraceContext {
        trace_id,
        span_id,
        sampled: flags & 1 == 1,
        tracestate: None,
        format: Format::W3c,
        extra_flags: if version == 0 { flags & 0x02 } else { 0 },
    })
}

/// Reads a combined `tracestate` value as W3C Trace Context Level 2 says
/// (<https://www.w3.org/TR/trace-context-2/#tracestate-header>): members
/// that break the grammar make the whole header invalid (None), but a key
/// seen again keeps its first member and drops the later ones; more than 32
/// members is invalid.
pub fn valid_tracestate(value: &str) -> Option<String> {
    let mut keys = Vec::new();
    let mut members = Vec::new();
    for raw in value.split(',') {
        let m = raw.trim_matches(|c| c == ' ' || c == '\t');
        if m.is_empty() {
            continue;
        }
        let (k, v) = m.split_once('=')?;
        if !valid_key(k) || !valid_value(v) {
            return None;
        }
        if keys.contains(&k) {
            continue;
        }
        keys.push(k);
        members.push(m);
    }
    if members.len() > 32 || members.is_empty() {
        return None;
    }
    Some(members.join(","))
}

/// `key = ( lcalpha / DIGIT ) 0*255 ( keychar )`, where `keychar` adds
/// `_ - * / @`: Level 2 dropped Level 1's separate tenant and system parts,
/// so `@` may stand anywhere after the first character.
fn valid_key(k: &str) -> bool {
    let b = k.as_bytes();
    (1..=256).contains(&b.len())
        && b.first()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && b.iter().all(|c| {
            c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || matches!(c, b'_' | b'-' | b'*' | b'/' | b'@')
        })
}

/// `value = 0*255(chr) nblk-chr`: printable ASCII without `,` and `=`,
/// not ending in a space.
fn valid_value(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 256
        && v.bytes()
            .all(|c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
        && !v.ends_with(' ')
}

/// Reads the trace context of a request: W3C first, then B3. Invalid or
/// duplicated headers yield None, so the caller starts a new trace.
pub fn extract(headers: &http::HeaderMap) -> Option<TraceContext> {
    let tps: Vec<&http::HeaderValue> = headers.get_all("traceparent").iter().collect();
    if tps.len() == 1 {
        if let Some(mut ctx) = tps[0].to_str().ok().and_then(parse_traceparent) {
            let states: Vec<&str> = headers
                .get_all("tracestate")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            if !states.is_empty() {
                ctx.tracestate = valid_tracestate(&states.join(","));
            }
            return Some(ctx);
        }
        return None;
    }
    if tps.len() > 1 {
        return None;
    }
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    if let (Some(t), Some(s)) = (get("x-b3-traceid"), get("x-b3-spanid")) {
        let trace_id = match t.len() {
            16 => {
                let mut id = [0u8; 16];
                id[8..].copy_from_slice(&unhex::<8>(&t.to_ascii_lowercase())?);
                id
            }
            _ => unhex::<16>(&t.to_ascii_lowercase())?,
        };
        let span_id = unhex::<8>(&s.to_ascii_lowercase())?;
        let sampled = get("x-b3-flags") == Some("1")
            || !matches!(get("x-b3-sampled"), Some("0") | Some("false"));
        return (nonzero(&trace_id) && nonzero(&span_id)).then_some(TraceContext {
            trace_id,
            span_id,
            sampled,
            tracestate: None,
            format: Format::B3Multi,
            extra_flags: 0,
        });
    }
    if let Some(b3) = get("b3") {
        let parts: Vec<&str> = b3.split('-').collect();
        if parts.len() >= 2 {
            let t = parts[0].to_ascii_lowercase();
            let trace_id = match t.len() {
                16 => {
                    let mut id = [0u8; 16];
                    id[8..].copy_from_slice(&unhex::<8>(&t)?);
                    id
                }
                _ => unhex::<16>(&t)?,
            };
            let span_id = unhex::<8>(&parts[1].to_ascii_lowercase())?;
            let sampled = !matches!(parts.get(2), Some(&"0"));
            return (nonzero(&trace_id) && nonzero(&span_id)).then_some(TraceContext {
                trace_id,
                span_id,
                sampled,
                tracestate: None,
                format: Format::B3Single,
                extra_flags: 0,
            });
        }
    }
    None
}

/// Every header that carries trace context (what apps must forward).
pub const TRACE_HEADERS: &[&str] = &[
    "traceparent",
    "tracestate",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "b3",
    "x-request-id",
];

/// Writes the context for a child whose parent span is `span_id`: always
/// W3C, and B3 in the form the trace arrived in (or multi-header if new).
pub fn inject(
    headers: &mut http::HeaderMap,
    ctx: &TraceContext,
    span_id: &[u8; 8],
    parent: Option<&[u8; 8]>,
) {
    for h in TRACE_HEADERS.iter().filter(|h| **h != "x-request-id") {
        headers.remove(*h);
    }
    let flags = (ctx.sampled as u8) | ctx.extra_flags;
    let tp = format!("00-{}-{}-{flags:02x}", hex(&ctx.trace_id), hex(span_id));
    let mut put = |k: &'static str, v: String| {
        if let Ok(v) = http::HeaderValue::from_str(&v) {
            headers.insert(k, v);
        }
    };
    put("traceparent", tp);
    if let Some(ts) = &ctx.tracestate {
        put("tracestate", ts.clone());
    }
    let sampled = if ctx.sampled { "1" } else { "0" };
    match ctx.format {
        Format::B3Single => put(
            "b3",
            format!("{}-{}-{sampled}", hex(&ctx.trace_id), hex(span_id)),
        ),
        _ => {
            put("x-b3-traceid", hex(&ctx.trace_id));
            put("x-b3-spanid", hex(span_id));
            put("x-b3-sampled", sampled.to_string());
            if let Some(p) = parent {
                put("x-b3-parentspanid", hex(p));
            }
        }
    }
}

/// Nanoseconds since the epoch.
pub fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// A span under construction.
#[derive(Debug, Clone)]
pub struct SpanBuilder {
    span: Span,
}

impl SpanBuilder {
    /// Starts a span now.
    pub fn start(
        name: impl Into<String>,
        kind: SpanKind,
        trace_id: [u8; 16],
        span_id: [u8; 8],
        parent: Option<[u8; 8]>,
    ) -> Self {
        Self {
            span: Span {
                trace_id: trace_id.to_vec(),
                span_id: span_id.to_vec(),
                parent_span_id: parent.map(|p| p.to_vec()).unwrap_or_default(),
                name: name.into(),
                kind: kind as i32,
                start_time_unix_nano: now_nanos(),
                ..Default::default()
            },
        }
    }

    /// Sets the start to `ago` before now (for spans built when a request ends).
    pub fn started_ago(&mut self, ago: Duration) -> &mut Self {
        self.span.start_time_unix_nano = now_nanos().saturating_sub(ago.as_nanos() as u64);
        self
    }

    /// Adds a string attribute.
    pub fn attr(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.span.attributes.push(KeyValue {
            key: key.to_string(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(value.into())),
            }),
            ..Default::default()
        });
        self
    }

    /// Adds an integer attribute.
    pub fn int(&mut self, key: &str, value: i64) -> &mut Self {
        self.span.attributes.push(KeyValue {
            key: key.to_string(),
            value: Some(AnyValue {
                value: Some(any_value::Value::IntValue(value)),
            }),
            ..Default::default()
        });
        self
    }

    /// Carries the request's `tracestate` on the span, as OTLP's
    /// `trace_state` does, so a tracing back end sees the vendor state.
    pub fn trace_state(&mut self, state: Option<&str>) -> &mut Self {
        self.span.trace_state = state.unwrap_or_default().to_string();
        self
    }

    /// Ends the span now, marking errors.
    pub fn finish(mut self, error: bool) -> Span {
        self.span.end_time_unix_nano = now_nanos().max(self.span.start_time_unix_nano);
        if error {
            self.span.status = Some(Status {
                message: String::new(),
                code: StatusCode::Error as i32,
            });
        }
        self.span
    }
}

/// `host` and `port` of an authority (`billing:8080`, `[::1]:80`), for
/// the `server.address` and `server.port` span attributes.
pub fn split_authority(authority: &str) -> (&str, Option<u16>) {
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') => match port.parse() {
            Ok(p) => (host.trim_start_matches('[').trim_end_matches(']'), Some(p)),
            Err(_) => (authority, None),
        },
        _ => (authority, None),
    }
}

/// Where a proxy's finished spans go.
#[derive(Debug, Clone)]
pub struct SpanSink {
    tx: Option<mpsc::Sender<Span>>,
    sampling: f64,
}

impl SpanSink {
    /// Spans are dropped.
    pub fn disabled() -> Self {
        Self {
            tx: None,
            sampling: 0.0,
        }
    }

    /// Whether spans are recorded at all.
    pub fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// Decides sampling for a new trace.
    pub fn sample_new(&self) -> bool {
        self.tx.is_some()
            && (self.sampling >= 100.0 || rand::random::<f64>() * 100.0 < self.sampling)
    }

    /// Hands a finished span to the exporter (dropped if it is behind).
    pub fn record(&self, span: Span) {
        if let Some(tx) = &self.tx {
            let _ = tx.try_send(span);
        }
    }

    /// Starts an exporter that batches spans (up to 256, or every 200 ms) and
    /// sends them with OTLP/gRPC to every collector in `targets`.
    pub fn spawn_exporter(
        resource: Vec<(String, String)>,
        targets: Vec<tonic::transport::Channel>,
        sampling: f64,
        cancel: CancellationToken,
    ) -> Self {
        let (tx, mut rx) = mpsc::channel::<Span>(4096);
        let resource = Resource {
            attributes: resource
                .into_iter()
                .map(|(k, v)| KeyValue {
                    key: k,
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(v)),
                    }),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        tokio::spawn(async move {
            let mut clients: Vec<_> = targets.into_iter().map(TraceServiceClient::new).collect();
            let mut batch = Vec::new();
            loop {
                let deadline = tokio::time::sleep(Duration::from_millis(200));
                tokio::pin!(deadline);
                loop {
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = &mut deadline => break,
                        s = rx.recv() => match s {
                            Some(s) => {
                                batch.push(s);
                                if batch.len() >= 256 {
                                    break;
                                }
                            }
                            None => return,
                        }
                    }
                }
                if batch.is_empty() {
                    continue;
                }
                let req = ExportTraceServiceRequest {
                    resource_spans: vec![ResourceSpans {
                        resource: Some(resource.clone()),
                        scope_spans: vec![ScopeSpans {
                            scope: Some(InstrumentationScope {
                                name: "meshcon".into(),
                                version: env!("CARGO_PKG_VERSION").into(),
                                ..Default::default()
                            }),
                            spans: std::mem::take(&mut batch),
                            schema_url: String::new(),
                        }],
                        schema_url: String::new(),
                    }],
                };
                // The last target takes the batch itself: no copy with one target.
                let last = clients.len().saturating_sub(1);
                let mut req = Some(req);
                for (i, c) in clients.iter_mut().enumerate() {
                    let Some(r) = (if i == last { req.take() } else { req.clone() }) else {
                        break;
                    };
                    if let Err(e) = tokio::time::timeout(Duration::from_secs(2), c.export(r))
                        .await
                        .unwrap_or(Err(tonic::Status::deadline_exceeded("export")))
                    {
                        tracing::debug!(error = %e, "span export failed");
                    }
                }
            }
        });
        Self {
            tx: Some(tx),
            sampling,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_rules() {
        let ok = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let c = parse_traceparent(ok).expect("valid");
        assert!(c.sampled);
        assert_eq!(hex(&c.trace_id), "0af7651916cd43dd8448eb211c80319c");
        for bad in [
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "garbage",
        ] {
            assert!(parse_traceparent(bad).is_none(), "{bad}");
        }
        assert!(parse_traceparent(
            "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-the-future-holds"
        )
        .is_some());
    }

    #[test]
    fn duplicate_traceparent_restarts() {
        let mut h = http::HeaderMap::new();
        h.append(
            "traceparent",
            http::HeaderValue::from_static(
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
        );
        h.append(
            "traceparent",
            http::HeaderValue::from_static(
                "00-0af7651916cd43dd8448eb211c80319d-b7ad6b7169203331-01",
            ),
        );
        assert!(extract(&h).is_none());
    }

    #[test]
    fn b3_forms_are_read() {
        let mut h = http::HeaderMap::new();
        h.insert(
            "x-b3-traceid",
            http::HeaderValue::from_static("463ac35c9f6413ad48485a3953bb6124"),
        );
        h.insert(
            "x-b3-spanid",
            http::HeaderValue::from_static("a2fb4a1d1a96d312"),
        );
        h.insert("x-b3-sampled", http::HeaderValue::from_static("1"));
        let c = extract(&h).expect("b3 multi");
        assert_eq!(c.format, Format::B3Multi);
        let mut s = http::HeaderMap::new();
        s.insert(
            "b3",
            http::HeaderValue::from_static("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"),
        );
        assert_eq!(extract(&s).expect("b3 single").format, Format::B3Single);
    }

    #[test]
    fn authorities_split_into_host_and_port() {
        assert_eq!(split_authority("billing:8080"), ("billing", Some(8080)));
        assert_eq!(
            split_authority("shop.example.com"),
            ("shop.example.com", None)
        );
        assert_eq!(split_authority("[::1]:80"), ("::1", Some(80)));
        assert_eq!(split_authority("host:nope"), ("host:nope", None));
    }

    #[test]
    fn tracestate_validation() {
        assert_eq!(
            valid_tracestate("foo=1, bar=2").as_deref(),
            Some("foo=1,bar=2")
        );
        assert_eq!(
            valid_tracestate("foo=1,bar=2,foo=3").as_deref(),
            Some("foo=1,bar=2"),
            "a repeated key keeps its first member"
        );
        assert!(valid_tracestate("Foo=1").is_none(), "uppercase key");
        assert!(valid_tracestate("_foo=1").is_none(), "key starting with _");
        assert!(valid_tracestate("foo=").is_none(), "empty value");
        assert!(valid_tracestate("foo=a=b").is_none(), "= inside a value");
        assert_eq!(
            valid_tracestate("foo=a b ").as_deref(),
            Some("foo=a b"),
            "spaces around a member are not part of it"
        );
        let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        assert!(valid_tracestate(&many.join(",")).is_none());
        // Level 2: `@` anywhere, digits first, up to 256 characters whatever
        // the parts (Level 1 capped tenant and system at 241 and 14).
        assert!(valid_tracestate("tenant@sys=x").is_some());
        assert!(valid_tracestate("1a@b@c=x").is_some());
        let tenant_long = format!("{}@sys=x", "t".repeat(250));
        assert!(valid_tracestate(&tenant_long).is_some());
        let system_long = format!("t@{}=x", "s".repeat(20));
        assert!(valid_tracestate(&system_long).is_some());
        assert!(valid_tracestate(&format!("{}=x", "k".repeat(256))).is_some());
        assert!(valid_tracestate(&format!("{}=x", "k".repeat(257))).is_none());
    }

    #[test]
    fn inject_makes_a_child_context() {
        let ctx = parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
            .expect("valid");
        let mut h = http::HeaderMap::new();
        let child = random_id::<8>();
        inject(&mut h, &ctx, &child, Some(&ctx.span_id));
        let tp = h
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .expect("set");
        assert_eq!(
            tp,
            format!("00-0af7651916cd43dd8448eb211c80319c-{}-01", hex(&child))
        );
        assert_eq!(
            h.get("x-b3-parentspanid").and_then(|v| v.to_str().ok()),
            Some("b7ad6b7169203331")
        );
    }
}
