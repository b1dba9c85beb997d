//! The one definition of "verified", used by `status`, `history`, `verify`, `rollback` and the
//! branch guard.
//!
//! A commit that adds decision records is only a claim: anyone who can push can write a
//! self-consistent record. What it is worth depends on the rules in force when it landed on
//! the branch — the `trust:` section of its parent's `tollgate.yaml` and the allowed signers
//! that names, both read from the parent commit (a record's base is the requester's claim, so
//! it cannot choose older, weaker rules; rules added later never judge earlier promotions):
//!
//! - **verified**: every record checks out ([`super::claim::check_commit`]), the commit is
//!   signed by a promoter's key (a principal of `trust.promoters`, or, when that list is empty,
//!   any principal the allowed signers accept for namespace `git`), and every signature the
//!   rules require is there and verifies (signed commits by the requester, signed approvals);
//! - **unsigned**: the records check out but no promoter signed the commit, and the rules do not
//!   require signed promotion commits for its environments: a claim anyone with push access
//!   could have written. It counts (status, rollback, the guard) but is never called verified;
//! - **untrusted**: the records check out, but a signature the rules require is missing or bad;
//! - **unrecorded**: not a consistent promotion at all (a hand edit, a forged trailer block, a
//!   transplanted record).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use git2::{Commit, Oid, Repository};
use serde::Serialize;

use super::record::DecisionRecord;
use crate::config::{CONFIG_FILE, Config};
use crate::trust::commit_signature::{CommitSignature, same_principal, verify_commit};
use crate::trust::{AllowedSigners, TrustConfig};

/// What a promotion commit is worth (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Trust {
    /// Checks out, signed by a promoter, every required signature verified.
    Verified {
        /// The promoter whose key signed the commit.
        signer: String,
        /// `SHA256:…` of that key.
        key: String,
    },
    /// Checks out, but no promoter signed the commit: a claim, allowed by the rules in force.
    Unsigned {
        /// What the commit's signature is: `not signed`, or whose it is and why that is not a
        /// promoter's.
        signature: String,
    },
    /// Checks out, but a signature the rules in force require is missing or bad.
    Untrusted {
        /// Why.
        reasons: Vec<String>,
    },
    /// Not a consistent tollgate promotion.
    Unrecorded {
        /// Why.
        reasons: Vec<String>,
    },
}

impl Trust {
    /// Whether the promotion counts for `status`, `rollback` and the branch guard: verified, or
    /// unsigned where the rules in force allow that.
    pub fn counts(&self) -> bool {
        matches!(self, Trust::Verified { .. } | Trust::Unsigned { .. })
    }

    /// Whether it is verified in the one sense of the word.
    pub fn is_verified(&self) -> bool {
        matches!(self, Trust::Verified { .. })
    }

    /// `verified`, `unsigned`, `untrusted` or `unrecorded`.
    pub fn word(&self) -> &'static str {
        match self {
            Trust::Verified { .. } => "verified",
            Trust::Unsigned { .. } => "unsigned",
            Trust::Untrusted { .. } => "untrusted",
            Trust::Unrecorded { .. } => "unrecorded",
        }
    }

    /// Why it does not count (or, for an unsigned record, why it is not verified); empty for a
    /// verified one.
    pub fn reasons(&self) -> Vec<String> {
        match self {
            Trust::Verified { .. } => Vec::new(),
            Trust::Unsigned { signature } => vec![format!("unsigned record ({signature}): a claim anyone with push access could have written")],
            Trust::Untrusted { reasons } | Trust::Unrecorded { reasons } => reasons.clone(),
        }
    }
}

/// The trust rules in force at one commit: its `tollgate.yaml`'s `trust:` section and the
/// allowed signers that names, both read from that commit.
#[derive(Debug, Default)]
pub struct Rules {
    /// The `trust:` section (empty when there is none).
    pub trust: TrustConfig,
    /// The allowed signers, when the section names a file.
    pub signers: Option<AllowedSigners>,
    /// The configured manifest locations, by path (a file may hold several artifacts).
    pub locations: BTreeMap<String, Vec<Located>>,
    /// The files whose changes are configuration changes: `tollgate.yaml`, `tollgate.lock` and
    /// the allowed-signers file.
    pub configuration_files: Vec<String>,
    /// Why the rules could not be read (nothing then counts as verified).
    pub problem: Option<String>,
    /// Locations of the configuration that live on another branch than the one read, by
    /// application and environment (a promotion's source may be there): one per file, each
    /// artifact's of a multi-artifact application.
    pub elsewhere: BTreeMap<(String, String), Vec<Elsewhere>>,
}

/// A configured location on another branch than the one read.
#[derive(Debug, Clone)]
pub struct Elsewhere {
    /// The artifact it holds, for a multi-artifact application.
    pub artifact: Option<String>,
    /// Its branch.
    pub branch: String,
    /// Its file.
    pub file: String,
    /// Where the version is in the file.
    pub layout: crate::manifest::Layout,
}

impl Rules {
    /// The rules `config` (read from a commit's `tree`) sets for the commits of `branch` (the
    /// configuration's own `branch` when `None`): the locations on that branch are guarded; on
    /// an environment branch of its own, copies of the configuration files configure nothing.
    fn of(repo: &Repository, tree: &git2::Tree<'_>, config: &Config, branch: Option<&str>) -> Rules {
        let trust = config.trust.clone().unwrap_or_default();
        let mut rules = Rules { trust, ..Rules::default() };
        let branch = branch.unwrap_or(&config.branch);
        let configures = branch == config.branch;
        if configures {
            rules.configuration_files = vec![CONFIG_FILE.to_string(), crate::registry::LOCK_FILE.to_string()];
        }
        if let Some(path) = rules.trust.allowed_signers.clone() {
            match read_text(repo, tree, &path) {
                Ok(Some(text)) => match AllowedSigners::parse(&path, &text) {
                    Ok(signers) => rules.signers = Some(signers),
                    Err(error) => rules.problem = Some(error),
                },
                Ok(None) => rules.problem = Some(format!("{path} (trust.allowed_signers) does not exist there")),
                Err(error) => rules.problem = Some(error),
            }
            if configures {
                rules.configuration_files.push(path);
            }
        }
        for (app, application) in &config.applications {
            let mut add = |env: &str, location: &crate::config::Location, image: &str, artifact: Option<&str>| {
                // A file on another branch is not this branch's to guard.
                if location.branch != branch {
                    rules.elsewhere.entry((app.clone(), env.to_string())).or_default().push(Elsewhere {
                        artifact: artifact.map(str::to_string),
                        branch: location.branch.clone(),
                        file: location.file.clone(),
                        layout: location.layout(image),
                    });
                    return;
                }
                let located = Located { app: app.clone(), env: env.to_string(), artifact: artifact.map(str::to_string), layout: location.layout(image) };
                rules.locations.entry(location.file.clone()).or_default().push(located);
            };
            for env in &config.environments {
                for (artifact, image, location) in application.locations_in(env) {
                    add(env, location, image, artifact);
                }
            }
        }
        rules
    }
}

/// A configured manifest location: whose version it holds, and where in the file.
#[derive(Debug, Clone)]
pub struct Located {
    /// Application.
    pub app: String,
    /// Environment.
    pub env: String,
    /// The artifact, for a multi-artifact application.
    pub artifact: Option<String>,
    /// Where the version is in the file.
    pub layout: crate::manifest::Layout,
}

/// How many parsed configurations and sets of rules a process keeps across readers (a server
/// reads the same few for every request).
const REMEMBERED_RULES: usize = 16;

/// Configurations read at commits, by their blob and repository (those that parse).
static CONFIGS: crate::repo::memo::Memo<(Oid, PathBuf), Arc<Config>> = crate::repo::memo::Memo::new(REMEMBERED_RULES);

/// Rules, by the blobs they are read from, the branch they are for and the repository: a
/// function of those objects alone, as [`RulesAt`]'s own map within one reader.
type RulesKey = (Option<Oid>, Option<Oid>, Option<String>, PathBuf);
static RULES: crate::repo::memo::Memo<RulesKey, Arc<Rules>> = crate::repo::memo::Memo::new(REMEMBERED_RULES);

/// The rules in force at each commit asked for, read once per distinct `tollgate.yaml` and
/// allowed-signers content (and once per process, see [`RULES`]).
#[derive(Default)]
pub struct RulesAt {
    by_content: HashMap<(Option<Oid>, Option<Oid>), Arc<Rules>>,
    config_of: HashMap<Oid, Result<Arc<Config>, String>>,
    /// For the commits of an environment branch of its own: that branch, and the protected
    /// branch's commit whose configuration judges every one of them.
    environment_branch: Option<(String, Oid)>,
}

impl RulesAt {
    /// The rules for the commits of `branch`, an environment branch of its own: that branch
    /// holds no configuration anyone vouches for, so every commit on it is judged by the
    /// configuration of the protected branch at `protected_tip` (its tip when read: a time or
    /// ancestry the requester could choose never picks older rules).
    pub fn on_environment_branch(branch: &str, protected_tip: Oid) -> RulesAt {
        RulesAt { environment_branch: Some((branch.to_string(), protected_tip)), ..RulesAt::default() }
    }

    /// The rules in force at `commit` (from its own tree; on an environment branch, from the
    /// protected branch's, see [`RulesAt::on_environment_branch`]).
    pub fn at(&mut self, repo: &Repository, commit: &Commit<'_>) -> Arc<Rules> {
        let (branch, commit) = match &self.environment_branch {
            Some((branch, protected_tip)) => match repo.find_commit(*protected_tip) {
                Ok(protected) => (Some(branch.clone()), protected),
                Err(_) => return Arc::new(Rules { problem: Some("the protected branch's tip cannot be read".into()), ..Rules::default() }),
            },
            None => (None, commit.clone()),
        };
        let Ok(tree) = commit.tree() else { return Arc::new(Rules { problem: Some("its tree cannot be read".into()), ..Rules::default() }) };
        let config_blob = tree.get_path(Path::new(CONFIG_FILE)).ok().map(|entry| entry.id());
        let Some(config_blob) = config_blob else {
            return Arc::new(Rules { problem: Some(format!("it has no {CONFIG_FILE}")), ..Rules::default() });
        };
        let config = self
            .config_of
            .entry(config_blob)
            .or_insert_with(|| {
                // Only configurations that parse are remembered across readers: a problem's
                // message names the commit it was read at.
                let key = (config_blob, repo.path().to_path_buf());
                if let Some(config) = CONFIGS.get(&key) {
                    return Ok(config);
                }
                match read_text(repo, &tree, CONFIG_FILE) {
                    Ok(Some(text)) => Config::parse(&format!("{CONFIG_FILE} (commit {})", &commit.id().to_string()[..12]), &text)
                        .map(|config| {
                            let config = Arc::new(config);
                            CONFIGS.put(key, Arc::clone(&config));
                            config
                        })
                        .map_err(|error| error.0),
                    Ok(None) => Err(format!("it has no {CONFIG_FILE}")),
                    Err(error) => Err(error),
                }
            })
            .clone();
        let config = match config {
            Ok(config) => config,
            Err(problem) => return Arc::new(Rules { problem: Some(problem), ..Rules::default() }),
        };
        let signers_blob = config.trust.as_ref().and_then(|trust| trust.allowed_signers.as_ref()).and_then(|path| tree.get_path(Path::new(path)).ok()).map(|entry| entry.id());
        self.by_content
            .entry((Some(config_blob), signers_blob))
            .or_insert_with(|| {
                let key = (Some(config_blob), signers_blob, branch.clone(), repo.path().to_path_buf());
                RULES.get(&key).unwrap_or_else(|| {
                    let rules = Arc::new(Rules::of(repo, &tree, &config, branch.as_deref()));
                    // A problem may be a read that failed this time: only rules read whole are kept.
                    if rules.problem.is_none() {
                        RULES.put(key, Arc::clone(&rules));
                    }
                    rules
                })
            })
            .clone()
    }

    /// The rules in force when `commit` landed on the branch: its first parent's (on an
    /// environment branch of its own, the protected branch's, see [`RulesAt::at`]).
    pub fn before(&mut self, repo: &Repository, commit: &Commit<'_>) -> Arc<Rules> {
        if self.environment_branch.is_some() {
            return self.at(repo, commit);
        }
        match commit.parent(0) {
            Ok(parent) => self.at(repo, &parent),
            Err(_) => Arc::new(Rules { problem: Some("its parent commit is not in this repository".into()), ..Rules::default() }),
        }
    }
}

/// What the commit that adds `records` (all checking out) is worth under `rules`, the rules
/// in force when it landed.
pub fn assess(repo: &Repository, commit: Oid, records: &[DecisionRecord], rules: &Rules) -> Trust {
    let claims = records
        .iter()
        .map(|record| {
            let t = &record.transition;
            let approvals = approval_problems(rules, record, rules.trust.environment(&t.to_env).signed_approvals);
            Claimed { env: &t.to_env, requested_by: &t.requested_by, problems: approvals }
        })
        .collect::<Vec<_>>();
    assess_claims(repo, commit, &claims, rules)
}

/// One thing a commit claims for an environment, as far as signatures are concerned: who asked
/// for it, and what else is wrong with it under the rules in force.
pub struct Claimed<'a> {
    /// The environment it changes or reports on.
    pub env: &'a str,
    /// Who asked for it (the requester must sign where the environment requires signed commits).
    pub requested_by: &'a str,
    /// Problems found besides the commit's signature (e.g. approvals that no longer verify).
    pub problems: Vec<String>,
}

/// What a commit holding `claims` (each checking out on its own) is worth under `rules`: the
/// one rule for promotion commits and health records alike.
pub fn assess_claims(repo: &Repository, commit: Oid, claims: &[Claimed<'_>], rules: &Rules) -> Trust {
    if let Some(problem) = &rules.problem {
        return Trust::Untrusted { reasons: vec![format!("the rules in force when it landed cannot be read: {problem}")] };
    }
    let signature = match &rules.signers {
        Some(signers) => verify_commit(repo, signers, commit),
        None => CommitSignature::Missing,
    };
    let promoter = match (&signature, &rules.signers) {
        (CommitSignature::Good { principal, key }, Some(_)) => promoter_of(&rules.trust, principal).map(|name| (name, key.clone())),
        _ => None,
    };
    let mut reasons = Vec::new();
    let mut commit_required = false;
    for claim in claims {
        let (env, requested_by) = (claim.env, claim.requested_by);
        if rules.trust.environment(env).signed_commits {
            commit_required = true;
            match &signature {
                CommitSignature::Good { principal, .. } if !same_principal(principal, requested_by) => reasons.push(format!(
                    "{env} requires signed commits, and the requester must be the signer: signed by {principal}, requested by {requested_by}"
                )),
                CommitSignature::Good { .. } => {}
                other => reasons.push(format!("{env} requires signed commits; {}", other.describe())),
            }
        }
        reasons.extend(claim.problems.iter().cloned());
    }
    if !reasons.is_empty() {
        return Trust::Untrusted { reasons };
    }
    match promoter {
        Some((signer, key)) => Trust::Verified { signer, key },
        None if commit_required => Trust::Untrusted { reasons: vec![format!("it is signed, but not by a promoter ({})", signature.describe())] },
        None => Trust::Unsigned {
            signature: match signature {
                CommitSignature::Good { principal, .. } => format!("signed by {principal}, who is not a promoter (trust.promoters)"),
                other => other.describe(),
            },
        },
    }
}

/// The promoter `principal` stands for: `trust.promoters` when it lists any (one of the key's
/// principals must be in it), else any principal the allowed signers accept for commits.
fn promoter_of(trust: &TrustConfig, principal: &str) -> Option<String> {
    if trust.promoters.is_empty() {
        return Some(principal.to_string());
    }
    trust.promoters.iter().find(|promoter| same_principal(promoter, principal)).cloned()
}

/// What is wrong with the approvals `record` lists under `rules`: signed ones must still
/// verify against the allowed signers in force, and where signed approvals are required,
/// every approval must be a signed one.
fn approval_problems(rules: &Rules, record: &DecisionRecord, required: bool) -> Vec<String> {
    let t = &record.transition;
    let mut problems = Vec::new();
    if required {
        for approval in t.approvals.iter().filter(|approval| approval.signed.is_none()) {
            problems.push(format!("approval by {} is not signed, but {} requires signed approvals", approval.approver, t.to_env));
        }
    }
    if t.approvals.iter().any(|approval| approval.signed.is_some()) {
        match &rules.signers {
            Some(signers) => {
                let target = crate::trust::approvals::Target { application: t.application.clone(), environment: t.to_env.clone(), artifact: t.artifact.clone() };
                problems.extend(crate::trust::approvals::recheck_recorded(signers, &target, t.requested_at, &t.approvals));
            }
            None => problems.push("it records signed approvals, but the rules in force name no allowed signers to check them".to_string()),
        }
    }
    problems
}

/// A file's text in `tree`, bounded; `Ok(None)` when absent.
pub(super) fn read_text(repo: &Repository, tree: &git2::Tree<'_>, path: &str) -> Result<Option<String>, String> {
    const MAX_BYTES: usize = 4 << 20;
    let Ok(entry) = tree.get_path(Path::new(path)) else { return Ok(None) };
    let size = crate::repo::blob_size(repo, entry.id()).map_err(|error| error.message().to_string())?;
    if size > MAX_BYTES {
        return Err(format!("{path} is {size} bytes, more than {MAX_BYTES}"));
    }
    let blob = repo.find_blob(entry.id()).map_err(|error| error.message().to_string())?;
    String::from_utf8(blob.content().to_vec()).map(Some).map_err(|_| format!("{path} is not UTF-8 text"))
}
