//! What a call asks for: one [`PlanRequest`] per transition (validated where it enters),
//! and which (application, environment) pairs a call names ([`Selection`]: plain names, globs
//! over the configured names, release trains).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::Config;
use crate::input::{self, Actor, InputError};
use crate::transition::Approval;

/// What the user asked for.
#[derive(Debug, Clone, Default)]
pub struct PlanRequest {
    /// Application.
    pub app: String,
    /// Target environment.
    pub to_env: String,
    /// Source environment: one of the target's upstreams, or an `allow_skip` pair (default:
    /// chosen from the upstreams, see `promotion::source`).
    pub from_env: Option<String>,
    /// Version, only for a root environment.
    pub version: Option<String>,
    /// For a multi-artifact application: versions by artifact name (`--version NAME=VERSION`),
    /// only for the first environment.
    pub artifact_versions: BTreeMap<String, String>,
    /// Digest, only with `version`.
    pub digest: Option<String>,
    /// For a multi-artifact application: digests by artifact name (`--digest NAME=DIGEST`),
    /// only for the first environment.
    pub artifact_digests: BTreeMap<String, String>,
    /// Promote into a root environment without a digest, clearing the one it has.
    pub no_digest: bool,
    /// Who asks; `requested-by` is its [`Actor::identity`].
    pub actor: Actor,
    /// Whether `actor` was given explicitly (`--actor`); otherwise the commit author is the
    /// Git identity.
    pub actor_given: bool,
    /// Approvals collected.
    pub approvals: Vec<Approval>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Request time, Unix seconds.
    pub at: i64,
    /// Whether the requester chose `at` (`--at`) instead of "now"; recorded and shown.
    pub at_given: bool,
    /// For a rollback: what to roll back to (`None`: a promotion).
    pub rollback: Option<RollbackTarget>,
}

impl PlanRequest {
    /// Check every string the request would bring into a commit, record or manifest;
    /// the error names the flag.
    pub fn validate(&self) -> Result<(), InputError> {
        input::identifier("application", &self.app)?;
        input::identifier("--to", &self.to_env)?;
        if let Some(from) = &self.from_env {
            input::identifier("--from", from)?;
        }
        if let Some(version) = &self.version {
            input::version("--version", version)?;
        }
        for (name, version) in &self.artifact_versions {
            input::identifier("--version", name)?;
            input::version("--version", version)?;
        }
        if let Some(digest) = &self.digest {
            input::digest("--digest", digest)?;
        }
        for (name, digest) in &self.artifact_digests {
            input::identifier("--digest", name)?;
            input::digest("--digest", digest)?;
        }
        input::identity("--actor", &self.actor.name, 200)?;
        if let Some(email) = &self.actor.email {
            input::identity("--actor", email, 200)?;
        }
        for approval in &self.approvals {
            input::identity("--approval", &approval.approver, 200)?;
            if !approval.version.is_empty() {
                input::version("--approval", &approval.version)?;
            }
            if let Some(group) = &approval.group {
                input::identifier("--approval group", group)?;
            }
        }
        for (key, value) in &self.labels {
            input::identifier("--label", key)?;
            input::text("--label", value, 200)?;
        }
        Ok(())
    }
}

/// What a rollback goes back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackTarget {
    /// The version that was in the environment before the current one.
    Previous,
    /// A version that ran in the environment, or (a prefix of) the promotion commit that put
    /// an artifact there.
    To(String),
}

/// Which applications and target environments a call names: plain names or glob patterns
/// (`*`, `?`, `[…]`), matched against the names `tollgate.yaml` configures.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Application names or patterns (empty with `all`).
    pub apps: Vec<String>,
    /// Every configured application (`--all`).
    pub all: bool,
    /// Target environment names or patterns.
    pub targets: Vec<String>,
}

/// One (application, target environment) pair a selection resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// Application.
    pub app: String,
    /// Target environment.
    pub env: String,
}

impl Selection {
    /// Whether the call names exactly one application and one environment, without
    /// patterns: a single promotion.
    pub fn is_single(&self) -> bool {
        !self.all && self.apps.len() == 1 && self.targets.len() == 1 && !is_pattern(&self.apps[0]) && !is_pattern(&self.targets[0])
    }

    /// Whether the call is a release train: applications chosen by pattern or `--all`.
    /// A train promotes only applications whose upstream has a newer artifact, and lists
    /// the others as nothing to do.
    pub fn is_train(&self) -> bool {
        self.all || self.apps.len() > 1 || self.apps.iter().any(|app| is_pattern(app))
    }

    /// The pairs to plan, in configuration order (applications by name, environments in
    /// promotion order), and the pairs skipped because the application has no location in
    /// that environment (only when a pattern or `--all` chose one of them; a pair named
    /// outright is planned, so its error is precise).
    pub fn resolve(&self, config: &Config) -> Result<(Vec<Pair>, Vec<Skipped>), String> {
        let environments = matching("--to", &self.targets, config.environments.iter(), "environments")?;
        let apps = if self.all {
            config.applications.keys().cloned().collect()
        } else {
            matching("--app", &self.apps, config.applications.keys(), "applications")?
        };
        let chosen_by_pattern = self.all || self.apps.iter().chain(&self.targets).any(|name| is_pattern(name));
        let mut pairs = Vec::new();
        let mut skipped = Vec::new();
        for app in &apps {
            for env in &environments {
                let configured = config.applications.get(app).is_some_and(|application| application.environments.contains_key(env));
                if chosen_by_pattern && !configured {
                    skipped.push(Skipped { app: app.clone(), env: env.clone(), reason: format!("{app} is not configured in {env}") });
                } else {
                    pairs.push(Pair { app: app.clone(), env: env.clone() });
                }
            }
        }
        Ok((pairs, skipped))
    }
}

/// Whether `name` is a glob pattern rather than a name (names never hold these characters).
pub fn is_pattern(name: &str) -> bool {
    name.contains(['*', '?', '['])
}

/// The configured names matching `patterns` (each a name or a glob), in `known` order; a
/// plain name that is not configured, or a pattern that matches none, is an error.
fn matching<'a>(flag: &str, patterns: &[String], known: impl Iterator<Item = &'a String> + Clone, what: &str) -> Result<Vec<String>, String> {
    let list = || known.clone().cloned().collect::<Vec<_>>().join(", ");
    let mut matchers = Vec::new();
    for pattern in patterns {
        crate::input::text(flag, pattern, 200).map_err(|error| error.to_string())?;
        let matcher = glob::Pattern::new(pattern).map_err(|error| format!("{flag} {pattern:?}: not a valid pattern ({error})"))?;
        if !known.clone().any(|name| matcher.matches(name)) {
            return Err(if is_pattern(pattern) {
                format!("{flag} {pattern} matches none of the configured {what} ({})", list())
            } else {
                format!("unknown {} {pattern}; tollgate.yaml configures {}", what.trim_end_matches('s'), list())
            });
        }
        matchers.push(matcher);
    }
    Ok(known.filter(|name| matchers.iter().any(|matcher| matcher.matches(name))).cloned().collect())
}

/// A pair that is not promoted, and why: not configured there, or nothing to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Application.
    pub app: String,
    /// Target environment.
    #[serde(rename = "to_env")]
    pub env: String,
    /// Why, e.g. `shop-api already runs 1.4.2 in prod-eu; nothing to do`.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "environments: [qa, prod-us, prod-eu, load]\napplications:\n  shop-api:\n    image: r/shop/api\n    environments:\n      qa: { file: a, kustomize: {} }\n      prod-us: { file: b, kustomize: {} }\n      prod-eu: { file: c, kustomize: {} }\n  shop-web:\n    image: r/shop/web\n    environments:\n      qa: { file: d, kustomize: {} }\n      prod-eu: { file: e, kustomize: {} }\n  billing:\n    image: r/billing\n    environments:\n      prod-us: { file: f, kustomize: {} }\n";

    fn selection(apps: &[&str], all: bool, targets: &[&str]) -> Selection {
        Selection { apps: apps.iter().map(|s| s.to_string()).collect(), all, targets: targets.iter().map(|s| s.to_string()).collect() }
    }

    fn pairs(found: &[Pair]) -> Vec<String> {
        found.iter().map(|pair| format!("{}@{}", pair.app, pair.env)).collect()
    }

    #[test]
    fn target_globs_match_environments_in_promotion_order() {
        let config = Config::parse("tollgate.yaml", CONFIG).unwrap();
        let (found, skipped) = selection(&["shop-api"], false, &["prod-*"]).resolve(&config).unwrap();
        assert_eq!(pairs(&found), ["shop-api@prod-us", "shop-api@prod-eu"]);
        assert!(skipped.is_empty());
        // Named twice, or by a name and a pattern: once.
        let (found, _) = selection(&["shop-api"], false, &["prod-eu", "prod-*"]).resolve(&config).unwrap();
        assert_eq!(pairs(&found), ["shop-api@prod-us", "shop-api@prod-eu"]);
        // A pattern skips applications not configured there; a plain pair is planned (and fails precisely).
        let (found, skipped) = selection(&["shop-web"], false, &["prod-*"]).resolve(&config).unwrap();
        assert_eq!(pairs(&found), ["shop-web@prod-eu"]);
        assert_eq!(skipped[0].reason, "shop-web is not configured in prod-us");
        let (found, _) = selection(&["shop-web"], false, &["prod-us"]).resolve(&config).unwrap();
        assert_eq!(pairs(&found), ["shop-web@prod-us"]);
    }

    #[test]
    fn app_globs_and_all_make_a_train() {
        let config = Config::parse("tollgate.yaml", CONFIG).unwrap();
        let train = selection(&["shop-*"], false, &["prod-eu"]);
        assert!(train.is_train() && !train.is_single());
        assert_eq!(pairs(&train.resolve(&config).unwrap().0), ["shop-api@prod-eu", "shop-web@prod-eu"]);
        let all = selection(&[], true, &["prod-us"]);
        let (found, skipped) = all.resolve(&config).unwrap();
        assert_eq!(pairs(&found), ["billing@prod-us", "shop-api@prod-us"]);
        assert_eq!(skipped.len(), 1);
        assert!(selection(&["shop-api"], false, &["prod-eu"]).is_single());
        assert!(!selection(&["shop-api"], false, &["prod-eu", "prod-us"]).is_train());
    }

    #[test]
    fn names_and_patterns_that_match_nothing_are_errors() {
        let config = Config::parse("tollgate.yaml", CONFIG).unwrap();
        let error = selection(&["shop-api"], false, &["staging-*"]).resolve(&config).unwrap_err();
        assert_eq!(error, "--to staging-* matches none of the configured environments (qa, prod-us, prod-eu, load)");
        let error = selection(&["shop-api"], false, &["staging"]).resolve(&config).unwrap_err();
        assert!(error.starts_with("unknown environment staging; tollgate.yaml configures qa"), "{error}");
        let error = selection(&["crm-*"], false, &["qa"]).resolve(&config).unwrap_err();
        assert!(error.starts_with("--app crm-* matches none of the configured applications"), "{error}");
        let error = selection(&["shop-api"], false, &["prod-[us"]).resolve(&config).unwrap_err();
        assert!(error.contains("not a valid pattern"), "{error}");
    }
}
