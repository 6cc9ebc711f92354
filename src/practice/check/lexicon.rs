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
    /// A library or the application's code.
    Library,
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
    /// shares (one sidecar between services).
    Share,
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
    /// thinks, believes, says: what follows is reported, not asserted.
    Think,
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

/// Each word as a set of spellings (`|`-separated phrases). A word stands
/// for its plural and verb forms too (see [`lemmas`]).
const SYNONYMS: &[(Word, &str)] = {
    use Act::*;
    use Attr::*;
    use Concept::*;
    use Word::{Attr as A, Concept as C};
    const fn v(a: Act) -> Word {
        Word::Verb(a, false)
    }
    &[
        (C(ControlPlane, None), "control plane|control-plane|istiod|pilot"),
        (C(DataPlane, None), "data plane|data-plane"),
        (C(Sidecar, None), "sidecar proxy|sidecar|envoy sidecar|envoy|linkerd2-proxy"),
        (C(Proxy, None), "proxy"),
        (C(Ingress, None), "ingress gateway|ingress|gateway"),
        (C(OtherGateway, None), "egress gateway|east-west gateway"),
        (C(Service, None), "service|microservice|app|application|workload"),
        (C(Service, Some(Receiving)), "backend|server|callee|service b|service two|second service"),
        (C(Service, Some(Calling)), "frontend|caller|service a|service one|first service"),
        (C(Request, None), "request|call|traffic|packet|message|byte|data|response"),
        (C(Client, None), "client|user|browser|internet|customer|visitor|someone"),
        (C(Mtls, None), "mtls|mutual tls|mutual-tls|mtls connection"),
        (C(Tls, None), "tls|handshake|encryption"),
        (C(Cert, None), "certificate|cert|svid|id card"),
        (C(Csr, None), "csr|signing request|key"),
        (C(Ca, None), "ca|certificate authority|trust bundle|root certificate"),
        (C(Identity, None), "identity|spiffe|spiffe id"),
        (C(Config, None), "configuration|config|rule|route|routing|policy|setting|listener|xds"),
        (C(Path, None), "request path|data path|path|middle"),
        (C(Mesh, None), "mesh|service mesh"),
        (C(Network, None), "network|wire"),
        (C(Concept::Retry, None), "retry|retry policy"),
        (C(Timeout, None), "timeout"),
        (C(CircuitBreaking, None), "circuit breaking|circuit breaker|outlier detection"),
        (C(LoadBalancing, None), "load balancing"),
        (C(VirtualService, None), "virtualservice|virtual service"),
        (C(DestinationRule, None), "destinationrule|destination rule"),
        (C(TrafficPolicy, None), "traffic policy|connection pool|connection limit"),
        (C(Telemetry, None), "observability|telemetry|metric|trace|log|access log"),
        (C(Canary, None), "canary|traffic splitting|traffic shifting"),
        (C(Platform, None), "kubernetes|pod|container|node|cluster"),
        (C(Library, None), "library|sdk|code|codebase|binary"),
        (v(Be), "is|are|was|were|be|been|being|act as|serve as|work as|function as|play the role of|is called|are called|is known as|are known as|become"),
        (v(Form), "form|make up|belong to|part of|compose|constitute"),
        (v(Contain), "consist of|made of|made up of|composed of|include|contain|comprise"),
        (v(Have), "have|has|had|come with|paired with|equipped with"),
        (v(Share), "share"),
        (v(Forward), "forward|relay|route|redirect|carry|transport|handle|process|intercept|proxy|move|terminate|touch"),
        (v(Transfer), "send|sent|pass|pass on|hand|hand out|give|gave|given|deliver|push|distribute|provide|supply|serve|return"),
        (v(Move), "go|goes|went|gone|travel|flow|enter|come|came|come in|arrive|reach|land|leave|cross|hop|->"),
        (v(Receive), "receive|accept|get|got|obtain|fetch|pull|load"),
        (v(Configure), "configure|program|manage|control|tell|told|instruct|set up|update|orchestrate|coordinate|translate|turn|convert|compile"),
        (v(Sign), "sign|issue|mint|self-sign"),
        (v(Create), "create|generate|make|made|produce|build"),
        (v(Encrypt), "encrypt|decrypt|secure|protect|seal|originate|upgrade|wrap"),
        (v(Verify), "verify|check|authenticate|validate|prove|present|show|exchange|identify|trust"),
        (v(Act::Retry), "retry|resend|re-send|try again"),
        (v(Apply), "use|deal with|take care of|apply|enforce|implement|perform|do|done|did|execute"),
        (v(Run), "run|ran|sit|sat|live|reside|deploy|inject|attach|put|place|stay"),
        (v(Call), "call|talk|communicate|connect|contact|open|speak"),
        (v(Report), "report|emit|export|collect|record|expose|observe"),
        (v(Define), "define|set|hold|held|specify|store|keep|kept|write|written|declare|watch"),
        (v(Stop), "stop|eject|block|limit|reject|refuse|go down|goes down|went down|is down|are down|crash|fail|die|break down|halt"),
        (v(Think), "think|believe|assume|suppose|imagine|claim|say|said"),
        (v(Other), "decide|need|take part|involve|choose|pick|know|see|let|keep working|work|help|want|ask|wait|answer|balance|look|start|restart|split|shift|find|depend|appear|draw|drawn|explain|sing|score"),
        (Word::Neg, "not|never|no|nothing|none|neither|nor|without|instead of|out of|apart from|rather than|unlike|as opposed to|in contrast to|off|away from"),
        // "There is a data plane." asserts nothing about it.
        (Word::Det, "there is|there are|there was|there were"),
        (Word::Prep(Prep::Through), "through|via"),
        (Word::Prep(Prep::By), "by"),
        (Word::Prep(Prep::To), "to|towards|onto|on to"),
        (Word::Prep(Prep::Into), "into"),
        (Word::Prep(Prep::From), "from"),
        (Word::Prep(Prep::Between), "between|among"),
        (Word::Prep(Prep::With), "with|including"),
        (Word::Prep(Prep::Of), "of"),
        (Word::Prep(Prep::In), "in|inside|within"),
        (Word::Prep(Prep::On), "on|at"),
        (Word::Prep(Prep::Beside), "next to|beside|alongside|in front of"),
        (Word::Prep(Prep::Over), "over|across"),
        (Word::Prep(Prep::For), "for"),
        (Word::Prep(Prep::As), "as|such as|like"),
        (A(Unencrypted), "unencrypted|plaintext|plain text|plain-text|plain http|clear text|cleartext|in the clear|in plain"),
        (A(Encrypted), "encrypted"),
        (A(SelfSigned), "self-signed"),
        (A(Own), "its own|their own|itself|themselves"),
        (A(Only), "only|just|merely"),
        (A(Outside), "outside|external|entry point|front door|edge|border|north-south"),
        (A(OneWay), "one-way|one side"),
        (A(Calling), "calling|client-side|client side|outbound|source|sending"),
        (A(Receiving), "receiving|server-side|server side|destination|called|target"),
        (A(Every), "every|each|all"),
        (Word::Pron, "it|they|them|he|him"),
        (Word::Rel, "which|who"),
        (Word::Conj, "and|or|plus|as well as|together with"),
        (Word::Boundary, "but|while|whereas|because|so|since|although|though|however|when|if|where|before|after|until"),
        (Word::Det, "the|a|an|its|their|his|our|both|any|some|these|those|this|other|another|same|two|three|several|many|multiple"),
        (Word::Adv, "also|then|first|still|already|always|actually"),
        (Word::Aux, "can|could|will|would|shall|should|must|may|might|does"),
        (Word::Poss, "'s"),
    ]
};

/// The phrases of [`SYNONYMS`], split into words once.
static PHRASES: std::sync::LazyLock<Vec<(Vec<&'static str>, Word)>> =
    std::sync::LazyLock::new(|| {
        SYNONYMS
            .iter()
            .flat_map(|(word, spellings)| {
                spellings
                    .split('|')
                    .map(move |p| (p.split(' ').collect(), word.clone()))
            })
            .collect()
    });

/// Words that are nouns or verbs by position ("the requests" / "it requests").
pub const AMBIGUOUS: &[&str] = &[
    "request", "call", "route", "proxy", "retry", "process", "trace", "log", "report", "record",
    "control", "check", "limit", "balance", "split", "shift", "issue", "present", "sign", "answer",
    "work", "program", "keep", "set", "use", "return", "form", "handle", "show", "trust", "load",
    "start", "run", "stop", "hold", "act", "pass",
];

/// Words that say a reported claim is wrong ("a common mistake is to
/// think that ...").
pub const DENIALS: &[&str] = &[
    "mistake",
    "mistaken",
    "myth",
    "misconception",
    "wrong",
    "false",
    "untrue",
    "incorrect",
    "misunderstanding",
    "error",
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
    // Quality of a match: 2 spelled as listed, 1 an inflection, 0 a typo.
    let mut best: Option<(Word, usize, u8)> = None;
    for (parts, word) in PHRASES.iter() {
        let n = parts.len();
        if i + n > words.len() {
            continue;
        }
        // Typos are forgiven in the names of things and actions only, and
        // only in long words, where one slip cannot make another word.
        let forgiving = matches!(word, Word::Concept(..) | Word::Verb(..));
        let mut quality = 2;
        // The first and last words of a phrase inflect (`belongs to`,
        // `sidecar proxies`); the middle ones do not.
        let ok = parts.iter().enumerate().all(|(k, p)| {
            let w = &words[i + k];
            if w == p {
                true
            } else if k == n - 1 || k == 0 {
                if lemmas(w).iter().any(|l| l == p) {
                    quality = quality.min(1);
                    true
                } else if forgiving && p.len() >= 6 && lemmas(w).iter().any(|l| one_slip(l, p)) {
                    quality = 0;
                    true
                } else {
                    false
                }
            } else {
                false
            }
        });
        if !ok {
            continue;
        }
        let better = match &best {
            None => true,
            Some((_, m, q)) => n > *m || (n == *m && quality > *q),
        };
        if better {
            let word = match word {
                Word::Verb(a, _) => Word::Verb(*a, is_participle(&words[i])),
                other => other.clone(),
            };
            best = Some((word, n, quality));
        }
    }
    best.map(|(w, n, _)| (w, n))
}

/// One letter wrong, missing, extra, or two letters swapped: "sidcar",
/// "controll", "fowards".
fn one_slip(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a == b || a.len().abs_diff(b.len()) > 1 {
        return a == b;
    }
    let start = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let (ra, rb) = (&a[start..], &b[start..]);
    match ra.len().cmp(&rb.len()) {
        std::cmp::Ordering::Equal => {
            ra[1..] == rb[1..]
                || (ra.len() >= 2 && ra[0] == rb[1] && ra[1] == rb[0] && ra[2..] == rb[2..])
        }
        std::cmp::Ordering::Less => ra == &rb[1..],
        std::cmp::Ordering::Greater => &ra[1..] == rb,
    }
}

/// Whether `word` has a noun reading and a verb reading.
pub fn ambiguous(word: &str) -> bool {
    lemmas(word).iter().any(|l| AMBIGUOUS.contains(&l.as_str()))
}

/// A word as read, and how many words it covers.
pub type Reading = (Word, usize);

/// The noun and verb readings of a phrase, for words in [`AMBIGUOUS`].
pub fn readings(words: &[String], i: usize) -> (Option<Reading>, Option<Reading>) {
    let mut noun = None;
    let mut verb = None;
    for (parts, word) in PHRASES.iter() {
        if parts.len() != 1 || !lemmas(&words[i]).iter().any(|l| l == parts[0]) {
            continue;
        }
        match word {
            Word::Verb(a, _) => verb = Some((Word::Verb(*a, is_participle(&words[i])), 1)),
            Word::Concept(..) => noun = Some((word.clone(), 1)),
            _ => {}
        }
    }
    (noun, verb)
}
