//! A fast first load for big components: Winch now, Cranelift for the cache.
//!
//! A component with a language engine inside (a JavaScript plugin built by componentize-js
//! carries SpiderMonkey, about 12 MB) takes Cranelift seconds to compile. On a compile-cache
//! miss such a component is compiled with Winch, wasmtime's baseline compiler (one pass, no
//! optimisation: several times faster to compile, somewhat slower code), and this process runs
//! that code; meanwhile Cranelift compiles the same bytes on another thread into the cache,
//! where every later run finds it. [`Upgrades`] waits for those threads when the runtime goes
//! away, so the cache is filled before the process exits (after its output is written).
//!
//! Only on x86-64, where Winch is a tier-1 compiler of wasmtime; elsewhere, and without a
//! cache to fill, Cranelift compiles as before. The baseline engine has the same
//! configuration as the shared one ([`super::engine_config`]) but for the compiler, its own
//! epoch ticker (deadlines hold the same), and the same sandbox around every call.

use std::sync::{Mutex, OnceLock};
use std::thread::JoinHandle;

use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use super::sandbox::SandboxState;

/// Components at least this big are compiled with Winch first (the standard and Rust plugins
/// are a few hundred KB; an interpreter-based one is over 10 MB).
pub const MIN_BYTES: usize = 4 * 1024 * 1024;

/// Whether this platform compiles big components with Winch first.
pub fn available() -> bool {
    cfg!(target_arch = "x86_64")
}

/// The process's baseline engine and its linker (created on first use).
pub fn engine_and_linker() -> Result<&'static (Engine, Linker<SandboxState>), String> {
    static BASELINE: OnceLock<Result<(Engine, Linker<SandboxState>), String>> = OnceLock::new();
    BASELINE
        .get_or_init(|| {
            let mut config = super::engine_config::engine_config();
            config.strategy(wasmtime::Strategy::Winch);
            let engine = Engine::new(&config).map_err(|error| format!("cannot create the baseline WebAssembly engine: {error:#}"))?;
            let mut linker = Linker::new(&engine);
            super::sandbox::link(&mut linker).map_err(|error| format!("{error:#}"))?;
            super::engine::start_epoch_ticker(&engine);
            Ok((engine, linker))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Compile `bytes` with Winch.
pub fn compile(bytes: &[u8]) -> Result<Component, String> {
    let (engine, _) = engine_and_linker()?;
    Component::new(engine, bytes).map_err(|error| format!("{error:#}"))
}

/// Cranelift compilations running for the cache; each is waited for when this is dropped.
#[derive(Default)]
pub struct Upgrades {
    running: Mutex<Vec<JoinHandle<()>>>,
}

impl Upgrades {
    /// Run `upgrade` (compile with Cranelift and store in the cache) on a thread of its own.
    pub fn start(&self, upgrade: impl FnOnce() + Send + 'static) {
        let spawned = std::thread::Builder::new().name("tollgate-cache-upgrade".into()).spawn(upgrade);
        // Without a thread the cache stays empty for this plugin: the next run compiles again.
        if let Ok(handle) = spawned {
            self.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(handle);
        }
    }

    /// Wait for every upgrade started so far.
    pub fn wait(&self) {
        let running = std::mem::take(&mut *self.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        for handle in running {
            let _ = handle.join();
        }
    }
}

impl Drop for Upgrades {
    fn drop(&mut self) {
        self.wait();
    }
}
