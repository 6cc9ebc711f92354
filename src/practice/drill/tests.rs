use rand::rngs::StdRng;
use rand::SeedableRng;

use super::*;

/// The demo mesh's names.
fn demo() -> MeshNames {
    let i = |n: &str, s: &str, v: &str| (n.to_string(), s.to_string(), v.to_string());
    MeshNames {
        instances: vec![
            i("auth-v1-0", "auth", "v1"),
            i("billing-v1-0", "billing", "v1"),
            i("billing-v1-1", "billing", "v1"),
            i("billing-v2-0", "billing", "v2"),
            i("catalog-v1-0", "catalog", "v1"),
            i("frontend-v1-0", "frontend", "v1"),
            i("frontend-v1-1", "frontend", "v1"),
            i("user-v1-0", "user", "v1"),
        ],
        gateways: vec!["eu".into(), "us".into()],
        version: 3,
    }
}

/// A right "what" answer for a fault, as a learner would type it.
fn right_answer(f: &Fault) -> String {
    let t = &f.target;
    match f.kind {
        DrillKind::SlowService => format!("{t} got slow"),
        DrillKind::FailingInstance => format!("{t} fails every request"),
        DrillKind::FlakyService => format!("{t} returns 503 errors"),
        DrillKind::CanaryWeight => format!("{t} gets most of the traffic"),
        DrillKind::MtlsDowngrade => "PERMISSIVE".into(),
        DrillKind::TimeoutTooShort => format!("{t}: its timeout is too short"),
        DrillKind::RetryStorm => format!("{t}, retries multiply the load"),
        DrillKind::WrongSubset => format!("{t} routes to a subset with no instances"),
        DrillKind::EjectedInstance => format!("{t} was ejected by outlier detection"),
        DrillKind::GatewayDown => format!("the east-west gateway of {t} is down"),
    }
}

fn right_fix(f: &Fault) -> &'static str {
    match f.kind {
        DrillKind::MtlsDowngrade => "PeerAuthentication",
        DrillKind::FailingInstance | DrillKind::EjectedInstance => "a DestinationRule",
        DrillKind::GatewayDown => "start the gateway again",
        _ => "VirtualService",
    }
}

#[test]
fn every_kind_can_be_drilled_on_the_demo_and_its_right_answer_wins() {
    for kind in DrillKind::ALL {
        for seed in 0..8 {
            let f = plan(&demo(), kind, &mut StdRng::seed_from_u64(seed)).expect("plannable");
            assert!(f.candidates.contains(&f.target), "{f:?}");
            let j = judge(&f, &right_answer(&f), right_fix(&f));
            assert!(j.ok(), "{kind:?} on {}: {j:?}", f.target);
            // The question never contains its answer.
            let q = tokens(kind.question());
            for t in tokens(&f.target) {
                assert!(!q.contains(&t), "{kind:?}'s question says {t}");
            }
        }
    }
}

#[test]
fn the_failing_instance_is_judged_by_its_exact_name() {
    let mut f = plan(
        &demo(),
        DrillKind::FailingInstance,
        &mut StdRng::seed_from_u64(1),
    )
    .expect("plan");
    f.target = "frontend-v1-1".into();
    for what in [
        "frontend-v1-1 fails",
        "Frontend v1 1 failing",
        "frontend_v1_1: 503s",
    ] {
        assert!(judge(&f, what, "DestinationRule").ok(), "{what}");
    }
    for what in [
        "frontend-v1-0 fails",
        "frontend-v1-10 fails",
        "frontend fails",
        "not frontend-v1-1, it fails",
    ] {
        assert!(!judge(&f, what, "DestinationRule").what_ok, "{what}");
    }
}

#[test]
fn gaming_answers_are_wrong() {
    let mut f = plan(
        &demo(),
        DrillKind::SlowService,
        &mut StdRng::seed_from_u64(2),
    )
    .expect("plan");
    f.target = "auth".into();
    let j = judge(
        &f,
        "auth billing catalog frontend user slow",
        "VirtualService",
    );
    assert!(
        !j.what_ok && j.why.iter().any(|w| w.contains("list")),
        "{j:?}"
    );
    for fix in [
        "not a VirtualService",
        "VirtualService DestinationRule PeerAuthentication AuthorizationPolicy",
        "no virtual service",
        "",
    ] {
        assert!(!judge(&f, "auth is slow", fix).fix_ok, "{fix}");
    }
    // Naming every version of the canary's service is a list too.
    let mut c = plan(
        &demo(),
        DrillKind::CanaryWeight,
        &mut StdRng::seed_from_u64(3),
    )
    .expect("plan");
    c.target = "billing v1".into();
    assert!(judge(&c, "billing v1 gets it", "VirtualService").ok());
    assert!(judge(&c, "v1 of billing", "VirtualService").ok());
    assert!(!judge(&c, "billing v1 v2", "VirtualService").what_ok);
    assert!(!judge(&c, "billing v2", "VirtualService").what_ok);
    let m = plan(
        &demo(),
        DrillKind::MtlsDowngrade,
        &mut StdRng::seed_from_u64(0),
    )
    .expect("plan");
    assert!(!judge(&m, "permissive strict disable", "PeerAuthentication").what_ok);
    assert!(!judge(&m, "not permissive", "PeerAuthentication").what_ok);
    // The mechanism matters: a slow service is not a timeout.
    let mut t = plan(
        &demo(),
        DrillKind::TimeoutTooShort,
        &mut StdRng::seed_from_u64(0),
    )
    .expect("plan");
    t.target = "user".into();
    assert!(!judge(&t, "user", "VirtualService").what_ok);
    assert!(judge(&t, "user has a timeout of 1 ms", "VirtualService").ok());
}

#[test]
fn drills_are_picked_at_random_over_kinds_and_targets() {
    let mut rng = StdRng::seed_from_u64(7);
    let mut kinds = std::collections::BTreeSet::new();
    let mut targets = std::collections::BTreeSet::new();
    for _ in 0..200 {
        let f = pick(&demo(), None, &mut rng).expect("a drill");
        kinds.insert(format!("{:?}", f.kind));
        targets.insert(f.target);
    }
    assert_eq!(kinds.len(), DrillKind::ALL.len(), "{kinds:?}");
    assert!(targets.len() >= 10, "{targets:?}");
    // A mesh with one instance per service has no failing-instance drill.
    let mut single = demo();
    single
        .instances
        .retain(|i| i.0.ends_with("-0") && i.2 == "v1");
    single.gateways.clear();
    assert!(plan(&single, DrillKind::FailingInstance, &mut rng).is_none());
    assert!(plan(&single, DrillKind::GatewayDown, &mut rng).is_none());
    assert!(pick(&single, None, &mut rng).is_some());
}

#[test]
fn config_drills_are_valid_resources_applied_in_one_version_and_rolled_back() {
    let topo = mesh::api::Topology::demo();
    for kind in DrillKind::ALL {
        let f = plan(&demo(), kind, &mut StdRng::seed_from_u64(5)).expect("plan");
        let applies: Vec<&String> = f
            .inject
            .iter()
            .filter_map(|s| match s {
                Step::Apply(y) => Some(y),
                _ => None,
            })
            .collect();
        assert!(applies.len() <= 1, "{kind:?}: one version at most");
        for y in applies {
            let (res, findings) = mesh::api::config::check("drill", y, &topo, &[]);
            assert!(!res.is_empty(), "{y}");
            // The wrong subset is the fault itself; the analyzer warns and the apply goes ahead.
            let blocking = findings
                .iter()
                .filter(|x| x.is_error() && !x.fix.contains("the apply goes ahead"))
                .count();
            assert_eq!(blocking, 0, "{kind:?}\n{y}\n{findings:#?}");
            assert!(f.undo.contains(&Step::Rollback(3)), "{kind:?}");
        }
        // Every chaos injected is healed.
        for s in &f.inject {
            if let Step::Chaos { target, action, .. } = s {
                let undo = if *action == "stop-gateway" {
                    "start-gateway"
                } else {
                    "heal"
                };
                assert!(
                    f.undo.iter().any(|u| matches!(u, Step::Chaos { action, target: t, .. } if *action == undo && t == target)),
                    "{kind:?}"
                );
            }
        }
    }
}

#[test]
fn the_gateway_drill_takes_a_restart_for_a_fix() {
    let mut f = plan(
        &demo(),
        DrillKind::GatewayDown,
        &mut StdRng::seed_from_u64(0),
    )
    .expect("plan");
    f.target = "us".into();
    for fix in [
        "restart it",
        "start the east-west gateway",
        "bring it back up",
    ] {
        assert!(
            judge(&f, "us's east-west gateway is down", fix).ok(),
            "{fix}"
        );
    }
    for fix in ["do not restart it", "VirtualService", ""] {
        assert!(
            !judge(&f, "us's east-west gateway is down", fix).fix_ok,
            "{fix}"
        );
    }
    assert!(!judge(&f, "the gateways of eu and us", "restart").what_ok);
}
