//! Unit tests of the checker: misconceptions across paraphrase, voice and
//! negation, right sentences that must stay right, and the refusals.

use super::*;

/// The misconceptions found in `text`, by name.
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

/// The rubric points `text` makes, by name.
fn points(text: &str) -> Vec<String> {
    let mut r = parse::Reader::default();
    let sentences: Vec<_> = parse::split_sentences(text)
        .iter()
        .map(|(s, b)| r.sentence(s, *b))
        .collect();
    rules::POINTS
        .iter()
        .filter(|p| {
            sentences
                .iter()
                .any(|s| (0..s.frames.len()).any(|i| (p.test)(s, i)))
        })
        .map(|p| p.name.to_string())
        .collect()
}

fn assert_mis(name: &str, sentences: &[&str]) {
    for s in sentences {
        assert!(
            mis(s).iter().any(|m| m == name),
            "{s:?} should be {name}, found {:?}",
            mis(s)
        );
    }
}

fn assert_right(sentences: &[&str]) {
    for s in sentences {
        assert!(mis(s).is_empty(), "{s:?} is right, but found {:?}", mis(s));
    }
}

#[test]
fn the_control_plane_on_the_request_path_is_caught_in_any_wording() {
    assert_mis(
        "control-plane-on-request-path",
        &[
            "The control plane relays the call to the second sidecar.",
            "The control plane forwards every request.",
            "Istiod proxies the traffic between the two sidecars.",
            "Every request is forwarded by the control plane to the right sidecar.",
            "Calls from A to B are routed via istiod.",
            "The call goes through the control plane.",
            "Its sidecar hands the call to the control plane.",
            "The control plane sits in the middle of every request.",
            "The control plane sits between service A and service B.",
            "The control plane inspects every call before passing it on.",
        ],
    );
}

#[test]
fn denying_it_is_right_and_earns_the_point() {
    let right = [
        "The control plane never forwards requests.",
        "The control plane does not relay any call.",
        "Requests do not pass through the control plane.",
        "No request ever goes through the control plane.",
        "The control plane configures the proxies without handling any request.",
        "The control plane is not on the request path.",
        "Istiod stays out of the request path.",
        "Requests go through the sidecars, not through the control plane.",
        "The control plane is never part of the request path.",
    ];
    assert_right(&right);
    for s in right {
        assert!(
            points(s).iter().any(|p| p == "control-plane-off-path"),
            "{s:?}: {:?}",
            points(s)
        );
    }
}

#[test]
fn plaintext_between_sidecars_is_caught_but_the_app_to_its_sidecar_hop_is_fine() {
    assert_mis(
        "plaintext-between-sidecars",
        &[
            "Requests travel unencrypted between the sidecars.",
            "The calls between the two sidecars are not encrypted.",
            "The sidecars do not encrypt the traffic between services.",
            "The first sidecar sends its calls to the second sidecar in clear text.",
            "Inside the cluster, traffic between the pods stays unencrypted.",
            "mTLS is only used at the Ingress Gateway.",
        ],
    );
    assert_right(&[
        "Nothing crosses the network between the two sidecars in plaintext.",
        "The app sends plain text HTTP to its own sidecar on localhost.",
        "Traffic between the sidecars is never unencrypted.",
        "The calls between the sidecars are encrypted.",
    ]);
}

#[test]
fn proxies_signing_their_own_certificates_is_caught_but_the_ca_signing_is_right() {
    assert_mis(
        "proxy-signs-certificate",
        &[
            "Every sidecar signs its own certificate.",
            "The proxies create and sign the certificates they present.",
            "The sidecars use self-signed certificates.",
            "Sidecars issue certificates to each other.",
        ],
    );
    assert_right(&[
        "The control plane acts as the CA and signs certificates for the sidecars.",
        "Each sidecar presents a certificate signed by the mesh CA.",
        "The sidecar sends a CSR to the CA, which signs it.",
        "Certificates are issued by the control plane acting as certificate authority.",
        "Istiod mints a short-lived certificate for every workload.",
    ]);
}

#[test]
fn the_gateway_is_data_plane_not_control_plane() {
    assert_mis(
        "gateway-in-control-plane",
        &[
            "The Ingress Gateway is part of the control plane.",
            "The Ingress Gateway belongs to the control plane.",
            "The control plane includes the Ingress Gateway.",
        ],
    );
    assert_right(&[
        "The Ingress Gateway is part of the data plane, not of the control plane.",
        "The control plane configures all the proxies, including the Ingress Gateway.",
        "The Ingress Gateway is not part of the control plane.",
    ]);
}

#[test]
fn applications_doing_tls_is_caught() {
    assert_mis(
        "application-does-tls",
        &[
            "Each application performs the mTLS handshake itself.",
            "The first service encrypts its request with its own certificate.",
        ],
    );
    assert_right(&[
        "The services do not deal with TLS at all.",
        "The applications do not encrypt anything; their sidecars do.",
        "Service A's sidecar encrypts the call.",
    ]);
}

#[test]
fn retries_belong_to_the_calling_side() {
    assert_mis(
        "retries-on-wrong-side",
        &[
            "The backend's sidecar retries the failed request.",
            "The control plane retries the failed request.",
            "The receiving sidecar retries the call.",
        ],
    );
    assert_right(&[
        "The frontend's sidecar retries the failed request.",
        "If B fails, A's sidecar retries the call.",
        "Retries are done by the calling side's proxy.",
    ]);
    assert!(points("If B fails, A's sidecar retries the call.").contains(&"retries".to_string()));
}

#[test]
fn vocabulary_misused_is_judged() {
    assert_mis(
        "circuit-breaking-retries",
        &["Circuit breaking retries a failed request until it works."],
    );
    assert_mis(
        "resource-misused",
        &[
            "A VirtualService creates the certificates for the sidecars.",
            "The DestinationRule defines the retries.",
        ],
    );
    assert_mis(
        "ingress-between-services",
        &["The Ingress Gateway carries the calls between the two services."],
    );
    assert_mis(
        "mtls-without-mutual-authentication",
        &[
            "With mTLS only the receiving sidecar presents a certificate.",
            "mTLS encrypts the traffic, but the sidecars do not check who is calling.",
            "mTLS only encrypts the traffic.",
        ],
    );
    assert_mis(
        "configuration-not-from-control-plane",
        &["The data plane pushes its configuration to the control plane."],
    );
    assert_right(&[
        "A DestinationRule sets the traffic policy, such as load balancing.",
        "Circuit breaking stops sending requests to a failing instance.",
        "Both sidecars present a certificate.",
    ]);
}

#[test]
fn model_answer_passes() {
    let r = check(MODEL_ANSWER);
    assert_eq!(r.verdict, Verdict::Pass, "{}", render(&r));
    assert!(r.unjudged.is_empty(), "{:?}", r.unjudged);
}

#[test]
fn lists_off_topic_and_lengths_are_refused_for_what_they_are() {
    let list = "Data plane, control plane, sidecar proxy, mTLS, Ingress Gateway, retries, VirtualService. ".repeat(8);
    let r = check(&list);
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(r.refused, vec![Refusal::KeywordList]);
    assert!(r.points.iter().all(|p| !p.found), "a list earns no point");

    let off = "The weather was lovely, so we walked along the river and had lunch in a small cafe near the bridge. ".repeat(5);
    assert_eq!(check(&off).refused, vec![Refusal::OffTopic]);

    let short = check("The sidecars carry requests over mTLS; the control plane configures them.");
    assert!(short.refused.contains(&Refusal::TooShort));
    assert!(short.reasons[0].contains("70–130"), "{:?}", short.reasons);

    let long = check(&format!("{MODEL_ANSWER} {MODEL_ANSWER}"));
    assert!(long.refused.contains(&Refusal::TooLong));
}

#[test]
fn unjudged_sentences_are_listed_honestly() {
    let r = check(&format!(
        "{MODEL_ANSWER} Service meshes became popular around 2017."
    ));
    assert_eq!(
        r.unjudged,
        vec!["Service meshes became popular around 2017.".to_string()]
    );
}

#[test]
fn the_report_serialises_with_the_documented_fields() {
    let v = serde_json::to_value(check(MODEL_ANSWER)).expect("serialises");
    assert_eq!(v["verdict"], "pass");
    assert!(v["words"].is_u64());
    assert!(v["points"][0]["name"].is_string());
    assert!(v["misconceptions"].is_array());
    assert!(v["unjudged"].is_array());
    assert!(v["model_answer"].is_string());
}

#[test]
fn a_claim_reported_as_a_mistake_is_denied_not_made() {
    let text = "A common mistake is to think that the control plane forwards the requests.";
    assert_right(&[text]);
    assert!(
        points(text).contains(&"control-plane-off-path".to_string()),
        "{:?}",
        points(text)
    );
    assert_mis(
        "control-plane-on-request-path",
        &["I think that the control plane forwards the requests."],
    );
}

#[test]
fn a_verbless_answer_completes_its_question() {
    let p = points("Which parts are the data plane? The sidecars and the gateway.");
    assert!(p.contains(&"data-plane".to_string()), "{p:?}");
    let p = points("How do A and B talk? Through their sidecars, over mTLS.");
    assert!(p.contains(&"mtls".to_string()), "{p:?}");
    let p = points("And the control plane? It configures the proxies.");
    assert!(p.contains(&"control-plane".to_string()), "{p:?}");
}

#[test]
fn denials_of_misconceptions_are_shown_as_right() {
    let r = check(MODEL_ANSWER);
    assert!(
        r.denied
            .iter()
            .any(|d| d.name == "control-plane-on-request-path"),
        "{:?}",
        r.denied
    );
}

#[test]
fn a_few_right_sentences_padded_with_filler_do_not_pass() {
    let text = include_str!("../../../tests/checker/corpus/fail-filler-h01-padding.txt");
    let r = check(text);
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(r.refused, vec![Refusal::MostlyUnjudged], "{}", render(&r));
    assert!(r.reasons[0].contains("words are in sentences no rule could judge"));
}

#[test]
fn contrasts_and_without_deny_what_follows() {
    assert_right(&[
        "Unlike the control plane, the sidecar proxies sit in the path of every request.",
        "The control plane configures them without forwarding any request.",
    ]);
    assert!(
        points("The control plane configures them without forwarding any request.")
            .contains(&"control-plane-off-path".to_string())
    );
    assert_mis(
        "plaintext-between-sidecars",
        &["The sidecars send the calls between the two services without encryption."],
    );
}

#[test]
fn proxies_that_cannot_retry_is_a_misconception() {
    assert_mis(
        "proxies-cannot-retry",
        &[
            "Sidecars cannot retry requests.",
            "The sidecars do not retry failed calls.",
        ],
    );
    assert_right(&["The application does not retry; its sidecar does."]);
}

#[test]
fn there_is_sentences_are_a_list() {
    let text = "There is a data plane. There is a control plane. There is a sidecar proxy. There is an Ingress Gateway. There is an mTLS connection. ".repeat(3);
    assert!(check(&text).refused.contains(&Refusal::KeywordList));
}

#[test]
fn outages_libraries_and_configuration_sources_are_judged() {
    assert_mis(
        "control-plane-outage-stops-traffic",
        &["If the control plane goes down, every request between the services stops."],
    );
    assert_right(&[
        "If the control plane goes down, requests keep flowing with the last configuration.",
    ]);
    assert_mis(
        "sidecar-inside-the-application",
        &["The sidecar is a library that is compiled into the code of each service."],
    );
    assert_mis(
        "configuration-not-from-control-plane",
        &[
            "Every sidecar receives its routing configuration from the Ingress Gateway.",
            "The sidecars configure each other.",
            "The Ingress Gateway configures the sidecars.",
        ],
    );
    assert_right(&["Every sidecar receives its routing configuration from the control plane."]);
}

#[test]
fn a_relative_clause_continues_across_and() {
    assert_mis(
        "control-plane-on-request-path",
        &["The sidecars send their certificates to the control plane, which checks them and then relays the request to the second sidecar."],
    );
}

#[test]
fn typos_in_long_words_are_forgiven_but_not_in_small_ones() {
    let p = points("The controll plane configures the sidcar proxies.");
    assert!(p.contains(&"control-plane".to_string()), "{p:?}");
    // "newer" is one letter from "never", but small words are not guessed.
    assert_mis(
        "control-plane-on-request-path",
        &["The newer control plane forwards requests."],
    );
}

#[test]
fn more_misconceptions_and_right_orders() {
    assert_mis(
        "shared-sidecar",
        &["Both services share one single sidecar proxy."],
    );
    assert_mis(
        "control-plane-on-request-path",
        &["The control plane signs every request between the services."],
    );
    let p = points("The service received the request from its sidecar, which had received it from the Ingress Gateway.");
    assert!(p.contains(&"request-path".to_string()), "{p:?}");
    let p = points("The sidecars plus the Ingress Gateway are what we call the data plane.");
    assert!(p.contains(&"data-plane".to_string()), "{p:?}");
    assert_right(&["The sidecars call the control plane to get their certificates."]);
}

#[test]
fn the_prompt_asks_for_the_diagram_it_is_checked_against() {
    for part in [
        "two services",
        "sidecar proxies",
        "data plane",
        "control plane",
        "mTLS connection",
        "Ingress Gateway",
        "100 words",
    ] {
        assert!(PROMPT.contains(part), "the prompt does not mention {part}");
    }
}

#[test]
fn empty_huge_and_odd_input_is_refused_quietly() {
    let empty = check("");
    assert_eq!(empty.words, 0);
    assert!(!empty.passed());
    let huge = check(&"word ".repeat(200_000));
    assert_eq!(huge.refused, vec![Refusal::TooLong]);
    let odd = check("\u{1b}[31m ünïcödé — \u{0} 🚀");
    assert!(!odd.passed());
}

#[test]
fn naming_every_part_in_a_sentence_of_its_own_is_a_list() {
    let text = [
        "The sidecar is great.",
        "The data plane is great.",
        "The control plane is great.",
        "mTLS is great.",
        "The Ingress Gateway is great.",
        "Retries are great.",
        "VirtualService is great.",
        "DestinationRule is great.",
        "Circuit breaking is great.",
        "Observability is great.",
        "The CA is great.",
        "Envoy is great.",
        "Istiod is great.",
        "Traffic policy is great.",
        "Load balancing is great.",
        "Canary is great.",
        "Timeouts are great.",
        "Telemetry is great.",
        "Identity is great.",
        "Envoy is great.",
    ]
    .join(" ");
    let r = check(&text);
    assert_eq!(r.refused, vec![Refusal::KeywordList], "{}", render(&r));
    assert!(r.points.iter().all(|p| !p.found));
}

#[test]
fn the_one_told_to_act_is_the_one_acting() {
    assert_right(&[
        "Istiod configures the proxies to route traffic.",
        "The control plane can tell the first sidecar to retry failed calls.",
    ]);
    let p = points("The control plane can tell the first sidecar to retry failed calls.");
    assert!(p.contains(&"retries".to_string()), "{p:?}");
}

#[test]
fn numbered_sentences_are_prose_not_a_list() {
    let text = "1. Each of the two services has a sidecar proxy that handles its traffic.\n2. The sidecars and the Ingress Gateway together form the data plane.\n3. A request from outside enters through the Ingress Gateway, which forwards it to the sidecar of the first service, which passes it to the service.\n4. The first service's sidecar calls the second service's sidecar over mTLS, and both check certificates issued by the mesh CA.\n5. The control plane configures the proxies and issues those certificates; requests never go through it.";
    let r = check(text);
    assert!(r.passed(), "{}", render(&r));
}

#[test]
fn a_colon_after_a_name_defines_it() {
    let p = points("Data plane: the Ingress Gateway and one sidecar proxy per service, which carry all traffic.");
    assert!(p.contains(&"data-plane".to_string()), "{p:?}");
    assert_mis(
        "control-plane-on-request-path",
        &["Every call from one sidecar to the other travels through a connection inside the control plane."],
    );
    assert_mis(
        "ingress-between-services",
        &["Calls from the first service to the second are sent through the Ingress Gateway."],
    );
}

#[test]
fn opening_participles_take_the_subject_after_the_comma() {
    assert_right(&["Configuring every proxy while never touching a request, the control plane stays off the data path."]);
    let p = points("Running next to each of the two services, a sidecar proxy intercepts all of the service's requests.");
    assert!(p.contains(&"sidecar".to_string()), "{p:?}");
}

#[test]
fn lists_of_objects_and_new_subjects_are_told_apart() {
    let p = points("The control plane decides the routes and policies and configures the proxies.");
    assert!(p.contains(&"control-plane".to_string()), "{p:?}");
    let p = points("Each service has a sidecar proxy that takes all its traffic, and the sidecars, with the Ingress Gateway, form the data plane.");
    assert!(
        p.contains(&"sidecar".to_string()) && p.contains(&"data-plane".to_string()),
        "{p:?}"
    );
    let p = points("The sidecars and the Ingress Gateway are grouped as the data plane.");
    assert!(p.contains(&"data-plane".to_string()), "{p:?}");
}
