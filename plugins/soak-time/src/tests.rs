//! Native tests of the policy through the SDK's test double.

use super::*;
use tollgate_sdk::testing::{self, transition};

/// 2026-01-05T10:00:00Z, the test builder's default `requested_at`.
const REQUESTED_AT: i64 = 1_767_607_200;
const HOUR: i64 = 3_600;

const CONFIG: &str = r#"{"default": {"min": "24h"}, "environments": {"prod": {"min": "48h", "break_glass": true}, "qa": {"min": "0s"}}}"#;

fn messages(verdict: &Verdict) -> Vec<&str> {
    verdict.findings.iter().map(|f| f.message.as_str()).collect()
}

fn eval(config: &str, t: &Transition) -> Verdict {
    testing::evaluate::<SoakTime>(config, t).unwrap()
}

fn config_error(config: &str) -> String {
    testing::validate::<SoakTime>(config).unwrap_err().message().to_string()
}

#[test]
fn long_enough_in_the_upstream_allows_and_says_how_long() {
    let t = transition().version("1.4.2").from_env_since(REQUESTED_AT - 50 * HOUR).build();
    let verdict = eval(CONFIG, &t);
    assert!(verdict.is_allow());
    assert_eq!(
        messages(&verdict),
        ["1.4.2 has been in staging for 2d 2h (since 2026-01-03T08:00:00Z); prod requires 48h (environments.prod)"]
    );
}

#[test]
fn too_short_denies_and_says_until_when() {
    let t = transition().version("1.4.2").from_env_since(REQUESTED_AT - 3 * HOUR - 600).build();
    let verdict = eval(CONFIG, &t);
    assert!(!verdict.is_allow());
    assert_eq!(
        messages(&verdict),
        ["1.4.2 has been in staging for 3h 10m (since 2026-01-05T06:50:00Z); prod requires 48h (environments.prod): wait until 2026-01-07T06:50:00Z"]
    );
}

#[test]
fn exactly_the_minimum_is_enough() {
    let t = transition().from_env_since(REQUESTED_AT - 48 * HOUR).build();
    assert!(eval(CONFIG, &t).is_allow());
    let t = transition().from_env_since(REQUESTED_AT - 48 * HOUR + 1).build();
    assert!(!eval(CONFIG, &t).is_allow());
}

#[test]
fn the_default_applies_to_environments_without_an_entry() {
    let t = transition().to_env("staging").from_env(Some("qa")).from_env_since(REQUESTED_AT - 23 * HOUR).build();
    let verdict = eval(CONFIG, &t);
    assert!(!verdict.is_allow());
    assert!(messages(&verdict)[0].contains("staging requires 24h (default)"), "{:?}", messages(&verdict));
    let t = transition().to_env("qa").from_env(Some("dev")).from_env_since(REQUESTED_AT).build();
    assert!(eval(CONFIG, &t).is_allow(), "0s: no wait");
}

#[test]
fn an_unknown_arrival_time_denies() {
    let verdict = eval(CONFIG, &transition().build());
    assert!(!verdict.is_allow());
    assert!(messages(&verdict)[0].starts_with("how long 1.0.0 has been in staging is unknown (no verified tollgate promotion brought it there)"));
}

#[test]
fn an_arrival_after_the_decision_time_counts_as_no_time() {
    let t = transition().from_env_since(REQUESTED_AT + HOUR).build();
    let verdict = eval(CONFIG, &t);
    assert!(!verdict.is_allow());
    assert!(messages(&verdict)[0].contains("for 0s"), "{:?}", messages(&verdict));
}

#[test]
fn break_glass_skips_the_wait_only_where_allowed() {
    let short = REQUESTED_AT - HOUR;
    let t = transition().from_env_since(short).label("break-glass", "INC-7").build();
    let verdict = eval(CONFIG, &t);
    assert!(verdict.is_allow());
    assert_eq!(messages(&verdict)[0], "break-glass INC-7 used to skip the soak time of prod");
    assert!(messages(&verdict)[1].contains("prod requires 48h"));

    let t = transition().to_env("staging").from_env_since(short).label("break-glass", "INC-7").build();
    let verdict = eval(CONFIG, &t);
    assert!(!verdict.is_allow());
    assert_eq!(messages(&verdict)[1], "break-glass INC-7 is not allowed to skip the soak time of staging (break_glass: false in default)");

    let t = transition().from_env_since(short).label("break-glass", "  ").build();
    let verdict = eval(CONFIG, &t);
    assert!(!verdict.is_allow());
    assert!(messages(&verdict)[1].starts_with("the break-glass label has no ticket"));
}

#[test]
fn the_break_glass_label_key_can_be_changed() {
    let config = r#"{"default": {"min": "1d", "break_glass": true, "break_glass_label": "emergency"}}"#;
    let t = transition().from_env_since(REQUESTED_AT).label("break-glass", "INC-1").build();
    assert!(!eval(config, &t).is_allow(), "the default key no longer counts");
    let t = transition().from_env_since(REQUESTED_AT).label("emergency", "INC-1").build();
    assert!(eval(config, &t).is_allow());
}

#[test]
fn rollbacks_and_roots_are_allowed_with_a_finding_and_unconfigured_environments_fail() {
    let verdict = eval(CONFIG, &transition().rollback().from_env(None).build());
    assert!(verdict.is_allow());
    assert!(messages(&verdict)[0].contains("no soak time applies"));
    let verdict = eval(CONFIG, &transition().from_env(None).build());
    assert!(verdict.is_allow());
    assert!(messages(&verdict)[0].contains("has no upstream"));
    let error = testing::evaluate::<SoakTime>(r#"{"environments": {"prod": {"min": "1h"}}}"#, &transition().to_env("test").build()).unwrap_err();
    assert!(error.to_string().starts_with("no rules for test"), "{error}");
}

#[test]
fn bad_configurations_are_rejected_with_their_place() {
    assert!(config_error("{}").starts_with("config: no rules"));
    let error = config_error(r#"{"default": {"min": "soon"}}"#);
    assert!(error.contains(r#""soon" is not a duration"#), "{error}");
    let error = config_error(r#"{"default": {"min": "1mo"}}"#);
    assert!(error.contains("uses months or years"), "{error}");
    let error = config_error(r#"{"default": {"min": "1h", "break_glass_label": " "}}"#);
    assert!(error.starts_with("config.default.break_glass_label: must not be empty"), "{error}");
    let error = config_error(r#"{"default": {"minimum": "1h"}}"#);
    assert!(error.contains("unknown field `minimum`"), "{error}");
}

#[test]
fn durations_read_as_written() {
    assert_eq!(Soak::try_from("1h 30m".to_string()).unwrap().seconds, 5_400);
    assert_eq!(Soak::try_from("2d".to_string()).unwrap().seconds, 172_800);
    assert_eq!(Soak::try_from("PT24H".to_string()).unwrap().seconds, 86_400);
    assert_eq!(human(90_061), "1d 1h 1m");
    assert_eq!(human(59), "59s");
}
