//! The decision record against arbitrary requester input (issue 8, property tests): any
//! string in any flag gives a clean commit recording exactly that string, or exit 2 with
//! nothing changed; any valid value commits and is recorded as given.

use proptest::prelude::*;

use crate::record::{assert_fsck_clean, plain_repo};
use crate::support::{git, record_at, snapshot, tollgate_in};

/// Strings a requester could pass: printable text, control and line-breaking
/// characters, bidirectional overrides, quotes and YAML or trailer syntax.
fn hostile_text() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        "[a-zA-Z0-9._-]{1,8}",
        Just("\n".to_string()),
        Just("\r".to_string()),
        Just("\u{2028}".to_string()),
        Just("\u{202e}".to_string()),
        Just("\t".to_string()),
        Just(": ".to_string()),
        Just("\nTollgate-To: prod\n".to_string()),
        Just("--- ".to_string()),
        Just("\"'{}[]#&*!|>%@`".to_string()),
        Just("<x@y>".to_string()),
        "\\PC{1,4}",
    ];
    prop::collection::vec(pieces, 1..5).prop_map(|parts| parts.concat())
}

/// Which flag a value goes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flag {
    Actor,
    Version,
    Digest,
    Approval,
    LabelValue,
    Branch,
    LabelKey,
}

const FLAGS: [Flag; 7] = [Flag::Actor, Flag::Version, Flag::Digest, Flag::Approval, Flag::LabelValue, Flag::Branch, Flag::LabelKey];

/// A promotion of api 1.1.0 into dev by alice, with `text` in `flag`.
fn promote_with(repo: &str, flag: Flag, text: &str) -> crate::support::Run {
    let mut args: Vec<String> = ["promote", "api", "--to", "dev", "--version", "1.1.0", "--actor", "alice"].map(String::from).to_vec();
    match flag {
        Flag::Actor => args[7] = text.to_string(),
        Flag::Version => args[5] = text.to_string(),
        Flag::Digest => args.extend(["--digest".to_string(), text.to_string()]),
        Flag::Approval => args.extend(["--approval".to_string(), text.to_string()]),
        Flag::LabelValue => args.extend(["--label".to_string(), format!("k={text}")]),
        Flag::Branch => args.extend(["--branch".to_string(), text.to_string()]),
        Flag::LabelKey => args.extend(["--label".to_string(), format!("{text}=v")]),
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    tollgate_in(repo, &args)
}

/// After a promotion that exited 0: the commit is fsck-clean, history verifies it, and
/// its record (and the commit) hold exactly what was given, not an escaped or altered
/// form. `exact` is false for values whose stored form is legitimately another (an actor
/// given as `Name <email>` is recorded by its e-mail address).
fn check_committed(repo: &str, flag: Flag, text: &str) -> Result<(), TestCaseError> {
    assert_fsck_clean(repo);
    let rev = if flag == Flag::Branch { format!("refs/heads/{text}") } else { "main".to_string() };
    let history: serde_json::Value = serde_json::from_str(&tollgate_in(repo, &["history", "-o", "json"]).stdout).unwrap();
    if flag != Flag::Branch {
        prop_assert_eq!(&history["promotions"][0]["counts"], &serde_json::Value::Bool(true), "{}", history);
    }
    let record = record_at(repo, &rev);
    let transition = &record["transition"];
    match flag {
        Flag::Actor if !text.contains('<') => {
            prop_assert_eq!(transition["requested_by"].as_str(), Some(text), "{}", record);
            // libgit2 trims "crud" (spaces, controls and , : ; < > " \ ') around an author's name.
            let crud = |c: char| c <= ' ' || ",:;<>\"\\'".contains(c);
            prop_assert_eq!(git(repo, &["log", "-1", "--format=%an", &rev]), format!("{}\n", text.trim_matches(crud)));
        }
        Flag::Actor => {}
        Flag::Version => prop_assert_eq!(transition["artifact"]["version"].as_str(), Some(text), "{}", record),
        Flag::Digest => prop_assert_eq!(transition["artifact"]["digest"].as_str(), Some(text), "{}", record),
        Flag::Approval => {
            let approval = &transition["approvals"][0];
            // NAME, NAME@VERSION or NAME@VERSION:GROUP.
            let (name, version_and_group) = text.split_once('@').map_or((text, None), |(name, rest)| (name, Some(rest)));
            let (version, group) = match version_and_group.map(|rest| rest.split_once(':').map_or((rest, None), |(version, group)| (version, Some(group)))) {
                Some((version, group)) => (Some(version), group),
                None => (None, None),
            };
            prop_assert_eq!(approval["approver"].as_str(), Some(name), "{}", record);
            // An approval without a version approves the version being promoted.
            prop_assert_eq!(approval["version"].as_str(), Some(version.filter(|version| !version.is_empty()).unwrap_or("1.1.0")), "{}", record);
            prop_assert_eq!(approval["group"].as_str(), group, "{}", record);
        }
        Flag::LabelValue => prop_assert_eq!(transition["labels"]["k"].as_str(), Some(text), "{}", record),
        Flag::LabelKey => {
            // KEY=VALUE splits at the first `=`.
            let label = format!("{text}=v");
            let (key, value) = label.split_once('=').unwrap();
            prop_assert_eq!(transition["labels"][key].as_str(), Some(value), "{}", record);
        }
        Flag::Branch => prop_assert!(git(repo, &["log", "-1", "--format=%s", &rev]).starts_with("promote api 1.1.0 to dev")),
    }
    Ok(())
}

/// Values every flag must take: plain names, semantic versions, digests, approvals with
/// and without a group, label keys and values, branch names.
fn valid_input() -> impl Strategy<Value = (Flag, String)> {
    prop_oneof![
        "[A-Z][a-z]{1,8}( [A-Z][a-z]{1,8})?".prop_map(|text| (Flag::Actor, text)),
        "[2-9]\\.[0-9]{1,2}\\.[0-9]{1,2}(-rc\\.[0-9]{1,2})?".prop_map(|text| (Flag::Version, text)),
        "sha256:[0-9a-f]{64}".prop_map(|text| (Flag::Digest, text)),
        "[a-z]{2,8}(@1\\.1\\.0(:[a-z]{2,6})?)?".prop_map(|text| (Flag::Approval, text)),
        "[A-Za-z0-9][A-Za-z0-9._-]{0,15}".prop_map(|text| (Flag::LabelValue, text)),
        "promote/[a-z0-9]{1,8}(-[a-z0-9]{1,6})?".prop_map(|text| (Flag::Branch, text)),
        "[a-z][a-z0-9-]{0,12}".prop_map(|text| (Flag::LabelKey, text)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any string in any flag: an fsck-clean commit that history verifies and whose record
    /// holds exactly that string, or exit 2 with nothing changed.
    #[test]
    fn any_string_in_any_flag_gives_a_clean_commit_or_exit_2_with_nothing_changed(flag in 0..7usize, text in hostile_text()) {
        let (_dir, repo) = plain_repo();
        let before = snapshot(&repo);
        let run = promote_with(&repo, FLAGS[flag], &text);
        match run.code {
            0 => check_committed(&repo, FLAGS[flag], &text)?,
            2 => prop_assert_eq!(snapshot(&repo), before, "{}", run.stderr),
            other => prop_assert!(false, "exit {other}: {}{}", run.stdout, run.stderr),
        }
    }

    /// A valid value in any flag commits (a gate that refused everything would fail here),
    /// and the record holds it exactly.
    #[test]
    fn any_valid_value_in_any_flag_commits_and_is_recorded_as_given((flag, text) in valid_input()) {
        let (_dir, repo) = plain_repo();
        let run = promote_with(&repo, flag, &text);
        prop_assert_eq!(run.code, 0, "{:?} {:?}: {}{}", flag, text, run.stdout, run.stderr);
        check_committed(&repo, flag, &text)?;
    }
}
