//! The exercises' content and checkers: fill-in-the-blank sentences, the
//! diagram to label, and the ~100-word explanation checker.

/// A sentence with a blank and the answers that fill it.
#[derive(Debug, Clone, Copy)]
pub struct Blank {
    /// The sentence, with `____` for the blank.
    pub sentence: &'static str,
    /// Accepted answers.
    pub answers: &'static [&'static str],
    /// The glossary term it practises.
    pub term: &'static str,
}

/// Fill-in-the-blank sentences. Answers are compared after [`canon`], so
/// "the control plane", "sidecar proxies" and "golden signal" need no
/// entry of their own; entries are the natural variants a teacher accepts.
pub const BLANKS: &[Blank] = &[
    Blank { sentence: "The ____ pushes configuration to every proxy but never sees a request.", answers: &["control plane", "istiod", "mesh control plane"], term: "control plane" },
    Blank { sentence: "Each pod runs a ____ next to the application, which talks plain HTTP to it.", answers: &["sidecar", "sidecar proxy", "proxy", "envoy", "envoy sidecar", "sidecar container"], term: "sidecar proxy" },
    Blank { sentence: "With ____, both sides present certificates and verify each other.", answers: &["mtls", "mutual tls", "mutual tls (mtls)", "mutual transport layer security"], term: "mTLS" },
    Blank { sentence: "A workload's identity as a URI of a trust domain and a path, carried in its certificate's URI SAN, follows the ____ standard.", answers: &["spiffe", "spiffe id", "spiffe standard"], term: "SPIFFE" },
    Blank { sentence: "To send 10% of traffic to v2, put weights on the routes of a ____.", answers: &["virtualservice", "virtual service", "istio virtualservice"], term: "VirtualService" },
    Blank { sentence: "Subsets, load balancing and outlier detection are set in a ____.", answers: &["destinationrule", "destination rule"], term: "DestinationRule" },
    Blank { sentence: "An instance that fails five times in a row is ejected by ____.", answers: &["outlier detection", "passive health checking", "passive health check", "outlier detector"], term: "outlier detection" },
    Blank { sentence: "Traffic from outside the mesh enters through the ____.", answers: &["ingress gateway", "ingressgateway", "ingress", "istio ingress gateway", "istio-ingressgateway", "ingress proxy"], term: "Ingress Gateway" },
    Blank { sentence: "Releasing v2 to 5% of users first is called a ____ release.", answers: &["canary", "canary deployment"], term: "canary" },
    Blank { sentence: "99% of requests were faster than the ____ latency.", answers: &["p99", "99th percentile", "p 99", "99th-percentile", "99 percentile"], term: "P99" },
    Blank { sentence: "Waiting 25 ms, then 50, then 100 before retries is ____.", answers: &["exponential backoff", "backoff", "exponential back-off", "exponential backoff with jitter"], term: "exponential backoff" },
    Blank { sentence: "One timed operation inside a trace is a ____.", answers: &["span"], term: "span" },
    Blank { sentence: "The header 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 is a W3C ____.", answers: &["traceparent", "trace parent", "w3c traceparent", "trace context"], term: "W3C traceparent" },
    Blank { sentence: "Latency, traffic, errors and saturation are the four ____.", answers: &["golden signals", "four golden signals"], term: "golden signals" },
    Blank { sentence: "Proxies get routes, clusters and endpoints from the control plane over ____.", answers: &["xds", "ads", "xds api", "aggregated discovery service", "envoy xds"], term: "xDS" },
    Blank { sentence: "Calls between clusters of one mesh cross through the ____ gateway.", answers: &["east-west", "eastwest", "east west"], term: "east-west gateway" },
    Blank { sentence: "Requests between services inside the system are ____ traffic.", answers: &["east-west", "east west", "eastwest"], term: "east-west traffic" },
    Blank { sentence: "The Istio resource whose mode STRICT makes sidecars refuse plaintext peers is a ____.", answers: &["peerauthentication", "peer authentication", "peerauthentication policy"], term: "PeerAuthentication" },
    Blank { sentence: "How full a connection pool is against its limit is the golden signal called ____.", answers: &["saturation"], term: "saturation" },
];

/// Normalises an answer: lowercase, no surrounding punctuation, hyphens
/// and repeated spaces as single spaces.
pub fn normalize(s: &str) -> String {
    s.trim()
        .trim_matches(|c: char| c.is_ascii_punctuation() && c != '-')
        .to_lowercase()
        .replace(['-', '_'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Words that open an answer without changing it.
const ARTICLES: &[&str] = &["a", "an", "the", "its", "our", "their"];
/// Words that close an answer where the sentence already implies them
/// ("traceparent header", "STRICT mode", "east-west gateway").
const TAILS: &[&str] = &[
    "header", "headers", "mode", "gateway", "resource", "protocol", "traffic", "release", "latency",
];

/// One word in the singular ("proxies" → "proxy", "signals" → "signal").
fn singular(w: &str) -> String {
    if let Some(stem) = w.strip_suffix("ies").filter(|s| s.len() > 2) {
        return format!("{stem}y");
    }
    if let Some(stem) = w
        .strip_suffix("es")
        .filter(|s| s.ends_with("x") || s.ends_with("ch") || s.ends_with("sh"))
    {
        return stem.to_string();
    }
    match w.strip_suffix('s') {
        Some(stem) if stem.len() > 2 && !stem.ends_with('s') => stem.to_string(),
        _ => w.to_string(),
    }
}

/// An answer as compared: [`normalize`]d, brackets dropped, no leading
/// article or implied last word, each word in the singular.
pub fn canon(s: &str) -> String {
    let n = normalize(&s.replace(['(', ')', '/', '.', ',', '"', '\''], " "));
    let mut words: Vec<&str> = n.split_whitespace().collect();
    while words.len() > 1 && ARTICLES.contains(&words[0]) {
        words.remove(0);
    }
    while words.len() > 1 && words.last().is_some_and(|w| TAILS.contains(w)) {
        words.pop();
    }
    words
        .iter()
        .map(|w| singular(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `answer` fills the blank.
pub fn check_blank(b: &Blank, answer: &str) -> bool {
    let a = canon(answer);
    !a.is_empty() && b.answers.iter().any(|x| canon(x) == a)
}

/// The five labels of the diagram.
pub const LABELS: [&str; 5] = [
    "data plane",
    "control plane",
    "sidecar proxy",
    "mTLS connection",
    "Ingress Gateway",
];

/// Feedback on one slot.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotResult {
    /// The diagram's slot, A to E.
    pub slot: char,
    /// Whether it is right.
    pub correct: bool,
    /// What it should be and why.
    pub feedback: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blanks_accept_what_a_teacher_accepts_and_refuse_the_loose() {
        let by = |term: &str| BLANKS.iter().find(|b| b.term == term).expect("blank");
        for (term, ok) in [
            ("control plane", "the control plane"),
            ("control plane", "The Control-Plane."),
            ("sidecar proxy", "sidecar proxies"),
            ("sidecar proxy", "an Envoy sidecar"),
            ("golden signals", "golden signal"),
            ("golden signals", "the four golden signals"),
            ("W3C traceparent", "traceparent header"),
            ("PeerAuthentication", "a PeerAuthentication resource"),
            ("east-west gateway", "east-west gateway"),
            ("mTLS", "Mutual TLS (mTLS)"),
            ("outlier detection", "passive health checks"),
            ("P99", "99th percentile"),
        ] {
            assert!(check_blank(by(term), ok), "{term}: {ok}");
        }
        for (term, loose) in [
            ("xDS", "gRPC"),
            ("xDS", "http"),
            ("control plane", "proxy"),
            ("control plane", "plane"),
            ("Ingress Gateway", "gateway"),
            ("sidecar proxy", "the"),
            ("span", "trace"),
        ] {
            assert!(!check_blank(by(term), loose), "{term}: {loose}");
        }
        // Every sentence practises a glossary term and leaves it out.
        for b in BLANKS {
            let t = crate::practice::glossary::find(b.term).expect("term");
            assert!(b.sentence.contains("____"), "{}", b.sentence);
            assert!(
                !b.sentence.to_lowercase().contains(&t.term.to_lowercase()),
                "{}",
                b.sentence
            );
        }
    }

    #[test]
    fn blanks_accept_variants() {
        let b = &BLANKS[4];
        assert!(check_blank(b, "Virtual Service"));
        assert!(check_blank(b, " virtualservice. "));
        assert!(!check_blank(b, "gateway"));
        assert!(!check_blank(b, ""));
        assert!(check_blank(&BLANKS[15], "East-West"));
    }
}
