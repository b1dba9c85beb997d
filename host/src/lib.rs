//! # tollgate: a policy gate for GitOps promotions
//!
//! The flow a promotion takes through this crate, one module per step:
//!
//! - [`transition`]: the proposed change a policy decides on;
//! - [`runtime`]: loads policy plugins (WebAssembly components) and evaluates them in a
//!   sandbox with a deadline and a memory cap, failing closed on any misbehaviour;
//! - [`credentials`]: secrets the host attaches to a policy's granted HTTP origins, never
//!   shown to the plugin or written anywhere;
//! - [`decision`]: what one policy said (allow, deny, or failed) and what that means;
//! - [`fixtures`]: `tollgate plugin test`, running a plugin against a cases file;
//! - [`scaffold`]: `tollgate plugin new`, a new plugin crate that builds and passes its cases;
//! - [`check`]: `tollgate check-config`, validating a configuration without planning;
//! - [`report`]: text and JSON output for people and machines;
//! - [`cli`]: the `tollgate` command line, a thin layer over the above.
//!
//! Exit codes for every command are in [`exit::ExitCode`].

pub mod check;
pub mod cli;
pub mod commit;
pub mod config;
pub mod credentials;
pub mod decision;
pub mod demo;
pub mod engine;
pub mod exit;
pub mod fixtures;
pub mod gate;
pub mod history;
pub mod manifest;
pub mod plan;
pub mod push;
pub mod repo;
pub mod report;
pub mod runtime;
pub mod scaffold;
pub mod transition;

/// The WIT package this host implements.
pub const WIT_PACKAGE: &str = "tollgate:policy";
/// The WIT package version this host implements; plugins built for any 0.1.x load.
pub const WIT_VERSION: &str = "0.1.0";
