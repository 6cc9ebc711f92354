//! From text to claims: sentences, then words tagged with the lexicon, then
//! clauses, then frames (who does what to whom, through what, negated or
//! not). Rules judge frames, so "the control plane relays the call", "the
//! call is relayed by the control plane" and "calls go through the control
//! plane" land on the same claim, and "never"/"does not" flip it.

use super::lexicon::{self, Act, Attr, Concept, Prep, Word};
use super::words::{self, Tok};

pub use super::words::split_sentences;

/// A concept as one sentence uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ent {
    /// What it is.
    pub c: Concept,
    /// Which side of a call it is on, or `Own`.
    pub side: Option<Attr>,
    /// Denied ("not the control plane", "no request").
    pub neg: bool,
}

/// One claim: agents do an action to patients, with prepositional phrases.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Who acts (for passive verbs, the `by` phrase).
    pub agents: Vec<Ent>,
    /// The action.
    pub act: Act,
    /// What is acted on (for passive verbs, the grammatical subject).
    pub patients: Vec<Ent>,
    /// Prepositional phrases: "through the control plane".
    pub preps: Vec<(Prep, Ent)>,
    /// Adjectives and adverbs in the clause: "unencrypted", "only".
    pub attrs: Vec<Attr>,
    /// Negated: "does not", "never", "without".
    pub neg: bool,
    /// Passive voice.
    pub passive: bool,
}

impl Sentence {
    /// Whether one of its claims relates two different concepts ("the
    /// sidecars form the data plane"), rather than naming one ("the
    /// sidecar is great").
    pub fn relates(&self) -> bool {
        self.frames.iter().any(|f| {
            let mut cs: Vec<Concept> = f
                .agents
                .iter()
                .chain(&f.patients)
                .chain(f.preps.iter().map(|(_, e)| e))
                .map(|e| e.c)
                .collect();
            cs.sort();
            cs.dedup();
            cs.len() >= 2
        })
    }
}

impl Frame {
    /// Something in it is denied: the verb or one of its participants.
    pub fn denies_something(&self) -> bool {
        self.neg
            || self.agents.iter().chain(&self.patients).any(|e| e.neg)
            || self.preps.iter().any(|(_, e)| e.neg)
    }

    /// The same claim with every negation removed: what it denies.
    pub fn affirmed(&self) -> Frame {
        let undo = |e: &Ent| Ent { neg: false, ..*e };
        Frame {
            agents: self.agents.iter().map(undo).collect(),
            patients: self.patients.iter().map(undo).collect(),
            preps: self.preps.iter().map(|(p, e)| (*p, undo(e))).collect(),
            neg: false,
            ..self.clone()
        }
    }

    /// Asserted, not denied: neither the verb nor its agent is negated.
    pub fn positive(&self) -> bool {
        !self.neg && !self.agents.iter().any(|e| e.neg)
    }
}

/// A sentence with what was recognised in it.
#[derive(Debug, Clone, Default)]
pub struct Sentence {
    /// The sentence as written.
    pub text: String,
    /// Its claims.
    pub frames: Vec<Frame>,
    /// Every concept it names, in order.
    pub concepts: Vec<Ent>,
    /// Every attribute it uses.
    pub attrs: Vec<Attr>,
    /// Words in it.
    pub words: usize,
    /// Words that belong to a concept's name.
    pub term_words: usize,
    /// Concept names.
    pub terms: usize,
    /// Verbs.
    pub verbs: usize,
    /// Function words (the, of, is...).
    pub function_words: usize,
    /// A line of a bulleted list.
    pub bullet: bool,
}

/// Builds frames, sentence after sentence, remembering the last subject so
/// "it" and subject-less clauses find theirs.
#[derive(Default)]
pub struct Reader {
    /// The subject that clauses without one inherit.
    carry: Vec<Ent>,
    /// The claims of the previous sentence, if it was a question: a
    /// verb-less answer completes them.
    question: Option<Vec<Frame>>,
    /// The last thing (request, config, certificate) named, for "it" as an object.
    last_thing: Option<Ent>,
}

impl Reader {
    /// Reads one sentence.
    pub fn sentence(&mut self, text: &str, bullet: bool) -> Sentence {
        let toks = words::tokens(text);
        let mut s = Sentence {
            text: text.to_string(),
            bullet,
            words: text
                .split_whitespace()
                .filter(|w| w.chars().any(char::is_alphanumeric))
                .count(),
            ..Sentence::default()
        };
        for t in &toks {
            match &t.word {
                Word::Concept(c, side) => {
                    s.terms += 1;
                    s.term_words += t.len;
                    s.concepts.push(Ent {
                        c: *c,
                        side: *side,
                        neg: false,
                    });
                }
                Word::Verb(..) => s.verbs += 1,
                Word::Attr(a) => s.attrs.push(*a),
                _ => {}
            }
        }
        s.function_words = words::function_words(text);
        // "Data plane: the gateway and the sidecars, which carry...": a
        // colon after a verb-less name, before a clause, means "is".
        let mut toks = toks;
        let mut since = 0;
        for i in 0..toks.len() {
            if toks[i].text == ":" {
                let left = &toks[since..i];
                let names = left.iter().any(|t| matches!(t.word, Word::Concept(..)))
                    && !left.iter().any(|t| matches!(t.word, Word::Verb(..)));
                let clause_after = toks[i + 1..]
                    .iter()
                    .any(|t| matches!(t.word, Word::Verb(..)));
                if names && clause_after {
                    toks[i].word = Word::Verb(Act::Be, false);
                }
            }
            if matches!(toks[i].word, Word::Punct | Word::Boundary) {
                since = i + 1;
            }
        }
        // Clauses: split at punctuation and at words like "but", "because".
        // Each clause with whether a comma (rather than a colon, a
        // semicolon or "because") separates it from the one before: only a
        // comma continues a subject or a list.
        let mut clauses: Vec<(&[Tok], bool)> = Vec::new();
        let mut start = 0;
        let mut comma = false;
        for (i, t) in toks.iter().enumerate() {
            if matches!(t.word, Word::Punct | Word::Boundary) {
                if i > start {
                    clauses.push((&toks[start..i], comma));
                    comma = true;
                }
                comma &= t.text == ",";
                start = i + 1;
            }
        }
        if start < toks.len() {
            clauses.push((&toks[start..], comma));
        }
        let mut st = SentenceState::default();
        // "Running next to each service, a sidecar intercepts...": a
        // sentence that opens with an -ing verb takes the subject named
        // after the comma.
        let opens_with_ing = clauses.first().is_some_and(|(c, _)| {
            c.first()
                .is_some_and(|t| matches!(t.word, Word::Verb(..)) && t.text.ends_with("ing"))
        });
        let mut deferred = 0;
        let mut first_clause = true;
        for (c, comma) in clauses {
            if opens_with_ing && !first_clause && deferred > 0 {
                let before = s.frames.len();
                self.clause(c, &mut s.frames, &mut st);
                let subject = s
                    .frames
                    .get(before)
                    .map(|f| f.agents.clone())
                    .unwrap_or_default();
                if !subject.is_empty()
                    && c.iter()
                        .take_while(|t| !matches!(t.word, Word::Verb(..)))
                        .any(|t| matches!(t.word, Word::Concept(..)))
                {
                    for f in &mut s.frames[..deferred] {
                        f.agents = subject.clone();
                    }
                    deferred = 0;
                }
                continue;
            }
            if !comma {
                st.pending.clear();
                st.pending_preps.clear();
                st.floating = false;
            }
            self.clause(c, &mut s.frames, &mut st);
            if opens_with_ing && first_clause {
                deferred = s.frames.len();
                for f in &mut s.frames {
                    f.agents.clear();
                }
            } else if opens_with_ing && deferred > 0 && s.frames.len() > deferred {
                // A "while ..." clause without its own subject is still
                // part of the opening phrase.
                deferred = s.frames.len();
            }
            first_clause = false;
        }
        // "A common mistake is to think that X": X is denied, not claimed.
        let lower = text.to_lowercase();
        let denied = lower
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| lexicon::DENIALS.contains(&w));
        if let (true, Some(at)) = (denied, s.frames.iter().position(|f| f.act == Act::Think)) {
            for f in &mut s.frames[at + 1..] {
                f.neg = !f.neg;
            }
        }
        // "And the control plane? It configures...": a verb-less sentence
        // names the subject of the next one.
        if s.frames.is_empty() && !st.pending.is_empty() {
            self.carry = std::mem::take(&mut st.pending);
        }
        self.question = text.trim_end().ends_with('?').then(|| s.frames.clone());
        s
    }

    fn clause(&mut self, toks: &[Tok], frames: &mut Vec<Frame>, st: &mut SentenceState) {
        let first = frames.len();
        let mut subj: Vec<Ent> = Vec::new();
        let mut pre_preps: Vec<(Prep, Ent)> = Vec::new();
        let mut pre_attrs: Vec<Attr> = Vec::new();
        let mut neg = false;
        let mut neg_ent = false;
        let mut prep: Option<Prep> = None;
        let mut rel: Option<Option<Ent>> = None;
        let mut rel_inner: Vec<Ent> = Vec::new();
        let mut rel_frame: Option<usize> = None;
        let mut conj_subj: Vec<Ent> = Vec::new();
        let mut conj_preps: Vec<(Prep, Ent)> = Vec::new();
        let mut after_conj = false;
        let mut aux_be = false;
        let mut verb_fresh = false;
        let mut unknown_subject = false;
        let mut side: Option<Attr> = None;
        let mut last_ent = st.last_ent;
        let mut pron_subject = false;
        let mut saw_neg = false;
        let mut last_prep: Option<Prep> = None;
        for (k, t) in toks.iter().enumerate() {
            let next = toks[k + 1..]
                .iter()
                .find(|n| {
                    !matches!(n.word, Word::Det | Word::Adv | Word::Neg | Word::Aux)
                        && !matches!(n.word, Word::Attr(Attr::Only | Attr::Every))
                })
                .map(|n| &n.word);
            match &t.word {
                Word::Neg => {
                    saw_neg = true;
                    // "configures them without forwarding": "without" denies
                    // what follows, never the verb before.
                    if verb_fresh && frames.len() > first && t.text != "without" {
                        if let Some(f) = frames.last_mut() {
                            f.neg = true;
                        }
                    } else {
                        neg_ent = matches!(next, Some(Word::Concept(..) | Word::Prep(_)));
                        neg = true;
                    }
                }
                Word::Prep(p) => {
                    prep = Some(*p);
                    verb_fresh = false;
                }
                Word::Attr(a) => {
                    if matches!(
                        a,
                        Attr::Calling | Attr::Receiving | Attr::Own | Attr::Outside
                    ) && matches!(toks.get(k + 1).map(|n| &n.word), Some(Word::Concept(..)))
                    {
                        side = Some(*a);
                    }
                    match frames.get_mut(first..).and_then(|f| f.last_mut()) {
                        Some(f) => f.attrs.push(*a),
                        None => pre_attrs.push(*a),
                    }
                }
                Word::Concept(c, own_side) => {
                    // "routing rules", "mTLS handshake": a compound noun
                    // takes the place of its first word.
                    if k > 0 && matches!(toks[k - 1].word, Word::Concept(..)) && prep.is_none() {
                        prep = last_prep;
                    }
                    last_prep = prep;
                    let e = Ent {
                        c: *c,
                        side: own_side.or(side.take()),
                        neg: std::mem::take(&mut neg_ent),
                    };
                    if e.neg {
                        neg = false;
                    }
                    verb_fresh = false;
                    last_ent = Some(e);
                    if matches!(
                        e.c,
                        Concept::Request
                            | Concept::Config
                            | Concept::Cert
                            | Concept::Csr
                            | Concept::Telemetry
                    ) {
                        self.last_thing = Some(e);
                    }
                    let has_frame = frames.len() > first;
                    if let Some(p) = prep.take() {
                        if !conj_subj.is_empty() {
                            conj_preps.push((p, e));
                        } else if let (true, Some(f)) = (has_frame, frames.last_mut()) {
                            if f.passive && p == Prep::By {
                                f.agents.push(e);
                            } else {
                                f.preps.push((p, e));
                            }
                        } else {
                            pre_preps.push((p, e));
                        }
                    } else if has_frame {
                        if let Some(f) = frames.last_mut() {
                            f.patients.push(e);
                        }
                        if after_conj {
                            conj_subj.push(e);
                        }
                    } else if rel.is_some() {
                        rel_inner.push(e);
                    } else {
                        subj.push(e);
                    }
                }
                Word::Pron => {
                    verb_fresh = false;
                    let has_frame = frames.len() > first;
                    if has_frame || rel.is_some() || prep.is_some() {
                        // "pass through it": the subject talked about, unless
                        // it is the one acting; "forwards it": the request.
                        let cur_agents: Vec<Ent> = frames
                            .get(first..)
                            .and_then(|f| f.last())
                            .map(|f| f.agents.clone())
                            .unwrap_or_default();
                        let about = self.carry.iter().find(|e| !cur_agents.contains(e)).copied();
                        let o = if prep.is_some() && t.text == "it" {
                            about.or(self.last_thing)
                        } else {
                            self.last_thing
                        };
                        if let (Some(o), Some(f)) =
                            (o, frames.get_mut(first..).and_then(|f| f.last_mut()))
                        {
                            match prep.take() {
                                Some(p) => f.preps.push((p, o)),
                                None => f.patients.push(o),
                            }
                        }
                        prep = None;
                    } else {
                        pron_subject = true;
                        subj.extend(self.carry.iter().copied());
                    }
                }
                Word::Rel => {
                    rel = Some(last_ent.or(st.last_ent));
                    rel_inner.clear();
                }
                Word::Conj => {
                    if frames.len() > first {
                        after_conj = true;
                    }
                }
                Word::Unknown => {
                    let before_concept =
                        matches!(toks.get(k + 1).map(|n| &n.word), Some(Word::Concept(..)));
                    let in_prep = prep.is_some();
                    if !before_concept {
                        prep = None;
                    }
                    if frames.len() == first && rel.is_none() && !in_prep && subj.is_empty() {
                        unknown_subject = true;
                    }
                    verb_fresh = false;
                }
                Word::Verb(act, participle) => {
                    // "is forwarded", "is not part of": `be` as an auxiliary.
                    if matches!(act, Act::Be | Act::Have) && matches!(next, Some(Word::Verb(..))) {
                        aux_be |= *act == Act::Be;
                        continue;
                    }
                    let mut passive = aux_be
                        && *participle
                        && !matches!(act, Act::Contain | Act::Form | Act::Be | Act::Have);
                    // "certificates signed by the CA": a participle after its noun.
                    let reduced = !aux_be
                        && *participle
                        && k > 0
                        && matches!(toks[k - 1].word, Word::Concept(..))
                        && matches!(toks.get(k + 1).map(|n| &n.word), Some(Word::Prep(Prep::By)));
                    let has_frame = frames.len() > first;
                    let gerund_of_neg =
                        prep.is_some() && has_frame && frames.last().is_some_and(|f| f.neg);
                    let mut patients = Vec::new();
                    let mut preps = Vec::new();
                    // "tells the sidecar to retry", "configures the proxies
                    // to route traffic": the one told is the one who acts.
                    let told = (prep == Some(Prep::To) && has_frame)
                        .then(|| frames.last())
                        .flatten()
                        .filter(|f| f.act == Act::Configure && !f.passive)
                        .and_then(|f| f.patients.last().copied());
                    let agents: Vec<Ent> = if reduced {
                        passive = true;
                        last_ent.into_iter().collect()
                    } else if let Some(object) = told {
                        vec![object]
                    } else if let Some(ante) = rel.take() {
                        if rel_inner.is_empty() {
                            rel_frame = Some(frames.len());
                            ante.into_iter().collect()
                        } else {
                            patients.extend(ante);
                            std::mem::take(&mut rel_inner)
                        }
                    } else if !conj_subj.is_empty()
                        && k > 0
                        && toks[..k]
                            .iter()
                            .rev()
                            .find(|t| {
                                !matches!(
                                    t.word,
                                    Word::Det | Word::Adv | Word::Aux | Word::Neg | Word::Attr(_)
                                )
                            })
                            .is_some_and(|t| matches!(t.word, Word::Concept(..)))
                    {
                        // "configures the sidecars and the sidecars carry":
                        // the names right before the verb are its subject.
                        if let Some(f) = frames.last_mut() {
                            remove_last(&mut f.patients, &conj_subj);
                        }
                        preps = std::mem::take(&mut conj_preps);
                        std::mem::take(&mut conj_subj)
                    } else if has_frame {
                        // "X, which checks them and relays it": still the
                        // relative clause; "the sidecar that receives it
                        // forwards it": back to the main subject.
                        if rel_frame == Some(frames.len() - 1) && !after_conj {
                            if subj.is_empty() {
                                st.pending.clone()
                            } else {
                                subj.clone()
                            }
                        } else {
                            if rel_frame == Some(frames.len() - 1) {
                                rel_frame = Some(frames.len());
                            }
                            frames
                                .last()
                                .map(|f| {
                                    if f.passive {
                                        f.patients.clone()
                                    } else {
                                        f.agents.clone()
                                    }
                                })
                                .unwrap_or_default()
                        }
                    } else if !subj.is_empty() {
                        let mut a = std::mem::take(&mut st.pending);
                        if std::mem::take(&mut st.floating) {
                            a.clear();
                            st.pending_preps.clear();
                        }
                        preps.append(&mut st.pending_preps);
                        a.extend(subj.iter().copied());
                        subj = a.clone();
                        a
                    } else if unknown_subject {
                        preps.append(&mut st.pending_preps);
                        Vec::new()
                    } else if !st.pending.is_empty() {
                        subj = std::mem::take(&mut st.pending);
                        if std::mem::take(&mut st.floating) {
                            if let Some(f) = frames.last_mut() {
                                remove_last(&mut f.patients, &subj);
                            }
                        }
                        preps.append(&mut st.pending_preps);
                        subj.clone()
                    } else {
                        preps.append(&mut st.pending_preps);
                        self.carry.clone()
                    };
                    let (agents, patients) = if passive && !reduced {
                        (Vec::new(), [agents, patients].concat())
                    } else if reduced {
                        (Vec::new(), agents)
                    } else {
                        (agents, patients)
                    };
                    if !has_frame {
                        preps.append(&mut pre_preps);
                    }
                    frames.push(Frame {
                        agents,
                        act: *act,
                        patients,
                        preps,
                        attrs: if has_frame {
                            Vec::new()
                        } else {
                            std::mem::take(&mut pre_attrs)
                        },
                        neg: std::mem::take(&mut neg) || gerund_of_neg,
                        passive,
                    });
                    prep = None;
                    after_conj = false;
                    aux_be = false;
                    verb_fresh = true;
                }
                Word::Det | Word::Adv | Word::Aux | Word::Poss | Word::Punct | Word::Boundary => {}
            }
        }
        // Leftover phrases after a conjunction belong to the last frame.
        if let (false, Some(f)) = (
            conj_preps.is_empty(),
            frames.get_mut(first..).and_then(|f| f.last_mut()),
        ) {
            f.preps.append(&mut conj_preps);
        }
        let question = self.question.as_ref().and_then(|q| q.first()).cloned();
        if let (true, false, Some(q)) = (frames.is_empty(), saw_neg, question) {
            // "Which parts are the data plane? The sidecars and the gateway."
            // "How do A and B talk? Through their sidecars, over mTLS."
            if !subj.is_empty() || !pre_preps.is_empty() {
                let mut a = q;
                if a.agents.is_empty() && !a.passive {
                    a.agents = std::mem::take(&mut subj);
                } else {
                    a.patients.append(&mut subj);
                }
                a.preps.append(&mut pre_preps);
                frames.push(a);
                st.last_ent = last_ent;
                return;
            }
        }
        if frames.len() == first {
            // "..., not through the control plane": the previous claim, denied.
            if saw_neg && first > 0 {
                if let Some(prev) = frames.last().cloned() {
                    frames.push(Frame {
                        patients: subj.iter().map(|e| Ent { neg: true, ..*e }).collect(),
                        preps: pre_preps
                            .iter()
                            .map(|(p, e)| (*p, Ent { neg: true, ..*e }))
                            .collect(),
                        attrs: pre_attrs,
                        neg: false,
                        ..prev
                    });
                }
            } else if !subj.is_empty() && !toks.iter().any(|t| t.word == Word::Aux) {
                // "The sidecars, the gateway and ... form": a subject split by
                // commas. After a claim, it may also be more of its objects
                // ("with routes, policies and certificates"): both, until a
                // verb without a subject takes it.
                // "Unlike the control plane, ...": a contrast, not a subject.
                subj.retain(|e| !e.neg);
                if let Some(f) = frames.last_mut() {
                    f.patients.extend(subj.iter().copied());
                    st.floating = true;
                }
                st.pending.extend(subj);
                st.pending_preps.append(&mut pre_preps);
            } else if let (false, Some(f)) = (pre_preps.is_empty(), frames.last_mut()) {
                // "..., across an mTLS connection, into B's sidecar": more
                // phrases of the claim before.
                f.preps.append(&mut pre_preps);
            } else {
                // "Between the two sidecars, ...": phrases for the claim after.
                st.pending_preps.append(&mut pre_preps);
            }
        } else if let Some(f) = frames.get(first) {
            let subject = if f.passive { &f.patients } else { &f.agents };
            if !pron_subject && !subject.is_empty() && rel_frame != Some(first) {
                self.carry = subject.clone();
            } else if f.agents.is_empty() && f.act == Act::Be && !f.patients.is_empty() {
                // "At the top is the control plane." — it is the subject now.
                self.carry = f.patients.clone();
            }
        }
        st.last_ent = last_ent;
    }
}

/// Removes the last occurrence of each of `these` from `from`: the names
/// taken back as a subject, not an earlier mention of the same concept.
fn remove_last(from: &mut Vec<Ent>, these: &[Ent]) {
    for e in these {
        if let Some(at) = from.iter().rposition(|x| x == e) {
            from.remove(at);
        }
    }
}

/// What clauses of one sentence pass on to the next clause.
#[derive(Default)]
struct SentenceState {
    /// Subjects of verb-less clauses, waiting for their verb.
    pending: Vec<Ent>,
    /// The last concept named, antecedent of "which".
    last_ent: Option<Ent>,
    /// Their prepositional phrases.
    pending_preps: Vec<(Prep, Ent)>,
    /// The pending subject came after a claim and is also its object.
    floating: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(text: &str) -> Vec<Frame> {
        Reader::default().sentence(text, false).frames
    }

    #[test]
    fn passive_voice_finds_the_agent_after_by() {
        let f = frames("Every request is forwarded by the control plane.");
        let f = f
            .iter()
            .find(|f| f.act == Act::Forward)
            .expect("a forward frame");
        assert!(f.passive);
        assert_eq!(f.agents[0].c, Concept::ControlPlane);
        assert_eq!(f.patients[0].c, Concept::Request);
    }

    #[test]
    fn negation_and_coordination() {
        let f = frames("The control plane configures the proxies but never forwards requests.");
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f[0].positive());
        assert_eq!(f[1].agents[0].c, Concept::ControlPlane);
        assert!(!f[1].positive());
    }

    #[test]
    fn possessives_and_of_phrases_become_one_participant() {
        let f = frames("The backend's sidecar retries the call.");
        assert_eq!(f[0].agents[0].c, Concept::Sidecar);
        assert_eq!(f[0].agents[0].side, Some(Attr::Receiving));
        let f = frames("The sidecar of the frontend retries the call.");
        assert_eq!(f[0].agents[0].side, Some(Attr::Calling));
    }

    #[test]
    fn relative_clauses_take_their_antecedent() {
        let f =
            frames("The control plane, which acts as the CA, signs certificates for the sidecars.");
        let sign = f.iter().find(|f| f.act == Act::Sign).expect("sign");
        assert_eq!(sign.agents[0].c, Concept::ControlPlane, "{f:?}");
        let f = frames("The gateway sends it to the sidecar, which forwards it to the app.");
        let fwd = f.iter().find(|f| f.act == Act::Forward).expect("forward");
        assert_eq!(fwd.agents[0].c, Concept::Sidecar, "{f:?}");
    }

    #[test]
    fn sentences_split_at_ends_not_abbreviations() {
        let s = split_sentences("Retries, e.g. three of them. Then more!\n- a bullet\n- another");
        assert_eq!(s.len(), 4, "{s:?}");
        assert!(s[2].1);
    }
}

#[cfg(test)]
mod dump {
    /// `CHECK_TEXT="..." cargo test --lib check::parse::dump -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn dump() {
        let text = std::env::var("CHECK_TEXT").unwrap_or_default();
        let mut r = super::Reader::default();
        for (s, b) in super::split_sentences(&text) {
            println!(
                "{s}\n  {:?}",
                super::words::tokens(&s)
                    .iter()
                    .map(|t| format!("{}={:?}", t.text, t.word))
                    .collect::<Vec<_>>()
            );
            for f in r.sentence(&s, b).frames {
                println!("  {f:?}");
            }
        }
    }
}
