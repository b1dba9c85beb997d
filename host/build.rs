//! Precompiles the standard plugins with the same wasmtime and the very engine configuration
//! the runtime uses (`src/runtime/engine_config.rs`, included by both), and embeds them with
//! their sha256: a first run on a fresh machine never compiles them and never hashes them.
//!
//! Their components come from `tollgate-standard-plugins`, whose build script compiles them to
//! wasm while wasmtime compiles (this script needs wasmtime, so it starts only afterwards). The
//! test plugins and the example are compiled for tests only (`tollgate-test-plugins`, a
//! dev-dependency).

use std::env;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tollgate_standard_plugins::STANDARD_PLUGINS;

/// The engine configuration shared with the runtime.
mod engine_config {
    include!("src/runtime/engine_config.rs");
}

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    println!("cargo:rerun-if-changed={}", manifest_dir.join("src/runtime/engine_config.rs").display());
    let engine = wasmtime::Engine::new(&engine_config::engine_config()).expect("create the wasmtime engine the runtime uses");
    for plugin in STANDARD_PLUGINS {
        // A component rebuilt by tollgate-standard-plugins is precompiled again.
        println!("cargo:rerun-if-changed={}", tollgate_standard_plugins::component(plugin.name).display());
    }
    // One thread per builtin: the machine's cores compile them side by side.
    let entries: Vec<(String, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = STANDARD_PLUGINS
            .iter()
            .enumerate()
            .map(|(index, plugin)| {
                let (engine, out_dir) = (&engine, &out_dir);
                let code_static = format!("CODE_{index}");
                scope.spawn(move || precompile(engine, plugin.name, &tollgate_standard_plugins::component(plugin.name), out_dir, &code_static))
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().expect("precompiling a builtin panicked")).collect()
    });
    // Each plugin's precompiled code in a page-aligned static, so that it can be run where the
    // binary's read-only data lies (see runtime/builtin.rs) instead of being copied first.
    let mut builtins: String = entries.iter().map(|(_, code)| code.as_str()).collect();
    builtins.push_str("/// The standard plugins embedded in the binary, precompiled at build time.\npub static BUILTINS: &[Builtin] = &[\n");
    builtins.extend(entries.iter().map(|(entry, _)| entry.as_str()));
    builtins.push_str("];\n");
    std::fs::write(out_dir.join("builtins.rs"), builtins).expect("write builtins.rs");
}

/// Precompile one builtin into `out_dir`; its entry in the generated `BUILTINS` table and the
/// static `code_static` holding its code.
fn precompile(engine: &wasmtime::Engine, name: &str, wasm: &Path, out_dir: &Path, code_static: &str) -> (String, String) {
    let component = std::fs::read(wasm).unwrap_or_else(|error| panic!("read {}: {error}", wasm.display()));
    let precompiled = engine
        .precompile_component(&component)
        .unwrap_or_else(|error| panic!("precompile {} with wasmtime: {error:#}", wasm.display()));
    // The component embedded is a copy in this build's own OUT_DIR: the plugin build directory
    // is shared by every profile, and a later build of another profile may rewrite the file
    // there, which must not change what this binary embeds after its digest was taken.
    let embedded = out_dir.join(format!("{name}.wasm"));
    std::fs::write(&embedded, &component).unwrap_or_else(|error| panic!("write {}: {error}", embedded.display()));
    let cwasm = out_dir.join(format!("{name}.cwasm"));
    let code_len = precompiled.len();
    std::fs::write(&cwasm, precompiled).unwrap_or_else(|error| panic!("write {}: {error}", cwasm.display()));
    let entry = format!(
        "    Builtin {{ name: {name:?}, component: include_bytes!({:?}), sha256: {:?}, precompiled: &{code_static}.0 }},\n",
        embedded.display().to_string(),
        hex::encode(Sha256::digest(&component)),
    );
    let code = format!("static {code_static}: PageAligned<[u8; {code_len}]> = PageAligned(*include_bytes!({:?}));\n", cwasm.display().to_string());
    (entry, code)
}
