//! Environments as a graph: each environment names the environment(s) its artifacts come
//! from (its upstreams).
//!
//! ```yaml
//! environments:
//!   - qa                                    # first entry: a root (takes --version)
//!   - { name: staging-us, upstream: qa }
//!   - prod-us                               # a plain name follows the entry before it
//!   - { name: staging-eu, upstream: qa }
//!   - prod-eu
//!   - { name: integration, upstream: qa }   # a side environment: upstream of nothing
//!   - name: prod-global                     # fan-in
//!     upstreams: [prod-us, prod-eu]
//!     require: all                          # all (default): the same artifact in every upstream
//!                                           # any: the newest version among them
//!   - { name: sandbox, upstreams: [] }      # another root
//! ```
//!
//! The plain list `[dev, test, prod]` is a chain, as it always was. Checks (each problem at
//! its line and column): names valid and unique, upstreams known and not the environment
//! itself, every environment reachable from a root, no cycles.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Whether a fan-in environment needs the artifact in all of its upstreams or in any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Require {
    /// The artifact must currently be in every upstream (the same version and digest).
    #[default]
    All,
    /// The newest version among the upstreams is taken.
    Any,
}

/// One entry of `environments:` written as a mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentSpec {
    /// The environment's name (letters, digits, - and _).
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    pub name: String,
    /// The one environment its artifacts come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    pub upstream: Option<String>,
    /// Several environments its artifacts come from (fan-in); `[]` makes it a root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(inner(regex(pattern = r"^[A-Za-z0-9_-]+$")))]
    pub upstreams: Option<Vec<String>>,
    /// With several upstreams: `all` (default) or `any`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require: Option<Require>,
}

/// One entry of `environments:`: a name (its upstream is the entry before it) or a mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum EnvironmentEntry {
    /// A name; its upstream is the entry listed before it (none for the first).
    Name(#[schemars(regex(pattern = r"^[A-Za-z0-9_-]+$"))] String),
    /// A name with its upstreams.
    Spec(EnvironmentSpec),
}

impl EnvironmentEntry {
    /// The environment's name.
    pub fn name(&self) -> &str {
        match self {
            EnvironmentEntry::Name(name) => name,
            EnvironmentEntry::Spec(spec) => &spec.name,
        }
    }
}

// By hand rather than `untagged`, so a misspelt field gets serde's precise message
// ("unknown field `upstrem`, expected one of …") instead of "did not match any variant".
impl<'de> Deserialize<'de> for EnvironmentEntry {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = EnvironmentEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an environment name, or { name: NAME, upstream: NAME } / { name: NAME, upstreams: [NAME, …], require: all|any }")
            }
            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Self::Value, E> {
                Ok(EnvironmentEntry::Name(value.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                EnvironmentSpec::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(EnvironmentEntry::Spec)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// `environments:` as written, and the graph it describes. Dereferences to the names in the
/// order written, so code that needs only the names treats it as a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct Environments {
    #[schemars(length(min = 1))]
    entries: Vec<EnvironmentEntry>,
    #[serde(skip)]
    #[schemars(skip)]
    graph: EnvGraph,
}

impl<'de> Deserialize<'de> for Environments {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Environments::new(Vec::deserialize(deserializer)?))
    }
}

impl Environments {
    /// Environments from their entries.
    pub fn new(entries: Vec<EnvironmentEntry>) -> Self {
        let graph = EnvGraph::from_entries(&entries);
        Environments { entries, graph }
    }

    /// The entries as written.
    pub fn entries(&self) -> &[EnvironmentEntry] {
        &self.entries
    }

    /// The graph.
    pub fn graph(&self) -> &EnvGraph {
        &self.graph
    }
}

impl From<Vec<String>> for Environments {
    fn from(names: Vec<String>) -> Self {
        Environments::new(names.into_iter().map(EnvironmentEntry::Name).collect())
    }
}

impl std::ops::Deref for Environments {
    type Target = [String];
    fn deref(&self) -> &[String] {
        &self.graph.names
    }
}

impl<'a> IntoIterator for &'a Environments {
    type Item = &'a String;
    type IntoIter = std::slice::Iter<'a, String>;
    fn into_iter(self) -> Self::IntoIter {
        self.graph.names.iter()
    }
}

/// Which environments feed which.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnvGraph {
    names: Vec<String>,
    upstreams: BTreeMap<String, Vec<String>>,
    downstreams: BTreeMap<String, Vec<String>>,
    require: BTreeMap<String, Require>,
    order: Vec<String>,
}

impl EnvGraph {
    /// The graph of `entries` (unchecked: see [`check`] for the problems it may have).
    fn from_entries(entries: &[EnvironmentEntry]) -> Self {
        let mut graph = EnvGraph::default();
        for (index, entry) in entries.iter().enumerate() {
            let name = entry.name().to_string();
            let upstreams = match entry {
                EnvironmentEntry::Spec(EnvironmentSpec { upstreams: Some(upstreams), .. }) => upstreams.clone(),
                EnvironmentEntry::Spec(EnvironmentSpec { upstream: Some(upstream), .. }) => vec![upstream.clone()],
                _ => index.checked_sub(1).map(|previous| vec![entries[previous].name().to_string()]).unwrap_or_default(),
            };
            if let EnvironmentEntry::Spec(EnvironmentSpec { require: Some(require), .. }) = entry {
                graph.require.insert(name.clone(), *require);
            }
            if graph.upstreams.contains_key(&name) {
                continue;
            }
            for upstream in &upstreams {
                graph.downstreams.entry(upstream.clone()).or_default().push(name.clone());
            }
            graph.upstreams.insert(name.clone(), upstreams);
            graph.names.push(name);
        }
        graph.order = graph.topological();
        graph
    }

    /// Kahn's algorithm, taking ready environments in the order written; environments on or
    /// behind a cycle are left out.
    fn topological(&self) -> Vec<String> {
        let mut placed: BTreeSet<&str> = BTreeSet::new();
        let mut order = Vec::new();
        loop {
            let ready = self.names.iter().find(|name| {
                !placed.contains(name.as_str())
                    && self.upstreams(name).iter().all(|upstream| placed.contains(upstream.as_str()) || !self.upstreams.contains_key(upstream))
            });
            match ready {
                Some(name) => {
                    placed.insert(name);
                    order.push(name.clone());
                }
                None => return order,
            }
        }
    }

    /// The environments `env`'s artifacts come from (empty for a root).
    pub fn upstreams(&self, env: &str) -> &[String] {
        self.upstreams.get(env).map_or(&[], Vec::as_slice)
    }

    /// The environments that take their artifacts from `env`.
    pub fn downstreams(&self, env: &str) -> &[String] {
        self.downstreams.get(env).map_or(&[], Vec::as_slice)
    }

    /// For a fan-in environment, whether it needs the artifact in all upstreams or any.
    pub fn require(&self, env: &str) -> Require {
        self.require.get(env).copied().unwrap_or_default()
    }

    /// Environments with no upstream: artifacts enter the graph there (`--version`).
    pub fn roots(&self) -> Vec<&str> {
        self.names.iter().filter(|name| self.upstreams(name).is_empty()).map(String::as_str).collect()
    }

    /// Whether `env` is a root.
    pub fn is_root(&self, env: &str) -> bool {
        self.upstreams.contains_key(env) && self.upstreams(env).is_empty()
    }

    /// Every environment, upstreams before downstreams (ties in the order written).
    pub fn topological_order(&self) -> &[String] {
        &self.order
    }

    /// Whether `env` is configured.
    pub fn contains(&self, env: &str) -> bool {
        self.upstreams.contains_key(env)
    }

    /// What `policy-environments` tells the plugin of a policy that runs where `runs_in` says:
    /// every environment, and those it runs for, both in topological order.
    pub fn policy_environments(&self, runs_in: impl Fn(&str) -> bool) -> crate::runtime::PolicyEnvironments {
        let runs_for = self.order.iter().filter(|env| runs_in(env)).cloned().collect();
        crate::runtime::PolicyEnvironments { configured: self.order.clone(), runs_for }
    }
}

/// A problem with `environments:`: the path of the field (for the locator) and the message.
pub type GraphProblem = (Vec<String>, String);

/// Check `environments`: names, duplicates, upstreams, cycles and reachability. The first
/// problem in the order written is reported.
pub fn check(environments: &Environments) -> Result<(), GraphProblem> {
    let entries = environments.entries();
    let graph = environments.graph();
    if entries.is_empty() {
        return Err((vec!["environments".into()], "list the environments in promotion order, e.g. [dev, test, prod]".into()));
    }
    let at = |index: usize, field: Option<&str>| {
        let mut path = vec!["environments".to_string(), index.to_string()];
        path.extend(field.map(str::to_string));
        path
    };
    let names = || graph.names.join(", ");
    for (index, entry) in entries.iter().enumerate() {
        let env = entry.name();
        if env.is_empty() || !env.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err((at(index, None), format!("{env:?} is not a valid name (letters, digits, - and _)")));
        }
        if entries[..index].iter().any(|earlier| earlier.name() == env) {
            return Err((at(index, None), format!("{env} is listed twice")));
        }
        let EnvironmentEntry::Spec(spec) = entry else { continue };
        if spec.upstream.is_some() && spec.upstreams.is_some() {
            return Err((at(index, Some("upstreams")), "give upstream: NAME or upstreams: [NAME, …], not both".into()));
        }
        let field = if spec.upstream.is_some() { "upstream" } else { "upstreams" };
        let upstreams = graph.upstreams(env);
        for (position, upstream) in upstreams.iter().enumerate() {
            if upstream == env {
                return Err((at(index, Some(field)), format!("{env} cannot be its own upstream")));
            }
            if !graph.contains(upstream) {
                return Err((at(index, Some(field)), format!("unknown upstream {upstream}; environments are {}", names())));
            }
            if upstreams[..position].contains(upstream) {
                return Err((at(index, Some(field)), format!("{upstream} is listed twice")));
            }
        }
        if spec.require.is_some() && upstreams.len() < 2 {
            return Err((at(index, Some("require")), "require: applies to several upstreams (upstreams: [A, B]); remove it".into()));
        }
    }
    // Everything Kahn's algorithm could not place is on a cycle or behind one.
    let placed: BTreeSet<&str> = graph.order.iter().map(String::as_str).collect();
    for (index, entry) in entries.iter().enumerate() {
        let env = entry.name();
        if placed.contains(env) {
            continue;
        }
        let field = match entry {
            EnvironmentEntry::Spec(spec) if spec.upstream.is_some() => Some("upstream"),
            EnvironmentEntry::Spec(_) => Some("upstreams"),
            EnvironmentEntry::Name(_) => None,
        };
        return Err(match cycle_through(graph, env) {
            Some(cycle) => (at(index, field), format!("cycle: {}; an environment cannot feed itself, so break the cycle", cycle.join(" → "))),
            None => {
                let blocked: Vec<&str> =
                    graph.upstreams(env).iter().filter(|upstream| !placed.contains(upstream.as_str())).map(String::as_str).collect();
                (
                    at(index, field),
                    format!(
                        "{env} is unreachable from a root ({}): its upstream {} never receives an artifact because it is behind a cycle; \
                         break the cycle or take {env} from another environment",
                        graph.roots().join(", "),
                        blocked.join(", ")
                    ),
                )
            }
        });
    }
    Ok(())
}

/// A cycle through `env`, written from `env` back to itself, if there is one.
fn cycle_through(graph: &EnvGraph, env: &str) -> Option<Vec<String>> {
    // Depth-first along upstream edges, looking for the way back to `env`.
    fn walk(graph: &EnvGraph, start: &str, node: &str, path: &mut Vec<String>, seen: &mut BTreeSet<String>) -> bool {
        for upstream in graph.upstreams(node) {
            if upstream == start {
                return true;
            }
            if seen.insert(upstream.clone()) {
                path.push(upstream.clone());
                if walk(graph, start, upstream, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![env.to_string()];
    let mut seen = BTreeSet::new();
    if !walk(graph, env, env, &mut path, &mut seen) {
        return None;
    }
    // `path` follows upstream edges; written in promotion direction it reads downstream.
    path.reverse();
    path.insert(0, env.to_string());
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environments(yaml: &str) -> Environments {
        serde_yaml::from_str(yaml).unwrap()
    }

    const REGIONS: &str = "- qa\n- { name: staging-us, upstream: qa }\n- prod-us\n- { name: staging-eu, upstream: qa }\n- prod-eu\n\
        - { name: integration, upstream: qa }\n- name: global\n  upstreams: [prod-us, prod-eu]\n  require: any\n";

    #[test]
    fn a_plain_list_is_a_chain() {
        let envs = environments("[dev, test, prod]");
        let graph = envs.graph();
        assert_eq!(graph.upstreams("prod"), ["test"]);
        assert_eq!(graph.downstreams("dev"), ["test"]);
        assert_eq!(graph.roots(), ["dev"]);
        assert_eq!(graph.topological_order(), ["dev", "test", "prod"]);
        assert_eq!(&envs[..], ["dev", "test", "prod"]);
        assert!(check(&envs).is_ok());
    }

    #[test]
    fn fan_out_and_fan_in() {
        let envs = environments(REGIONS);
        check(&envs).unwrap();
        let graph = envs.graph();
        assert_eq!(graph.upstreams("prod-eu"), ["staging-eu"]);
        assert_eq!(graph.downstreams("qa"), ["staging-us", "staging-eu", "integration"]);
        assert_eq!(graph.upstreams("global"), ["prod-us", "prod-eu"]);
        assert_eq!(graph.require("global"), Require::Any);
        assert_eq!(graph.require("prod-eu"), Require::All);
        assert!(graph.downstreams("integration").is_empty());
        assert_eq!(graph.roots(), ["qa"]);
    }

    #[test]
    fn topological_order_puts_upstreams_first_whatever_the_order_written() {
        let envs = environments("- { name: prod, upstream: staging }\n- { name: staging, upstream: qa }\n- { name: qa, upstreams: [] }\n");
        check(&envs).unwrap();
        assert_eq!(envs.graph().topological_order(), ["qa", "staging", "prod"]);
        assert_eq!(envs.graph().roots(), ["qa"]);
    }

    #[test]
    fn problems_name_the_entry_and_field() {
        let problem = |yaml: &str| check(&environments(yaml)).unwrap_err();
        assert_eq!(problem("[dev, dev]"), (vec!["environments".into(), "1".into()], "dev is listed twice".into()));
        let (path, message) = problem("- dev\n- { name: prod, upstream: stagin }\n");
        assert_eq!(path, ["environments", "1", "upstream"]);
        assert_eq!(message, "unknown upstream stagin; environments are dev, prod");
        let (path, message) = problem("- dev\n- { name: a, upstream: b }\n- { name: b, upstream: a }\n");
        assert_eq!(path, ["environments", "1", "upstream"]);
        assert_eq!(message, "cycle: a → b → a; an environment cannot feed itself, so break the cycle");
        let (path, message) = problem("- dev\n- { name: c, upstream: a }\n- { name: a, upstream: b }\n- { name: b, upstream: a }\n");
        assert_eq!(path, ["environments", "1", "upstream"]);
        assert!(message.starts_with("c is unreachable from a root (dev): its upstream a never receives"), "{message}");
        let (_, message) = problem("- dev\n- { name: p, upstream: dev, upstreams: [dev] }\n");
        assert!(message.contains("not both"), "{message}");
        let (_, message) = problem("- dev\n- { name: p, upstream: dev, require: any }\n");
        assert!(message.starts_with("require: applies to several upstreams"), "{message}");
        let (_, message) = problem("- dev\n- { name: p, upstream: p }\n");
        assert_eq!(message, "p cannot be its own upstream");
        let error = serde_yaml::from_str::<Environments>("- { name: p, upstrem: dev }\n").unwrap_err().to_string();
        assert!(error.contains("unknown field `upstrem`"), "{error}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

        /// Any acyclic graph, written in any order, checks out; its topological order puts
        /// every upstream first and its roots are the environments without upstreams. Adding
        /// an edge from a downstream back to an ancestor is an error: the cycle, or an
        /// environment written before it that the cycle makes unreachable.
        #[test]
        fn acyclic_graphs_check_out_and_back_edges_are_cycles(
            edges in proptest::collection::vec(proptest::collection::vec(0usize..100, 0..3), 1..9),
            order_seed in proptest::prelude::any::<u64>(),
        ) {
            let n = edges.len();
            // Environment i takes from a subset of 0..i (acyclic by construction).
            let upstreams: Vec<Vec<usize>> = edges
                .iter()
                .enumerate()
                .map(|(i, picks)| {
                    let mut ups: Vec<usize> = if i == 0 { Vec::new() } else { picks.iter().map(|p| p % i).collect() };
                    ups.sort_unstable();
                    ups.dedup();
                    ups
                })
                .collect();
            let mut written: Vec<usize> = (0..n).collect();
            written.sort_by_key(|i| (*i as u64).wrapping_mul(order_seed | 1).rotate_left(17));
            let entry = |i: usize, extra: Option<usize>| {
                let mut ups: Vec<String> = upstreams[i].iter().map(|u| format!("e{u}")).collect();
                ups.extend(extra.map(|e| format!("e{e}")));
                format!("- {{ name: e{i}, upstreams: [{}] }}\n", ups.join(", "))
            };
            let yaml: String = written.iter().map(|i| entry(*i, None)).collect();
            let envs = environments(&yaml);
            proptest::prop_assert!(check(&envs).is_ok(), "{}", yaml);
            let graph = envs.graph();
            let order = graph.topological_order();
            proptest::prop_assert_eq!(order.len(), n);
            for (i, ups) in upstreams.iter().enumerate() {
                let at = |name: String| order.iter().position(|e| *e == name).unwrap();
                for u in ups {
                    proptest::prop_assert!(at(format!("e{u}")) < at(format!("e{i}")), "{:?}", order);
                }
            }
            let roots: Vec<String> = (0..n).filter(|i| upstreams[*i].is_empty()).map(|i| format!("e{i}")).collect();
            let mut found: Vec<String> = graph.roots().iter().map(|r| r.to_string()).collect();
            found.sort();
            let mut expected = roots.clone();
            expected.sort();
            proptest::prop_assert_eq!(found, expected);
            // A back edge: the last environment's first ancestor-or-self takes from it.
            if n > 1 {
                let last = n - 1;
                let target = upstreams[last].first().copied().unwrap_or(last);
                let yaml: String = written.iter().map(|i| entry(*i, (*i == target).then_some(last))).collect();
                let (_, message) = check(&environments(&yaml)).unwrap_err();
                let expected = message.starts_with("cycle: ") || message.contains("cannot be its own upstream") || message.contains("because it is behind a cycle");
                proptest::prop_assert!(expected, "{}: {}", yaml, message);
            }
        }
    }
}
