//! Builds the policy plugins in this workspace to `wasm32-wasip2` components, so that a plain
//! `cargo build` / `cargo test` produces every `.wasm` the host and the tests need.
//!
//! Same pattern as wasmtime's test-programs artifacts crate: a nested `cargo build` for the
//! wasm target into a target directory of its own (so it never waits on the outer build's
//! lock), with the size-optimised `plugin` profile from the workspace `Cargo.toml`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Plugin packages to build: (package name, crate directory relative to the workspace root).
const PLUGINS: &[(&str, &str)] = &[
    ("image-policy", "plugins/examples/image-policy"),
    ("hostile", "tests/plugins/hostile"),
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
    for (_, dir) in PLUGINS {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut command = Command::new(cargo);
    command
        .current_dir(&workspace)
        .args(["build", "--target", "wasm32-wasip2", "--profile", "plugin", "--target-dir"])
        .arg(&target_dir);
    for (package, _) in PLUGINS {
        command.args(["--package", package]);
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
    for (package, _) in PLUGINS {
        let wasm = wasm_file(&wasm_dir, package);
        assert!(wasm.is_file(), "{} was not produced", wasm.display());
    }
    // Where the components are, for the end-to-end tests and the CLI's own tests.
    println!("cargo:rustc-env=TOLLGATE_PLUGIN_DIR={}", wasm_dir.display());
}

fn wasm_file(dir: &Path, package: &str) -> PathBuf {
    dir.join(format!("{}.wasm", package.replace('-', "_")))
}
