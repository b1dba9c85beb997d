//! The plugin runtime: load policy components and evaluate them in a sandbox.
//!
//! - One [`Engine`] per process, shared by every [`Runtime`] (`engine.rs`), with epoch
//!   interruption driven by a ticker thread, under one configuration shared with host/build.rs
//!   (`engine_config.rs`); long-lived processes use a second one whose instances come from
//!   wasmtime's pooling allocator ([`Runtime::new_pooled`]).
//! - One `InstancePre` per plugin digest ([`Plugin`]): the standard plugins load code
//!   precompiled at build time (`builtin.rs`: never compiled, never hashed, never cached at
//!   run time, and run where they lie in the binary); other plugins are compiled once and cached on disk (`cache.rs`).
//! - A fresh `Store` and instance for every call, so nothing leaks between decisions; a
//!   decision asks info(), validates the configuration and evaluates in that one instance.
//! - No call holds up a decision past its deadline: a spinning guest is stopped by the epoch
//!   deadline, a WASI wait ends at it (`waits.rs`), and a call granted `http-get` origins runs
//!   on a reused worker thread (`workers.rs`) that a watchdog abandons when it is blocked in
//!   the host; every other call runs on the caller's thread (`plugin.rs`). Each fails closed
//!   with the cause in plain words.
//! - A server thread may end its calls' instances after it has answered instead of before
//!   (`deferred.rs`), and `serve --preinitialise` decides a hot configuration of a standard plugin from a
//!   snapshot pre-initialised for it: a fresh instance that asks evaluate alone (`preinit.rs`).

mod baseline;
mod bindings;
mod builtin;
mod cache;
mod convert;
mod counted;
mod deferred;
mod engine;
/// The engine configuration, shared with host/build.rs (which precompiles the builtins with it).
mod engine_config;
mod http;
mod output;
mod plugin;
mod plugin_file;
mod preinit;
mod reference;
mod sandbox;
mod waits;
mod workers;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::Engine;

pub use cache::CompileCache;
pub use deferred::{DeferredInstanceDrops, defer_instance_drops};
pub use engine::{POOLED_INSTANCES, POOLED_TABLE_ELEMENTS};
pub use plugin::{Decided, NotAccepted, PendingDecision, Plugin};
pub use http::{CannedFetcher, FetchError, HttpFetcher, HttpResponse, NetworkFetcher, origin_of};
pub use reference::{PluginRef, PluginSource};
pub use sandbox::{HostAccess, MAX_HOST_RESOURCES, may_wait_outside, MAX_INSTANCES, MAX_MEMORIES, MAX_TABLES, TABLE_ELEMENT_BYTES, describe_bytes};

use crate::decision::PolicyOutcome;
use bindings::PolicyPre;
use preinit::Snapshots;
use sandbox::SandboxState;

/// Captured stdout and stderr are each cut at this size.
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;
/// At most this many `log` lines are kept per evaluation.
pub const MAX_LOG_LINES: usize = 200;
/// At most this many bytes of `log` text are kept per evaluation (lines after it are dropped
/// and counted).
pub const MAX_LOG_BYTES: usize = 256 * 1024;
/// A `log` line is cut at this size.
pub const MAX_LOG_LINE_BYTES: usize = 4096;
pub use crate::platform::MAX_FILE_BYTES;
/// `http-get` refuses response bodies over this size.
pub const MAX_HTTP_BODY_BYTES: u64 = 1024 * 1024;
/// A verdict with more findings than this is malformed output.
pub const MAX_FINDINGS: usize = 500;
/// A finding message, path or plugin-info string longer than this is malformed output.
pub const MAX_TEXT_BYTES: usize = 4096;
/// A plugin asking for more capabilities than this (with repeats) returned malformed output.
pub const MAX_CAPABILITIES: usize = 16;
pub use crate::platform::MAX_PLUGIN_BYTES;

/// How often the engine's epoch advances; the resolution of timeouts.
const EPOCH_TICK: Duration = Duration::from_millis(5);
/// How long past its timeout the watchdog waits for a call that the epoch deadline did not
/// stop (one blocked in a host call, or a thread starved of CPU on a loaded machine).
const WATCHDOG_GRACE: Duration = Duration::from_millis(500);

/// Time and memory bounds for one policy call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Wall-clock budget for instantiation plus the call, host calls included.
    pub timeout: Duration,
    /// Maximum linear memory of the instance, in bytes.
    pub memory_bytes: usize,
}

/// `mib` mebibytes in bytes (saturating), for memory caps given in MiB.
pub fn mib_to_bytes(mib: u64) -> usize {
    usize::try_from(mib.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX)
}

impl Default for Limits {
    /// 2 s and 64 MiB.
    fn default() -> Self {
        Limits { timeout: Duration::from_secs(2), memory_bytes: 64 * 1024 * 1024 }
    }
}

pub use crate::repo::FileSource;

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
    /// The approvers whose approvals the policy counted, as it reported them through
    /// `report-counted-approvals` (WIT 0.1.2), checked against the transition's approvals and
    /// in their order: `None` when it never reported (or did not decide), `Some(vec![])` when
    /// it reported that none counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counted_approvals: Option<Vec<String>>,
    /// The most memory the call's instance held (linear memories and tables, as charged
    /// against the memory cap): its high-water mark. 0 when it never started.
    pub peak_memory_bytes: usize,
    /// Whether the instance was of the plugin's snapshot pre-initialised for its configuration
    /// (`serve --preinitialise`, once a configuration is hot): how it ran, not what it decided, so
    /// never part of a document or record.
    #[serde(skip)]
    pub preinitialised: bool,
}

impl Evaluation {
    /// A failure that happened before the plugin ran (e.g. its info() failed).
    pub fn failed(cause: String) -> Self {
        Evaluation {
            outcome: PolicyOutcome::failed(cause),
            logs: Vec::new(),
            stdout: String::new(),
            stderr: String::new(),
            elapsed: Duration::ZERO,
            counted_approvals: None,
            peak_memory_bytes: 0,
            preinitialised: false,
        }
    }
}

/// The environment names a policy's configuration may use, as `host.policy-environments`
/// (WIT 0.1.2) tells the plugin: every configured environment in graph order, and those the
/// policy runs for. Both empty where no tollgate configuration is in play (`plugin eval`
/// without `--environment`, a cases file without `environments:`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct PolicyEnvironments {
    /// Every environment of the configuration, in graph order.
    pub configured: Vec<String>,
    /// The environments the policy runs for, in graph order.
    pub runs_for: Vec<String>,
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
    /// A standard plugin: code precompiled at build time and embedded in the binary.
    Precompiled {
        /// Time to load.
        load_time: Duration,
    },
    /// Loaded from the compile cache.
    Cache {
        /// Time to load.
        load_time: Duration,
    },
    /// Compiled with Winch, the baseline compiler, while Cranelift compiles it for the cache
    /// on another thread ([`baseline`]: big components only).
    Baseline {
        /// Time to compile.
        compile_time: Duration,
    },
    /// Compiled with Cranelift (and stored in the cache when there is one).
    Compiled {
        /// Time to compile.
        compile_time: Duration,
        /// Where the compiled code was cached.
        cached_at: Option<PathBuf>,
    },
}

impl CodeSource {
    /// The line `--verbose` prints for the plugin loaded from `source`.
    pub fn describe(&self, source: &str) -> String {
        let ms = |duration: &Duration| duration.as_secs_f64() * 1000.0;
        match self {
            CodeSource::Precompiled { load_time } => format!("{source}: loaded its build-time precompiled code in {:.1} ms", ms(load_time)),
            CodeSource::Cache { load_time } => format!("{source}: loaded from the compile cache in {:.1} ms", ms(load_time)),
            CodeSource::Baseline { compile_time } => format!(
                "{source}: compiled with Winch (the baseline compiler) in {:.1} ms; Cranelift's faster code is compiled into the cache before this run ends, for the next",
                ms(compile_time)
            ),
            CodeSource::Compiled { compile_time, cached_at } => format!(
                "{source}: compiled in {:.1} ms{}",
                ms(compile_time),
                cached_at.as_ref().map(|path| format!(", cached at {}", path.display())).unwrap_or_default()
            ),
        }
    }
}

/// The sandboxed evaluator. Create one per process and load plugins through it.
pub struct Runtime {
    engine: Engine,
    linker: Linker<SandboxState>,
    cache: Option<Arc<CompileCache>>,
    /// Cranelift compiling big components into the cache (waited for when the runtime goes away).
    upgrades: baseline::Upgrades,
    loaded: Mutex<HashMap<String, Arc<Plugin>>>,
    registry: crate::registry::Resolver,
    /// How many plugins this runtime compiled with Cranelift.
    compilations: AtomicUsize,
    /// With `--verbose`: the plugins whose code source was already said on stderr.
    reported: Option<Mutex<std::collections::HashSet<String>>>,
    /// Whether instances come from a pool (a long-lived process).
    pooled: bool,
    /// Whether the standard plugins are pre-initialised for a hot configuration
    /// (`serve --preinitialise`, `preinit.rs`); only in a pooled runtime.
    preinitialise_hot: bool,
}

impl Runtime {
    /// A runtime caching compiled plugins under `cache_root` (`None`: no disk cache).
    pub fn new(cache_root: Option<&Path>) -> anyhow::Result<Self> {
        Self::with_engine(cache_root, engine::shared_engine().map_err(anyhow::Error::msg)?, false)
    }

    /// [`Runtime::new`] for a long-lived process (`plan-batch`, `tollgate serve`): every
    /// decision still gets a fresh instance, but from a pool of memory and table slots that
    /// are reset and reused, which makes each decision cheaper and starting slower
    /// (`engine.rs`). At most [`POOLED_INSTANCES`] core instances are alive at once; past that
    /// a decision fails closed, saying so.
    pub fn new_pooled(cache_root: Option<&Path>) -> anyhow::Result<Self> {
        Self::with_engine(cache_root, engine::pooled_engine().map_err(anyhow::Error::msg)?, true)
    }

    fn with_engine(cache_root: Option<&Path>, engine: Engine, pooled: bool) -> anyhow::Result<Self> {
        let mut linker = Linker::new(&engine);
        sandbox::link(&mut linker)?;
        Ok(Runtime {
            cache: cache_root.map(|root| Arc::new(CompileCache::new(root, &engine))),
            upgrades: baseline::Upgrades::default(),
            engine,
            linker,
            loaded: Mutex::new(HashMap::new()),
            registry: crate::registry::Resolver::default(),
            compilations: AtomicUsize::new(0),
            reported: None,
            pooled,
            preinitialise_hot: false,
        })
    }

    /// In a pooled runtime, let decisions of a standard plugin pre-initialise a configuration
    /// once it is hot, on a background thread (`preinit.rs`); set before loading plugins. For
    /// `serve --preinitialise`: each costs a second or two of compiling, which a batch would not
    /// win back, and a few megabytes kept.
    pub fn preinitialise_hot_configurations(&mut self) {
        self.preinitialise_hot = self.pooled;
    }

    /// With `verbose`, say on stderr, once per plugin, whether its code was precompiled,
    /// loaded from the compile cache or compiled (and how long that took).
    pub fn set_verbose(&mut self, verbose: bool) {
        self.reported = verbose.then(Default::default);
    }

    /// How many plugins this runtime has compiled with Cranelift (the standard plugins, being
    /// precompiled at build time, never count; neither do compile-cache hits).
    pub fn compilations(&self) -> usize {
        self.compilations.load(Ordering::Relaxed)
    }

    /// Resolve `oci://` plugins with `registry` (store, lockfile, flags); by default there
    /// is no local store and no lockfile.
    pub fn set_registry(&mut self, registry: crate::registry::Resolver) {
        self.registry = registry;
    }

    /// The resolver of `oci://` plugins.
    pub fn registry(&self) -> &crate::registry::Resolver {
        &self.registry
    }

    /// Load a plugin: read it, check its pin, compile it (or load it from the cache),
    /// check that it implements `tollgate:policy/policy@0.1.x` and link it.
    pub fn load(&self, reference: &PluginRef) -> Result<Arc<Plugin>, LoadError> {
        let plugin = self.load_unreported(reference)?;
        if let Some(reported) = &self.reported
            && reported.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(plugin.sha256().to_string())
        {
            eprintln!("tollgate: {}", plugin.code_source().describe(plugin.source()));
        }
        Ok(plugin)
    }

    fn load_unreported(&self, reference: &PluginRef) -> Result<Arc<Plugin>, LoadError> {
        let path = match &reference.source {
            PluginSource::Builtin(name) => {
                let builtin = builtin::find(name).ok_or_else(|| LoadError {
                    message: format!("unknown builtin plugin `builtin:{name}`; available: {}", builtin_names().join(", ")),
                })?;
                return self.load_builtin(&reference.to_string(), builtin, reference.sha256.as_deref());
            }
            PluginSource::File(path) => path,
            PluginSource::Oci(oci) => {
                let fetched = self.registry.fetch(oci).map_err(|message| LoadError { message })?;
                let sha256 = fetched.resolution.component_digest.trim_start_matches("sha256:");
                return self.load_bytes(&oci.to_string(), &fetched.component, Some(sha256));
            }
        };
        let bytes = plugin_file::read_bounded(path, MAX_PLUGIN_BYTES)
            .map_err(|message| LoadError { message: format!("plugin {}: {message}", path.display()) })?;
        self.load_bytes(&path.display().to_string(), &bytes, reference.sha256.as_deref())
    }

    /// Load a standard plugin from the code precompiled at build time: no hashing, no
    /// compiling, no compile cache.
    fn load_builtin(&self, source: &str, builtin: &'static builtin::Builtin, pinned_sha256: Option<&str>) -> Result<Arc<Plugin>, LoadError> {
        let fail = |message: String| LoadError { message: format!("plugin {source}: {message}") };
        check_pin(pinned_sha256, builtin.sha256).map_err(fail)?;
        if let Some(plugin) = self.loaded(builtin.sha256) {
            return Ok(plugin);
        }
        let started = Instant::now();
        let component = builtin::load_precompiled(&self.engine, builtin).map_err(fail)?;
        let code_source = CodeSource::Precompiled { load_time: started.elapsed() };
        let snapshots = if self.preinitialise_hot { Snapshots::of_builtin(builtin.component, &self.engine, &self.linker) } else { Snapshots::none() };
        self.link(source, builtin.sha256.to_string(), builtin.component.len(), component, code_source, snapshots)
    }

    /// Load a plugin from bytes; `source` names it in messages.
    pub fn load_bytes(&self, source: &str, bytes: &[u8], pinned_sha256: Option<&str>) -> Result<Arc<Plugin>, LoadError> {
        let fail = |message: String| LoadError { message: format!("plugin {source}: {message}") };
        let sha256 = hex::encode(Sha256::digest(bytes));
        check_pin(pinned_sha256, &sha256).map_err(fail)?;
        if let Some(plugin) = self.loaded(&sha256) {
            return Ok(plugin);
        }
        check_component_header(bytes).map_err(fail)?;
        let (component, code_source) = self.compile(bytes, &sha256).map_err(fail)?;
        self.link(source, sha256, bytes.len(), component, code_source, Snapshots::none())
    }

    /// The plugin with this digest if this runtime already loaded it.
    fn loaded(&self, sha256: &str) -> Option<Arc<Plugin>> {
        self.loaded.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(sha256).cloned()
    }

    /// Check the component's world and imports, link it, and remember it by digest.
    fn link(&self, source: &str, sha256: String, size: usize, component: Component, code_source: CodeSource, snapshots: Snapshots) -> Result<Arc<Plugin>, LoadError> {
        let fail = |message: String| LoadError { message: format!("plugin {source}: {message}") };
        // The baseline engine's code links with the baseline engine's linker.
        let (engine, linker) = if Engine::same(component.engine(), &self.engine) {
            (&self.engine, &self.linker)
        } else {
            let (engine, linker) = baseline::engine_and_linker().map_err(fail)?;
            (engine, linker)
        };
        let world = policy_export_name(&component, engine).map_err(fail)?;
        let component_type = component.component_type();
        let imports = component_type.imports(engine).map(|(name, _)| name.to_string()).collect();
        let exports = component_type.exports(engine).map(|(name, _)| name.to_string()).collect();
        let instance_pre = linker.instantiate_pre(&component).map_err(|error| fail(describe_link_error(&error)))?;
        let pre = PolicyPre::new(instance_pre)
            .map_err(|error| fail(format!("its exports do not match tollgate:policy/policy@{}: {error:#}", crate::WIT_VERSION)))?;
        let plugin = Arc::new(Plugin {
            source: source.to_string(),
            sha256: sha256.clone(),
            size,
            world,
            imports,
            exports,
            code_source,
            pre,
            engine: engine.clone(),
            info: OnceLock::new(),
            accepted: Mutex::new(std::collections::HashSet::new()),
            snapshots,
        });
        self.loaded.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(sha256, plugin.clone());
        Ok(plugin)
    }

    fn compile(&self, bytes: &[u8], sha256: &str) -> Result<(Component, CodeSource), String> {
        let started = Instant::now();
        let mut store_in_cache = self.cache.as_ref();
        if let Some(cache) = &self.cache {
            match cache.load(&self.engine, sha256) {
                cache::Lookup::Hit(component) => return Ok((component, CodeSource::Cache { load_time: started.elapsed() })),
                cache::Lookup::Miss => {}
                cache::Lookup::Untrusted => store_in_cache = None,
            }
        }
        self.compilations.fetch_add(1, Ordering::Relaxed);
        if let Some(cache) = store_in_cache.filter(|_| baseline::available() && bytes.len() >= baseline::MIN_BYTES)
            && let Ok(component) = baseline::compile(bytes)
        {
            let compile_time = started.elapsed();
            let (cache, engine, bytes, sha256) = (cache.clone(), self.engine.clone(), bytes.to_vec(), sha256.to_string());
            self.upgrades.start(move || {
                if let Ok(compiled) = Component::new(&engine, &bytes).and_then(|component| component.serialize()) {
                    let _ = cache.store(&sha256, &compiled);
                }
            });
            return Ok((component, CodeSource::Baseline { compile_time }));
        }
        let component = Component::new(&self.engine, bytes).map_err(|error| format!("it is not a valid component: {error:#}"))?;
        let compile_time = started.elapsed();
        let cached_at =
            store_in_cache.and_then(|cache| component.serialize().ok().and_then(|compiled| cache.store(sha256, &compiled).ok()));
        Ok((component, CodeSource::Compiled { compile_time, cached_at }))
    }
}

/// The component bytes of a standard plugin.
pub fn builtin_bytes(name: &str) -> Option<&'static [u8]> {
    builtin::find(name).map(|builtin| builtin.component)
}

/// Names of the standard plugins, for `builtin:NAME` references.
pub fn builtin_names() -> Vec<&'static str> {
    builtin::names()
}

/// A configured pin must match the component's digest.
fn check_pin(pinned: Option<&str>, sha256: &str) -> Result<(), String> {
    match pinned {
        Some(pinned) if pinned != sha256 => Err(format!(
            "sha256 mismatch: the configuration pins sha256:{pinned} but the file is sha256:{sha256}; \
             refusing to load it. If the plugin was rebuilt on purpose, update the pin"
        )),
        _ => Ok(()),
    }
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
    let prefix = format!("{}/plugin@", crate::WIT_PACKAGE);
    let Some(export) = exports.iter().find(|name| name.starts_with(&prefix)) else {
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
