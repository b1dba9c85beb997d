//! A pre-initialised instance decides as a plain one, each decision still in a fresh instance,
//! and a server makes one by itself once a configuration is hot.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::super::{FileSource, HostAccess, Limits, Plugin, PluginRef, PolicyEnvironments, Runtime};
use crate::transition::{Approval, Transition};

fn environments() -> PolicyEnvironments {
    PolicyEnvironments { configured: vec!["test".into(), "prod".into()], runs_for: vec!["prod".into()] }
}

fn access(files: &[(&str, &str)]) -> HostAccess {
    let files: BTreeMap<String, String> = files.iter().map(|(path, text)| (path.to_string(), text.to_string())).collect();
    let files: Arc<dyn FileSource> = Arc::new(files);
    HostAccess { files: Some(files), environments: environments(), ..HostAccess::none() }
}

fn approved_by(approvers: &[&str]) -> Transition {
    let mut transition = Transition {
        id: format!("tg-preinit-{}", approvers.len()),
        application: "shop-api".into(),
        from_env: Some("test".into()),
        to_env: "prod".into(),
        requested_by: "erin".into(),
        // Tuesday 2026-01-06 10:30 in Berlin.
        requested_at: 1_767_691_800,
        ..Transition::default()
    };
    let version = transition.artifact.version.clone();
    transition.approvals = approvers.iter().map(|approver| Approval { approver: approver.to_string(), at: None, version: version.clone(), group: None, signed: None }).collect();
    transition
}

/// What a user sees of a decision (the outcome, the logs and the approvals it counted), and
/// whether its instance was of a snapshot.
fn decided(plugin: &Arc<Plugin>, config: &str, transition: &Transition, files: &[(&str, &str)]) -> (String, bool) {
    let evaluation = plugin.decide(config, transition, Limits::default(), access(files)).evaluation;
    (format!("{:?} {:?} {:?}", evaluation.outcome, evaluation.logs, evaluation.counted_approvals), evaluation.preinitialised)
}

/// [`decided`] by a plain instance.
fn seen(plugin: &Arc<Plugin>, config: &str, transition: &Transition, files: &[(&str, &str)]) -> String {
    let (seen, preinitialised) = decided(plugin, config, transition, files);
    assert!(!preinitialised, "{}: not from a snapshot", plugin.source());
    seen
}

fn builtin(runtime: &Runtime, name: &str) -> Arc<Plugin> {
    runtime.load(&PluginRef::parse(&format!("builtin:{name}")).unwrap()).unwrap()
}

const APPROVALS: &str = r#"{"environments": {"prod": {"required": 2, "groups": {"sre": ["bob", "dana"]}, "group_minimums": {"sre": 1}}}}"#;
const WINDOW: &str = r#"{"environments": {"prod": {"timezone": "Europe/Berlin", "windows": [{"days": ["mon", "tue"], "start": "09:00", "end": "10:00"}]}}}"#;
const READINESS: &str = r#"{"environments": {"prod": {"readiness_file": "erp/readiness.yaml"}}}"#;

#[test]
fn a_pre_initialised_instance_decides_as_a_plain_one_each_decision_in_a_fresh_instance() {
    let mut runtime = Runtime::new_pooled(None).unwrap();
    runtime.preinitialise_hot_configurations();
    let cases: Vec<(&str, &str, Transition, Vec<(&str, &str)>)> = vec![
        ("approval-count", APPROVALS, approved_by(&["alice", "bob"]), vec![]),
        ("approval-count", APPROVALS, approved_by(&["alice"]), vec![]),
        ("approval-count", APPROVALS, approved_by(&["alice", "carol"]), vec![]),
        ("change-window", WINDOW, approved_by(&[]), vec![]),
        ("erp-readiness", READINESS, approved_by(&[]), vec![("erp/readiness.yaml", "status: ready\n")]),
        ("erp-readiness", READINESS, approved_by(&[]), vec![("erp/readiness.yaml", "status: blocked\n")]),
    ];
    let plain: Vec<String> = cases.iter().map(|(name, config, transition, files)| seen(&builtin(&runtime, name), config, transition, files)).collect();
    let allowed: Vec<bool> = plain.iter().map(|seen| seen.starts_with("Verdict(Verdict { decision: Allow")).collect();
    assert_eq!(allowed, [true, false, false, false, true, false], "{plain:#?}");
    for name in ["approval-count", "change-window", "erp-readiness"] {
        let plugin = builtin(&runtime, name);
        let config = cases.iter().find(|case| case.0 == name).unwrap().1;
        plugin.preinitialise(config, &environments(), Limits::default()).unwrap();
    }
    // Twice over, interleaved: an allow after a deny of the same instance image, so nothing
    // one decision did is seen by the next.
    for _ in 0..2 {
        for ((name, config, transition, files), plain) in cases.iter().zip(&plain) {
            let plugin = builtin(&runtime, name);
            assert_eq!(&decided(&plugin, config, transition, files), &(plain.clone(), true), "{name}: from its snapshot, as plain");
        }
    }
    // Another configuration, or the same one told other environments, is not the snapshot's.
    let approvals = builtin(&runtime, "approval-count");
    let one = r#"{"environments": {"prod": {"required": 1}}}"#;
    let decided = seen(&approvals, one, &approved_by(&["alice"]), &[]);
    assert!(decided.contains("Allow"), "{decided}");
    let decided = approvals.decide(APPROVALS, &approved_by(&["alice", "bob"]), Limits::default(), HostAccess { environments: PolicyEnvironments { configured: vec!["prod".into()], runs_for: vec!["prod".into()] }, ..HostAccess::none() });
    assert!(format!("{:?}", decided.evaluation.outcome).contains("Allow"));
    assert!(!decided.evaluation.preinitialised);
}

#[test]
fn a_configuration_the_plugin_refuses_or_a_runtime_not_set_to_gets_no_snapshot_and_decides_as_before() {
    let mut runtime = Runtime::new_pooled(None).unwrap();
    runtime.preinitialise_hot_configurations();
    let approvals = builtin(&runtime, "approval-count");
    let misspelt = r#"{"environments": {"prd": {"required": 2}}}"#;
    let refused = approvals.preinitialise(misspelt, &environments(), Limits::default()).unwrap_err();
    assert!(refused.contains("refused the configuration") && refused.contains("prd"), "{refused}");
    let decided = seen(&approvals, misspelt, &approved_by(&["alice", "bob"]), &[]);
    assert!(decided.contains("configuration rejected") && decided.contains("prd"), "{decided}");

    // A pooled runtime not set to pre-initialise, and a one-shot one even when set to.
    let plain = Runtime::new_pooled(None).unwrap();
    let mut one_shot = Runtime::new(None).unwrap();
    one_shot.preinitialise_hot_configurations();
    for runtime in [&plain, &one_shot] {
        let error = builtin(runtime, "approval-count").preinitialise(APPROVALS, &environments(), Limits::default()).unwrap_err();
        assert!(error.contains("only the standard plugins, in a pooled runtime set to pre-initialise them"), "{error}");
    }
}

#[test]
fn a_server_runtime_pre_initialises_a_configuration_by_itself_once_it_is_hot() {
    let mut runtime = Runtime::new_pooled(None).unwrap();
    runtime.preinitialise_hot_configurations();
    let plugin = builtin(&runtime, "approval-count");
    let transition = approved_by(&["alice", "bob"]);
    let plain = seen(&plugin, APPROVALS, &transition, &[]);
    for _ in 1..super::Snapshots::HOT_AFTER {
        assert_eq!(seen(&plugin, APPROVALS, &transition, &[]), plain);
    }
    // The last decision made it hot: its snapshot is being made on a background thread, while
    // decisions go on as before.
    let started = Instant::now();
    loop {
        let (seen, preinitialised) = decided(&plugin, APPROVALS, &transition, &[]);
        assert_eq!(seen, plain);
        if preinitialised {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "no snapshot within five minutes");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(decided(&plugin, APPROVALS, &transition, &[]), (plain, true));
}

#[test]
fn a_new_configuration_takes_the_place_of_the_one_asked_for_least_recently_but_never_of_one_being_made() {
    use super::{Entry, Snapshots, make_room};
    let mut entries = std::collections::HashMap::new();
    for index in 0..Snapshots::MAX_ENTRIES as u8 {
        let entry = if index == 0 { Entry::Building } else { Entry::Seen(u32::from(index)) };
        entries.insert([index; 32], (entry, u64::from(index)));
    }
    assert!(make_room(&mut entries, &[1; 32]), "one already there keeps its place");
    assert_eq!(entries.len(), Snapshots::MAX_ENTRIES);
    assert!(make_room(&mut entries, &[200; 32]));
    assert!(entries.contains_key(&[0; 32]) && !entries.contains_key(&[1; 32]), "the oldest not being made gave way");
    assert_eq!(entries.len(), Snapshots::MAX_ENTRIES - 1);
    // One only counted gives way before an older one whose snapshot failed or is ready.
    let mut mixed: std::collections::HashMap<_, _> = (0..Snapshots::MAX_ENTRIES as u8).map(|index| ([index; 32], (Entry::Unusable, u64::from(index)))).collect();
    mixed.insert([7; 32], (Entry::Seen(3), 100));
    assert!(make_room(&mut mixed, &[200; 32]));
    assert!(!mixed.contains_key(&[7; 32]) && mixed.contains_key(&[0; 32]), "the counted one gave way, not the oldest failed one");
    // Every place taken by one being made: no room, the plain path.
    let mut making: std::collections::HashMap<_, _> = (0..Snapshots::MAX_ENTRIES as u8).map(|index| ([index; 32], (Entry::Building, 0))).collect();
    assert!(!make_room(&mut making, &[200; 32]));
}
