//! The standard plugins embedded in the binary: each component's bytes, its sha256 and the
//! native code host/build.rs precompiled for it, all fixed at build time. Loading one hashes
//! nothing, compiles nothing and never touches the compile cache.

use wasmtime::Engine;
use wasmtime::component::Component;

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

include!(concat!(env!("OUT_DIR"), "/builtins.rs"));

/// The standard plugin called `name`.
pub fn find(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|builtin| builtin.name == name)
}

/// Names of the standard plugins, for `builtin:NAME` references.
pub fn names() -> Vec<&'static str> {
    BUILTINS.iter().map(|builtin| builtin.name).collect()
}

/// The builtin's precompiled code, loaded into `engine`. Never falls back to compiling: code
/// that does not load means this binary is inconsistent, and saying so beats a silent
/// second-long compile on every run.
pub fn load_precompiled(engine: &Engine, builtin: &Builtin) -> Result<Component, String> {
    // SAFETY: `Component::deserialize` runs native code without verifying it, so the bytes
    // must come from wasmtime's own serializer and from no one else. These do: host/build.rs
    // produced them with `Engine::precompile_component` of this same wasmtime (the build
    // dependency is pinned to the version the runtime links), under the engine configuration
    // both include from engine_config.rs, from components built from this workspace's source;
    // they are part of the binary's read-only data, as trusted as its own code. wasmtime still
    // checks the version, configuration and CPU features recorded in them and refuses a mismatch.
    unsafe { Component::deserialize(engine, builtin.precompiled) }.map_err(|error| {
        format!(
            "its code precompiled at build time does not load in this engine ({error:#}); this tollgate binary was \
             built for a different CPU or wasmtime configuration: rebuild tollgate on this machine"
        )
    })
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
