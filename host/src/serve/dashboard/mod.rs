//! The dashboard: server-rendered HTML (minijinja, every value HTML-escaped by default; no
//! script, font or style from elsewhere, so it works air-gapped). `/` is the application ×
//! environment matrix with the environment graph as SVG and the decisions this server
//! answered; `/promotion/{commit}` one promotion (who, when, approvals, every policy's
//! verdict and findings, the diff, whether it verifies); `/history` the timeline, filtered;
//! `/login` takes an API token and sets a session cookie for the browser.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::{Form, Path as UrlPath, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::{Environment, context};
use serde::{Deserialize, Serialize};

use super::state::AppState;
use super::body::ApiError;
use super::guard::{SESSION_COOKIE, bearer_allowed, session_allowed, session_value, token_matches};
use crate::exit::Failure;
use crate::promotion::history::Entry;
use crate::promotion::workspace::Workspace;
use crate::report::format_time;

pub mod view;

use view::{PolicyView, drawing, matrix, trust_word};

/// Most bytes of a promotion's diff shown.
const MAX_DIFF_BYTES: usize = 256 * 1024;

/// The dashboard's routes: its pages need a bearer token or the session cookie `/login`
/// sets (a browser sends no bearer token); without one they lead to `/login`.
pub fn routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(index))
        .route("/promotion/{commit}", get(promotion))
        .route("/history", get(history))
        .route_layer(middleware::from_fn_with_state(state, require_login))
        .route("/login", get(login_page).post(login))
}

async fn require_login(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    if bearer_allowed(state.tokens.as_deref(), headers) || session_allowed(state.tokens.as_deref(), headers) {
        next.run(request).await
    } else {
        Redirect::to("/login").into_response()
    }
}

async fn login_page() -> Result<Response, ApiError> {
    render("login.html", context! { refused => false })
}

/// The login form's field.
#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

/// A token from `--token-file` logs the browser in: an HttpOnly, SameSite=Strict cookie
/// holding a digest of it (`Secure` over TLS).
async fn login(State(state): State<Arc<AppState>>, Form(form): Form<LoginForm>) -> Result<Response, ApiError> {
    let token = form.token.trim();
    let Some(tokens) = state.tokens.as_deref() else { return Ok(Redirect::to("/").into_response()) };
    if !token_matches(tokens, token) {
        let mut page = render("login.html", context! { refused => true })?;
        *page.status_mut() = StatusCode::UNAUTHORIZED;
        return Ok(page);
    }
    let secure = if state.tls { "; Secure" } else { "" };
    let cookie = format!("{SESSION_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/{secure}", session_value(token));
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response())
}

/// The templates, parsed once; `.html` names turn HTML escaping on for every value.
fn templates() -> &'static Environment<'static> {
    static TEMPLATES: OnceLock<Environment<'static>> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in [
            ("layout.html", include_str!("templates/layout.html")),
            ("index.html", include_str!("templates/index.html")),
            ("promotion.html", include_str!("templates/promotion.html")),
            ("history.html", include_str!("templates/history.html")),
            ("login.html", include_str!("templates/login.html")),
        ] {
            env.add_template(name, source).expect("the dashboard's templates parse");
        }
        env
    })
}

/// Serializable data as a template value.
fn data(value: &impl Serialize) -> minijinja::Value {
    minijinja::Value::from(minijinja::value::Serde(value))
}

fn render(name: &str, context: minijinja::Value) -> Result<Response, ApiError> {
    let html = templates().get_template(name).and_then(|template| template.render(context)).map_err(template_error)?;
    Ok(Html(html).into_response())
}

/// `/`: the matrix, the graph and the recent decisions.
async fn index(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let shared = Arc::clone(&state);
    // Rendered on the blocking thread too: the server's one async thread serves every connection.
    state
        .limits
        .run(move || {
            let workspace = shared.open()?;
            let apps = workspace.status()?;
            let graph = workspace.config.graph();
            let recent = shared.recent_decisions();
            render_index(&matrix(graph, &apps), graph.topological_order(), &drawing(graph), &recent).map(|html| Html(html).into_response()).map_err(template_error)
        })
        .await
}

/// The matrix page's HTML.
pub fn render_index(rows: &[view::Row], envs: &[String], graph: &view::Drawing, recent: &[view::RecentDecision]) -> Result<String, minijinja::Error> {
    let context = context! { rows => data(&rows), envs => data(&envs), graph => data(&graph), recent => data(&recent), node_width => view::NODE_WIDTH };
    templates().get_template("index.html").and_then(|template| template.render(context))
}

fn template_error(error: minijinja::Error) -> ApiError {
    ApiError::with_status(StatusCode::INTERNAL_SERVER_ERROR, format!("dashboard: {error}"))
}

/// One approval as the promotion page shows it.
#[derive(Serialize)]
struct ApprovalView {
    approver: String,
    version: String,
    group: Option<String>,
    signed: bool,
    /// Whether an enforce-mode policy counted it (the record's `approved_by`).
    counted: bool,
}

/// `/promotion/{commit}`.
async fn promotion(State(state): State<Arc<AppState>>, UrlPath(commit): UrlPath<String>) -> Result<Response, ApiError> {
    if commit.len() > 64 || !commit.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request(format!("promotion {:?}: name a commit by its hexadecimal id", commit.chars().take(80).collect::<String>())));
    }
    let shared = Arc::clone(&state);
    state.limits.run(move || render("promotion.html", promotion_page(&*shared.open()?, &commit).map_err(ApiError::from)?)).await
}

fn promotion_page(workspace: &Workspace, commit: &str) -> Result<minijinja::Value, Failure> {
    let oid = workspace
        .repo
        .git()
        .revparse_single(commit)
        .and_then(|object| object.peel_to_commit())
        .map_err(|_| Failure::bad_input(format!("{commit} is not a commit of this repository")))?
        .id();
    let record = crate::promotion::claim::read_record(&workspace.repo, oid).map_err(Failure::bad_input)?;
    let entry = workspace.history()?.into_iter().find(|record| record.commit == oid.to_string());
    let verification = workspace.verify(&oid.to_string(), false).ok();
    let policies: Vec<PolicyView> = record.as_ref().map(|record| record.policies.iter().map(recorded_policy).collect()).unwrap_or_default();
    let approvals: Vec<ApprovalView> = record
        .as_ref()
        .map(|record| {
            let approved_by = record.approved_by();
            record
                .transition
                .approvals
                .iter()
                .map(|approval| ApprovalView {
                    counted: approved_by.contains(&approval.approver),
                    approver: approval.approver.clone(),
                    version: approval.version.clone(),
                    group: approval.group.clone(),
                    signed: approval.signed.is_some(),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(context! {
        commit => oid.to_string(),
        transition => data(&record.as_ref().map(|record| &record.transition)),
        time => entry.as_ref().map(|entry| format_time(entry.time)),
        trust => entry.as_ref().map(|entry| trust_word(&entry.trust)),
        problems => entry.as_ref().map(|entry| entry.problems.clone()).unwrap_or_default(),
        approvals => data(&approvals),
        policies => data(&policies),
        verified => verification.as_ref().map(|verification| verification.reproduced && verification.trust.counts()),
        verify_problems => verification.as_ref().map(|verification| verification.problems.clone()).unwrap_or_default(),
        diff => commit_diff(workspace, oid),
    })
}

/// A recorded policy outcome (`{"outcome": "verdict", "decision", "findings"}` or
/// `{"outcome": "failed", "cause"}`) as the dashboard shows it.
fn recorded_policy(policy: &crate::promotion::record::RecordedPolicy) -> PolicyView {
    let outcome = &policy.outcome;
    let text = |value: &serde_json::Value| value.as_str().unwrap_or_default().to_string();
    let failed = outcome["outcome"] == "failed";
    let verdict = if failed { "failed".to_string() } else { text(&outcome["decision"]) };
    let findings = if failed {
        vec![text(&outcome["cause"])]
    } else {
        outcome["findings"]
            .as_array()
            .map(|findings| {
                findings
                    .iter()
                    .map(|finding| match finding["path"].as_str() {
                        Some(path) => format!("{path}: {}", text(&finding["message"])),
                        None => text(&finding["message"]),
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let enforce = matches!(policy.mode, crate::config::Mode::Enforce);
    PolicyView { blocks: enforce && verdict != "allow", verdict, name: policy.name.clone(), findings }
}

/// The commit's changes to the repository's files (decision records left out), as a
/// unified diff, cut at [`MAX_DIFF_BYTES`].
fn commit_diff(workspace: &Workspace, oid: git2::Oid) -> String {
    let git = workspace.repo.git();
    let Ok(commit) = git.find_commit(oid) else { return String::new() };
    let parent = commit.parent(0).ok().and_then(|parent| parent.tree().ok());
    let Ok(diff) = commit.tree().and_then(|tree| git.diff_tree_to_tree(parent.as_ref(), Some(&tree), None)) else { return String::new() };
    let mut text = String::new();
    let _ = diff.print(git2::DiffFormat::Patch, |delta, _, line| {
        let record = delta.new_file().path().is_some_and(|path| path.starts_with(crate::promotion::record::RECORD_DIR));
        if !record && text.len() < MAX_DIFF_BYTES {
            if matches!(line.origin(), '+' | '-' | ' ') {
                text.push(line.origin());
            }
            text.push_str(&String::from_utf8_lossy(line.content()));
        }
        true
    });
    if text.len() >= MAX_DIFF_BYTES {
        text.push_str("\n… (cut)\n");
    }
    text
}

/// The filters of `/history`.
#[derive(Debug, Deserialize)]
struct HistoryFilter {
    app: Option<String>,
    env: Option<String>,
    limit: Option<usize>,
}

/// One line of the timeline.
#[derive(Serialize)]
struct TimelineEntry {
    time: String,
    commit: String,
    kind: String,
    app: String,
    from: Option<String>,
    to: String,
    version: String,
    requested_by: String,
    approved_by: Vec<String>,
    trust: &'static str,
    problems: Vec<String>,
}

/// `/history?app=&env=&limit=`.
async fn history(State(state): State<Arc<AppState>>, Query(filter): Query<HistoryFilter>) -> Result<Response, ApiError> {
    let app = filter.app.filter(|app| !app.is_empty());
    let env = filter.env.filter(|env| !env.is_empty());
    let limit = filter.limit.unwrap_or(200);
    let shared = Arc::clone(&state);
    let (selected_app, selected_env) = (app.clone(), env.clone());
    state
        .limits
        .run(move || {
            let workspace = shared.open()?;
            let entries: Vec<TimelineEntry> = workspace
                .history_page(app.as_deref(), env.as_deref(), limit)?
                .into_iter()
                .filter_map(|entry| match entry {
                    Entry::Promotion(record) => Some(TimelineEntry {
                        time: format_time(record.time),
                        kind: format!("{:?}", record.kind).to_lowercase(),
                        trust: trust_word(&record.trust),
                        commit: record.commit,
                        app: record.app,
                        from: record.from,
                        to: record.to,
                        version: record.version,
                        requested_by: record.requested_by,
                        approved_by: record.approved_by,
                        problems: record.problems,
                    }),
                    Entry::Configuration(_) | Entry::Health(_) => None,
                })
                .collect();
            let apps: Vec<String> = workspace.config.applications.keys().cloned().collect();
            let envs = workspace.config.graph().topological_order().to_vec();
            render("history.html", context! { entries => data(&entries), apps, envs, selected_app, selected_env, limit })
        })
        .await
}
