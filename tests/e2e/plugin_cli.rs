//! `tollgate plugin info|test|eval`: output, exit codes and input errors.

use crate::support::{plugin, tollgate, tollgate_with_cache, write};

#[test]
fn the_example_plugin_passes_its_cases_file() {
    let wasm = plugin("image-policy");
    let run = tollgate(&["plugin", "test", wasm.to_str().unwrap(), "plugins/examples/image-policy/cases.yaml"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("PASS  an image from another registry is denied (deny,"), "{}", run.stdout);
    assert!(run.stdout.contains("(error,"), "the cases file has an error case: {}", run.stdout);
    assert_eq!(run.stdout.lines().last(), Some("6 passed, 0 failed"));
}

#[test]
fn a_failing_case_says_what_differs_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let cases = write(
        dir.path(),
        "cases.yaml",
        "config: { allowed_registries: [registry.example.com/] }\ncases:\n  - name: wrongly expects allow\n    transition: { artifact: { image: docker.io/x, version: '1' } }\n    expect: allow\n  - name: right\n    transition: { artifact: { image: registry.example.com/x, version: '1' } }\n    expect: allow\n    findings_contain: [never said]\n",
    );
    let run = tollgate(&["plugin", "test", plugin("image-policy").to_str().unwrap(), &cases]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("FAIL  wrongly expects allow (deny,"), "{}", run.stdout);
    assert!(run.stdout.contains("expected allow, got deny (findings: docker.io/x is not from an allowed registry"), "{}", run.stdout);
    assert!(run.stdout.contains("no finding contains \"never said\" (findings: none)"), "{}", run.stdout);
    assert_eq!(run.stdout.lines().last(), Some("0 passed, 2 failed"));
}

#[test]
fn json_output_of_test_and_info_is_one_document() {
    let wasm = plugin("image-policy");
    let run = tollgate(&["plugin", "test", wasm.to_str().unwrap(), "plugins/examples/image-policy/cases.yaml", "-o", "json"]);
    assert_eq!(run.code, 0);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(document["schema_version"], 1);
    assert_eq!(document["passed"], 6);
    assert_eq!(document["cases"][1]["evaluation"]["decision"], "deny");

    let run = tollgate(&["plugin", "info", wasm.to_str().unwrap(), "-o", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let info: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(info["name"], "image-policy");
    assert_eq!(info["version"], "0.1.0");
    assert_eq!(info["world"], "tollgate:policy/policy@0.1.3");
    assert_eq!(info["capabilities"], serde_json::json!([]));
    let bytes = std::fs::read(&wasm).unwrap();
    assert_eq!(info["size_bytes"], bytes.len());
    assert_eq!(info["sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn info_in_text_lists_capabilities_and_world() {
    let run = tollgate(&["plugin", "info", plugin("hostile").to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("name:         hostile\n"), "{}", run.stdout);
    assert!(run.stdout.contains("capabilities: read-file, http-get\n"), "{}", run.stdout);
    assert!(run.stdout.contains("world:        tollgate:policy/policy@0.1.3\n"), "{}", run.stdout);
}

#[test]
fn a_pinned_sha256_that_does_not_match_refuses_to_load() {
    let wasm = plugin("image-policy");
    let reference = format!("{}@sha256:{}", wasm.display(), "0".repeat(64));
    let run = tollgate(&["plugin", "info", &reference]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("sha256 mismatch: the configuration pins sha256:0000"), "{}", run.stderr);
    assert!(run.stderr.contains("refusing to load it"), "{}", run.stderr);
    assert!(run.stdout.is_empty());

    let info: serde_json::Value = serde_json::from_str(&tollgate(&["plugin", "info", wasm.to_str().unwrap(), "-o", "json"]).stdout).unwrap();
    let pinned = format!("{}@sha256:{}", wasm.display(), info["sha256"].as_str().unwrap());
    assert_eq!(tollgate(&["plugin", "info", &pinned]).code, 0, "the right pin loads");
}

#[test]
fn files_that_are_not_policy_components_are_rejected_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cases = "plugins/examples/image-policy/cases.yaml";
    let text = write(dir.path(), "text.wasm", "not wasm at all");
    let run = tollgate(&["plugin", "test", &text, cases]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("it is not a WebAssembly file"), "{}", run.stderr);

    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let run = tollgate(&["plugin", "info", core.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("is a core WebAssembly module, not a component"), "{}", run.stderr);

    // The smallest valid component: it implements no world at all.
    let empty = dir.path().join("empty.wasm");
    std::fs::write(&empty, b"\0asm\x0d\0\x01\0").unwrap();
    let run = tollgate(&["plugin", "info", empty.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("does not implement the tollgate:policy/policy@0.1.3 world: it lacks the export `tollgate:policy/plugin@0.1.3` (it exports nothing)"),
        "{}",
        run.stderr
    );

    let run = tollgate(&["plugin", "info", "no/such/plugin.wasm"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("plugin no/such/plugin.wasm: cannot read it"), "{}", run.stderr);
}

#[test]
fn bad_cases_files_name_the_file_and_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = plugin("image-policy");
    let typo = write(dir.path(), "typo.yaml", "config: {}\ncases:\n  - name: x\n    expect: alow\n");
    let run = tollgate(&["plugin", "test", wasm.to_str().unwrap(), &typo]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains(&format!("{typo}: cases[0].expect: unknown variant `alow`, expected one of `allow`, `deny`, `error` at line 4 column")), "{}", run.stderr);

    let unknown = write(dir.path(), "unknown.yaml", "cases:\n  - name: x\n    expect: allow\n    transition: { to_envv: prod }\n");
    let run = tollgate(&["plugin", "test", wasm.to_str().unwrap(), &unknown]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("unknown field `to_envv`"), "{}", run.stderr);
    assert!(run.stderr.contains("line 4"), "{}", run.stderr);

    let missing = dir.path().join("missing.yaml");
    let run = tollgate(&["plugin", "test", wasm.to_str().unwrap(), missing.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("missing.yaml: cannot read the cases file"), "{}", run.stderr);
}

#[test]
fn usage_errors_exit_2_and_help_lists_exit_codes() {
    let run = tollgate(&["plugin", "test"]);
    assert_eq!(run.code, 2);
    let run = tollgate(&["--help"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("3 a policy failed to run (fail closed)"), "{}", run.stdout);
}

#[test]
fn eval_exit_codes_follow_the_verdict() {
    let wasm = plugin("image-policy");
    let dir = tempfile::tempdir().unwrap();
    let transition = write(dir.path(), "t.yaml", "artifact: { image: docker.io/x, version: '1.0' }\n");
    let config = "{allowed_registries: [registry.example.com/]}";
    let run = tollgate(&["plugin", "eval", wasm.to_str().unwrap(), "--policy-config", config, "--transition", &transition]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains(": deny ("), "{}", run.stdout);
    assert!(run.stdout.contains("  - docker.io/x is not from an allowed registry"), "{}", run.stdout);

    let run = tollgate(&["plugin", "eval", wasm.to_str().unwrap(), "--policy-config", config]);
    assert_eq!(run.code, 0, "the default transition uses registry.example.com: {}", run.stdout);

    let run = tollgate(&["plugin", "eval", wasm.to_str().unwrap(), "--policy-config", "{allowed_registries: []}"]);
    assert_eq!(run.code, 3, "a rejected config fails closed: {}", run.stdout);
    assert!(run.stdout.contains("configuration rejected: config.allowed_registries"), "{}", run.stdout);
}

#[test]
fn a_second_run_loads_the_compiled_plugin_from_the_cache() {
    let cache = tempfile::tempdir().unwrap();
    let wasm = plugin("image-policy");
    let first = tollgate_with_cache(cache.path(), &["--verbose", "plugin", "info", wasm.to_str().unwrap()]);
    assert_eq!(first.code, 0);
    assert!(first.stderr.contains(": compiled in "), "{}", first.stderr);
    assert!(first.stderr.contains(", cached at "), "{}", first.stderr);
    let second = tollgate_with_cache(cache.path(), &["--verbose", "plugin", "info", wasm.to_str().unwrap()]);
    assert_eq!(second.code, 0);
    assert!(second.stderr.contains(": loaded from the compile cache in "), "{}", second.stderr);
    assert_eq!(first.stdout, second.stdout);

    // A corrupt entry is ignored and rebuilt.
    for entry in walk(cache.path()) {
        std::fs::write(entry, b"garbage").unwrap();
    }
    let third = tollgate_with_cache(cache.path(), &["--verbose", "plugin", "info", wasm.to_str().unwrap()]);
    assert_eq!(third.code, 0, "{}", third.stderr);
    assert!(third.stderr.contains(": compiled in "), "{}", third.stderr);
    assert_eq!(first.stdout, third.stdout);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn every_standard_plugin_is_builtin_and_passes_its_cases_file() {
    for name in ["change-window", "approval-count", "secret-scope", "erp-readiness", "deployment-health", "soak-time"] {
        let reference = format!("builtin:{name}");
        let info = tollgate(&["plugin", "info", &reference, "-o", "json"]);
        assert_eq!(info.code, 0, "{name}: {}", info.stderr);
        let info: serde_json::Value = serde_json::from_str(&info.stdout).unwrap();
        assert_eq!(info["name"], name);
        assert_eq!(info["source"], reference);
        assert!(info["size_bytes"].as_u64().unwrap() <= 1_536 * 1024, "{name} is {} bytes", info["size_bytes"]);

        let cases = format!("plugins/{name}/cases.yaml");
        let run = tollgate(&["plugin", "test", &reference, &cases]);
        assert_eq!(run.code, 0, "{name}:\n{}{}", run.stdout, run.stderr);
        // Every case of the file, by name, passes, and the closing count is the file's count.
        let text = std::fs::read_to_string(crate::support::workspace().join(&cases)).unwrap();
        let file: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let names: Vec<&str> = file["cases"].as_sequence().unwrap().iter().map(|case| case["name"].as_str().unwrap()).collect();
        assert!(names.len() >= 20, "{name}: only {} cases", names.len());
        for case in &names {
            assert!(run.stdout.contains(&format!("  PASS  {case} (")), "{name}: case {case:?} did not pass:\n{}", run.stdout);
        }
        assert!(!run.stdout.contains("FAIL"), "{name}: {}", run.stdout);
        let closing = format!("{} passed, 0 failed", names.len());
        assert_eq!(run.stdout.lines().last(), Some(closing.as_str()), "{name}: {}", run.stdout);
    }
    let run = tollgate(&["plugin", "info", "builtin:no-such-policy"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("unknown builtin plugin `builtin:no-such-policy`; available: change-window, approval-count, secret-scope, erp-readiness, deployment-health, soak-time"), "{}", run.stderr);
}
