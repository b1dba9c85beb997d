//! A policy plugin built against `tollgate:policy@0.1.1`, the contract before
//! `host.policy-environments` and `host.report-counted-approvals` were added: `wit/policy.wit`
//! here is a frozen copy of it, bound with wit-bindgen directly (the SDK follows the current
//! contract). It calls the 0.1.1 host function `transition-artifacts` (so it imports
//! `tollgate:policy/host@0.1.1`), refuses a configuration that is not `{}` (naming the field, as
//! plugins of its time did), and allows, naming the artifact and the approvers it saw: it says
//! nothing about which approvals counted.

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({ world: "policy", path: "wit" });

    use exports::tollgate::policy::plugin::{Guest, PluginInfo, Transition, Verdict};
    use tollgate::policy::host::{LogLevel, log, transition_artifacts};
    use tollgate::policy::types::{Decision, Finding};

    struct Contract011;

    impl Guest for Contract011 {
        fn info() -> PluginInfo {
            PluginInfo {
                name: "contract-0-1-1".into(),
                version: "0.1.1".into(),
                description: "Built against WIT 0.1.1 (test fixture)".into(),
                capabilities: Vec::new(),
            }
        }

        fn validate_config(config: String) -> Result<(), String> {
            if config.trim() == "{}" { Ok(()) } else { Err(format!("config: takes no settings, got {config}")) }
        }

        fn evaluate(_config: String, transition: Transition) -> Result<Verdict, String> {
            log(LogLevel::Info, "evaluated by a 0.1.1 plugin");
            let approvers: Vec<String> = transition.approvals.iter().map(|approval| approval.approver.clone()).collect();
            let message = format!(
                "0.1.1 plugin saw {}:{} ({} named artifacts), approved by [{}]",
                transition.artifact.image,
                transition.artifact.version,
                transition_artifacts().len(),
                approvers.join(", ")
            );
            Ok(Verdict { decision: Decision::Allow, findings: vec![Finding { message, path: None }] })
        }
    }

    export!(Contract011);
}
