//! The plugin runtime: load policy components and evaluate them in a sandbox.
//!
//! - One [`Engine`] per [`Runtime`], with epoch interruption driven by a ticker thread.
//! - One `InstancePre` per plugin digest ([`Plugin`]), compiled once and cached on disk.
//! - A fresh `Store` and instance for every call, so nothing leaks between decisions.
//! - Every call runs on its own thread under a watchdog, so neither a spinning guest
//!   (stopped by the epoch deadline) nor one blocked in a host call (abandoned by the
//!   watchdog) can hold up a decision: it fails closed with the cause in plain words.

mod bindings;
mod cache;
mod http;
mod output;
mod reference;
mod sandbox;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, Store, Trap};

pub use cache::CompileCache;
pub use http::{CannedFetcher, HttpFetcher, HttpResponse, NetworkFetcher, origin_of};
pub use reference::PluginRef;
pub use sandbox::{HostAccess, describe_bytes};

use crate::decision::{Decision, Finding, PolicyOutcome, Verdict};
use crate::transition::{Transition, TransitionKind};
use bindings::{Policy, PolicyPre, wit};
use sandbox::{SandboxState, truncate_at_char_boundary};

/// Captured stdout and stderr are each cut at this size.
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;
/// At most this many `log` lines are kept per evaluation.
pub const MAX_LOG_LINES: usize = 200;
/// A `log` line is cut at this size.
pub const MAX_LOG_LINE_BYTES: usize = 4096;
/// `read-file` refuses files over this size.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;
/// `http-get` refuses response bodies over this size.
pub const MAX_HTTP_BODY_BYTES: u64 = 1024 * 1024;
/// A verdict with more findings than this is malformed output.
pub const MAX_FINDINGS: usize = 500;
/// A finding message, path or plugin-info string longer than this is malformed output.
pub const MAX_TEXT_BYTES: usize = 4096;
/// Plugin files over this size are refused before compiling.
pub const MAX_PLUGIN_BYTES: usize = 64 * 1024 * 1024;

/// How often the engine's epoch advances; the resolution of timeouts.
const EPOCH_TICK: Duration = Duration::from_millis(5);
/// How long past its timeout the watchdog waits for a call that is stuck in a host call.
const WATCHDOG_GRACE: Duration = Duration::from_millis(250);

/// Time and memory bounds for one policy call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock budget for instantiation plus the call, host calls included.
    pub timeout: Duration,
    /// Maximum linear memory of the instance, in bytes.
    pub memory_bytes: usize,
}

impl Default for Limits {
    /// 2 s and 64 MiB.
    fn default() -> Self {
        Limits { timeout: Duration::from_secs(2), memory_bytes: 64 * 1024 * 1024 }
    }
}

/// The read-only repository view behind `host.read-file`.
pub trait FileSource: Send + Sync {
    /// The file's text, `Ok(None)` if it does not exist, `Err` with a message otherwise.
    fn read(&self, path: &str) -> Result<Option<String>, String>;
}

/// Canned files (for cases files and tests).
impl FileSource for BTreeMap<String, String> {
    fn read(&self, path: &str) -> Result<Option<String>, String> {
        Ok(self.get(path).cloned())
    }
}

/// One `host.log` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// `debug`, `info`, `warn` or `error`.
    pub level: &'static str,
    /// The message (cut at [`MAX_LOG_LINE_BYTES`]).
    pub message: String,
}

/// The full result of evaluating one policy.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// Verdict or failure.
    #[serde(flatten)]
    pub outcome: PolicyOutcome,
    /// Lines the plugin logged.
    pub logs: Vec<LogLine>,
    /// What the plugin wrote to stdout (bounded).
    pub stdout: String,
    /// What the plugin wrote to stderr (bounded).
    pub stderr: String,
    /// Wall-clock time of the call, instantiation included.
    #[serde(serialize_with = "serialize_millis", rename = "elapsed_ms")]
    pub elapsed: Duration,
}

fn serialize_millis<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64() * 1000.0)
}

/// A capability a plugin asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// `host.read-file`.
    ReadFile,
    /// `host.http-get`.
    HttpGet,
}

/// What a plugin says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginInfo {
    /// Plugin name.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// What it enforces.
    pub description: String,
    /// Capabilities it asks for.
    pub capabilities: Vec<Capability>,
}

/// Why a plugin could not be loaded. Always bad input (exit code 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// A message naming the plugin, the problem and what to do.
    pub message: String,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LoadError {}

/// How a plugin's compiled code was obtained (shown by `--verbose`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeSource {
    /// Loaded from the compile cache.
    Cache {
        /// Time to load.
        load_time: Duration,
    },
    /// Compiled with Cranelift (and stored in the cache when there is one).
    Compiled {
        /// Time to compile.
        compile_time: Duration,
        /// Where the compiled code was cached.
        cached_at: Option<PathBuf>,
    },
}

/// The sandboxed evaluator. Create one per process and load plugins through it.
pub struct Runtime {
    engine: Engine,
    linker: Linker<SandboxState>,
    cache: Option<CompileCache>,
    loaded: Mutex<HashMap<String, Arc<Plugin>>>,
}

impl Runtime {
    /// A runtime caching compiled plugins under `cache_root` (`None`: no disk cache).
    pub fn new(cache_root: Option<&Path>) -> anyhow::Result<Self> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        Policy::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
        start_epoch_ticker(&engine);
        Ok(Runtime {
            cache: cache_root.map(|root| CompileCache::new(root, &engine)),
            engine,
            linker,
            loaded: Mutex::new(HashMap::new()),
        })
    }

    /// Load a plugin: read it, check its pin, compile it (or load it from the cache),
    /// check that it implements `tollgate:policy/policy@0.1.x` and link it.
    pub fn load(&self, reference: &PluginRef) -> Result<Arc<Plugin>, LoadError> {
        let path = &reference.path;
        let fail = |message: String| LoadError { message: format!("plugin {}: {message}", path.display()) };
        let size = std::fs::metadata(path)
            .map_err(|error| fail(format!("cannot read it ({error}); check the path")))?
            .len();
        if size > MAX_PLUGIN_BYTES as u64 {
            return Err(fail(format!("it is {size} bytes, over the {} limit", describe_bytes(MAX_PLUGIN_BYTES))));
        }
        let bytes = std::fs::read(path).map_err(|error| fail(format!("cannot read it ({error})")))?;
        self.load_bytes(&path.display().to_string(), &bytes, reference.sha256.as_deref())
    }

    /// Load a plugin from bytes; `source` names it in messages.
    pub fn load_bytes(&self, source: &str, bytes: &[u8], pinned_sha256: Option<&str>) -> Result<Arc<Plugin>, LoadError> {
        let fail = |message: String| LoadError { message: format!("plugin {source}: {message}") };
        let sha256 = hex::encode(Sha256::digest(bytes));
        if let Some(pinned) = pinned_sha256 {
            if pinned != sha256 {
                return Err(fail(format!(
                    "sha256 mismatch: the configuration pins sha256:{pinned} but the file is sha256:{sha256}; \
                     refusing to load it. If the plugin was rebuilt on purpose, update the pin"
                )));
            }
        }
        if let Some(plugin) = self.loaded.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&sha256) {
            return Ok(plugin.clone());
        }
        check_component_header(bytes).map_err(fail)?;

        let (component, code_source) = self.compile(bytes, &sha256).map_err(fail)?;
        let world = policy_export_name(&component, &self.engine).map_err(fail)?;
        let instance_pre = self.linker.instantiate_pre(&component).map_err(|error| fail(describe_link_error(&error)))?;
        let pre = PolicyPre::new(instance_pre)
            .map_err(|error| fail(format!("its exports do not match tollgate:policy/policy@{}: {error:#}", crate::WIT_VERSION)))?;
        let plugin = Arc::new(Plugin {
            source: source.to_string(),
            sha256: sha256.clone(),
            size: bytes.len(),
            world,
            code_source,
            pre,
            engine: self.engine.clone(),
            info: OnceLock::new(),
        });
        self.loaded.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(sha256, plugin.clone());
        Ok(plugin)
    }

    fn compile(&self, bytes: &[u8], sha256: &str) -> Result<(Component, CodeSource), String> {
        let started = Instant::now();
        if let Some(cache) = &self.cache {
            if let Some(component) = cache.load(&self.engine, sha256) {
                return Ok((component, CodeSource::Cache { load_time: started.elapsed() }));
            }
        }
        let component = Component::new(&self.engine, bytes).map_err(|error| format!("it is not a valid component: {error:#}"))?;
        let compile_time = started.elapsed();
        let cached_at = self
            .cache
            .as_ref()
            .and_then(|cache| component.serialize().ok().and_then(|compiled| cache.store(sha256, &compiled).ok()));
        Ok((component, CodeSource::Compiled { compile_time, cached_at }))
    }
}

/// Advance the engine's epoch every [`EPOCH_TICK`] until the engine is dropped.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("tollgate-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawn the epoch ticker thread");
}

/// Plain-words errors for files that are not components at all.
fn check_component_header(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err("it is not a WebAssembly file (no \\0asm header); give the path to a built .wasm component".into());
    }
    if bytes[4..8] == [1, 0, 0, 0] {
        return Err("it is a core WebAssembly module, not a component; build the plugin with \
                    `cargo build --target wasm32-wasip2` (which produces a component)"
            .into());
    }
    Ok(())
}

/// The name of the plugin's `tollgate:policy/plugin` export, or why it has none we accept.
fn policy_export_name(component: &Component, engine: &Engine) -> Result<String, String> {
    let exports: Vec<String> = component.component_type().exports(engine).map(|(name, _)| name.to_string()).collect();
    let prefix = "tollgate:policy/plugin@";
    let Some(export) = exports.iter().find(|name| name.starts_with(prefix)) else {
        let found = if exports.is_empty() { "nothing".to_string() } else { exports.join(", ") };
        return Err(format!(
            "it does not implement the tollgate:policy/policy@{} world: it lacks the export `{prefix}{}` (it exports {found}). \
             Build it with tollgate-sdk's export_policy! or against wit/policy.wit",
            crate::WIT_VERSION,
            crate::WIT_VERSION
        ));
    };
    let version = &export[prefix.len()..];
    let compatible = version.split('.').take(2).eq(crate::WIT_VERSION.split('.').take(2));
    if !compatible {
        return Err(format!(
            "it implements tollgate:policy/policy@{version}, but this tollgate supports {}.x; \
             rebuild the plugin against a matching tollgate-sdk or use a matching tollgate",
            crate::WIT_VERSION.rsplit_once('.').map_or(crate::WIT_VERSION, |(minor, _)| minor)
        ));
    }
    Ok(format!("tollgate:policy/policy@{version}"))
}

fn describe_link_error(error: &wasmtime::Error) -> String {
    let text = format!("{error:#}");
    if text.contains("matching implementation was not found") {
        format!(
            "it imports something tollgate does not provide ({text}); plugins may import only \
             tollgate:policy/host and WASI 0.2 interfaces"
        )
    } else {
        format!("it cannot be linked: {text}")
    }
}

/// A loaded, linked plugin, ready to be instantiated for each call.
pub struct Plugin {
    source: String,
    sha256: String,
    size: usize,
    world: String,
    code_source: CodeSource,
    pre: PolicyPre<SandboxState>,
    engine: Engine,
    info: OnceLock<Result<PluginInfo, String>>,
}

/// What a sandboxed call produced besides its result.
struct CallRecord<R> {
    result: Result<R, String>,
    logs: Vec<LogLine>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
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

    /// Whether the code came from the compile cache or was compiled now.
    pub fn code_source(&self) -> &CodeSource {
        &self.code_source
    }

    /// The plugin's self-description (asked once, then remembered).
    pub fn info(self: &Arc<Self>) -> Result<PluginInfo, String> {
        self.info
            .get_or_init(|| {
                let record = self.call(Limits::default(), no_access(), 0, b"info", |store, policy| {
                    policy.tollgate_policy_plugin().call_info(store)
                });
                record.result.and_then(info_from_wit)
            })
            .clone()
    }

    /// Ask the plugin whether `config` (JSON text) is acceptable. `Err` carries the
    /// plugin's message, or the cause if the call itself failed.
    pub fn validate_config(self: &Arc<Self>, config: &str, limits: Limits) -> Result<(), String> {
        let seed = config.as_bytes().to_vec();
        let config = config.to_string();
        let record = self.call(limits, no_access(), 0, &seed, move |store, policy| {
            policy.tollgate_policy_plugin().call_validate_config(store, &config)
        });
        match record.result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(bounded(message)),
            Err(cause) => Err(cause),
        }
    }

    /// Evaluate the policy on a transition under `config` (JSON text): validate the config,
    /// then evaluate, in one fresh instance. Never panics; any misbehaviour of the plugin
    /// becomes [`PolicyOutcome::Failed`].
    pub fn evaluate(self: &Arc<Self>, config: &str, transition: &Transition, limits: Limits, access: HostAccess) -> Evaluation {
        let wit_transition = transition_to_wit(transition);
        let config = config.to_string();
        let seed = [config.as_bytes(), transition.id.as_bytes()].concat();
        let record = self.call(limits, access, transition.requested_at, &seed, move |store, policy| {
            let exports = policy.tollgate_policy_plugin();
            if let Err(message) = exports.call_validate_config(&mut *store, &config)? {
                return Ok(Err(format!("configuration rejected: {}", bounded(message))));
            }
            Ok(match exports.call_evaluate(store, &config, &wit_transition)? {
                Ok(verdict) => verdict_from_wit(verdict),
                Err(message) => Err(format!("the plugin returned an error: {}", bounded(message))),
            })
        });
        let outcome = match record.result {
            Ok(Ok(verdict)) => PolicyOutcome::Verdict(verdict),
            Ok(Err(cause)) | Err(cause) => PolicyOutcome::failed(cause),
        };
        Evaluation { outcome, logs: record.logs, stdout: record.stdout, stderr: record.stderr, elapsed: record.elapsed }
    }

    /// Run `body` against a fresh instance on a watchdog-guarded thread.
    fn call<R, F>(self: &Arc<Self>, limits: Limits, access: HostAccess, requested_at: i64, seed: &[u8], body: F) -> CallRecord<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Store<SandboxState>, &Policy) -> wasmtime::Result<R> + Send + 'static,
    {
        let started = Instant::now();
        let plugin = self.clone();
        let seed = [self.sha256.as_bytes(), seed].concat();
        let (sender, receiver) = mpsc::sync_channel(1);
        let spawned = std::thread::Builder::new().name("tollgate-policy".into()).spawn(move || {
            let state = SandboxState::new(access, requested_at, &seed, limits.memory_bytes, limits.timeout);
            let mut store = Store::new(&plugin.engine, state);
            store.limiter(|state| &mut state.limiter);
            store.set_epoch_deadline(epoch_ticks(limits.timeout));
            store.epoch_deadline_trap();
            let result = plugin.pre.instantiate(&mut store).and_then(|policy| body(&mut store, &policy));
            let state = store.data();
            let result = result.map_err(|error| describe_failure(&error, state, limits));
            let _ = sender.send(CallRecord {
                result,
                logs: collect_logs(state),
                stdout: state.stdout.text(),
                stderr: state.stderr.text(),
                elapsed: started.elapsed(),
            });
        });
        if let Err(error) = spawned {
            return failed_record(format!("could not start the sandbox thread: {error}"), started);
        }
        match receiver.recv_timeout(limits.timeout + WATCHDOG_GRACE) {
            Ok(record) => record,
            // The thread is stuck in a host call; it is abandoned and its result ignored.
            Err(_) => failed_record(format!("timed out after {} ms (blocked in a host call)", limits.timeout.as_millis()), started),
        }
    }
}

fn failed_record<R>(cause: String, started: Instant) -> CallRecord<R> {
    CallRecord { result: Err(cause), logs: Vec::new(), stdout: String::new(), stderr: String::new(), elapsed: started.elapsed() }
}

fn no_access() -> HostAccess {
    HostAccess { files: None, http_origins: Vec::new(), http: Arc::new(CannedFetcher::default()) }
}

fn epoch_ticks(timeout: Duration) -> u64 {
    (timeout.as_nanos() / EPOCH_TICK.as_nanos()) as u64 + 1
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
    if state.limiter.exceeded {
        return state.limiter.message();
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
            let mut cause = format!("{error:#}");
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

fn bounded(mut message: String) -> String {
    truncate_at_char_boundary(&mut message, MAX_TEXT_BYTES);
    message
}

fn checked_text(what: &str, text: String) -> Result<String, String> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(format!("returned malformed output: {what} is {} bytes (limit {MAX_TEXT_BYTES})", text.len()));
    }
    Ok(text)
}

fn verdict_from_wit(verdict: wit::Verdict) -> Result<Verdict, String> {
    if verdict.findings.len() > MAX_FINDINGS {
        return Err(format!(
            "returned malformed output: {} findings (limit {MAX_FINDINGS})",
            verdict.findings.len()
        ));
    }
    let findings = verdict
        .findings
        .into_iter()
        .map(|finding| {
            Ok(Finding {
                message: checked_text("a finding message", finding.message)?,
                path: finding.path.map(|path| checked_text("a finding path", path)).transpose()?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let decision = match verdict.decision {
        wit::Decision::Allow => Decision::Allow,
        wit::Decision::Deny => Decision::Deny,
    };
    Ok(Verdict { decision, findings })
}

fn info_from_wit(info: wit::PluginInfo) -> Result<PluginInfo, String> {
    Ok(PluginInfo {
        name: checked_text("the plugin name", info.name)?,
        version: checked_text("the plugin version", info.version)?,
        description: checked_text("the plugin description", info.description)?,
        capabilities: info
            .capabilities
            .into_iter()
            .map(|capability| match capability {
                wit::Capability::ReadFile => Capability::ReadFile,
                wit::Capability::HttpGet => Capability::HttpGet,
            })
            .collect(),
    })
}

fn artifact_to_wit(artifact: &crate::transition::Artifact) -> wit::Artifact {
    wit::Artifact { image: artifact.image.clone(), version: artifact.version.clone(), digest: artifact.digest.clone() }
}

fn transition_to_wit(t: &Transition) -> wit::Transition {
    wit::Transition {
        id: t.id.clone(),
        kind: match t.kind {
            TransitionKind::Promote => wit::TransitionKind::Promote,
            TransitionKind::Rollback => wit::TransitionKind::Rollback,
        },
        application: t.application.clone(),
        from_env: t.from_env.clone(),
        to_env: t.to_env.clone(),
        artifact: artifact_to_wit(&t.artifact),
        previous_artifact: t.previous_artifact.as_ref().map(artifact_to_wit),
        requested_by: t.requested_by.clone(),
        requested_at: t.requested_at,
        approvals: t
            .approvals
            .iter()
            .map(|approval| wit::Approval {
                approver: approval.approver.clone(),
                at: approval.at.unwrap_or(t.requested_at),
                version: approval.version.clone(),
                group: approval.group.clone(),
            })
            .collect(),
        changes: t
            .changes
            .iter()
            .map(|change| wit::FileChange { path: change.path.clone(), before: change.before.clone(), after: change.after.clone() })
            .collect(),
        labels: t.labels.iter().map(|(key, value)| wit::Label { key: key.clone(), value: value.clone() }).collect(),
        from_env_since: t.from_env_since,
    }
}
