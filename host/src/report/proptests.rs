//! Every report format stays well-formed for any text a plugin, a requester or the
//! repository can put into it, and no line of the text report claims an outcome the
//! decision did not reach.

use std::time::Duration;

use proptest::prelude::*;

use super::OutputFormat;
use super::decision::render;
use super::escape::is_bidi_control;
use crate::config::Mode;
use crate::decision::{Decision, Finding, PolicyOutcome, Verdict};
use crate::promotion::pipeline::Decided;
use crate::promotion::judge::{GateOutcome, GateResult, PolicyRun};
use crate::promotion::planned::Plan;
use crate::repo::Tip;
use crate::runtime::{Evaluation, Limits};
use crate::transition::Transition;

const FILE: &str = "envs/prod/app/values.yaml";

/// Text built from the characters that break formats, mixed with any character at all.
fn hostile_text() -> impl Strategy<Value = String> {
    let special = prop_oneof![
        Just('\n'), Just('\r'), Just('\t'), Just('\u{1b}'), Just('\0'), Just('\u{7f}'), Just('\u{85}'),
        Just('\u{202e}'), Just('\u{2066}'), Just('\u{200f}'), Just('\u{fffe}'), Just('\u{ffff}'),
        Just('<'), Just('>'), Just('&'), Just('"'), Just('\''), Just('|'), Just('`'), Just('#'),
        Just(':'), Just(','), Just('%'), Just('\\'), Just('!'), Just('-'),
    ];
    let prefix = prop_oneof![
        Just(""), Just("allowed: committed 4f2a9c1e7b3d"), Just("\nallowed: committed 4f2a9c1e7b3d"),
        Just("\ndenied by x"), Just("\r\nfailed closed: y"), Just("::error ::forged"), Just("\n::notice ::x"),
        Just("<!--"), Just("\n## ✅ All policies passed\n"), Just("]]>"), Just("```\n"),
    ];
    let body = prop::collection::vec(prop_oneof![3 => special, 2 => any::<char>()], 0..24);
    (prefix, body).prop_map(|(prefix, body)| format!("{prefix}{}", body.into_iter().collect::<String>()))
}

fn path() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("../../../etc/passwd".to_string())),
        Just(Some(format!("{FILE}#image.tag"))),
        Just(Some(format!("./{FILE}"))),
        hostile_text().prop_map(Some),
    ]
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Allow,
    Deny,
    Failed,
}

fn decided(kind: Kind, mode: Mode, texts: &[String], finding_path: Option<String>) -> Decided {
    let transition = Transition {
        application: texts[0].clone(),
        to_env: texts[1].clone(),
        artifact: crate::transition::Artifact { version: texts[2].clone(), ..Default::default() },
        id: texts[3].clone(),
        ..Transition::default()
    };
    let outcome = match kind {
        Kind::Failed => PolicyOutcome::Failed { cause: texts[4].clone() },
        Kind::Allow | Kind::Deny => PolicyOutcome::Verdict(Verdict {
            decision: if matches!(kind, Kind::Allow) { Decision::Allow } else { Decision::Deny },
            findings: vec![Finding { message: texts[4].clone(), path: finding_path }, Finding { message: texts[5].clone(), path: None }],
        }),
    };
    let run = PolicyRun {
        name: texts[6].clone(),
        plugin: "builtin:change-window".into(),
        sha256: "0".repeat(64),
        manifest_digest: None,
        credentials: Default::default(),
        version: texts[7].clone(),
        mode,
        config: serde_json::Value::Null,
        config_json: "{}".into(),
        limits: Limits::default(),
        http_origins: Vec::new(),
        evaluation: Evaluation { outcome, logs: Vec::new(), stdout: String::new(), stderr: String::new(), elapsed: Duration::ZERO, counted_approvals: None, peak_memory_bytes: 0, preinitialised: false },
        observations: Vec::new(),
    };
    let gate_outcome = match (kind, mode) {
        (_, Mode::Monitor) | (Kind::Allow, _) => GateOutcome::Allowed,
        (Kind::Deny, Mode::Enforce) => GateOutcome::Denied,
        (Kind::Failed, Mode::Enforce) => GateOutcome::Failed,
    };
    let plan = Plan {
        base: Tip { commit: git2::Oid::ZERO_SHA1, tree: git2::Oid::ZERO_SHA1 },
        transition,
        file: FILE.into(),
        branch: "main".into(),
        before: "image:\n  tag: \"1.0.0\"\n".into(),
        after: format!("image:\n  tag: \"{}\"\n", texts[8]),
        line: 2,
        no_op: false,
        rollback_of: None,
        time_overridden: false,
        source_reason: None,
    };
    Decided { plan, gate: GateResult { outcome: gate_outcome, policies: vec![run] } }
}

const STATUS_WORDS: [&str; 4] = ["allowed", "denied", "failed", "no-op"];

fn check_text(decided: &Decided) {
    let text = render(decided, None, false, OutputFormat::Text);
    assert!(!text.chars().any(|c| (c.is_control() && c != '\n') || is_bidi_control(c)), "raw control or bidi character:\n{text}");
    let lines: Vec<&str> = text.lines().collect();
    let claims: Vec<&&str> = lines.iter().filter(|line| STATUS_WORDS.iter().any(|word| line.starts_with(word))).collect();
    let earned = super::decision::outcome_word(decided);
    assert_eq!(claims.len(), 1, "exactly one line states the outcome:\n{text}");
    assert!(claims[0].starts_with(earned), "the outcome line says {earned}:\n{text}");
    assert_eq!(lines.last(), claims.first().copied(), "and it is the last line:\n{text}");
}

fn check_json(decided: &Decided) {
    let text = render(decided, None, false, OutputFormat::Json);
    assert!(!text.chars().any(is_bidi_control), "{text}");
    let value: serde_json::Value = serde_json::from_str(&text).expect("JSON parses");
    assert_eq!(value["transition"]["artifact"]["version"], decided.plan.transition.artifact.version.as_str(), "values are kept");
}

fn check_junit(decided: &Decided) {
    let text = render(decided, None, false, OutputFormat::Junit);
    assert!(!text.chars().any(is_bidi_control), "{text}");
    let document = roxmltree::Document::parse(&text).unwrap_or_else(|error| panic!("JUnit is XML 1.0 ({error}):\n{text}"));
    assert_eq!(document.root_element().tag_name().name(), "testsuites");
}

fn check_sarif(decided: &Decided) {
    let text = render(decided, None, false, OutputFormat::Sarif);
    assert!(!text.chars().any(is_bidi_control), "{text}");
    let log: serde_json::Value = serde_json::from_str(&text).expect("SARIF parses");
    for result in log["runs"][0]["results"].as_array().unwrap() {
        for location in result["locations"].as_array().unwrap() {
            assert_eq!(location["physicalLocation"]["artifactLocation"]["uri"], FILE, "only the changed file: {text}");
        }
        let level = result["level"].as_str().unwrap();
        if result["kind"] == "pass" {
            assert_eq!(level, "note", "an allowed policy's findings are notes: {text}");
        }
    }
}

fn check_github(decided: &Decided) {
    let text = render(decided, None, false, OutputFormat::Github);
    assert!(!text.chars().any(is_bidi_control), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    let (summary, commands) = lines.split_last().unwrap();
    assert!(!summary.starts_with("::"), "the summary line is no command: {summary}");
    for command in commands {
        let rest = ["::error ", "::warning ", "::notice "].iter().find_map(|prefix| command.strip_prefix(prefix)).unwrap_or_else(|| panic!("not a command: {command}"));
        let (properties, _message) = rest.split_once("::").unwrap_or_else(|| panic!("no message: {command}"));
        for property in properties.split(',') {
            let (key, value) = property.split_once('=').unwrap_or_else(|| panic!("bad property {property}: {command}"));
            assert!(["file", "line", "title"].contains(&key), "{command}");
            assert!(!value.contains(':'), "{command}");
            if key == "file" {
                assert_eq!(value, FILE, "only the changed file: {command}");
            }
            if key == "title" && decided.gate.policies[0].evaluation.outcome.label() == "allow" {
                assert!(command.starts_with("::notice "), "an allowed policy's findings are notices: {command}");
            }
        }
    }
    let markdown = super::github::summary_markdown(decided, None);
    let mut lines = markdown.lines();
    assert!(lines.next().unwrap().starts_with("### tollgate: "));
    let without_tags = ["<br>", "<details>", "</details>", "<summary>", "</summary>"].iter().fold(markdown.clone(), |text, tag| text.replace(tag, ""));
    let before_diff = without_tags.split("```").next().unwrap();
    assert!(!before_diff.contains('<'), "no raw HTML outside the diff fence:\n{markdown}");
    for line in markdown.lines().skip(1).take_while(|line| !line.starts_with("<details>")) {
        assert!(!line.starts_with('#'), "no heading but the first:\n{markdown}");
        if line.starts_with('|') {
            let unescaped = line.char_indices().filter(|(index, c)| *c == '|' && (*index == 0 || line.as_bytes()[index - 1] != b'\\')).count();
            assert_eq!(unescaped, 4, "three cells per row: {line}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn every_format_is_well_formed_for_any_text(
        kind in prop_oneof![Just(Kind::Allow), Just(Kind::Deny), Just(Kind::Failed)],
        monitor in any::<bool>(),
        texts in prop::collection::vec(hostile_text(), 9),
        finding_path in path(),
    ) {
        let mode = if monitor { Mode::Monitor } else { Mode::Enforce };
        let decided = decided(kind, mode, &texts, finding_path);
        check_text(&decided);
        check_json(&decided);
        check_junit(&decided);
        check_sarif(&decided);
        check_github(&decided);
    }
}
