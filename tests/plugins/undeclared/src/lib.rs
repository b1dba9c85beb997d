//! A policy plugin that declares no capabilities but calls `read-file` anyway: the host must
//! refuse it (capabilities are granted only to plugins that ask for them in `info()`).

use serde::Deserialize;
use tollgate_sdk::host;
use tollgate_sdk::{PluginInfo, Policy, Result, Transition, Verdict, export_policy};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// The repository file to try to read.
    path: String,
}

struct Undeclared;

impl Policy for Undeclared {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new("undeclared", env!("CARGO_PKG_VERSION"), "Reads files without asking (test fixture)")
    }

    fn evaluate(config: &Config, _transition: &Transition) -> Result<Verdict> {
        Ok(match host::read_file(&config.path) {
            Ok(Some(content)) => Verdict::allow().with_finding(format!("read {} bytes of {}", content.len(), config.path)),
            Ok(None) => Verdict::allow().with_finding(format!("{} does not exist", config.path)),
            Err(error) => Verdict::deny(format!("read-file refused: {error}")),
        })
    }
}

export_policy!(Undeclared);
