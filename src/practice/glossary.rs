//! The field's core vocabulary, in our own words: a definition, how to say
//! it where people trip, how engineers use it in reviews and runbooks,
//! related terms, and where to see it in the running mesh.

/// Where a term can be seen in the console (with a filter for that view).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShowMe {
    /// The graph view: the call tree and its edges.
    Graph,
    /// The services view: golden signals per version.
    Services,
    /// The tap view: live requests.
    Tap,
    /// The identities view: certificates and trust domains.
    Identities,
    /// The traces view: waterfalls of recent requests.
    Traces,
    /// The routing view: applied rules and history.
    Routing,
    /// The events view: the control plane's events.
    Events,
}

/// One glossary entry.
#[derive(Debug, Clone, Copy)]
pub struct Term {
    /// The term as engineers write it (the key of cards and progress).
    pub term: &'static str,
    /// How to say it, where people trip.
    pub say: Option<&'static str>,
    /// What it means.
    pub meaning: &'static str,
    /// How it is used.
    pub examples: &'static [&'static str],
    /// Related terms.
    pub related: &'static [&'static str],
    /// Where the console shows it, and the filter that highlights it there.
    pub show: Option<(ShowMe, &'static str)>,
}

/// The glossary, alphabetical.
pub const TERMS: &[Term] = &[
    Term {
        term: "ambient mode",
        say: None,
        meaning: "An Istio data-plane mode without a sidecar in every pod: a per-node proxy (ztunnel) handles mTLS and layer 4, and optional waypoint proxies handle layer 7 rules for the workloads that need them.",
        examples: &["We moved the batch namespace to ambient mode to save the memory of 400 sidecars.", "In ambient mode, HTTP retries need a waypoint proxy; the node proxy only sees bytes."],
        related: &["sidecar proxy", "data plane", "Istio"],
        show: None,
    },
    Term {
        term: "AuthorizationPolicy",
        say: None,
        meaning: "An Istio resource that allows or denies requests to a workload by who calls (peer principal, namespace) and what they ask for (path, method). DENY rules are checked before ALLOW rules.",
        examples: &["Add an AuthorizationPolicy so only the user service's identity may call billing.", "The 403 with flag RBAC came from a DENY AuthorizationPolicy, not from the app."],
        related: &["PeerAuthentication", "mTLS", "SPIFFE"],
        show: Some((ShowMe::Routing, "")),
    },
    Term {
        term: "B3",
        say: Some("bee-three"),
        meaning: "Zipkin's trace-context headers: a trace ID, a span ID and a sampling flag, each in its own X-prefixed header, or all three in one single header. Many meshes still send and read them next to W3C traceparent.",
        examples: &["The legacy service only forwards B3 headers, so its spans joined the trace through X-B3-TraceId."],
        related: &["W3C traceparent", "trace context", "distributed tracing"],
        show: Some((ShowMe::Traces, "")),
    },
    Term {
        term: "canary",
        say: None,
        meaning: "Releasing a new version to a small share of traffic first, watching its golden signals, and widening the share only while it behaves; in a mesh this is a weighted route to a subset.",
        examples: &["The canary got 10% of billing traffic for an hour with no rise in errors, so we moved it to 50%.", "Roll the canary back: its P99 doubled."],
        related: &["subset", "VirtualService", "golden signals"],
        show: Some((ShowMe::Services, "billing")),
    },
    Term {
        term: "circuit breaking",
        say: None,
        meaning: "Failing fast instead of piling up work on a struggling destination. Istio configures it in a DestinationRule's trafficPolicy with two parts: connectionPool limits (connections, pending and in-flight requests, beyond which the proxy answers at once with 503, flag UO) and outlierDetection, which ejects instances that keep failing.",
        examples: &["Circuit breaking on the payment API kept one slow dependency from exhausting every thread in checkout.", "The 503 UO responses mean the connection pool limit tripped, not that the server failed."],
        related: &["outlier detection", "DestinationRule", "traffic policy"],
        show: Some((ShowMe::Routing, "")),
    },
    Term {
        term: "control plane",
        say: None,
        meaning: "The part of a mesh that configures the proxies: it watches services and rules, turns them into proxy configuration, pushes it (xDS) and signs workload certificates. It is not on the request path.",
        examples: &["The control plane was down for ten minutes and traffic kept flowing on the last pushed config.", "A config change that the control plane pushes should be ACKed by every proxy within seconds."],
        related: &["data plane", "Istiod", "xDS", "mesh CA"],
        show: Some((ShowMe::Events, "push")),
    },
    Term {
        term: "data plane",
        say: None,
        meaning: "The proxies that carry the actual requests between services (sidecars and gateways): they route, retry, time out, encrypt and measure every call.",
        examples: &["Latency added by the data plane should stay under a millisecond per hop.", "The retry happened in the data plane; the app never knew."],
        related: &["control plane", "sidecar proxy", "Envoy"],
        show: Some((ShowMe::Tap, "")),
    },
    Term {
        term: "DestinationRule",
        say: None,
        meaning: "An Istio resource for what happens after routing picks a destination: its subsets (by labels), load balancing, connection-pool limits, outlier detection and TLS settings.",
        examples: &["Define the v2 subset in the DestinationRule before the VirtualService sends traffic to it.", "Outlier detection lives in the DestinationRule for billing."],
        related: &["VirtualService", "subset", "outlier detection", "traffic policy"],
        show: Some((ShowMe::Routing, "")),
    },
    Term {
        term: "distributed tracing",
        say: None,
        meaning: "Following one request through every service it touches, as a tree of timed spans that share a trace ID, so you can see where the time went and which hop failed.",
        examples: &["Distributed tracing showed the slow part was the second retry to billing, not the database.", "Apps must forward the trace headers or the trace breaks at their hop."],
        related: &["span", "trace context", "W3C traceparent"],
        show: Some((ShowMe::Traces, "")),
    },
    Term {
        term: "east-west traffic",
        say: None,
        meaning: "Traffic between services inside the system (or between clusters of one mesh), as opposed to north-south traffic that enters or leaves it.",
        examples: &["East-west traffic between the clusters crosses only through the east-west gateways.", "Most of our requests are east-west: one page view fans out to six services."],
        related: &["east-west gateway", "Ingress Gateway", "mesh federation"],
        show: Some((ShowMe::Graph, "⇄")),
    },
    Term {
        term: "east-west gateway",
        say: None,
        meaning: "A gateway at a cluster's edge that lets other clusters of the mesh reach its services. It routes by the TLS SNI and passes the mTLS stream through, so identity stays end to end.",
        examples: &["Stopping us's east-west gateway partitions the clusters: eu callers fail fast or fail over."],
        related: &["east-west traffic", "mesh federation", "TLS termination"],
        show: Some((ShowMe::Graph, "east-west")),
    },
    Term {
        term: "Envoy",
        say: Some("EN-voy"),
        meaning: "A widely used open-source layer-7 proxy written in C++; Istio's sidecars, gateways and waypoints run it, configured over xDS. Its response flags (UF, UO, URX...) explain failures it produced.",
        examples: &["Envoy marked the response UF: it could not connect upstream.", "Check the Envoy config dump to see which route matched."],
        related: &["sidecar proxy", "xDS", "data plane"],
        show: None,
    },
    Term {
        term: "exponential backoff",
        say: None,
        meaning: "Waiting longer before each retry (doubling, with random jitter), so retries do not hammer a struggling service in lockstep.",
        examples: &["Retries use exponential backoff from 25 ms, jittered, so a thousand clients do not retry at the same instant."],
        related: &["retry policy", "circuit breaking"],
        show: None,
    },
    Term {
        term: "fault injection",
        say: None,
        meaning: "Deliberately delaying or failing a share of requests in the proxy, to test how callers cope, without touching the service's code.",
        examples: &["Inject a 2 s delay into ratings for the tester user and check that the page still renders.", "The 503s with flag FI were injected; nothing is broken."],
        related: &["VirtualService", "retry policy"],
        show: Some((ShowMe::Routing, "")),
    },
    Term {
        term: "golden signals",
        say: None,
        meaning: "The four measures that tell whether a service is healthy from its users' point of view: latency, traffic (request rate), errors (failure rate) and saturation.",
        examples: &["Alert on the golden signals first: error rate above 1% or P99 above 300 ms.", "The canary's golden signals matched the stable version, so we promoted it."],
        related: &["P99", "Prometheus"],
        show: Some((ShowMe::Services, "")),
    },
    Term {
        term: "Ingress Gateway",
        say: None,
        meaning: "The proxy at the mesh's edge that accepts traffic from outside, terminates its TLS, and routes it into the mesh by Gateway and VirtualService rules, over mTLS.",
        examples: &["Bind the VirtualService to the Ingress Gateway so shop.example.com reaches frontend.", "TLS for outside clients ends at the Ingress Gateway; inside, it is mTLS again."],
        related: &["TLS termination", "VirtualService", "east-west traffic"],
        show: Some((ShowMe::Graph, "ingress")),
    },
    Term {
        term: "Istio",
        say: Some("iss-TEE-oh"),
        meaning: "An open-source service mesh. Its data plane is either Envoy sidecars, or in ambient mode a per-node ztunnel (a small Rust proxy for mTLS and layer 4, not Envoy) plus optional Envoy waypoint proxies for layer 7; one control-plane process serves their configuration and signs certificates; resources such as VirtualService and DestinationRule configure it all.",
        examples: &["We run Istio in two clusters with one trust domain each and federate them."],
        related: &["Istiod", "Envoy", "Linkerd", "service mesh"],
        show: None,
    },
    Term {
        term: "Istiod",
        say: Some("iss-tee-OH-dee"),
        meaning: "Istio's control plane in one process: it serves xDS configuration to the proxies, runs the mesh CA that signs workload certificates, and validates configuration.",
        examples: &["Istiod restarted, and every proxy reconnected and ACKed the current version."],
        related: &["control plane", "xDS", "mesh CA"],
        show: Some((ShowMe::Events, "control-plane")),
    },
    Term {
        term: "Linkerd",
        say: Some("LINK-er-dee"),
        meaning: "An open-source service mesh with its own small proxy written in Rust instead of Envoy, known for simplicity, low overhead and retry budgets.",
        examples: &["Linkerd retries only requests it marks retryable and caps them with a retry budget."],
        related: &["Istio", "service mesh", "sidecar proxy"],
        show: None,
    },
    Term {
        term: "load balancing",
        say: None,
        meaning: "Spreading requests over a service's healthy instances: round robin, least request, random, or consistent hashing to keep a user on one instance.",
        examples: &["Switch billing to LEAST_REQUEST so the slow instance gets fewer requests."],
        related: &["DestinationRule", "outlier detection"],
        show: None,
    },
    Term {
        term: "mesh CA",
        say: None,
        meaning: "The certificate authority of a mesh (or of one cluster): it signs short-lived workload certificates from CSRs, after checking who is asking, and its root is the trust anchor.",
        examples: &["Each cluster has its own mesh CA; the roots are exchanged so the clusters trust each other."],
        related: &["X.509", "SPIFFE", "trust domain"],
        show: Some((ShowMe::Identities, "")),
    },
    Term {
        term: "mesh federation",
        say: None,
        meaning: "Joining meshes or clusters that keep their own control planes and CAs: they exchange trust bundles and service endpoints so workloads can call across, with identities verified end to end.",
        examples: &["With mesh federation, billing in us sees spiffe://eu.mesh/... as its caller."],
        related: &["trust domain", "east-west gateway", "mesh CA"],
        show: Some((ShowMe::Identities, "")),
    },
    Term {
        term: "mTLS",
        say: Some("em-tee-el-ess"),
        meaning: "Mutual TLS: both sides present certificates and verify each other, so the connection is encrypted and each side knows the other's identity.",
        examples: &["With STRICT mTLS, a pod without a mesh certificate cannot call billing at all.", "The lock on the edge means mTLS end to end."],
        related: &["SPIFFE", "PeerAuthentication", "X.509"],
        show: Some((ShowMe::Graph, "")),
    },
    Term {
        term: "observability",
        say: None,
        meaning: "Being able to tell what a system is doing, and why, from what it emits: metrics, logs and traces. A mesh gives every service the same request metrics, access logs and trace spans without code changes.",
        examples: &["Observability came for free with the mesh: every hop has golden signals and spans.", "Good observability answers new questions without shipping new code."],
        related: &["golden signals", "distributed tracing", "Prometheus"],
        show: Some((ShowMe::Services, "")),
    },
    Term {
        term: "outlier detection",
        say: None,
        meaning: "Passive health checking: the proxy ejects an instance that keeps failing (e.g. 5 consecutive 5xx) for a while, longer each time, and sends traffic to the others.",
        examples: &["Outlier detection ejected billing-v1-1 after five 503s; it came back 30 seconds later."],
        related: &["circuit breaking", "DestinationRule", "load balancing"],
        show: Some((ShowMe::Events, "ejection")),
    },
    Term {
        term: "P99",
        say: Some("pee-ninety-nine"),
        meaning: "The 99th percentile of latency: 99% of requests were faster. It shows the slow tail that averages hide.",
        examples: &["Average latency is 20 ms but P99 is 800 ms: one request in a hundred is very slow.", "Percentiles from histogram buckets are estimates; exact P99 needs the samples."],
        related: &["golden signals", "Prometheus"],
        show: Some((ShowMe::Services, "")),
    },
    Term {
        term: "PeerAuthentication",
        say: None,
        meaning: "An Istio resource that sets whether workloads accept plaintext: STRICT (mTLS only), PERMISSIVE (both), for the mesh, a namespace or selected workloads.",
        examples: &["Move the namespace from PERMISSIVE to STRICT once every client has a sidecar."],
        related: &["mTLS", "AuthorizationPolicy"],
        show: Some((ShowMe::Identities, "")),
    },
    Term {
        term: "Prometheus",
        say: None,
        meaning: "An open-source monitoring system that scrapes metrics from HTTP endpoints on a schedule, stores them as time series, and answers queries such as rate() and histogram_quantile().",
        examples: &["Prometheus scrapes every sidecar's /stats/prometheus every 15 seconds."],
        related: &["golden signals", "P99"],
        show: Some((ShowMe::Services, "")),
    },
    Term {
        term: "retry policy",
        say: None,
        meaning: "Rules for retrying failed requests in the proxy: how many attempts, on which failures (5xx, connect failure, reset), the per-try timeout, and the backoff between tries.",
        examples: &["The retry policy hides the flaky instance from callers, but the instance still receives the failed attempts."],
        related: &["exponential backoff", "VirtualService", "circuit breaking"],
        show: Some((ShowMe::Routing, "")),
    },
    Term {
        term: "saturation",
        say: None,
        meaning: "How full a resource is against its limit: in-flight requests or connections against the pool's caps, queue depth, CPU. The fourth golden signal; it rises before latency and errors do.",
        examples: &["Saturation on billing's connection pool hit 90%, so the next spike will trip the circuit breaker.", "Watch saturation, not only errors: by the time errors rise, queues are already full."],
        related: &["golden signals", "circuit breaking", "P99"],
        show: Some((ShowMe::Services, "")),
    },
    Term {
        term: "secure naming",
        say: None,
        meaning: "Checking that the server's certificate identity is one the destination service is allowed to run as, so a valid certificate for another service cannot impersonate it.",
        examples: &["Secure naming refused the connection: billing's endpoint presented the catalog identity."],
        related: &["SPIFFE", "mTLS"],
        show: None,
    },
    Term {
        term: "service mesh",
        say: None,
        meaning: "An infrastructure layer that handles service-to-service communication (routing, retries, security, telemetry) in proxies beside the apps, configured centrally, so apps do not implement it themselves.",
        examples: &["With a service mesh, we got mTLS and retries for every service without changing their code."],
        related: &["data plane", "control plane", "sidecar proxy"],
        show: Some((ShowMe::Graph, "")),
    },
    Term {
        term: "sidecar proxy",
        say: None,
        meaning: "A proxy deployed next to each application instance (in the same pod) that intercepts its traffic in and out; the app talks plain HTTP to it, and it does mTLS, routing and telemetry.",
        examples: &["Every billing pod has a sidecar proxy; the app only sees plain HTTP from 127.0.0.1."],
        related: &["data plane", "Envoy", "ambient mode"],
        show: Some((ShowMe::Identities, "")),
    },
    Term {
        term: "span",
        say: None,
        meaning: "One timed operation inside a trace (a request handled, a call made, one retry attempt), with a parent operation, attributes and a status.",
        examples: &["The client span took 300 ms but the server span only 20 ms: the time went on the network or the retry."],
        related: &["distributed tracing", "trace context"],
        show: Some((ShowMe::Traces, "")),
    },
    Term {
        term: "SPIFFE",
        say: Some("SPIFF-ee"),
        meaning: "A standard for workload identity: a URI naming a trust domain and a workload path, carried as the single URI SAN of an X.509 certificate (an X.509-SVID).",
        examples: &["billing's SPIFFE ID is spiffe://us.mesh/ns/default/sa/billing."],
        related: &["X.509", "mTLS", "trust domain"],
        show: Some((ShowMe::Identities, "spiffe://")),
    },
    Term {
        term: "subset",
        say: None,
        meaning: "A named group of a service's instances, chosen by labels (usually version), defined in a DestinationRule and used as a route destination.",
        examples: &["Send the tester user to subset v2; everyone else stays on v1."],
        related: &["DestinationRule", "canary", "VirtualService"],
        show: Some((ShowMe::Routing, "")),
    },
    Term {
        term: "TLS termination",
        say: None,
        meaning: "Where an encrypted connection is decrypted: a proxy that terminates TLS holds the certificate and sees plaintext; one that passes TLS through does neither.",
        examples: &["The Ingress Gateway terminates the browser's TLS; the east-west gateway does not terminate mTLS."],
        related: &["Ingress Gateway", "east-west gateway", "mTLS"],
        show: Some((ShowMe::Graph, "ingress")),
    },
    Term {
        term: "trace context",
        say: None,
        meaning: "The identifiers passed along with a request (trace ID, parent span ID, sampling flag) so every hop's spans join the same trace.",
        examples: &["The app dropped the trace context, so the trace ends at its sidecar."],
        related: &["W3C traceparent", "B3", "span"],
        show: Some((ShowMe::Traces, "")),
    },
    Term {
        term: "traffic policy",
        say: None,
        meaning: "How traffic to a destination is handled once routed: load balancing, connection-pool limits, outlier detection and TLS, set in a DestinationRule.",
        examples: &["The traffic policy for billing caps in-flight requests at 100."],
        related: &["DestinationRule", "circuit breaking", "outlier detection"],
        show: Some((ShowMe::Routing, "")),
    },
    Term {
        term: "trust domain",
        say: None,
        meaning: "The scope of one identity authority: the part of a SPIFFE ID after the scheme (eu.mesh in spiffe://eu.mesh/ns/default/sa/billing). Certificates issued in it verify only with its root.",
        examples: &["Each cluster has its own trust domain, eu.mesh and us.mesh, and trusts the other's bundle."],
        related: &["SPIFFE", "mesh CA", "mesh federation"],
        show: Some((ShowMe::Identities, "")),
    },
    Term {
        term: "VirtualService",
        say: None,
        meaning: "An Istio resource that says how requests to a host are routed: match conditions, weighted destinations and subsets, timeouts, retries, fault injection and mirroring.",
        examples: &["The VirtualService sends 10% of billing traffic to v2.", "Add a 2 s timeout to the VirtualService for ratings."],
        related: &["DestinationRule", "subset", "retry policy", "fault injection"],
        show: Some((ShowMe::Routing, "")),
    },
    Term {
        term: "W3C traceparent",
        say: Some("trace-parent"),
        meaning: "The standard trace-context header: version, 32-hex trace ID, 16-hex parent span ID and flags (00-<trace>-<span>-01). Invalid values restart the trace.",
        examples: &["Send a request with your own traceparent and search for that trace ID."],
        related: &["trace context", "B3", "span"],
        show: Some((ShowMe::Traces, "")),
    },
    Term {
        term: "X.509",
        say: Some("ex-five-oh-nine"),
        meaning: "The standard format of public-key certificates: a subject key, names (SANs), validity and a signature by an issuer, chained up to a trusted root.",
        examples: &["The workload's X.509 certificate expires in an hour and rotates at half-life."],
        related: &["SPIFFE", "mesh CA", "mTLS"],
        show: Some((ShowMe::Identities, "")),
    },
    Term {
        term: "xDS",
        say: Some("ex-dee-ess"),
        meaning: "The discovery APIs a control plane uses to push configuration to proxies (listeners, routes, clusters, endpoints, secrets), with versions, ACKs and NACKs.",
        examples: &["A proxy NACKs an xDS update it cannot apply and keeps its last good config."],
        related: &["control plane", "Envoy", "Istiod"],
        show: Some((ShowMe::Events, "push")),
    },
];

/// A term by name, case-insensitively.
pub fn find(name: &str) -> Option<&'static Term> {
    TERMS.iter().find(|t| t.term.eq_ignore_ascii_case(name))
}

/// Terms whose name or meaning mention `query`: the exact term first,
/// then terms that start with it, then terms that contain it, then
/// meanings that mention it (alphabetical within each).
pub fn search(query: &str) -> Vec<&'static Term> {
    let q = query.trim().to_lowercase();
    let mut hits: Vec<(u8, &'static Term)> = TERMS
        .iter()
        .filter_map(|t| {
            let name = t.term.to_lowercase();
            let exact = name == q || name.trim_end_matches('s') == q.trim_end_matches('s');
            let rank = if q.is_empty() || exact {
                0
            } else if name.starts_with(&q) {
                1
            } else if name.contains(&q) {
                2
            } else if t.meaning.to_lowercase().contains(&q) {
                3
            } else {
                return None;
            };
            Some((rank, t))
        })
        .collect();
    // Stable: alphabetical order is kept among equals.
    hits.sort_by_key(|(rank, _)| *rank);
    hits.into_iter().map(|(_, t)| t).collect()
}

/// A demo scenario that makes a term visible in the mesh, for when the
/// view "show me" opens has nothing to show yet.
pub fn scenario_for(term: &str) -> Option<&'static str> {
    Some(match term {
        "circuit breaking" | "outlier detection" | "DestinationRule" | "traffic policy"
        | "load balancing" | "saturation" => "circuit-breaker",
        "retry policy" | "exponential backoff" => "retries",
        "canary" | "subset" | "VirtualService" => "canary",
        "fault injection" | "P99" => "latency-regression",
        "mesh federation" | "east-west gateway" | "east-west traffic" => "federation",
        "secure naming" => "rogue",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_design_vocabulary_is_covered() {
        for t in [
            "service mesh",
            "data plane",
            "control plane",
            "sidecar proxy",
            "Envoy",
            "Istio",
            "Istiod",
            "Linkerd",
            "ambient mode",
            "mTLS",
            "X.509",
            "SPIFFE",
            "mesh CA",
            "mesh federation",
            "traffic policy",
            "retry policy",
            "exponential backoff",
            "circuit breaking",
            "outlier detection",
            "VirtualService",
            "DestinationRule",
            "subset",
            "canary",
            "Ingress Gateway",
            "east-west traffic",
            "TLS termination",
            "distributed tracing",
            "trace context",
            "span",
            "B3",
            "W3C traceparent",
            "golden signals",
            "P99",
            "Prometheus",
            "xDS",
            "observability",
            "saturation",
        ] {
            assert!(find(t).is_some(), "missing {t}");
        }
        for t in TERMS {
            assert!(!t.examples.is_empty(), "{} has no example", t.term);
            for r in t.related {
                assert!(find(r).is_some(), "{} relates to unknown {r}", t.term);
            }
        }
        let mut names: Vec<&str> = TERMS.iter().map(|t| t.term).collect();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n);
    }

    #[test]
    fn no_meaning_gives_its_term_away() {
        // The meaning is the front of a meaning-to-term card.
        let norm = |s: &str| s.to_lowercase().replace(['-', '_'], " ");
        for t in TERMS {
            assert!(
                !norm(t.meaning).contains(&norm(t.term)),
                "{}'s meaning contains it: {}",
                t.term,
                t.meaning
            );
        }
    }

    #[test]
    fn search_puts_exact_and_prefix_matches_first() {
        let first = |q: &str| search(q).first().map(|t| t.term);
        assert_eq!(first("golden signals"), Some("golden signals"));
        assert_eq!(first("golden signal"), Some("golden signals"));
        assert_eq!(first("golden"), Some("golden signals"));
        assert_eq!(first("Istio"), Some("Istio"));
        assert_eq!(first("span"), Some("span"));
        assert_eq!(first("saturation"), Some("saturation"));
        assert_eq!(first("observ"), Some("observability"));
        // Every scenario named exists.
        for t in TERMS {
            if let Some(s) = scenario_for(t.term) {
                assert!(
                    [
                        "canary",
                        "circuit-breaker",
                        "federation",
                        "latency-regression",
                        "retries",
                        "rogue"
                    ]
                    .contains(&s),
                    "{s}"
                );
            }
        }
    }

    #[test]
    fn circuit_breaking_and_istio_say_what_istio_does() {
        let cb = find("circuit breaking").expect("term").meaning;
        assert!(
            cb.contains("connectionPool") && cb.contains("outlierDetection"),
            "{cb}"
        );
        let istio = find("Istio").expect("term").meaning;
        assert!(
            istio.contains("ztunnel") && istio.contains("not Envoy"),
            "{istio}"
        );
        let ambient = find("ambient mode").expect("term").meaning;
        assert!(ambient.contains("ztunnel"), "{ambient}");
    }

    #[test]
    fn search_finds_by_meaning() {
        let hits: Vec<&str> = search("certificate").iter().map(|t| t.term).collect();
        assert!(hits.contains(&"X.509"), "{hits:?}");
    }
}
