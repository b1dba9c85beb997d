//! End-to-end tests of the `tollgate` binary with real components built from `plugins/`
//! and `tests/plugins/` by host/build.rs, on real Git repositories.

pub mod budget;
mod cli_paths;
mod cold_start;
mod config_tools;
mod crash;
mod deployment_health;
mod erp_http;
mod examples;
mod graph;
mod guard;
mod hardening;
mod hardening2;
mod multi;
pub mod outputs;
mod perf;
mod plugin_cli;
mod promotion;
mod push;
mod record;
mod python_plugin;
mod registry;
mod registry_signature;
mod registry_support;
mod sandbox;
mod scaffold;
mod serve;
mod serve_dashboard;
mod serve_support;
mod support;
mod templates;
mod trust;
mod truthful;
mod verify;
