//! Native testing of policies: a test double for the host functions and a transition builder.
//!
//! ```
//! use tollgate_sdk::testing::{self, transition};
//! # use tollgate_sdk::{PluginInfo, Policy, Result, Transition, Verdict};
//! # #[derive(serde::Deserialize)]
//! # struct Config { require_digest: bool }
//! # struct MyPolicy;
//! # impl Policy for MyPolicy {
//! #     type Config = Config;
//! #     fn info() -> PluginInfo { PluginInfo::new("my-policy", "0.1.0", "Artifacts must be pinned") }
//! #     fn evaluate(config: &Config, t: &Transition) -> Result<Verdict> {
//! #         assert_eq!(tollgate_sdk::host::read_file("envs/prod/app.yaml").unwrap().as_deref(), Some("image: x"));
//! #         Ok(if config.require_digest && t.artifact.digest.is_none() { Verdict::deny("no digest") } else { Verdict::allow() })
//! #     }
//! # }
//!
//! // In a #[test] function:
//! testing::set_file("envs/prod/app.yaml", "image: x");
//! let t = transition().to_env("prod").version("1.2.3").build();
//! let verdict = testing::evaluate::<MyPolicy>(r#"{"require_digest": true}"#, &t).unwrap();
//! assert!(!verdict.is_allow());
//! ```
//!
//! The double is per thread, so tests running in parallel do not see each other's data.

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::host::{ArtifactKind, HttpResponse, LogLevel, PolicyEnvironments};
use crate::policy::parse_config;
use crate::{Approval, Artifact, FileChange, Label, NamedArtifact, Policy, Result, Transition, TransitionKind, Verdict};

#[derive(Default)]
struct TestHost {
    files: BTreeMap<String, String>,
    http: BTreeMap<String, std::result::Result<HttpResponse, String>>,
    logs: Vec<(LogLevel, String)>,
    requests: Vec<(String, Vec<(String, String)>)>,
    artifacts: Vec<NamedArtifact>,
    artifact_kinds: Vec<(String, ArtifactKind)>,
    environments: PolicyEnvironments,
}

thread_local! {
    static HOST: RefCell<TestHost> = RefCell::new(TestHost::default());
}

/// Make `read_file(path)` return `content`.
pub fn set_file(path: &str, content: &str) {
    HOST.with(|host| host.borrow_mut().files.insert(path.to_string(), content.to_string()));
}

/// Make `http_get(url, ..)` return `response`.
pub fn set_http_response(url: &str, response: HttpResponse) {
    HOST.with(|host| host.borrow_mut().http.insert(url.to_string(), Ok(response)));
}

/// Make `http_get(url, ..)` fail as the host does when it gets no response (refused origin,
/// timeout, connection error).
pub fn set_http_error(url: &str, message: &str) {
    HOST.with(|host| host.borrow_mut().http.insert(url.to_string(), Err(message.to_string())));
}

/// Make `transition_artifacts()` return `artifacts` (a multi-artifact application).
pub fn set_transition_artifacts(artifacts: Vec<NamedArtifact>) {
    HOST.with(|host| host.borrow_mut().artifacts = artifacts);
}

/// Make `transition_artifact_kinds()` return `kinds`, (name, kind) pairs (WIT 0.1.3; until a
/// test calls it, the host names no kinds and `host::artifact_kind` says every artifact is an image).
pub fn set_transition_artifact_kinds(kinds: &[(&str, ArtifactKind)]) {
    let kinds = kinds.iter().map(|(name, kind)| (name.to_string(), *kind)).collect();
    HOST.with(|host| host.borrow_mut().artifact_kinds = kinds);
}

/// Make `policy_environments()` tell `configured` (the tollgate configuration's environments,
/// in graph order) and a policy that runs for `runs_for` (`None`: for all of them), as the
/// host does from tollgate.yaml. Until a test calls it, no environments are told and names
/// are not checked (as in `tollgate plugin eval` without `--environment`).
pub fn set_environments(configured: &[&str], runs_for: Option<&[&str]>) {
    let names = |list: &[&str]| list.iter().map(|name| name.to_string()).collect::<Vec<_>>();
    let told = PolicyEnvironments { configured: names(configured), runs_for: names(runs_for.unwrap_or(configured)) };
    HOST.with(|host| host.borrow_mut().environments = told);
}

/// The lines logged so far on this thread.
pub fn logs() -> Vec<(LogLevel, String)> {
    HOST.with(|host| host.borrow().logs.clone())
}

/// The URLs requested so far on this thread.
pub fn requested_urls() -> Vec<String> {
    HOST.with(|host| host.borrow().requests.iter().map(|(url, _)| url.clone()).collect())
}

/// The requests made so far on this thread: each URL with the headers the policy sent.
pub fn requests() -> Vec<(String, Vec<(String, String)>)> {
    HOST.with(|host| host.borrow().requests.clone())
}

/// Forget all canned files, responses, logs and requests of this thread.
pub fn reset() {
    HOST.with(|host| *host.borrow_mut() = TestHost::default());
}

/// Run a policy the way the host does: parse and validate `config` (JSON text), then
/// evaluate. A config error comes back as `Err`, like the host's `validate-config`. The
/// verdict's counted approvals are checked and put in order as the host does: only the
/// transition's approvers, no more names than it has approvals (else `Err`, the host's
/// malformed output), each once, in the order of `transition.approvals`.
pub fn evaluate<P: Policy>(config: &str, transition: &Transition) -> Result<Verdict> {
    let config = parse_config::<P>(config)?;
    let mut verdict = P::evaluate(&config, transition)?;
    if let Some(counted) = verdict.counted_approvals.take() {
        verdict.counted_approvals = Some(counted_as_the_host_keeps_them(counted, transition)?);
    }
    Ok(verdict)
}

fn counted_as_the_host_keeps_them(counted: Vec<String>, transition: &Transition) -> Result<Vec<String>> {
    let approvers: Vec<&str> = transition.approvals.iter().map(|approval| approval.approver.as_str()).collect();
    if counted.len() > approvers.len() {
        return Err(crate::Error::new(format!(
            "returned malformed output: it reported {} counted approvals, more than the {} the transition has",
            counted.len(),
            approvers.len()
        )));
    }
    if let Some(stranger) = counted.iter().find(|name| !approvers.contains(&name.as_str())) {
        return Err(crate::Error::new(format!(
            "returned malformed output: it reported {stranger:?} as a counted approval, but no approval of this transition is by {stranger:?}"
        )));
    }
    let mut kept: Vec<String> = Vec::new();
    for approver in approvers {
        if counted.iter().any(|name| name == approver) && !kept.iter().any(|name| name == approver) {
            kept.push(approver.to_string());
        }
    }
    Ok(kept)
}

/// Only validate `config` (JSON text), as the host's `validate-config` call does.
pub fn validate<P: Policy>(config: &str) -> Result<()> {
    parse_config::<P>(config).map(drop)
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod double {
    use super::HOST;
    use crate::host::{HttpResponse, LogLevel};
    use crate::{Error, Result};

    pub fn log(level: LogLevel, message: &str) {
        HOST.with(|host| host.borrow_mut().logs.push((level, message.to_string())));
    }

    pub fn read_file(path: &str) -> Result<Option<String>> {
        Ok(HOST.with(|host| host.borrow().files.get(path).cloned()))
    }

    pub fn transition_artifacts() -> Vec<crate::NamedArtifact> {
        HOST.with(|host| host.borrow().artifacts.clone())
    }

    pub fn transition_artifact_kinds() -> Vec<(String, crate::host::ArtifactKind)> {
        HOST.with(|host| host.borrow().artifact_kinds.clone())
    }

    pub fn policy_environments() -> crate::host::PolicyEnvironments {
        HOST.with(|host| host.borrow().environments.clone())
    }

    pub fn http_get(url: &str, headers: &[(&str, &str)]) -> Result<HttpResponse> {
        HOST.with(|host| {
            let mut host = host.borrow_mut();
            let headers = headers.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
            host.requests.push((url.to_string(), headers));
            match host.http.get(url) {
                Some(Ok(response)) => Ok(response.clone()),
                Some(Err(message)) => Err(Error::new(message.clone())),
                None => Err(Error::new(format!("no canned response for {url} (use testing::set_http_response)"))),
            }
        })
    }
}

/// Start building a test transition: a promotion of `app` 1.0.0 from `staging` to `prod`,
/// requested by `alice` at 2026-01-05T10:00:00Z (a Monday), with no approvals.
pub fn transition() -> TransitionBuilder {
    TransitionBuilder {
        transition: Transition {
            id: "test-decision".to_string(),
            kind: TransitionKind::Promote,
            application: "app".to_string(),
            from_env: Some("staging".to_string()),
            to_env: "prod".to_string(),
            artifact: Artifact {
                image: "registry.example.com/app".to_string(),
                version: "1.0.0".to_string(),
                digest: None,
            },
            previous_artifact: None,
            requested_by: "alice".to_string(),
            requested_at: 1_767_607_200,
            approvals: Vec::new(),
            changes: Vec::new(),
            labels: Vec::new(),
            from_env_since: None,
        },
    }
}

/// Builder for [`Transition`]s in tests; see [`transition`].
#[derive(Debug, Clone)]
pub struct TransitionBuilder {
    transition: Transition,
}

impl TransitionBuilder {
    /// Make it a rollback.
    pub fn rollback(mut self) -> Self {
        self.transition.kind = TransitionKind::Rollback;
        self
    }

    /// Set the application.
    pub fn application(mut self, name: &str) -> Self {
        self.transition.application = name.to_string();
        self
    }

    /// Set the source environment (`None` for the first environment).
    pub fn from_env(mut self, env: Option<&str>) -> Self {
        self.transition.from_env = env.map(str::to_string);
        self
    }

    /// Set the target environment.
    pub fn to_env(mut self, env: &str) -> Self {
        self.transition.to_env = env.to_string();
        self
    }

    /// Set the artifact image.
    pub fn image(mut self, image: &str) -> Self {
        self.transition.artifact.image = image.to_string();
        self
    }

    /// Set the artifact version.
    pub fn version(mut self, version: &str) -> Self {
        self.transition.artifact.version = version.to_string();
        self
    }

    /// Set the artifact digest.
    pub fn digest(mut self, digest: &str) -> Self {
        self.transition.artifact.digest = Some(digest.to_string());
        self
    }

    /// Set the artifact currently in the target environment.
    pub fn previous(mut self, image: &str, version: &str) -> Self {
        self.transition.previous_artifact =
            Some(Artifact { image: image.to_string(), version: version.to_string(), digest: None });
        self
    }

    /// Set the requester.
    pub fn requested_by(mut self, who: &str) -> Self {
        self.transition.requested_by = who.to_string();
        self
    }

    /// Set the request time from RFC 3339 text, e.g. `2026-03-29T01:45:00+01:00`.
    ///
    /// # Panics
    /// On text that is not RFC 3339 (a test bug).
    pub fn at(mut self, rfc3339: &str) -> Self {
        let timestamp: jiff::Timestamp = rfc3339.parse().unwrap_or_else(|error| panic!("bad time {rfc3339:?}: {error}"));
        self.transition.requested_at = timestamp.as_second();
        self
    }

    /// Set the request time in Unix seconds.
    pub fn requested_at(mut self, unix_seconds: i64) -> Self {
        self.transition.requested_at = unix_seconds;
        self
    }

    /// Add an approval of `version` by `approver`, given at the request time.
    pub fn approval(mut self, approver: &str, version: &str) -> Self {
        let at = self.transition.requested_at;
        self.transition.approvals.push(Approval { approver: approver.to_string(), at, version: version.to_string(), group: None });
        self
    }

    /// Add a fully specified approval.
    pub fn approval_full(mut self, approval: Approval) -> Self {
        self.transition.approvals.push(approval);
        self
    }

    /// Add a file change.
    pub fn change(mut self, path: &str, before: Option<&str>, after: Option<&str>) -> Self {
        self.transition.changes.push(FileChange {
            path: path.to_string(),
            before: before.map(str::to_string),
            after: after.map(str::to_string),
        });
        self
    }

    /// Add a label.
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.transition.labels.push(Label { key: key.to_string(), value: value.to_string() });
        self
    }

    /// Set when the artifact landed in the source environment (Unix seconds).
    pub fn from_env_since(mut self, unix_seconds: i64) -> Self {
        self.transition.from_env_since = Some(unix_seconds);
        self
    }

    /// The transition.
    pub fn build(self) -> Transition {
        self.transition
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PluginInfo, Verdict};

    /// Counts whoever the configuration names, as given.
    struct Counts;

    impl Policy for Counts {
        type Config = Vec<String>;
        fn info() -> PluginInfo {
            PluginInfo::new("counts", "0.1.0", "test")
        }
        fn evaluate(config: &Vec<String>, _t: &Transition) -> Result<Verdict> {
            Ok(Verdict::allow().with_counted_approvals(config.clone()))
        }
    }

    #[test]
    fn counted_approvals_are_checked_and_ordered_as_the_host_keeps_them() {
        let t = transition().approval("bob", "1.0.0").approval("alice", "1.0.0").approval("carol", "1.0.0").build();
        let verdict = evaluate::<Counts>(r#"["carol", "bob"]"#, &t).unwrap();
        assert_eq!(verdict.counted_approvals, Some(vec!["bob".to_string(), "carol".to_string()]));
        assert_eq!(evaluate::<Counts>("[]", &t).unwrap().counted_approvals, Some(Vec::new()));
        let error = evaluate::<Counts>(r#"["bob", "mallory"]"#, &t).unwrap_err().to_string();
        assert_eq!(error, "returned malformed output: it reported \"mallory\" as a counted approval, but no approval of this transition is by \"mallory\"");
        let error = evaluate::<Counts>(r#"["bob", "bob", "bob", "bob"]"#, &t).unwrap_err().to_string();
        assert!(error.contains("4 counted approvals, more than the 3 the transition has"), "{error}");
    }
}
