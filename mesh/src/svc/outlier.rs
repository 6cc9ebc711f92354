//! Outlier detection as a pure state machine: outcomes and time in, ejection
//! decisions out, no HTTP types. The cluster service feeds it and asks it
//! which hosts may take traffic.
//!
//! Semantics follow Istio's DestinationRule `outlierDetection`:
//! - a host is ejected after `consecutive5xxErrors` 5xx answers in a row, or
//!   `consecutiveGatewayErrors` 502/503/504 in a row (local connect failures,
//!   resets and timeouts count as both);
//! - it stays out for `baseEjectionTime` × the number of times it has been
//!   ejected; that multiplier shrinks by one for each `interval` it stays healthy;
//! - at most `maxEjectionPercent` of hosts are out at once, but one host can
//!   always be ejected (as Envoy does); below `minHealthPercent` healthy hosts,
//!   ejection stops.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use super::classify::Outcome;
use crate::config::model::OutlierDetection;

/// Outlier detection settings with Istio's defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct OutlierPolicy {
    /// 5xx in a row before ejection (0: off).
    pub consecutive_5xx: u32,
    /// Gateway errors in a row before ejection (0: off).
    pub consecutive_gateway: u32,
    /// Sweep interval.
    pub interval: Duration,
    /// Base ejection time.
    pub base_ejection: Duration,
    /// Max share of hosts ejected, percent.
    pub max_ejection_percent: u32,
    /// Min share of healthy hosts for ejection to happen, percent.
    pub min_health_percent: u32,
}

impl OutlierPolicy {
    /// From a DestinationRule's settings, with Istio's defaults (5 consecutive
    /// 5xx, 10 s interval, 30 s base ejection, 10% max ejection).
    pub fn from_config(od: &OutlierDetection) -> Self {
        Self {
            consecutive_5xx: od.consecutive_5xx_errors.unwrap_or(5),
            consecutive_gateway: od
                .consecutive_gateway_errors
                .or(od.consecutive_errors)
                .unwrap_or(0),
            interval: od.interval.unwrap_or(Duration::from_secs(10)),
            base_ejection: od.base_ejection_time.unwrap_or(Duration::from_secs(30)),
            max_ejection_percent: od.max_ejection_percent.unwrap_or(10).min(100),
            min_health_percent: od.min_health_percent.unwrap_or(0).min(100),
        }
    }
}

/// A change the detector made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// `host` is out for `duration` (its `times`-th ejection).
    Ejected {
        /// The host.
        host: String,
        /// For how long.
        duration: Duration,
        /// How many times it has been ejected (the multiplier).
        times: u32,
    },
    /// `host` is back.
    Returned {
        /// The host.
        host: String,
    },
}

#[derive(Debug, Clone, Default)]
struct HostState {
    consecutive_5xx: u32,
    consecutive_gateway: u32,
    ejected_until: Option<Instant>,
    times_ejected: u32,
    failed_since_sweep: bool,
}

/// Per-cluster outlier detection.
#[derive(Debug, Clone)]
pub struct OutlierDetector {
    policy: OutlierPolicy,
    hosts: HashMap<String, HostState>,
    last_sweep: Option<Instant>,
}

impl OutlierDetector {
    /// A detector with `policy`.
    pub fn new(policy: OutlierPolicy) -> Self {
        Self {
            policy,
            hosts: HashMap::new(),
            last_sweep: None,
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &OutlierPolicy {
        &self.policy
    }

    /// Replaces the policy, keeping host state.
    pub fn set_policy(&mut self, policy: OutlierPolicy) {
        self.policy = policy;
    }

    /// Forgets hosts that are no longer endpoints.
    pub fn retain(&mut self, live: impl Fn(&str) -> bool) {
        self.hosts.retain(|h, _| live(h));
    }

    /// Records an attempt's outcome on `host`; `hosts` is the pool size.
    pub fn record(
        &mut self,
        host: &str,
        outcome: Outcome,
        now: Instant,
        hosts: usize,
    ) -> Vec<Decision> {
        let mut out = self.sweep(now);
        if matches!(outcome, Outcome::Local) {
            return out;
        }
        let policy = self.policy.clone();
        let ejected_now = self.ejected_count(now);
        let st = self.hosts.entry(host.to_string()).or_default();
        if st.ejected_until.is_some_and(|t| t > now) {
            return out; // answers still arriving from before the ejection
        }
        if outcome.is_5xx() {
            st.consecutive_5xx += 1;
            st.failed_since_sweep = true;
        } else {
            st.consecutive_5xx = 0;
        }
        if outcome.is_gateway_error() {
            st.consecutive_gateway += 1;
        } else {
            st.consecutive_gateway = 0;
        }
        let tripped = (policy.consecutive_5xx > 0 && st.consecutive_5xx >= policy.consecutive_5xx)
            || (policy.consecutive_gateway > 0
                && st.consecutive_gateway >= policy.consecutive_gateway);
        if !tripped {
            return out;
        }
        st.consecutive_5xx = 0;
        st.consecutive_gateway = 0;
        let hosts = hosts.max(1);
        let within_max = ejected_now == 0
            || (ejected_now + 1) * 100 <= hosts * policy.max_ejection_percent as usize;
        let healthy_after = (hosts - ejected_now).saturating_sub(1);
        let health_ok = healthy_after * 100 >= hosts * policy.min_health_percent as usize
            || policy.min_health_percent == 0;
        if !within_max || !health_ok {
            return out;
        }
        st.times_ejected += 1;
        let duration = policy.base_ejection * st.times_ejected;
        st.ejected_until = Some(now + duration);
        out.push(Decision::Ejected {
            host: host.to_string(),
            duration,
            times: st.times_ejected,
        });
        out
    }

    /// Whether `host` may not take traffic now.
    pub fn is_ejected(&self, host: &str, now: Instant) -> bool {
        self.hosts
            .get(host)
            .and_then(|s| s.ejected_until)
            .is_some_and(|t| t > now)
    }

    /// Hosts out now.
    pub fn ejected_count(&self, now: Instant) -> usize {
        self.hosts
            .values()
            .filter(|s| s.ejected_until.is_some_and(|t| t > now))
            .count()
    }

    /// Returns hosts whose ejection ended, and once per interval shrinks the
    /// multiplier of hosts that stayed healthy.
    pub fn sweep(&mut self, now: Instant) -> Vec<Decision> {
        let mut out = Vec::new();
        for (host, st) in self.hosts.iter_mut() {
            if st.ejected_until.is_some_and(|t| t <= now) {
                st.ejected_until = None;
                out.push(Decision::Returned { host: host.clone() });
            }
        }
        let due = self
            .last_sweep
            .is_none_or(|t| now.duration_since(t) >= self.policy.interval);
        if due {
            if self.last_sweep.is_some() {
                for st in self.hosts.values_mut() {
                    if st.ejected_until.is_none() && !st.failed_since_sweep {
                        st.times_ejected = st.times_ejected.saturating_sub(1);
                    }
                    st.failed_since_sweep = false;
                }
            }
            self.last_sweep = Some(now);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> OutlierPolicy {
        OutlierPolicy::from_config(&OutlierDetection {
            consecutive_5xx_errors: Some(5),
            interval: Some(Duration::from_secs(1)),
            base_ejection_time: Some(Duration::from_secs(30)),
            max_ejection_percent: Some(100),
            ..Default::default()
        })
    }

    #[test]
    fn ejects_after_five_consecutive_5xx_and_returns_after_base_time() {
        let mut d = OutlierDetector::new(policy());
        let t0 = Instant::now();
        for i in 0..4 {
            assert!(
                d.record("a", Outcome::Status5xx(503), t0, 3).is_empty(),
                "attempt {i}"
            );
        }
        let dec = d.record("a", Outcome::Status5xx(503), t0, 3);
        assert_eq!(
            dec,
            vec![Decision::Ejected {
                host: "a".into(),
                duration: Duration::from_secs(30),
                times: 1
            }]
        );
        assert!(d.is_ejected("a", t0 + Duration::from_secs(29)));
        assert!(!d.is_ejected("a", t0 + Duration::from_secs(30)));
        let back = d.sweep(t0 + Duration::from_secs(30));
        assert!(back.contains(&Decision::Returned { host: "a".into() }));
    }

    #[test]
    fn a_success_resets_the_count() {
        let mut d = OutlierDetector::new(policy());
        let t0 = Instant::now();
        for _ in 0..4 {
            d.record("a", Outcome::Status5xx(500), t0, 3);
        }
        d.record("a", Outcome::Success(200), t0, 3);
        for _ in 0..4 {
            assert!(d.record("a", Outcome::Status5xx(500), t0, 3).is_empty());
        }
    }

    #[test]
    fn ejection_time_grows_with_each_ejection() {
        let mut d = OutlierDetector::new(policy());
        let mut now = Instant::now();
        for round in 1..=3u32 {
            let mut last = Vec::new();
            for _ in 0..5 {
                last = d.record("a", Outcome::ConnectFailure, now, 2);
            }
            assert_eq!(
                last,
                vec![Decision::Ejected {
                    host: "a".into(),
                    duration: Duration::from_secs(30) * round,
                    times: round
                }]
            );
            now += Duration::from_secs(30) * round;
        }
    }

    #[test]
    fn max_ejection_percent_leaves_hosts_in_but_one_can_always_go() {
        let mut p = policy();
        p.max_ejection_percent = 10;
        let mut d = OutlierDetector::new(p);
        let t0 = Instant::now();
        for _ in 0..5 {
            d.record("a", Outcome::Status5xx(503), t0, 3);
        }
        assert!(d.is_ejected("a", t0), "one host may always be ejected");
        for _ in 0..5 {
            d.record("b", Outcome::Status5xx(503), t0, 3);
        }
        assert!(!d.is_ejected("b", t0), "a second would pass 10%");
    }

    #[test]
    fn gateway_errors_count_only_502_to_504() {
        let mut d = OutlierDetector::new(OutlierPolicy::from_config(&OutlierDetection {
            consecutive_5xx_errors: Some(0),
            consecutive_gateway_errors: Some(2),
            max_ejection_percent: Some(100),
            ..Default::default()
        }));
        let t0 = Instant::now();
        d.record("a", Outcome::Status5xx(500), t0, 2);
        d.record("a", Outcome::Status5xx(500), t0, 2);
        assert!(!d.is_ejected("a", t0));
        d.record("a", Outcome::Status5xx(502), t0, 2);
        d.record("a", Outcome::Status5xx(504), t0, 2);
        assert!(d.is_ejected("a", t0));
    }

    #[test]
    fn healthy_intervals_shrink_the_multiplier() {
        let mut d = OutlierDetector::new(policy());
        let mut now = Instant::now();
        d.sweep(now);
        for _ in 0..5 {
            d.record("a", Outcome::Status5xx(503), now, 2);
        }
        now += Duration::from_secs(30);
        d.sweep(now);
        // Two healthy intervals bring the multiplier from 1 back to 0.
        now += Duration::from_secs(1);
        d.sweep(now);
        now += Duration::from_secs(1);
        d.sweep(now);
        let mut last = Vec::new();
        for _ in 0..5 {
            last = d.record("a", Outcome::Status5xx(503), now, 2);
        }
        assert!(
            matches!(last.last(), Some(Decision::Ejected { times: 1, .. })),
            "{last:?}"
        );
    }
}
