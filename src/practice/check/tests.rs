//! Unit tests of the checker: misconceptions across paraphrase and
//! negation, and right sentences that must stay right.

use super::*;

fn mis(text: &str) -> Vec<String> {
    let mut r = parse::Reader::default();
    parse::split_sentences(text)
        .iter()
        .map(|(s, b)| r.sentence(s, *b))
        .flat_map(|s| {
            rules::MISCONCEPTIONS
                .iter()
                .filter(|m| (0..s.frames.len()).any(|i| (m.test)(&s, i)))
                .map(|m| m.name.to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn model_answer_passes() {
    let r = check(MODEL_ANSWER);
    assert_eq!(r.verdict, Verdict::Pass, "{}", render(&r));
}
