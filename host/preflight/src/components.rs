//! Compiling the workspace's policy plugins to components: one nested `cargo build` for the
//! wasm target, called from the build scripts of `tollgate-standard-plugins` and
//! `tollgate-test-plugins`.
//!
//! Same pattern as wasmtime's test-programs artifacts crate: the nested build uses a target
//! directory of its own (`<target dir>/plugins`), so it never waits on the outer build's lock,
//! and the `plugin` profile of the workspace `Cargo.toml`. It runs in a build
//! script that does not depend on wasmtime, so it need not wait for Cranelift (cargo may
//! still start it late; BENCHMARKS.md, Build). Cargo
//! hands a build script its jobserver (`CARGO_MAKEFLAGS`), which the nested cargo joins: the
//! two builds together run no more jobs than the outer one was given.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use crate::target::WASM_TARGET;

/// A plugin package of the workspace, compiled to a component.
pub struct PluginPackage {
    /// Cargo package name (for a standard plugin also its `builtin:` name).
    pub name: &'static str,
    /// Crate directory relative to the workspace root.
    pub dir: &'static str,
}

/// The file name cargo gives the component of `package` (its crate name, `-` made `_`).
pub fn component_file_name(package: &str) -> String {
    format!("{}.wasm", package.replace('-', "_"))
}

/// Compiles `packages` to `wasm32-wasip2` components with the `plugin` profile, to be called
/// from a build script: tells cargo to run it again when their sources, the SDK, the WIT, the
/// lock file or the workspace manifest (profiles) change. Returns the directory holding each
/// package's [`component_file_name`].
///
/// Two calls on the same target directory would wait on each other's lock while holding a job
/// of the outer build each: a crate whose build script calls this after another one's does has
/// that crate as a build dependency, so the second call starts when the first has finished.
pub fn build_components(packages: &[PluginPackage]) -> Result<PathBuf, String> {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").ok_or("cargo set no CARGO_MANIFEST_DIR")?);
    let workspace = manifest_dir
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .ok_or_else(|| format!("no Cargo.lock in {} or above: not in the tollgate workspace", manifest_dir.display()))?
        .to_path_buf();
    let target_dir = match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("plugins"),
        None => workspace.join("target").join("plugins"),
    };
    for watched in ["sdk", "wit", "Cargo.lock", "Cargo.toml", ".cargo/config.toml"] {
        println!("cargo:rerun-if-changed={}", workspace.join(watched).display());
    }
    for package in packages {
        println!("cargo:rerun-if-changed={}", workspace.join(package.dir).display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&workspace)
        .args(["build", "--target", WASM_TARGET, "--profile", "plugin", "--target-dir"])
        .arg(&target_dir);
    for package in packages {
        command.args(["--package", package.name]);
    }
    // Flags meant for the host build must not leak into the wasm build.
    for variable in ["CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS", "CARGO_BUILD_TARGET", "CARGO_TARGET_DIR", "CARGO_PRIMARY_PACKAGE"] {
        command.env_remove(variable);
    }
    let status = command.status().map_err(|error| format!("could not run cargo to build the policy plugins: {error}"))?;
    if !status.success() {
        return Err(format!(
            "building the policy plugins for {WASM_TARGET} failed ({status}; see the cargo output above); \
             if the target is missing, run `rustup target add {WASM_TARGET}`"
        ));
    }
    let wasm_dir = target_dir.join(WASM_TARGET).join("plugin");
    for package in packages {
        let component = wasm_dir.join(component_file_name(package.name));
        if !component.is_file() {
            return Err(format!("the nested build of {} produced no {}", package.name, component.display()));
        }
    }
    Ok(wasm_dir)
}

/// A build script's whole work: [`build_components`], then the directory holding the
/// components handed to the crate's code as the environment variable `dir_variable` (for
/// `env!`), or the build stopped with the reason.
pub fn build_components_for_crate(packages: &[PluginPackage], dir_variable: &str) -> ExitCode {
    match build_components(packages) {
        Ok(dir) => {
            println!("cargo:rustc-env={dir_variable}={}", dir.display());
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The component of `package` in `dir` (a directory [`build_components`] returned).
pub fn component_path(dir: &str, package: &str) -> PathBuf {
    Path::new(dir).join(component_file_name(package))
}
