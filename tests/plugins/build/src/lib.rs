//! The policy plugins tests load, compiled to `wasm32-wasip2` components: the test-only ones
//! (`tests/plugins/*`) and the example (`plugins/examples/image-policy`) by this crate's build
//! script, the standard ones by `tollgate-standard-plugins`.
//!
//! A dev-dependency of `tollgate`: `cargo build` (release builds included) compiles none of the
//! test plugins; `cargo test` compiles them, beside wasmtime (the build script waits for nothing
//! but the standard plugins' nested build).

use std::path::PathBuf;

mod packages;

pub use packages::TEST_PLUGINS;

/// The directory holding the test plugins' and the example's components.
pub const WASM_DIR: &str = env!("TOLLGATE_TEST_PLUGIN_DIR");

/// The component of the plugin package `package`: a test plugin, the example or a standard one.
pub fn component(package: &str) -> PathBuf {
    if tollgate_standard_plugins::STANDARD_PLUGINS.iter().any(|plugin| plugin.name == package) {
        return tollgate_standard_plugins::component(package);
    }
    tollgate_preflight::component_path(WASM_DIR, package)
}
