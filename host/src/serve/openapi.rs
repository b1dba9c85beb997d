//! The OpenAPI 3.1 document of every endpoint (`GET /v1/openapi.json`).

use serde_json::{Value, json};

/// The request body of `/v1/plan` and `/v1/promote`: the flags of `tollgate plan`.
fn plan_body() -> Value {
    let strings = json!({ "oneOf": [{ "type": "string" }, { "type": "array", "items": { "type": "string" } }] });
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["to"],
        "properties": {
            "app": { "description": "Application(s), by name or glob (--app).", "oneOf": strings["oneOf"] },
            "all": { "type": "boolean", "description": "Every configured application (--all)." },
            "to": { "description": "Target environment(s), by name or glob (--to).", "oneOf": strings["oneOf"] },
            "from": { "type": "string", "description": "Source environment (--from)." },
            "version": { "description": "Version, or NAME=VERSION per artifact (--version).", "oneOf": strings["oneOf"] },
            "digest": { "type": "string", "description": "sha256:<64 hex> of a root environment's version (--digest)." },
            "no_digest": { "type": "boolean", "description": "Clear a root environment's digest (--no-digest)." },
            "latest": { "type": "boolean", "description": "Take the newest version the application's registry offers, with its digest (--latest)." },
            "actor": { "type": "string", "description": "Who requests it: a login, or Name <email> (--actor)." },
            "approvals": { "type": "array", "items": { "type": "string" }, "description": "NAME, NAME@VERSION or NAME@VERSION:GROUP each (--approval)." },
            "labels": { "type": "object", "additionalProperties": { "type": "string" }, "description": "KEY: VALUE (--label)." },
            "at": { "type": "string", "format": "date-time", "description": "Decide as if at this time (--at); promote only within 5 minutes of now unless the configuration sets allow_requested_at." }
        }
    })
}

fn decision_document() -> Value {
    json!({
        "type": "object",
        "description": "The document `tollgate plan -o json` prints: one decision, or (several targets, globs, release trains) the whole call with `transitions`.",
        "required": ["decision", "outcome", "summary"],
        "properties": {
            "decision": { "enum": ["allow", "deny", "error"] },
            "decision_id": { "type": "string" },
            "outcome": { "enum": ["allowed", "denied", "failed", "no-op"] },
            "summary": { "type": "string" },
            "committed": { "type": ["string", "null"] },
            "pushed": { "type": "object" },
            "transitions": { "type": "array", "items": { "type": "object" } }
        }
    })
}

fn error_document() -> Value {
    json!({
        "type": "object",
        "required": ["decision", "error"],
        "properties": {
            "decision": { "const": "error" },
            "error": { "type": "string" },
            "summary": { "type": "string" },
            "exit_code": { "type": "integer", "description": "The exit code the command would have ended with." }
        }
    })
}

fn answers(ok: &str, ok_schema: Value, more: &[(&str, &str)]) -> Value {
    let mut responses = json!({ "200": { "description": ok, "content": { "application/json": { "schema": ok_schema } } } });
    let error = |description: &str| json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    for (status, description) in [("401", "no or a wrong bearer token"), ("503", "too many requests under way; see Retry-After"), ("504", "no answer within the deadline")]
        .iter()
        .chain(more)
    {
        responses[*status] = error(description);
    }
    responses
}

/// A dashboard page: HTML, or (without a token or session) a redirect to /login.
fn html() -> Value {
    json!({ "200": { "description": "HTML", "content": { "text/html": {} } }, "303": { "description": "to /login, without a token or session" } })
}

/// The document.
pub fn document() -> Value {
    let decision = json!({ "$ref": "#/components/schemas/Decision" });
    let body = json!({ "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/PlanRequest" } } } });
    let bad = [("400", "bad JSON (naming the field) or a request the configuration refuses"), ("413", "body over 1 MiB")];
    json!({
        "openapi": "3.1.0",
        "info": { "title": "tollgate", "version": env!("CARGO_PKG_VERSION"), "description": "Policy decisions for GitOps promotions, on the same pipeline as the tollgate command line." },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": { "PlanRequest": plan_body(), "Decision": decision_document(), "Error": error_document() }
        },
        "security": [{ "bearer": [] }],
        "paths": {
            "/v1/plan": { "post": { "summary": "Decide a promotion without committing (tollgate plan -o json).", "requestBody": body, "responses": answers("the decision", decision.clone(), &bad) } },
            "/v1/promote": { "post": {
                "summary": "Decide, commit with the decision record and push (tollgate promote --push -o json); only with --allow-promote.",
                "requestBody": body,
                "responses": answers("the decision, with `committed` and `pushed` when allowed", decision, &[bad[0], bad[1], ("403", "the server runs without --allow-promote"), ("409", "the branch kept moving, or the push was refused")])
            } },
            "/v1/check": { "post": {
                "summary": "Judge a proposed commit or range as the promotions it contains (tollgate check-proposal -o json).",
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "additionalProperties": false, "required": ["commit"],
                    "properties": {
                        "commit": { "type": "string", "description": "The proposed commit, or BASE..HEAD." },
                        "base": { "type": "string", "description": "Judge base..commit." },
                        "actor": { "type": "string", "description": "Who requests it; else each commit's author, labelled requester-unverified." },
                        "branch": { "type": "string", "description": "The environment branch it is to land on (locations with a branch of their own, as GitOps Promoter keeps them): one commit is judged as what it brings to that branch's tip." }
                    }
                } } } },
                "responses": answers("every transition with its decision, and `decision` for the whole", json!({ "type": "object", "required": ["decision", "summary", "transitions"] }), &bad)
            } },
            "/v1/status": { "get": { "summary": "Every application in every environment (tollgate status -o json).", "responses": answers("the status", json!({ "type": "object" }), &[]) } },
            "/v1/history": { "get": {
                "summary": "The promotion log (tollgate history -o json).",
                "parameters": [
                    { "name": "app", "in": "query", "schema": { "type": "string" } },
                    { "name": "env", "in": "query", "schema": { "type": "string" } },
                    { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 0, "default": 1000 }, "description": "0: all" }
                ],
                "responses": answers("the entries, newest first", json!({ "type": "array" }), &[("400", "a bad query")])
            } },
            "/v1/verify/{commit}": { "get": {
                "summary": "Verify a promotion commit (tollgate verify COMMIT -o json), or judge a range BASE..HEAD as the branch guard (tollgate verify BASE..HEAD [--branch NAME] -o json).",
                "parameters": [
                    { "name": "commit", "in": "path", "required": true, "schema": { "type": "string" } },
                    { "name": "branch", "in": "query", "schema": { "type": "string" }, "description": "With BASE..HEAD: the branch the range lands on. An environment branch of its own (a location's branch:) is judged by the protected branch's rules." }
                ],
                "responses": answers("the verification (its `reproduced` and trust say whether it verified), or for a range every commit's verdict", json!({ "type": "object" }), &[("400", "not a revision of the repository, a bad query, or branch without a range")])
            } },
            "/v1/refresh": { "post": {
                "summary": "Fetch a remote repository now: signed by the forge's webhook (X-Hub-Signature-256) or with a bearer token.",
                "security": [{ "bearer": [] }, {}],
                "parameters": [{ "name": "X-Hub-Signature-256", "in": "header", "schema": { "type": "string" }, "description": "sha256=HMAC-SHA256 of the body with the webhook secret" }],
                "responses": answers("whether a fetch ran", json!({ "type": "object", "properties": { "fetched": { "type": "boolean" } } }), &[])
            } },
            "/v1/openapi.json": { "get": { "summary": "This document.", "responses": { "200": { "description": "OpenAPI 3.1" } } } },
            "/healthz": { "get": { "summary": "Liveness and readiness; no token.", "security": [], "responses": { "200": { "description": "ok", "content": { "text/plain": {} } } } } },
            "/metrics": { "get": { "summary": "Prometheus metrics (the API tokens, or --metrics-token-file).", "responses": { "200": { "description": "text format 0.0.4", "content": { "text/plain": {} } } } } },
            "/": { "get": { "summary": "The dashboard: the application x environment matrix, the environment graph, the decisions answered.", "responses": html() } },
            "/promotion/{commit}": { "get": {
                "summary": "The dashboard's page of one promotion: who, when, approvals, every policy's verdict and findings, the diff, verify status.",
                "parameters": [{ "name": "commit", "in": "path", "required": true, "schema": { "type": "string", "pattern": "^[0-9a-f]{4,64}$" } }],
                "responses": html()
            } },
            "/history": { "get": {
                "summary": "The dashboard's history timeline.",
                "parameters": [
                    { "name": "app", "in": "query", "schema": { "type": "string" } },
                    { "name": "env", "in": "query", "schema": { "type": "string" } },
                    { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 0, "default": 200 } }
                ],
                "responses": html()
            } },
            "/login": {
                "get": { "summary": "The dashboard's login form.", "security": [], "responses": html() },
                "post": {
                    "summary": "Log a browser in with an API token: sets the session cookie and redirects to /.",
                    "security": [],
                    "requestBody": { "content": { "application/x-www-form-urlencoded": { "schema": { "type": "object", "required": ["token"], "properties": { "token": { "type": "string" } } } } } },
                    "responses": { "303": { "description": "logged in" }, "401": { "description": "not one of the tokens" } }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_route_of_the_router_is_described() {
        let document = super::document();
        for path in ["/v1/plan", "/v1/promote", "/v1/check", "/v1/status", "/v1/history", "/v1/verify/{commit}", "/v1/refresh", "/v1/openapi.json", "/healthz", "/metrics", "/", "/promotion/{commit}", "/history", "/login"] {
            assert!(document["paths"][path].is_object(), "{path} is not described");
        }
    }
}
