//! `tollgate.lock`: for each `oci://` reference of tollgate.yaml, the manifest digest it
//! resolved to and the component's sha256. Committed next to tollgate.yaml; `plan` and
//! `promote` use the locked digests, so a moved tag never changes a decision silently.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::reference::parse_digest;
use crate::repo::GitRepo;

/// The lockfile's name, next to tollgate.yaml.
pub const LOCK_FILE: &str = "tollgate.lock";

const HEADER: &str = "# tollgate.lock: the registry plugins of tollgate.yaml, pinned to exact digests.\n\
                      # Written by `tollgate plugin lock`; commit it next to tollgate.yaml.\n";

/// The lockfile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lockfile {
    /// Format version (1).
    pub version: u32,
    /// One entry per reference, sorted by reference.
    #[serde(default)]
    pub plugins: Vec<LockedPlugin>,
}

/// One locked reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPlugin {
    /// The reference exactly as tollgate.yaml writes it.
    pub reference: String,
    /// The manifest digest it resolved to.
    pub manifest: String,
    /// sha256 of the component (the artifact's one layer).
    pub component: String,
}

impl Lockfile {
    /// Parse lockfile text; `source` names it in messages.
    pub fn parse(source: &str, text: &str) -> Result<Lockfile, String> {
        let lock: Lockfile = serde_yaml::from_str(text)
            .map_err(|error| format!("{source}: {}; run `tollgate plugin lock` to rewrite it", crate::input::describe_yaml_error(&error)))?;
        if lock.version != 1 {
            return Err(format!("{source}: version {} is not supported (this tollgate writes version 1)", lock.version));
        }
        for (index, entry) in lock.plugins.iter().enumerate() {
            for (field, value) in [("manifest", &entry.manifest), ("component", &entry.component)] {
                parse_digest(value).map_err(|error| format!("{source}: plugins[{index}].{field}: {error}"))?;
            }
        }
        Ok(lock)
    }

    /// The entry for `reference`, if any.
    pub fn entry(&self, reference: &str) -> Option<&LockedPlugin> {
        self.plugins.iter().find(|entry| entry.reference == reference)
    }

    /// Set the entry for its reference, keeping the list sorted.
    pub fn upsert(&mut self, locked: LockedPlugin) {
        self.plugins.retain(|entry| entry.reference != locked.reference);
        self.plugins.push(locked);
        self.plugins.sort_by(|a, b| a.reference.cmp(&b.reference));
    }

    /// The text to write.
    pub fn render(&self) -> String {
        format!("{HEADER}{}", serde_yaml::to_string(self).expect("the lockfile serialises"))
    }

    /// Read the lockfile that goes with a configuration: next to `config_path` on disk when
    /// one was given, else from the tip of `branch` (the protected branch's lock, like its
    /// tollgate.yaml; a pull request's checkout cannot swap it). `Ok(None)`: there is none.
    pub fn for_configuration(repo: &GitRepo, branch: &str, config_path: Option<&Path>) -> Result<Option<Lockfile>, String> {
        match config_path {
            Some(config) => Lockfile::next_to(config),
            None => {
                let tip = repo.tip(branch).map_err(|error| error.0)?;
                Lockfile::in_tree(repo, tip.tree, &format!("{LOCK_FILE} (branch {branch})"))
            }
        }
    }

    /// The lockfile `check-config` uses: next to `config_path`, else at HEAD, where
    /// `check-config` reads tollgate.yaml (so a change is checked with its own lock).
    pub fn at_head(repo: &GitRepo, config_path: Option<&Path>) -> Result<Option<Lockfile>, String> {
        match config_path {
            Some(config) => Lockfile::next_to(config),
            None => match repo.git().head().and_then(|head| head.peel_to_tree()) {
                Ok(tree) => Lockfile::in_tree(repo, tree.id(), &format!("{LOCK_FILE} (HEAD)")),
                Err(_) => Ok(None),
            },
        }
    }

    fn next_to(config: &Path) -> Result<Option<Lockfile>, String> {
        let path = config.parent().unwrap_or(Path::new(".")).join(LOCK_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Lockfile::parse(&path.display().to_string(), &text).map(Some),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(format!("{}: cannot read it ({error})", path.display())),
        }
    }

    /// The lockfile in `tree`, if it has one.
    pub fn in_tree(repo: &GitRepo, tree: git2::Oid, source: &str) -> Result<Option<Lockfile>, String> {
        match repo.read_file(tree, LOCK_FILE).map_err(|error| error.0)? {
            Some(text) => Lockfile::parse(source, &text).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_bad_digests() {
        let mut lock = Lockfile { version: 1, plugins: Vec::new() };
        let digest = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        lock.upsert(LockedPlugin { reference: "oci://r/b:1".into(), manifest: digest('b'), component: digest('c') });
        lock.upsert(LockedPlugin { reference: "oci://r/a:1".into(), manifest: digest('a'), component: digest('c') });
        lock.upsert(LockedPlugin { reference: "oci://r/b:1".into(), manifest: digest('d'), component: digest('c') });
        assert_eq!(lock.plugins.len(), 2);
        assert_eq!(lock.plugins[0].reference, "oci://r/a:1");
        assert_eq!(Lockfile::parse("tollgate.lock", &lock.render()).unwrap(), lock);
        assert_eq!(lock.entry("oci://r/b:1").unwrap().manifest, digest('d'));

        let broken = lock.render().replace(&digest('a'), "sha256:abc");
        assert!(Lockfile::parse("tollgate.lock", &broken).unwrap_err().contains("plugins[0].manifest"));
    }
}
