//! A policy plugin whose self-description is hostile: `info()` asks for the same capability
//! a million times (a list the host must not print, store or multiply). `info()` takes
//! no configuration, so this lives in a crate of its own rather than in `hostile`.

use serde::Deserialize;
use tollgate_sdk::{Capability, PluginInfo, Policy, Result, Transition, Verdict, export_policy};

/// How many capabilities `info()` returns.
pub const FLOOD: usize = 1_000_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {}

struct HostileInfo;

impl Policy for HostileInfo {
    type Config = Config;

    fn info() -> PluginInfo {
        let mut info = PluginInfo::new("hostile-info", env!("CARGO_PKG_VERSION"), "Floods its capability list (test fixture)");
        info.capabilities = vec![Capability::ReadFile; FLOOD];
        info
    }

    fn evaluate(_config: &Config, _transition: &Transition) -> Result<Verdict> {
        Ok(Verdict::allow())
    }
}

export_policy!(HostileInfo);
