//! `meshcon practice check`: the rubric for people, JSON for scripts, and
//! exit codes 0 (pass), 1 (fail), 2 (usage error).

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn meshcon(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_meshcon"))
        .args(args)
        .env_remove("MESHCON_MESH")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run meshcon");
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(stdin.unwrap_or("").as_bytes());
    }
    child.wait_with_output().expect("meshcon output")
}

fn corpus(name: &str) -> String {
    format!("{}/tests/checker/corpus/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn a_right_text_passes_with_exit_0_and_shows_the_rubric() {
    let out = meshcon(
        &["practice", "check", &corpus("pass-01-textbook.txt")],
        None,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Verdict: PASS"), "{stdout}");
    assert!(stdout.contains("[x] control-plane"), "{stdout}");
    assert!(stdout.contains("Model answer"), "{stdout}");
}

#[test]
fn a_wrong_text_fails_with_exit_1_and_json_names_the_misconception() {
    let out = meshcon(
        &[
            "practice",
            "check",
            "-o",
            "json",
            &corpus("fail-error-01-cp-relays.txt"),
        ],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(v["verdict"], "fail");
    assert!(v["words"].as_u64().is_some_and(|w| w > 90), "{v}");
    let points = v["points"].as_array().expect("points array");
    assert!(
        points
            .iter()
            .all(|p| p["name"].is_string() && p["found"].is_boolean()),
        "{v}"
    );
    let mis = v["misconceptions"]
        .as_array()
        .expect("misconceptions array");
    assert!(
        mis.iter().any(|m| m["sentence"]
            .as_str()
            .is_some_and(|s| s.contains("relays the call"))
            && m["explanation"].as_str().is_some_and(|e| !e.is_empty())),
        "{v}"
    );
}

#[test]
fn standard_input_is_read_with_a_dash() {
    let text = std::fs::read_to_string(corpus("fail-list-01-commas.txt")).expect("corpus text");
    let out = meshcon(&["practice", "check", "-o", "json", "-"], Some(&text));
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(v["refused"][0], "keyword-list", "{v}");
}

#[test]
fn usage_errors_exit_2() {
    let out = meshcon(&["practice", "check"], None);
    assert_eq!(out.status.code(), Some(2));
    let out = meshcon(&["practice", "check", "/nonexistent/explanation.txt"], None);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/explanation.txt"));
}
