//! Planning many promotions in one process (a release train): the workspace, its loaded
//! plugins and one lazily read history serve every request, so a thousand plans cost a
//! thousand gate runs and not a thousand process starts, configuration reads and history walks.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::engine::{Decided, Workspace};
use super::gate::{GateOutcome, GateResult, Prepared, outcome, prepare, run_prepared};
use super::plan::{PlanRequest, plan_with};
use crate::exit::Failure;

/// What a batch of plans read and decided.
pub struct Batch {
    /// One result per request, in request order.
    pub results: Vec<Result<Decided, Failure>>,
    /// Commits of history read for the whole batch.
    pub history_commits_read: usize,
}

/// Plan and gate every request on the tip of the configured branch, without committing.
/// A request that cannot be planned is an `Err` in its place; the others still run. Rollbacks
/// are decided one by one (they read the whole history anyway).
pub fn plan_many(workspace: &Workspace, requests: &[PlanRequest]) -> Result<Batch, Failure> {
    let mut history = workspace.history_reader()?;
    // The loaded policies depend only on the target environment, unless a policy's signers are
    // read from the proposed tree (then each plan checks them on its own tree).
    let per_env = workspace.config.policies.iter().all(|policy| policy.signers.is_empty());
    let mut prepared_for: HashMap<String, Vec<Prepared<'_>>> = HashMap::new();
    let mut results = Vec::with_capacity(requests.len());
    for request in requests {
        if request.rollback.is_some() {
            results.push(workspace.decide(request));
            continue;
        }
        let result = (|| {
            let plan = plan_with(&workspace.repo, &workspace.config, request, &mut history).map_err(Failure::bad_input)?;
            if plan.no_op {
                return Ok(Decided { plan, gate: GateResult { outcome: GateOutcome::Allowed, policies: Vec::new() } });
            }
            let overlay = BTreeMap::from([(plan.file.clone(), Some(plan.after.clone()))]);
            let files = Arc::new(workspace.repo.proposed_tree(plan.base.tree, overlay).map_err(|error| Failure::bad_input(error.0))?);
            let mut fresh = Vec::new();
            if !per_env || !prepared_for.contains_key(&request.to_env) {
                let loaded = prepare(&workspace.runtime, &workspace.config, &workspace.base_dir, &request.to_env, &*files)
                    .map_err(Failure::bad_input)?;
                if per_env {
                    prepared_for.insert(request.to_env.clone(), loaded);
                } else {
                    fresh = loaded;
                }
            }
            let prepared = if per_env { &prepared_for[&request.to_env] } else { &fresh };
            let policies = run_prepared(prepared, &plan.transition, files);
            Ok(Decided { plan, gate: GateResult { outcome: outcome(&policies), policies } })
        })();
        results.push(result);
    }
    Ok(Batch { results, history_commits_read: history.commits_read() })
}
