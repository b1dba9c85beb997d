//! A policy plugin built against `tollgate:policy@0.1.0`, the contract before
//! `host.transition-artifacts` was added: `wit/policy.wit` here is a frozen copy of it, bound
//! with wit-bindgen directly (the SDK follows the current contract). It logs through the host
//! (so it imports `tollgate:policy/host@0.1.0`) and allows, naming the artifact it saw.

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({ world: "policy", path: "wit" });

    use exports::tollgate::policy::plugin::{Guest, PluginInfo, Transition, Verdict};
    use tollgate::policy::host::{LogLevel, log};
    use tollgate::policy::types::{Decision, Finding};

    struct Contract010;

    impl Guest for Contract010 {
        fn info() -> PluginInfo {
            PluginInfo {
                name: "contract-0-1-0".into(),
                version: "0.1.0".into(),
                description: "Built against WIT 0.1.0 (test fixture)".into(),
                capabilities: Vec::new(),
            }
        }

        fn validate_config(_config: String) -> Result<(), String> {
            Ok(())
        }

        fn evaluate(_config: String, transition: Transition) -> Result<Verdict, String> {
            log(LogLevel::Info, "evaluated by a 0.1.0 plugin");
            let message = format!("0.1.0 plugin saw {}:{}", transition.artifact.image, transition.artifact.version);
            Ok(Verdict { decision: Decision::Allow, findings: vec![Finding { message, path: None }] })
        }
    }

    export!(Contract010);
}
