//! The one wasmtime [`Engine`] of the process, and how it makes code executable.
//!
//! One engine for every [`super::Runtime`] of a short-lived process: wasmtime registers each loaded code region
//! process-wide, so the standard plugins' code, run where it lies in the binary
//! (`builtin.rs`), can be loaded once per process and no more, which needs one engine to load
//! it into. One engine also means one epoch ticker thread however many runtimes there are.
//!
//! On x86-64 Linux the engine publishes code itself ([`PublishInPlace`]): wasmtime cannot
//! change the protection of memory it did not map, and the builtins' precompiled code lies in
//! the binary's read-only data. Making those pages executable where they are, instead of
//! copying megabytes into fresh pages first, means a plan faults in only the code it runs.
//!
//! Long-lived processes (`plan-batch`, `tollgate serve`) use a second engine instead
//! ([`pooled_engine`]): instances come from wasmtime's pooling allocator, whose memory and
//! table slots are reset and reused rather than mapped and unmapped per instance, which is
//! most of what a decision costs besides the policy's own code. It reserves its pool up front
//! (slow to start, which is why a one-shot `plan` does not use it) and copies the builtins'
//! code into pages it maps itself (the binary's copy stays registered to the shared engine).

use std::sync::OnceLock;
use std::time::Instant;

use wasmtime::Engine;

use super::sandbox::{MAX_INSTANCES, MAX_MEMORIES, MAX_TABLES, TABLE_ELEMENT_BYTES};
use super::{EPOCH_TICK, engine_config};

static SHARED: OnceLock<Result<Engine, String>> = OnceLock::new();

/// The process's engine (created on first use).
pub fn shared_engine() -> Result<Engine, String> {
    SHARED
        .get_or_init(|| {
            let mut config = engine_config::engine_config();
            if runs_code_in_place() {
                config.with_custom_code_memory(Some(std::sync::Arc::new(PublishInPlace)));
            }
            let engine = Engine::new(&config).map_err(|error| format!("cannot create the WebAssembly engine: {error:#}"))?;
            start_epoch_ticker(&engine);
            Ok(engine)
        })
        .clone()
}

/// The engine of long-lived processes: the same configuration with instances allocated from a
/// pool (created on first use). Every limit of the pool is at least what the sandbox's own
/// limits allow ([`super::sandbox::MemoryCap`]), so a plugin that runs in a one-shot process
/// runs here too; only the number of instances alive at once is bounded by the pool.
pub fn pooled_engine() -> Result<Engine, String> {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let mut config = engine_config::engine_config();
            config.allocation_strategy(pool_config());
            let engine = Engine::new(&config).map_err(|error| format!("cannot create the WebAssembly engine with an instance pool: {error:#}"))?;
            start_epoch_ticker(&engine);
            Ok(engine)
        })
        .clone()
}

/// Instances alive at once in a pooled engine, across every call in flight (a decision's
/// policies, each a component of a few core instances, times the requests served at once).
pub const POOLED_INSTANCES: u32 = 1000;
/// Bytes of each linear memory reset in place (only the pages a plugin touched) instead of
/// handed back to the kernel when its instance ends: what a standard plugin's decision dirties.
pub(super) const KEEP_RESIDENT_BYTES: usize = 4 << 20;

fn pool_config() -> wasmtime::PoolingAllocationConfig {
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_component_instances(POOLED_INSTANCES)
        .total_core_instances(POOLED_INSTANCES)
        .total_memories(POOLED_INSTANCES)
        .total_tables(POOLED_INSTANCES)
        .max_memories_per_module(MAX_MEMORIES as u32)
        .max_tables_per_module(MAX_TABLES as u32)
        .max_core_instances_per_component(MAX_INSTANCES as u32)
        // A table as large as the default memory cap could hold (the cap counts table
        // elements too); reserved address space, not memory.
        .table_elements(POOLED_TABLE_ELEMENTS)
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
        .table_keep_resident(64 << 10)
        .pagemap_scan(wasmtime::Enabled::Auto);
    pool
}

/// The most elements a table may have in a pooled engine: the default memory cap's worth.
pub const POOLED_TABLE_ELEMENTS: usize = 64 * 1024 * 1024 / TABLE_ELEMENT_BYTES;

/// Whether `engine` is the shared engine, the one that runs the builtins' code in place.
pub fn is_shared(engine: &Engine) -> bool {
    SHARED.get().and_then(|shared| shared.as_ref().ok()).is_some_and(|shared| Engine::same(shared, engine))
}

/// Whether the shared engine can run precompiled code where it lies: x86-64 Linux (code and
/// data caches are coherent there, so making pages executable is all publishing takes) with
/// 4 KiB pages (the alignment of the builtins' code in the binary).
pub fn runs_code_in_place() -> bool {
    // SAFETY: sysconf has no preconditions.
    cfg!(all(target_arch = "x86_64", target_os = "linux")) && unsafe { libc::sysconf(libc::_SC_PAGESIZE) } == PAGE_SIZE as libc::c_long
}

/// The alignment of the builtins' code in the binary.
pub const PAGE_SIZE: usize = 4096;

/// Publishes code by making its pages readable and executable where they are (W^X: never
/// writable at the same time), for code wasmtime mapped itself and code in the binary alike.
struct PublishInPlace;

impl wasmtime::CustomCodeMemory for PublishInPlace {
    fn required_alignment(&self) -> usize {
        PAGE_SIZE
    }

    fn publish_executable(&self, ptr: *const u8, len: usize) -> wasmtime::Result<()> {
        // SAFETY: wasmtime hands over a page-aligned range of code it has finished writing
        // (or, for a builtin, read-only data of this binary); nothing writes to it afterwards.
        let result = unsafe { libc::mprotect(ptr as *mut libc::c_void, len, libc::PROT_READ | libc::PROT_EXEC) };
        if result != 0 {
            return Err(wasmtime::format_err!("cannot make plugin code executable: {}", std::io::Error::last_os_error()));
        }
        Ok(())
    }

    fn unpublish_executable(&self, _ptr: *const u8, _len: usize) -> wasmtime::Result<()> {
        // Called when code is dropped: memory wasmtime mapped is unmapped next anyway, and a
        // builtin's code stays as it is (read-only and executable) for the process's lifetime.
        // (wasmtime also unpublishes to patch code for guest debugging, its `debug` feature,
        // which tollgate does not enable.)
        Ok(())
    }
}

/// Advance the engine's epoch every [`EPOCH_TICK`], for the process's lifetime.
pub(super) fn start_epoch_ticker(engine: &Engine) {
    let engine = engine.clone();
    std::thread::Builder::new()
        .name("tollgate-epoch".into())
        .spawn(move || {
            // Ticks of wall-clock time, not of sleeps: on a loaded machine a sleep lasts longer
            // than asked, and a deadline counted in sleeps would come late.
            let started = Instant::now();
            let mut ticks: u128 = 0;
            loop {
                let due = started.elapsed().as_nanos() / EPOCH_TICK.as_nanos() + 1;
                while ticks < due {
                    engine.increment_epoch();
                    ticks += 1;
                }
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawn the epoch ticker thread");
}
