//! Pre-initialised instances of a standard plugin for one configuration (issue 25, P2).
//!
//! A decision instance asks info() and validate-config before evaluate, and with the SDK most
//! of what those two cost is parsing the configuration (about a quarter of a decision of the
//! four standard policies). Both answers depend only on the plugin, the configuration and the
//! environments it is told, so a long-lived process asks them once, in a template instance,
//! and takes a snapshot of that instance with [`wasmtime_wizer`]: the component is rewritten so
//! that its memory starts as the template's ended (the parsed configuration included). Each
//! decision still gets a fresh instance, now of that component, and asks evaluate alone.
//!
//! Only the standard plugins, and only a template whose state after validate-config depends on
//! nothing but the configuration and the environment names: it is run twice, with other
//! randomness and another clock, and the two states must be the same; it may not have asked the
//! host for files, HTTP, the transition's artifacts or counted approvals, logged or printed.
//! A decision from the snapshot is then the decision the plain instance makes
//! (`tests::a_pre_initialised_instance_decides_as_a_plain_one_…`). Making one compiles the
//! component twice, the instrumented template and then the snapshot (about 0.3–0.5 s each here,
//! on every core), and keeps about 9 MiB, so only `tollgate serve --preinitialise` asks for it,
//! on a background thread, once a configuration is hot ([`Snapshots::HOT_AFTER`] decisions);
//! until it is ready, decisions take the plain path.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, ComponentType, Instance, InstancePre, Lift, Linker, WasmList};
use wasmtime::{Engine, Store};

use super::bindings::{Policy, PolicyPre};
use super::convert::info_from_wit;
use super::sandbox::{SandboxState, new_store};
use super::{HostAccess, Limits, PluginInfo, PolicyEnvironments};

/// A snapshot ready for decisions: instances of it start where validate-config left off.
pub(super) struct Preinitialised {
    /// The snapshot component, linked.
    pub pre: PolicyPre<SandboxState>,
    /// What the template's info() said.
    pub info: PluginInfo,
}

/// Where one configuration's snapshot stands.
enum Entry {
    /// Decided this many times without one.
    Seen(u32),
    /// Being made.
    Building,
    Ready(Arc<Preinitialised>),
    /// Could not be made (the reason was logged once); the plain path serves it.
    Unusable,
}

/// What a plugin needs to make snapshots of itself, and those it made, by configuration.
pub(super) struct Snapshots {
    maker: Option<Maker>,
    /// By configuration key: where its snapshot stands, and when it was last asked for.
    entries: Mutex<HashMap<[u8; 32], (Entry, u64)>>,
}

/// The component and the process's engine and linker its snapshots are compiled and linked with.
#[derive(Clone)]
struct Maker {
    component: &'static [u8],
    engine: Engine,
    linker: Linker<SandboxState>,
}

/// What a decision takes.
pub(super) enum Lookup {
    /// The snapshot of its configuration.
    Ready(Arc<Preinitialised>),
    /// A plain instance.
    Plain,
    /// A plain instance; and the snapshot is to be made now, by this job (then [`Snapshots::finish`]).
    Make(Job),
}

/// Making one snapshot.
pub(super) struct Job {
    maker: Maker,
    config: String,
    environments: PolicyEnvironments,
    limits: Limits,
    /// The process's one turn to make a snapshot, given back when the job ends, run or not.
    _turn: Turn,
}

impl Job {
    /// Make it (on a background thread).
    pub fn run(self) -> Result<Preinitialised, String> {
        self.maker.make_guarded(&self.config, &self.environments, self.limits)
    }
}

/// One snapshot made at a time in the process: each compiles on every core.
static MAKING: AtomicBool = AtomicBool::new(false);

/// The turn to make a snapshot; dropping it gives the turn back.
struct Turn;

impl Turn {
    /// The turn, if no snapshot is being made.
    fn take() -> Option<Turn> {
        (!MAKING.swap(true, Ordering::SeqCst)).then_some(Turn)
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        MAKING.store(false, Ordering::SeqCst);
    }
}

impl Snapshots {
    /// Decisions of one configuration after which a background thread makes its snapshot.
    pub const HOT_AFTER: u32 = 16;
    /// Configurations tracked per plugin (each snapshot keeps about 9 MiB); a new one takes the
    /// place of another ([`make_room`]).
    pub const MAX_ENTRIES: usize = 8;

    /// No snapshots (custom plugins, one-shot processes).
    pub fn none() -> Self {
        Snapshots { maker: None, entries: Mutex::new(HashMap::new()) }
    }

    /// Snapshots of the standard plugin `component`: made by decisions of a hot configuration,
    /// or on request ([`Snapshots::make_now`]).
    pub fn of_builtin(component: &'static [u8], engine: &Engine, linker: &Linker<SandboxState>) -> Self {
        let maker = Maker { component, engine: engine.clone(), linker: linker.clone() };
        Snapshots { maker: Some(maker), ..Snapshots::none() }
    }

    /// Whether this plugin has snapshots at all (a standard plugin in `serve --preinitialise`).
    pub fn can_make(&self) -> bool {
        self.maker.is_some()
    }

    /// The ready snapshot for `key`, counting the decision; once the configuration is hot (and
    /// no other snapshot is being made), the job that makes its snapshot, for a background thread.
    pub fn for_decision(&self, key: [u8; 32], config: &str, environments: &PolicyEnvironments, limits: Limits) -> Lookup {
        let Some(maker) = &self.maker else { return Lookup::Plain };
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = entries.values().map(|(_, asked)| asked + 1).max().unwrap_or(0);
        if !make_room(&mut entries, &key) {
            return Lookup::Plain;
        }
        let (entry, asked) = entries.entry(key).or_insert((Entry::Seen(0), now));
        *asked = now;
        let seen = match entry {
            Entry::Ready(ready) => return Lookup::Ready(ready.clone()),
            Entry::Building | Entry::Unusable => return Lookup::Plain,
            Entry::Seen(count) => {
                *count = count.saturating_add(1);
                *count
            }
        };
        let Some(turn) = (seen >= Self::HOT_AFTER).then(Turn::take).flatten() else {
            return Lookup::Plain;
        };
        *entry = Entry::Building;
        Lookup::Make(Job { maker: maker.clone(), config: config.to_string(), environments: environments.clone(), limits, _turn: turn })
    }

    /// Record the outcome of a snapshot started by [`Snapshots::for_decision`] or made now.
    pub fn finish(&self, key: [u8; 32], made: Result<Preinitialised, String>, source: &str) -> Result<Arc<Preinitialised>, String> {
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        make_room(&mut entries, &key);
        match made {
            Ok(made) => {
                let ready = Arc::new(made);
                let asked = entries.get(&key).map_or(0, |(_, asked)| *asked);
                entries.insert(key, (Entry::Ready(ready.clone()), asked));
                Ok(ready)
            }
            Err(cause) => {
                let asked = entries.get(&key).map_or(0, |(_, asked)| *asked);
                if !matches!(entries.insert(key, (Entry::Unusable, asked)), Some((Entry::Unusable, _))) {
                    eprintln!("tollgate: {source}: no pre-initialised instance for this configuration ({cause}); decisions stay as they were");
                }
                Err(cause)
            }
        }
    }

    /// Make the snapshot for `key` now, on this thread (`Plugin::preinitialise`).
    pub fn make_now(&self, key: [u8; 32], config: &str, environments: &PolicyEnvironments, limits: Limits, source: &str) -> Result<Arc<Preinitialised>, String> {
        let Some(maker) = &self.maker else {
            return Err("only the standard plugins, in a pooled runtime set to pre-initialise them (serve --preinitialise), are pre-initialised".to_string());
        };
        let turn = loop {
            match Turn::take() {
                Some(turn) => break turn,
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        };
        let made = maker.make_guarded(config, environments, limits);
        drop(turn);
        self.finish(key, made, source)
    }
}

/// Whether `key` has a place among `entries`, making one for it if need be: a configuration
/// only counted gives way before one whose snapshot failed, and that before a ready one (each
/// cost a second of compiling); among them the one asked for least recently. One whose
/// snapshot is being made stays.
fn make_room(entries: &mut HashMap<[u8; 32], (Entry, u64)>, key: &[u8; 32]) -> bool {
    if entries.contains_key(key) || entries.len() < Snapshots::MAX_ENTRIES {
        return true;
    }
    let worth = |entry: &Entry| match entry {
        Entry::Seen(_) => Some(0),
        Entry::Unusable => Some(1),
        Entry::Ready(_) => Some(2),
        Entry::Building => None,
    };
    let oldest = entries.iter().filter_map(|(key, (entry, asked))| Some((worth(entry)?, *asked, *key))).min().map(|(_, _, key)| key);
    oldest.is_some_and(|oldest| entries.remove(&oldest).is_some())
}

impl Maker {
    /// [`Maker::make`], a panic in it (wasmtime's or Wizer's) an error: a snapshot is an
    /// optimisation, and the next one must not wait forever for this one.
    fn make_guarded(&self, config: &str, environments: &PolicyEnvironments, limits: Limits) -> Result<Preinitialised, String> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.make(config, environments, limits))).unwrap_or_else(|_| Err("making it panicked".to_string()))
    }

    /// Ask info() (with nothing reachable) and validate-config(`config`) (told `environments`
    /// and nothing else) in a template instance, and compile the snapshot of its state.
    fn make(&self, config: &str, environments: &PolicyEnvironments, limits: Limits) -> Result<Preinitialised, String> {
        let wizer = wasmtime_wizer::Wizer::new();
        // The component instrumented so that its memories and globals can be read (compiled for
        // each snapshot rather than kept: a server makes few, and its code is megabytes).
        let (layout, instrumented) = wizer.instrument_component(self.component).map_err(|error| format!("instrumenting it failed: {error:#}"))?;
        let template = Component::new(&self.engine, &instrumented).map_err(|error| format!("compiling the template failed: {error:#}"))?;
        let template = self.linker.instantiate_pre(&template).map_err(|error| format!("linking the template failed: {error:#}"))?;
        // Twice, with other randomness and another clock: a state that differs depends on them,
        // and a snapshot would fix it for every later decision.
        let (info, snapshot, took) = self.template_state(&wizer, &layout, &template, config, environments, limits, 0, b"tollgate pre-initialisation")?;
        let (_, again, _) = self.template_state(&wizer, &layout, &template, config, environments, limits, 1_767_691_800, b"tollgate pre-initialisation, again")?;
        if snapshot != again {
            return Err("its state after validate-config depends on the clock or on randomness".to_string());
        }
        // A decision from the snapshot has its whole time for evaluate; only where validating
        // takes next to nothing of it is that the plain decision's budget.
        if took > limits.timeout / 8 {
            return Err(format!("info() and validate-config took {} ms of its {} ms", took.as_millis(), limits.timeout.as_millis()));
        }
        let component = Component::new(&self.engine, &snapshot).map_err(|error| format!("compiling the snapshot failed: {error:#}"))?;
        let pre = self.linker.instantiate_pre(&component).map_err(|error| format!("linking the snapshot failed: {error:#}"))?;
        let pre = PolicyPre::new(pre).map_err(|error| format!("the snapshot's exports: {error:#}"))?;
        Ok(Preinitialised { pre, info })
    }

    /// One template instance whose clock reads `clock` and whose randomness comes from `seed`,
    /// after info() and validate-config: what info() said, the rewritten component, and how
    /// long the two calls took.
    #[allow(clippy::too_many_arguments)]
    fn template_state(
        &self,
        wizer: &wasmtime_wizer::Wizer,
        layout: &wasmtime_wizer::ComponentContext<'_>,
        template: &InstancePre<SandboxState>,
        config: &str,
        environments: &PolicyEnvironments,
        limits: Limits,
        clock: i64,
        seed: &[u8],
    ) -> Result<(PluginInfo, Vec<u8>, Duration), String> {
        let state = SandboxState::new(HostAccess::none(), clock, seed, limits.memory_bytes, limits.timeout);
        let mut store = new_store(&self.engine, state, limits);
        let started = Instant::now();
        let instance = template.instantiate(&mut store).map_err(|error| format!("the template did not start: {error:#}"))?;
        let exports = Policy::new(&mut store, &instance).map_err(|error| format!("{error:#}"))?;
        let exports = exports.tollgate_policy_plugin();
        let info = exports.call_info(&mut store).map_err(|error| format!("its info() failed: {error:#}"))?;
        let info = info_from_wit(info)?;
        // As in a decision: info() with nothing reachable, then what validate-config may reach
        // (here the environment names alone).
        store.data_mut().grant(HostAccess { environments: environments.clone(), ..HostAccess::none() });
        match exports.call_validate_config(&mut store, config) {
            Ok(Ok(())) => {}
            Ok(Err(message)) => return Err(format!("it refused the configuration: {message}")),
            Err(error) => return Err(format!("its validate-config failed: {error:#}")),
        }
        let took = started.elapsed();
        // What the template logged or printed would be missing from every decision's record,
        // and what it asked beyond its configuration may be answered otherwise in a decision.
        let state = store.data();
        if !state.logs.is_empty() || state.dropped_log_lines > 0 || !state.stdout.text().is_empty() || !state.stderr.text().is_empty() {
            return Err("it logged or printed while validating".to_string());
        }
        if state.asked_beyond_configuration {
            return Err("it asked the host for more than the environment names while validating".to_string());
        }
        let mut template = Template { store: &mut store, instance, failed: false };
        let snapshot = ready(wizer.snapshot_component(layout, &mut template))
            .ok_or("taking the snapshot waited on something")?
            .map_err(|error| format!("taking the snapshot failed: {error:#}"))?;
        if template.failed {
            return Err("reading the template's state failed".to_string());
        }
        Ok((info, snapshot, took))
    }
}

/// The template instance, as [`wasmtime_wizer`] reads its state: through the functions its
/// instrumentation exports, each returning one value.
struct Template<'a> {
    store: &'a mut Store<SandboxState>,
    instance: Instance,
    /// Set when a read failed or had another type: the snapshot is then refused (Wizer itself
    /// may panic first on the empty memory it was given; [`Maker::make_guarded`] catches that).
    failed: bool,
}

impl Template<'_> {
    /// Call the instrumentation's `function` of `interface`, which returns one `R`; `None` (and
    /// the snapshot marked failed) when it is missing, has another type or fails.
    fn call<R: ComponentType + Lift + Send + Sync + 'static>(&mut self, interface: &str, function: &str) -> Option<R> {
        let called = (|| {
            let (_, interface) = self.instance.get_export(&mut *self.store, None, interface)?;
            let (_, function) = self.instance.get_export(&mut *self.store, Some(&interface), function)?;
            let function = self.instance.get_typed_func::<(), (R,)>(&mut *self.store, function).ok()?;
            function.call(&mut *self.store, ()).ok().map(|(value,)| value)
        })();
        self.failed |= called.is_none();
        called
    }
}

impl wasmtime_wizer::ComponentInstanceState for Template<'_> {
    fn call_func_ret_list_u8(&mut self, interface: &str, function: &str, contents: impl FnOnce(&[u8]) + Send) -> impl Future<Output = ()> + Send {
        match self.call::<WasmList<u8>>(interface, function) {
            Some(list) => contents(list.as_le_slice(&*self.store)),
            None => contents(&[]),
        }
        std::future::ready(())
    }

    fn call_func_ret_s32(&mut self, interface: &str, function: &str) -> impl Future<Output = i32> + Send {
        std::future::ready(self.call(interface, function).unwrap_or_default())
    }

    fn call_func_ret_s64(&mut self, interface: &str, function: &str) -> impl Future<Output = i64> + Send {
        std::future::ready(self.call(interface, function).unwrap_or_default())
    }

    fn call_func_ret_f32(&mut self, interface: &str, function: &str) -> impl Future<Output = u32> + Send {
        std::future::ready(self.call::<f32>(interface, function).unwrap_or_default().to_bits())
    }

    fn call_func_ret_f64(&mut self, interface: &str, function: &str) -> impl Future<Output = u64> + Send {
        std::future::ready(self.call::<f64>(interface, function).unwrap_or_default().to_bits())
    }
}

/// The value of a future that never waits (every call above answers at once).
fn ready<T>(future: impl Future<Output = T>) -> Option<T> {
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut TaskContext::from_waker(Waker::noop())) {
        Poll::Ready(value) => Some(value),
        Poll::Pending => None,
    }
}

#[cfg(test)]
mod tests;
