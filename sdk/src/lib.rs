//! # tollgate-sdk: write tollgate policy plugins in plain Rust
//!
//! A policy plugin is a WebAssembly component that tollgate runs, sandboxed, in front of
//! every GitOps promotion. With this crate a plugin is three things:
//!
//! 1. a configuration type that derives [`serde::Deserialize`] (its errors become
//!    `validate-config` errors that name the field),
//! 2. a type implementing [`Policy`],
//! 3. one [`export_policy!`] line.
//!
//! ```
//! use serde::Deserialize;
//! use tollgate_sdk::{export_policy, Policy, PluginInfo, Result, Transition, Verdict};
//!
//! #[derive(Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Config { require_digest: bool }
//!
//! struct RequireDigest;
//!
//! impl Policy for RequireDigest {
//!     type Config = Config;
//!     fn info() -> PluginInfo {
//!         PluginInfo::new("require-digest", env!("CARGO_PKG_VERSION"), "Artifacts must be pinned by digest")
//!     }
//!     fn evaluate(config: &Config, t: &Transition) -> Result<Verdict> {
//!         if config.require_digest && t.artifact.digest.is_none() {
//!             return Ok(Verdict::deny(format!("{} {} has no digest", t.artifact.image, t.artifact.version)));
//!         }
//!         Ok(Verdict::allow())
//!     }
//! }
//!
//! export_policy!(RequireDigest);
//! # // Compiled and run as a doctest (natively, where export_policy! expands to nothing):
//! # let t = tollgate_sdk::testing::transition().version("1.2.3").build();
//! # let verdict = tollgate_sdk::testing::evaluate::<RequireDigest>(r#"{"require_digest": true}"#, &t).unwrap();
//! # assert!(!verdict.is_allow());
//! ```
//!
//! Most policies configure rules per environment (`default` plus `environments`): use
//! [`PerEnvironment`] for that shape rather than writing it again. Its keys are checked
//! against the tollgate configuration's environments ([`environment_names`], WIT 0.1.2), so a
//! misspelt environment is a configuration error rather than a rule that never applies.
//!
//! A policy that counts approvals says which ones it counted with
//! [`Verdict::with_counted_approvals`] (WIT 0.1.2): only those are recorded as approving.
//!
//! Host functions ([`host::log`], [`host::read_file`], [`host::http_get`],
//! [`host::transition_artifacts`], [`host::policy_environments`]) call the tollgate
//! host inside the sandbox. Compiled natively (plain `cargo test`), they go to the test
//! double in [`testing`], so a policy's unit tests need no WebAssembly at all.

#![warn(missing_docs)]

pub mod environment_names;
mod error;
pub mod host;
mod per_environment;
pub mod placeholders;
mod policy;
pub mod testing;
mod types;

pub use error::{Error, Result};
pub use per_environment::{PerEnvironment, Scope};
pub use policy::Policy;
pub use types::{
    Approval, Artifact, Capability, Decision, FileChange, Finding, Label, NamedArtifact, PluginInfo,
    Transition, TransitionKind, Verdict,
};

/// Re-exported so plugin crates can derive `Deserialize` without naming serde's version.
pub use serde;
/// Re-exported for policies that work with JSON values (e.g. HTTP responses).
pub use serde_json;

/// The wit-bindgen output for the `tollgate:policy/policy` world, from the copy of the
/// repository's `wit/policy.wit` inside this package (`wit/v0.1.3/`, so the package builds
/// on its own; a test keeps the two identical).
/// Plugin authors do not need it; [`export_policy!`] uses it.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "policy",
        path: "wit/v0.1.3",
        pub_export_macro: true,
        export_macro_name: "__export_tollgate_policy_bindings",
        default_bindings_module: "::tollgate_sdk::bindings",
    });
}

#[doc(hidden)]
pub mod __private;

/// Export a [`Policy`] implementation as the plugin's `tollgate:policy/plugin` interface.
///
/// Use it exactly once per plugin crate, at the crate root. It only expands when compiling
/// for WebAssembly, so native `cargo test` of the same crate is unaffected.
#[macro_export]
macro_rules! export_policy {
    ($policy:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct TollgatePolicyExport;

            impl $crate::bindings::exports::tollgate::policy::plugin::Guest for TollgatePolicyExport {
                fn info() -> $crate::bindings::tollgate::policy::types::PluginInfo {
                    $crate::__private::info::<$policy>()
                }
                fn validate_config(config: ::std::string::String) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::__private::validate_config::<$policy>(&config)
                }
                fn evaluate(
                    config: ::std::string::String,
                    transition: $crate::bindings::tollgate::policy::types::Transition,
                ) -> ::std::result::Result<$crate::bindings::tollgate::policy::types::Verdict, ::std::string::String> {
                    $crate::__private::evaluate::<$policy>(&config, transition)
                }
            }

            $crate::bindings::__export_tollgate_policy_bindings!(TollgatePolicyExport);
        };

        // Natively only tests call the policy; this keeps the dead-code lint quiet about it.
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            let _ = $crate::__private::info::<$policy>;
            let _ = $crate::__private::validate_config::<$policy>;
            let _ = $crate::__private::evaluate::<$policy>;
        };
    };
}
