//! The endpoints. Decisions answer the document `tollgate plan -o json` (or `promote`)
//! prints, status, history and verify the documents their commands print: the same
//! functions make them.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::body::{ApiError, PlanBody, json_response, json_text};
use super::guard::{bearer_allowed, unauthorized, webhook_signature_valid};
use super::state::AppState;
use super::MAX_BODY_BYTES;
use crate::report::{self, BasicFormat, OutputFormat, StatusFormat, VerifyFormat};

/// Every route: `/healthz` and `/v1/refresh` check their own credentials; every other one
/// needs a bearer token when the server has tokens.
pub fn router(state: Arc<AppState>) -> Router {
    let protected = Router::new()
        .route("/v1/plan", post(plan))
        .route("/v1/promote", post(promote))
        .route("/v1/check", post(check))
        .route("/v1/status", get(status))
        .route("/v1/history", get(history))
        .route("/v1/verify/{commit}", get(verify))
        .route("/v1/openapi.json", get(openapi))
        .route_layer(middleware::from_fn_with_state(Arc::clone(&state), require_token));
    Router::new()
        .merge(super::dashboard::routes(Arc::clone(&state)))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/v1/refresh", post(refresh))
        .merge(protected)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn require_token(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if bearer_allowed(state.tokens.as_deref(), request.headers()) {
        next.run(request).await
    } else {
        unauthorized().into_response()
    }
}

/// The body, or 413 past [`MAX_BODY_BYTES`].
fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::with_status(StatusCode::PAYLOAD_TOO_LARGE, format!("request body over {MAX_BODY_BYTES} bytes")),
        status => ApiError::with_status(status, format!("cannot read the request body: {}", rejection.body_text())),
    })
}

/// `POST /v1/plan`: `tollgate plan -o json`.
async fn plan(State(state): State<Arc<AppState>>, body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    decide(state, body_bytes(body)?, false).await
}

/// `POST /v1/promote`: `tollgate promote --push -o json`, with `--allow-promote`.
async fn promote(State(state): State<Arc<AppState>>, body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    if !state.allow_promote {
        return Err(ApiError::with_status(StatusCode::FORBIDDEN, "this server does not promote; start it with --allow-promote"));
    }
    decide(state, body_bytes(body)?, true).await
}

/// Plan (or promote and push) what `bytes` asks, on the pipeline every command runs.
async fn decide(state: Arc<AppState>, bytes: Bytes, promote: bool) -> Result<Response, ApiError> {
    let body = PlanBody::parse(&bytes)?;
    let shared = Arc::clone(&state);
    let text = state
        .limits
        .run(move || {
            // A fetch force-updates the mirror's branches: none may run between a promotion's
            // commit and its push, or the push would publish the remote's own tip.
            let _no_fetch = promote.then(|| shared.fetching.blocking_lock());
            let workspace = shared.open()?;
            let requests = shared.commands.plan_requests(&workspace, &body)?;
            let mut batch = if promote {
                workspace.promote_batch(&requests.requests, requests.train, None, Some("origin"))?
            } else {
                workspace.decide_batch(&requests.requests, requests.train)?
            };
            batch.skipped.splice(0..0, requests.skipped);
            let dry_run = !promote;
            shared.metrics.record(&batch.decided);
            shared.remember(&batch, if promote { "promote" } else { "plan" }, dry_run);
            shared.log(|| report::batch::log_lines(&batch, requests.single, dry_run));
            Ok(report::batch::render_call(&batch, requests.single, dry_run, OutputFormat::Json))
        })
        .await?;
    Ok(json_text(text))
}

/// The body of `/v1/check`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckBody {
    /// The proposed commit (or `BASE..HEAD`).
    commit: String,
    /// Where the proposal starts: judged is `base..commit`.
    #[serde(default)]
    base: Option<String>,
    /// Who requests it (else each commit's author, unverified).
    #[serde(default)]
    actor: Option<String>,
    /// The environment branch it is to land on (`check-proposal --branch`).
    #[serde(default)]
    branch: Option<String>,
}

/// `POST /v1/check`: `tollgate check-proposal -o json`.
async fn check(State(state): State<Arc<AppState>>, body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let body: CheckBody = super::body::parse_json(&body_bytes(body)?)?;
    for (field, revision) in [("commit", Some(&body.commit)), ("base", body.base.as_ref())] {
        if let Some(revision) = revision {
            crate::input::text(field, revision, 200).map_err(|error| ApiError::bad_request(error.to_string()))?;
            if revision.is_empty() || revision.starts_with('-') {
                return Err(ApiError::bad_request(format!("{field}: name a revision")));
            }
        }
    }
    let proposal = match &body.base {
        Some(base) => format!("{base}..{}", body.commit),
        None => body.commit.clone(),
    };
    let shared = Arc::clone(&state);
    let text = state
        .limits
        .run(move || {
            let workspace = shared.open()?;
            let transitions = workspace.check_proposal(&proposal, body.actor.as_deref(), body.branch.as_deref())?;
            let decided: Vec<_> = transitions.iter().filter_map(|transition| transition.decided.as_ref().ok()).collect();
            shared.metrics.record(decided.iter().copied());
            shared.log(|| decided.iter().map(|decided| report::decision::log_line(decided, None, true)).collect::<String>());
            Ok(report::proposal::render(&transitions, BasicFormat::Json))
        })
        .await?;
    Ok(json_text(text))
}

/// `GET /v1/status`: `tollgate status -o json`.
async fn status(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let shared = Arc::clone(&state);
    let text = state
        .limits
        .run(move || {
            let workspace = shared.open()?;
            let apps = workspace.status()?;
            Ok(report::status(workspace.config.graph(), &apps, StatusFormat::Json))
        })
        .await?;
    Ok(json_text(text))
}

/// The query of `/v1/history`, as `history`'s flags.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    app: Option<String>,
    env: Option<String>,
    limit: Option<usize>,
}

/// `GET /v1/history?app=&env=&limit=`: `tollgate history -o json`.
async fn history(State(state): State<Arc<AppState>>, query: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::bad_request(format!("query: {}", rejection.body_text())))?;
    let shared = Arc::clone(&state);
    let text = state
        .limits
        .run(move || {
            let workspace = shared.open()?;
            let records = workspace.history_page(query.app.as_deref(), query.env.as_deref(), query.limit.unwrap_or(1000))?;
            Ok(report::history(&records, BasicFormat::Json))
        })
        .await?;
    Ok(json_text(text))
}

/// The query of `/v1/verify`, as `verify`'s `--branch`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyQuery {
    branch: Option<String>,
}

/// `GET /v1/verify/{commit}[?branch=]`: `tollgate verify COMMIT -o json` (a range `BASE..HEAD`
/// as the branch guard judges it, on `branch` if given: `verify BASE..HEAD --branch`). The
/// status is 200 either way; the document says whether it verified.
async fn verify(
    State(state): State<Arc<AppState>>,
    UrlPath(commit): UrlPath<String>,
    query: Result<Query<VerifyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::bad_request(format!("query: {}", rejection.body_text())))?;
    crate::input::text("commit", &commit, 200).map_err(|error| ApiError::bad_request(error.to_string()))?;
    if commit.starts_with('-') {
        return Err(ApiError::bad_request(format!("commit {commit:?}: name a revision")));
    }
    if query.branch.is_some() && !commit.contains("..") {
        return Err(ApiError::bad_request("branch goes with a range BASE..HEAD (the branch guard); a commit's branch is found from its records".into()));
    }
    let shared = Arc::clone(&state);
    let text = state
        .limits
        .run(move || {
            if commit.contains("..") {
                let branch = query.branch.as_deref().map(|branch| ("branch", branch));
                let judged = crate::promotion::guard::guard_range(shared.repo.path(), &commit, branch, || shared.open())?;
                return Ok(report::guard(&commit, &judged, VerifyFormat::Json));
            }
            let workspace = shared.open()?;
            let verification = workspace.verify(&commit, false)?;
            Ok(report::verification(&verification, VerifyFormat::Json))
        })
        .await?;
    Ok(json_text(text))
}

/// `POST /v1/refresh`: fetch a remote repository now. A forge's webhook signs it with the
/// webhook secret (`X-Hub-Signature-256`); anyone else sends a bearer token.
async fn refresh(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let body = body_bytes(body)?;
    let signature = headers.get("x-hub-signature-256").and_then(|value| value.to_str().ok());
    let allowed = match (&state.webhook_secret, signature) {
        (Some(secret), Some(signature)) => webhook_signature_valid(secret, &body, signature),
        // A wrong signature is refused even with a token: it says the sender is a webhook.
        (None, Some(_)) => false,
        // Without tokens (loopback only), an unsigned request is refused when a secret is set.
        (_, None) => match &state.tokens {
            Some(tokens) => bearer_allowed(Some(tokens), &headers),
            None => state.webhook_secret.is_none(),
        },
    };
    if !allowed {
        return Err(ApiError::with_status(
            StatusCode::UNAUTHORIZED,
            "send a bearer token, or sign the body with the webhook secret (X-Hub-Signature-256: sha256=HMAC)",
        ));
    }
    let fetched = state.refresh().await?;
    Ok(json_response(&serde_json::json!({ "fetched": fetched })))
}

/// `GET /metrics`, in the Prometheus text format.
async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    if !bearer_allowed(state.metrics_tokens.as_deref(), &headers) {
        return Err(unauthorized());
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render(state.limits.in_flight())).into_response())
}

/// `GET /v1/openapi.json`.
async fn openapi() -> Response {
    json_response(&super::openapi::document())
}
