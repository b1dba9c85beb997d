// The wasmtime configuration of every engine tollgate creates.
//
// Shared verbatim (through `include!`) by host/build.rs, which precompiles the standard
// plugins with it, and by the runtime, which loads that precompiled code: wasmtime refuses
// code compiled under any other configuration, so the two must never drift apart. Plain `//`
// comments only: an included file cannot carry inner doc comments.

/// The engine configuration: epoch interruption (timeouts) and the component model.
pub fn engine_config() -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    config
}
