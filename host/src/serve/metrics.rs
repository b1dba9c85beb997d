//! The server's Prometheus metrics: decisions by application, environment and decision;
//! verdicts by policy; evaluation time per policy; plugin failures by kind; the repository
//! fetch's age and failures. Label values are names from the configuration of the protected
//! branch (applications, environments, policies): only planned transitions are counted, so a
//! requester cannot make up new series.

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::decision::PolicyOutcome;
use crate::promotion::pipeline::Decided;

type Labels = Vec<(&'static str, String)>;

/// Every metric, registered once.
pub struct Metrics {
    registry: Registry,
    decisions: Family<Labels, Counter>,
    verdicts: Family<Labels, Counter>,
    evaluation_seconds: Family<Labels, Histogram, fn() -> Histogram>,
    plugin_failures: Family<Labels, Counter>,
    preinitialised: Family<Labels, Counter>,
    fetch_failures: Counter,
    fetch_age: Gauge<f64, AtomicU64>,
    in_flight: Gauge,
    last_fetch: Mutex<Option<Instant>>,
}

fn evaluation_histogram() -> Histogram {
    // 100 µs to ~6.5 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("tollgate");
        let decisions = Family::<Labels, Counter>::default();
        registry.register("decisions", "Transitions decided, by application, environment and decision (allow, deny, error)", decisions.clone());
        let verdicts = Family::<Labels, Counter>::default();
        registry.register("policy_verdicts", "Policy verdicts, by application, environment, policy and verdict", verdicts.clone());
        let evaluation_seconds = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(evaluation_histogram);
        registry.register("policy_evaluation_seconds", "Time one policy took on one transition, instantiation included", evaluation_seconds.clone());
        let plugin_failures = Family::<Labels, Counter>::default();
        registry.register("plugin_failures", "Policies that failed to run, by policy and kind (timeout, memory, trap, other)", plugin_failures.clone());
        let preinitialised = Family::<Labels, Counter>::default();
        registry.register(
            "policy_decisions_preinitialised",
            "Policy decisions whose instance started from the plugin's snapshot pre-initialised for its configuration (standard plugins, once a configuration is hot)",
            preinitialised.clone(),
        );
        let fetch_failures = Counter::default();
        registry.register("repository_fetch_failures", "Fetches of a remote --repo that failed", fetch_failures.clone());
        let fetch_age = Gauge::<f64, AtomicU64>::default();
        registry.register("repository_fetch_age_seconds", "Seconds since the last successful fetch of a remote --repo (0 for a local one)", fetch_age.clone());
        let in_flight = Gauge::default();
        registry.register("requests_in_flight", "Requests holding one of the --max-in-flight places", in_flight.clone());
        Metrics { registry, decisions, verdicts, evaluation_seconds, plugin_failures, preinitialised, fetch_failures, fetch_age, in_flight, last_fetch: Mutex::new(None) }
    }
}

impl Metrics {
    /// Count what a call decided.
    pub fn record<'a>(&self, decisions: impl IntoIterator<Item = &'a Decided>) {
        for decided in decisions {
            let t = &decided.plan.transition;
            let pair = || vec![("application", t.application.clone()), ("environment", t.to_env.clone())];
            let mut labels = pair();
            labels.push(("decision", crate::report::decision::decision_word(decided.gate.outcome).to_string()));
            self.decisions.get_or_create(&labels).inc();
            for run in &decided.gate.policies {
                let mut labels = pair();
                labels.extend([("policy", run.name.clone()), ("verdict", run.verdict_label())]);
                self.verdicts.get_or_create(&labels).inc();
                self.evaluation_seconds.get_or_create(&vec![("policy", run.name.clone())]).observe(run.evaluation.elapsed.as_secs_f64());
                if run.evaluation.preinitialised {
                    self.preinitialised.get_or_create(&vec![("policy", run.name.clone())]).inc();
                }
                if let PolicyOutcome::Failed { cause } = &run.evaluation.outcome {
                    self.plugin_failures.get_or_create(&vec![("policy", run.name.clone()), ("kind", failure_kind(cause).to_string())]).inc();
                }
            }
        }
    }

    /// A fetch of the remote repository succeeded (`true`) or failed.
    pub fn fetched(&self, ok: bool) {
        if ok {
            *self.last_fetch.lock().expect("metrics lock") = Some(Instant::now());
        } else {
            self.fetch_failures.inc();
        }
    }

    /// The metrics in the Prometheus text format, with `in_flight` requests under way.
    pub fn render(&self, in_flight: usize) -> String {
        self.in_flight.set(i64::try_from(in_flight).unwrap_or(i64::MAX));
        let age = self.last_fetch.lock().expect("metrics lock").map_or(0.0, |last| last.elapsed().as_secs_f64());
        self.fetch_age.set(age);
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

/// What kind of failure a policy's cause describes.
fn failure_kind(cause: &str) -> &'static str {
    if cause.starts_with("timed out") {
        "timeout"
    } else if cause.contains("memory limit") {
        "memory"
    } else if cause.starts_with("trapped") {
        "trap"
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_kinds_follow_the_runtimes_causes() {
        assert_eq!(failure_kind("timed out after 2000 ms"), "timeout");
        assert_eq!(failure_kind("exceeded memory limit of 64 MiB"), "memory");
        assert_eq!(failure_kind("trapped: wasm `unreachable` instruction executed"), "trap");
        assert_eq!(failure_kind("returned an invalid verdict"), "other");
    }

    #[test]
    fn an_empty_registry_still_renders_the_fetch_metrics() {
        let metrics = Metrics::default();
        metrics.fetched(false);
        let text = metrics.render(2);
        assert!(text.contains("tollgate_requests_in_flight 2"), "{text}");
        assert!(text.contains("tollgate_repository_fetch_failures_total 1"), "{text}");
        assert!(text.contains("tollgate_repository_fetch_age_seconds 0.0"), "{text}");
    }
}
