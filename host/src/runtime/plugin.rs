//! A loaded plugin and its calls: each call gets a fresh `Store` and instance. A spinning
//! guest is stopped by the epoch deadline and a WASI wait ends at it (`waits.rs`); a call that
//! may wait on the world outside the process (`http-get` to a granted origin) runs on a
//! watchdog-guarded worker thread, abandoned if it is still blocked in the host past its
//! deadline. Every other call runs on the caller's thread: handing it to a worker and back cost
//! more than a small plugin's whole evaluation, and on another core its caches start cold.

use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use wasmtime::{Engine, Store, Trap};

use sha2::{Digest, Sha256};

use super::bindings::{Policy, PolicyPre};
use super::counted::CountedApprovals;
use super::deferred;
use super::preinit::{Lookup, Preinitialised, Snapshots};
use super::convert::{artifact_kinds_to_wit, bounded, info_from_wit, named_artifacts_to_wit, transition_to_wit, verdict_from_wit};
use super::sandbox::{SandboxState, new_store, truncate_at_char_boundary};
use super::workers;
use super::{Capability, CodeSource, Evaluation, HostAccess, Limits, LogLine, MAX_INSTANCES, MAX_HOST_RESOURCES, MAX_MEMORIES, MAX_TABLES, MAX_TEXT_BYTES, PluginInfo, PolicyEnvironments, WATCHDOG_GRACE};
use crate::decision::PolicyOutcome;
use crate::transition::Transition;

/// A loaded, linked plugin, ready to be instantiated for each call.
pub struct Plugin {
    pub(super) source: String,
    pub(super) sha256: String,
    pub(super) size: usize,
    pub(super) world: String,
    pub(super) imports: Vec<String>,
    pub(super) exports: Vec<String>,
    pub(super) code_source: CodeSource,
    pub(super) pre: PolicyPre<SandboxState>,
    pub(super) engine: Engine,
    pub(super) info: OnceLock<Result<PluginInfo, String>>,
    /// Configurations (with the environments told) its validate-config accepted; see [`validation_key`].
    pub(super) accepted: std::sync::Mutex<std::collections::HashSet<[u8; 32]>>,
    /// Its pre-initialised instances, by configuration (standard plugins, `serve --preinitialise`).
    pub(super) snapshots: Snapshots,
}

/// What a sandboxed call produced besides its result.
struct CallRecord<R> {
    result: Result<R, String>,
    logs: Vec<LogLine>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
    /// Memory the instance held at the end: its high-water mark, as memories and tables never shrink.
    peak_memory_bytes: usize,
}

impl Plugin {
    /// Where the plugin was loaded from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// sha256 of the component, lower-case hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Size of the component file in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The WIT world and version it implements, e.g. `tollgate:policy/policy@0.1.0`.
    pub fn world(&self) -> &str {
        &self.world
    }

    /// The component's imported and exported interface names (for artifact metadata).
    pub fn interfaces(&self) -> (&[String], &[String]) {
        (&self.imports, &self.exports)
    }

    /// Whether the code came from the compile cache or was compiled now.
    pub fn code_source(&self) -> &CodeSource {
        &self.code_source
    }

    /// The plugin's self-description (asked once, within `limits`, then remembered).
    pub fn info(self: &Arc<Self>, limits: Limits) -> Result<PluginInfo, String> {
        self.info
            .get_or_init(|| {
                let record = self.call(limits, HostAccess::none(), 0, b"info", |store, policy| {
                    policy.tollgate_policy_plugin().call_info(store)
                });
                record.result.and_then(info_from_wit)
            })
            .clone()
    }

    /// Ask the plugin whether `config` (JSON text) is acceptable where the configuration has
    /// `environments` (what `policy-environments` answers). An acceptance is remembered, so
    /// the same question costs one instance per process.
    pub fn validate_config(self: &Arc<Self>, config: &str, environments: &PolicyEnvironments, limits: Limits) -> Result<(), NotAccepted> {
        let question = validation_key(config, environments);
        if self.accepted.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).contains(&question) {
            return Ok(());
        }
        let seed = config.as_bytes().to_vec();
        let config = config.to_string();
        let access = HostAccess { environments: environments.clone(), ..HostAccess::none() };
        let record = self.call(limits, access, 0, &seed, move |store, policy| {
            policy.tollgate_policy_plugin().call_validate_config(store, &config)
        });
        match record.result {
            Ok(Ok(())) => {
                self.accepted.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(question);
                Ok(())
            }
            Ok(Err(message)) => Err(NotAccepted::Refused(bounded(message))),
            Err(cause) => Err(NotAccepted::Failed(cause)),
        }
    }

    /// Ask info() (with nothing reachable), then grant `access` as far as the answer allows
    /// (read-file only to a plugin that asks for it), validate the configuration and
    /// evaluate: all in one fresh instance. The one way a plugin decides: the gate, `plugin test`,
    /// `plugin eval`, `verify` and `plan-batch` all come here.
    ///
    /// One instance instead of one for info() and another for the decision: both calls read
    /// nothing the other could have changed outside the guest, and the instance is the
    /// plugin's own; they share one `Store`, hence one deadline and one memory budget
    /// (`limits` covers the whole decision, instantiation included). Asking info() in every
    /// decision instance, rather than remembering it, keeps the sequence of calls a decision
    /// makes the same in every process, so `verify` replays exactly what `plan` ran; an instance
    /// of a pre-initialised snapshot (`serve --preinitialise`, a hot configuration: `preinit.rs`) asked info()
    /// and validate-config in its template, with the same configuration and environments, and
    /// starts where they left it.
    pub fn start_decision(self: &Arc<Self>, config: &str, transition: &Transition, limits: Limits, access: HostAccess) -> PendingDecision {
        let wit_transition = transition_to_wit(transition);
        let artifacts = named_artifacts_to_wit(&transition.artifacts);
        let artifact_kinds = artifact_kinds_to_wit(transition);
        let counted = CountedApprovals::for_approvers(approvers(transition));
        let config = config.to_string();
        let seed = [config.as_bytes(), transition.id.as_bytes()].concat();
        let info = Arc::new(OnceLock::new());
        let info_slot = info.clone();
        let asked = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let asking = asked.clone();
        let http = access.http.clone();
        let thread = CallThread::for_access(&access);
        let snapshot = self.snapshot_for(config.as_str(), &access.environments, limits);
        let pre = snapshot.as_ref().map(|snapshot| snapshot.pre.clone());
        let preinitialised = pre.is_some();
        let call = self.start(pre, limits, HostAccess::none(), thread, transition.requested_at, &seed, move |store, policy| {
            asking.store(true, std::sync::atomic::Ordering::SeqCst);
            let exports = policy.tollgate_policy_plugin();
            // A pre-initialised instance answered info() and validate-config before its snapshot.
            let asked = match &snapshot {
                Some(snapshot) => Ok(snapshot.info.clone()),
                None => match exports.call_info(&mut *store) {
                    Ok(info) => info_from_wit(info),
                    Err(error) => Err(describe_failure(&error, store.data(), limits)),
                },
            };
            let info = match asked {
                Ok(info) => info,
                Err(cause) => return Ok(Err(format!("its info() failed: {cause}"))),
            };
            // Nothing was reachable while info() ran; now what the configuration grants, and
            // read-file only to a plugin that asked for it.
            let mut access = access;
            if !info.capabilities.contains(&Capability::ReadFile) {
                access.files = None;
            }
            store.data_mut().grant(access);
            store.data_mut().artifacts = artifacts;
            store.data_mut().artifact_kinds = artifact_kinds;
            store.data_mut().counted = counted;
            let _ = info_slot.set(info);
            validate_and_evaluate(store, policy, &config, &wit_transition, snapshot.is_none())
        });
        PendingDecision { call, info, asked, http, preinitialised }
    }

    /// Make the pre-initialised instance for `config` where the configuration has `environments`
    /// now, on this thread: decisions of it then ask evaluate alone (`preinit.rs`). Only the
    /// standard plugins in a pooled runtime set to pre-initialise them have them.
    pub fn preinitialise(self: &Arc<Self>, config: &str, environments: &PolicyEnvironments, limits: Limits) -> Result<(), String> {
        self.snapshots.make_now(validation_key(config, environments), config, environments, limits, &self.source).map(|_| ())
    }

    /// The snapshot a decision of `config` starts from, if it is ready; starts making it on a
    /// background thread once the configuration is hot.
    fn snapshot_for(self: &Arc<Self>, config: &str, environments: &PolicyEnvironments, limits: Limits) -> Option<Arc<Preinitialised>> {
        if !self.snapshots.can_make() {
            return None;
        }
        let key = validation_key(config, environments);
        match self.snapshots.for_decision(key, config, environments, limits) {
            Lookup::Ready(ready) => Some(ready),
            Lookup::Plain => None,
            Lookup::Make(job) => {
                let plugin = self.clone();
                // (At the requests' priority: wasmtime compiles on rayon's shared threads, which
                // would inherit a lowered one from the thread that first uses them.)
                let spawned = std::thread::Builder::new().name("tollgate-preinit".into()).spawn(move || {
                    let _ = plugin.snapshots.finish(key, job.run(), &plugin.source);
                    // Compiling left megabytes free in malloc's arenas (15 MiB of a server's
                    // RSS with the four standard policies): hand them back.
                    // SAFETY: malloc_trim only releases free memory; it may run on any thread.
                    #[cfg(all(target_os = "linux", target_env = "gnu"))]
                    unsafe {
                        libc::malloc_trim(0);
                    }
                });
                if let Err(error) = spawned {
                    let _ = self.snapshots.finish(key, Err(format!("no thread to make it on: {error}")), &self.source);
                }
                None
            }
        }
    }

    /// [`Plugin::start_decision`], waited for.
    pub fn decide(self: &Arc<Self>, config: &str, transition: &Transition, limits: Limits, access: HostAccess) -> Decided {
        self.start_decision(config, transition, limits, access).wait()
    }

    /// Run `body` against a fresh instance (on the caller's thread or a watchdog-guarded worker,
    /// as `access` needs), and wait for it.
    fn call<R, F>(self: &Arc<Self>, limits: Limits, access: HostAccess, requested_at: i64, seed: &[u8], body: F) -> CallRecord<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Store<SandboxState>, &Policy) -> wasmtime::Result<R> + Send + 'static,
    {
        let thread = CallThread::for_access(&access);
        self.start(None, limits, access, thread, requested_at, seed, body).wait()
    }

    /// Start `body` against a fresh instance on `thread` (on the caller's, it has finished when
    /// this returns).
    fn start<R, F>(self: &Arc<Self>, pre: Option<PolicyPre<SandboxState>>, limits: Limits, access: HostAccess, thread: CallThread, requested_at: i64, seed: &[u8], body: F) -> PendingCall<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Store<SandboxState>, &Policy) -> wasmtime::Result<R> + Send + 'static,
    {
        let started = Instant::now();
        let plugin = self.clone();
        let seed = [self.sha256.as_bytes(), seed].concat();
        let (sender, receiver) = mpsc::sync_channel(1);
        let job = move || {
            let state = SandboxState::new(access, requested_at, &seed, limits.memory_bytes, limits.timeout);
            let mut store = new_store(&plugin.engine, state, limits);
            let pre = pre.as_ref().unwrap_or(&plugin.pre);
            let result = pre.instantiate(&mut store).and_then(|policy| body(&mut store, &policy));
            let state = store.data();
            let result = result.map_err(|error| describe_failure(&error, state, limits));
            let _ = sender.send(CallRecord {
                result,
                logs: collect_logs(state),
                stdout: state.stdout.text(),
                stderr: state.stderr.text(),
                elapsed: started.elapsed(),
                peak_memory_bytes: state.limiter.used(),
            });
            // After the record is sent: a guard on this thread may end it after the answer.
            deferred::drop_or_park(store);
        };
        let started_job = match thread {
            CallThread::Caller => {
                run_outside_callers_runtime(job);
                Ok(())
            }
            CallThread::Worker => workers::run(Box::new(job)),
        };
        let receiver = started_job.map(|()| receiver).map_err(|error| format!("could not start the sandbox thread: {error}"));
        PendingCall { receiver, started, limits }
    }
}

/// Run `job` (a call on the caller's thread) with the sandbox's own tokio runtime as the
/// current one when the caller is inside another runtime's context, as `serve`'s requests are
/// (blocking threads of its current-thread runtime). wasmtime-wasi serves WASI's waits on the
/// runtime it finds: one driven only by the caller's one async thread would fire a deadline's
/// timer only when that thread is free, and never once it is shutting down. Outside any
/// runtime wasmtime-wasi uses its own, as it did for every call when all ran on workers.
/// (Like any blocking call, a decision must not be made inside an async task itself.)
fn run_outside_callers_runtime(job: impl FnOnce()) {
    static SANDBOX: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    if tokio::runtime::Handle::try_current().is_err() {
        return job();
    }
    let sandbox = SANDBOX.get_or_init(|| tokio::runtime::Builder::new_multi_thread().worker_threads(1).thread_name("tollgate-wasi").enable_all().build().ok());
    match sandbox {
        Some(runtime) => {
            let _current = runtime.enter();
            job()
        }
        // Could not start one (out of threads): the caller's runtime still serves the waits.
        None => job(),
    }
}

/// Where a call runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CallThread {
    /// On the thread that starts it.
    Caller,
    /// On a watchdog-guarded worker, which the caller abandons past the call's deadline.
    Worker,
}

impl CallThread {
    /// A worker for a call that may wait on the world outside the process, else the caller.
    fn for_access(access: &HostAccess) -> CallThread {
        if access.may_wait_outside() { CallThread::Worker } else { CallThread::Caller }
    }
}

/// A call started (on a worker, or finished on the caller's thread).
struct PendingCall<R> {
    receiver: Result<mpsc::Receiver<CallRecord<R>>, String>,
    started: Instant,
    limits: Limits,
}

impl<R> PendingCall<R> {
    /// The call's record, or a failure once its time (counted from its start, not from this
    /// wait) plus the watchdog's grace has passed.
    fn wait(self) -> CallRecord<R> {
        let receiver = match self.receiver {
            Ok(receiver) => receiver,
            Err(cause) => return failed_record(cause, self.started),
        };
        let deadline = self.started + self.limits.timeout + WATCHDOG_GRACE;
        match receiver.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(record) => record,
            // The thread did not stop (e.g. it is blocked in a host call); it is abandoned and
            // its result ignored.
            // Said differently from an interrupted guest, so the two paths can be told apart.
            Err(_) => failed_record(
                format!(
                    "timed out after {} ms (abandoned by the watchdog: the plugin was blocked outside WebAssembly code, e.g. in a host call)",
                    self.limits.timeout.as_millis()
                ),
                self.started,
            ),
        }
    }
}

/// Why [`Plugin::validate_config`] did not accept a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotAccepted {
    /// The plugin refused it: its message (printable, bounded).
    Refused(String),
    /// The call failed (a trap, a timeout, …): the cause. Not a verdict on the configuration.
    Failed(String),
}

impl std::fmt::Display for NotAccepted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotAccepted::Refused(message) | NotAccepted::Failed(message) => f.write_str(message),
        }
    }
}

/// A verdict and the approvals the policy reported it counted.
type Counted = (crate::decision::Verdict, Option<Vec<String>>);

/// validate-config (when `validate`: a pre-initialised instance was validated before its
/// snapshot), then evaluate, in the instance `policy` of `store`; the verdict with the counted
/// approvals the plugin reported, both checked, or why there is none.
fn validate_and_evaluate(
    store: &mut Store<SandboxState>,
    policy: &Policy,
    config: &str,
    transition: &super::bindings::wit::Transition,
    validate: bool,
) -> wasmtime::Result<Result<Counted, String>> {
    let exports = policy.tollgate_policy_plugin();
    if validate && let Err(message) = exports.call_validate_config(&mut *store, config)? {
        return Ok(Err(format!("configuration rejected: {}", bounded(message))));
    }
    let verdict = match exports.call_evaluate(&mut *store, config, transition)? {
        Ok(verdict) => verdict_from_wit(verdict),
        Err(message) => Err(format!("the plugin returned an error: {}", bounded(message))),
    };
    Ok(verdict.and_then(|verdict| Ok((verdict, store.data_mut().counted.finish()?))))
}

/// An evaluation from a call's record; counted approvals only with a verdict.
fn evaluation_of(record: CallRecord<Result<Counted, String>>) -> Evaluation {
    let (outcome, counted_approvals) = match record.result {
        Ok(Ok((verdict, counted))) => (PolicyOutcome::Verdict(verdict), counted),
        Ok(Err(cause)) | Err(cause) => (PolicyOutcome::failed(cause), None),
    };
    Evaluation {
        outcome,
        logs: record.logs,
        stdout: record.stdout,
        stderr: record.stderr,
        elapsed: record.elapsed,
        counted_approvals,
        peak_memory_bytes: record.peak_memory_bytes,
        preinitialised: false,
    }
}

/// Who approved `transition`, in its order: what `report-counted-approvals` may name.
fn approvers(transition: &Transition) -> Vec<String> {
    transition.approvals.iter().map(|approval| approval.approver.clone()).collect()
}

/// The key under which an accepted configuration is remembered: a digest of the
/// configuration and the environments the plugin was told, every part length-prefixed.
fn validation_key(config: &str, environments: &PolicyEnvironments) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update((config.len() as u64).to_le_bytes());
    hasher.update(config);
    for list in [&environments.configured, &environments.runs_for] {
        hasher.update((list.len() as u64).to_le_bytes());
        for name in list {
            hasher.update((name.len() as u64).to_le_bytes());
            hasher.update(name);
        }
    }
    hasher.finalize().into()
}

/// A decision started (on a worker, or finished on the caller's thread; see
/// [`Plugin::start_decision`]).
pub struct PendingDecision {
    call: PendingCall<Result<Counted, String>>,
    info: Arc<OnceLock<PluginInfo>>,
    /// Whether the instance came up and info() was asked (a failure before that is the
    /// instantiation's, not info()'s).
    asked: Arc<std::sync::atomic::AtomicBool>,
    /// Who fetched for the decision: asked at the end whether a held secret leaked.
    http: Arc<dyn super::HttpFetcher>,
    /// Whether its instance is of a pre-initialised snapshot.
    preinitialised: bool,
}

impl PendingDecision {
    /// Wait for the decision (never longer than its timeout plus the watchdog's grace).
    pub fn wait(self) -> Decided {
        let mut record = self.call.wait();
        let info = self.info.get().cloned();
        // The call was abandoned while info() ran (an instantiation that failed says so itself).
        if info.is_none()
            && self.asked.load(std::sync::atomic::Ordering::SeqCst)
            && let Err(cause) = &record.result
        {
            record.result = Err(format!("its info() failed: {cause}"));
        }
        let evaluation = Evaluation { preinitialised: self.preinitialised, ..screened(evaluation_of(record), &*self.http) };
        Decided { info, evaluation }
    }
}

/// What one decision produced.
pub struct Decided {
    /// What the plugin said about itself in the decision's instance (`None` when its info()
    /// failed: the evaluation then says why).
    pub info: Option<PluginInfo>,
    /// The verdict or failure, with logs and output.
    pub evaluation: Evaluation,
}

fn failed_record<R>(cause: String, started: Instant) -> CallRecord<R> {
    CallRecord { result: Err(cause), logs: Vec::new(), stdout: String::new(), stderr: String::new(), elapsed: started.elapsed(), peak_memory_bytes: 0 }
}



/// `evaluation`, unless what the plugin produced (or fetched) carried a secret `http` holds:
/// then a failure naming the origin, with nothing the plugin produced kept.
fn screened(evaluation: Evaluation, http: &dyn super::HttpFetcher) -> Evaluation {
    let mut texts: Vec<&str> = evaluation.logs.iter().map(|line| line.message.as_str()).collect();
    texts.extend([evaluation.stdout.as_str(), evaluation.stderr.as_str()]);
    match &evaluation.outcome {
        PolicyOutcome::Verdict(verdict) => {
            texts.extend(verdict.findings.iter().flat_map(|finding| std::iter::once(finding.message.as_str()).chain(finding.path.as_deref())));
        }
        PolicyOutcome::Failed { cause } => texts.push(cause),
    }
    match http.leak(&texts) {
        None => evaluation,
        Some(cause) => Evaluation { elapsed: evaluation.elapsed, peak_memory_bytes: evaluation.peak_memory_bytes, ..Evaluation::failed(cause) },
    }
}

fn collect_logs(state: &SandboxState) -> Vec<LogLine> {
    let mut logs = state.logs.clone();
    if state.dropped_log_lines > 0 {
        logs.push(LogLine { level: "warn", message: format!("[{} more log lines dropped]", state.dropped_log_lines) });
    }
    logs
}

/// The cause of a failed call, in plain words.
fn describe_failure(error: &wasmtime::Error, state: &SandboxState, limits: Limits) -> String {
    if let Some(message) = &state.limiter.exceeded {
        return message.clone();
    }
    let text = format!("{error:#}");
    if text.contains("resource limit exceeded") {
        return format!(
            "exceeded the sandbox's limits of {MAX_INSTANCES} core instances, {MAX_TABLES} tables and {MAX_MEMORIES} memories ({})",
            text.rsplit(": ").next().unwrap_or(&text)
        );
    }
    if text.contains("maximum concurrent limit of") {
        return format!(
            "could not get an instance: this process's instance pool is exhausted by the calls in flight ({}); try again, or allow fewer at once (serve --max-in-flight)",
            text.rsplit(": ").next().unwrap_or(&text)
        );
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => format!("timed out after {} ms", limits.timeout.as_millis()),
        Some(Trap::StackOverflow) => "overflowed its stack".to_string(),
        Some(trap) => {
            let mut cause = format!("trapped: {trap}");
            if let Some(panic) = panic_message(&state.stderr.text()) {
                cause.push_str(&format!(" (the plugin panicked: {panic})"));
            }
            cause
        }
        None => {
            let root = error.root_cause().to_string();
            if root.contains("resource table has no free keys") {
                return format!("exceeded the sandbox's limit of {MAX_HOST_RESOURCES} host resources (WASI streams, pollables, …) alive at once");
            }
            // A wasm backtrace in the context says nothing to the reader; the cause does.
            let mut cause = if text.contains("wasm backtrace") { root } else { text };
            truncate_at_char_boundary(&mut cause, MAX_TEXT_BYTES);
            cause
        }
    }
}

/// The message of a Rust panic as printed to stderr ("panicked at src/lib.rs:1:2:\nMESSAGE").
fn panic_message(stderr: &str) -> Option<String> {
    let mut lines = stderr.lines();
    lines.find(|line| line.contains("panicked at"))?;
    lines.next().map(|line| line.trim().to_string()).filter(|line| !line.is_empty())
}

#[cfg(test)]
mod tests;
