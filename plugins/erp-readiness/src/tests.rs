//! Native tests of the rules through the SDK's test double.

use super::*;
use tollgate_sdk::host::HttpResponse;
use tollgate_sdk::testing::{self, transition};

const FILE: &str = "envs/prod/erp/readiness.yaml";
const URL: &str = "https://erp.example.com/ready?env=prod";

/// Readiness from the repository file, for every environment.
const FILE_CONFIG: &str = r#"{"default": {"readiness_file": "envs/{env}/erp/readiness.yaml"}}"#;
/// Readiness from the endpoint, prod only.
const ENDPOINT_CONFIG: &str =
    r#"{"environments": {"prod": {"endpoint": {"url": "https://erp.example.com/ready?env={env}"}}}}"#;

const READY: &str = "status: ready\nsupported_contract: '>=2.3, <3'\n";

fn messages(verdict: &Verdict) -> Vec<&str> {
    verdict.findings.iter().map(|finding| finding.message.as_str()).collect()
}

fn eval(config: &str, t: &Transition) -> Verdict {
    testing::evaluate::<ErpReadiness>(config, t).unwrap()
}

#[test]
fn info_asks_for_both_capabilities() {
    let info = ErpReadiness::info();
    assert_eq!(info.name, "erp-readiness");
    assert_eq!(info.capabilities, [Capability::ReadFile, Capability::HttpGet]);
}

#[test]
fn ready_via_file_is_allowed() {
    testing::set_file(FILE, READY);
    let verdict = eval(FILE_CONFIG, &transition().label("erp-contract", "2.4.0").build());
    assert_eq!(verdict, Verdict::allow());
}

#[test]
fn ready_via_endpoint_is_allowed_and_requests_the_filled_url_with_accept_json() {
    testing::set_http_response(URL, HttpResponse::new(200, r#"{"status": "ready"}"#));
    let verdict = eval(ENDPOINT_CONFIG, &transition().build());
    assert_eq!(verdict, Verdict::allow());
    assert_eq!(testing::requested_urls(), [URL]);
}

#[test]
fn placeholders_in_the_url_are_percent_encoded() {
    let config = r#"{"default": {"endpoint": {"url": "https://erp.example.com/ready/{env}?app={app}"}}}"#;
    let url = "https://erp.example.com/ready/eu%20prod?app=shop%2Fapi";
    testing::set_http_response(url, HttpResponse::new(200, r#"{"status": "ready"}"#));
    let verdict = eval(config, &transition().to_env("eu prod").application("shop/api").build());
    assert!(verdict.is_allow(), "{verdict:?}");
    assert_eq!(testing::requested_urls(), [url]);
}

#[test]
fn a_status_other_than_ready_is_denied_with_the_message() {
    testing::set_file(FILE, "status: degraded\nmessage: invoice sync lagging\n");
    let verdict = eval(FILE_CONFIG, &transition().build());
    assert!(!verdict.is_allow());
    assert_eq!(
        messages(&verdict),
        [format!("ERP integration for prod is not ready (status: degraded: invoice sync lagging); reported by {FILE}")]
    );
    assert_eq!(verdict.findings[0].path.as_deref(), Some("envs/prod/erp/readiness.yaml#status"));

    testing::set_http_response(URL, HttpResponse::new(200, r#"{"status": "not-ready"}"#));
    let verdict = eval(ENDPOINT_CONFIG, &transition().build());
    assert_eq!(messages(&verdict), [format!("ERP integration for prod is not ready (status: not-ready); reported by {URL}")]);
    assert_eq!(verdict.findings[0].path, None);
}

#[test]
fn maintenance_in_progress_is_denied_and_a_finished_one_is_not() {
    testing::set_file(
        FILE,
        "status: ready\nmaintenance:\n  - { start: 2026-01-05T08:00:00Z, end: 2026-01-05T12:00:00Z, reason: SAP kernel upgrade }\n",
    );
    let verdict = eval(FILE_CONFIG, &transition().at("2026-01-05T10:00:00Z").build());
    assert_eq!(
        messages(&verdict),
        [format!("ERP maintenance in progress until 2026-01-05T12:00:00Z (SAP kernel upgrade); reported by {FILE}")]
    );
    assert_eq!(verdict.findings[0].path.as_deref(), Some("envs/prod/erp/readiness.yaml#maintenance[0]"));
    // The end is exclusive: at 12:00 the window is over.
    assert!(eval(FILE_CONFIG, &transition().at("2026-01-05T12:00:00Z").build()).is_allow());
    assert!(eval(FILE_CONFIG, &transition().at("2026-01-05T07:59:59Z").build()).is_allow());
    // The start is inclusive.
    assert!(!eval(FILE_CONFIG, &transition().at("2026-01-05T08:00:00Z").build()).is_allow());
}

#[test]
fn period_close_in_progress_is_denied() {
    testing::set_http_response(
        URL,
        HttpResponse::new(
            200,
            r#"{"status": "ready", "period_close": [
                {"start": "2026-01-29T00:00:00Z", "end": "2026-01-31T19:00:00+01:00", "reason": "January close"}]}"#,
        ),
    );
    let verdict = eval(ENDPOINT_CONFIG, &transition().at("2026-01-30T12:00:00Z").build());
    assert_eq!(
        messages(&verdict),
        [format!("ERP period close in progress until 2026-01-31T18:00:00Z (January close); reported by {URL}")]
    );
    assert!(eval(ENDPOINT_CONFIG, &transition().at("2026-02-01T00:00:00Z").build()).is_allow());
}

#[test]
fn every_violation_is_reported_together() {
    testing::set_file(
        FILE,
        "status: not-ready\nmaintenance:\n  - { start: 2026-01-05T00:00:00Z, end: 2026-01-06T00:00:00Z }\nperiod_close:\n  - { start: 2026-01-01T00:00:00Z, end: 2026-01-07T00:00:00Z, reason: year-end }\nsupported_contract: '^2'\n",
    );
    let verdict = eval(FILE_CONFIG, &transition().application("shop-api").label("erp-contract", "3.1").build());
    assert_eq!(
        messages(&verdict),
        [
            format!("ERP integration for prod is not ready (status: not-ready); reported by {FILE}"),
            format!("ERP maintenance in progress until 2026-01-06T00:00:00Z; reported by {FILE}"),
            format!("ERP period close in progress until 2026-01-07T00:00:00Z (year-end); reported by {FILE}"),
            format!("shop-api requires ERP contract 3.1.0 but prod supports ^2 (contract from label erp-contract; range reported by {FILE})"),
        ]
    );
}

#[test]
fn contract_from_the_label_must_be_in_the_supported_range() {
    testing::set_file(FILE, READY);
    assert!(eval(FILE_CONFIG, &transition().label("erp-contract", "2.3.0").build()).is_allow());
    assert!(eval(FILE_CONFIG, &transition().label("erp-contract", "v2.9").build()).is_allow());
    let verdict = eval(FILE_CONFIG, &transition().application("shop-api").label("erp-contract", "3.1.0").build());
    assert_eq!(
        messages(&verdict),
        [format!("shop-api requires ERP contract 3.1.0 but prod supports >=2.3, <3 (contract from label erp-contract; range reported by {FILE})")]
    );
    assert_eq!(verdict.findings[0].path.as_deref(), Some("envs/prod/erp/readiness.yaml#supported_contract"));
    let verdict = eval(FILE_CONFIG, &transition().label("erp-contract", "2.2.9").build());
    assert!(messages(&verdict)[0].contains("requires ERP contract 2.2.9 but prod supports >=2.3, <3"));
}

#[test]
fn a_custom_label_key_is_read() {
    testing::set_file(FILE, READY);
    let config = r#"{"default": {"readiness_file": "envs/{env}/erp/readiness.yaml", "contract_label": "erp/contract"}}"#;
    assert!(!eval(config, &transition().label("erp/contract", "3.0.0").build()).is_allow());
    // The default key is no longer consulted.
    assert!(eval(config, &transition().label("erp-contract", "3.0.0").build()).is_allow());
}

#[test]
fn contract_from_the_manifest_is_checked_in_every_document() {
    testing::set_file(FILE, READY);
    let config = r#"{"default": {"readiness_file": "envs/{env}/erp/readiness.yaml",
        "contract_key": ["metadata", "annotations", "erp.example.com/contract"]}}"#;
    let manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  annotations:\n    erp.example.com/contract: \"3.0.0\"\n";
    let t = transition()
        .application("shop-api")
        .change("envs/prod/shop-api/deploy.yaml", None, Some(manifest))
        .change("envs/prod/shop-api/README.md", None, Some("# not yaml: [unclosed"))
        .build();
    let verdict = eval(config, &t);
    assert_eq!(
        messages(&verdict),
        [format!(
            "shop-api requires ERP contract 3.0.0 but prod supports >=2.3, <3 (contract from envs/prod/shop-api/deploy.yaml metadata.annotations.\"erp.example.com/contract\"; range reported by {FILE})"
        )]
    );
    assert_eq!(
        verdict.findings[0].path.as_deref(),
        Some("envs/prod/shop-api/deploy.yaml#metadata.annotations.\"erp.example.com/contract\"")
    );

    let values = "erp:\n  contract: '2.5.1'\n";
    let config = r#"{"default": {"readiness_file": "envs/{env}/erp/readiness.yaml", "contract_key": ["erp", "contract"], "require_contract": true}}"#;
    let t = transition().change("envs/prod/app/values.yaml", Some("erp: {contract: '2.0.0'}"), Some(values)).build();
    assert_eq!(eval(config, &t), Verdict::allow(), "only the new content counts");
}

#[test]
fn label_and_manifest_are_both_checked() {
    testing::set_file(FILE, READY);
    let config = r#"{"default": {"readiness_file": "envs/{env}/erp/readiness.yaml", "contract_key": ["erp", "contract"]}}"#;
    let t = transition()
        .label("erp-contract", "2.4.0")
        .change("envs/prod/app/values.yaml", None, Some("erp:\n  contract: 3.2.0\n"))
        .build();
    let verdict = eval(config, &t);
    assert_eq!(verdict.findings.len(), 1, "{verdict:?}");
    assert!(verdict.findings[0].message.contains("requires ERP contract 3.2.0 but prod supports"));
}

#[test]
fn a_missing_contract_is_a_note_or_a_denial_as_configured() {
    testing::set_file(FILE, READY);
    let verdict = eval(FILE_CONFIG, &transition().application("shop-api").build());
    assert!(verdict.is_allow());
    assert_eq!(
        messages(&verdict),
        ["shop-api declares no ERP contract version (the transition label erp-contract), so it was not checked against the range prod supports (>=2.3, <3)"]
    );

    let config = r#"{"default": {"readiness_file": "envs/{env}/erp/readiness.yaml", "require_contract": true, "contract_key": ["erp", "contract"]}}"#;
    let verdict = eval(config, &transition().application("shop-api").build());
    assert!(!verdict.is_allow());
    assert_eq!(
        messages(&verdict),
        ["shop-api declares no ERP contract version, but prod requires one; set the transition label erp-contract or the key erp.contract in its manifest"]
    );
}

#[test]
fn a_contract_that_is_not_a_version_is_denied() {
    testing::set_file(FILE, READY);
    let verdict = eval(FILE_CONFIG, &transition().application("shop-api").label("erp-contract", "latest").build());
    assert_eq!(
        messages(&verdict),
        ["shop-api declares ERP contract \"latest\" in label erp-contract, which is not a version such as 2.4.0"]
    );
}

#[test]
fn without_a_supported_range_the_contract_is_not_checked() {
    testing::set_file(FILE, "status: ready\n");
    assert_eq!(eval(FILE_CONFIG, &transition().label("erp-contract", "9.0.0").build()), Verdict::allow());
    assert_eq!(eval(FILE_CONFIG, &transition().build()), Verdict::allow());
}

#[test]
fn an_endpoint_error_fails_closed_with_the_reason() {
    testing::set_http_error(URL, "timed out after 2000 ms");
    let verdict = eval(ENDPOINT_CONFIG, &transition().build());
    assert!(!verdict.is_allow());
    assert_eq!(messages(&verdict), [format!("ERP readiness endpoint {URL} could not be read: timed out after 2000 ms")]);
}

#[test]
fn an_ungranted_origin_is_reported_as_unreadable() {
    // The host refuses the request; the plugin reports the host's reason.
    testing::set_http_error(
        URL,
        "https://erp.example.com is not granted to this policy; grant it in the policy's capabilities (http_origins) to allow it",
    );
    let verdict = eval(ENDPOINT_CONFIG, &transition().build());
    assert!(!verdict.is_allow());
    assert!(messages(&verdict)[0].contains("could not be read: https://erp.example.com is not granted to this policy"));
}

#[test]
fn a_non_2xx_answer_fails_closed_even_with_a_ready_body() {
    testing::set_http_response(URL, HttpResponse::new(500, "internal error\n"));
    let verdict = eval(ENDPOINT_CONFIG, &transition().build());
    assert_eq!(messages(&verdict), [format!("ERP readiness endpoint {URL} could not be read: it answered HTTP 500: internal error")]);
    testing::set_http_response(URL, HttpResponse::new(503, "<html>\n  <body>Service\n\tUnavailable</body>\n</html>\n"));
    let verdict = eval(ENDPOINT_CONFIG, &transition().build());
    assert!(messages(&verdict)[0].ends_with("it answered HTTP 503: <html> <body>Service Unavailable</body> </html>"), "{verdict:?}");
    testing::set_http_response(URL, HttpResponse::new(503, r#"{"status": "ready"}"#));
    assert!(!eval(ENDPOINT_CONFIG, &transition().build()).is_allow());
    testing::set_http_response(URL, HttpResponse::new(404, ""));
    let verdict = eval(ENDPOINT_CONFIG, &transition().build());
    assert_eq!(messages(&verdict), [format!("ERP readiness endpoint {URL} could not be read: it answered HTTP 404")]);
}

#[test]
fn a_long_status_message_is_cut() {
    testing::set_file(FILE, &format!("status: degraded\nmessage: {}\n", "y".repeat(5000)));
    let verdict = eval(FILE_CONFIG, &transition().build());
    assert!(verdict.findings[0].message.contains(&format!("(status: degraded: {}…)", "y".repeat(300))));
}

#[test]
fn a_long_error_body_is_cut() {
    let body = "x".repeat(1000);
    testing::set_http_response(URL, HttpResponse::new(502, body));
    let verdict = eval(ENDPOINT_CONFIG, &transition().build());
    assert!(verdict.findings[0].message.ends_with(&format!("{}…", "x".repeat(200))));
}

#[test]
fn a_malformed_body_fails_closed() {
    testing::set_http_response(URL, HttpResponse::new(200, "<html>maintenance page</html>"));
    let verdict = eval(ENDPOINT_CONFIG, &transition().build());
    assert!(!verdict.is_allow());
    assert_eq!(
        messages(&verdict),
        [format!("ERP readiness endpoint {URL} answered with a malformed readiness document: expected value at line 1 column 1")]
    );
    testing::set_http_response(URL, HttpResponse::new(200, r#"{"ready": true}"#));
    let verdict = eval(ENDPOINT_CONFIG, &transition().build());
    assert!(messages(&verdict)[0].contains("malformed readiness document: ready: unknown field `ready`"), "{verdict:?}");
}

#[test]
fn a_missing_readiness_file_fails_closed_and_names_it() {
    let verdict = eval(FILE_CONFIG, &transition().to_env("qa").build());
    assert!(!verdict.is_allow());
    assert_eq!(
        messages(&verdict),
        ["ERP readiness file envs/qa/erp/readiness.yaml does not exist, so ERP readiness cannot be established; the ERP team publishes it in the GitOps repository"]
    );
    assert_eq!(verdict.findings[0].path.as_deref(), Some("envs/qa/erp/readiness.yaml"));
}

#[test]
fn an_empty_readiness_file_is_malformed() {
    testing::set_file(FILE, "");
    let verdict = eval(FILE_CONFIG, &transition().build());
    assert!(!verdict.is_allow());
    assert_eq!(messages(&verdict), ["ERP readiness file envs/prod/erp/readiness.yaml is malformed: missing field `status` at line 1 column 1"]);
}

#[test]
fn a_malformed_readiness_file_names_the_file_and_line() {
    testing::set_file(FILE, "status: ready\nperiod_close:\n  - start: end of month\n    end: 2026-01-31T18:00:00Z\n");
    let verdict = eval(FILE_CONFIG, &transition().build());
    assert!(!verdict.is_allow());
    let message = messages(&verdict)[0];
    assert!(message.starts_with("ERP readiness file envs/prod/erp/readiness.yaml is malformed: period_close[0]: start \"end of month\" is not an RFC 3339 time"), "{message}");
    assert!(message.ends_with(" at line 3 column 5"), "{message}");
    assert_eq!(verdict.findings[0].path.as_deref(), Some(FILE));
}

#[test]
fn both_sources_are_read_and_each_is_reported() {
    testing::set_file(FILE, "status: ready\n");
    testing::set_http_error(URL, "connection refused");
    let config = r#"{"environments": {"prod": {"readiness_file": "envs/{env}/erp/readiness.yaml",
        "endpoint": {"url": "https://erp.example.com/ready?env={env}", "headers": {"Authorization": "Bearer t"}}}}}"#;
    let verdict = eval(config, &transition().build());
    assert_eq!(messages(&verdict), [format!("ERP readiness endpoint {URL} could not be read: connection refused")]);
    testing::set_http_response(URL, HttpResponse::new(200, r#"{"status": "degraded"}"#));
    let verdict = eval(config, &transition().build());
    assert_eq!(messages(&verdict), [format!("ERP integration for prod is not ready (status: degraded); reported by {URL}")]);
}

#[test]
fn an_environment_without_rules_fails_closed_without_asking_anything() {
    let error = testing::evaluate::<ErpReadiness>(ENDPOINT_CONFIG, &transition().to_env("dev").build()).unwrap_err().to_string();
    assert!(error.starts_with("no rules for dev (no entry under environments and no default)"), "{error}");
    assert!(testing::requested_urls().is_empty());
}

#[test]
fn an_environment_entry_wins_over_the_default() {
    testing::set_file("erp/prod.yaml", "status: not-ready\n");
    testing::set_file("envs/staging/erp/readiness.yaml", "status: ready\n");
    let config = r#"{"default": {"readiness_file": "envs/{env}/erp/readiness.yaml"}, "environments": {"prod": {"readiness_file": "erp/{env}.yaml"}}}"#;
    assert!(!eval(config, &transition().to_env("prod").build()).is_allow());
    assert!(eval(config, &transition().to_env("staging").build()).is_allow());
}

#[test]
fn config_errors_name_the_field() {
    let error = |config: &str| testing::validate::<ErpReadiness>(config).unwrap_err().message().to_string();
    assert!(error("{}").starts_with("config: no rules;"));
    assert!(error(r#"{"environments": {"prod": {}}}"#).starts_with("config.environments.prod: set readiness_file"));
    assert!(error(r#"{"default": {"readiness_file": "/etc/erp.yaml"}}"#).starts_with("config.default.readiness_file: \"/etc/erp.yaml\" is not a repository path"));
    assert!(error(r#"{"default": {"readiness_file": "envs/{environment}/r.yaml"}}"#)
        .contains("config.default.readiness_file: \"envs/{environment}/r.yaml\" uses the unknown placeholder {environment}"));
    assert!(error(r#"{"environments": {"prod": {"endpoint": {"url": "erp.example.com/ready"}}}}"#)
        .starts_with("config.environments.prod.endpoint.url: \"erp.example.com/ready\" is not an http:// or https:// URL"));
    assert!(error(r#"{"environments": {"prod": {"endpoint": {"url": "https://u:p@erp.example.com/"}}}}"#).contains("contains credentials"));
    assert!(error(r#"{"environments": {"prod": {"endpoint": {"url": "https://erp.example.com/{env"}}}}"#).contains("without a closing }"));
    assert!(error(r#"{"environments": {"prod": {"endpoint": {"url": "https://e.example.com/", "headers": {"Bad Name": "x"}}}}}"#)
        .starts_with("config.environments.prod.endpoint.headers: \"Bad Name\" is not a valid HTTP header name"));
    assert!(error(r#"{"environments": {"prod": {"endpoint": {}}}}"#).starts_with("config.environments.prod.endpoint: missing field `url`"));
    assert!(error(r#"{"environments": {"prod": {"readiness_file": "a.yaml", "contract_key": []}}}"#).starts_with("config.environments.prod.contract_key: "));
    assert!(error(r#"{"environments": {"prod": {"readiness_file": "a.yaml", "contract_label": " "}}}"#).starts_with("config.environments.prod.contract_label: "));
    assert!(error(r#"{"environments": {"prod": {"readiness_file": "a.yaml", "require_contrct": true}}}"#).contains("unknown field `require_contrct`"));
    assert!(testing::validate::<ErpReadiness>(ENDPOINT_CONFIG).is_ok());
    assert!(testing::validate::<ErpReadiness>(FILE_CONFIG).is_ok());
}

#[test]
fn contract_versions_accept_shorthands() {
    assert_eq!(parse_contract_version("3"), Some(Version::new(3, 0, 0)));
    assert_eq!(parse_contract_version("v3.1"), Some(Version::new(3, 1, 0)));
    assert_eq!(parse_contract_version(" 2.4.1 "), Some(Version::new(2, 4, 1)));
    assert_eq!(parse_contract_version("3.0.0-rc.1").unwrap().to_string(), "3.0.0-rc.1");
    assert_eq!(parse_contract_version("3.x"), None);
    assert_eq!(parse_contract_version(""), None);
}
