//! Live drills: the faults a drill hides in a running mesh, questions that
//! do not give them away, the steps that inject and undo them, and the
//! judge that compares an answer with what was injected (never with
//! metrics, which lag).
//!
//! Both sides of a comparison go through [`tokens`], so `frontend-v1-1`,
//! `Frontend v1 1` and `frontend_v1_1` are the same name, and
//! `frontend-v1-10` is another.

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

/// A fault a live drill hides in the mesh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrillKind {
    /// Every instance of one service answers much slower.
    SlowService,
    /// One instance fails every request; its siblings are fine.
    FailingInstance,
    /// One service fails a share of its requests on every instance.
    FlakyService,
    /// A weighted route sends most of a service's traffic to one version.
    CanaryWeight,
    /// PeerAuthentication PERMISSIVE: plaintext peers are accepted again.
    MtlsDowngrade,
    /// A route timeout shorter than the service ever answers in.
    TimeoutTooShort,
    /// Many retries on a service that fails often: its load multiplies.
    RetryStorm,
    /// A route to a subset that selects no instance.
    WrongSubset,
    /// A failing instance ejected by outlier detection.
    EjectedInstance,
    /// One cluster's east-west gateway is down.
    GatewayDown,
}

/// What a drill's answer names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// A service (`auth`).
    Service,
    /// An instance (`frontend-v1-1`).
    Instance,
    /// A service and version (`billing v2`).
    Version,
    /// The mesh's mTLS mode.
    Mode,
    /// A cluster (`eu`).
    Cluster,
}

/// One step of injecting or undoing a drill, as plain data.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// A chaos action (`slow`, `fail`, `heal`, `stop-gateway`, ...).
    Chaos {
        /// The action.
        action: &'static str,
        /// Instance, service, `service-version` or cluster.
        target: String,
        /// Added latency for `slow`.
        delay_ms: u64,
        /// Failure share for `fail`.
        error_rate: f64,
    },
    /// Resources to apply, in one version.
    Apply(String),
    /// Back to the config version before the drill.
    Rollback(u64),
}

impl Step {
    /// An undo step as one line ("heal auth", "rollback 3"), for practice.db.
    pub fn encode(&self) -> String {
        match self {
            Step::Chaos { action, target, .. } => format!("{action} {target}"),
            Step::Apply(_) => String::new(),
            Step::Rollback(v) => format!("rollback {v}"),
        }
    }

    /// An undo step from its line; only undo steps are kept this way.
    pub fn decode(line: &str) -> Option<Step> {
        let (action, target) = line.trim().split_once(' ')?;
        match action {
            "rollback" => target.parse().ok().map(Step::Rollback),
            "heal" => Some(Step::chaos("heal", target)),
            "start-gateway" => Some(Step::chaos("start-gateway", target)),
            _ => None,
        }
    }

    fn chaos(action: &'static str, target: &str) -> Self {
        Step::Chaos {
            action,
            target: target.to_string(),
            delay_ms: 0,
            error_rate: 0.0,
        }
    }
}

/// The mesh a drill is picked from: names as the views show them.
#[derive(Debug, Clone, Default)]
pub struct MeshNames {
    /// Ready sidecar instances: (instance, service, version).
    pub instances: Vec<(String, String, String)>,
    /// Clusters with an east-west gateway.
    pub gateways: Vec<String>,
    /// The config version now.
    pub version: u64,
}

impl MeshNames {
    fn services(&self) -> Vec<String> {
        let mut v: Vec<String> = self.instances.iter().map(|i| i.1.clone()).collect();
        v.sort();
        v.dedup();
        v
    }

    fn versions(&self, service: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .instances
            .iter()
            .filter(|i| i.1 == service)
            .map(|i| i.2.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Every name of `kind` an answer could give (the target is one).
    pub fn candidates(&self, kind: TargetKind) -> Vec<String> {
        match kind {
            TargetKind::Service => self.services(),
            TargetKind::Instance => self.instances.iter().map(|i| i.0.clone()).collect(),
            TargetKind::Version => {
                let mut v: Vec<String> = self
                    .instances
                    .iter()
                    .map(|i| format!("{} {}", i.1, i.2))
                    .collect();
                v.sort();
                v.dedup();
                v
            }
            TargetKind::Mode => vec!["permissive".into(), "strict".into(), "disable".into()],
            TargetKind::Cluster => self.gateways.clone(),
        }
    }
}

/// A drill as injected: what it is, where, and how to take it back.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// The kind of fault.
    pub kind: DrillKind,
    /// The name the answer must give (instance, service, `service version`,
    /// mode or cluster).
    pub target: String,
    /// What was done, said once the drill ends.
    pub detail: String,
    /// Every name of the target's kind at the start, to refuse lists.
    pub candidates: Vec<String>,
    /// How it was injected.
    pub inject: Vec<Step>,
    /// How to take it back.
    pub undo: Vec<Step>,
}

/// Words that say how a kind of fault shows; an answer must say one.
const SLOW: &[&str] = &[
    "slow", "slower", "slowed", "latency", "p99", "delay", "delayed", "lag", "ms", "sluggish",
];
const FAILS: &[&str] = &[
    "fail",
    "fails",
    "failing",
    "failed",
    "failure",
    "failures",
    "503",
    "5xx",
    "500",
    "error",
    "errors",
    "broken",
    "down",
    "dead",
    "unhealthy",
];
const TIMEOUT: &[&str] = &[
    "timeout", "timeouts", "504", "ut", "deadline", "timed", "time",
];
const RETRY: &[&str] = &[
    "retry", "retries", "retrying", "retried", "attempts", "storm",
];
const SUBSET: &[&str] = &[
    "subset",
    "nr",
    "uh",
    "route",
    "routing",
    "upstream",
    "endpoint",
    "pods",
    "instances",
    "label",
    "labels",
];
const EJECT: &[&str] = &[
    "eject",
    "ejected",
    "ejection",
    "outlier",
    "outlierdetection",
    "removed",
];
const GATEWAY: &[&str] = &["gateway", "eastwest", "east", "gw"];

/// Resource kinds an answer to "which resource fixes it" may name.
const RESOURCES: &[&str] = &[
    "virtualservice",
    "destinationrule",
    "peerauthentication",
    "authorizationpolicy",
    "requestauthentication",
    "serviceentry",
    "envoyfilter",
    "sidecar",
];

const NEGATIONS: &[&str] = &[
    "not", "no", "never", "without", "isn", "don", "doesn", "nor", "neither", "instead",
];

impl DrillKind {
    /// Every drill.
    pub const ALL: [DrillKind; 10] = [
        DrillKind::SlowService,
        DrillKind::FailingInstance,
        DrillKind::FlakyService,
        DrillKind::CanaryWeight,
        DrillKind::MtlsDowngrade,
        DrillKind::TimeoutTooShort,
        DrillKind::RetryStorm,
        DrillKind::WrongSubset,
        DrillKind::EjectedInstance,
        DrillKind::GatewayDown,
    ];

    /// The kind's name, for choosing one.
    pub fn name(self) -> &'static str {
        match self {
            DrillKind::SlowService => "slow service",
            DrillKind::FailingInstance => "failing instance",
            DrillKind::FlakyService => "flaky service",
            DrillKind::CanaryWeight => "canary weight",
            DrillKind::MtlsDowngrade => "mTLS downgrade",
            DrillKind::TimeoutTooShort => "timeout too short",
            DrillKind::RetryStorm => "retry storm",
            DrillKind::WrongSubset => "wrong subset",
            DrillKind::EjectedInstance => "ejected instance",
            DrillKind::GatewayDown => "east-west gateway down",
        }
    }

    /// What the answer names.
    pub fn target_kind(self) -> TargetKind {
        match self {
            DrillKind::SlowService
            | DrillKind::FlakyService
            | DrillKind::TimeoutTooShort
            | DrillKind::RetryStorm
            | DrillKind::WrongSubset => TargetKind::Service,
            DrillKind::FailingInstance | DrillKind::EjectedInstance => TargetKind::Instance,
            DrillKind::CanaryWeight => TargetKind::Version,
            DrillKind::MtlsDowngrade => TargetKind::Mode,
            DrillKind::GatewayDown => TargetKind::Cluster,
        }
    }

    /// The question: a symptom, never the answer.
    pub fn question(self) -> &'static str {
        match self {
            DrillKind::SlowService => "Users say pages got slow; the callers of the culprit slow down with it. Which service is the cause, and what does it do?",
            DrillKind::FailingInstance => "Some requests to one service now fail while most succeed. Which instance (pod) is the culprit, and what does it do?",
            DrillKind::FlakyService => "Errors rose somewhere, spread over all instances of one service. Which service, and what does it do?",
            DrillKind::CanaryWeight => "A routing change moved traffic between versions of a service. Which service and version gets most of it now?",
            DrillKind::MtlsDowngrade => "A security setting was weakened. Which mTLS mode is in force now?",
            DrillKind::TimeoutTooShort => "Calls to one service fail fast, though its instances are healthy. Which service, and why do the calls fail?",
            DrillKind::RetryStorm => "One service receives far more requests than its callers make. Which service, and why?",
            DrillKind::WrongSubset => "Every call to one service fails, though all its instances are up. Which service, and what in its routing is wrong?",
            DrillKind::EjectedInstance => "One instance stopped receiving traffic. Which instance, and why?",
            DrillKind::GatewayDown => "Calls across clusters fail; calls inside each cluster work. What broke, and in which cluster?",
        }
    }

    /// Where to look, once the learner asks (not part of the question).
    pub fn hint(self) -> &'static str {
        match self {
            DrillKind::SlowService => "Services (2): compare P99s; the slowest one's callers are slow too. Traces (4) show which hop took the time.",
            DrillKind::FailingInstance | DrillKind::EjectedInstance => "Tap (3) names the instance that answered each request; in Services (2), filter on the service (/) to see each instance's failures.",
            DrillKind::FlakyService => "Services (2): success rate per service; Tap (3) shows the 503s.",
            DrillKind::CanaryWeight => "Services (2): requests per second of each version; Routing (6) shows the rules.",
            DrillKind::MtlsDowngrade => "Identities (5) shows the trust domains' mTLS mode; Graph (1) shows the lock on each edge.",
            DrillKind::TimeoutTooShort | DrillKind::RetryStorm | DrillKind::WrongSubset => "Tap (3): STATUS, FLAGS and TRY; Routing (6): the applied rules.",
            DrillKind::GatewayDown => "Graph (1): the edges that cross clusters; Services (2): which callers fail.",
        }
    }

    /// The glossary term a miss of this drill counts against.
    pub fn topic(self) -> &'static str {
        match self {
            DrillKind::SlowService => "P99",
            DrillKind::FailingInstance | DrillKind::EjectedInstance => "outlier detection",
            DrillKind::FlakyService | DrillKind::RetryStorm => "retry policy",
            DrillKind::CanaryWeight => "canary",
            DrillKind::MtlsDowngrade => "PeerAuthentication",
            DrillKind::TimeoutTooShort => "VirtualService",
            DrillKind::WrongSubset => "subset",
            DrillKind::GatewayDown => "east-west gateway",
        }
    }

    /// Words one of which the "what" answer must use, besides the target.
    fn mechanism(self) -> &'static [&'static [&'static str]] {
        match self {
            DrillKind::SlowService => &[SLOW],
            DrillKind::FailingInstance | DrillKind::FlakyService => &[FAILS],
            DrillKind::CanaryWeight | DrillKind::MtlsDowngrade => &[],
            DrillKind::TimeoutTooShort => &[TIMEOUT],
            DrillKind::RetryStorm => &[RETRY],
            DrillKind::WrongSubset => &[SUBSET],
            DrillKind::EjectedInstance => &[EJECT],
            DrillKind::GatewayDown => &[GATEWAY],
        }
    }

    /// The resources that fix it (accepted answers to the second question).
    pub fn fixes(self) -> &'static [&'static str] {
        match self {
            DrillKind::SlowService => &["virtualservice"],
            DrillKind::FailingInstance | DrillKind::EjectedInstance => {
                &["destinationrule", "virtualservice"]
            }
            DrillKind::FlakyService => &["virtualservice"],
            DrillKind::CanaryWeight | DrillKind::TimeoutTooShort | DrillKind::RetryStorm => {
                &["virtualservice"]
            }
            DrillKind::WrongSubset => &["virtualservice", "destinationrule"],
            DrillKind::MtlsDowngrade => &["peerauthentication"],
            // Nothing to configure: the gateway has to run again.
            DrillKind::GatewayDown => &[],
        }
    }

    /// The second question.
    pub fn fix_question(self) -> &'static str {
        match self {
            DrillKind::GatewayDown => "What do you do about it?",
            _ => "Which resource kind fixes it or shields callers from it?",
        }
    }

    /// Why those resources.
    pub fn explain_fix(self) -> &'static str {
        match self {
            DrillKind::SlowService => "A VirtualService timeout (with retries) protects callers from a slow service until it is fixed or rolled back.",
            DrillKind::FailingInstance => "A DestinationRule's outlierDetection ejects the failing instance (VirtualService retries also hide it from callers).",
            DrillKind::FlakyService => "VirtualService retries on 5xx hide a share of failures from callers; the service itself needs fixing.",
            DrillKind::CanaryWeight => "The weights live in the VirtualService's route: set them to the share the release plan says, or remove the rule.",
            DrillKind::MtlsDowngrade => "A PeerAuthentication with mtls.mode STRICT refuses plaintext peers again.",
            DrillKind::TimeoutTooShort => "The VirtualService's timeout must be longer than the service's normal P99.",
            DrillKind::RetryStorm => "Fewer attempts (and a per-try timeout) in the VirtualService's retries; every retry is one more request to a struggling service.",
            DrillKind::WrongSubset => "The VirtualService must route to a subset the DestinationRule defines with labels that select running instances.",
            DrillKind::EjectedInstance => "Outlier detection (in a DestinationRule) ejected it after consecutive 5xx; fix the instance, and it comes back after the ejection time.",
            DrillKind::GatewayDown => "Start the east-west gateway again; meanwhile callers fail fast or fail over to local instances.",
        }
    }
}

/// Lowercase words and numbers: every other character separates, so the
/// answer and the target are split the same way.
pub fn tokens(s: &str) -> Vec<String> {
    let mut out: Vec<String> = s
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    // "east west", "virtual service": one word either way.
    let mut i = 0;
    while i + 1 < out.len() {
        let joined = format!("{}{}", out[i], out[i + 1]);
        if RESOURCES.contains(&joined.as_str())
            || joined == "eastwest"
            || joined == "outlierdetection"
        {
            out[i] = joined;
            out.remove(i + 1);
        }
        i += 1;
    }
    out
}

/// Whether `w` is one of `set`'s words, or its plural ("503s", "retries").
fn mentions(set: &[&str], w: &str) -> bool {
    set.contains(&w) || w.strip_suffix('s').is_some_and(|x| set.contains(&x))
}

/// Where `name`'s tokens appear, contiguous, in `words`, not negated.
fn named(words: &[String], name: &str) -> bool {
    let n = tokens(name);
    if n.is_empty() || n.len() > words.len() {
        return false;
    }
    (0..=words.len() - n.len()).any(|i| words[i..i + n.len()] == n[..] && !negated(words, i))
}

fn negated(words: &[String], at: usize) -> bool {
    words[at.saturating_sub(2)..at]
        .iter()
        .any(|w| NEGATIONS.contains(&w.as_str()))
}

/// The judge's verdict on both answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// The "what happened" answer names the fault.
    pub what_ok: bool,
    /// The "which resource" answer names a fix.
    pub fix_ok: bool,
    /// Why each part was refused, for the learner.
    pub why: Vec<String>,
}

impl Judgement {
    /// Both answers right.
    pub fn ok(&self) -> bool {
        self.what_ok && self.fix_ok
    }
}

/// Judges the answers against what was injected.
pub fn judge(f: &Fault, what: &str, fix: &str) -> Judgement {
    let words = tokens(what);
    let mut why = Vec::new();
    let named_target = match f.kind.target_kind() {
        TargetKind::Version => {
            // "billing v2", "v2 of billing", "billing-v2": both parts, in any order.
            let (svc, ver) = f.target.split_once(' ').unwrap_or((&f.target, ""));
            named(&words, svc) && named(&words, ver)
        }
        _ => named(&words, &f.target),
    };
    let others: Vec<&String> = f
        .candidates
        .iter()
        .filter(|c| *c != &f.target && covers(&words, f.kind.target_kind(), c, &f.target))
        .collect();
    let mechanism = f.kind.mechanism();
    let says_how = mechanism.is_empty()
        || mechanism
            .iter()
            .any(|set| words.iter().any(|w| mentions(set, w)));
    if !named_target {
        why.push(format!(
            "the answer does not name the {}",
            noun(f.kind.target_kind())
        ));
    }
    if !others.is_empty() {
        why.push(format!(
            "it also names {}: a list is not an answer",
            others
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !says_how {
        why.push("it does not say what goes wrong there".into());
    }
    let what_ok = named_target && others.is_empty() && says_how;

    let fx = tokens(fix);
    let accepted = f.kind.fixes();
    let fix_ok = if accepted.is_empty() {
        // The gateway drill: start (or restart) it; "it" is the gateway
        // the first answer named.
        fx.iter().enumerate().any(|(i, w)| {
            ["start", "restart", "restore", "bring", "up", "reboot"].contains(&w.as_str())
                && !negated(&fx, i)
        })
    } else {
        let mut good = false;
        let mut bad = Vec::new();
        for (i, w) in fx.iter().enumerate() {
            if RESOURCES.contains(&w.as_str()) {
                let neg = negated(&fx, i);
                if accepted.contains(&w.as_str()) && !neg {
                    good = true;
                } else {
                    bad.push(if neg { format!("not {w}") } else { w.clone() });
                }
            }
        }
        if !bad.is_empty() {
            why.push(format!("the fix names {}", bad.join(", ")));
        }
        good && bad.is_empty()
    };
    if !fix_ok && why.iter().all(|w| !w.starts_with("the fix")) {
        why.push("the fix is not one that works here".into());
    }
    Judgement {
        what_ok,
        fix_ok,
        why,
    }
}

/// Whether the answer names candidate `c` in its own right (naming
/// `frontend-v1-1` names the service frontend too, and that is fine).
fn covers(words: &[String], kind: TargetKind, c: &str, target: &str) -> bool {
    match kind {
        TargetKind::Version => {
            let (svc, ver) = c.split_once(' ').unwrap_or((c, ""));
            let (tsvc, _) = target.split_once(' ').unwrap_or((target, ""));
            // Another version of the same service, or another service.
            (svc == tsvc && named(words, ver)) || (svc != tsvc && named(words, svc))
        }
        _ => named(words, c),
    }
}

fn noun(k: TargetKind) -> &'static str {
    match k {
        TargetKind::Service => "service",
        TargetKind::Instance => "instance",
        TargetKind::Version => "service and version",
        TargetKind::Mode => "mTLS mode",
        TargetKind::Cluster => "cluster",
    }
}

fn vs(service: &str, http: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: {service}\n  namespace: default\nspec:\n  hosts:\n  - {service}\n  http:\n{http}"
    )
}

fn subsets_dr(service: &str, versions: &[String], extra: &str) -> String {
    let subsets: String = versions
        .iter()
        .map(|v| format!("  - name: {v}\n    labels:\n      version: {v}\n"))
        .collect();
    format!(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: {service}\n  namespace: default\nspec:\n  host: {service}\n{extra}  subsets:\n{subsets}"
    )
}

/// Picks a drill at random among those the mesh can show: `kind` when
/// given, otherwise any. None when the mesh has nothing to drill on.
pub fn pick(names: &MeshNames, kind: Option<DrillKind>, rng: &mut impl Rng) -> Option<Fault> {
    let possible: Vec<DrillKind> = DrillKind::ALL
        .into_iter()
        .filter(|k| kind.is_none_or(|x| x == *k))
        .filter(|k| plan(names, *k, &mut rand::rngs::StdRng::seed_from_u64(0)).is_some())
        .collect();
    let k = *possible.choose(rng)?;
    plan(names, k, rng)
}

/// Builds a drill of `kind` on the mesh `names` describes.
pub fn plan(names: &MeshNames, kind: DrillKind, rng: &mut impl Rng) -> Option<Fault> {
    let services = names.services();
    // Instances with siblings, so the service keeps answering.
    let with_siblings: Vec<&(String, String, String)> = names
        .instances
        .iter()
        .filter(|i| names.instances.iter().filter(|x| x.1 == i.1).count() > 1)
        .collect();
    let multi_version: Vec<String> = services
        .iter()
        .filter(|s| names.versions(s).len() > 1)
        .cloned()
        .collect();
    let rollback = Step::Rollback(names.version);
    let (target, detail, inject, undo) = match kind {
        DrillKind::SlowService => {
            let s = services.choose(rng)?.clone();
            let delay = *[300u64, 500, 800].choose(rng)?;
            (
                s.clone(),
                format!("every {s} instance answered {delay} ms slower"),
                vec![Step::Chaos {
                    action: "slow",
                    target: s.clone(),
                    delay_ms: delay,
                    error_rate: 0.0,
                }],
                vec![Step::chaos("heal", &s)],
            )
        }
        DrillKind::FailingInstance | DrillKind::EjectedInstance => {
            let i = with_siblings.choose(rng)?;
            let fail = Step::Chaos {
                action: "fail",
                target: i.0.clone(),
                delay_ms: 0,
                error_rate: 1.0,
            };
            if kind == DrillKind::FailingInstance {
                (
                    i.0.clone(),
                    format!("{} failed every request with 503", i.0),
                    vec![fail],
                    vec![Step::chaos("heal", &i.0)],
                )
            } else {
                let versions = names.versions(&i.1);
                let od = "  trafficPolicy:\n    outlierDetection:\n      consecutive5xxErrors: 3\n      interval: 1s\n      baseEjectionTime: 60s\n      maxEjectionPercent: 50\n";
                (
                    i.0.clone(),
                    format!("{} failed every request and outlier detection ejected it", i.0),
                    vec![fail, Step::Apply(subsets_dr(&i.1, &versions, od))],
                    vec![Step::chaos("heal", &i.0), rollback],
                )
            }
        }
        DrillKind::FlakyService => {
            let s = services.choose(rng)?.clone();
            let rate = *[0.3f64, 0.5, 0.7].choose(rng)?;
            (
                s.clone(),
                format!("every {s} instance failed {:.0}% of requests with 503", rate * 100.0),
                vec![Step::Chaos {
                    action: "fail",
                    target: s.clone(),
                    delay_ms: 0,
                    error_rate: rate,
                }],
                vec![Step::chaos("heal", &s)],
            )
        }
        DrillKind::CanaryWeight => {
            let s = multi_version.choose(rng)?.clone();
            let versions = names.versions(&s);
            let to = versions.choose(rng)?.clone();
            let share = rng.random_range(7..=10u32) * 10;
            let rest = versions.iter().filter(|v| **v != to).count() as u32;
            let mut routes = format!(
                "  - route:\n    - destination:\n        host: {s}\n        subset: {to}\n      weight: {share}\n"
            );
            let mut left = 100 - share;
            for (n, v) in versions.iter().filter(|v| **v != to).enumerate() {
                let w = if n as u32 + 1 == rest { left } else { left / rest };
                left -= w;
                routes.push_str(&format!(
                    "    - destination:\n        host: {s}\n        subset: {v}\n      weight: {w}\n"
                ));
            }
            (
                format!("{s} {to}"),
                format!("a VirtualService sent {share}% of {s}'s traffic to {to}"),
                vec![Step::Apply(format!(
                    "{}---\n{}",
                    subsets_dr(&s, &versions, ""),
                    vs(&s, &routes)
                ))],
                vec![rollback],
            )
        }
        DrillKind::MtlsDowngrade => (
            "permissive".to_string(),
            "a mesh-wide PeerAuthentication set mTLS to PERMISSIVE".to_string(),
            vec![Step::Apply(
                "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\n  namespace: istio-system\nspec:\n  mtls:\n    mode: PERMISSIVE\n".into(),
            )],
            vec![rollback],
        ),
        DrillKind::TimeoutTooShort => {
            let s = services.choose(rng)?.clone();
            (
                s.clone(),
                format!("a VirtualService gave {s} a 1 ms timeout: calls ended in 504 (flag UT)"),
                vec![Step::Apply(vs(
                    &s,
                    &format!("  - route:\n    - destination:\n        host: {s}\n    timeout: 1ms\n"),
                ))],
                vec![rollback],
            )
        }
        DrillKind::RetryStorm => {
            let s = services.choose(rng)?.clone();
            (
                s.clone(),
                format!("{s} failed half its requests and a VirtualService retried each up to 10 times"),
                vec![
                    Step::Chaos {
                        action: "fail",
                        target: s.clone(),
                        delay_ms: 0,
                        error_rate: 0.5,
                    },
                    Step::Apply(vs(
                        &s,
                        &format!("  - route:\n    - destination:\n        host: {s}\n    retries:\n      attempts: 10\n      retryOn: 5xx\n"),
                    )),
                ],
                vec![Step::chaos("heal", &s), rollback],
            )
        }
        DrillKind::WrongSubset => {
            let s = services.choose(rng)?.clone();
            let mut versions = names.versions(&s);
            versions.push("v9".into());
            (
                s.clone(),
                format!("a VirtualService routed {s} to subset v9, which selects no instance (503, flag UH)"),
                vec![Step::Apply(format!(
                    "{}---\n{}",
                    subsets_dr(&s, &versions, ""),
                    vs(&s, &format!("  - route:\n    - destination:\n        host: {s}\n        subset: v9\n"))
                ))],
                vec![rollback],
            )
        }
        DrillKind::GatewayDown => {
            let c = names.gateways.choose(rng)?.clone();
            (
                c.clone(),
                format!("the east-west gateway of {c} was stopped"),
                vec![Step::chaos("stop-gateway", &c)],
                vec![Step::chaos("start-gateway", &c)],
            )
        }
    };
    Some(Fault {
        kind,
        candidates: names.candidates(kind.target_kind()),
        target,
        detail,
        inject,
        undo,
    })
}

#[cfg(test)]
#[path = "drill/tests.rs"]
mod tests;
