//! Accuracy on the corpus: at least 90% of verdicts right, printed with
//! each mismatch so a rule change shows what it broke.

use std::path::PathBuf;

use meshcon::practice::check::{self, Refusal, Verdict};

fn corpus() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/checker/corpus");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("corpus directory")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "txt"))
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(e.path()).expect("corpus text");
            (name, text)
        })
        .collect();
    out.sort();
    out
}

/// The reason a teacher would give for a failing text, if it is a kind the
/// checker refuses as a whole.
fn expected_refusal(name: &str) -> Option<Refusal> {
    [
        ("fail-list-", Refusal::KeywordList),
        ("fail-offtopic-", Refusal::OffTopic),
        ("fail-short-", Refusal::TooShort),
        ("fail-long-", Refusal::TooLong),
        ("fail-filler-", Refusal::MostlyUnjudged),
    ]
    .iter()
    .find(|(p, _)| name.starts_with(p))
    .map(|(_, r)| *r)
}

#[test]
fn corpus_verdicts_are_at_least_90_percent_right() {
    let texts = corpus();
    assert!(
        texts.len() >= 40,
        "the corpus has {} texts, fewer than 40",
        texts.len()
    );
    let mut right = 0;
    let mut right_reason = 0;
    let mut report = String::new();
    for (name, text) in &texts {
        let expected = if name.starts_with("pass-") {
            Verdict::Pass
        } else {
            Verdict::Fail
        };
        let r = check::check(text);
        let ok = r.verdict == expected;
        // Failing for the right reason: the refusal expected, or for a text
        // with one error, that error named as a misconception.
        let reason_ok = ok
            && match expected_refusal(name) {
                Some(refusal) => r.refused.contains(&refusal),
                None if name.starts_with("fail-error-") => !r.misconceptions.is_empty(),
                None => true,
            };
        right += usize::from(ok);
        right_reason += usize::from(reason_ok);
        if !reason_ok {
            report.push_str(&format!(
                "\n--- {name}: expected {expected:?}, got {:?}{}\n{}",
                r.verdict,
                if ok {
                    " (right verdict, wrong reason)"
                } else {
                    ""
                },
                check::render(&r)
            ));
        }
    }
    let n = texts.len();
    println!("{report}");
    println!(
        "checker accuracy: {right}/{n} verdicts right ({:.1}%); {right_reason}/{n} right for the right reason ({:.1}%)",
        100.0 * right as f64 / n as f64,
        100.0 * right_reason as f64 / n as f64
    );
    assert!(
        right * 100 >= n * 90,
        "accuracy {right}/{n} is below 90%{report}"
    );
}
