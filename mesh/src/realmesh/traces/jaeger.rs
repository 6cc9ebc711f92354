//! A reader of an existing Jaeger's HTTP query API (the one its UI uses):
//! `/api/services` and `/api/traces?service=...`, converted to the mesh's
//! [`Trace`] so the Traces view and waterfall show them like any other.

use std::time::Duration;

use serde::Deserialize;

use super::{failed_by_tags, id_bytes, kind_number, to_export, SpanIn};
use crate::realmesh::fetch::{self, Target};
use crate::realmesh::RealMeshError;
use crate::telemetry::collector::{Query, Trace, TraceStore};

/// The largest answer read from Jaeger, bytes.
pub const MAX_ANSWER: usize = 32 * 1024 * 1024;

#[derive(Deserialize)]
struct Answer<T> {
    /// `null` when Jaeger answers with errors.
    #[serde(default = "Option::default")]
    data: Option<Vec<T>>,
    #[serde(default)]
    errors: Option<Vec<serde_json::Value>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JaegerTrace {
    #[serde(default)]
    spans: Vec<JaegerSpan>,
    #[serde(default)]
    processes: std::collections::BTreeMap<String, Process>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JaegerSpan {
    #[serde(rename = "traceID")]
    trace_id: String,
    #[serde(rename = "spanID")]
    span_id: String,
    #[serde(default)]
    operation_name: String,
    #[serde(default)]
    references: Vec<Reference>,
    /// Microseconds since the epoch.
    #[serde(default)]
    start_time: u64,
    /// Microseconds.
    #[serde(default)]
    duration: u64,
    #[serde(default)]
    tags: Vec<Tag>,
    #[serde(rename = "processID", default)]
    process_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reference {
    #[serde(default)]
    ref_type: String,
    #[serde(rename = "spanID")]
    span_id: String,
}

#[derive(Deserialize)]
struct Tag {
    key: String,
    #[serde(default)]
    value: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Process {
    #[serde(default)]
    service_name: String,
}

impl Tag {
    fn text(&self) -> String {
        match &self.value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

fn malformed(detail: String) -> RealMeshError {
    RealMeshError::Malformed {
        what: "Jaeger answer".into(),
        detail,
    }
}

fn errors_of(errors: &Option<Vec<serde_json::Value>>) -> Option<String> {
    let e = errors.as_ref().filter(|e| !e.is_empty())?;
    Some(
        e.iter()
            .map(|x| {
                x.get("msg")
                    .and_then(|m| m.as_str())
                    .map_or_else(|| x.to_string(), String::from)
            })
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// Reads a `/api/services` answer.
pub fn parse_services(text: &str) -> Result<Vec<String>, RealMeshError> {
    let a: Answer<String> = serde_json::from_str(text).map_err(|e| {
        malformed(format!(
            "{e}; expected Jaeger's /api/services JSON ({{\"data\": [names]}})"
        ))
    })?;
    if let Some(e) = errors_of(&a.errors) {
        return Err(malformed(format!("Jaeger reported: {e}")));
    }
    Ok(a.data.unwrap_or_default())
}

/// Reads a `/api/traces` answer into traces, newest first.
pub fn parse_traces(text: &str) -> Result<Vec<Trace>, RealMeshError> {
    let a: Answer<JaegerTrace> = serde_json::from_str(text).map_err(|e| {
        malformed(format!(
            "{e}; expected Jaeger's /api/traces JSON ({{\"data\": [traces]}})"
        ))
    })?;
    if let Some(e) = errors_of(&a.errors) {
        return Err(malformed(format!("Jaeger reported: {e}")));
    }
    let store = TraceStore::default();
    let mut count = 0;
    for t in a.data.unwrap_or_default() {
        let mut spans = Vec::new();
        for s in t.spans {
            let bad_id = |what: &str, v: &str| malformed(format!("{what} {v:?} is not hex"));
            let trace_id =
                id_bytes(&s.trace_id, 16).ok_or_else(|| bad_id("traceID", &s.trace_id))?;
            let span_id = id_bytes(&s.span_id, 8).ok_or_else(|| bad_id("spanID", &s.span_id))?;
            // CHILD_OF first; FOLLOWS_FROM is the only parent some spans have.
            let parent = s
                .references
                .iter()
                .find(|r| r.ref_type == "CHILD_OF")
                .or_else(|| s.references.first())
                .and_then(|r| id_bytes(&r.span_id, 8))
                .unwrap_or_default();
            let tags: Vec<(String, String)> =
                s.tags.iter().map(|t| (t.key.clone(), t.text())).collect();
            let kind = tags
                .iter()
                .find(|(k, _)| k == "span.kind")
                .map_or(1, |(_, v)| kind_number(v));
            spans.push(SpanIn {
                trace_id,
                span_id,
                parent_span_id: parent,
                name: s.operation_name,
                kind,
                service: t
                    .processes
                    .get(&s.process_id)
                    .map(|p| p.service_name.clone())
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| "unknown".into()),
                start_unix_us: s.start_time,
                duration_us: s.duration,
                error: failed_by_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                attributes: tags,
            });
        }
        count += 1;
        store.add(&to_export(spans));
    }
    Ok(store.query(&Query {
        limit: count.max(1),
        ..Default::default()
    }))
}

/// The services an existing Jaeger knows (`base`: `http://HOST:PORT[/prefix]`).
pub async fn services(base: &str, timeout: Duration) -> Result<Vec<String>, RealMeshError> {
    let target = Target::parse(base)?;
    parse_services(&fetch::get_text(&target, "/api/services", MAX_ANSWER, timeout).await?)
}

/// The newest `limit` traces through `service` that an existing Jaeger holds.
pub async fn traces(
    base: &str,
    service: &str,
    limit: u32,
    timeout: Duration,
) -> Result<Vec<Trace>, RealMeshError> {
    let target = Target::parse(base)?;
    let path = format!(
        "/api/traces?service={}&limit={limit}",
        crate::attach::prometheus::encode(service)
    );
    parse_traces(&fetch::get_text(&target, &path, MAX_ANSWER, timeout).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_encoded() {
        let encode = crate::attach::prometheus::encode;
        assert_eq!(encode("a b&c"), "a%20b%26c");
        assert_eq!(encode("reviews.default"), "reviews.default");
    }

    #[test]
    fn jaeger_errors_are_reported() {
        let e = parse_traces(
            r#"{"data":null,"errors":[{"code":400,"msg":"parameter 'service' is required"}]}"#,
        )
        .expect_err("error answer");
        assert!(
            e.to_string().contains("parameter 'service' is required"),
            "{e}"
        );
    }
}
