use serde::Deserialize;
use tollgate_sdk::{export_policy, PluginInfo, Policy, Result, Transition, Verdict};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)] // a misspelt field is a config error naming it
struct Config {
    environments: Vec<String>, // environments that need an approval
}

struct RequireApproval;

impl Policy for RequireApproval {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new("require-approval", env!("CARGO_PKG_VERSION"), "Listed environments need an approval")
    }

    fn evaluate(config: &Config, t: &Transition) -> Result<Verdict> {
        let approved = t.approvals.iter().any(|a| a.version == t.artifact.version && a.approver != t.requested_by);
        if config.environments.contains(&t.to_env) && !approved {
            return Ok(Verdict::deny(format!("{} needs an approval of {} by someone other than {}", t.to_env, t.artifact.version, t.requested_by)));
        }
        Ok(Verdict::allow())
    }
}

export_policy!(RequireApproval);
