//! Builds the policy plugins in this workspace to `wasm32-wasip2` components, so that a plain
//! `cargo build` / `cargo test` produces every `.wasm` the host and the tests need.
//!
//! Same pattern as wasmtime's test-programs artifacts crate: a nested `cargo build` for the
//! wasm target into a target directory of its own (so it never waits on the outer build's
//! lock), with the size-optimised `plugin` profile from the workspace `Cargo.toml`.
//!
//! The standard plugins are then precompiled here, with the same wasmtime and the very engine
//! configuration the runtime uses (`src/runtime/engine_config.rs`, included by both), and
//! embedded with their sha256: a first run on a fresh machine never compiles them and never
//! hashes them.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// The engine configuration shared with the runtime.
mod engine_config {
    include!("src/runtime/engine_config.rs");
}

/// A plugin package to build.
struct PluginPackage {
    /// Cargo package name; also the `builtin:` name for standard plugins.
    name: &'static str,
    /// Crate directory relative to the workspace root.
    dir: &'static str,
    /// Embedded in the binary as `builtin:<name>`.
    builtin: bool,
}

const PLUGINS: &[PluginPackage] = &[
    PluginPackage { name: "change-window", dir: "plugins/change-window", builtin: true },
    PluginPackage { name: "approval-count", dir: "plugins/approval-count", builtin: true },
    PluginPackage { name: "secret-scope", dir: "plugins/secret-scope", builtin: true },
    PluginPackage { name: "erp-readiness", dir: "plugins/erp-readiness", builtin: true },
    PluginPackage { name: "deployment-health", dir: "plugins/deployment-health", builtin: true },
    PluginPackage { name: "soak-time", dir: "plugins/soak-time", builtin: true },
    PluginPackage { name: "image-policy", dir: "plugins/examples/image-policy", builtin: false },
    PluginPackage { name: "hostile", dir: "tests/plugins/hostile", builtin: false },
    PluginPackage { name: "hostile-info", dir: "tests/plugins/hostile-info", builtin: false },
    PluginPackage { name: "undeclared", dir: "tests/plugins/undeclared", builtin: false },
    PluginPackage { name: "contract-0-1-0", dir: "tests/plugins/contract-0-1-0", builtin: false },
    PluginPackage { name: "contract-0-1-1", dir: "tests/plugins/contract-0-1-1", builtin: false },
    PluginPackage { name: "contract-0-1-2", dir: "tests/plugins/contract-0-1-2", builtin: false },
];

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest_dir.parent().expect("host/ lives in the workspace root").to_path_buf();
    let target_dir = match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("plugins"),
        None => workspace.join("target").join("plugins"),
    };

    for watched in ["sdk", "wit", "Cargo.lock", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", workspace.join(watched).display());
    }
    for plugin in PLUGINS {
        println!("cargo:rerun-if-changed={}", workspace.join(plugin.dir).display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut command = Command::new(cargo);
    command
        .current_dir(&workspace)
        .args(["build", "--target", "wasm32-wasip2", "--profile", "plugin", "--target-dir"])
        .arg(&target_dir);
    for plugin in PLUGINS {
        command.args(["--package", plugin.name]);
    }
    // Flags meant for the host build must not leak into the wasm build.
    for variable in ["CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS", "CARGO_BUILD_TARGET", "CARGO_TARGET_DIR", "CARGO_PRIMARY_PACKAGE"] {
        command.env_remove(variable);
    }
    let status = command.status().expect("run cargo to build the policy plugins");
    if !status.success() {
        panic!(
            "building the policy plugins for wasm32-wasip2 failed (see the cargo output above); \
             if the target is missing, run `rustup target add wasm32-wasip2`"
        );
    }

    let wasm_dir = target_dir.join("wasm32-wasip2").join("plugin");
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    println!("cargo:rerun-if-changed={}", manifest_dir.join("src/runtime/engine_config.rs").display());
    let engine = wasmtime::Engine::new(&engine_config::engine_config()).expect("create the wasmtime engine the runtime uses");
    for plugin in PLUGINS {
        let wasm = wasm_file(&wasm_dir, plugin.name);
        assert!(wasm.is_file(), "{} was not produced", wasm.display());
    }
    // One thread per builtin: the machine's cores compile them side by side.
    let entries: Vec<(String, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = PLUGINS
            .iter()
            .filter(|plugin| plugin.builtin)
            .enumerate()
            .map(|(index, plugin)| {
                let (engine, wasm_dir, out_dir) = (&engine, &wasm_dir, &out_dir);
                let code_static = format!("CODE_{index}");
                scope.spawn(move || precompile(engine, plugin.name, &wasm_file(wasm_dir, plugin.name), out_dir, &code_static))
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
    // Where the components are, for the end-to-end tests and the CLI's own tests.
    println!("cargo:rustc-env=TOLLGATE_PLUGIN_DIR={}", wasm_dir.display());
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

fn wasm_file(dir: &Path, package: &str) -> PathBuf {
    dir.join(format!("{}.wasm", package.replace('-', "_")))
}
