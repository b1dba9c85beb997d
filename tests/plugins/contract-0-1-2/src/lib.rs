//! A policy plugin built against `tollgate:policy@0.1.2`, the contract before
//! `host.transition-artifact-kinds` was added: `wit/policy.wit` here is a frozen copy of it,
//! bound with wit-bindgen directly (the SDK follows the current contract). It calls the 0.1.2
//! host functions `policy-environments` and `report-counted-approvals` and the 0.1.1
//! `transition-artifacts` (so it imports `tollgate:policy/host@0.1.2`), counts every approval,
//! and allows, naming every artifact as it sees it: a Helm chart or Git revision shows as an
//! artifact whose `image` is the chart's or repository's identifier, with no kind.

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({ world: "policy", path: "wit" });

    use exports::tollgate::policy::plugin::{Guest, PluginInfo, Transition, Verdict};
    use tollgate::policy::host::{policy_environments, report_counted_approvals, transition_artifacts};
    use tollgate::policy::types::{Decision, Finding};

    struct Contract012;

    impl Guest for Contract012 {
        fn info() -> PluginInfo {
            PluginInfo {
                name: "contract-0-1-2".into(),
                version: "0.1.2".into(),
                description: "Built against WIT 0.1.2 (test fixture)".into(),
                capabilities: Vec::new(),
            }
        }

        fn validate_config(config: String) -> Result<(), String> {
            if config.trim() == "{}" { Ok(()) } else { Err(format!("config: takes no settings, got {config}")) }
        }

        fn evaluate(_config: String, transition: Transition) -> Result<Verdict, String> {
            let approvers: Vec<String> = transition.approvals.iter().map(|approval| approval.approver.clone()).collect();
            report_counted_approvals(&approvers);
            let named = transition_artifacts();
            let artifacts: Vec<String> = match named.is_empty() {
                true => vec![format!("{}:{}", transition.artifact.image, transition.artifact.version)],
                false => named.iter().map(|named| format!("{}={}:{}", named.name, named.artifact.image, named.artifact.version)).collect(),
            };
            let message = format!("0.1.2 plugin saw [{}] in {} of [{}]", artifacts.join(", "), transition.to_env, policy_environments().configured.join(", "));
            Ok(Verdict { decision: Decision::Allow, findings: vec![Finding { message, path: None }] })
        }
    }

    export!(Contract012);
}
