//! Real Python clients the trace tests drive: the OpenTelemetry SDK and
//! py_zipkin, found where they are installed.

use std::process::Stdio;
use std::time::Duration;

/// A Python that can import `module`: `python3` on the PATH, else
/// Debian's (its python3-* packages serve only the system interpreter).
pub fn python_with(module: &str, install: &str) -> Option<String> {
    for candidate in ["python3", "/usr/bin/python3"] {
        let ok = std::process::Command::new(candidate)
            .args(["-c", &format!("import {module}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(candidate.to_string());
        }
    }
    let thread = std::thread::current();
    eprintln!(
        "{}: skipped: no python3 with {module} ({install})",
        thread.name().unwrap_or("test")
    );
    None
}

pub async fn run_python(python: &str, script: &str, arg: &str) -> String {
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(python)
            .args(["-c", script, arg])
            .output(),
    )
    .await
    .expect("the Python client finished within 2 minutes")
    .expect("python runs");
    assert!(
        out.status.success(),
        "python client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Sends a server span `GET /checkout` with a failed client child `POST /charge`
/// for service `frontend` to the OTLP endpoint in argv[1]; prints the trace id.
pub const OTEL_CLIENT: &str = r#"
import sys
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

provider = TracerProvider(resource=Resource.create({"service.name": "frontend"}))
provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=sys.argv[1], insecure=True, timeout=30)))
tracer = provider.get_tracer("meshcon-test")
with tracer.start_as_current_span("GET /checkout", kind=trace.SpanKind.SERVER) as parent:
    with tracer.start_as_current_span("POST /charge", kind=trace.SpanKind.CLIENT) as child:
        child.set_attribute("http.status_code", 503)
        child.set_status(trace.Status(trace.StatusCode.ERROR))
    print(format(parent.get_span_context().trace_id, "032x"))
provider.shutdown()
"#;
