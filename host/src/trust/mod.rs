//! Trust that anyone holding the repository can check offline: SSH signatures (the SSHSIG
//! format of `ssh-keygen -Y sign`) checked against an `allowed_signers` file in Git's and
//! OpenSSH's format.
//!
//! - [`allowed_signers`]: parsing the file and deciding whether a signature's key may sign
//!   for a principal, in a namespace, at a time;
//! - [`sshsig`]: verifying SSHSIG signatures in-process and signing through `ssh-keygen`
//!   (so ssh-agent and hardware keys work, as with Git);
//! - [`statement`]: the canonical text of an approval statement and the signed approval
//!   file format;
//! - [`store`]: approvals stored in `refs/tollgate/approvals`;
//! - [`approvals`]: the approvals a promotion may count: only those that verify;
//! - [`plugin_signature`]: `FILE.wasm.sig`, signatures over a plugin's exact bytes (for `oci://`
//!   plugins, carried by the registry as a `sha256-<manifest hex>.sig` artifact);
//! - [`commit_signature`]: promotion commits signed in Git's own format (`gpgsig`) and their
//!   verification.
//!
//! Namespaces keep one kind of signature from being replayed as another:
//! [`NAMESPACE_APPROVAL`], [`NAMESPACE_PLUGIN`] and Git's `git` for commits.

pub mod allowed_signers;
pub mod approvals;
pub mod commit_signature;
pub mod plugin_signature;
pub mod sshsig;
pub mod statement;
pub mod store;

pub use allowed_signers::{AllowedSigners, VerifiedSigner};

/// The SSHSIG namespace of approval statements.
pub const NAMESPACE_APPROVAL: &str = "tollgate-approval";
/// The SSHSIG namespace of plugin signatures.
pub const NAMESPACE_PLUGIN: &str = "tollgate-plugin";
/// The SSHSIG namespace Git uses for commit and tag signatures.
pub const NAMESPACE_GIT: &str = "git";

pub use crate::config::trust::{EnvironmentTrust, TrustConfig};

/// The allowed signers of `config`, read from the tip of the configured branch.
/// `Ok(None)` when the configuration names no allowed-signers file.
pub fn load_allowed_signers(repo: &crate::repo::GitRepo, config: &crate::config::Config) -> Result<Option<AllowedSigners>, String> {
    let Some(path) = config.trust.as_ref().and_then(|trust| trust.allowed_signers.as_ref()) else { return Ok(None) };
    let tip = repo.tip(&config.branch).map_err(|error| error.0)?;
    let text = repo.read_file(tip.tree, path).map_err(|error| error.0)?.ok_or_else(|| {
        format!("{path} (trust.allowed_signers) does not exist on branch {}; commit it there", config.branch)
    })?;
    AllowedSigners::parse(&format!("{path} (branch {})", config.branch), &text).map(Some)
}

/// What `env` requires under `config` (nothing when there is no `trust:` section).
pub fn required(config: &crate::config::Config, env: &str) -> EnvironmentTrust {
    config.trust.as_ref().map(|trust| trust.environment(env)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const BASE: &str = "environments: [dev, prod]\napplications:\n  a:\n    image: r/a\n    environments:\n      dev: { file: d.yaml, helm: { tag_path: t } }\n";

    #[test]
    fn the_trust_section_is_off_by_default_and_checked() {
        let config = Config::parse("tollgate.yaml", BASE).unwrap();
        assert!(!super::required(&config, "prod").signed_approvals);
        let text = format!("{BASE}trust:\n  allowed_signers: .tollgate/allowed_signers\n  environments:\n    prod: {{ signed_approvals: true }}\n");
        let config = Config::parse("tollgate.yaml", &text).unwrap();
        assert!(super::required(&config, "prod").signed_approvals && !super::required(&config, "prod").signed_commits);
        assert!(!super::required(&config, "dev").signed_approvals);

        let error = Config::parse("tollgate.yaml", &text.replace("    prod:", "    qa:")).unwrap_err().0;
        assert!(error.starts_with("tollgate.yaml:10:5: trust.environments.qa: unknown environment qa"), "{error}");
        let error = Config::parse("tollgate.yaml", &text.replace("  allowed_signers: .tollgate/allowed_signers\n", "")).unwrap_err().0;
        assert!(error.contains("trust.environments.prod: requires signatures, so name the allowed-signers file"), "{error}");
        let error = Config::parse("tollgate.yaml", &text.replace(".tollgate/allowed_signers", "../signers")).unwrap_err().0;
        assert!(error.contains("trust.allowed_signers: \"../signers\" must be a path relative to the repository root"), "{error}");
        // A control character (a NUL, written as YAML's escape, could not be looked up in a tree)
        // is refused too.
        let error = Config::parse("tollgate.yaml", &text.replace(".tollgate/allowed_signers", "\".tollgate/allowed\\0signers\"")).unwrap_err().0;
        assert!(error.contains("without control characters"), "{error}");
        let error = Config::parse("tollgate.yaml", &text.replace("signed_approvals", "signed_aprovals")).unwrap_err().0;
        assert!(error.contains("unknown field `signed_aprovals`"), "{error}");
    }

    #[test]
    fn policy_signers_need_a_file_plugin_allowed_signers_and_literal_principals() {
        let policy = |plugin: &str, signers: &str| format!("{BASE}policies:\n  - plugin: {plugin}\n    signers: [{signers}]\n");
        let error = Config::parse("tollgate.yaml", &policy("p.wasm", "bob")).unwrap_err().0;
        assert!(error.contains("policies.0.signers: name the allowed-signers file"), "{error}");
        let trust = "trust: { allowed_signers: s }\n";
        let error = Config::parse("tollgate.yaml", &format!("{}{trust}", policy("builtin:change-window", "bob"))).unwrap_err().0;
        assert!(error.contains("builtin plugins are part of the tollgate binary"), "{error}");
        let error = Config::parse("tollgate.yaml", &format!("{}{trust}", policy("p.wasm", "\"*@example.com\""))).unwrap_err().0;
        assert!(error.contains("principal \"*@example.com\" contains '*'"), "{error}");
        assert!(Config::parse("tollgate.yaml", &format!("{}{trust}", policy("p.wasm", "bob@example.com"))).is_ok());
        let schema = crate::config::json_schema();
        assert_eq!(schema["$defs"]["EnvironmentTrust"]["additionalProperties"], false);
        assert!(schema["properties"]["trust"].is_object());
    }
}
