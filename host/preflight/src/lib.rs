//! The toolchain preflight of the tollgate workspace.
//!
//! This crate has no code to speak of: its build script is the point. It makes sure the Rust
//! toolchain has the standard library for [`WASM_TARGET`], which `host/build.rs` needs to
//! compile the policy plugins: when rustup manages the toolchain it adds the target (and says
//! so in a cargo warning); otherwise it stops the build with the commands to run, instead of
//! letting the build compile wasmtime for minutes and then fail in `host/build.rs`.
//!
//! It runs twice over. Cargo builds crates with many dependents first, so this crate's own
//! build script, a build dependency of `host/`, would run only minutes in; the workspace's
//! `.cargo/config.toml` therefore names `rustc-wrapper` (next to this file) as cargo's
//! workspace wrapper, and cargo's first call to rustc (`rustc -vV`, before any crate compiles)
//! compiles and runs the same build script as a program. The build script proper remains for
//! builds that do not read that configuration (run from outside the workspace, or with another
//! wrapper, such as `cargo clippy`'s).
//! `check-toolchains` shows both on toolchains without the target.
//!
//! Its library holds what the build scripts that compile the policy plugins share
//! ([`build_components`]): being dependency-free, it is ready seconds into a build, so those
//! scripts can run beside the compilation of wasmtime.

mod components;
mod target;

pub use components::{PluginPackage, build_components, build_components_for_crate, component_file_name, component_path};
pub use target::WASM_TARGET;
