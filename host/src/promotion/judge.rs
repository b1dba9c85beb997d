//! Judge: run every policy that applies to a transition and decide (the gate itself).

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::config::{Config, Mode, PolicyConfig};
use crate::credentials::{self, CredentialedFetcher};
use crate::decision::{Decision, PolicyOutcome};
use crate::runtime::{
    Evaluation, FileSource, HostAccess, HttpFetcher, Limits, NetworkFetcher, NotAccepted, PendingDecision, Plugin, PluginInfo, PluginRef, PluginSource, Runtime,
};
use super::observe::{Observation, Observed, RecordingFetcher, RecordingFiles, ReplayFetcher};
use super::planned::Plan;
use crate::repo::GitRepo;
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
    /// For an `oci://` plugin, the digest of the artifact manifest it came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<String>,
    /// The plugin's own version.
    pub version: String,
    /// enforce or monitor.
    pub mode: Mode,
    /// The configuration it ran with.
    pub config: serde_json::Value,
    /// The exact configuration text the plugin was given (what `verify` replays).
    #[serde(skip)]
    pub config_json: String,
    /// The time and memory bounds it ran with.
    #[serde(skip)]
    pub limits: Limits,
    /// The origins its http-get could reach.
    pub http_origins: Vec<String>,
    /// Credentials the host attached, by origin: where each secret was read from, never the secret.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub credentials: BTreeMap<String, String>,
    /// Its outcome, logs and output.
    pub evaluation: Evaluation,
    /// What it saw through the host (kept in the decision record for offline replay).
    #[serde(skip)]
    pub observations: Vec<Observation>,
}

impl PolicyRun {
    /// `allow`, `deny`, `error`, or `monitor-deny` / `monitor-error` for monitor-mode policies.
    pub fn verdict_label(&self) -> String {
        super::record::mode_label(self.mode, self.evaluation.outcome.label())
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

/// A policy run under way on a runtime worker or already decided on this thread (`Running`),
/// or over before its plugin could run (`Over`).
enum Started {
    /// The run so far, the decision in flight, whether the configuration names the policy,
    /// and what it sees through the host.
    Running(PolicyRun, PendingDecision, bool, Observed),
    Over(PolicyRun),
}

impl Started {
    /// Wait for the decision and fill in what the plugin said about itself.
    fn finish(self) -> PolicyRun {
        let (mut run, pending, named, observed) = match self {
            Started::Over(run) => return run,
            Started::Running(run, pending, named, observed) => (run, pending, named, observed),
        };
        let decided = pending.wait();
        if let Some(info) = &decided.info {
            name_from_info(&mut run, info, named);
        }
        run.evaluation = decided.evaluation;
        run.observations = observed.take();
        run
    }
}

/// Plugin output: escaped before it reaches a commit message, record or report.
fn name_from_info(run: &mut PolicyRun, info: &PluginInfo, named: bool) {
    if !named {
        run.name = crate::input::escape_untrusted(&info.name, 100);
    }
    run.version = crate::input::escape_untrusted(&info.version, 100);
}

/// Resolve what the policy's configuration grants and start its decision (info(),
/// validate-config and evaluate in one instance, read-file only if info() asks for it).
fn start_policy(
    policy: &PolicyConfig,
    plugin: &Arc<Plugin>,
    manifest_digest: Option<String>,
    transition: &Transition,
    files: Arc<dyn FileSource>,
    replay: Option<&[Observation]>,
) -> Started {
    let limits = policy.limits();
    let config_json = policy.config_json();
    let http_origins: Vec<String> = policy.http_origins.iter().map(|origin| origin.trim_end_matches('/').to_string()).collect();
    let mut run = PolicyRun {
        name: policy.name.clone().unwrap_or_else(|| policy.plugin.clone()),
        plugin: policy.plugin.clone(),
        sha256: plugin.sha256().to_string(),
        manifest_digest,
        version: "unknown".to_string(),
        mode: policy.mode,
        config: serde_json::from_str(&config_json).unwrap_or_default(),
        config_json: config_json.clone(),
        limits,
        http_origins: http_origins.clone(),
        credentials: policy.credentials.iter().map(|(origin, credential)| (origin.clone(), credentials::describe(credential))).collect(),
        evaluation: Evaluation::failed(String::new()),
        observations: Vec::new(),
    };
    // A replay answers from the record and needs no credential; live, a secret that cannot
    // be read fails the policy closed before the plugin runs (its name and version still
    // come from its info(), asked on its own for this report).
    let network: Arc<dyn HttpFetcher> = match replay {
        Some(answers) => Arc::new(ReplayFetcher::new(answers)),
        None => match credentials::resolve(&policy.credentials) {
            Ok(credentials) if credentials.is_empty() => Arc::new(NetworkFetcher),
            Ok(credentials) => Arc::new(CredentialedFetcher::new(Arc::new(NetworkFetcher), credentials)),
            Err(cause) => {
                run.evaluation = match plugin.info(limits) {
                    Ok(info) => {
                        name_from_info(&mut run, &info, policy.name.is_some());
                        Evaluation::failed(cause)
                    }
                    Err(info_cause) => Evaluation::failed(format!("its info() failed: {info_cause}")),
                };
                return Started::Over(run);
            }
        },
    };
    let observed = Observed::default();
    let http = Arc::new(RecordingFetcher { inner: network, credentialed: policy.credentials.keys().map(|origin| origin.trim_end_matches('/').to_string()).collect(), observed: observed.clone() });
    let files = Arc::new(RecordingFiles { inner: files, observed: observed.clone() });
    let access = HostAccess { files: Some(files), http_origins, http, environments: policy.environment_names.clone() };
    let pending = plugin.start_decision(&config_json, transition, limits, access);
    Started::Running(run, pending, policy.name.is_some(), observed)
}

/// Parse a plugin reference as configured; relative paths are relative to `base_dir`.
pub fn resolve_plugin(text: &str, base_dir: &Path) -> Result<PluginRef, String> {
    let mut reference = PluginRef::parse(text)?;
    if let PluginSource::File(path) = &reference.source
        && path.is_relative() {
            reference.source = PluginSource::File(base_dir.join(path));
        }
    Ok(reference)
}

/// The policies of `config` that apply to transitions into `env`, each with its plugin
/// loaded. `Err` is a plugin that cannot be loaded: a configuration error (exit 2).
/// A policy that names `signers` must come with a valid signature by one of them (the
/// allowed signers are read from `files`, the proposed tree).
fn prepare<'c>(runtime: &Runtime, config: &'c Config, base_dir: &Path, env: &str, files: &dyn FileSource) -> Result<Vec<Prepared<'c>>, String> {
    let mut prepared = Vec::new();
    for (index, policy) in config.policies.iter().enumerate().filter(|(_, policy)| policy.applies_to(env)) {
        let describe = |error: String| format!("policies[{index}] ({}): {error}", policy.plugin);
        let reference = resolve_plugin(&policy.plugin, base_dir).map_err(describe)?;
        let plugin = runtime.load(&reference).map_err(|error| describe(error.message))?;
        if !policy.signers.is_empty() {
            crate::trust::plugin_signature::check_policy(config, files, runtime.registry(), &reference, &plugin, &policy.signers).map_err(describe)?;
        }
        // A refused configuration is bad input, never a policy that runs without its rules.
        if let Err(NotAccepted::Refused(message)) = plugin.validate_config(&policy.config_json(), &policy.environment_names, policy.limits()) {
            return Err(config.text.locator().plugin_refusal(index, &policy.plugin, &message).to_string());
        }
        let manifest_digest = match &reference.source {
            PluginSource::Oci(oci) => runtime.registry().resolution(oci).map(|resolution| resolution.manifest_digest),
            _ => None,
        };
        prepared.push(Prepared { policy, plugin, manifest_digest });
    }
    Ok(prepared)
}

/// A policy with its plugin loaded.
pub struct Prepared<'c> {
    /// The policy as configured.
    pub policy: &'c PolicyConfig,
    /// Its plugin.
    pub plugin: Arc<Plugin>,
    /// For an `oci://` plugin, the digest of the artifact manifest it came from.
    pub manifest_digest: Option<String>,
}

/// Run prepared policies on `transition`, reported in configuration order. Those granted
/// `http-get` origins start first, each on a runtime worker, so that their waits on the
/// network overlap the others, which run on this thread one after another (see
/// `runtime::plugin`).
/// With `replay`, each policy's `http-get` is answered from the recorded calls at its index.
fn run_prepared(prepared: &[Prepared<'_>], transition: &Transition, files: Arc<dyn FileSource>, replay: Option<&[Vec<Observation>]>) -> Vec<PolicyRun> {
    let mut order: Vec<usize> = (0..prepared.len()).collect();
    order.sort_by_key(|&index| !crate::runtime::may_wait_outside(&prepared[index].policy.http_origins));
    let mut started: Vec<(usize, Started)> = order
        .into_iter()
        .map(|index| {
            let prepared = &prepared[index];
            let answers = replay.map(|replay| replay.get(index).map_or(&[][..], Vec::as_slice));
            (index, start_policy(prepared.policy, &prepared.plugin, prepared.manifest_digest.clone(), transition, files.clone(), answers))
        })
        .collect();
    started.sort_by_key(|(index, _)| *index);
    started.into_iter().map(|(_, started)| started.finish()).collect()
}

/// The gate's answer for these runs: a failed enforce-mode policy wins over a deny.
pub fn outcome(policies: &[PolicyRun]) -> GateOutcome {
    if policies.iter().any(|run| run.mode == Mode::Enforce && matches!(run.evaluation.outcome, PolicyOutcome::Failed { .. })) {
        GateOutcome::Failed
    } else if policies.iter().any(PolicyRun::blocks) {
        GateOutcome::Denied
    } else {
        GateOutcome::Allowed
    }
}

/// The gate: runs every policy that applies to a transition, loading each plugin once per
/// call. The policies of an environment are loaded on its first transition and reused for
/// the next ones, unless a policy names `signers` (its signature is then checked against each
/// proposed tree on its own).
pub struct Judge<'c> {
    runtime: &'c Runtime,
    config: &'c Config,
    base_dir: &'c Path,
    /// Each environment's policies with their plugins, loaded once per call: shared by the
    /// judges of one call's threads ([`Judge::share`]), so that a plugin pulled by tag is
    /// pulled once and every request of the call is judged by the same code.
    loaded: Arc<Mutex<HashMap<String, Arc<Vec<Prepared<'c>>>>>>,
}

impl<'c> Judge<'c> {
    /// A judge of transitions under `config` (relative plugin paths resolve against `base_dir`).
    pub fn new(runtime: &'c Runtime, config: &'c Config, base_dir: &'c Path) -> Judge<'c> {
        Judge { runtime, config, base_dir, loaded: Arc::default() }
    }

    /// Another judge for another thread of the same call, sharing the policies loaded so far
    /// and from now on.
    pub fn share(&self) -> Judge<'c> {
        Judge { runtime: self.runtime, config: self.config, base_dir: self.base_dir, loaded: Arc::clone(&self.loaded) }
    }

    /// Run the policies on a plan, over the tree it proposes. `Err` is a policy that could not
    /// be loaded (bad input).
    pub fn judge(&mut self, repo: &GitRepo, plan: &Plan) -> Result<GateResult, String> {
        let overlay = plan.edits().map(|(path, after)| (path.to_string(), Some(after.to_string()))).collect();
        let files = repo.proposed_tree(plan.base.tree, overlay).map_err(|error| error.0)?;
        self.run(&plan.transition, Arc::new(files))
    }

    /// Run the policies that apply to `transition.to_env` on it (see [`run_prepared`] for
    /// where each runs), with `files` as the tree `read-file` sees.
    pub fn run(&mut self, transition: &Transition, files: Arc<dyn FileSource>) -> Result<GateResult, String> {
        self.run_with(transition, files, None)
    }

    /// [`Judge::run`] answering each policy's `http-get` from `answers` (what the record kept,
    /// by policy index) instead of the network: `verify`'s offline replay.
    pub fn replay(&mut self, transition: &Transition, files: Arc<dyn FileSource>, answers: &[Vec<Observation>]) -> Result<GateResult, String> {
        self.run_with(transition, files, Some(answers))
    }

    fn run_with(&mut self, transition: &Transition, files: Arc<dyn FileSource>, replay: Option<&[Vec<Observation>]>) -> Result<GateResult, String> {
        let env = &transition.to_env;
        let reusable = self.config.policies.iter().all(|policy| policy.signers.is_empty());
        if !reusable {
            let prepared = prepare(self.runtime, self.config, self.base_dir, env, &*files)?;
            let policies = run_prepared(&prepared, transition, files, replay);
            return Ok(GateResult { outcome: outcome(&policies), policies });
        }
        let prepared = {
            // Held while loading: another thread wanting the same policies waits for them.
            let mut loaded = self.loaded.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            match loaded.get(env) {
                Some(prepared) => Arc::clone(prepared),
                None => {
                    let prepared = Arc::new(prepare(self.runtime, self.config, self.base_dir, env, &*files)?);
                    loaded.insert(env.clone(), Arc::clone(&prepared));
                    prepared
                }
            }
        };
        let policies = run_prepared(&prepared, transition, files, replay);
        Ok(GateResult { outcome: outcome(&policies), policies })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::sync::Arc;

    use super::Judge;
    use crate::config::Config;
    use crate::runtime::Runtime;
    use crate::transition::Transition;

    const CONFIG: &str = "environments: [dev, prod]\napplications:\n  shop-api:\n    image: registry.example.com/shop/api\n    environments:\n      dev: { file: envs/dev/values.yaml, helm: { tag_path: image.tag } }\n      prod: { file: envs/prod/values.yaml, helm: { tag_path: image.tag } }\npolicies:\n  - plugin: builtin:erp-readiness\n    environments: [prod]\n    config: { environments: { prod: { readiness_file: erp/readiness.yaml } } }\n";

    /// The judges of one call's threads load each environment's policies once between them, so
    /// a plugin pulled by tag is pulled once and every request is judged by the same code.
    #[test]
    fn the_judges_of_one_call_share_the_policies_either_loaded() {
        let runtime = Runtime::new(None).unwrap();
        let config = Config::parse("tollgate.yaml", CONFIG).unwrap();
        let files: Arc<BTreeMap<String, String>> = Arc::new([("erp/readiness.yaml".to_string(), "status: ready\n".to_string())].into());
        let transition = Transition { id: "tg-share".into(), application: "shop-api".into(), to_env: "prod".into(), requested_at: 1_767_691_800, ..Transition::default() };
        let mut first = Judge::new(&runtime, &config, Path::new("."));
        let mut second = first.share();
        let other_call = Judge::new(&runtime, &config, Path::new("."));
        let decided = first.run(&transition, files.clone()).unwrap();
        assert_eq!(decided.policies.len(), 1, "{decided:?}");
        fn loaded<'c>(judge: &Judge<'c>) -> Option<Arc<Vec<super::Prepared<'c>>>> {
            judge.loaded.lock().unwrap().get("prod").cloned()
        }
        let by_first = loaded(&second).expect("the second judge sees what the first loaded");
        second.run(&transition, files).unwrap();
        assert!(Arc::ptr_eq(&by_first, &loaded(&second).unwrap()), "the second judge loaded nothing again");
        assert!(loaded(&other_call).is_none(), "another call loads its own");
    }
}
