//! Checking a proposal (a pull request's commits, or a commit another tool made) as the
//! promotions it contains: every change a commit makes to a configured location's version
//! becomes a plan request, planned on the protected branch and judged with its
//! configuration (never the proposal's), the requester as given (else the commit's author,
//! labelled unverified), approvals from `refs/tollgate/approvals`, at the time of the check. A
//! proposal passes when every transition is allowed and its edit is exactly what the
//! promotion would write. Locations on environment branches of their own (GitOps Promoter)
//! are judged for a proposal onto that branch.

use std::collections::BTreeMap;

use git2::{Commit, Oid};

use super::pipeline::Decided;
use super::planned::Plan;
use super::request::PlanRequest;
use super::workspace::Workspace;
use crate::exit::Failure;
use crate::input::Actor;
use crate::manifest::{Deployed, read_deployed};
use crate::transition::set_version;

/// How many commits one check reads at most.
const MAX_COMMITS: usize = 1000;
/// The label a transition carries when its requester is only the commit's author.
pub const UNVERIFIED_REQUESTER_LABEL: &str = "requester-unverified";

/// One transition a proposed commit contains, and the verdict on it.
pub struct ProposedTransition {
    /// The commit that makes the change.
    pub commit: String,
    /// Application.
    pub app: String,
    /// Environment.
    pub env: String,
    /// The version the commit puts there.
    pub version: String,
    /// Whether the requester was named by the caller (else it is the commit's author).
    pub requester_verified: bool,
    /// The decision, or why the change cannot be planned as a promotion.
    pub decided: Result<Decided, Failure>,
    /// Whether the commit's edit of the file is byte for byte what the promotion writes.
    pub matches_promotion: bool,
}

impl ProposedTransition {
    /// Allowed, and the edit is the promotion's.
    pub fn passes(&self) -> bool {
        self.matches_promotion && self.decided.as_ref().is_ok_and(|decided| decided.gate.outcome == super::judge::GateOutcome::Allowed)
    }
}

impl Workspace {
    /// Judge `proposal` (`BASE..HEAD`, or one commit) as the promotions it contains; see the
    /// module's documentation. `requester` is who asks (`login` or `Name <email>`). `branch`
    /// is the environment branch the proposal is to land on (GitOps Promoter's
    /// `environment/prod`), for locations that live on a branch of their own: one commit is
    /// then judged as the change from that branch's tip to it (what merging it brings), a
    /// range commit by commit; without it, the locations on the configured branch are judged.
    pub fn check_proposal(&self, proposal: &str, requester: Option<&str>, branch: Option<&str>) -> Result<Vec<ProposedTransition>, Failure> {
        let requester = requester.map(|text| Actor::parse("actor", text).map_err(|error| Failure::bad_input(error.to_string()))).transpose()?;
        let onto = self.proposal_branch(branch)?;
        let git = self.repo.git();
        let bad = |message: String| Failure::bad_input(message);
        let (base, commits) = match proposal.split_once("..") {
            Some((base, _)) => (Some(base), super::range::commits_in_range(&self.repo, proposal, MAX_COMMITS).map_err(bad)?),
            None => (None, vec![super::range::resolve_commit(&self.repo, proposal).map_err(bad)?]),
        };
        let git_error = |error: git2::Error| Failure::bad_input(error.message().to_string());
        // One commit for an environment branch: what it brings to the branch's tip.
        let onto_tip = match (base, branch) {
            (None, Some(_)) => Some(self.repo.tip(onto).map_err(|error| Failure::bad_input(error.0))?.tree),
            _ => None,
        };
        let mut checked = Vec::new();
        for oid in commits {
            let commit = git.find_commit(oid).map_err(git_error)?;
            let before_tree = match onto_tip {
                Some(tree) => Some(tree),
                None => commit.parent(0).ok().map(|parent| parent.tree_id()),
            };
            if branch.is_none() {
                self.refuse_environment_branch_files(&commit, before_tree)?;
            }
            for change in self.version_changes(&commit, before_tree, onto)? {
                let (actor, verified) = match &requester {
                    Some(actor) => (actor.clone(), true),
                    None => (author(&commit), false),
                };
                let mut labels = BTreeMap::new();
                if !verified {
                    labels.insert(UNVERIFIED_REQUESTER_LABEL.to_string(), "true".to_string());
                }
                let mut request = change.request(self.config.graph().is_root(&change.env));
                request.actor = actor;
                request.labels = labels;
                // As for a request made here: a digest the registry does not hold for the
                // version is refused (where the application discovers its versions).
                let decided = self
                    .take_from_registry(&mut request, false)
                    .and_then(|()| crate::promotion::approvals::request_approvals(self, &request, &[]))
                    .and_then(|approvals| {
                        request.approvals = approvals;
                        self.decide(&request)
                    });
                let matches_promotion = decided.as_ref().is_ok_and(|decided| change.is_written_by(&decided.plan));
                let version = change.version();
                checked.push(ProposedTransition { commit: oid.to_string(), app: change.app, env: change.env, version, requester_verified: verified, decided, matches_promotion });
            }
        }
        Ok(checked)
    }

    /// The branch a proposal is judged for: `branch` when given (a branch some location lives
    /// on), else the configured branch.
    fn proposal_branch<'a>(&'a self, branch: Option<&'a str>) -> Result<&'a str, Failure> {
        let Some(branch) = branch else { return Ok(&self.config.branch) };
        crate::input::branch("branch", branch).map_err(|error| Failure::bad_input(error.to_string()))?;
        let mut known: Vec<&str> = self.config.applications.values().flat_map(|application| application.environments.values()).map(|location| location.branch.as_str()).collect();
        known.sort_unstable();
        known.dedup();
        if !known.contains(&branch) {
            return Err(Failure::bad_input(format!(
                "branch: no configured location lives on {branch}; tollgate.yaml's locations live on {}",
                known.join(", ")
            )));
        }
        Ok(branch)
    }

    /// Without a branch named, a commit that changes the file of a location living on an
    /// environment branch of its own would pass as unrelated: refuse it, naming the branches.
    fn refuse_environment_branch_files(&self, commit: &Commit<'_>, before_tree: Option<Oid>) -> Result<(), Failure> {
        let mut changed = Vec::new();
        for (app, application) in &self.config.applications {
            let locations = self.config.environments.iter().flat_map(|env| application.locations_in(env).into_iter().map(move |(_, _, location)| (env, location)));
            for (env, location) in locations.filter(|(_, location)| self.config.on_environment_branch(location)) {
                let read = |tree| self.repo.read_file(tree, &location.file).map_err(|error| Failure::bad_input(error.0));
                let before = match before_tree {
                    Some(tree) => read(tree)?,
                    None => None,
                };
                if read(commit.tree_id())? != before {
                    changed.push(format!("{} ({app} in {env} on {})", location.file, location.branch));
                }
            }
        }
        if changed.is_empty() {
            return Ok(());
        }
        Err(Failure::bad_input(format!(
            "{} changes files configured on environment branches: {}; name the branch it is to land on (check-proposal --branch BRANCH, \"branch\" in POST /v1/check)",
            &commit.id().to_string()[..12],
            changed.join(", ")
        )))
    }

    /// Every (application, environment) on `branch` in which `commit` changes an artifact's
    /// version or digest from `before_tree` (its first parent's, or an environment branch's
    /// tip). Every artifact of a multi-artifact application counts, not only its primary.
    fn version_changes(&self, commit: &Commit<'_>, before_tree: Option<Oid>, branch: &str) -> Result<Vec<VersionChange>, Failure> {
        let short = &commit.id().to_string()[..12];
        let mut changes = Vec::new();
        for (app, application) in &self.config.applications {
            for env in &self.config.environments {
                let mut change = VersionChange { app: app.clone(), env: env.clone(), artifacts: BTreeMap::new(), files: BTreeMap::new(), edited: Vec::new() };
                let mut moved = false;
                for (artifact, image, location) in application.locations_in(env).into_iter().filter(|(_, _, location)| location.branch == branch) {
                    let read = |tree| self.repo.read_file(tree, &location.file).map_err(|error| Failure::bad_input(error.0));
                    let Some(text) = read(commit.tree_id())? else { continue };
                    let before_text = match before_tree {
                        Some(tree) => read(tree)?,
                        None => None,
                    };
                    if before_text.as_deref() != Some(text.as_str()) {
                        change.edited.push(location.file.clone());
                    }
                    // Every file counts (a second file of an artifact, a CronJob beside its Job,
                    // changed alone is a change); the request takes an artifact's version from
                    // its first file, and the planner's edit makes every file agree with it.
                    let layout = location.layout(image);
                    let after = read_deployed(&location.file, &text, &layout).map_err(|error| Failure::bad_input(format!("{short}: {}", error.0)))?;
                    let before = before_text.and_then(|text| read_deployed(&location.file, &text, &layout).ok());
                    moved |= !before.as_ref().is_some_and(|before| before.version == after.version && before.digest == after.digest);
                    change.artifacts.entry(artifact.map(str::to_string)).or_insert((before, after));
                    change.files.insert(location.file.clone(), text);
                }
                if !change.edited.is_empty() && moved {
                    changes.push(change);
                }
            }
        }
        Ok(changes)
    }
}

/// What a proposed commit does to one application in one environment.
struct VersionChange {
    app: String,
    env: String,
    /// Per artifact (`None` for the single-image form): what ran before, what the commit puts.
    artifacts: BTreeMap<Option<String>, (Option<Deployed>, Deployed)>,
    /// Every configured file of the application there, as the commit has it.
    files: BTreeMap<String, String>,
    /// The files among them the commit changes.
    edited: Vec<String>,
}

impl VersionChange {
    /// The request a promotion to what the commit puts there would be (into a root
    /// environment with its versions and digests; further down, the versions its upstream
    /// must run, checked by the planner).
    fn request(&self, root: bool) -> PlanRequest {
        let mut request = PlanRequest { app: self.app.clone(), to_env: self.env.clone(), actor_given: true, at: jiff::Timestamp::now().as_second(), ..PlanRequest::default() };
        let cleared = self.artifacts.values().any(|(before, after)| after.digest.is_none() && before.as_ref().is_some_and(|before| before.digest.is_some()));
        let digests = self.artifacts.values().any(|(_, after)| after.digest.is_some());
        request.no_digest = root && cleared && !digests;
        for (name, (_, after)) in &self.artifacts {
            let digest = after.digest.clone().filter(|_| root);
            match name {
                None => (request.version, request.digest) = (Some(after.version.clone()), digest),
                Some(name) => {
                    request.artifact_versions.insert(name.clone(), after.version.clone());
                    if let Some(digest) = digest {
                        request.artifact_digests.insert(name.clone(), digest);
                    }
                }
            }
        }
        request
    }

    /// The version it proposes: a multi-artifact application's set version (as its
    /// transition shows it).
    fn version(&self) -> String {
        match self.artifacts.first_key_value() {
            Some((None, (_, after))) => after.version.clone(),
            _ => set_version(self.artifacts.iter().map(|(name, (_, after))| (name.as_deref().unwrap_or_default(), after.version.as_str()))),
        }
    }

    /// Whether the commit's edit is byte for byte what `plan` writes: every file the plan
    /// edits reads as the plan writes it, and the commit edits no file the plan leaves alone.
    fn is_written_by(&self, plan: &Plan) -> bool {
        plan.edits().all(|(path, after)| self.files.get(path).map(String::as_str) == Some(after))
            && self.edited.iter().all(|path| plan.files().any(|edited| edited == path))
    }
}

/// A commit's author as a requester.
fn author(commit: &Commit<'_>) -> Actor {
    let author = commit.author();
    Actor { name: author.name().unwrap_or("unknown").to_string(), email: author.email().ok().map(str::to_string).filter(|email| !email.is_empty()) }
}
