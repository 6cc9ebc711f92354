//! The words the checker knows: the diagram's parts and the field's
//! vocabulary (concepts), what they can do (actions), and the small words
//! that carry grammar (negation, prepositions, relative pronouns). Synonym
//! sets, not single spellings, so paraphrases land on the same concept.

/// A thing a sentence can talk about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Concept {
    /// The control plane (istiod).
    ControlPlane,
    /// The data plane.
    DataPlane,
    /// A sidecar proxy (Envoy).
    Sidecar,
    /// A proxy without saying which.
    Proxy,
    /// The Ingress Gateway.
    Ingress,
    /// Another gateway (egress, east-west): not a diagram part.
    OtherGateway,
    /// An application, service or workload.
    Service,
    /// A request, call or traffic.
    Request,
    /// Someone outside the mesh (user, browser, client).
    Client,
    /// Mutual TLS.
    Mtls,
    /// Plain TLS or a handshake.
    Tls,
    /// A certificate.
    Cert,
    /// A certificate signing request.
    Csr,
    /// The certificate authority.
    Ca,
    /// A workload identity (SPIFFE).
    Identity,
    /// Configuration, rules, routes, policies.
    Config,
    /// The request path (or its middle).
    Path,
    /// The mesh as a whole.
    Mesh,
    /// The network between pods.
    Network,
    /// Retries.
    Retry,
    /// Timeouts.
    Timeout,
    /// Circuit breaking and outlier detection.
    CircuitBreaking,
    /// Load balancing.
    LoadBalancing,
    /// A VirtualService.
    VirtualService,
    /// A DestinationRule.
    DestinationRule,
    /// Traffic policy.
    TrafficPolicy,
    /// Metrics, traces, logs, observability.
    Telemetry,
    /// Canary releases and traffic splitting.
    Canary,
    /// Kubernetes, pods and containers: context, not a diagram part.
    Platform,
}

/// What a verb does, as a synonym set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// is, are, acts as, serves as.
    Be,
    /// forms, belongs to, makes up, is part of (the agent is inside the object).
    Form,
    /// consists of, includes, contains, is made of (the object is inside the agent).
    Contain,
    /// has, comes with, gets (a sidecar).
    Have,
    /// forwards, relays, proxies, routes, carries, handles, intercepts.
    Forward,
    /// sends, passes, hands, gives, delivers, pushes, distributes.
    Transfer,
    /// goes, travels, flows, enters, arrives, reaches.
    Move,
    /// receives, accepts, gets, obtains, fetches.
    Receive,
    /// configures, programs, manages, controls, tells.
    Configure,
    /// signs, issues, mints.
    Sign,
    /// creates, generates, makes, produces.
    Create,
    /// encrypts, secures, protects, decrypts.
    Encrypt,
    /// verifies, checks, authenticates, presents, proves.
    Verify,
    /// retries, resends.
    Retry,
    /// uses, applies, enforces, performs, does.
    Apply,
    /// calls, talks to, communicates, connects.
    Call,
    /// runs, sits, lives, is deployed, is injected.
    Run,
    /// reports, emits, exports, collects, records.
    Report,
    /// defines, sets, holds, specifies, stores, writes.
    Define,
    /// stops, ejects, blocks, limits, rejects.
    Stop,
    /// Any other verb we recognise as a verb but give no meaning.
    Other,
}

/// A preposition, kept because relations hang on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prep {
    /// through, via.
    Through,
    /// by (the agent of a passive verb).
    By,
    /// to, towards, onto, ->.
    To,
    /// into.
    Into,
    /// from.
    From,
    /// between, among.
    Between,
    /// with.
    With,
    /// of.
    Of,
    /// in, inside, within.
    In,
    /// on, at.
    On,
    /// next to, beside, alongside, in front of.
    Beside,
    /// over, across.
    Over,
    /// for.
    For,
    /// as.
    As,
}

/// An adjective or adverb that changes what a sentence claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attr {
    /// unencrypted, plaintext, in clear text.
    Unencrypted,
    /// encrypted, secure.
    Encrypted,
    /// self-signed.
    SelfSigned,
    /// its own, itself.
    Own,
    /// only, just, merely.
    Only,
    /// from outside, external, the entry point.
    Outside,
    /// one-way, one side.
    OneWay,
    /// calling, client-side, caller's, outbound, source.
    Calling,
    /// receiving, server-side, destination, callee.
    Receiving,
    /// every, each, all.
    Every,
}

/// A word or phrase, recognised.
#[derive(Debug, Clone, PartialEq)]
pub enum Word {
    /// A concept, with what its own words say of its side of a call.
    Concept(Concept, Option<Attr>),
    /// A verb; `participle` for passive voice (`is forwarded`).
    Verb(Act, bool),
    /// not, never, no, nothing, without.
    Neg,
    /// A preposition.
    Prep(Prep),
    /// An adjective or adverb that matters.
    Attr(Attr),
    /// it, they, them.
    Pron,
    /// which, who, that (relative).
    Rel,
    /// and, or, plus.
    Conj,
    /// Words that end a clause: but, while, because, so, when.
    Boundary,
    /// Determiners and other small words.
    Det,
    /// Adverbs that change nothing: also, then, first.
    Adv,
    /// can, will, must, does, need.
    Aux,
    /// A possessive 's.
    Poss,
    /// Punctuation that ends a clause.
    Punct,
    /// A word we do not know.
    Unknown,
}

/// Phrases, longest first when matched. A word stands for its plural and
/// verb forms too (see [`lemmas`]).
const PHRASES: &[(&str, Word)] = {
    use Act::*;
    use Attr::*;
    use Concept::*;
    use Word::{Attr as A, Concept as C, Verb as V};
    &[
        ("control plane", C(ControlPlane, None)),
        ("control-plane", C(ControlPlane, None)),
        ("istiod", C(ControlPlane, None)),
        ("pilot", C(ControlPlane, None)),
        ("data plane", C(DataPlane, None)),
        ("data-plane", C(DataPlane, None)),
        ("sidecar proxy", C(Sidecar, None)),
        ("sidecar", C(Sidecar, None)),
        ("envoy sidecar", C(Sidecar, None)),
        ("envoy", C(Sidecar, None)),
        ("linkerd2-proxy", C(Sidecar, None)),
        ("proxy", C(Proxy, None)),
        ("ingress gateway", C(Ingress, None)),
        ("ingress", C(Ingress, None)),
        ("gateway", C(Ingress, None)),
        ("egress gateway", C(OtherGateway, None)),
        ("east-west gateway", C(OtherGateway, None)),
        ("service", C(Service, None)),
        ("microservice", C(Service, None)),
        ("app", C(Service, None)),
        ("application", C(Service, None)),
        ("workload", C(Service, None)),
        ("backend", C(Service, Some(Receiving))),
        ("frontend", C(Service, Some(Calling))),
        ("server", C(Service, Some(Receiving))),
        ("callee", C(Service, Some(Receiving))),
        ("caller", C(Service, Some(Calling))),
        ("service a", C(Service, Some(Calling))),
        ("service b", C(Service, Some(Receiving))),
        ("service one", C(Service, Some(Calling))),
        ("service two", C(Service, Some(Receiving))),
        ("first service", C(Service, Some(Calling))),
        ("second service", C(Service, Some(Receiving))),
        ("request", C(Request, None)),
        ("call", C(Request, None)),
        ("traffic", C(Request, None)),
        ("packet", C(Request, None)),
        ("message", C(Request, None)),
        ("byte", C(Request, None)),
        ("data", C(Request, None)),
        ("response", C(Request, None)),
        ("client", C(Client, None)),
        ("user", C(Client, None)),
        ("browser", C(Client, None)),
        ("internet", C(Client, None)),
        ("customer", C(Client, None)),
        ("visitor", C(Client, None)),
        ("someone", C(Client, None)),
        ("mtls", C(Mtls, None)),
        ("mutual tls", C(Mtls, None)),
        ("mutual-tls", C(Mtls, None)),
        ("mtls connection", C(Mtls, None)),
        ("tls", C(Tls, None)),
        ("handshake", C(Tls, None)),
        ("encryption", C(Tls, None)),
        ("certificate", C(Cert, None)),
        ("cert", C(Cert, None)),
        ("svid", C(Cert, None)),
        ("id card", C(Cert, None)),
        ("csr", C(Csr, None)),
        ("signing request", C(Csr, None)),
        ("key", C(Csr, None)),
        ("ca", C(Ca, None)),
        ("certificate authority", C(Ca, None)),
        ("trust bundle", C(Ca, None)),
        ("root certificate", C(Ca, None)),
        ("identity", C(Identity, None)),
        ("spiffe", C(Identity, None)),
        ("spiffe id", C(Identity, None)),
        ("configuration", C(Config, None)),
        ("config", C(Config, None)),
        ("rule", C(Config, None)),
        ("route", C(Config, None)),
        ("routing", C(Config, None)),
        ("policy", C(Config, None)),
        ("setting", C(Config, None)),
        ("listener", C(Config, None)),
        ("xds", C(Config, None)),
        ("request path", C(Path, None)),
        ("data path", C(Path, None)),
        ("path", C(Path, None)),
        ("middle", C(Path, None)),
        ("mesh", C(Mesh, None)),
        ("service mesh", C(Mesh, None)),
        ("network", C(Network, None)),
        ("wire", C(Network, None)),
        ("retry", C(Concept::Retry, None)),
        ("retry policy", C(Concept::Retry, None)),
        ("timeout", C(Timeout, None)),
        ("circuit breaking", C(CircuitBreaking, None)),
        ("circuit breaker", C(CircuitBreaking, None)),
        ("outlier detection", C(CircuitBreaking, None)),
        ("load balancing", C(LoadBalancing, None)),
        ("virtualservice", C(VirtualService, None)),
        ("virtual service", C(VirtualService, None)),
        ("destinationrule", C(DestinationRule, None)),
        ("destination rule", C(DestinationRule, None)),
        ("traffic policy", C(TrafficPolicy, None)),
        ("connection pool", C(TrafficPolicy, None)),
        ("connection limit", C(TrafficPolicy, None)),
        ("observability", C(Telemetry, None)),
        ("telemetry", C(Telemetry, None)),
        ("metric", C(Telemetry, None)),
        ("trace", C(Telemetry, None)),
        ("log", C(Telemetry, None)),
        ("access log", C(Telemetry, None)),
        ("canary", C(Canary, None)),
        ("traffic splitting", C(Canary, None)),
        ("traffic shifting", C(Canary, None)),
        ("kubernetes", C(Platform, None)),
        ("pod", C(Platform, None)),
        ("container", C(Platform, None)),
        ("node", C(Platform, None)),
        ("cluster", C(Platform, None)),
        // Verbs.
        ("is", V(Be, false)),
        ("are", V(Be, false)),
        ("was", V(Be, false)),
        ("were", V(Be, false)),
        ("be", V(Be, false)),
        ("been", V(Be, false)),
        ("being", V(Be, false)),
        ("act as", V(Be, false)),
        ("serve as", V(Be, false)),
        ("work as", V(Be, false)),
        ("function as", V(Be, false)),
        ("play the role of", V(Be, false)),
        ("is called", V(Be, false)),
        ("are called", V(Be, false)),
        ("is known as", V(Be, false)),
        ("are known as", V(Be, false)),
        ("become", V(Be, false)),
        ("form", V(Form, false)),
        ("make up", V(Form, false)),
        ("belong to", V(Form, false)),
        ("part of", V(Form, false)),
        ("compose", V(Form, false)),
        ("constitute", V(Form, false)),
        ("consist of", V(Contain, false)),
        ("made of", V(Contain, false)),
        ("made up of", V(Contain, false)),
        ("composed of", V(Contain, false)),
        ("include", V(Contain, false)),
        ("contain", V(Contain, false)),
        ("comprise", V(Contain, false)),
        ("have", V(Have, false)),
        ("has", V(Have, false)),
        ("had", V(Have, true)),
        ("come with", V(Have, false)),
        ("paired with", V(Have, true)),
        ("equipped with", V(Have, true)),
        ("forward", V(Forward, false)),
        ("relay", V(Forward, false)),
        ("route", V(Forward, false)),
        ("redirect", V(Forward, false)),
        ("carry", V(Forward, false)),
        ("transport", V(Forward, false)),
        ("handle", V(Forward, false)),
        ("process", V(Forward, false)),
        ("intercept", V(Forward, false)),
        ("proxy", V(Forward, false)),
        ("move", V(Forward, false)),
        ("terminate", V(Forward, false)),
        ("touch", V(Forward, false)),
        ("send", V(Transfer, false)),
        ("sent", V(Transfer, true)),
        ("pass", V(Transfer, false)),
        ("pass on", V(Transfer, false)),
        ("hand", V(Transfer, false)),
        ("hand out", V(Transfer, false)),
        ("give", V(Transfer, false)),
        ("gave", V(Transfer, false)),
        ("given", V(Transfer, true)),
        ("deliver", V(Transfer, false)),
        ("push", V(Transfer, false)),
        ("distribute", V(Transfer, false)),
        ("provide", V(Transfer, false)),
        ("supply", V(Transfer, false)),
        ("serve", V(Transfer, false)),
        ("return", V(Transfer, false)),
        ("go", V(Move, false)),
        ("goes", V(Move, false)),
        ("went", V(Move, false)),
        ("gone", V(Move, true)),
        ("travel", V(Move, false)),
        ("flow", V(Move, false)),
        ("enter", V(Move, false)),
        ("come", V(Move, false)),
        ("came", V(Move, false)),
        ("come in", V(Move, false)),
        ("arrive", V(Move, false)),
        ("reach", V(Move, false)),
        ("land", V(Move, false)),
        ("leave", V(Move, false)),
        ("cross", V(Move, false)),
        ("hop", V(Move, false)),
        ("->", V(Move, false)),
        ("receive", V(Receive, false)),
        ("accept", V(Receive, false)),
        ("get", V(Receive, false)),
        ("got", V(Receive, true)),
        ("obtain", V(Receive, false)),
        ("fetch", V(Receive, false)),
        ("pull", V(Receive, false)),
        ("load", V(Receive, false)),
        ("configure", V(Configure, false)),
        ("program", V(Configure, false)),
        ("manage", V(Configure, false)),
        ("control", V(Configure, false)),
        ("tell", V(Configure, false)),
        ("told", V(Configure, true)),
        ("instruct", V(Configure, false)),
        ("set up", V(Configure, false)),
        ("update", V(Configure, false)),
        ("orchestrate", V(Configure, false)),
        ("coordinate", V(Configure, false)),
        ("translate", V(Configure, false)),
        ("turn", V(Configure, false)),
        ("convert", V(Configure, false)),
        ("compile", V(Configure, false)),
        ("sign", V(Sign, false)),
        ("issue", V(Sign, false)),
        ("mint", V(Sign, false)),
        ("self-sign", V(Sign, false)),
        ("create", V(Create, false)),
        ("generate", V(Create, false)),
        ("make", V(Create, false)),
        ("made", V(Create, true)),
        ("produce", V(Create, false)),
        ("build", V(Create, false)),
        ("encrypt", V(Encrypt, false)),
        ("decrypt", V(Encrypt, false)),
        ("secure", V(Encrypt, false)),
        ("protect", V(Encrypt, false)),
        ("seal", V(Encrypt, false)),
        ("originate", V(Encrypt, false)),
        ("upgrade", V(Encrypt, false)),
        ("wrap", V(Encrypt, false)),
        ("verify", V(Verify, false)),
        ("check", V(Verify, false)),
        ("authenticate", V(Verify, false)),
        ("validate", V(Verify, false)),
        ("prove", V(Verify, false)),
        ("present", V(Verify, false)),
        ("show", V(Verify, false)),
        ("exchange", V(Verify, false)),
        ("identify", V(Verify, false)),
        ("trust", V(Verify, false)),
        ("retry", V(Act::Retry, false)),
        ("resend", V(Act::Retry, false)),
        ("re-send", V(Act::Retry, false)),
        ("try again", V(Act::Retry, false)),
        ("use", V(Apply, false)),
        ("deal with", V(Apply, false)),
        ("take care of", V(Apply, false)),
        ("apply", V(Apply, false)),
        ("enforce", V(Apply, false)),
        ("implement", V(Apply, false)),
        ("perform", V(Apply, false)),
        ("do", V(Apply, false)),
        ("done", V(Apply, true)),
        ("did", V(Apply, false)),
        ("execute", V(Apply, false)),
        ("run", V(Run, false)),
        ("ran", V(Run, false)),
        ("sit", V(Run, false)),
        ("sat", V(Run, false)),
        ("live", V(Run, false)),
        ("reside", V(Run, false)),
        ("deploy", V(Run, false)),
        ("inject", V(Run, false)),
        ("attach", V(Run, false)),
        ("put", V(Run, false)),
        ("place", V(Run, false)),
        ("stay", V(Run, false)),
        ("call", V(Call, false)),
        ("talk", V(Call, false)),
        ("communicate", V(Call, false)),
        ("connect", V(Call, false)),
        ("contact", V(Call, false)),
        ("open", V(Call, false)),
        ("speak", V(Call, false)),
        ("report", V(Report, false)),
        ("emit", V(Report, false)),
        ("export", V(Report, false)),
        ("collect", V(Report, false)),
        ("record", V(Report, false)),
        ("expose", V(Report, false)),
        ("observe", V(Report, false)),
        ("define", V(Define, false)),
        ("set", V(Define, false)),
        ("hold", V(Define, false)),
        ("held", V(Define, true)),
        ("specify", V(Define, false)),
        ("store", V(Define, false)),
        ("keep", V(Define, false)),
        ("kept", V(Define, true)),
        ("write", V(Define, false)),
        ("written", V(Define, true)),
        ("declare", V(Define, false)),
        ("watch", V(Define, false)),
        ("stop", V(Stop, false)),
        ("eject", V(Stop, false)),
        ("block", V(Stop, false)),
        ("limit", V(Stop, false)),
        ("reject", V(Stop, false)),
        ("refuse", V(Stop, false)),
        ("decide", V(Other, false)),
        ("need", V(Other, false)),
        ("take part", V(Other, false)),
        ("involve", V(Other, false)),
        ("choose", V(Other, false)),
        ("pick", V(Other, false)),
        ("know", V(Other, false)),
        ("think", V(Other, false)),
        ("see", V(Other, false)),
        ("let", V(Other, false)),
        ("keep working", V(Other, false)),
        ("work", V(Other, false)),
        ("help", V(Other, false)),
        ("want", V(Other, false)),
        ("ask", V(Other, false)),
        ("wait", V(Other, false)),
        ("fail", V(Other, false)),
        ("answer", V(Other, false)),
        ("balance", V(Other, false)),
        ("look", V(Other, false)),
        ("start", V(Other, false)),
        ("restart", V(Other, false)),
        ("split", V(Other, false)),
        ("shift", V(Other, false)),
        ("find", V(Other, false)),
        ("depend", V(Other, false)),
        ("appear", V(Other, false)),
        ("draw", V(Other, false)),
        ("drawn", V(Other, true)),
        ("explain", V(Other, false)),
        ("sing", V(Other, false)),
        ("score", V(Other, false)),
        // Grammar.
        ("not", Word::Neg),
        ("never", Word::Neg),
        ("no", Word::Neg),
        ("nothing", Word::Neg),
        ("none", Word::Neg),
        ("neither", Word::Neg),
        ("nor", Word::Neg),
        ("without", Word::Neg),
        ("instead of", Word::Neg),
        ("out of", Word::Neg),
        ("apart from", Word::Neg),
        ("rather than", Word::Neg),
        ("through", Word::Prep(Prep::Through)),
        ("via", Word::Prep(Prep::Through)),
        ("by", Word::Prep(Prep::By)),
        ("to", Word::Prep(Prep::To)),
        ("towards", Word::Prep(Prep::To)),
        ("onto", Word::Prep(Prep::To)),
        ("on to", Word::Prep(Prep::To)),
        ("into", Word::Prep(Prep::Into)),
        ("from", Word::Prep(Prep::From)),
        ("between", Word::Prep(Prep::Between)),
        ("among", Word::Prep(Prep::Between)),
        ("with", Word::Prep(Prep::With)),
        ("of", Word::Prep(Prep::Of)),
        ("in", Word::Prep(Prep::In)),
        ("inside", Word::Prep(Prep::In)),
        ("within", Word::Prep(Prep::In)),
        ("on", Word::Prep(Prep::On)),
        ("at", Word::Prep(Prep::On)),
        ("next to", Word::Prep(Prep::Beside)),
        ("beside", Word::Prep(Prep::Beside)),
        ("alongside", Word::Prep(Prep::Beside)),
        ("in front of", Word::Prep(Prep::Beside)),
        ("over", Word::Prep(Prep::Over)),
        ("across", Word::Prep(Prep::Over)),
        ("for", Word::Prep(Prep::For)),
        ("as", Word::Prep(Prep::As)),
        ("unencrypted", A(Unencrypted)),
        ("plaintext", A(Unencrypted)),
        ("plain text", A(Unencrypted)),
        ("clear text", A(Unencrypted)),
        ("cleartext", A(Unencrypted)),
        ("in the clear", A(Unencrypted)),
        ("in plain", A(Unencrypted)),
        ("encrypted", A(Encrypted)),
        ("self-signed", A(SelfSigned)),
        ("its own", A(Own)),
        ("their own", A(Own)),
        ("itself", A(Own)),
        ("themselves", A(Own)),
        ("only", A(Only)),
        ("just", A(Only)),
        ("merely", A(Only)),
        ("outside", A(Outside)),
        ("external", A(Outside)),
        ("entry point", A(Outside)),
        ("front door", A(Outside)),
        ("edge", A(Outside)),
        ("border", A(Outside)),
        ("north-south", A(Outside)),
        ("one-way", A(OneWay)),
        ("one side", A(OneWay)),
        ("calling", A(Calling)),
        ("client-side", A(Calling)),
        ("client side", A(Calling)),
        ("outbound", A(Calling)),
        ("source", A(Calling)),
        ("sending", A(Calling)),
        ("receiving", A(Receiving)),
        ("server-side", A(Receiving)),
        ("server side", A(Receiving)),
        ("destination", A(Receiving)),
        ("called", A(Receiving)),
        ("target", A(Receiving)),
        ("every", A(Every)),
        ("each", A(Every)),
        ("all", A(Every)),
        ("it", Word::Pron),
        ("they", Word::Pron),
        ("them", Word::Pron),
        ("he", Word::Pron),
        ("him", Word::Pron),
        ("which", Word::Rel),
        ("who", Word::Rel),
        ("and", Word::Conj),
        ("or", Word::Conj),
        ("plus", Word::Conj),
        ("as well as", Word::Conj),
        ("including", Word::Prep(Prep::With)),
        ("such as", Word::Prep(Prep::As)),
        ("like", Word::Prep(Prep::As)),
        ("together with", Word::Conj),
        ("but", Word::Boundary),
        ("while", Word::Boundary),
        ("whereas", Word::Boundary),
        ("because", Word::Boundary),
        ("so", Word::Boundary),
        ("since", Word::Boundary),
        ("although", Word::Boundary),
        ("though", Word::Boundary),
        ("however", Word::Boundary),
        ("when", Word::Boundary),
        ("if", Word::Boundary),
        ("where", Word::Boundary),
        ("before", Word::Boundary),
        ("after", Word::Boundary),
        ("until", Word::Boundary),
        ("the", Word::Det),
        ("a", Word::Det),
        ("an", Word::Det),
        ("its", Word::Det),
        ("their", Word::Det),
        ("his", Word::Det),
        ("our", Word::Det),
        ("both", Word::Det),
        ("any", Word::Det),
        ("some", Word::Det),
        ("these", Word::Det),
        ("those", Word::Det),
        ("this", Word::Det),
        ("other", Word::Det),
        ("another", Word::Det),
        ("same", Word::Det),
        ("also", Word::Adv),
        ("then", Word::Adv),
        ("first", Word::Adv),
        ("still", Word::Adv),
        ("already", Word::Adv),
        ("always", Word::Adv),
        ("actually", Word::Adv),
        ("two", Word::Det),
        ("three", Word::Det),
        ("several", Word::Det),
        ("many", Word::Det),
        ("multiple", Word::Det),
        ("can", Word::Aux),
        ("could", Word::Aux),
        ("will", Word::Aux),
        ("would", Word::Aux),
        ("shall", Word::Aux),
        ("should", Word::Aux),
        ("must", Word::Aux),
        ("may", Word::Aux),
        ("might", Word::Aux),
        ("does", Word::Aux),
        ("'s", Word::Poss),
    ]
};

/// Words that are nouns or verbs by position ("the requests" / "it requests").
pub const AMBIGUOUS: &[&str] = &[
    "request", "call", "route", "proxy", "retry", "process", "trace", "log", "report", "record",
    "control", "check", "limit", "balance", "split", "shift", "issue", "present", "sign", "answer",
    "work", "program", "keep", "set", "use", "return", "form", "handle", "show", "trust", "load",
    "start", "run", "stop", "hold", "act", "pass",
];

/// Function words, for telling prose from a list of terms.
pub const FUNCTION_WORDS: &[&str] = &[
    "the", "a", "an", "is", "are", "was", "were", "be", "to", "of", "in", "on", "at", "by", "for",
    "with", "from", "and", "or", "but", "it", "its", "they", "them", "their", "this", "that",
    "these", "those", "which", "who", "what", "when", "where", "then", "so", "not", "never",
    "does", "do", "has", "have", "can", "will", "each", "every", "all", "both", "into", "through",
    "before", "after", "because", "while", "also", "only", "there", "here", "if", "as", "one",
];

/// Irregular participles, for passive voice.
const PARTICIPLES: &[&str] = &[
    "sent", "done", "given", "made", "run", "held", "kept", "told", "written", "drawn", "gone",
    "got", "gotten", "put", "set", "known", "seen", "taken", "shown", "built",
];

/// The forms a word may be an inflection of: `proxies` → `proxy`,
/// `forwarded` → `forward`, `carries` → `carry`, `making` → `make`.
pub fn lemmas(word: &str) -> Vec<String> {
    let mut out = vec![word.to_string()];
    let mut add = |s: String| {
        if s.len() >= 2 && !out.contains(&s) {
            out.push(s);
        }
    };
    for (suffix, repl) in [
        ("ies", "y"),
        ("ied", "y"),
        ("ses", "s"),
        ("es", ""),
        ("s", ""),
        ("ed", ""),
        ("ed", "e"),
        ("d", ""),
        ("ing", ""),
        ("ing", "e"),
    ] {
        if let Some(stem) = word.strip_suffix(suffix) {
            add(format!("{stem}{repl}"));
            // Doubled consonant: `stopped` → `stop`, `mapping` → `map`.
            let b = stem.as_bytes();
            if b.len() >= 2 && b[b.len() - 1] == b[b.len() - 2] && repl.is_empty() {
                add(stem[..stem.len() - 1].to_string());
            }
        }
    }
    out
}

/// Whether a surface form is a past participle (`forwarded`, `sent`).
pub fn is_participle(word: &str) -> bool {
    word.ends_with("ed") || PARTICIPLES.contains(&word)
}

/// Matches the longest phrase starting at `words[i]` (an exact spelling
/// beats an inflection of the same length); returns the word and how many
/// words it covers.
pub fn lookup(words: &[String], i: usize) -> Option<(Word, usize)> {
    let mut best: Option<(Word, usize, bool)> = None;
    for (phrase, word) in PHRASES {
        let parts: Vec<&str> = phrase.split(' ').collect();
        let n = parts.len();
        if i + n > words.len() {
            continue;
        }
        let mut exact = true;
        // The first and last words of a phrase inflect (`belongs to`,
        // `sidecar proxies`); the middle ones do not.
        let ok = parts.iter().enumerate().all(|(k, p)| {
            let w = &words[i + k];
            if w == p {
                true
            } else if k == n - 1 || k == 0 {
                exact = false;
                lemmas(w).iter().any(|l| l == p)
            } else {
                false
            }
        });
        if !ok {
            continue;
        }
        let better = match &best {
            None => true,
            Some((_, m, e)) => n > *m || (n == *m && exact && !*e),
        };
        if better {
            let word = match word {
                Word::Verb(a, p) => Word::Verb(*a, *p || (n == 1 && is_participle(&words[i]))),
                other => other.clone(),
            };
            best = Some((word, n, exact));
        }
    }
    best.map(|(w, n, _)| (w, n))
}

/// Whether `word` has a noun reading and a verb reading.
pub fn ambiguous(word: &str) -> bool {
    lemmas(word).iter().any(|l| AMBIGUOUS.contains(&l.as_str()))
}

/// The noun and verb readings of a phrase, for words in [`AMBIGUOUS`].
pub fn readings(words: &[String], i: usize) -> (Option<(Word, usize)>, Option<(Word, usize)>) {
    let mut noun = None;
    let mut verb = None;
    for (phrase, word) in PHRASES {
        let parts: Vec<&str> = phrase.split(' ').collect();
        if parts.len() != 1 {
            continue;
        }
        if lemmas(&words[i]).iter().any(|l| l == parts[0]) {
            match word {
                Word::Verb(a, p) => {
                    verb = Some((Word::Verb(*a, *p || is_participle(&words[i])), 1));
                }
                Word::Concept(..) => noun = Some((word.clone(), 1)),
                _ => {}
            }
        }
    }
    (noun, verb)
}
