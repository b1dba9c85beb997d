//! The standard plugins embedded in the binary: each component's bytes, its sha256 and the
//! native code host/build.rs precompiled for it, all fixed at build time. Loading one hashes
//! nothing, compiles nothing and never touches the compile cache; where the engine allows
//! (`engine.rs`), the code runs where it lies in the binary, loaded once per process.

use std::collections::HashMap;
use std::ptr::NonNull;
use std::sync::Mutex;

use wasmtime::Engine;
use wasmtime::component::Component;

use super::engine::{PAGE_SIZE, runs_code_in_place};

/// One standard plugin as host/build.rs embedded it.
pub struct Builtin {
    /// The name in `builtin:NAME`.
    pub name: &'static str,
    /// The component, as built from this workspace's source.
    pub component: &'static [u8],
    /// sha256 of `component`, lower-case hex, computed at build time.
    pub sha256: &'static str,
    /// `Engine::precompile_component` of `component`, under the runtime's engine configuration.
    pub precompiled: &'static [u8],
}

/// Storage aligned to a page, so that the code in it can be made executable where it lies.
#[repr(C, align(4096))]
pub struct PageAligned<T: ?Sized>(pub T);

const _: () = assert!(std::mem::align_of::<PageAligned<u8>>() == PAGE_SIZE);

include!(concat!(env!("OUT_DIR"), "/builtins.rs"));

/// The standard plugin called `name`.
pub fn find(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|builtin| builtin.name == name)
}

/// Names of the standard plugins, for `builtin:NAME` references.
pub fn names() -> Vec<&'static str> {
    BUILTINS.iter().map(|builtin| builtin.name).collect()
}

/// The builtin's precompiled code, loaded into `engine` (the process's shared engine). Never
/// falls back to compiling: code that does not load means this binary is inconsistent, and
/// saying so beats a silent second-long compile on every run.
pub fn load_precompiled(engine: &Engine, builtin: &'static Builtin) -> Result<Component, String> {
    // wasmtime registers a code region once per process: the binary's copy belongs to the
    // shared engine, one component per builtin; another engine (the pooled one of a long-lived
    // process) gets a copy.
    if !runs_code_in_place() || !super::engine::is_shared(engine) {
        // SAFETY: as below; this copies the code into memory wasmtime maps itself.
        return unsafe { Component::deserialize(engine, builtin.precompiled) }.map_err(|error| not_loadable(&error));
    }
    static LOADED: Mutex<Option<HashMap<&'static str, Component>>> = Mutex::new(None);
    let mut loaded = LOADED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let loaded = loaded.get_or_insert_with(HashMap::new);
    if let Some(component) = loaded.get(builtin.name) {
        return Ok(component.clone());
    }
    let code = NonNull::from(builtin.precompiled);
    // SAFETY: `deserialize_raw` runs native code without verifying it, so the bytes must come
    // from wasmtime's own serializer and from no one else. These do: host/build.rs produced
    // them with `Engine::precompile_component` of this same wasmtime (the build dependency is
    // pinned to the version the runtime links), under the engine configuration both include
    // from engine_config.rs, from components built from this workspace's source; they are part
    // of the binary's read-only data, as trusted as its own code. They live as long as the
    // process and nothing ever writes to them, which running them in place requires; they are
    // page-aligned (`PageAligned`), which making them executable requires. wasmtime still
    // checks the version, configuration and CPU features recorded in them and refuses a mismatch.
    let component = match unsafe { Component::deserialize_raw(engine, code) } {
        Ok(component) => component,
        // E.g. a hardened kernel refusing to make the binary's own pages executable: copy the
        // code into pages wasmtime maps (as on other platforms), with the same safety argument.
        Err(_) => unsafe { Component::deserialize(engine, builtin.precompiled) }.map_err(|error| not_loadable(&error))?,
    };
    loaded.insert(builtin.name, component.clone());
    Ok(component)
}

fn not_loadable(error: &wasmtime::Error) -> String {
    format!(
        "its code precompiled at build time does not load in this engine ({error:#}); this tollgate binary was \
         built for a different CPU or wasmtime configuration: rebuild tollgate on this machine"
    )
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::runtime::{CodeSource, Limits, PluginRef, Runtime};

    #[test]
    fn every_builtin_loads_its_precompiled_code_without_compiling_or_touching_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let runtime = Runtime::new(Some(&cache)).unwrap();
        assert!(BUILTINS.len() >= 5, "every standard plugin is embedded");
        for builtin in BUILTINS {
            let plugin = runtime.load(&PluginRef::parse(&format!("builtin:{}", builtin.name)).unwrap()).unwrap();
            assert!(matches!(plugin.code_source(), CodeSource::Precompiled { .. }), "{}: {:?}", builtin.name, plugin.code_source());
            // The digest fixed at build time is the component's.
            assert_eq!(plugin.sha256(), hex::encode(Sha256::digest(builtin.component)), "{}", builtin.name);
            assert_eq!(plugin.info(Limits::default()).unwrap().name, builtin.name);
        }
        assert_eq!(runtime.compilations(), 0);
        assert!(!cache.exists(), "the compile cache was not even created");

        // The counter does count: the same bytes given as a custom plugin are compiled.
        let custom = Runtime::new(None).unwrap();
        custom.load_bytes("change-window.wasm", BUILTINS[0].component, None).unwrap();
        assert_eq!(custom.compilations(), 1);
    }

    #[test]
    fn a_builtin_pinned_to_another_digest_is_refused() {
        let runtime = Runtime::new(None).unwrap();
        let reference = PluginRef::parse(&format!("builtin:change-window@sha256:{}", "0".repeat(64))).unwrap();
        let error = runtime.load(&reference).err().expect("a wrong pin is refused");
        assert!(error.message.contains("sha256 mismatch"), "{}", error.message);
    }
}
