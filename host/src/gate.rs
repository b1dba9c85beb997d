//! Run every policy that applies to a transition and decide: the gate itself.

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use crate::config::{Config, Mode, PolicyConfig};
use crate::decision::{Decision, PolicyOutcome};
use crate::runtime::{Evaluation, FileSource, HostAccess, NetworkFetcher, PluginRef, PluginSource, Runtime};
use crate::transition::Transition;

/// What one policy said.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyRun {
    /// Name in reports.
    pub name: String,
    /// The plugin reference as configured.
    pub plugin: String,
    /// sha256 of the component that ran.
    pub sha256: String,
    /// The plugin's own version.
    pub version: String,
    /// enforce or monitor.
    pub mode: Mode,
    /// The configuration it ran with.
    pub config: serde_json::Value,
    /// Its outcome, logs and output.
    pub evaluation: Evaluation,
}

impl PolicyRun {
    /// `allow`, `deny`, `error`, or `monitor-deny` / `monitor-error` for monitor-mode policies.
    pub fn verdict_label(&self) -> String {
        let label = self.evaluation.outcome.label();
        match (self.mode, label) {
            (Mode::Monitor, "deny" | "error") => format!("monitor-{label}"),
            _ => label.to_string(),
        }
    }

    /// Whether this run blocks the transition.
    pub fn blocks(&self) -> bool {
        self.mode == Mode::Enforce && !matches!(&self.evaluation.outcome, PolicyOutcome::Verdict(v) if v.decision == Decision::Allow)
    }
}

/// The gate's overall answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GateOutcome {
    /// Every enforce-mode policy allowed.
    Allowed,
    /// An enforce-mode policy denied.
    Denied,
    /// An enforce-mode policy failed to run: fail closed.
    Failed,
}

/// Every policy's run and the outcome.
#[derive(Debug, Clone, Serialize)]
pub struct GateResult {
    /// Allowed, denied or failed.
    pub outcome: GateOutcome,
    /// One per applicable policy, in configuration order.
    pub policies: Vec<PolicyRun>,
}

/// Resolve a policy's plugin reference: relative paths are relative to `base_dir`.
pub fn resolve_reference(policy: &PolicyConfig, base_dir: &Path) -> Result<PluginRef, String> {
    resolve_plugin(&policy.plugin, base_dir)
}

/// Parse a plugin reference as configured; relative paths are relative to `base_dir`.
pub fn resolve_plugin(text: &str, base_dir: &Path) -> Result<PluginRef, String> {
    let mut reference = PluginRef::parse(text)?;
    if let PluginSource::File(path) = &reference.source {
        if path.is_relative() {
            reference.source = PluginSource::File(base_dir.join(path));
        }
    }
    Ok(reference)
}

/// Run the policies of `config` that apply to `transition.to_env`, in parallel.
/// `Err` is a policy that could not be loaded (bad input).
pub fn run_policies(
    runtime: &Runtime,
    config: &Config,
    base_dir: &Path,
    transition: &Transition,
    files: Arc<dyn FileSource>,
) -> Result<GateResult, String> {
    let applicable: Vec<(usize, &PolicyConfig)> =
        config.policies.iter().enumerate().filter(|(_, policy)| policy.applies_to(&transition.to_env)).collect();
    let mut prepared = Vec::with_capacity(applicable.len());
    for (index, policy) in &applicable {
        let describe = |error: String| format!("policies[{index}] ({}): {error}", policy.plugin);
        let reference = resolve_reference(policy, base_dir).map_err(describe)?;
        let plugin = runtime.load(&reference).map_err(|error| describe(error.message))?;
        let info = plugin.info(policy.limits()).map_err(|cause| describe(format!("its info() failed: {cause}")))?;
        prepared.push((policy, plugin, info));
    }
    let policies = std::thread::scope(|scope| {
        let handles: Vec<_> = prepared
            .iter()
            .map(|(policy, plugin, info)| {
                let access = HostAccess {
                    files: Some(files.clone()),
                    http_origins: policy.http_origins.iter().map(|origin| origin.trim_end_matches('/').to_string()).collect(),
                    http: Arc::new(NetworkFetcher),
                };
                scope.spawn(move || {
                    let config_json = policy.config_json();
                    let evaluation = plugin.evaluate(&config_json, transition, policy.limits(), access);
                    PolicyRun {
                        name: policy.name.clone().unwrap_or_else(|| info.name.clone()),
                        plugin: policy.plugin.clone(),
                        sha256: plugin.sha256().to_string(),
                        version: info.version.clone(),
                        mode: policy.mode,
                        config: serde_json::from_str(&config_json).unwrap_or_default(),
                        evaluation,
                    }
                })
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().expect("policy evaluation threads do not panic")).collect::<Vec<_>>()
    });
    let outcome = if policies.iter().any(|run| run.mode == Mode::Enforce && matches!(run.evaluation.outcome, PolicyOutcome::Failed { .. })) {
        GateOutcome::Failed
    } else if policies.iter().any(PolicyRun::blocks) {
        GateOutcome::Denied
    } else {
        GateOutcome::Allowed
    };
    Ok(GateResult { outcome, policies })
}
