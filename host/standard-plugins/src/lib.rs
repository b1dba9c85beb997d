//! The standard policy plugins, compiled to `wasm32-wasip2` components by this crate's build
//! script, for `host/build.rs` to precompile with wasmtime and embed in the binary.
//!
//! Apart from host's build script because that one depends on wasmtime and so could start only
//! once Cranelift and wasmtime are compiled; this one depends on nothing that takes long (see
//! [`tollgate_preflight::build_components`]), so the plugins compile beside them.

use std::path::PathBuf;

mod packages;

pub use packages::STANDARD_PLUGINS;

/// The directory holding the standard plugins' components.
pub const WASM_DIR: &str = env!("TOLLGATE_STANDARD_PLUGIN_DIR");

/// The component of the standard plugin `package` (e.g. `change-window`).
pub fn component(package: &str) -> PathBuf {
    tollgate_preflight::component_path(WASM_DIR, package)
}
