//! The promotion log, read back from the branch's commits: every commit that adds decision
//! records (or claims to, with `Tollgate-*` trailers), every commit that changes a configured
//! manifest location without one (a hand edit), and every change of the trust configuration
//! (`tollgate.yaml`, `tollgate.lock`, the allowed signers). What each promotion is worth —
//! verified, unsigned, untrusted or unrecorded — is decided by [`super::verified`], under the
//! rules in force when it landed; only those that count are used by status and rollback.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashSet};

use git2::{Commit, Oid, Repository};
use serde::Serialize;

use super::claim::check_commit_remembered;
use super::health::{HealthEntry, check_health_commit, health_trust};
use super::record::DecisionRecord;
use super::trailers::{Trailers, policy_summary};
use super::verified::{RulesAt, Trust, assess};
use crate::transition::TransitionKind;

/// One promotion or rollback commit (or a commit claiming to be one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PromotionRecord {
    /// Commit id.
    pub commit: String,
    /// Commit time, Unix seconds.
    pub time: i64,
    /// What the promotion is worth (see [`super::verified`]).
    pub trust: Trust,
    /// Whether it is verified: records that check out, in a commit signed by a promoter,
    /// with every signature the rules in force require.
    pub verified: bool,
    /// Whether it counts for status, rollback and the branch guard (verified, or unsigned where
    /// the rules in force allow that).
    pub counts: bool,
    /// Why it is not verified, when it is not.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// Promotion or rollback.
    pub kind: TransitionKind,
    /// Application.
    pub app: String,
    /// Source environment, if any.
    pub from: Option<String>,
    /// Target environment.
    pub to: String,
    /// Version promoted.
    pub version: String,
    /// Digest promoted.
    pub digest: Option<String>,
    /// Requester.
    pub requested_by: String,
    /// The decision time, when the requester chose it (`--at`), Unix seconds.
    pub requested_at: Option<i64>,
    /// Approvers whose approvals a policy counted (see [`DecisionRecord::approved_by`]).
    pub approved_by: Vec<String>,
    /// Approvals given that no policy counted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_counted: Vec<String>,
    /// Labels (a break-glass label shows here).
    pub labels: BTreeMap<String, String>,
    /// `name@version sha256:… verdict` per policy.
    pub policies: Vec<String>,
    /// Decision id.
    pub decision: String,
    /// For rollbacks: the commit being rolled back.
    pub rollback_of: Option<String>,
    /// The version that was in `to` before.
    pub previous_version: Option<String>,
    /// The digest that was in `to` before.
    pub previous_digest: Option<String>,
    /// For a multi-artifact application: every artifact, with what it replaced (`version`
    /// is then the set's version).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<crate::transition::NamedArtifact>,
}

impl PromotionRecord {
    /// The entry of a decision record that checks out, worth `trust`.
    fn from_record(commit: String, time: i64, record: &DecisionRecord, trust: Trust) -> Self {
        let t = &record.transition;
        PromotionRecord {
            commit,
            time,
            verified: trust.is_verified(),
            counts: trust.counts(),
            problems: trust.reasons(),
            trust,
            kind: t.kind,
            app: t.application.clone(),
            from: t.from_env.clone(),
            to: t.to_env.clone(),
            version: t.artifact.version.clone(),
            digest: t.artifact.digest.clone(),
            requested_by: t.requested_by.clone(),
            requested_at: record.time_overridden.then_some(t.requested_at),
            approved_by: record.approved_by(),
            not_counted: record.presented_not_counted(),
            labels: t.labels.clone(),
            policies: record.policies.iter().map(policy_summary).collect(),
            decision: t.id.clone(),
            rollback_of: record.rollback_of.clone(),
            previous_version: t.previous_artifact.as_ref().map(|previous| previous.version.clone()),
            previous_digest: t.previous_artifact.as_ref().and_then(|previous| previous.digest.clone()),
            artifacts: t.artifacts.clone(),
        }
    }

    /// The entry of a commit that claims to be a promotion but does not check out: what its
    /// trailers claim (or its first record), marked unverified with the reasons.
    fn unrecorded(commit: String, time: i64, trailers: Option<&Trailers>, record: Option<&DecisionRecord>, problems: Vec<String>) -> Self {
        let trust = Trust::Unrecorded { reasons: problems };
        match record {
            Some(record) => PromotionRecord::from_record(commit, time, record, trust),
            None => {
                let t = trailers.cloned().unwrap_or_default();
                PromotionRecord {
                    commit,
                    time,
                    verified: false,
                    counts: false,
                    problems: trust.reasons(),
                    trust,
                    kind: if t.rollback_of.is_some() { TransitionKind::Rollback } else { TransitionKind::Promote },
                    app: t.app.unwrap_or_default(),
                    from: t.from,
                    to: t.to.unwrap_or_default(),
                    version: t.version.unwrap_or_default(),
                    digest: t.digest,
                    requested_by: t.requested_by.unwrap_or_default(),
                    requested_at: None,
                    approved_by: t.approved_by,
                    not_counted: Vec::new(),
                    labels: BTreeMap::new(),
                    policies: t.policies,
                    decision: t.decision.unwrap_or_default(),
                    rollback_of: t.rollback_of,
                    previous_version: t.previous_version,
                    previous_digest: t.previous_digest,
                    artifacts: Vec::new(),
                }
            }
        }
    }

    /// The entry of an ordinary commit that changed `app`'s file in `env` (`version` is what
    /// the file holds after it, when it can be read): a hand edit, which never counts.
    fn hand_edit(commit: &Commit<'_>, app: &str, env: &str, file: &str, version: Option<String>) -> Self {
        let author = commit.author();
        let who = author.email().ok().filter(|email| !email.is_empty()).or(author.name().ok()).unwrap_or("unknown").to_string();
        let reason = format!("{file} was changed without a decision record (a hand edit; the author {who} is what the commit claims, unverified)");
        let trust = Trust::Unrecorded { reasons: vec![reason] };
        PromotionRecord {
            commit: commit.id().to_string(),
            time: commit.time().seconds(),
            verified: false,
            counts: false,
            problems: trust.reasons(),
            trust,
            kind: TransitionKind::Promote,
            app: crate::input::escape_untrusted(app, 200),
            from: None,
            to: env.to_string(),
            version: version.unwrap_or_else(|| "?".to_string()),
            digest: None,
            requested_by: crate::input::escape_untrusted(&who, 200),
            requested_at: None,
            approved_by: Vec::new(),
            not_counted: Vec::new(),
            labels: BTreeMap::new(),
            policies: Vec::new(),
            decision: String::new(),
            rollback_of: None,
            previous_version: None,
            previous_digest: None,
            artifacts: Vec::new(),
        }
    }
}

/// A commit that changed the trust configuration: `tollgate.yaml`, `tollgate.lock` or the
/// allowed-signers file (as the rules in force before it name them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigurationChange {
    /// Commit id.
    pub commit: String,
    /// Commit time, Unix seconds.
    pub time: i64,
    /// The author the commit names (unverified).
    pub author: String,
    /// The files it changed.
    pub files: Vec<String>,
    /// Its signature: `good signature by …`, `not signed`, or `bad signature: …`.
    pub signature: String,
}

/// One entry of the log, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Entry {
    /// A promotion, a rollback, or a change of a configured location that claims or fails to be one.
    Promotion(PromotionRecord),
    /// A change of the trust configuration.
    Configuration(ConfigurationChange),
    /// A health record of a promotion (`tollgate watch`), or a commit claiming to be one.
    Health(HealthEntry),
}

/// The promotion log reachable from `tip` (promotions merged from review branches
/// included), newest first: verified promotions and unrecorded changes alike.
pub fn read_history(repo: &Repository, tip: Oid) -> Result<Vec<PromotionRecord>, git2::Error> {
    let mut reader = HistoryReader::new(repo, tip)?;
    reader.read_all()?;
    Ok(reader.records)
}

/// The promotion log read lazily, newest first (by commit time; a commit is reached only
/// through its children, so in a linear history children always come first): commits are
/// read only as far as a caller needs, so a plan that finds its records near the tip costs
/// the same with 100 or 100,000 commits behind them. (libgit2's sorted revwalks read the
/// whole graph before yielding the first commit; its unsorted one has no time order.)
pub struct HistoryReader<'r> {
    repo: &'r Repository,
    /// The commits reached and not yet read: newest first, the first reached among equals.
    frontier: BinaryHeap<(i64, Reverse<u64>, Oid)>,
    reached: HashSet<Oid>,
    records: Vec<PromotionRecord>,
    /// Configuration changes, each with how many records were read before it.
    changes: Vec<(usize, ConfigurationChange)>,
    /// Health records, each with how many records were read before it.
    health: Vec<(usize, HealthEntry)>,
    rules: RulesAt,
    commits_read: usize,
}

impl<'r> HistoryReader<'r> {
    /// A reader of the history reachable from `tip`; nothing is read yet.
    pub fn new(repo: &'r Repository, tip: Oid) -> Result<Self, git2::Error> {
        Self::with_rules(repo, tip, RulesAt::default())
    }

    /// A reader of the history reachable from `tip` that judges each commit by `rules` (see
    /// [`RulesAt::on_environment_branch`] for an environment branch of its own).
    pub fn with_rules(repo: &'r Repository, tip: Oid, rules: RulesAt) -> Result<Self, git2::Error> {
        let mut reader = HistoryReader {
            repo,
            frontier: BinaryHeap::new(),
            reached: HashSet::new(),
            records: Vec::new(),
            changes: Vec::new(),
            health: Vec::new(),
            rules,
            commits_read: 0,
        };
        reader.reach(tip)?;
        Ok(reader)
    }

    /// How many commits have been read so far.
    pub fn commits_read(&self) -> usize {
        self.commits_read
    }

    /// The records read so far, newest first.
    pub fn records(&self) -> &[PromotionRecord] {
        &self.records
    }

    /// Put `oid` on the frontier, once. A parent missing from the repository (a shallow
    /// clone's boundary) ends the walk there, as Git's own walk does.
    fn reach(&mut self, oid: Oid) -> Result<(), git2::Error> {
        if !self.reached.insert(oid) {
            return Ok(());
        }
        match self.repo.find_commit(oid) {
            Ok(commit) => {
                let order = Reverse(self.reached.len() as u64);
                self.frontier.push((commit.time().seconds(), order, oid));
                Ok(())
            }
            Err(error) if error.code() == git2::ErrorCode::NotFound => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Read one more commit; `false` when there are no more.
    fn read_next(&mut self) -> Result<bool, git2::Error> {
        let Some((_, _, oid)) = self.frontier.pop() else { return Ok(false) };
        self.commits_read += 1;
        let commit = self.repo.find_commit(oid)?;
        for parent in commit.parent_ids() {
            self.reach(parent)?;
        }
        let (id, time) = (commit.id().to_string(), commit.time().seconds());
        match check_commit_remembered(self.repo, &commit)? {
            Some(checked) if checked.checks_out() => {
                let rules = self.rules.before(self.repo, &commit);
                let trust = assess(self.repo, commit.id(), &checked.records, &rules);
                self.records.extend(checked.records.iter().map(|record| PromotionRecord::from_record(id.clone(), time, record, trust.clone())));
            }
            Some(checked) => {
                self.records.push(PromotionRecord::unrecorded(id, time, checked.trailers.as_ref(), checked.records.first(), checked.problems.clone()));
            }
            None if commit.parent_count() == 1 => {
                if let Some(checked) = check_health_commit(self.repo, &commit)? {
                    let trust = health_trust(self.repo, commit.id(), &checked, &self.rules.before(self.repo, &commit));
                    self.health.push((self.records.len(), HealthEntry::new(&commit, checked, trust)));
                }
                self.read_ordinary(&commit)?
            }
            None => {}
        }
        Ok(true)
    }

    /// An ordinary commit: it counts in the log when it changes a configured manifest location
    /// (a hand edit) or the trust configuration, as the rules in force before it name them.
    fn read_ordinary(&mut self, commit: &Commit<'_>) -> Result<(), git2::Error> {
        // A shallow clone's boundary has no parent here: nothing to compare with.
        let Ok(parent) = commit.parent(0) else { return Ok(()) };
        let rules = self.rules.at(self.repo, &parent);
        let (tree, parent_tree) = (commit.tree()?, parent.tree()?);
        let paths = rules.locations.keys().chain(&rules.configuration_files).map(String::as_str);
        let changed = super::tree_diff::differing_entries(self.repo, &parent_tree, &tree, paths);
        for (path, located) in rules.locations.iter().filter_map(|(path, all)| all.first().map(|located| (path, located))) {
            if changed.contains(path.as_str()) {
                let version = super::verified::read_text(self.repo, &tree, path)
                    .ok()
                    .flatten()
                    .and_then(|text| crate::manifest::read_deployed(path, &text, &located.layout).ok())
                    .map(|deployed| crate::input::escape_untrusted(&deployed.version, 200));
                self.records.push(PromotionRecord::hand_edit(commit, &located.app, &located.env, path, version));
            }
        }
        let files: Vec<String> = rules.configuration_files.iter().filter(|path| changed.contains(path.as_str())).cloned().collect();
        if !files.is_empty() {
            let signature = match &rules.signers {
                Some(signers) => crate::trust::commit_signature::verify_commit(self.repo, signers, commit.id()).describe(),
                None => crate::trust::commit_signature::CommitSignature::Missing.describe(),
            };
            let author = commit.author();
            let author = crate::input::escape_untrusted(author.email().ok().filter(|email| !email.is_empty()).or(author.name().ok()).unwrap_or("unknown"), 200);
            let change = ConfigurationChange { commit: commit.id().to_string(), time: commit.time().seconds(), author, files, signature };
            self.changes.push((self.records.len(), change));
        }
        Ok(())
    }

    /// The newest record matching `wanted`, reading only as far as it.
    pub fn find(&mut self, wanted: impl Fn(&PromotionRecord) -> bool) -> Result<Option<&PromotionRecord>, git2::Error> {
        let mut checked = 0;
        loop {
            if let Some(index) = self.records[checked..].iter().position(&wanted) {
                return Ok(Some(&self.records[checked + index]));
            }
            checked = self.records.len();
            if !self.read_next()? {
                return Ok(None);
            }
        }
    }

    /// The health records read so far, newest first.
    pub fn health(&self) -> impl Iterator<Item = &HealthEntry> {
        self.health.iter().map(|(_, entry)| entry)
    }

    /// The newest `limit` entries (all of them with `None`): the records matching `wanted`,
    /// the health records `wanted_health` admits and, with `with_configuration`, the
    /// configuration changes, in log order; reading only as far as the last one.
    pub fn page(
        &mut self,
        wanted: impl Fn(&PromotionRecord) -> bool,
        wanted_health: impl Fn(&HealthEntry) -> bool,
        with_configuration: bool,
        limit: Option<usize>,
    ) -> Result<Vec<Entry>, git2::Error> {
        let mut page = Vec::new();
        let (mut record_index, mut change_index, mut health_index) = (0, 0, 0);
        loop {
            loop {
                if limit.is_some_and(|limit| page.len() == limit) {
                    return Ok(page);
                }
                if let Some((_, entry)) = self.health.get(health_index).filter(|(position, _)| *position <= record_index) {
                    if wanted_health(entry) {
                        page.push(Entry::Health(entry.clone()));
                    }
                    health_index += 1;
                    continue;
                }
                if let Some((_, change)) = self.changes.get(change_index).filter(|(position, _)| *position <= record_index) {
                    if with_configuration {
                        page.push(Entry::Configuration(change.clone()));
                    }
                    change_index += 1;
                    continue;
                }
                let Some(record) = self.records.get(record_index) else { break };
                if wanted(record) {
                    page.push(Entry::Promotion(record.clone()));
                }
                record_index += 1;
            }
            if !self.read_next()? {
                return Ok(page);
            }
        }
    }

    /// The whole history.
    pub fn read_all(&mut self) -> Result<&[PromotionRecord], git2::Error> {
        while self.read_next()? {}
        Ok(&self.records)
    }

    /// Whether every commit has been read.
    pub fn complete(&self) -> bool {
        self.frontier.is_empty()
    }
}

/// What planning looks records up in: the whole history already read, or a [`HistoryReader`]
/// that reads only as far as each lookup needs.
pub trait Arrivals {
    /// The newest record that counts of `app` arriving in `env` (optionally with that exact version).
    fn last_arrival(&mut self, app: &str, env: &str, version: Option<&str>) -> Result<Option<PromotionRecord>, String>;
    /// The whole history, newest first.
    fn all(&mut self) -> Result<&[PromotionRecord], String>;
    /// The whole history of the branch that holds `app`'s file in `env`, newest first.
    fn all_in(&mut self, app: &str, env: &str) -> Result<&[PromotionRecord], String> {
        let _ = (app, env);
        self.all()
    }
}

impl Arrivals for &[PromotionRecord] {
    fn last_arrival(&mut self, app: &str, env: &str, version: Option<&str>) -> Result<Option<PromotionRecord>, String> {
        Ok(last_arrival(self, app, env, version).cloned())
    }

    fn all(&mut self) -> Result<&[PromotionRecord], String> {
        Ok(self)
    }
}

impl Arrivals for HistoryReader<'_> {
    fn last_arrival(&mut self, app: &str, env: &str, version: Option<&str>) -> Result<Option<PromotionRecord>, String> {
        let found = self.find(|record| {
            record.counts && record.app == app && record.to == env && version.is_none_or(|version| record.version == version)
        });
        found.map(|record| record.cloned()).map_err(|error| error.message().to_string())
    }

    fn all(&mut self) -> Result<&[PromotionRecord], String> {
        self.read_all().map_err(|error| error.message().to_string())
    }
}

/// The newest record that counts of `app` arriving in `env` (optionally with that exact version).
pub fn last_arrival<'a>(history: &'a [PromotionRecord], app: &'a str, env: &'a str, version: Option<&str>) -> Option<&'a PromotionRecord> {
    arrivals_in(history, app, env).find(|record| version.is_none_or(|version| record.version == version))
}

/// The records that count (verified, or unsigned where the rules allow it) of `app` arriving
/// in `env`, newest first.
pub fn arrivals_in<'a>(history: &'a [PromotionRecord], app: &'a str, env: &'a str) -> impl Iterator<Item = &'a PromotionRecord> + 'a {
    history.iter().filter(move |record| record.counts && record.app == app && record.to == env)
}
