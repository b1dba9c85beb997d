//! End-to-end tests of the `tollgate` binary with real components built from `plugins/`
//! and `tests/plugins/` by host/build.rs, on real Git repositories.

mod config_tools;
mod deployment_health;
mod erp_http;
mod examples;
mod outputs;
mod plugin_cli;
mod promotion;
mod push;
mod python_plugin;
mod sandbox;
mod scaffold;
mod support;
