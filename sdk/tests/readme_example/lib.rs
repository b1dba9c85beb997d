use serde::Deserialize;
use tollgate_sdk::{export_policy, PluginInfo, Policy, Result, Transition, Verdict};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)] // a misspelt field is a config error naming it
struct Config {
    // Environments that need an approval; a name tollgate.yaml does not have is a config error too.
    #[serde(deserialize_with = "tollgate_sdk::environment_names::list")]
    environments: Vec<String>,
}

struct RequireApproval;

impl Policy for RequireApproval {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new("require-approval", env!("CARGO_PKG_VERSION"), "Listed environments need an approval")
    }

    fn evaluate(config: &Config, t: &Transition) -> Result<Verdict> {
        // Approvals of this version by someone other than the requester count; the verdict says which.
        let counted: Vec<&str> =
            t.approvals.iter().filter(|a| a.version == t.artifact.version && a.approver != t.requested_by).map(|a| a.approver.as_str()).collect();
        let verdict = if config.environments.contains(&t.to_env) && counted.is_empty() {
            Verdict::deny(format!("{} needs an approval of {} by someone other than {}", t.to_env, t.artifact.version, t.requested_by))
        } else {
            Verdict::allow()
        };
        Ok(verdict.with_counted_approvals(counted))
    }
}

export_policy!(RequireApproval);
