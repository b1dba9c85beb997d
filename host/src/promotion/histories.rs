//! Each environment's promotion history, read from the branch its location is on: the
//! protected branch's own history for files kept there, and, for an environment on a branch of
//! its own (GitOps Promoter's `environment/dev`, …), that branch's, judged by the protected
//! branch's rules (see [`RulesAt::on_environment_branch`]). Every reader of history per
//! location (planning, `status`, `history`, `rollback`) goes through [`Histories::of_branch`] (which branch holds a location: [`Config::branch_of`]).

use std::collections::BTreeMap;

use git2::Oid;

use super::history::{Arrivals, Entry, HistoryReader, PromotionRecord};
use super::verified::RulesAt;
use crate::config::Config;
use crate::repo::GitRepo;

/// The histories of every branch that holds a configured location, each read lazily and only
/// when a caller asks for it.
pub struct Histories<'w> {
    repo: &'w GitRepo,
    config: &'w Config,
    protected_tip: Oid,
    readers: BTreeMap<String, HistoryReader<'w>>,
}

impl<'w> Histories<'w> {
    /// The histories of `repo` under `config`, whose protected branch is at `protected_tip`.
    pub fn new(repo: &'w GitRepo, config: &'w Config, protected_tip: Oid) -> Histories<'w> {
        Histories { repo, config, protected_tip, readers: BTreeMap::new() }
    }

    /// The history of `branch`: the one place that chooses which commits and which rules a
    /// location's records are read with.
    pub fn of_branch(&mut self, branch: &str) -> Result<&mut HistoryReader<'w>, String> {
        if !self.readers.contains_key(branch) {
            let git = self.repo.git();
            let reader = if branch == self.config.branch {
                HistoryReader::new(git, self.protected_tip)
            } else {
                let tip = self.repo.tip_or_origin(branch).map_err(|_| format!("branch {branch} does not exist in {}; create it or fix tollgate.yaml", self.repo.path().display()))?;
                HistoryReader::with_rules(git, tip.commit, RulesAt::on_environment_branch(branch, self.protected_tip))
            };
            self.readers.insert(branch.to_string(), reader.map_err(|error| error.message().to_string())?);
        }
        Ok(self.readers.get_mut(branch).expect("inserted above"))
    }

    /// The history of `branch` as far as it has been read, when [`Histories::of_branch`] has
    /// opened it.
    pub fn opened(&self, branch: &str) -> Option<&HistoryReader<'w>> {
        self.readers.get(branch)
    }

    /// The history of the branch that holds `app`'s file in `env`.
    pub fn of_location(&mut self, app: &str, env: &str) -> Result<&mut HistoryReader<'w>, String> {
        let config: &'w Config = self.config;
        self.of_branch(config.branch_of(app, env))
    }

    /// Commits read so far, over every branch.
    pub fn commits_read(&self) -> usize {
        self.readers.values().map(HistoryReader::commits_read).sum()
    }

    /// The newest `limit` entries (all with `None`) of every branch's log, newest first (by
    /// commit time; the protected branch's first among equals): see [`HistoryReader::page`].
    pub fn page(
        &mut self,
        wanted: impl Fn(&PromotionRecord) -> bool + Copy,
        wanted_health: impl Fn(&super::health::HealthEntry) -> bool + Copy,
        with_configuration: bool,
        limit: Option<usize>,
    ) -> Result<Vec<Entry>, String> {
        let mut entries = Vec::new();
        let config: &'w Config = self.config;
        for branch in config.location_branches() {
            // An environment branch not created yet has no history to show.
            if branch != self.config.branch && self.repo.tip_or_origin(branch).is_err() {
                continue;
            }
            let reader = self.of_branch(branch)?;
            entries.extend(reader.page(wanted, wanted_health, with_configuration, limit).map_err(|error| error.message().to_string())?);
        }
        // A stable sort keeps each branch's own order.
        entries.sort_by_key(|entry| std::cmp::Reverse(entry_time(entry)));
        if let Some(limit) = limit {
            entries.truncate(limit);
        }
        Ok(entries)
    }
}

/// When an entry's commit was made.
fn entry_time(entry: &Entry) -> i64 {
    match entry {
        Entry::Promotion(record) => record.time,
        Entry::Configuration(change) => change.time,
        Entry::Health(health) => health.time,
    }
}

impl Arrivals for Histories<'_> {
    fn last_arrival(&mut self, app: &str, env: &str, version: Option<&str>) -> Result<Option<PromotionRecord>, String> {
        self.of_location(app, env)?.last_arrival(app, env, version)
    }

    fn all(&mut self) -> Result<&[PromotionRecord], String> {
        let branch = self.config.branch.clone();
        self.of_branch(&branch)?.all()
    }

    fn all_in(&mut self, app: &str, env: &str) -> Result<&[PromotionRecord], String> {
        self.of_location(app, env)?.all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use git2::{Repository, Signature};

    const CONFIG: &str = "branch: main\nenvironments: [dev, prod]\ndefaults:\n  branch: \"environment/{env}\"\n  file: \"{app}/manifest.yaml\"\n  \
                          manifest: { container: api }\napplications:\n  shop-api: { image: registry.example.com/shop/api }\n";

    fn manifest(version: &str) -> String {
        format!("kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: api\n          image: registry.example.com/shop/api:{version}\n")
    }

    /// Commit `files` (path, content; nested one level at most) on `branch` over `parent`.
    fn commit(repo: &Repository, branch: &str, parent: Option<Oid>, files: &[(&str, &str)]) -> Oid {
        let mut root = repo.treebuilder(None).unwrap();
        let mut dirs: BTreeMap<&str, Vec<(&str, Oid)>> = BTreeMap::new();
        for (path, content) in files {
            let blob = repo.blob(content.as_bytes()).unwrap();
            match path.split_once('/') {
                Some((dir, name)) => dirs.entry(dir).or_default().push((name, blob)),
                None => root.insert(path, blob, 0o100644).map(drop).unwrap(),
            }
        }
        for (dir, entries) in dirs {
            let mut sub = repo.treebuilder(None).unwrap();
            entries.iter().for_each(|(name, blob)| sub.insert(name, *blob, 0o100644).map(drop).unwrap());
            root.insert(dir, sub.write().unwrap(), 0o040000).unwrap();
        }
        let tree = repo.find_tree(root.write().unwrap()).unwrap();
        let who = Signature::now("someone", "someone@example.com").unwrap();
        let parents: Vec<git2::Commit<'_>> = parent.into_iter().map(|oid| repo.find_commit(oid).unwrap()).collect();
        let parents: Vec<&git2::Commit<'_>> = parents.iter().collect();
        repo.commit(Some(&format!("refs/heads/{branch}")), &who, &who, "change", &tree, &parents).unwrap()
    }

    #[test]
    fn a_hand_edit_on_an_environment_branch_is_judged_by_mains_rules_even_beside_a_tollgate_yaml_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let git = Repository::init_bare(dir.path()).unwrap();
        let main = commit(&git, "main", None, &[("tollgate.yaml", CONFIG)]);
        let hydrated = commit(&git, "environment/prod", None, &[("shop-api/manifest.yaml", &manifest("1.4.0"))]);
        // The edit brings a configuration of its own that configures no location: it counts for nothing.
        let nothing_configured = "branch: environment/prod\nenvironments: [prod]\napplications: {}\n";
        let edit = commit(&git, "environment/prod", Some(hydrated), &[("shop-api/manifest.yaml", &manifest("6.6.6")), ("tollgate.yaml", nothing_configured)]);
        let repo = GitRepo::open(dir.path()).unwrap();
        let config = Config::parse("tollgate.yaml", CONFIG).unwrap();
        let mut histories = Histories::new(&repo, &config, main);

        assert_eq!(config.branch_of("shop-api", "prod"), "environment/prod");
        assert_eq!(config.location_branches(), ["main", "environment/dev", "environment/prod"]);
        let prod = histories.of_location("shop-api", "prod").unwrap().all().unwrap().to_vec();
        assert_eq!(prod.len(), 1, "{prod:?}");
        assert_eq!((prod[0].commit.as_str(), prod[0].to.as_str(), prod[0].version.as_str(), prod[0].counts), (edit.to_string().as_str(), "prod", "6.6.6", false));
        assert!(histories.of_branch("main").unwrap().all().unwrap().is_empty(), "main's history has nothing of environment/prod");
        assert!(histories.of_branch("environment/dev").is_err_and(|error| error.contains("branch environment/dev does not exist")));
        let page = histories.page(|_| true, |_| true, true, None).unwrap();
        assert_eq!(page.len(), 1, "no configuration change is listed from an environment branch: {page:?}");
    }
}
