//! The rubric and the misconceptions, as predicates over frames. Each rule
//! names concepts and actions (synonym sets), never spellings, so it holds
//! for every paraphrase the parser brings to the same frame.

use super::lexicon::{Act, Attr, Concept, Concept::*, Prep};
use super::parse::{Ent, Frame, Sentence};

/// The proxies of the data plane.
const PROXIES: &[Concept] = &[Sidecar, Proxy];
/// Everything that carries requests.
const DATA_PLANE_PARTS: &[Concept] = &[Sidecar, Proxy, Ingress, OtherGateway];
/// Things a request is delivered to.
const HOPS: &[Concept] = &[Sidecar, Proxy, Service];

fn has(ents: &[Ent], cs: &[Concept]) -> bool {
    ents.iter().any(|e| !e.neg && cs.contains(&e.c))
}

fn prep_has(f: &Frame, ps: &[Prep], cs: &[Concept]) -> bool {
    f.preps
        .iter()
        .any(|(p, e)| !e.neg && ps.contains(p) && cs.contains(&e.c))
}

fn mentions(f: &Frame, cs: &[Concept]) -> bool {
    has(&f.agents, cs)
        || has(&f.patients, cs)
        || f.preps.iter().any(|(_, e)| !e.neg && cs.contains(&e.c))
}

fn is(f: &Frame, acts: &[Act]) -> bool {
    acts.contains(&f.act)
}

/// `parts` are inside `whole`: "the sidecars form the data plane", "the
/// data plane consists of the sidecars", "the gateway is part of ...".
fn member_of(f: &Frame, parts: &[Concept], whole: &[Concept]) -> bool {
    match f.act {
        Act::Be | Act::Form => {
            has(&f.agents, parts)
                && (has(&f.patients, whole)
                    || prep_has(
                        f,
                        &[Prep::In, Prep::Of, Prep::To, Prep::On, Prep::As],
                        whole,
                    ))
        }
        Act::Contain => {
            has(&f.agents, whole) && (has(&f.patients, parts) || prep_has(f, &[Prep::Of], parts))
        }
        _ => false,
    }
}

/// The control plane on the request path, ignoring negation (callers check
/// it): it forwards, receives or inspects requests, requests go through it,
/// it sits in the path.
fn cp_on_path(f: &Frame) -> bool {
    let cp = &[ControlPlane];
    let as_agent = has(&f.agents, cp)
        && ((is(
            f,
            &[
                Act::Forward,
                Act::Transfer,
                Act::Receive,
                Act::Encrypt,
                Act::Verify,
                Act::Retry,
                Act::Sign,
            ],
        ) && has(&f.patients, &[Request]))
            || (is(f, &[Act::Forward])
                && f.patients.is_empty()
                && prep_has(f, &[Prep::Between, Prep::To], HOPS))
            || (is(f, &[Act::Be, Act::Run, Act::Form, Act::Move])
                && (has(&f.patients, &[Path])
                    || prep_has(
                        f,
                        &[Prep::In, Prep::On, Prep::Between],
                        &[Path, Request, Sidecar, Proxy, Service],
                    ))));
    let through_it = (has(&f.agents, &[Request]) || (f.passive && has(&f.patients, &[Request])))
        && is(f, &[Act::Move, Act::Forward, Act::Transfer])
        && prep_has(f, &[Prep::Through, Prep::To, Prep::Into, Prep::In], cp);
    let by_it = f.passive
        && has(&f.patients, &[Request])
        && has(&f.agents, cp)
        && !is(f, &[Act::Configure, Act::Define]);
    let handed_to_it = has(&f.agents, &[Sidecar, Proxy, Ingress, Service])
        && is(f, &[Act::Transfer, Act::Forward])
        && has(&f.patients, &[Request])
        && prep_has(f, &[Prep::To, Prep::Into, Prep::Through], cp);
    as_agent || through_it || by_it || handed_to_it
}

/// The claim that the control plane is on the path, denied: "never
/// forwards", "no request goes through it", "through the sidecars, not
/// through the control plane".
fn cp_denied_on_path(f: &Frame) -> bool {
    f.denies_something() && !(f.positive() && cp_on_path(f)) && cp_on_path(&f.affirmed())
}

/// Who carries out a retry the frame talks about, if it talks about one.
fn retriers(f: &Frame) -> Option<&[Ent]> {
    let retry =
        f.act == Act::Retry || (is(f, &[Act::Apply, Act::Create]) && has(&f.patients, &[Retry]));
    retry.then_some(f.agents.as_slice())
}

fn wrong_retrier(f: &Frame) -> bool {
    retriers(f).is_some_and(|agents| {
        has(agents, &[ControlPlane])
            || agents.iter().any(|e| {
                !e.neg
                    && e.side == Some(Attr::Receiving)
                    && matches!(e.c, Sidecar | Proxy | Service)
            })
            || (f.attrs.contains(&Attr::Receiving) && has(agents, &[Sidecar, Proxy, Service]))
    })
}

/// A claim that traffic between the proxies is not encrypted.
fn claims_plaintext(f: &Frame) -> bool {
    let denied_tls = |e: &Ent| e.neg && matches!(e.c, Tls | Mtls);
    let plain = (f.positive() && f.attrs.contains(&Attr::Unencrypted))
        || (!f.positive()
            && f.attrs.contains(&Attr::Encrypted)
            && !has(&f.agents, &[Service, ControlPlane, Client]))
        || (!f.positive()
            && f.act == Act::Encrypt
            && has(&f.agents, &[Sidecar, Proxy, DataPlane, Mesh]))
        // "sends the calls without encryption", "with no TLS".
        || (f.positive()
            && (f.patients.iter().any(denied_tls) || f.preps.iter().any(|(_, e)| denied_tls(e))));
    let between_proxies = mentions(f, &[Sidecar, Proxy, Network, Mesh])
        || f.preps.iter().any(|(p, _)| *p == Prep::Between)
        || has(&f.patients, &[Request])
        || has(&f.agents, &[Request]);
    // An app's plain call to its own sidecar, inside the pod, is right.
    let app_to_own_sidecar = has(&f.agents, &[Service]) && prep_has(f, &[Prep::To], PROXIES);
    plain && between_proxies && !app_to_own_sidecar
}

/// A point of the rubric.
pub struct PointRule {
    /// Short name, stable for scripts.
    pub name: &'static str,
    /// What a good explanation says.
    pub says: &'static str,
    /// Needed to pass (the vocabulary points are credit, not needed).
    pub required: bool,
    /// For vocabulary: the concepts that make the point relevant.
    pub about: &'static [Concept],
    /// Whether a frame of a sentence makes the point.
    pub test: fn(&Sentence, usize) -> bool,
}

/// A misconception the checker recognises.
pub struct MisRule {
    /// Short name.
    pub name: &'static str,
    /// Why it is wrong, and what is right.
    pub explanation: &'static str,
    /// Whether a frame of a sentence states it.
    pub test: fn(&Sentence, usize) -> bool,
}

fn frame(s: &Sentence, i: usize) -> &Frame {
    &s.frames[i]
}

/// The rubric: the diagram's parts, related, then the vocabulary.
pub const POINTS: &[PointRule] = &[
    PointRule {
        name: "sidecar",
        says: "each service has its own sidecar proxy, which handles the service's traffic",
        required: true,
        about: &[],
        test: point_sidecar,
    },
    PointRule {
        name: "data-plane",
        says: "the sidecars (and the Ingress Gateway) form the data plane, which carries the requests",
        required: true,
        about: &[],
        test: point_data_plane,
    },
    PointRule {
        name: "control-plane",
        says: "the control plane configures the proxies (routes, policies, certificates)",
        required: true,
        about: &[],
        test: point_control_plane,
    },
    PointRule {
        name: "mtls",
        says: "the sidecars talk to each other over an mTLS connection: encrypted, both ends authenticated",
        required: true,
        about: &[],
        test: point_mtls,
    },
    PointRule {
        name: "identity",
        says: "each side proves its identity with a certificate issued by the mesh's CA (the control plane)",
        required: true,
        about: &[],
        test: point_identity,
    },
    PointRule {
        name: "ingress",
        says: "requests from outside enter the mesh through the Ingress Gateway",
        required: true,
        about: &[],
        test: point_ingress,
    },
    PointRule {
        name: "request-path",
        says: "the request's path: Ingress Gateway, then the sidecars, then the service",
        required: true,
        about: &[],
        test: point_request_path,
    },
    PointRule {
        name: "control-plane-off-path",
        says: "the control plane is not on the request path: it never forwards requests",
        required: false,
        about: &[],
        test: point_control_plane_off_path,
    },
    PointRule {
        name: "retries",
        says: "retries are carried out by the calling side's proxy",
        required: false,
        about: &[Retry],
        test: point_retries,
    },
    PointRule {
        name: "traffic-policy",
        says: "a DestinationRule's traffic policy (load balancing, connection pool, outlier detection) is applied by the calling proxies",
        required: false,
        about: &[DestinationRule, TrafficPolicy, LoadBalancing],
        test: point_traffic_policy,
    },
    PointRule {
        name: "virtualservice",
        says: "a VirtualService holds routing rules (matches, weights, retries, timeouts)",
        required: false,
        about: &[VirtualService],
        test: point_virtualservice,
    },
    PointRule {
        name: "circuit-breaking",
        says: "circuit breaking stops sending to an overloaded or failing instance",
        required: false,
        about: &[CircuitBreaking],
        test: point_circuit_breaking,
    },
    PointRule {
        name: "observability",
        says: "the proxies report metrics, traces and logs: observability without code changes",
        required: false,
        about: &[Telemetry],
        test: point_observability,
    },
];

/// The misconceptions.
pub const MISCONCEPTIONS: &[MisRule] = &[
    MisRule {
        name: "control-plane-on-request-path",
        explanation: "The control plane is not on the request path: it configures the proxies and signs certificates, and requests go from proxy to proxy without ever passing through it (which is why traffic keeps flowing while it restarts).",
        test: wrong_control_plane_on_request_path,
    },
    MisRule {
        name: "plaintext-between-sidecars",
        explanation: "Between sidecars every call is encrypted with mTLS, inside the cluster too: a mesh does not trust the network. Only the hop from an app to its own sidecar, inside the pod, is plain.",
        test: wrong_plaintext_between_sidecars,
    },
    MisRule {
        name: "proxy-signs-certificate",
        explanation: "A sidecar does not sign certificates: it generates a key, sends a signing request to the mesh's CA (run by the control plane), and presents the certificate the CA signed. A self-signed certificate proves nothing to the other side.",
        test: wrong_proxy_signs_certificate,
    },
    MisRule {
        name: "gateway-in-control-plane",
        explanation: "The Ingress Gateway is a proxy of the data plane, like the sidecars: it carries requests and, like them, is configured by the control plane. It neither belongs to the control plane nor configures other proxies.",
        test: wrong_gateway_in_control_plane,
    },
    MisRule {
        name: "application-does-tls",
        explanation: "The applications send plain requests to their own sidecar; the sidecars do the mTLS handshake, the encryption and the certificate checks, with no change to the application's code.",
        test: wrong_application_does_tls,
    },
    MisRule {
        name: "retries-on-wrong-side",
        explanation: "Retries are carried out by the calling side's proxy (the caller's sidecar, or the Ingress Gateway for outside calls): it resends the request, maybe to another instance. The receiving side cannot retry a call that failed to reach it, and the control plane never sees requests.",
        test: wrong_retries_on_wrong_side,
    },
    MisRule {
        name: "control-plane-outage-stops-traffic",
        explanation: "When the control plane is down, requests keep flowing: the proxies keep the last configuration and certificates they received, because the control plane is not on the request path. Only changes (new rules, new certificates) wait for it.",
        test: wrong_control_plane_outage_stops_traffic,
    },
    MisRule {
        name: "sidecar-inside-the-application",
        explanation: "A sidecar is a separate proxy (its own container in the service's pod), not a library: the application is not rebuilt, and its traffic is redirected to the sidecar without code changes.",
        test: wrong_sidecar_inside_the_application,
    },
    MisRule {
        name: "shared-sidecar",
        explanation: "Each service instance has its own sidecar in its own pod; services do not share one proxy. That is what lets each sidecar carry its own workload's identity.",
        test: wrong_shared_sidecar,
    },
    MisRule {
        name: "proxies-cannot-retry",
        explanation: "Retrying is a proxy feature: the calling side's sidecar retries by the route's retry policy (a VirtualService), so applications need no retry code of their own.",
        test: wrong_proxies_cannot_retry,
    },
    MisRule {
        name: "circuit-breaking-retries",
        explanation: "Circuit breaking does the opposite of retrying: when an instance fails or is overloaded, the calling proxy stops sending to it for a while (connection limits, outlier ejection) so it can recover.",
        test: wrong_circuit_breaking_retries,
    },
    MisRule {
        name: "resource-misused",
        explanation: "A VirtualService holds routing rules (matches, weights, retries, timeouts); a DestinationRule holds the traffic policy (subsets, load balancing, connection pool, outlier detection). Certificates come from the mesh's CA, and the mTLS mode from PeerAuthentication.",
        test: wrong_resource_misused,
    },
    MisRule {
        name: "ingress-between-services",
        explanation: "The Ingress Gateway takes traffic from outside into the mesh; calls between services go directly from one sidecar to the other.",
        test: wrong_ingress_between_services,
    },
    MisRule {
        name: "mtls-without-mutual-authentication",
        explanation: "mTLS is more than encryption: both sides present a certificate and each verifies the other's identity, so a workload without a valid certificate from the mesh's CA cannot call in. One-way TLS, where only the server proves who it is, is what a browser does.",
        test: wrong_mtls_without_mutual_authentication,
    },
    MisRule {
        name: "configuration-not-from-control-plane",
        explanation: "Configuration comes from the control plane only, which pushes it to every proxy. Proxies (sidecars and gateways alike) neither configure each other nor the control plane.",
        test: wrong_configuration_not_from_control_plane,
    },
];

fn point_sidecar(s: &Sentence, i: usize) -> bool {
    let f = frame(s, i);
    f.positive()
        && ((mentions(f, PROXIES)
            && mentions(f, &[Service])
            && !is(f, &[Act::Sign, Act::Create, Act::Encrypt]))
            || (has(&f.agents, PROXIES)
                && is(f, &[Act::Forward, Act::Transfer, Act::Receive])
                && (has(&f.patients, &[Request]) || prep_has(f, &[Prep::To, Prep::Into], HOPS)))
            || (has(&f.agents, &[Request])
                && is(f, &[Act::Move, Act::Forward])
                && prep_has(f, &[Prep::Through], PROXIES))
            || (f.passive && has(&f.patients, &[Request]) && has(&f.agents, PROXIES)))
}

fn point_data_plane(s: &Sentence, i: usize) -> bool {
    let f = frame(s, i);
    // "We call the sidecars the data plane", "are what we call the data
    // plane": naming, not a call.
    let named = f.act == Act::Call
        && has(&f.patients, &[DataPlane])
        && (has(&f.agents, DATA_PLANE_PARTS)
            || (f.agents.is_empty() && has(&f.patients, DATA_PLANE_PARTS)));
    let defined = is(f, &[Act::Be])
        && has(&f.agents, &[DataPlane])
        && (has(&f.patients, DATA_PLANE_PARTS) || prep_has(f, &[Prep::Of], DATA_PLANE_PARTS));
    let carries = has(&f.agents, &[DataPlane])
        && is(f, &[Act::Forward, Act::Transfer, Act::Move])
        && has(&f.patients, &[Request]);
    f.positive() && (member_of(f, DATA_PLANE_PARTS, &[DataPlane]) || named || defined || carries)
}

fn point_control_plane(s: &Sentence, i: usize) -> bool {
    let f = frame(s, i);
    f.positive()
        && ((has(&f.agents, &[ControlPlane])
            && (f.act == Act::Configure
                || (is(f, &[Act::Transfer, Act::Define, Act::Create])
                    && has(&f.patients, &[Config, Retry, Timeout, TrafficPolicy]))))
            || (f.passive && has(&f.agents, &[ControlPlane]) && f.act == Act::Configure)
            || (has(&f.agents, DATA_PLANE_PARTS)
                && f.act == Act::Receive
                && has(&f.patients, &[Config])
                && prep_has(f, &[Prep::From], &[ControlPlane])))
}

fn point_mtls(s: &Sentence, i: usize) -> bool {
    let f = frame(s, i);
    f.positive()
        && mentions(f, &[Mtls])
        && (mentions(f, &[Sidecar, Proxy, Service, Request])
            || f.preps.iter().any(|(p, _)| *p == Prep::Between))
}

fn point_identity(s: &Sentence, i: usize) -> bool {
    let f = frame(s, i);
    let verified = s
        .frames
        .iter()
        .any(|g| g.positive() && g.act == Act::Verify);
    f.positive()
        && ((mentions(f, &[Cert, Identity, Csr]) && (mentions(f, &[Ca, ControlPlane]) || verified))
            || (mentions(f, &[Ca])
                && is(f, &[Act::Sign, Act::Transfer, Act::Be, Act::Run])
                && mentions(f, &[ControlPlane, Cert, Identity, Sidecar, Proxy, Mesh])))
}

fn point_ingress(s: &Sentence, i: usize) -> bool {
    let f = frame(s, i);
    f.positive()
        && mentions(f, &[Ingress])
        && (s.attrs.contains(&Attr::Outside)
            || s.concepts.iter().any(|e| e.c == Client)
            || (f.act == Act::Move
                && prep_has(
                    f,
                    &[Prep::Into, Prep::To, Prep::Through, Prep::On],
                    &[Ingress],
                )))
}

fn point_request_path(s: &Sentence, i: usize) -> bool {
    let f = frame(s, i);
    let ingress_before = s.frames[..=i].iter().any(|g| mentions(g, &[Ingress]));
    // Told backwards: "the sidecar received it from the gateway".
    let from_ingress =
        has(&f.agents, HOPS) && f.act == Act::Receive && prep_has(f, &[Prep::From], &[Ingress]);
    f.positive()
        && ((ingress_before
            && is(f, &[Act::Forward, Act::Transfer, Act::Move, Act::Receive])
            && prep_has(f, &[Prep::To, Prep::Into, Prep::Through], HOPS)
            && !prep_has(f, &[Prep::To, Prep::Into, Prep::Through], &[ControlPlane]))
            || from_ingress)
}

fn point_control_plane_off_path(s: &Sentence, i: usize) -> bool {
    let f = frame(s, i);
    cp_denied_on_path(f)
}

fn point_retries(s: &Sentence, i: usize) -> bool {
    let f = frame(s, i);
    f.positive()
        && !wrong_retrier(f)
        && (retriers(f).is_some_and(|a| has(a, &[Sidecar, Proxy, Ingress, DataPlane, Mesh]))
            || (has(&f.agents, &[ControlPlane, VirtualService]) && has(&f.patients, &[Retry]))
            || (f.passive
                && f.act == Act::Apply
                && has(&f.patients, &[Retry])
                && has(&f.agents, PROXIES)))
}

fn point_traffic_policy(s: &Sentence, i: usize) -> bool {
    let f = frame(s, i);
    f.positive()
        && ((has(&f.agents, &[DestinationRule])
            && mentions(f, &[TrafficPolicy, LoadBalancing, CircuitBreaking, Config]))
            || (mentions(f, &[TrafficPolicy, LoadBalancing])
                && mentions(f, &[ControlPlane, Sidecar, Proxy, DestinationRule])))
}

fn point_virtualservice(s: &Sentence, i: usize) -> bool {
    let f = frame(s, i);
    f.positive()
        && mentions(f, &[VirtualService])
        && mentions(f, &[Config, Retry, Timeout, Canary, Request])
}

fn point_circuit_breaking(s: &Sentence, i: usize) -> bool {
    let f = frame(s, i);
    f.positive()
        && mentions(f, &[CircuitBreaking])
        && f.act != Act::Retry
        && (mentions(
            f,
            &[Sidecar, Proxy, DestinationRule, ControlPlane, TrafficPolicy],
        ) || is(f, &[Act::Stop, Act::Apply]))
}

fn point_observability(s: &Sentence, i: usize) -> bool {
    let f = frame(s, i);
    f.positive()
        && mentions(f, &[Telemetry])
        && (mentions(f, &[Sidecar, Proxy, DataPlane, Mesh, Ingress])
            || is(f, &[Act::Report, Act::Create]))
}

fn wrong_control_plane_on_request_path(s: &Sentence, i: usize) -> bool {
    let f = frame(s, i);
    f.positive() && cp_on_path(f)
}

fn wrong_plaintext_between_sidecars(s: &Sentence, i: usize) -> bool {
    let f = frame(s, i);
    claims_plaintext(f)
        || (f.positive()
            && f.attrs.contains(&Attr::Only)
            && mentions(f, &[Ingress])
            && (mentions(f, &[Mtls, Tls]) || f.act == Act::Encrypt))
}

fn wrong_proxy_signs_certificate(s: &Sentence, i: usize) -> bool {
    let f = frame(s, i);
    (f.positive()
        && has(&f.agents, &[Sidecar, Proxy, Service, Ingress, DataPlane])
        && is(f, &[Act::Sign, Act::Create])
        && has(&f.patients, &[Cert, Identity]))
        || (f.positive()
            && f.attrs.contains(&Attr::SelfSigned)
            && mentions(f, &[Sidecar, Proxy, Service, Cert])
            && !mentions(f, &[Ca]))
}

fn wrong_gateway_in_control_plane(s: &Sentence, i: usize) -> bool {
    let f = frame(s, i);
    f.positive() && member_of(f, &[Ingress, Sidecar, Proxy, DataPlane], &[ControlPlane])
}

fn wrong_application_does_tls(s: &Sentence, i: usize) -> bool {
    let f = frame(s, i);
    f.positive()
        && has(&f.agents, &[Service])
        && (f.act == Act::Encrypt
            || (f.act == Act::Apply && has(&f.patients, &[Tls]))
            || (f.act == Act::Verify && has(&f.patients, &[Cert]))
            || (f.attrs.contains(&Attr::Own)
                && is(f, &[Act::Apply, Act::Verify])
                && mentions(f, &[Mtls, Tls, Cert])))
}

fn wrong_retries_on_wrong_side(s: &Sentence, i: usize) -> bool {
    let f = frame(s, i);
    f.positive() && wrong_retrier(f)
}

fn wrong_control_plane_outage_stops_traffic(s: &Sentence, i: usize) -> bool {
    let f = frame(s, i);
    let cp_down = s
        .frames
        .iter()
        .any(|g| g.positive() && g.act == Act::Stop && has(&g.agents, &[ControlPlane]));
    cp_down
        && f.positive()
        && f.act == Act::Stop
        && (has(
            &f.agents,
            &[Request, Service, Sidecar, Proxy, DataPlane, Mesh],
        ) || (f.passive && has(&f.patients, &[Request])))
}

fn wrong_sidecar_inside_the_application(s: &Sentence, i: usize) -> bool {
    let f = frame(s, i);
    let subject = if f.passive { &f.patients } else { &f.agents };
    f.positive()
        && has(subject, PROXIES)
        && ((is(f, &[Act::Be, Act::Form]) && has(&f.patients, &[Library]))
            || prep_has(f, &[Prep::Into, Prep::In], &[Library]))
}

fn wrong_shared_sidecar(s: &Sentence, i: usize) -> bool {
    let f = frame(s, i);
    f.positive() && f.act == Act::Share && has(&f.agents, &[Service]) && has(&f.patients, PROXIES)
}

fn wrong_proxies_cannot_retry(s: &Sentence, i: usize) -> bool {
    let f = frame(s, i);
    let denied = !f.positive()
        && retriers(&f.affirmed()).is_some_and(|a| has(a, &[Sidecar, Proxy, DataPlane, Mesh]));
    // "Retries can only be done by the gateway / the application."
    let only_others = f.positive()
        && f.attrs.contains(&Attr::Only)
        && retriers(f)
            .is_some_and(|a| has(a, &[Ingress, ControlPlane, Service]) && !has(a, PROXIES));
    denied || only_others
}

fn wrong_circuit_breaking_retries(s: &Sentence, i: usize) -> bool {
    let f = frame(s, i);
    f.positive()
        && has(&f.agents, &[CircuitBreaking])
        && (f.act == Act::Retry || (f.act == Act::Be && has(&f.patients, &[Retry])))
}

fn wrong_resource_misused(s: &Sentence, i: usize) -> bool {
    let f = frame(s, i);
    f.positive()
        && ((has(&f.agents, &[VirtualService])
            && (mentions(
                f,
                &[
                    Cert,
                    Ca,
                    Mtls,
                    Tls,
                    CircuitBreaking,
                    LoadBalancing,
                    TrafficPolicy,
                ],
            ) || is(f, &[Act::Sign, Act::Encrypt])))
            || (has(&f.agents, &[DestinationRule]) && has(&f.patients, &[Retry, Timeout])))
}

fn wrong_ingress_between_services(s: &Sentence, i: usize) -> bool {
    let f = frame(s, i);
    // "calls from the first service are sent through the gateway".
    let from_a_service = (has(&f.agents, &[Request])
        || (f.passive && has(&f.patients, &[Request])))
        && prep_has(f, &[Prep::From], &[Service, Sidecar, Proxy])
        && prep_has(f, &[Prep::Through, Prep::To], &[Ingress]);
    f.positive()
        && ((mentions(f, &[Ingress]) && prep_has(f, &[Prep::Between], &[Service, Sidecar, Proxy]))
            || from_a_service)
}

fn wrong_mtls_without_mutual_authentication(s: &Sentence, i: usize) -> bool {
    let f = frame(s, i);
    let one_side = f.attrs.contains(&Attr::OneWay)
        || (f.attrs.contains(&Attr::Only)
            && (f.attrs.contains(&Attr::Receiving)
                || f.attrs.contains(&Attr::Calling)
                || f.agents.iter().any(|e| e.side.is_some())));
    let unverified = f.neg && f.act == Act::Verify && has(&f.agents, &[Sidecar, Proxy, Mtls]);
    let only_encrypts = f.positive()
        && f.attrs.contains(&Attr::Only)
        && f.act == Act::Encrypt
        && has(&f.agents, &[Mtls]);
    (f.positive() && one_side && (f.act == Act::Verify || mentions(f, &[Cert])))
        || unverified
        || only_encrypts
}

fn wrong_configuration_not_from_control_plane(s: &Sentence, i: usize) -> bool {
    let f = frame(s, i);
    const TARGETS: &[Concept] = &[Sidecar, Proxy, Ingress, DataPlane, ControlPlane, Config];
    let configures = f.act == Act::Configure
        && (f.patients.is_empty()
            || has(&f.patients, TARGETS)
            || prep_has(f, &[Prep::To], TARGETS));
    let pushes =
        f.act == Act::Transfer && has(&f.patients, &[Config]) && prep_has(f, &[Prep::To], TARGETS);
    let from_a_proxy = has(&f.agents, PROXIES)
        && f.act == Act::Receive
        && has(&f.patients, &[Config])
        && prep_has(f, &[Prep::From], &[Ingress, Sidecar, Proxy]);
    f.positive()
        && ((has(&f.agents, &[DataPlane, Sidecar, Proxy, Ingress]) && (configures || pushes))
            || from_a_proxy)
}
