//! From text to tagged words: sentences split, contractions opened,
//! each word or phrase looked up in the lexicon (noun or verb decided by
//! its neighbours), and owners folded into what they own ("A's sidecar").

use super::lexicon::{self, Act, Attr, Concept, Prep, Word};

/// The tagged words of one sentence.
pub fn tokens(sentence: &str) -> Vec<Tok> {
    merge_owners(tag(&words(sentence)))
}

/// Function words in a sentence (the, of, is...), for telling prose from lists.
pub fn function_words(sentence: &str) -> usize {
    words(sentence)
        .iter()
        .filter(|w| lexicon::FUNCTION_WORDS.contains(&w.as_str()))
        .count()
}

/// Splits a text into sentences: at `.`, `!`, `?` before a space, and at
/// line breaks that start a bullet or a blank line.
pub fn split_sentences(text: &str) -> Vec<(String, bool)> {
    let text = text.replace('\u{2019}', "'");
    let mut out = Vec::new();
    let mut para = String::new();
    let flush = |para: &mut String, bullet: bool, out: &mut Vec<(String, bool)>| {
        let mut cur = String::new();
        let chars: Vec<char> = para.chars().collect();
        for (i, &ch) in chars.iter().enumerate() {
            cur.push(ch);
            let end =
                matches!(ch, '.' | '!' | '?') && chars.get(i + 1).is_none_or(|n| n.is_whitespace());
            // "e.g." and "i.e." are not sentence ends.
            let abbrev = {
                let t = cur.trim_end_matches('.').to_lowercase();
                t.ends_with("e.g") || t.ends_with("i.e") || t.ends_with(" vs") || t.ends_with("etc")
            };
            if end && !abbrev {
                let s = cur.trim().to_string();
                if s.chars().any(char::is_alphanumeric) {
                    out.push((s, bullet));
                }
                cur.clear();
            }
        }
        let s = cur.trim().to_string();
        if s.chars().any(char::is_alphanumeric) {
            out.push((s, bullet));
        }
        para.clear();
    };
    let mut bullet = false;
    for line in text.lines() {
        let t = line.trim();
        let starts_bullet = t.starts_with(['-', '*', '\u{2022}'])
            || t.split_once(['.', ')']).is_some_and(|(n, _)| {
                !n.is_empty() && n.len() <= 2 && n.chars().all(|c| c.is_ascii_digit())
            });
        // A line that does not end a sentence, followed by one that starts in
        // lower case, is one sentence wrapped.
        if t.is_empty() || starts_bullet || t.ends_with(':') {
            flush(&mut para, bullet, &mut out);
            bullet = starts_bullet;
            let t = if starts_bullet {
                t.trim_start_matches(['-', '*', '\u{2022}', ' '])
            } else {
                t
            };
            para.push_str(t);
            if t.ends_with(':') {
                flush(&mut para, false, &mut out);
            }
            continue;
        }
        if !para.is_empty() {
            para.push(' ');
        }
        para.push_str(t);
    }
    flush(&mut para, bullet, &mut out);
    out
}

/// Lower-cases a sentence and splits it into words and punctuation, with
/// contractions opened ("doesn't" → "does not") and possessives apart.
fn words(sentence: &str) -> Vec<String> {
    let mut s = sentence.to_lowercase().replace('\u{2019}', "'");
    for (from, to) in [
        ("won't", "will not"),
        ("can't", "can not"),
        ("cannot", "can not"),
        ("n't", " not"),
        ("it's", "it is"),
        ("that's", "that is"),
        ("there's", "there is"),
        ("'re", " are"),
        ("→", " -> "),
        ("=>", " -> "),
    ] {
        s = s.replace(from, to);
    }
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        let next = chars.get(i + 1).copied();
        if ch == '-' && next == Some('>') {
            push(&mut out, &mut cur);
            out.push("->".to_string());
            out.push("to".to_string());
            i += 2;
            continue;
        }
        if ch.is_alphanumeric()
            || (ch == '-' && !cur.is_empty() && next.is_some_and(char::is_alphanumeric))
        {
            cur.push(ch);
        } else if ch == '\'' && !cur.is_empty() {
            push(&mut out, &mut cur);
            // "service's" and "sidecars'" are possessives.
            if next == Some('s') && !chars.get(i + 2).is_some_and(|c| c.is_alphanumeric()) {
                i += 1;
            }
            out.push("'s".to_string());
        } else {
            push(&mut out, &mut cur);
            if matches!(ch, ',' | ';' | ':' | '(' | ')' | '/') {
                out.push(ch.to_string());
            } else if matches!(ch, '\u{2014}' | '\u{2013}') {
                // A dash sets off a clause, as a comma does.
                out.push(",".to_string());
            }
        }
        i += 1;
    }
    push(&mut out, &mut cur);
    out
}

fn push(out: &mut Vec<String>, cur: &mut String) {
    if !cur.is_empty() {
        out.push(std::mem::take(cur));
    }
}

/// A tagged word with its spelling.
#[derive(Debug, Clone)]
pub struct Tok {
    /// What it is.
    pub word: Word,
    /// The (first) word's spelling.
    pub text: String,
    /// How many words of the text it covers.
    pub len: usize,
}

fn prev_text(out: &[Tok]) -> Option<&str> {
    out.last().map(|t| t.text.as_str())
}

/// Tags each word (or phrase) with the lexicon, deciding noun or verb for
/// words that can be both from their neighbours.
fn tag(words: &[String]) -> Vec<Tok> {
    let mut out: Vec<Tok> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        if matches!(w.as_str(), "," | ";" | ":" | "(" | ")") {
            out.push(Tok {
                word: Word::Punct,
                text: w.clone(),
                len: 0,
            });
            i += 1;
            continue;
        }
        if w == "/" {
            out.push(Tok {
                word: Word::Conj,
                text: w.clone(),
                len: 0,
            });
            i += 1;
            continue;
        }
        let prev = out.last().map(|t| t.word.clone());
        let found = lexicon::lookup(words, i);
        let next_word = words.get(i + 1).map(String::as_str);
        // "do not", "did never": the auxiliary, not the verb "do".
        let inverted = i == 0
            || matches!(
                prev_text(&out),
                Some("how" | "why" | "what" | "where" | "when" | "which")
            );
        if matches!(w.as_str(), "do" | "does" | "did")
            && (matches!(next_word, Some("not" | "never")) || inverted)
        {
            out.push(Tok {
                word: Word::Aux,
                text: w.clone(),
                len: 1,
            });
            i += 1;
            continue;
        }
        let (word, n) = match found {
            Some((Word::Rel, _))
                if !matches!(prev, Some(Word::Concept(..) | Word::Unknown | Word::Punct)) =>
            {
                (Word::Unknown, 1)
            }
            Some((word, n))
                if n > 1
                    || !lexicon::ambiguous(w)
                    || !matches!(word, Word::Concept(..) | Word::Verb(..)) =>
            {
                (word, n)
            }
            _ if lexicon::ambiguous(w) => {
                let (noun, verb) = lexicon::readings(words, i);
                let next = words
                    .get(i + 1)
                    .and_then(|_| lexicon::lookup(words, i + 1))
                    .map(|(w, _)| w);
                // "we call", "you configure": a person acting is a subject.
                let person = matches!(
                    prev_text(&out),
                    Some("we" | "you" | "i" | "people" | "users")
                );
                let verbish = person
                    || match &prev {
                        Some(Word::Concept(..) | Word::Pron | Word::Rel | Word::Aux) => true,
                        Some(Word::Neg) => i > 0 && words[i - 1] != "no",
                        Some(Word::Verb(Act::Be, _)) => lexicon::is_participle(w),
                        Some(Word::Prep(Prep::To)) => {
                            lexicon::lemmas(w).len() == 1 || !w.ends_with('s')
                        }
                        Some(Word::Conj) => {
                            matches!(next, Some(Word::Det | Word::Pron | Word::Concept(..)))
                        }
                        Some(Word::Adv) => true,
                        Some(Word::Punct) => {
                            matches!(next, Some(Word::Det | Word::Pron | Word::Concept(..)))
                        }
                        Some(Word::Attr(Attr::Only)) => true,
                        _ => false,
                    };
                match (noun, verb) {
                    (Some(n), Some(v)) => {
                        if verbish {
                            v
                        } else {
                            n
                        }
                    }
                    (Some(n), None) => n,
                    (None, Some(v)) => v,
                    (None, None) => (Word::Unknown, 1),
                }
            }
            Some(found) => found,
            None if w.ends_with("ly") => (Word::Adv, 1),
            None if w.chars().all(|c| c.is_ascii_digit()) => (Word::Det, 1),
            None if w == "that" => {
                let next = lexicon::lookup(words, i + 1).map(|(w, _)| w);
                let word = match (&prev, next) {
                    // "think that the ...", "means that the ...": a new clause.
                    (Some(Word::Verb(..)), Some(Word::Concept(..) | Word::Det)) => Word::Boundary,
                    (_, Some(Word::Concept(..) | Word::Det)) => Word::Det,
                    (Some(Word::Concept(..) | Word::Unknown | Word::Punct), _) => Word::Rel,
                    _ => Word::Pron,
                };
                (word, 1)
            }
            None if w.len() == 1 && words.get(i + 1).is_some_and(|n| n == "'s") => {
                let side = if w == "b" || w == "2" {
                    Attr::Receiving
                } else {
                    Attr::Calling
                };
                (Word::Concept(Concept::Service, Some(side)), 1)
            }
            // An unknown word right after its subject, inflected like a
            // verb ("the sidecar upgrades the call"), is a verb we give no
            // meaning; it still shapes the clause.
            None if matches!(prev, Some(Word::Concept(..) | Word::Pron | Word::Rel))
                && (w.ends_with('s') || w.ends_with("ed"))
                && !w.ends_with("ss")
                && next_word.is_some_and(|n| {
                    matches!(
                        lexicon::lookup(words, i + 1).map(|(w, _)| w),
                        Some(
                            Word::Det
                                | Word::Concept(..)
                                | Word::Prep(_)
                                | Word::Pron
                                | Word::Attr(_)
                        )
                    ) || n == "its"
                }) =>
            {
                (Word::Verb(Act::Other, lexicon::is_participle(w)), 1)
            }
            None => (Word::Unknown, 1),
        };
        // "A's sidecar", "from A to B": a lone letter that is not an
        // article is a service, A the caller and B the callee.
        let article_use = next_word.is_some_and(|n| {
            !matches!(
                lexicon::lookup(words, i + 1).map(|(w, _)| w),
                Some(Word::Prep(_) | Word::Conj | Word::Punct | Word::Verb(..) | Word::Poss)
            ) && !matches!(n, "," | ";" | ":" | ")" | "->")
        });
        let word = match word {
            // "the interesting part of this diagram": a noun, not "is part of".
            Word::Verb(Act::Form, _)
                if w == "part" && matches!(prev, Some(Word::Det | Word::Unknown)) =>
            {
                Word::Unknown
            }
            _ if w == "a" && !article_use => Word::Concept(Concept::Service, Some(Attr::Calling)),
            Word::Unknown
                if w.len() == 1 && w != "i" && w.chars().all(|c| c.is_ascii_alphabetic()) =>
            {
                Word::Concept(
                    Concept::Service,
                    Some(if w == "b" {
                        Attr::Receiving
                    } else {
                        Attr::Calling
                    }),
                )
            }
            Word::Det if w.len() == 1 && words.get(i + 1).is_some_and(|n| n == "'s") => {
                Word::Concept(Concept::Service, Some(Attr::Calling))
            }
            // A participle right after a determiner is an adjective:
            // "the signed certificate".
            Word::Verb(_, true) if matches!(prev, Some(Word::Det | Word::Attr(_))) && n == 1 => {
                Word::Unknown
            }
            other => other,
        };
        out.push(Tok {
            word,
            text: w.clone(),
            len: n,
        });
        i += n;
    }
    out
}

/// "the sidecar of service A" and "service A's sidecar" become one sidecar
/// on A's side; the owner is not a separate participant.
fn merge_owners(toks: Vec<Tok>) -> Vec<Tok> {
    const OWNED: &[Concept] = &[
        Concept::Sidecar,
        Concept::Proxy,
        Concept::Cert,
        Concept::Identity,
        Concept::Request,
        Concept::Config,
        Concept::Retry,
        Concept::Telemetry,
        Concept::Tls,
    ];
    const OWNERS: &[Concept] = &[
        Concept::Service,
        Concept::Sidecar,
        Concept::Proxy,
        Concept::Client,
    ];
    let mut out: Vec<Tok> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i];
        // X 's (det/attr)* Y
        if let (Word::Concept(c, side), Some(Word::Poss)) =
            (&t.word, toks.get(i + 1).map(|n| &n.word))
        {
            let mut j = i + 2;
            while toks
                .get(j)
                .is_some_and(|n| matches!(n.word, Word::Det | Word::Attr(_) | Word::Unknown))
            {
                j += 1;
            }
            if OWNERS.contains(c) {
                if let Some(Tok {
                    word: Word::Concept(d, dside),
                    text,
                    len,
                }) = toks.get(j)
                {
                    if OWNED.contains(d) {
                        out.push(Tok {
                            word: Word::Concept(*d, dside.or(*side)),
                            text: text.clone(),
                            len: len + t.len,
                        });
                        i = j + 1;
                        continue;
                    }
                }
            }
        }
        // Y of (det)* X
        if let (Word::Concept(d, dside), Some(Word::Prep(Prep::Of))) =
            (&t.word, toks.get(i + 1).map(|n| &n.word))
        {
            let mut j = i + 2;
            while toks
                .get(j)
                .is_some_and(|n| matches!(n.word, Word::Det | Word::Attr(_)))
            {
                j += 1;
            }
            if OWNED.contains(d) {
                if let Some(Tok {
                    word: Word::Concept(c, side),
                    len,
                    ..
                }) = toks.get(j)
                {
                    if OWNERS.contains(c) {
                        out.push(Tok {
                            word: Word::Concept(*d, dside.or(*side)),
                            text: t.text.clone(),
                            len: t.len + len,
                        });
                        i = j + 1;
                        continue;
                    }
                }
            }
        }
        out.push(t.clone());
        i += 1;
    }
    out
}
