//! What the dashboard's templates show, made from the status, history and decision data
//! (never from rendered output): the matrix's cells with their marks, the environment graph
//! laid out for SVG, and the decisions this server answered.

use serde::Serialize;

use crate::config::EnvGraph;
use crate::decision::PolicyOutcome;
use crate::promotion::pipeline::Decided;
use crate::promotion::status::AppStatus;
use crate::promotion::verified::Trust;
use crate::report::matrix::lag;
use crate::report::{format_time, short_digest};

/// One row of the matrix.
#[derive(Serialize)]
pub struct Row {
    /// Application.
    pub app: String,
    /// Its cells, in graph order.
    pub cells: Vec<Cell>,
}

/// One application in one environment.
#[derive(Serialize, Default)]
pub struct Cell {
    /// Environment.
    pub env: String,
    /// Version, when the file holds one.
    pub version: Option<String>,
    /// The digest, shortened.
    pub digest: Option<String>,
    /// The promotion commit that brought it.
    pub commit: Option<String>,
    /// Who promoted it and when.
    pub by: Option<String>,
    /// When, as text.
    pub since: Option<String>,
    /// `behind test (1.4.2)` and the like.
    pub lag: Option<String>,
    /// `verified`, `unsigned`, `untrusted`, or none.
    pub trust: Option<&'static str>,
    /// The version did not arrive by a tollgate promotion.
    pub unrecorded: bool,
    /// What `tollgate watch` last recorded of the promotion (`healthy since …`, `failed its
    /// health check: …`), and whether it failed.
    pub health: Option<String>,
    /// Whether that health check failed.
    pub health_failed: bool,
    /// Why the version could not be read.
    pub error: Option<String>,
    /// For a multi-artifact application, each artifact as `NAME VERSION` (`NAME error` when
    /// unreadable).
    pub artifacts: Vec<String>,
}

/// The matrix: applications × environments in graph order.
pub fn matrix(graph: &EnvGraph, apps: &[AppStatus]) -> Vec<Row> {
    apps.iter()
        .map(|app| Row {
            app: app.app.clone(),
            cells: graph
                .topological_order()
                .iter()
                .map(|env| match app.environments.get(env) {
                    None => Cell { env: env.clone(), ..Cell::default() },
                    Some(status) => Cell {
                        env: env.clone(),
                        version: status.version.clone(),
                        digest: status.digest.as_deref().map(short_digest),
                        commit: status.commit.clone(),
                        by: status.by.clone(),
                        since: status.since.map(format_time),
                        lag: lag(graph, app, env).map(|lag| format!("{} {} ({})", lag.mark(), lag.upstream, lag.upstream_version)),
                        trust: status.trust.as_ref().map(trust_word),
                        unrecorded: status.unrecorded_change,
                        health: status.health.as_ref().map(crate::report::matrix::health_words),
                        health_failed: status.health.as_ref().is_some_and(|health| health.reason.is_some()),
                        error: status.error.clone(),
                        artifacts: status
                            .artifacts
                            .iter()
                            .map(|artifact| format!("{} {}", artifact.name, artifact.version.as_deref().unwrap_or("error")))
                            .collect(),
                    },
                })
                .collect(),
        })
        .collect()
}

/// The word for what a promotion is worth.
pub fn trust_word(trust: &Trust) -> &'static str {
    match trust {
        Trust::Verified { .. } => "verified",
        Trust::Unsigned { .. } => "unsigned",
        Trust::Untrusted { .. } => "untrusted",
        Trust::Unrecorded { .. } => "unrecorded",
    }
}

/// An environment placed for drawing.
#[derive(Serialize)]
pub struct Node {
    /// Name.
    pub name: String,
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
}

/// An edge from an upstream's right side to an environment's left side.
#[derive(Serialize)]
pub struct Edge {
    /// Start.
    pub x1: u32,
    /// Start.
    pub y1: u32,
    /// End.
    pub x2: u32,
    /// End.
    pub y2: u32,
}

/// The environment graph laid out in columns: each environment one column right of its
/// furthest upstream, stacked in graph order within a column.
#[derive(Serialize)]
pub struct Drawing {
    /// Environments.
    pub nodes: Vec<Node>,
    /// Upstream edges.
    pub edges: Vec<Edge>,
    /// Canvas width.
    pub width: u32,
    /// Canvas height.
    pub height: u32,
}

/// Node box size and spacing, in SVG units.
pub const NODE_WIDTH: u32 = 120;
const NODE_HEIGHT: u32 = 36;
const COLUMN: u32 = 170;
const ROW: u32 = 56;
const MARGIN: u32 = 10;

/// Lay `graph` out.
pub fn drawing(graph: &EnvGraph) -> Drawing {
    let order = graph.topological_order();
    let mut column: Vec<u32> = Vec::with_capacity(order.len());
    let mut row_in_column: Vec<u32> = Vec::new();
    let mut nodes = Vec::with_capacity(order.len());
    for env in order {
        // Upstreams come first in topological order, so their columns are known.
        let depth = graph
            .upstreams(env)
            .iter()
            .filter_map(|upstream| order.iter().position(|name| name == upstream).map(|index| column[index] + 1))
            .max()
            .unwrap_or(0);
        column.push(depth);
        if row_in_column.len() <= depth as usize {
            row_in_column.resize(depth as usize + 1, 0);
        }
        let row = row_in_column[depth as usize];
        row_in_column[depth as usize] += 1;
        nodes.push(Node { name: env.clone(), x: MARGIN + depth * COLUMN, y: MARGIN + row * ROW });
    }
    let mut edges = Vec::new();
    for (index, env) in order.iter().enumerate() {
        for upstream in graph.upstreams(env) {
            if let Some(from) = order.iter().position(|name| name == upstream) {
                let (from, to) = (&nodes[from], &nodes[index]);
                edges.push(Edge { x1: from.x + NODE_WIDTH, y1: from.y + NODE_HEIGHT / 2, x2: to.x, y2: to.y + NODE_HEIGHT / 2 });
            }
        }
    }
    let width = nodes.iter().map(|node| node.x + NODE_WIDTH + MARGIN).max().unwrap_or(MARGIN);
    let height = nodes.iter().map(|node| node.y + NODE_HEIGHT + MARGIN).max().unwrap_or(MARGIN);
    Drawing { nodes, edges, width, height }
}

/// One policy's verdict on one transition.
#[derive(Serialize, Clone)]
pub struct PolicyView {
    /// Policy name.
    pub name: String,
    /// `allow`, `deny`, `failed`, with the mode when it does not block.
    pub verdict: String,
    /// Whether it blocked the transition.
    pub blocks: bool,
    /// Findings, as `path: message` or the message.
    pub findings: Vec<String>,
}

/// The policies of a decision as the dashboard shows them.
pub fn policies(decided: &Decided) -> Vec<PolicyView> {
    decided
        .gate
        .policies
        .iter()
        .map(|run| PolicyView {
            name: run.name.clone(),
            verdict: run.verdict_label(),
            blocks: run.blocks(),
            findings: match &run.evaluation.outcome {
                PolicyOutcome::Failed { cause } => vec![cause.clone()],
                PolicyOutcome::Verdict(verdict) => verdict
                    .findings
                    .iter()
                    .map(|finding| match &finding.path {
                        Some(path) => format!("{path}: {}", finding.message),
                        None => finding.message.clone(),
                    })
                    .collect(),
            },
        })
        .collect()
}

/// A decision this server answered, for the dashboard's list of recent ones.
#[derive(Serialize, Clone)]
pub struct RecentDecision {
    /// When it was answered.
    pub time: String,
    /// Plan or promote.
    pub call: &'static str,
    /// Application.
    pub app: String,
    /// Source environment.
    pub from: Option<String>,
    /// Target environment.
    pub to: String,
    /// Version.
    pub version: String,
    /// Requester.
    pub requested_by: String,
    /// `allow`, `deny`, `error`.
    pub decision: &'static str,
    /// The closing line.
    pub summary: String,
    /// The commit made, when promoted.
    pub committed: Option<String>,
    /// Every policy's verdict.
    pub policies: Vec<PolicyView>,
}

impl RecentDecision {
    /// The entry of `decided`, answered by `call`.
    pub fn of(decided: &Decided, call: &'static str, committed: Option<&str>, dry_run: bool) -> Self {
        let t = &decided.plan.transition;
        RecentDecision {
            time: format_time(jiff::Timestamp::now().as_second()),
            call,
            app: t.application.clone(),
            from: t.from_env.clone(),
            to: t.to_env.clone(),
            version: t.artifact.version.clone(),
            requested_by: t.requested_by.clone(),
            decision: crate::report::decision::decision_word(decided.gate.outcome),
            summary: crate::report::decision::summary(decided, committed, dry_run),
            committed: committed.map(str::to_string),
            policies: policies(decided),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::graph::{EnvironmentEntry, Environments};
    use crate::promotion::health::HealthOutcome;
    use crate::promotion::status::{EnvStatus, HealthStatus};

    #[test]
    fn a_cell_shows_what_the_newest_health_record_says_and_never_calls_it_verified() {
        let environments = Environments::new(vec![EnvironmentEntry::Name("dev".into()), EnvironmentEntry::Name("prod".into())]);
        let graph = environments.graph();
        let health = |reason: Option<&str>| HealthStatus {
            outcome: if reason.is_some() { HealthOutcome::Failed } else { HealthOutcome::Healthy },
            since: 1_767_225_600,
            soaked_seconds: 300,
            reason: reason.map(str::to_string),
            commit: "c".repeat(40),
        };
        let cell = |health| EnvStatus { version: Some("1.0.0".into()), health, ..EnvStatus::default() };
        let app = AppStatus {
            app: "api".into(),
            environments: BTreeMap::from([
                ("dev".to_string(), cell(Some(health(None)))),
                ("prod".to_string(), cell(Some(health(Some("alert HighErrorRate fired\u{1b}[31m"))))),
            ]),
        };
        let rows = matrix(graph, &[app]);
        let (dev, prod) = (&rows[0].cells[0], &rows[0].cells[1]);
        assert!(dev.health.as_deref().is_some_and(|words| words.starts_with("healthy since 2026-01-01")), "{:?}", dev.health);
        assert!(!dev.health_failed);
        assert_eq!(prod.health.as_deref(), Some("failed its health check: alert HighErrorRate fired\\u{001B}[31m"));
        assert!(prod.health_failed);
        assert_eq!(dev.trust, None, "health is not trust");
    }
}
