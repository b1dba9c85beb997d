//! End-to-end tests of the `tollgate` binary with real components built from `plugins/`
//! and `tests/plugins/` by host/build.rs.

mod erp_http;
mod sandbox;
mod support;
mod plugin_cli;
mod promotion;
mod push;
