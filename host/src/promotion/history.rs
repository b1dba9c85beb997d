//! The promotion log, read back from the decision records in the branch's commits. Only
//! commits that check out ([`super::record::check_commit`]) count as promotions; a commit
//! that claims to be one (with `Tollgate-*` trailers) but does not check out is listed as
//! an unrecorded change with the reason, and never counts for status or rollback.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashSet};

use git2::{Oid, Repository};
use serde::Serialize;

use super::record::{DecisionRecord, check_commit};
use super::trailers::{Trailers, policy_summary};
use crate::transition::TransitionKind;

/// One promotion or rollback commit (or a commit claiming to be one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PromotionRecord {
    /// Commit id.
    pub commit: String,
    /// Commit time, Unix seconds.
    pub time: i64,
    /// Whether the commit checks out as a tollgate promotion; `false` for an unrecorded
    /// change (see `problems`).
    pub verified: bool,
    /// Why it does not count, when it does not.
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
    /// Approvers.
    pub approved_by: Vec<String>,
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
    /// The entry of a verified decision record.
    fn from_record(commit: String, time: i64, record: &DecisionRecord) -> Self {
        let t = &record.transition;
        PromotionRecord {
            commit,
            time,
            verified: true,
            problems: Vec::new(),
            kind: t.kind,
            app: t.application.clone(),
            from: t.from_env.clone(),
            to: t.to_env.clone(),
            version: t.artifact.version.clone(),
            digest: t.artifact.digest.clone(),
            requested_by: t.requested_by.clone(),
            requested_at: record.time_overridden.then_some(t.requested_at),
            approved_by: t.approvals.iter().map(|approval| approval.approver.clone()).collect(),
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
        let mut entry = match record {
            Some(record) => PromotionRecord::from_record(commit, time, record),
            None => {
                let t = trailers.cloned().unwrap_or_default();
                PromotionRecord {
                    commit,
                    time,
                    verified: false,
                    problems: Vec::new(),
                    kind: if t.rollback_of.is_some() { TransitionKind::Rollback } else { TransitionKind::Promote },
                    app: t.app.unwrap_or_default(),
                    from: t.from,
                    to: t.to.unwrap_or_default(),
                    version: t.version.unwrap_or_default(),
                    digest: t.digest,
                    requested_by: t.requested_by.unwrap_or_default(),
                    requested_at: None,
                    approved_by: t.approved_by,
                    labels: BTreeMap::new(),
                    policies: t.policies,
                    decision: t.decision.unwrap_or_default(),
                    rollback_of: t.rollback_of,
                    previous_version: t.previous_version,
                    previous_digest: t.previous_digest,
                    artifacts: Vec::new(),
                }
            }
        };
        entry.verified = false;
        entry.problems = problems;
        entry
    }
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
    commits_read: usize,
}

impl<'r> HistoryReader<'r> {
    /// A reader of the history reachable from `tip`; nothing is read yet.
    pub fn new(repo: &'r Repository, tip: Oid) -> Result<Self, git2::Error> {
        let mut reader =
            HistoryReader { repo, frontier: BinaryHeap::new(), reached: HashSet::new(), records: Vec::new(), commits_read: 0 };
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
        let Some(checked) = check_commit(self.repo, &commit)? else { return Ok(true) };
        let (id, time) = (commit.id().to_string(), commit.time().seconds());
        if checked.checks_out() {
            self.records.extend(checked.records.iter().map(|record| PromotionRecord::from_record(id.clone(), time, record)));
        } else {
            self.records.push(PromotionRecord::unrecorded(id, time, checked.trailers.as_ref(), checked.records.first(), checked.problems));
        }
        Ok(true)
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

    /// The newest `limit` records matching `wanted` (all of them with `None`), reading only as
    /// far as the last one.
    pub fn page(&mut self, wanted: impl Fn(&PromotionRecord) -> bool, limit: Option<usize>) -> Result<Vec<PromotionRecord>, git2::Error> {
        let mut page = Vec::new();
        let mut checked = 0;
        loop {
            for record in self.records[checked..].iter().filter(|record| wanted(record)) {
                if limit.is_some_and(|limit| page.len() == limit) {
                    return Ok(page);
                }
                page.push(record.clone());
            }
            checked = self.records.len();
            if limit.is_some_and(|limit| page.len() == limit) || !self.read_next()? {
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
    /// The newest verified record of `app` arriving in `env` (optionally with that exact version).
    fn last_arrival(&mut self, app: &str, env: &str, version: Option<&str>) -> Result<Option<PromotionRecord>, String>;
    /// The whole history, newest first.
    fn all(&mut self) -> Result<&[PromotionRecord], String>;
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
            record.verified && record.app == app && record.to == env && version.is_none_or(|version| record.version == version)
        });
        found.map(|record| record.cloned()).map_err(|error| error.message().to_string())
    }

    fn all(&mut self) -> Result<&[PromotionRecord], String> {
        self.read_all().map_err(|error| error.message().to_string())
    }
}

/// The newest verified record of `app` arriving in `env` (optionally with that exact version).
pub fn last_arrival<'a>(history: &'a [PromotionRecord], app: &'a str, env: &'a str, version: Option<&str>) -> Option<&'a PromotionRecord> {
    verified_in(history, app, env).find(|record| version.is_none_or(|version| record.version == version))
}

/// The verified records of `app` arriving in `env`, newest first.
pub fn verified_in<'a>(history: &'a [PromotionRecord], app: &'a str, env: &'a str) -> impl Iterator<Item = &'a PromotionRecord> + 'a {
    history.iter().filter(move |record| record.verified && record.app == app && record.to == env)
}
