//! `tollgate status`: applications × environments in graph order, with every environment
//! that lags its upstream marked; as aligned text, as JSON carrying the graph, or as a
//! Mermaid flowchart of the pipeline (rendered by GitHub and GitLab in Markdown).

use std::fmt::Write as _;

use serde::Serialize;

use super::escape::{line, mermaid as label};
use super::{JSON_SCHEMA_VERSION, format_time, short_digest, to_json};
use crate::config::{EnvGraph, Require};
use crate::promotion::status::{AppStatus, ArtifactStatus, EnvStatus, HealthStatus};
use crate::promotion::verified::Trust;
use crate::promotion::source::{Standing, compare_versions, standing};

/// Output formats of `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusFormat {
    /// For people: one block per application, environments in graph order, columns aligned.
    Text,
    /// One JSON document with a schema_version, the graph and the lagging environments.
    Json,
    /// A Mermaid flowchart of the pipeline: environments with each application's version,
    /// edges from upstreams, lagging environments marked.
    Mermaid,
}

/// An environment that does not run what its upstream would give it: behind it, ahead of it,
/// or different from it (see [`standing`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lag {
    /// Behind, ahead or differs.
    pub standing: Standing,
    /// Application.
    pub application: String,
    /// The environment that lags.
    pub environment: String,
    /// Its version now.
    pub version: String,
    /// The upstream it would take a newer artifact from.
    pub upstream: String,
    /// What that upstream holds.
    pub upstream_version: String,
}

impl Lag {
    /// `behind`, `ahead of` or `differs from`, before the upstream's name.
    pub fn mark(&self) -> &'static str {
        match self.standing {
            Standing::Behind | Standing::Current => "behind",
            Standing::Ahead => "ahead of",
            Standing::Differs => "differs from",
        }
    }
}

/// What the newest health record of a promotion says: `healthy since …, soaked N s` or
/// `failed its health check: …` (never "verified", which keeps its one meaning). The reason
/// comes from the sources the watcher read, so it is escaped.
pub fn health_words(health: &HealthStatus) -> String {
    match &health.reason {
        Some(reason) => format!("failed its health check: {}", line(reason)),
        None => format!("healthy since {}, soaked {} s", format_time(health.since), health.soaked_seconds),
    }
}

/// How `env` stands against its upstream(s) for `app`, when it does not run what a promotion
/// would take (the single upstream's artifact; with `require: all`, the artifact all
/// upstreams agree on; with `require: any`, the newest among them).
pub fn lag(graph: &EnvGraph, app: &AppStatus, env: &str) -> Option<Lag> {
    let held = |env: &str| app.environments.get(env).filter(|cell| cell.error.is_none()).and_then(|cell| cell.version.as_ref().map(|v| (cell, v)));
    let (own, own_version) = held(env)?;
    let upstreams: Vec<(&str, &EnvStatus, &String)> =
        graph.upstreams(env).iter().filter_map(|upstream| held(upstream).map(|(cell, version)| (upstream.as_str(), cell, version))).collect();
    let (upstream, cell, version) = match graph.require(env) {
        Require::All => {
            let first = *upstreams.first()?;
            if upstreams.iter().any(|(_, cell, version)| *version != first.2 || cell.digest != first.1.digest) {
                return None; // the upstreams disagree: nothing can be promoted yet
            }
            first
        }
        Require::Any => upstreams
            .iter()
            .copied()
            .reduce(|best, candidate| if compare_versions(candidate.2, best.2).is_gt() { candidate } else { best })?,
    };
    let standing = standing((own_version, own.digest.as_deref()), (version, cell.digest.as_deref()));
    (standing != Standing::Current).then(|| Lag {
        standing,
        application: app.app.clone(),
        environment: env.to_string(),
        version: own_version.clone(),
        upstream: upstream.to_string(),
        upstream_version: version.clone(),
    })
}

/// Every lag, applications in order, environments in graph order.
pub fn lags(graph: &EnvGraph, apps: &[AppStatus]) -> Vec<Lag> {
    apps.iter().flat_map(|app| graph.topological_order().iter().filter_map(move |env| lag(graph, app, env))).collect()
}

#[derive(Serialize)]
struct GraphNode<'a> {
    name: &'a str,
    upstreams: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    require: Option<Require>,
}

#[derive(Serialize)]
struct StatusDocument<'a> {
    schema_version: u32,
    /// Environment names, upstreams before downstreams.
    environments: &'a [String],
    /// Each environment's upstreams (and, for fan-in, what it requires), in the same order.
    graph: Vec<GraphNode<'a>>,
    applications: &'a [AppStatus],
    lagging: Vec<Lag>,
    /// Environments whose version arrived by a promotion the rules in force do not trust.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    untrusted: Vec<Untrusted<'a>>,
}

/// An environment whose version arrived by an untrusted promotion.
#[derive(Serialize)]
struct Untrusted<'a> {
    app: &'a str,
    environment: &'a str,
    commit: &'a str,
    reason: String,
}

/// Every environment whose version arrived by an untrusted promotion, in status order.
fn untrusted(apps: &[AppStatus]) -> Vec<Untrusted<'_>> {
    let mut found = Vec::new();
    for app in apps {
        for (env, cell) in &app.environments {
            if let (Some(trust @ Trust::Untrusted { .. }), Some(commit)) = (&cell.trust, &cell.commit) {
                found.push(Untrusted { app: &app.app, environment: env, commit, reason: trust.reasons().join("; ") });
            }
        }
    }
    found
}

/// `tollgate status` in `format`.
pub fn status(graph: &EnvGraph, apps: &[AppStatus], format: StatusFormat) -> String {
    match format {
        StatusFormat::Json => to_json(&StatusDocument {
            schema_version: JSON_SCHEMA_VERSION,
            environments: graph.topological_order(),
            graph: graph
                .topological_order()
                .iter()
                .map(|env| GraphNode {
                    name: env,
                    upstreams: graph.upstreams(env),
                    require: (graph.upstreams(env).len() > 1).then(|| graph.require(env)),
                })
                .collect(),
            applications: apps,
            lagging: lags(graph, apps),
            untrusted: untrusted(apps),
        }),
        StatusFormat::Text => text(graph, apps),
        StatusFormat::Mermaid => mermaid(graph, apps, None),
    }
}

fn text(graph: &EnvGraph, apps: &[AppStatus]) -> String {
    let order = graph.topological_order();
    let cells = || apps.iter().flat_map(|app| app.environments.values());
    // Columns as wide as their widest entry, so any name length stays aligned.
    let env_width = order.iter().map(|env| line(env).chars().count()).max().unwrap_or(0).max(10);
    let version_width = cells().filter_map(|cell| cell.version.as_deref()).map(|v| line(v).chars().count()).max().unwrap_or(0).max(12);
    let digest_width = cells().filter_map(|cell| cell.digest.as_deref()).map(|d| short_digest(d).chars().count()).max().unwrap_or(0).max(14);
    let mut out = String::new();
    for app in apps {
        let _ = writeln!(out, "{}", line(&app.app));
        for env in order {
            let Some(cell) = app.environments.get(env) else {
                let _ = writeln!(out, "  {env:<env_width$} (not configured)");
                continue;
            };
            if let Some(error) = &cell.error {
                let _ = writeln!(out, "  {env:<env_width$} error: {}", line(error));
                continue;
            }
            let digest = cell.digest.as_deref().map(short_digest).unwrap_or_else(|| "-".to_string());
            let mut when = match (cell.since, &cell.by) {
                (Some(since), Some(by)) => format!("since {} by {by}", format_time(since)),
                _ if cell.unrecorded_change => "UNRECORDED CHANGE: not a verified tollgate promotion (see tollgate history)".to_string(),
                _ => "(not promoted by tollgate)".to_string(),
            };
            when.push_str(&super::bypass_marks(cell.requested_at, &cell.labels));
            if matches!(cell.trust, Some(Trust::Unsigned { .. })) {
                when.push_str(" (unsigned record)");
            }
            if let Some(health) = &cell.health {
                when.push_str(&format!("  [{}]", health_words(health)));
            }
            if let Some(lag) = lag(graph, app, env) {
                when.push_str(&format!("  [{} {}: {}]", lag.mark(), lag.upstream, lag.upstream_version));
            }
            let version = cell.version.as_deref().unwrap_or("-");
            let row = format!("  {env:<env_width$} {version:<version_width$} {digest:<digest_width$} {when}");
            let _ = writeln!(out, "{}", line(&row));
            out.push_str(&artifact_rows(&cell.artifacts, env_width));
        }
    }
    for found in untrusted(apps) {
        let _ = writeln!(out, "{}", line(&format!("UNTRUSTED: {} in {} arrived by {}: {}", found.app, found.environment, &found.commit[..12.min(found.commit.len())], found.reason)));
    }
    out
}

/// One row per artifact of a multi-artifact application's cell, under it: name, kind, version
/// and digest (or why it could not be read).
fn artifact_rows(artifacts: &[ArtifactStatus], env_width: usize) -> String {
    let name_width = artifacts.iter().map(|artifact| line(&artifact.name).chars().count()).max().unwrap_or(0);
    let version_width = artifacts.iter().filter_map(|artifact| artifact.version.as_deref()).map(|v| line(v).chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for artifact in artifacts {
        let what = match (&artifact.error, &artifact.version) {
            (Some(error), _) => format!("error: {error}"),
            (None, version) => {
                let digest = artifact.digest.as_deref().map(short_digest).unwrap_or_else(|| "-".to_string());
                format!("{:<version_width$} {digest}", version.as_deref().unwrap_or("-"))
            }
        };
        let row = format!("  {:env_width$}   {:<name_width$} {:<12} {what}", "", artifact.name, artifact.kind.word());
        let _ = writeln!(out, "{}", line(row.trim_end()));
    }
    out
}

/// The pipeline as a Mermaid flowchart: one node per environment (its name, each
/// application's version, lagging ones marked), edges from upstreams. With `transition`
/// (`from`, `to`, version), that edge is drawn thick and labelled and the target highlighted:
/// the picture in a plan's GitHub step summary. Every label is escaped ([`label`]); node ids
/// are generated, never taken from names.
pub fn mermaid(graph: &EnvGraph, apps: &[AppStatus], transition: Option<(Option<&str>, &str, &str)>) -> String {
    let order = graph.topological_order();
    let id = |env: &str| order.iter().position(|e| e == env).map_or_else(|| "unknown".to_string(), |index| format!("e{index}"));
    let mut out = String::from("flowchart LR\n");
    for env in order {
        let mut text = label(env);
        if graph.upstreams(env).len() > 1 {
            text.push_str(&format!(" (require {})", if graph.require(env) == Require::Any { "any" } else { "all" }));
        }
        let mut lagging = false;
        for app in apps {
            let Some(cell) = app.environments.get(env) else { continue };
            let version = match (&cell.error, &cell.version) {
                (Some(_), _) => "error".to_string(),
                (None, Some(version)) => label(version),
                (None, None) => "-".to_string(),
            };
            text.push_str(&format!("<br/>{} {version}", label(&app.app)));
            if let Some(lag) = lag(graph, app, env) {
                lagging |= lag.standing != Standing::Ahead;
                text.push_str(&format!(" ({} {}: {})", lag.mark(), label(&lag.upstream), label(&lag.upstream_version)));
            }
        }
        let class = match transition {
            Some((_, to, _)) if to == env => ":::target",
            _ if lagging => ":::lagging",
            _ => "",
        };
        let _ = writeln!(out, "  {}[\"{text}\"]{class}", id(env));
    }
    for env in order {
        for upstream in graph.upstreams(env) {
            match transition {
                Some((Some(from), to, version)) if from == upstream && to == env => {
                    let _ = writeln!(out, "  {} ==>|\"{}\"| {}", id(upstream), label(version), id(env));
                }
                _ => _ = writeln!(out, "  {} --> {}", id(upstream), id(env)),
            }
        }
    }
    // A picture has no place for prose; untrusted arrivals go in Mermaid comments.
    for found in untrusted(apps) {
        let commit = &found.commit[..12.min(found.commit.len())];
        let _ = writeln!(out, "  %% UNTRUSTED: {} in {} arrived by {commit}: {}", label(found.app), label(found.environment), label(&found.reason));
    }
    out.push_str("  classDef lagging fill:#fff4e5,stroke:#d97706,stroke-width:2px\n");
    out.push_str("  classDef target fill:#e7f5ff,stroke:#1c7ed6,stroke-width:3px\n");
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::Environments;

    fn graph(yaml: &str) -> Environments {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn app(name: &str, versions: &[(&str, &str)]) -> AppStatus {
        let environments = versions
            .iter()
            .map(|(env, version)| (env.to_string(), EnvStatus { version: Some(version.to_string()), ..EnvStatus::default() }))
            .collect::<BTreeMap<_, _>>();
        AppStatus { app: name.to_string(), environments }
    }

    const FAN: &str = "- qa\n- { name: staging-eu, upstream: qa }\n- { name: staging-us, upstream: qa }\n\
        - { name: global, upstreams: [staging-eu, staging-us], require: any }\n- { name: audit, upstreams: [staging-eu, staging-us] }\n";

    #[test]
    fn lag_follows_the_fan_in_rule() {
        let envs = graph(FAN);
        let g = envs.graph();
        let shop = app("shop", &[("qa", "1.3.0"), ("staging-eu", "1.3.0"), ("staging-us", "1.2.0"), ("global", "1.2.0"), ("audit", "1.2.0")]);
        assert_eq!(lag(g, &shop, "staging-us").map(|l| (l.upstream, l.upstream_version)), Some(("qa".into(), "1.3.0".into())));
        assert!(lag(g, &shop, "staging-eu").is_none());
        // any: the newest upstream version.
        assert_eq!(lag(g, &shop, "global").map(|l| l.upstream), Some("staging-eu".into()));
        // all: the upstreams disagree, so nothing is ready for audit.
        assert!(lag(g, &shop, "audit").is_none());
        let lags = lags(g, &[shop]);
        assert_eq!(lags.iter().map(|l| l.environment.as_str()).collect::<Vec<_>>(), ["staging-us", "global"]);
    }

    #[test]
    fn text_columns_align_whatever_the_name_lengths() {
        let envs = graph("- qa\n- { name: a-very-long-environment-name, upstream: qa }\n");
        let apps = [app("shop", &[("qa", "1.0.0-with-a-long-suffix"), ("a-very-long-environment-name", "0.9.0")])];
        let text = status(envs.graph(), &apps, StatusFormat::Text);
        let rows: Vec<&str> = text.lines().skip(1).collect();
        let column = |row: &str, word: &str| row.find(word).unwrap();
        assert_eq!(column(rows[0], "1.0.0"), column(rows[1], "0.9.0"), "{text}");
        assert_eq!(column(rows[0], "(not"), column(rows[1], "(not"), "{text}");
        assert!(rows[1].ends_with("[behind qa: 1.0.0-with-a-long-suffix]"), "{text}");
        assert!(!rows[0].contains("behind"), "{text}");
    }

    #[test]
    fn json_carries_the_graph_and_the_lags() {
        let envs = graph(FAN);
        let apps = [app("shop", &[("qa", "1.3.0"), ("staging-eu", "1.2.0")])];
        let json: serde_json::Value = serde_json::from_str(&status(envs.graph(), &apps, StatusFormat::Json)).unwrap();
        assert_eq!(json["environments"], serde_json::json!(["qa", "staging-eu", "staging-us", "global", "audit"]));
        assert_eq!(json["graph"][3], serde_json::json!({ "name": "global", "upstreams": ["staging-eu", "staging-us"], "require": "any" }));
        assert_eq!(json["graph"][1], serde_json::json!({ "name": "staging-eu", "upstreams": ["qa"] }));
        assert_eq!(json["lagging"][0]["environment"], "staging-eu");
        assert_eq!(json["lagging"][0]["upstream_version"], "1.3.0");
    }

    #[test]
    fn mermaid_draws_nodes_edges_and_lags_with_every_label_escaped() {
        let envs = graph(FAN);
        let apps = [app("shop", &[("qa", "1.3.0\"]\n  click e0 href"), ("staging-eu", "1.2.0")])];
        let picture = status(envs.graph(), &apps, StatusFormat::Mermaid);
        assert!(picture.starts_with("flowchart LR\n  e0[\"qa<br/>shop 1.3.0#34;#93;#65533;  click e0 href\"]\n"), "{picture}");
        assert!(picture.contains("  e1[\"staging-eu<br/>shop 1.2.0 (differs from qa: 1.3.0#34;#93;#65533;  click e0 href)\"]:::lagging\n"), "{picture}");
        assert!(picture.contains("  e3[\"global (require any)\"]\n"), "{picture}");
        assert!(picture.contains("  e0 --> e1\n") && picture.contains("  e1 --> e3\n") && picture.contains("  e2 --> e4\n"), "{picture}");
        // Each node line is one line: nothing a version says can start another statement.
        assert_eq!(picture.lines().filter(|l| l.contains("click")).count(), 2, "{picture}");
        assert!(picture.lines().all(|l| !l.trim_start().starts_with("click")), "{picture}");
        let plan = mermaid(envs.graph(), &apps, Some((Some("qa"), "staging-eu", "1.3.0")));
        assert!(plan.contains("  e0 ==>|\"1.3.0\"| e1\n") && plan.contains("]:::target\n"), "{plan}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

        /// Whatever an application name or a version says, the picture has one statement per
        /// node and edge, each label stays inside its quotes, and nothing can end a Markdown
        /// code fence.
        #[test]
        fn mermaid_statements_are_fixed_whatever_the_labels(names in proptest::collection::vec(".{0,20}", 1..4), versions in proptest::collection::vec(".{0,20}", 9)) {
            let envs = graph(FAN);
            let order = envs.graph().topological_order().to_vec();
            let apps: Vec<AppStatus> = names
                .iter()
                .map(|name| {
                    let cells: Vec<(&str, &str)> = order.iter().zip(&versions).map(|(env, version)| (env.as_str(), version.as_str())).collect();
                    app(name, &cells)
                })
                .collect();
            let picture = mermaid(envs.graph(), &apps, Some((Some("qa"), "staging-eu", versions[0].as_str())));
            let lines: Vec<&str> = picture.lines().collect();
            // flowchart, 5 nodes, 6 edges, 2 class definitions.
            proptest::prop_assert_eq!(lines.len(), 1 + 5 + 6 + 2, "{}", picture);
            proptest::prop_assert!(!picture.contains('`'), "{}", picture);
            for (index, node) in lines[1..6].iter().enumerate() {
                let prefix = format!("  e{index}[\"");
                proptest::prop_assert!(node.starts_with(&prefix), "{}", node);
                let label = node[prefix.len()..].split("\"]").next().unwrap();
                let text = label.replace("<br/>", "");
                proptest::prop_assert!(!text.contains(['"', '<', '>', '[', ']', '`', '|']), "{}", node);
                let rest = &node[prefix.len() + label.len()..];
                proptest::prop_assert!(["\"]", "\"]:::lagging", "\"]:::target"].contains(&rest), "{}", node);
            }
            for edge in &lines[6..12] {
                let ok = edge.starts_with("  e") && (edge.contains(" --> e") || edge.contains(" ==>|\""));
                proptest::prop_assert!(ok, "{}", edge);
                proptest::prop_assert_eq!(edge.matches('"').count(), if edge.contains("==>") { 2 } else { 0 }, "{}", edge);
            }
        }
    }
}
