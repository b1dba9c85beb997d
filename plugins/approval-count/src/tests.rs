//! Native tests of the policy through the SDK's test double.

use super::*;
use tollgate_sdk::Approval;
use tollgate_sdk::testing::{self, transition};

/// 2026-01-05T10:00:00Z, the test builder's default `requested_at`.
const REQUESTED_AT: i64 = 1_767_607_200;
const HOUR: i64 = 3_600;

fn approval(approver: &str, version: &str, at: i64, group: Option<&str>) -> Approval {
    Approval { approver: approver.to_string(), at, version: version.to_string(), group: group.map(str::to_string) }
}

fn messages(verdict: &Verdict) -> Vec<&str> {
    verdict.findings.iter().map(|f| f.message.as_str()).collect()
}

fn eval(config: &str, t: &Transition) -> Verdict {
    testing::evaluate::<ApprovalCount>(config, t).unwrap()
}

fn config_error(config: &str) -> String {
    testing::validate::<ApprovalCount>(config).unwrap_err().message().to_string()
}

const PROD_TWO: &str = r#"{"environments": {"prod": {"required": 2}}}"#;

#[test]
fn enough_distinct_approvals_allow_and_say_who_approved() {
    let t = transition().version("1.4.2").approval("bob", "1.4.2").approval("carol", "1.4.2").build();
    let verdict = eval(PROD_TWO, &t);
    assert!(verdict.is_allow());
    assert_eq!(messages(&verdict), ["1.4.2 is approved for prod by bob, carol: 2 of 2 required"]);
}

#[test]
fn too_few_approvals_deny_and_name_who_approved() {
    let t = transition().version("1.4.2").approval("bob", "1.4.2").build();
    let verdict = eval(PROD_TWO, &t);
    assert!(!verdict.is_allow());
    assert_eq!(messages(&verdict), ["prod needs 2 approvals of 1.4.2; have 1: bob"]);

    let verdict = eval(PROD_TWO, &transition().version("1.4.2").build());
    assert_eq!(messages(&verdict), ["prod needs 2 approvals of 1.4.2; have none"]);
}

#[test]
fn the_same_person_twice_counts_once_ignoring_case() {
    let t = transition().version("1.4.2").approval("bob", "1.4.2").approval("BOB", "1.4.2").build();
    let verdict = eval(PROD_TWO, &t);
    assert!(!verdict.is_allow());
    assert_eq!(
        messages(&verdict),
        [
            "prod needs 2 approvals of 1.4.2; have 1: bob",
            "ignored: another approval by BOB (bob is already counted; each person counts once)",
        ]
    );
}

#[test]
fn self_approval_is_ignored_by_default_and_counts_when_allowed() {
    let t = transition().version("1.4.2").requested_by("alice").approval("Alice", "1.4.2").approval("bob", "1.4.2").build();
    let verdict = eval(PROD_TWO, &t);
    assert!(!verdict.is_allow());
    assert_eq!(
        messages(&verdict),
        ["prod needs 2 approvals of 1.4.2; have 1: bob", "ignored: Alice approved their own promotion"]
    );

    let config = r#"{"environments": {"prod": {"required": 2, "allow_self_approval": true}}}"#;
    let verdict = eval(config, &t);
    assert!(verdict.is_allow());
    assert_eq!(messages(&verdict), ["1.4.2 is approved for prod by Alice (requester), bob: 2 of 2 required"]);
}

#[test]
fn an_approval_of_another_version_does_not_count() {
    let t = transition().version("1.4.2").approval("bob", "1.4.2").approval("dave", "1.4.1").build();
    let verdict = eval(PROD_TWO, &t);
    assert_eq!(
        messages(&verdict),
        ["prod needs 2 approvals of 1.4.2; have 1: bob", "ignored: dave approved 1.4.1, not 1.4.2"]
    );
}

#[test]
fn stale_approvals_are_ignored_and_the_boundary_counts() {
    let config = r#"{"environments": {"prod": {"required": 1, "max_age": "24h"}}}"#;
    let stale = transition().version("1.4.2").approval_full(approval("erin", "1.4.2", REQUESTED_AT - 72 * HOUR, None)).build();
    let verdict = eval(config, &stale);
    assert!(!verdict.is_allow());
    assert_eq!(
        messages(&verdict),
        ["prod needs 1 approval of 1.4.2; have none", "ignored: erin's approval is 3d old (max 24h)"]
    );

    let exactly = transition().version("1.4.2").approval_full(approval("erin", "1.4.2", REQUESTED_AT - 24 * HOUR, None)).build();
    assert!(eval(config, &exactly).is_allow());
    let just_over = transition().version("1.4.2").approval_full(approval("erin", "1.4.2", REQUESTED_AT - 24 * HOUR - 1, None)).build();
    assert!(!eval(config, &just_over).is_allow());
}

#[test]
fn approvals_dated_after_the_request_are_ignored() {
    let t = transition().version("1.4.2").approval_full(approval("bob", "1.4.2", REQUESTED_AT + HOUR, None)).build();
    let verdict = eval(PROD_TWO, &t);
    assert_eq!(
        messages(&verdict),
        [
            "prod needs 2 approvals of 1.4.2; have none",
            "ignored: bob's approval is dated 2026-01-05T11:00:00Z, after the request at 2026-01-05T10:00:00Z",
        ]
    );
}

#[test]
fn max_age_accepts_minutes_hours_days_weeks_and_iso() {
    for (text, seconds) in [("90m", 5_400), ("24h", 86_400), ("7d", 604_800), ("1w", 604_800), ("1h 30m", 5_400), ("PT24H", 86_400)] {
        assert_eq!(MaxAge::try_from(text.to_string()).unwrap().seconds, seconds, "{text}");
    }
}

const GROUPS: &str = r#"{"environments": {"prod": {
    "required": 2,
    "groups": {"sre": ["alice", "Bob"], "dev": ["carol", "dave"]},
    "group_minimums": {"sre": 1}
}}}"#;

#[test]
fn group_minimum_met_allows_with_a_summary() {
    let t = transition().version("1.4.2").requested_by("frank").approval("bob", "1.4.2").approval("carol", "1.4.2").build();
    let verdict = eval(GROUPS, &t);
    assert!(verdict.is_allow(), "{verdict:?}");
    assert_eq!(
        messages(&verdict),
        ["1.4.2 is approved for prod by bob (sre), carol (dev): 2 of 2 required, 1 of 1 from group sre"]
    );
}

#[test]
fn group_minimum_not_met_denies_and_says_what_is_missing() {
    let t = transition().version("1.4.2").requested_by("frank").approval("carol", "1.4.2").approval("dave", "1.4.2").build();
    let verdict = eval(GROUPS, &t);
    assert!(!verdict.is_allow());
    assert_eq!(
        messages(&verdict),
        ["prod needs 1 more approval of 1.4.2 from group sre (alice, Bob); have: carol (dev), dave (dev)"]
    );
}

#[test]
fn a_self_declared_group_is_not_trusted_for_a_configured_group() {
    let t = transition()
        .version("1.4.2")
        .requested_by("frank")
        .approval_full(approval("carol", "1.4.2", REQUESTED_AT, Some("sre")))
        .approval_full(approval("erin", "1.4.2", REQUESTED_AT, Some("qa")))
        .build();
    let verdict = eval(GROUPS, &t);
    assert!(!verdict.is_allow());
    assert_eq!(
        messages(&verdict),
        [
            "prod needs 1 more approval of 1.4.2 from group sre (alice, Bob); have: carol (dev), erin (qa, self-declared)",
            "carol's approval says group sre, but carol is not listed in group sre, so it does not count toward sre",
        ]
    );
}

#[test]
fn approvers_outside_the_allowed_list_are_ignored() {
    let config = r#"{"environments": {"prod": {"required": 1, "allowed_approvers": ["bob", "carol"]}}}"#;
    let t = transition().version("1.4.2").approval("mallory", "1.4.2").build();
    let verdict = eval(config, &t);
    assert_eq!(
        messages(&verdict),
        ["prod needs 1 approval of 1.4.2; have none", "ignored: mallory is not an allowed approver for prod"]
    );
    let t = transition().version("1.4.2").approval("CAROL", "1.4.2").build();
    assert!(eval(config, &t).is_allow());
}

#[test]
fn an_environment_entry_replaces_the_default() {
    let config = r#"{"default": {"required": 1}, "environments": {"prod": {"required": 2}}}"#;
    let one = transition().to_env("staging").version("1.4.2").approval("bob", "1.4.2").build();
    assert!(eval(config, &one).is_allow());
    let one_in_prod = transition().to_env("prod").version("1.4.2").approval("bob", "1.4.2").build();
    assert!(!eval(config, &one_in_prod).is_allow());
}

#[test]
fn an_environment_without_rules_fails_closed_instead_of_needing_no_approvals() {
    let t = transition().to_env("dev").build();
    let error = testing::evaluate::<ApprovalCount>(PROD_TWO, &t).unwrap_err().to_string();
    assert!(error.starts_with("no rules for dev (no entry under environments and no default), so this policy cannot decide there"), "{error}");
    // Where tollgate.yaml says the policy runs for dev, such a configuration is refused outright.
    testing::set_environments(&["dev", "test", "prod"], None);
    let error = config_error(PROD_TWO);
    testing::reset();
    assert!(error.starts_with("config: no rules for dev, test, where this policy runs"), "{error}");
    assert!(error.ends_with("or run the policy only where it has rules with `environments: [prod]` on the policy in tollgate.yaml"), "{error}");
}

#[test]
fn a_typo_in_an_environment_key_is_a_configuration_error_not_a_silent_allow() {
    // qa → staging-* → prod-*: there is no `prod`, so these rules would apply nowhere.
    testing::set_environments(&["qa", "staging-us", "prod-us", "staging-eu", "prod-eu"], Some(&["prod-us", "prod-eu"]));
    let error = config_error(r#"{"default": {"required": 1}, "environments": {"prod": {"required": 2}}}"#);
    let accepted = testing::validate::<ApprovalCount>(r#"{"environments": {"prod-us": {"required": 2}, "prod-eu": {"required": 2}}}"#);
    testing::reset();
    assert!(error.starts_with("config.environments.prod: no environment is called prod; the environments of tollgate.yaml are qa, staging-us"), "{error}");
    assert!(accepted.is_ok(), "{accepted:?}");
}

#[test]
fn the_verdict_names_exactly_the_approvals_that_counted() {
    let t = transition()
        .version("1.4.2")
        .requested_by("alice")
        .approval("bob", "1.4.2")
        .approval("alice", "1.4.2")
        .approval("dave", "1.4.1")
        .approval("BOB", "1.4.2")
        .approval("carol", "1.4.2")
        .build();
    let verdict = eval(PROD_TWO, &t);
    assert!(verdict.is_allow());
    assert_eq!(messages(&verdict)[1], "ignored: alice approved their own promotion");
    // Not alice (her own), not dave (another version), not BOB (bob again): the verdict says so.
    assert_eq!(verdict.counted_approvals, Some(vec!["bob".to_string(), "carol".to_string()]));
    // A deny names what counted too; an exempt rollback counts none.
    let one = transition().version("1.4.2").approval("alice", "1.4.2").approval("carol", "1.4.2").build();
    assert_eq!(eval(PROD_TWO, &one).counted_approvals, Some(vec!["carol".to_string()]));
    let rollback = transition().rollback().version("1.4.1").approval("bob", "1.4.1").build();
    let exempt = eval(r#"{"environments": {"prod": {"required": 1, "rollbacks": "exempt"}}}"#, &rollback);
    assert_eq!(exempt.counted_approvals, Some(Vec::new()));
}

#[test]
fn rollbacks_follow_the_same_rules_unless_exempt() {
    let t = transition().rollback().version("1.4.1").requested_by("alice").approval("alice", "1.4.1").build();
    let verdict = eval(r#"{"environments": {"prod": {"required": 1}}}"#, &t);
    assert_eq!(
        messages(&verdict),
        ["prod needs 1 approval of 1.4.1; have none", "ignored: alice approved their own rollback"]
    );
    let verdict = eval(r#"{"environments": {"prod": {"required": 1, "rollbacks": "exempt"}}}"#, &t);
    assert!(verdict.is_allow());
    assert_eq!(messages(&verdict), ["rollback of prod to 1.4.1 needs no approvals (rollbacks: exempt)"]);
    // A promotion under an exempt-rollbacks rule still needs its approvals.
    let promote = transition().version("1.4.2").build();
    assert!(!eval(r#"{"environments": {"prod": {"rollbacks": "exempt"}}}"#, &promote).is_allow());
}

#[test]
fn all_reasons_are_reported_together() {
    let config = r#"{"environments": {"prod": {"required": 3, "max_age": "24h", "allowed_approvers": ["alice", "bob", "dave", "erin"]}}}"#;
    let t = transition()
        .version("1.4.2")
        .requested_by("alice")
        .approval("alice", "1.4.2")
        .approval("bob", "1.4.2")
        .approval("dave", "1.4.1")
        .approval_full(approval("erin", "1.4.2", REQUESTED_AT - 3 * 24 * HOUR, None))
        .approval("zed", "1.4.2")
        .build();
    let verdict = eval(config, &t);
    assert_eq!(
        messages(&verdict),
        [
            "prod needs 3 approvals of 1.4.2; have 1: bob",
            "ignored: alice approved their own promotion",
            "ignored: dave approved 1.4.1, not 1.4.2",
            "ignored: erin's approval is 3d old (max 24h)",
            "ignored: zed is not an allowed approver for prod",
        ]
    );
}

#[test]
fn ages_are_written_for_people() {
    assert_eq!(age(45), "45s");
    assert_eq!(age(5 * HOUR + 30 * 60 + 10), "5h 30m");
    assert_eq!(age(3 * 24 * HOUR + 2 * HOUR + 17 * 60), "3d 2h");
}

#[test]
fn config_errors_name_the_field_and_say_what_to_do() {
    let cases = [
        (r#"{}"#, "config: no rules; add a `default`"),
        (r#"{"environments": {"prod": {"required": 0}}}"#, "config.environments.prod.required: must be at least 1"),
        (r#"{"default": {"required": 0}}"#, "config.default.required: must be at least 1"),
        (
            r#"{"environments": {"prod": {"required": 2, "group_minimums": {"sre": 1}}}}"#,
            "config.environments.prod.group_minimums.sre: no group sre is configured; add its members under config.environments.prod.groups.sre",
        ),
        (
            r#"{"environments": {"prod": {"required": 1, "groups": {"sre": ["a", "b"]}, "group_minimums": {"sre": 2}}}}"#,
            "config.environments.prod.group_minimums.sre: 2 is more than required (1)",
        ),
        (
            r#"{"environments": {"prod": {"required": 2, "groups": {"sre": ["a", "A"]}, "group_minimums": {"sre": 2}}}}"#,
            "config.environments.prod.group_minimums.sre: 2 can never be met: group sre has 1 distinct member(s)",
        ),
        (
            r#"{"environments": {"prod": {"groups": {"sre": ["a"]}, "group_minimums": {"sre": 0}}}}"#,
            "config.environments.prod.group_minimums.sre: must be at least 1",
        ),
        (r#"{"environments": {"prod": {"groups": {"sre": []}}}}"#, "config.environments.prod.groups.sre: has no members"),
        (r#"{"environments": {"prod": {"allowed_approvers": []}}}"#, "config.environments.prod.allowed_approvers: is empty"),
        (
            r#"{"environments": {"prod": {"required": 3, "allowed_approvers": ["a", "b", "B"]}}}"#,
            "config.environments.prod.required: 3 approvals can never be met by the 2 distinct allowed_approvers",
        ),
        (
            r#"{"environments": {"prod": {"allowed_approvers": ["a"], "groups": {"sre": ["A", "b"]}}}}"#,
            "config.environments.prod.groups.sre[1]: b is not in allowed_approvers",
        ),
        (r#"{"environments": {"prod": {"max_age": "24"}}}"#, "config.environments.prod.max_age: \"24\" is not a duration"),
        (r#"{"environments": {"prod": {"max_age": "1 month"}}}"#, "config.environments.prod.max_age: \"1 month\" uses months or years"),
        (r#"{"environments": {"prod": {"max_age": "0h"}}}"#, "config.environments.prod.max_age: \"0h\" must be longer than zero"),
        (r#"{"environments": {"prod": {"max_age": "-24h"}}}"#, "config.environments.prod.max_age: \"-24h\" must be longer than zero"),
        (r#"{"environments": {"prod": {"rollbacks": "never"}}}"#, "config.environments.prod.rollbacks: unknown variant `never`"),
        (r#"{"environments": {"prod": {"requierd": 2}}}"#, "config.environments.prod.requierd: unknown field `requierd`"),
        (r#"{"environments": {"prod": {"required": -1}}}"#, "config.environments.prod.required: invalid value"),
    ];
    for (config, expected) in cases {
        let error = config_error(config);
        assert!(error.starts_with(expected), "config {config}\n  gave: {error}\n  want: {expected}…");
    }
}

#[test]
fn a_sensible_full_config_validates() {
    let config = r#"{
        "default": {"required": 1},
        "environments": {"prod": {
            "required": 2, "allow_self_approval": false,
            "allowed_approvers": ["alice", "bob", "carol", "dave"],
            "groups": {"sre": ["alice", "bob"]}, "group_minimums": {"sre": 1},
            "max_age": "7d", "rollbacks": "same"
        }}
    }"#;
    testing::validate::<ApprovalCount>(config).unwrap();
}

/// Regression (issue 8, item 13): the shipped GitHub example passed the requester as
/// `login <login@users.noreply.github.com>`, and `--approval login` then counted for the
/// requester's own promotion.
#[test]
fn self_approval_through_identity_format_is_refused() {
    for requester in ["bob <bob@users.noreply.github.com>", "bob@users.noreply.github.com", "Bob", "Bob Builder <BOB@example.com>"] {
        let t = transition().version("1.4.2").requested_by(requester).approval("bob", "1.4.2").approval("carol", "1.4.2").build();
        let verdict = eval(PROD_TWO, &t);
        assert!(!verdict.is_allow(), "{requester}: {:?}", messages(&verdict));
        assert!(messages(&verdict).contains(&"ignored: bob approved their own promotion"), "{requester}: {:?}", messages(&verdict));
    }
}

#[test]
fn a_look_alike_requester_is_the_same_person_as_the_approver() {
    for requester in ["b\u{200b}ob", "\u{ff42}\u{ff4f}\u{ff42}", "BOB\u{2060}", "bo\u{fe0f}b@example.com"] {
        let t = transition().version("1.4.2").requested_by(requester).approval("bob", "1.4.2").approval("carol", "1.4.2").build();
        let verdict = eval(PROD_TWO, &t);
        assert!(!verdict.is_allow(), "{requester:?}: {:?}", messages(&verdict));
        assert!(messages(&verdict).contains(&"ignored: bob approved their own promotion"), "{requester:?}: {:?}", messages(&verdict));
    }
}

#[test]
fn spellings_of_one_person_count_once() {
    let t = transition().version("1.4.2").approval("bob", "1.4.2").approval("Bob <bob@example.com>", "1.4.2").build();
    let verdict = eval(PROD_TWO, &t);
    assert!(!verdict.is_allow(), "{:?}", messages(&verdict));
}

#[test]
fn configured_identities_grant_group_membership_and_other_domains_do_not() {
    let config = r#"{"environments": {"prod": {"required": 1, "groups": {"sre": ["bob"]}, "group_minimums": {"sre": 1},
        "identities": {"bob": ["robert@corp.example"]}}}}"#;
    let t = transition().version("1.4.2").approval("Robert <robert@corp.example>", "1.4.2").build();
    assert!(eval(config, &t).is_allow(), "{:?}", messages(&eval(config, &t)));
    // The same local part on another domain is not the sre member bob.
    let t = transition().version("1.4.2").approval("bob@evil.example", "1.4.2").build();
    let verdict = eval(config, &t);
    assert!(!verdict.is_allow(), "{:?}", messages(&verdict));
}

#[test]
fn an_ascii_identity_gets_the_key_the_unicode_path_gives_it() {
    // Every ASCII character alone and beside a letter, and the shapes identities take.
    let mut identities: Vec<String> = (0u8..128).map(|byte| (byte as char).to_string()).collect();
    identities.extend((0u8..128).map(|byte| format!("Bob{}X", byte as char)));
    identities.extend(
        ["  Bob  ", "Alice Example <Alice@Example.COM>", "<ops@x>", "a <b", "CAROL", "dana.smith+ci@corp.example", "\tEve\n"]
            .map(String::from),
    );
    for identity in identities {
        let trimmed = identity.trim();
        let address = trimmed.rsplit_once('<').and_then(|(_, rest)| rest.strip_suffix('>')).unwrap_or(trimmed).trim();
        assert_eq!(identity_key(&identity), unicode_identity_key(address), "{identity:?}");
    }
    // Non-ASCII identities still take the Unicode path.
    assert_eq!(identity_key("ＢＯＢ"), "bob");
    assert_eq!(identity_key("b\u{200b}ob"), "bob");
}
