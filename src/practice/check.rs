//! The explanation checker: a learner explains the diagram in about 100
//! words, and the checker shows its reasoning — each rubric point found or
//! missing with the sentence that made it, each misconception with why it
//! is wrong, the sentences no rule could judge, and a model answer.
//!
//! It reads sentences, not bags of words: [`words`] tags each word with the
//! lexicon, [`parse`] turns each clause into
//! frames (agent, action, patient, prepositions, negation) over synonym
//! sets from [`lexicon`], and [`rules`] judges frames. Lists of terms and
//! off-topic texts are refused before any point is credited, so naming the
//! parts is not explaining them. Pure: no TUI, no I/O.

pub mod lexicon;
pub mod parse;
pub mod rules;
pub mod words;

use serde::Serialize;

use lexicon::Concept;

/// The exercise, as the learner sees it.
pub const PROMPT: &str = "Explain the diagram in about 100 words: two services with their sidecar proxies, the data plane, the control plane, the mTLS connection and the Ingress Gateway. Say how a request from outside travels, what each part does and how the parts relate, using the vocabulary (retries, traffic policy and other terms are welcome when used correctly).";

/// Fewest words accepted.
pub const MIN_WORDS: usize = 70;
/// Most words accepted.
pub const MAX_WORDS: usize = 130;

/// An answer that passes, shown after submitting.
pub const MODEL_ANSWER: &str = "Each of the two services runs with a sidecar proxy that handles all of its traffic. The sidecars and the Ingress Gateway are the proxies of the data plane. A request from outside enters the mesh through the Ingress Gateway, which forwards it to the sidecar of service A, which hands it to service A. When A calls B, A's sidecar opens an mTLS connection to B's sidecar: the traffic is encrypted and each side proves its identity with a certificate signed by the mesh's CA. The control plane configures the proxies and acts as that CA, but it never forwards requests. If B fails, A's sidecar retries the call.";

/// Pass or fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every required point, no misconception, a fitting length.
    Pass,
    /// Something is missing or wrong.
    Fail,
}

/// One rubric point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Point {
    /// Short stable name (`control-plane`).
    pub name: String,
    /// What a good explanation says.
    pub says: String,
    /// Needed to pass.
    pub required: bool,
    /// Whether a sentence made the point.
    pub found: bool,
    /// The sentence that made it.
    pub sentence: Option<String>,
    /// Why it counts as found or missing.
    pub why: String,
}

/// A sentence that states something wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Misconception {
    /// Short stable name.
    pub name: String,
    /// The sentence.
    pub sentence: String,
    /// What is wrong, and what is right.
    pub explanation: String,
}

/// Why a text was refused without judging its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Refusal {
    /// Far fewer words than asked.
    TooShort,
    /// Far more words than asked.
    TooLong,
    /// Terms listed, not explained.
    KeywordList,
    /// Not about the diagram.
    OffTopic,
    /// More than half the words in sentences no rule could judge: filler
    /// around a few right sentences.
    MostlyUnjudged,
}

impl Report {
    /// Whether the explanation passed.
    pub fn passed(&self) -> bool {
        self.verdict == Verdict::Pass
    }
}

/// The glossary terms behind the required points a report found missing
/// and behind its misconceptions, for "weak terms".
pub fn terms_missed(r: &Report) -> Vec<&'static str> {
    let term = |name: &str| -> Option<&'static str> {
        Some(match name {
            n if n.starts_with("sidecar") || n == "shared-sidecar" => "sidecar proxy",
            n if n.starts_with("data-plane") => "data plane",
            n if n.starts_with("control-plane") || n == "configuration-not-from-control-plane" => {
                "control plane"
            }
            n if n.starts_with("mtls")
                || n.contains("plaintext")
                || n == "application-does-tls" =>
            {
                "mTLS"
            }
            "identity" | "proxy-signs-certificate" => "SPIFFE",
            n if n.starts_with("ingress") || n == "gateway-in-control-plane" => "Ingress Gateway",
            n if n.contains("retr") => "retry policy",
            n if n.starts_with("circuit-breaking") => "circuit breaking",
            _ => return None,
        })
    };
    let mut out: Vec<&'static str> = r
        .points
        .iter()
        .filter(|p| p.required && !p.found)
        .filter_map(|p| term(&p.name))
        .chain(r.misconceptions.iter().filter_map(|m| term(&m.name)))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

impl Refusal {
    /// The reason in words.
    pub fn describe(self, words: usize) -> String {
        match self {
            Refusal::TooShort => format!("too short: {words} words; the exercise asks for about 100 ({MIN_WORDS}–{MAX_WORDS} accepted)"),
            Refusal::TooLong => format!("too long: {words} words; the exercise asks for about 100 ({MIN_WORDS}–{MAX_WORDS} accepted)"),
            Refusal::KeywordList => "a list of terms, not an explanation: say what each part does and how they relate, in sentences".to_string(),
            Refusal::OffTopic => "off topic: this text is not about the diagram (it names almost none of its parts)".to_string(),
            Refusal::MostlyUnjudged => "most of the text is in sentences no rule could judge: too little of it explains the diagram".to_string(),
        }
    }
}

/// The checker's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Pass or fail.
    pub verdict: Verdict,
    /// Words in the text.
    pub words: usize,
    /// The accepted range of words.
    pub accepted_words: [usize; 2],
    /// Why the text was refused as a whole, if it was.
    pub refused: Vec<Refusal>,
    /// The reasons, in words.
    pub reasons: Vec<String>,
    /// The rubric.
    pub points: Vec<Point>,
    /// Wrong statements found.
    pub misconceptions: Vec<Misconception>,
    /// Misconceptions a sentence rightly denies ("the control plane never
    /// forwards requests"), credited as judged right.
    pub denied: Vec<Misconception>,
    /// Sentences no rule applied to: neither credited nor faulted.
    pub unjudged: Vec<String>,
    /// A model answer.
    pub model_answer: String,
}

/// The core concepts: naming fewer than two of them is not about the diagram.
const CORE: &[Concept] = &[
    Concept::ControlPlane,
    Concept::DataPlane,
    Concept::Sidecar,
    Concept::Proxy,
    Concept::Mtls,
    Concept::Ingress,
    Concept::Mesh,
];

/// Checks an explanation of the diagram.
pub fn check(text: &str) -> Report {
    let words = text
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .count();
    // Far too long to be an answer: refused without reading it all, so a
    // pasted book costs no more than a page.
    let read = if words > 10 * MAX_WORDS { "" } else { text };
    let mut reader = parse::Reader::default();
    let sentences: Vec<parse::Sentence> = parse::split_sentences(read)
        .iter()
        .map(|(s, bullet)| reader.sentence(s, *bullet))
        .collect();
    let mut refused = Vec::new();
    if words < MIN_WORDS {
        refused.push(Refusal::TooShort);
    } else if words > MAX_WORDS {
        refused.push(Refusal::TooLong);
    }
    let core: std::collections::BTreeSet<Concept> = sentences
        .iter()
        .flat_map(|s| s.concepts.iter().map(|e| e.c))
        .filter(|c| CORE.contains(c))
        .map(|c| {
            if c == Concept::Proxy {
                Concept::Sidecar
            } else {
                c
            }
        })
        .collect();
    let unread = read.len() < text.len();
    if unread {
        // Refused for its length alone.
    } else if core.len() < 2 {
        refused.push(Refusal::OffTopic);
    } else if is_list(&sentences, words) {
        refused.push(Refusal::KeywordList);
    }
    let listed = refused.contains(&Refusal::KeywordList);

    let mut judged = vec![false; sentences.len()];
    // A list claims nothing: its sentences are neither credited nor faulted.
    let claims: Vec<bool> = sentences.iter().map(|s| !listed && !listy(s)).collect();
    let mut misconceptions = Vec::new();
    let mut wrong = vec![false; sentences.len()];
    for (si, s) in sentences.iter().enumerate().filter(|(si, _)| claims[*si]) {
        for rule in rules::MISCONCEPTIONS {
            if (0..s.frames.len()).any(|i| (rule.test)(s, i)) {
                judged[si] = true;
                wrong[si] = true;
                misconceptions.push(Misconception {
                    name: rule.name.to_string(),
                    sentence: s.text.clone(),
                    explanation: rule.explanation.to_string(),
                });
            }
        }
    }
    let mut points = Vec::new();
    for rule in rules::POINTS {
        let relevant = rule.about.is_empty()
            || sentences
                .iter()
                .any(|s| s.concepts.iter().any(|e| rule.about.contains(&e.c)));
        if !relevant {
            continue;
        }
        // A point is credited from a sentence that says nothing wrong.
        let hit = sentences.iter().enumerate().find_map(|(si, s)| {
            (claims[si] && !wrong[si] && (0..s.frames.len()).any(|i| (rule.test)(s, i)))
                .then_some(si)
        });
        if let Some(si) = hit {
            judged[si] = true;
        }
        let why = match (hit, listed) {
            (Some(_), _) => "this sentence says it".to_string(),
            (None, true) => "terms listed are not credited".to_string(),
            (None, false) if rule.about.is_empty() => "no sentence says this".to_string(),
            (None, false) => "the term is used, but no sentence says what it does".to_string(),
        };
        points.push(Point {
            name: rule.name.to_string(),
            says: rule.says.to_string(),
            required: rule.required,
            found: hit.is_some(),
            sentence: hit.map(|si| sentences[si].text.clone()),
            why,
        });
    }
    // A sentence that denies a misconception is judged right, and says so.
    let mut denied = Vec::new();
    for (si, s) in sentences.iter().enumerate().filter(|(si, _)| claims[*si]) {
        for (i, f) in s.frames.iter().enumerate() {
            if !f.denies_something() {
                continue;
            }
            let mut affirmed = s.clone();
            affirmed.frames[i] = f.affirmed();
            for rule in rules::MISCONCEPTIONS {
                let already = denied
                    .iter()
                    .any(|d: &Misconception| d.name == rule.name && d.sentence == s.text);
                if !already && (rule.test)(&affirmed, i) && !(rule.test)(s, i) {
                    judged[si] = true;
                    denied.push(Misconception {
                        name: rule.name.to_string(),
                        sentence: s.text.clone(),
                        explanation: rule.explanation.to_string(),
                    });
                }
            }
        }
    }
    // Also judged: sentences that make a point again, after the first did.
    for (si, s) in sentences.iter().enumerate() {
        if !judged[si] && claims[si] {
            judged[si] = rules::POINTS
                .iter()
                .any(|r| (0..s.frames.len()).any(|i| (r.test)(s, i)));
        }
    }
    // Questions claim nothing, so there is nothing to judge in them.
    let unjudged_sentences: Vec<&parse::Sentence> = sentences
        .iter()
        .zip(&judged)
        .filter(|(s, j)| !**j && !s.text.trim_end().ends_with('?'))
        .map(|(s, _)| s)
        .collect();
    let unjudged_words: usize = unjudged_sentences.iter().map(|s| s.words).sum();
    if refused.is_empty() && unjudged_words * 2 > words {
        refused.push(Refusal::MostlyUnjudged);
    }
    let unjudged = unjudged_sentences.iter().map(|s| s.text.clone()).collect();
    let missing_required = points.iter().any(|p| p.required && !p.found);
    let verdict = if refused.is_empty() && misconceptions.is_empty() && !missing_required {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    let mut reasons: Vec<String> = refused
        .iter()
        .map(|r| match r {
            Refusal::MostlyUnjudged => format!(
                "{unjudged_words} of {words} words are in sentences no rule could judge: too little of the text explains the diagram"
            ),
            _ => r.describe(words),
        })
        .collect();
    if !misconceptions.is_empty() {
        reasons.push(format!("{} wrong statement(s)", misconceptions.len()));
    }
    let missing: Vec<&str> = points
        .iter()
        .filter(|p| p.required && !p.found)
        .map(|p| p.name.as_str())
        .collect();
    if !missing.is_empty() && !listed && !refused.contains(&Refusal::OffTopic) {
        reasons.push(format!("missing: {}", missing.join(", ")));
    }
    Report {
        verdict,
        words,
        accepted_words: [MIN_WORDS, MAX_WORDS],
        refused,
        reasons,
        points,
        misconceptions,
        denied,
        unjudged,
        model_answer: MODEL_ANSWER.to_string(),
    }
}

/// Terms listed rather than explained: bullets, verb-less fragments,
/// sentences that are mostly names, too few small words overall.
fn is_list(sentences: &[parse::Sentence], words: usize) -> bool {
    let listy_words: usize = sentences
        .iter()
        .filter(|s| (s.bullet && !s.relates()) || listy(s))
        .map(|s| s.words)
        .sum();
    let function: usize = sentences.iter().map(|s| s.function_words).sum();
    // "The sidecar is great. The data plane is great.": names, unrelated.
    let relating: usize = sentences
        .iter()
        .filter(|s| s.relates())
        .map(|s| s.words)
        .sum();
    words > 0
        && (listy_words * 100 >= words * 35
            || function * 100 < words * 20
            || relating * 100 < words * 30)
}

/// A sentence that lists rather than says: no verb (unless it answers a
/// question), mostly names.
fn listy(s: &parse::Sentence) -> bool {
    (s.verbs == 0 && s.frames.is_empty())
        || (s.words >= 6 && s.term_words * 10 > s.words * 6 && s.verbs <= 1)
        || (s.terms >= 8 && s.verbs * 6 < s.terms)
}

/// The report for people: verdict, rubric, misconceptions, unjudged
/// sentences, model answer.
pub fn render(r: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let verdict = match r.verdict {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
    };
    let _ = writeln!(
        out,
        "Verdict: {verdict} ({} words; {}–{} accepted)",
        r.words, r.accepted_words[0], r.accepted_words[1]
    );
    for reason in &r.reasons {
        let _ = writeln!(out, "  - {reason}");
    }
    let _ = writeln!(out, "\nRubric:");
    for p in &r.points {
        let mark = if p.found { "[x]" } else { "[ ]" };
        let need = if p.required { "" } else { " (credit)" };
        let _ = writeln!(out, "  {mark} {}{need}: {}", p.name, p.says);
        match &p.sentence {
            Some(s) => {
                let _ = writeln!(out, "      \"{s}\"");
            }
            None => {
                let _ = writeln!(out, "      {}", p.why);
            }
        }
    }
    if !r.misconceptions.is_empty() {
        let _ = writeln!(out, "\nMisconceptions:");
        for m in &r.misconceptions {
            let _ = writeln!(out, "  ✗ \"{}\"\n      {}", m.sentence, m.explanation);
        }
    }
    if !r.denied.is_empty() {
        let _ = writeln!(out, "\nRightly denied:");
        for m in &r.denied {
            let _ = writeln!(out, "  ✓ \"{}\" ({})", m.sentence, m.name);
        }
    }
    if !r.unjudged.is_empty() {
        let _ = writeln!(
            out,
            "\nCould not judge (no rule applies; a teacher should read these):"
        );
        for s in &r.unjudged {
            let _ = writeln!(out, "  ? \"{s}\"");
        }
    }
    let _ = writeln!(out, "\nModel answer:\n  {}", r.model_answer);
    out
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod weak_terms {
    #[test]
    fn what_an_explanation_misses_or_misstates_names_glossary_terms() {
        let r = super::check("The control plane handles every request.");
        let terms = super::terms_missed(&r);
        for t in &terms {
            assert!(
                crate::practice::glossary::TERMS
                    .iter()
                    .any(|e| e.term == *t),
                "{t} is not a glossary term"
            );
        }
        assert!(
            terms.contains(&"control plane") && terms.contains(&"sidecar proxy"),
            "{terms:?}"
        );
    }
}
