//! Where a call runs and what stops it: the caller's thread unless an `http-get` origin is
//! granted, and then the watchdog for a host call that never returns.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use super::super::http::{FetchError, HttpFetcher, HttpResponse};
use super::super::{FileSource, HostAccess, Limits, PluginRef, PolicyEnvironments, Runtime};
use crate::decision::{Decision, PolicyOutcome};
use crate::transition::Transition;

/// erp-readiness reading `prod`'s readiness from a file and, where `endpoint` is set, an URL.
fn erp_config(endpoint: Option<&str>) -> String {
    let endpoint = endpoint.map(|url| format!(r#", "endpoint": {{"url": "{url}"}}"#)).unwrap_or_default();
    format!(r#"{{"environments": {{"prod": {{"readiness_file": "erp/readiness.yaml"{endpoint}}}}}}}"#)
}

fn prod_transition() -> Transition {
    Transition { id: "tg-threads".into(), application: "shop-api".into(), to_env: "prod".into(), requested_at: 1_767_691_800, ..Transition::default() }
}

fn erp_readiness() -> Arc<super::Plugin> {
    let runtime = Runtime::new(None).unwrap();
    runtime.load(&PluginRef::parse("builtin:erp-readiness").unwrap()).unwrap()
}

fn environments() -> PolicyEnvironments {
    PolicyEnvironments { configured: vec!["prod".into()], runs_for: vec!["prod".into()] }
}

/// The readiness file, remembering the thread each read came from.
#[derive(Default)]
struct ReadsFrom(Mutex<Vec<ThreadId>>);

impl FileSource for ReadsFrom {
    fn read(&self, _path: &str) -> Result<Option<String>, String> {
        self.0.lock().unwrap().push(std::thread::current().id());
        Ok(Some("status: ready\n".to_string()))
    }
}

#[test]
fn a_call_without_network_access_runs_on_the_callers_thread_and_one_granted_origins_on_a_worker() {
    let plugin = erp_readiness();
    for granted in [false, true] {
        let files = Arc::new(ReadsFrom::default());
        // The origin is granted but never fetched from: the grant alone decides the thread.
        let http_origins = if granted { vec!["http://erp.test".to_string()] } else { Vec::new() };
        let access = HostAccess { files: Some(files.clone()), http_origins, environments: environments(), ..HostAccess::none() };
        let decided = plugin.decide(&erp_config(None), &prod_transition(), Limits::default(), access);
        match &decided.evaluation.outcome {
            PolicyOutcome::Verdict(verdict) => assert_eq!(verdict.decision, Decision::Allow, "{verdict:?}"),
            other => panic!("granted {granted}: {other:?}"),
        }
        let reads = files.0.lock().unwrap().clone();
        assert_eq!(reads.len(), 1, "granted {granted}: the plugin read its readiness file once");
        assert_eq!(reads[0] == std::thread::current().id(), !granted, "granted {granted}: read on {:?}", reads[0]);
    }
}

/// An `http-get` that never returns by itself (as a fetch blocked somewhere no timeout
/// reaches): it waits until the test lets it go, and says when it was entered.
struct NeverAnswers {
    entered: mpsc::SyncSender<()>,
    release: Mutex<mpsc::Receiver<()>>,
}

impl HttpFetcher for NeverAnswers {
    fn get(&self, _url: &str, _headers: &[(String, String)], _timeout: Duration, _max_body_bytes: u64) -> Result<HttpResponse, FetchError> {
        let _ = self.entered.send(());
        let _ = self.release.lock().unwrap().recv();
        Err(FetchError::Failed("released by the test".to_string()))
    }
}

#[test]
fn a_call_blocked_in_an_http_get_is_abandoned_by_the_watchdog_after_its_deadline() {
    let plugin = erp_readiness();
    let (entered, was_entered) = mpsc::sync_channel(1);
    let (let_go, release) = mpsc::channel();
    let http = Arc::new(NeverAnswers { entered, release: Mutex::new(release) });
    let files: BTreeMap<String, String> = [("erp/readiness.yaml".to_string(), "status: ready\n".to_string())].into();
    let access = HostAccess { files: Some(Arc::new(files)), http_origins: vec!["http://erp.test".into()], http, environments: environments() };
    let limits = Limits { timeout: Duration::from_millis(300), ..Limits::default() };
    let started = Instant::now();
    let decided = plugin.decide(&erp_config(Some("http://erp.test/ready")), &prod_transition(), limits, access);
    let waited = started.elapsed();
    assert!(was_entered.try_recv().is_ok(), "the plugin never reached its http-get");
    match &decided.evaluation.outcome {
        PolicyOutcome::Failed { cause } => assert!(cause.contains("timed out after 300 ms (abandoned by the watchdog"), "{cause}"),
        other => panic!("{other:?}"),
    }
    assert!(waited >= Duration::from_millis(300), "not before the deadline: {waited:?}");
    assert!(waited < Duration::from_secs(30), "abandoned, not waited for: {waited:?}");
    let _ = let_go.send(());
}

/// `serve` decides on the blocking threads of its one-thread async runtime: a call there waits
/// (WASI's timers) on the sandbox's own runtime, which its own thread drives, and decides as
/// anywhere else.
#[test]
fn a_call_from_a_blocking_thread_of_a_current_thread_runtime_waits_on_the_sandboxs_own_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (flavor, decided) = runtime.block_on(async {
        tokio::task::spawn_blocking(|| {
            let mut flavor = None;
            super::run_outside_callers_runtime(|| flavor = Some(tokio::runtime::Handle::current().runtime_flavor()));
            let access = HostAccess { files: Some(Arc::new(ReadsFrom::default())), environments: environments(), ..HostAccess::none() };
            (flavor, erp_readiness().decide(&erp_config(None), &prod_transition(), Limits::default(), access))
        })
        .await
        .unwrap()
    });
    assert_eq!(flavor, Some(tokio::runtime::RuntimeFlavor::MultiThread));
    match &decided.evaluation.outcome {
        PolicyOutcome::Verdict(verdict) => assert_eq!(verdict.decision, Decision::Allow, "{verdict:?}"),
        other => panic!("{other:?}"),
    }
}

/// A readiness file of `padding` bytes of comment, then `status: ready`.
struct PaddedReadiness(usize);

impl FileSource for PaddedReadiness {
    fn read(&self, _path: &str) -> Result<Option<String>, String> {
        Ok(Some(format!("#{}\nstatus: ready\n", "x".repeat(self.0))))
    }
}

#[test]
fn under_a_deferred_drops_guard_a_threads_last_small_instances_end_with_the_guard_and_at_most_one_decisions_worth_wait() {
    use super::super::deferred::{MAX_PARKED, MAX_PARKED_BYTES, parked_here};
    let plugin = erp_readiness();
    let decide_reading = |padding: usize| {
        let access = HostAccess { files: Some(Arc::new(PaddedReadiness(padding))), environments: environments(), ..HostAccess::none() };
        let decided = plugin.decide(&erp_config(None), &prod_transition(), Limits::default(), access);
        assert!(matches!(&decided.evaluation.outcome, PolicyOutcome::Verdict(verdict) if verdict.decision == Decision::Allow), "{:?}", decided.evaluation.outcome);
        decided.evaluation.peak_memory_bytes
    };
    let decide = || decide_reading(0);
    decide();
    assert!(parked_here().is_empty(), "without a guard an instance ends with its call");
    {
        let _guard = super::super::defer_instance_drops();
        decide();
        assert_eq!(parked_here().len(), 1, "the call's instance waits for the guard");
        {
            let _inner = super::super::defer_instance_drops();
            for _ in 0..MAX_PARKED + 2 {
                decide();
            }
        }
        assert_eq!(parked_here().len(), MAX_PARKED, "an inner guard leaves them to the outer one, and no more than {MAX_PARKED} wait");
        // An instance that grew past what a pool slot keeps resident ends at once.
        let peak = decide_reading(MAX_PARKED_BYTES * 7 / 8);
        assert!(peak > MAX_PARKED_BYTES, "the padded file grew the instance: {peak} bytes");
        let kept = parked_here();
        assert!(kept.len() == MAX_PARKED && kept.iter().all(|&bytes| bytes <= MAX_PARKED_BYTES), "{kept:?}");
    }
    assert!(parked_here().is_empty(), "they end with the guard");
    // Another thread's calls are not kept by this thread's guard, nor by any of their own.
    let _guard = super::super::defer_instance_drops();
    std::thread::scope(|scope| scope.spawn(decide).join().unwrap());
    assert!(parked_here().is_empty());
}
