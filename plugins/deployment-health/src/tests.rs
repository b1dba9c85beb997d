use tollgate_sdk::host::HttpResponse;
use tollgate_sdk::testing::{self, transition};
use tollgate_sdk::{Transition, Verdict};

use crate::DeploymentHealth;

const ARGO: &str = "https://argocd.example.com/api/v1/applications/shop-api-staging";
const AM: &str = "http://alertmanager.example.com:9093";

fn fixture(name: &str) -> String {
    let path = format!("{}/../../tests/fixtures/argocd/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

fn shop_api() -> Transition {
    transition().application("shop-api").image("registry.example.com/shop/api").version("1.4.2").build()
}

fn eval(config: &str, t: &Transition) -> Verdict {
    testing::evaluate::<DeploymentHealth>(config, t).unwrap()
}

fn messages(verdict: &Verdict) -> Vec<String> {
    verdict.findings.iter().map(|finding| finding.message.clone()).collect()
}

const ARGO_ONLY: &str = r#"{"environments": {"prod": {"argocd": {"url": "https://argocd.example.com"}}}}"#;

fn alerts_url(env: &str) -> String {
    format!("{AM}/api/v2/alerts?active=true&silenced=false&inhibited=false&filter=env%3D%22{env}%22&filter=app%3D%22shop-api%22")
}

const AM_ONLY: &str = r#"{"environments": {"prod": {"alertmanager": {"url": "http://alertmanager.example.com:9093/"}}}}"#;

#[test]
fn a_healthy_synced_application_running_the_artifact_is_allowed() {
    testing::reset();
    testing::set_http_response(ARGO, HttpResponse::new(200, fixture("healthy.json")));
    let verdict = eval(ARGO_ONLY, &shop_api());
    assert!(verdict.is_allow(), "{verdict:?}");
    assert_eq!(
        messages(&verdict),
        ["Argo CD application shop-api-staging (staging) is Healthy and Synced and runs registry.example.com/shop/api:1.4.2"]
    );
    // The plugin asks for JSON and sends no credentials of its own: the host attaches them.
    let requests = testing::requests();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].1.iter().all(|(name, _)| !name.eq_ignore_ascii_case("authorization")), "{requests:?}");
}

#[test]
fn degraded_progressing_out_of_sync_and_other_images_are_denied() {
    for (file, expected) in [
        ("degraded.json", "is Degraded, not Healthy: Deployment \"shop-api\" exceeded its progress deadline"),
        ("progressing.json", "is Progressing, not Healthy: Waiting for rollout to finish"),
        ("out-of-sync.json", "is OutOfSync at revision f00dbabe0123456789abcdef0123456789abcdef, not Synced"),
        ("wrong-image.json", "runs registry.example.com/shop/api:1.4.1, not registry.example.com/shop/api:1.4.2"),
    ] {
        testing::reset();
        testing::set_http_response(ARGO, HttpResponse::new(200, fixture(file)));
        let verdict = eval(ARGO_ONLY, &shop_api());
        assert!(!verdict.is_allow(), "{file}: {verdict:?}");
        assert!(messages(&verdict).iter().any(|message| message.contains(expected)), "{file}: {verdict:?}");
    }
}

#[test]
fn argocd_answers_that_are_no_answer_fail_closed_naming_the_endpoint() {
    for (response, expected) in [
        (Ok(HttpResponse::new(401, fixture("unauthorized.json"))), "it answered HTTP 401: { \"error\": \"invalid session"),
        (Ok(HttpResponse::new(404, fixture("not-found.json"))), "Argo CD has no application shop-api-staging: check argocd.application"),
        (Ok(HttpResponse::new(502, "<html>Bad Gateway</html>")), "it answered HTTP 502: <html>Bad Gateway</html>"),
        (Ok(HttpResponse::new(200, "{\"status\": ")), "the answer is not an Argo CD Application (EOF while parsing"),
        (Err("timed out: no complete response within the policy's 2000 ms deadline"), "timed out"),
        (Err("connection refused"), "connection refused"),
    ] {
        testing::reset();
        match &response {
            Ok(response) => testing::set_http_response(ARGO, response.clone()),
            Err(message) => testing::set_http_error(ARGO, message),
        }
        let verdict = eval(ARGO_ONLY, &shop_api());
        assert!(!verdict.is_allow(), "{expected}: {verdict:?}");
        let message = &messages(&verdict)[0];
        assert!(message.starts_with(&format!("Argo CD application shop-api-staging (staging) could not be read from {ARGO}: ")), "{message}");
        assert!(message.contains(expected), "{message}");
    }
}

#[test]
fn the_application_name_template_uses_the_source_environment() {
    testing::reset();
    let url = "https://argocd.example.com/api/v1/applications/staging.shop-api";
    testing::set_http_response(url, HttpResponse::new(200, fixture("healthy.json")));
    let config = r#"{"default": {"argocd": {"url": "https://argocd.example.com", "application": "{env}.{app}"}}}"#;
    assert!(eval(config, &shop_api()).is_allow());
    assert_eq!(testing::requested_urls(), [url]);
}

#[test]
fn the_image_check_can_be_turned_off_and_digests_must_match() {
    testing::reset();
    testing::set_http_response(ARGO, HttpResponse::new(200, fixture("wrong-image.json")));
    let config = r#"{"default": {"argocd": {"url": "https://argocd.example.com", "require_image": false}}}"#;
    assert!(eval(config, &shop_api()).is_allow());
    // The running image has no digest; a pinned artifact matches by tag then.
    testing::set_http_response(ARGO, HttpResponse::new(200, fixture("healthy.json")));
    let pinned = transition().application("shop-api").image("registry.example.com/shop/api").version("1.4.2").digest("sha256:ab").build();
    assert!(eval(ARGO_ONLY, &pinned).is_allow());
}

fn alert(name: &str, env: &str, severity: &str, state: &str, silenced_by: &[&str]) -> serde_json::Value {
    serde_json::json!({
        "annotations": {"summary": "x"},
        "endsAt": "2026-01-05T10:04:00.000Z",
        "fingerprint": "4e0ce8f4b0c3e2f1",
        "receivers": [{"name": "null"}],
        "startsAt": "2026-01-05T09:12:00.000Z",
        "status": {"inhibitedBy": [], "silencedBy": silenced_by, "state": state},
        "updatedAt": "2026-01-05T09:59:00.000Z",
        "generatorURL": "http://prometheus.example.com/graph",
        "labels": {"alertname": name, "app": "shop-api", "env": env, "severity": severity}
    })
}

#[test]
fn a_firing_alert_in_the_source_environment_is_denied_and_named() {
    testing::reset();
    let body = serde_json::json!([alert("HighErrorRate", "staging", "critical", "active", &[])]).to_string();
    testing::set_http_response(&alerts_url("staging"), HttpResponse::new(200, body));
    let verdict = eval(AM_ONLY, &shop_api());
    assert!(!verdict.is_allow());
    assert_eq!(
        messages(&verdict),
        [format!(
            "staging: alert HighErrorRate firing since 2026-01-05T09:12:00.000Z {{app=\"shop-api\", env=\"staging\", severity=\"critical\"}} (Alertmanager at {AM})"
        )]
    );
}

#[test]
fn no_alerts_or_only_silenced_ones_allow() {
    testing::reset();
    testing::set_http_response(&alerts_url("staging"), HttpResponse::new(200, "[]"));
    let verdict = eval(AM_ONLY, &shop_api());
    assert!(verdict.is_allow());
    assert_eq!(messages(&verdict), [format!("no active, unsilenced alert in staging matches env=\"staging\", app=\"shop-api\" (Alertmanager at {AM})")]);
    // A server that ignored silenced=false: the state is checked here too.
    let body = serde_json::json!([alert("HighErrorRate", "staging", "critical", "suppressed", &["7f3c"])]).to_string();
    testing::set_http_response(&alerts_url("staging"), HttpResponse::new(200, body));
    assert!(eval(AM_ONLY, &shop_api()).is_allow());
}

#[test]
fn source_and_target_can_both_be_checked() {
    testing::reset();
    testing::set_http_response(&alerts_url("staging"), HttpResponse::new(200, "[]"));
    let body = serde_json::json!([alert("PodCrashLooping", "prod", "warning", "active", &[])]).to_string();
    testing::set_http_response(&alerts_url("prod"), HttpResponse::new(200, body));
    let config = r#"{"environments": {"prod": {"alertmanager": {"url": "http://alertmanager.example.com:9093", "check": ["source", "target"]}}}}"#;
    let verdict = eval(config, &shop_api());
    assert!(!verdict.is_allow());
    assert!(messages(&verdict)[0].starts_with("prod: alert PodCrashLooping firing since"), "{verdict:?}");
    assert_eq!(testing::requested_urls(), [alerts_url("staging"), alerts_url("prod")]);
}

#[test]
fn matchers_are_templated_escaped_and_percent_encoded() {
    testing::reset();
    let url = format!("{AM}/api/v2/alerts?active=true&silenced=false&inhibited=false&filter=severity%3D~%22critical%7Cwarning%22&filter=service%3D%22a%5C%22b%22");
    testing::set_http_response(&url, HttpResponse::new(200, "[]"));
    let config = r#"{"default": {"alertmanager": {"url": "http://alertmanager.example.com:9093", "matchers": ["severity=~\"critical|warning\"", "service=\"{app}\""]}}}"#;
    let t = transition().application("a\"b").build();
    assert!(eval(config, &t).is_allow(), "{:?}", testing::requested_urls());
}

#[test]
fn many_firing_alerts_are_listed_up_to_a_bound() {
    testing::reset();
    let alerts: Vec<serde_json::Value> = (0..25).map(|n| alert(&format!("A{n}"), "staging", "critical", "active", &[])).collect();
    testing::set_http_response(&alerts_url("staging"), HttpResponse::new(200, serde_json::Value::from(alerts).to_string()));
    let verdict = eval(AM_ONLY, &shop_api());
    assert_eq!(verdict.findings.len(), 21);
    assert!(messages(&verdict)[20].starts_with("staging: 5 more firing alerts match"), "{verdict:?}");
}

#[test]
fn alertmanager_failures_fail_closed() {
    for (response, expected) in [
        (Ok(HttpResponse::new(503, "")), "it answered HTTP 503"),
        (Ok(HttpResponse::new(200, "{\"alerts\": []}")), "the answer is not a list of Alertmanager alerts"),
        (Err("http://alertmanager.example.com:9093 is not granted to this policy"), "is not granted"),
    ] {
        testing::reset();
        match &response {
            Ok(response) => testing::set_http_response(&alerts_url("staging"), response.clone()),
            Err(message) => testing::set_http_error(&alerts_url("staging"), message),
        }
        let verdict = eval(AM_ONLY, &shop_api());
        assert!(!verdict.is_allow(), "{expected}");
        assert!(messages(&verdict)[0].starts_with("Alertmanager alerts for staging (env=\"staging\", app=\"shop-api\") could not be read from"));
        assert!(messages(&verdict)[0].contains(expected), "{verdict:?}");
    }
}

#[test]
fn rollbacks_are_exempt_when_configured_and_have_no_source_to_ask() {
    testing::reset();
    let rollback = transition().application("shop-api").rollback().from_env(None).build();
    let config = r#"{"environments": {"prod": {"argocd": {"url": "https://argocd.example.com"}, "rollbacks": "exempt"}}}"#;
    let verdict = eval(config, &rollback);
    assert!(verdict.is_allow());
    assert!(messages(&verdict)[0].contains("(rollbacks: exempt)"));
    assert!(testing::requested_urls().is_empty());

    let verdict = eval(ARGO_ONLY, &rollback);
    assert!(verdict.is_allow());
    assert_eq!(messages(&verdict), ["Argo CD was not asked: this rollback into prod has no source environment"]);
}

#[test]
fn an_environment_without_rules_fails_closed_without_asking_anything() {
    testing::reset();
    let t = transition().to_env("dev").build();
    let error = testing::evaluate::<DeploymentHealth>(ARGO_ONLY, &t).unwrap_err().to_string();
    assert!(error.starts_with("no rules for dev"), "{error}");
    assert!(testing::requested_urls().is_empty());
}

#[test]
fn configuration_errors_name_the_field() {
    for (config, expected) in [
        ("{}", "config: no rules; add an entry under environments"),
        (r#"{"environments": {"prod": {}}}"#, "config.environments.prod: set argocd, alertmanager or both"),
        (r#"{"default": {"argocd": {"url": "argocd.example.com"}}}"#, "config.default.argocd.url: \"argocd.example.com\" is not an http:// or https:// URL"),
        (r#"{"default": {"argocd": {"url": "https://admin:pw@argocd.example.com"}}}"#, "config.default.argocd.url: \"https://admin:pw@argocd.example.com\" contains credentials"),
        (r#"{"default": {"argocd": {"url": "https://a", "application": "{team}-{env}"}}}"#, "config.default.argocd.application: \"{team}-{env}\" uses the unknown placeholder {team}"),
        (r#"{"default": {"argocd": {"url": "https://a", "token": "x"}}}"#, "config.default.argocd.token: unknown field `token`"),
        (r#"{"default": {"alertmanager": {"url": "http://a", "matchers": []}}}"#, "config.default.alertmanager.matchers: is empty"),
        (r#"{"default": {"alertmanager": {"url": "http://a", "matchers": ["severity"]}}}"#, "config.default.alertmanager.matchers[0]: \"severity\" has no operator"),
        (r#"{"default": {"alertmanager": {"url": "http://a", "check": []}}}"#, "config.default.alertmanager.check: is empty"),
        (r#"{"default": {"alertmanager": {"url": "http://a", "check": ["both"]}}}"#, "config.default.alertmanager.check[0]: unknown variant `both`"),
        (r#"{"default": {"argocd": {"url": "https://a"}, "rollbacks": "never"}}"#, "config.default.rollbacks: unknown variant `never`"),
    ] {
        let error = testing::validate::<DeploymentHealth>(config).unwrap_err().to_string();
        assert!(error.starts_with(expected), "{config}: {error}");
    }
}
