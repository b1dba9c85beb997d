//! The one promotion pipeline: request → plan → judge → record → commit → publish.
//!
//! Every command that decides runs through here, and a single promotion is a batch of one:
//! `plan`, `promote` and `rollback` of one target, several targets and release trains
//! ([`Workspace::decide_batch`], [`Workspace::promote_batch`]), and `plan-batch`
//! ([`Workspace::decide_each`]). Every request of a call is planned with a lazily read history
//! from one tip of the protected branch (one reader per thread when a large call is shared out
//! among the cores) and judged with the policies loaded once per call ([`Judge`]); and,
//! when the call commits, every allowed transition lands in one commit with one decision
//! record each (all or nothing).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use git2::{Oid, Signature};

use super::commit::{commit_plans, signature};
use super::histories::Histories;
use super::journal::{CommitError, PromotionLock};
use super::judge::{GateOutcome, GateResult, Judge};
use super::plan::plan_with;
use super::planned::Plan;
use super::publish::Pushed;
use super::record::{DecisionRecord, RecordedPolicy, SCHEMA_VERSION};
use super::request::{PlanRequest, Skipped};
use super::source::{Standing, standing};
use super::workspace::{MAX_ATTEMPTS, Workspace, commit_failure};
use crate::config::Config;
use crate::exit::{ExitCode, Failure};
use crate::repo::GitRepo;

/// A planned transition and the gate's verdict on it.
#[derive(Debug, Clone)]
pub struct Decided {
    /// The plan.
    pub plan: Plan,
    /// The policies' verdicts.
    pub gate: GateResult,
}

impl Decided {
    /// A plan with nothing to do: no policy runs.
    fn no_op(plan: Plan) -> Decided {
        Decided { plan, gate: GateResult { outcome: GateOutcome::Allowed, policies: Vec::new() } }
    }
}

/// The transitions of one call, judged together, and what became of them.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Every transition that would change something, with its verdicts, in request order.
    pub decided: Vec<Decided>,
    /// Transitions with nothing to do (the target already runs the artifact).
    pub unchanged: Vec<Decided>,
    /// Pairs with nothing to do, and why: not configured there, already there (each of
    /// [`Batch::unchanged`]), or (a release train) the target already runs a newer version.
    pub skipped: Vec<Skipped>,
    /// The one commit holding every transition, when all were allowed and committed.
    pub commit: Option<String>,
    /// Where it was published, with `--push`.
    pub pushed: Option<Pushed>,
}

impl Batch {
    fn empty() -> Batch {
        Batch { decided: Vec::new(), unchanged: Vec::new(), skipped: Vec::new(), commit: None, pushed: None }
    }

    /// Failed when any enforce-mode policy failed to run, else denied when any denied,
    /// else allowed (also when there is nothing to do).
    pub fn outcome(&self) -> GateOutcome {
        let outcomes = self.decided.iter().map(|decided| decided.gate.outcome);
        if outcomes.clone().any(|outcome| outcome == GateOutcome::Failed) {
            GateOutcome::Failed
        } else if outcomes.clone().any(|outcome| outcome == GateOutcome::Denied) {
            GateOutcome::Denied
        } else {
            GateOutcome::Allowed
        }
    }

    /// The exit code of the whole: 3 when a policy failed to run, 1 when denied, else 0.
    pub fn exit_code(&self) -> ExitCode {
        match self.outcome() {
            GateOutcome::Allowed => ExitCode::Success,
            GateOutcome::Denied => ExitCode::Denied,
            GateOutcome::Failed => ExitCode::PolicyFailed,
        }
    }

    /// The one decision of a batch of one request (changing something or not).
    pub fn single(&self) -> Option<&Decided> {
        self.decided.first().or(self.unchanged.first())
    }
}

/// Each request of `plan-batch`, decided on its own.
pub struct Each {
    /// One result per request, in request order: a request that cannot be planned is an `Err`
    /// in its place.
    pub results: Vec<Result<Decided, Failure>>,
    /// Commits of history read for the whole call (by each thread's own reader).
    pub history_commits_read: usize,
    /// How many threads decided requests.
    pub threads: usize,
}

/// Fewest requests that are worth another thread: a thread opens its own repository handle
/// and reads history afresh, which costs about as much as this many plans.
const REQUESTS_PER_THREAD: usize = 32;

/// Most threads one call is shared among, whatever the cores: each holds a policy instance of
/// the shared pool at a time (`serve` runs up to `--max-in-flight` calls at once).
const MAX_THREADS_PER_CALL: usize = 8;

/// How many threads decide a call of `requests` requests: one per core (at most
/// [`MAX_THREADS_PER_CALL`] and `max_threads`), as far as there are [`REQUESTS_PER_THREAD`]
/// requests for each.
fn threads_for(requests: usize, max_threads: Option<usize>) -> usize {
    if requests < 2 * REQUESTS_PER_THREAD {
        return 1;
    }
    // Asked once: the answer reads the cgroup's CPU quota from /proc.
    static CORES: OnceLock<usize> = OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from));
    cores.min(MAX_THREADS_PER_CALL).min(max_threads.unwrap_or(usize::MAX)).min(requests / REQUESTS_PER_THREAD).max(1)
}

/// One request's decision (or why it has none), with the request's index in its call.
type Numbered = (usize, Result<Decided, Failure>);

/// request → plan → judge on `repo` (the workspace's handle or another on it) for the requests
/// `indices` names, with one history from the protected branch's `tip` and `judge`: each result
/// with its index, and the commits of history read.
fn decide_in_turn(
    repo: &GitRepo,
    config: &Config,
    tip: Oid,
    mut judge: Judge<'_>,
    requests: &[PlanRequest],
    indices: impl Iterator<Item = usize>,
) -> (Vec<Numbered>, usize) {
    let mut history = Histories::new(repo, config, tip);
    let results = indices
        .map(|index| {
            let decided = plan_with(repo, config, &requests[index], &mut history).map_err(Failure::bad_input).and_then(|plan| {
                if plan.no_op {
                    return Ok(Decided::no_op(plan));
                }
                let gate = judge.judge(repo, &plan).map_err(Failure::bad_input)?;
                Ok(Decided { plan, gate })
            });
            (index, decided)
        })
        .collect();
    (results, history.commits_read())
}

/// The decision record of `plan` decided by `gate`: what the record step writes.
pub fn decision_record(plan: &Plan, gate: &GateResult) -> DecisionRecord {
    let policies = gate
        .policies
        .iter()
        .map(|run| RecordedPolicy {
            name: run.name.clone(),
            plugin: run.plugin.clone(),
            sha256: run.sha256.clone(),
            manifest_digest: run.manifest_digest.clone(),
            version: run.version.clone(),
            mode: run.mode,
            config: run.config.clone(),
            config_json: run.config_json.clone(),
            timeout_ms: run.limits.timeout.as_millis() as u64,
            memory_bytes: run.limits.memory_bytes,
            http_origins: run.http_origins.clone(),
            credentials: run.credentials.clone(),
            outcome: serde_json::to_value(&run.evaluation.outcome).unwrap_or_default(),
            observations: run.observations.clone(),
            counted_approvals: run.evaluation.counted_approvals.clone(),
        })
        .collect();
    DecisionRecord {
        schema_version: SCHEMA_VERSION,
        tollgate_version: env!("CARGO_PKG_VERSION").to_string(),
        base_commit: plan.base.commit.to_string(),
        transition: plan.transition.clone(),
        time_overridden: plan.time_overridden,
        rollback_of: plan.rollback_of.clone(),
        policies,
    }
}

impl Workspace {
    /// request → plan → judge, for each request, with history read from one tip of the
    /// protected branch. The error of a request that cannot be planned is in its place. A large
    /// call is shared out among the machine's cores ([`threads_for`]): each thread takes the
    /// next undecided request, with its own repository handle and history reader (an
    /// environment branch's tip is read by each when it first needs it) and a judge sharing the
    /// policies loaded; results keep request order.
    fn plan_and_judge(&self, requests: &[PlanRequest], max_threads: Option<usize>) -> Result<Each, Failure> {
        let tip = self.tip()?.commit;
        let next = AtomicUsize::new(0);
        let claim = || std::iter::from_fn(|| Some(next.fetch_add(1, Ordering::Relaxed)).filter(|&index| index < requests.len()));
        // Every thread shares the configuration, the tip and (through its judge) the policies
        // loaded; a repository handle cannot be shared.
        let config: &Config = &self.config;
        let judge = Judge::new(&self.runtime, config, &self.base_dir);
        let decide_on = |repo: &GitRepo, judge: Judge<'_>| decide_in_turn(repo, config, tip, judge, requests, claim());
        let parts = std::thread::scope(|scope| {
            // A helper that cannot start, or cannot open its own handle, takes no request: the
            // others take them all.
            let helpers: Vec<_> = (1..threads_for(requests.len(), max_threads))
                .filter_map(|_| {
                    let (path, judge) = (self.repo.path(), judge.share());
                    let helper = move || GitRepo::open(path).map(|repo| decide_on(&repo, judge)).unwrap_or_default();
                    std::thread::Builder::new().name("tollgate-plan".into()).spawn_scoped(scope, helper).ok()
                })
                .collect();
            let mut parts = vec![decide_on(&self.repo, judge)];
            parts.extend(helpers.into_iter().map(|helper| helper.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))));
            parts
        });
        let commits_read = parts.iter().map(|(_, read)| read).sum();
        let threads = parts.iter().filter(|(decided, _)| !decided.is_empty()).count().max(1);
        let mut results: Vec<Option<Result<Decided, Failure>>> = (0..requests.len()).map(|_| None).collect();
        for (index, result) in parts.into_iter().flat_map(|(decided, _)| decided) {
            results[index] = Some(result);
        }
        let results = results.into_iter().map(|result| result.expect("every request was claimed once")).collect();
        Ok(Each { results, history_commits_read: commits_read, threads })
    }

    /// Plan a transition and run the policies on it: a batch of one.
    pub fn decide(&self, request: &PlanRequest) -> Result<Decided, Failure> {
        let mut each = self.plan_and_judge(std::slice::from_ref(request), None)?;
        self.history_commits_read.store(each.history_commits_read, Ordering::Relaxed);
        each.results.pop().expect("one result per request")
    }

    /// `plan-batch`: decide every request on its own, on at most `max_threads` threads (else
    /// one per core); one that cannot be planned does not stop the others.
    pub fn decide_each(&self, requests: &[PlanRequest], max_threads: Option<usize>) -> Result<Each, Failure> {
        self.plan_and_judge(requests, max_threads)
    }

    /// Plan every request on the branch tip and run the policies on each: the first request
    /// that cannot be planned ends the call (named by application and environment when the
    /// call has several). A release train (`train`) leaves out an application whose target
    /// already runs a newer version than its upstream (both semantic versions).
    pub fn decide_batch(&self, requests: &[PlanRequest], train: bool) -> Result<Batch, Failure> {
        let each = self.plan_and_judge(requests, None)?;
        self.history_commits_read.store(each.history_commits_read, Ordering::Relaxed);
        let mut batch = Batch::empty();
        for (request, result) in requests.iter().zip(each.results) {
            let decided = result.map_err(|failure| match requests.len() {
                1 => failure,
                _ => Failure { message: format!("{} to {}: {}", request.app, request.to_env, failure.message), ..failure },
            })?;
            let t = &decided.plan.transition;
            if decided.plan.no_op {
                let reason = format!("{} already runs {} in {}; nothing to do", t.application, t.artifact.version, t.to_env);
                batch.skipped.push(Skipped { app: t.application.clone(), env: t.to_env.clone(), reason });
                batch.unchanged.push(decided);
                continue;
            }
            if let (true, Some(from), Some(previous)) = (train, &t.from_env, &t.previous_artifact)
                && standing((&previous.version, previous.digest.as_deref()), (&t.artifact.version, t.artifact.digest.as_deref())) == Standing::Ahead
            {
                let reason = format!("{} runs {} in {}, newer than {} in {from}; nothing to do", t.application, previous.version, t.to_env, t.artifact.version);
                batch.skipped.push(Skipped { app: t.application.clone(), env: t.to_env.clone(), reason });
                continue;
            }
            batch.decided.push(decided);
        }
        // Planned on one tip of each branch, or planned again.
        for (index, decided) in batch.decided.iter().enumerate() {
            let plan = &decided.plan;
            if batch.decided[..index].iter().any(|other| other.plan.branch == plan.branch && other.plan.base.commit != plan.base.commit) {
                return Err(Failure::conflict(format!("{} moved while the transitions were being planned; try again", plan.branch)));
            }
        }
        // One commit cannot hold two independent edits of one file.
        for (index, decided) in batch.decided.iter().enumerate() {
            for file in decided.plan.files() {
                let same_file = |other: &&Decided| other.plan.branch == decided.plan.branch && other.plan.files().any(|path| path == file);
                if let Some(other) = batch.decided[..index].iter().find(same_file) {
                    let (a, b) = (&other.plan.transition, &decided.plan.transition);
                    return Err(Failure::bad_input(format!(
                        "{file} holds both {} in {} and {} in {}; promote them in separate calls",
                        a.application, a.to_env, b.application, b.to_env
                    )));
                }
            }
        }
        Ok(batch)
    }

    /// Decide every request and, when all are allowed, commit them as one commit with one
    /// decision record each on the branch that holds their files (the configured branch, or
    /// an environment branch of its own; on `new_branch` instead when given), re-planning on
    /// the new tip if the branch moved (at most [`MAX_ATTEMPTS`] times). With `remote`, start
    /// from the remote's tip and push the commit; see [`Workspace::publish`].
    pub fn promote_batch(&self, requests: &[PlanRequest], train: bool, new_branch: Option<&str>, remote: Option<&str>) -> Result<Batch, Failure> {
        let Some((author, branch)) = self.check_promotion(requests, new_branch)? else { return Ok(Batch::empty()) };
        let Some(remote) = remote else {
            let mut lock = PromotionLock::acquire(&self.repo).map_err(commit_failure)?;
            return self.decide_and_commit(&mut lock, requests, train, (&branch, new_branch), &author, false);
        };
        let (mut batch, pushed) = self.publish(&branch, new_branch, remote, |lock| {
            let batch = self.decide_and_commit(lock, requests, train, (&branch, new_branch), &author, true)?;
            let made = batch.commit.clone().zip(batch.decided.first().map(|decided| decided.plan.base.commit.to_string()));
            Ok((batch, made))
        })?;
        batch.pushed = pushed;
        Ok(batch)
    }

    /// A batch of one: [`Workspace::promote_batch`] of one request.
    pub fn promote(&self, request: &PlanRequest, new_branch: Option<&str>, remote: Option<&str>) -> Result<Batch, Failure> {
        self.promote_batch(std::slice::from_ref(request), false, new_branch, remote)
    }

    /// What every promotion checks before it takes the promotion lock; returns the commit's
    /// author and the branch it commits to (`None` for an empty call).
    fn check_promotion(&self, requests: &[PlanRequest], new_branch: Option<&str>) -> Result<Option<(Signature<'static>, String)>, Failure> {
        let Some(first) = requests.first() else { return Ok(None) };
        self.check_requested_at(first)?;
        if let Some(name) = new_branch {
            crate::input::branch("--branch", name).map_err(|error| Failure::bad_input(error.to_string()))?;
        }
        // Before the actor reaches a signature; planning checks the rest again.
        for request in requests {
            request.validate().map_err(|error| Failure::bad_input(error.to_string()))?;
        }
        let branch = self.commit_branch(requests)?;
        let author = signature(&self.repo, first.actor_given.then_some(&first.actor)).map_err(commit_failure)?;
        for request in requests {
            crate::trust::commit_signature::require_signing(&self.repo, &self.config, &request.to_env, request.actor.identity())
                .map_err(Failure::bad_input)?;
        }
        Ok(Some((author, branch)))
    }

    /// The one branch a call's promotion commit lands on: where every target's file lives (the
    /// configured branch, or an environment branch of its own). One commit is on one branch, so
    /// a call whose targets live on several branches is refused before anything is planned.
    fn commit_branch(&self, requests: &[PlanRequest]) -> Result<String, Failure> {
        let located = |request: &PlanRequest| self.config.branch_of(&request.app, &request.to_env);
        let branch = located(&requests[0]);
        if let Some(other) = requests.iter().find(|request| located(request) != branch) {
            return Err(Failure::bad_input(format!(
                "{} in {} lives on branch {branch} and {} in {} on branch {}: one promotion commit lands on one branch; \
                 promote the targets of each branch in a call of its own",
                requests[0].app,
                requests[0].to_env,
                other.app,
                other.to_env,
                located(other)
            )));
        }
        Ok(branch.to_string())
    }

    /// The promotion loop, holding the promotion lock: decide, record, commit; `publish` as
    /// for [`super::commit::commit_plans`].
    fn decide_and_commit(
        &self,
        lock: &mut PromotionLock,
        requests: &[PlanRequest],
        train: bool,
        (branch, new_branch): (&str, Option<&str>),
        author: &Signature<'static>,
        publish: bool,
    ) -> Result<Batch, Failure> {
        let mut last_conflict = String::new();
        for _ in 0..MAX_ATTEMPTS {
            let mut batch = match self.decide_batch(requests, train) {
                // The branch moved between two plans: plan them all again.
                Err(failure) if failure.code == ExitCode::Conflict => {
                    last_conflict = failure.message;
                    continue;
                }
                other => other?,
            };
            if batch.decided.is_empty() || batch.outcome() != GateOutcome::Allowed {
                return Ok(batch);
            }
            let records: Vec<DecisionRecord> = batch.decided.iter().map(|decided| decision_record(&decided.plan, &decided.gate)).collect();
            let plans: Vec<_> = batch.decided.iter().zip(&records).map(|(decided, record)| (&decided.plan, record)).collect();
            match commit_plans(&self.repo, lock, publish, branch, new_branch, &plans, author) {
                Ok(commit) => {
                    batch.commit = Some(commit.to_string());
                    return Ok(batch);
                }
                Err(CommitError::Conflict(message)) => last_conflict = message,
                Err(CommitError::State(message)) => return Err(Failure::bad_input(message)),
            }
        }
        Err(Failure::conflict(format!(
            "{last_conflict}; gave up after {MAX_ATTEMPTS} attempts (re-planned and re-ran the policies each time). Try again."
        )))
    }
}
