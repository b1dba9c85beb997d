//! The one wasmtime [`Engine`] of the process, and how it makes code executable.
//!
//! One engine for every [`super::Runtime`]: wasmtime registers each loaded code region
//! process-wide, so the standard plugins' code, run where it lies in the binary
//! (`builtin.rs`), can be loaded once per process and no more, which needs one engine to load
//! it into. One engine also means one epoch ticker thread however many runtimes there are.
//!
//! On x86-64 Linux the engine publishes code itself ([`PublishInPlace`]): wasmtime cannot
//! change the protection of memory it did not map, and the builtins' precompiled code lies in
//! the binary's read-only data. Making those pages executable where they are, instead of
//! copying megabytes into fresh pages first, means a plan faults in only the code it runs.

use std::sync::OnceLock;
use std::time::Instant;

use wasmtime::Engine;

use super::{EPOCH_TICK, engine_config};

/// The process's engine (created on first use).
pub fn shared_engine() -> Result<Engine, String> {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    ENGINE
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
