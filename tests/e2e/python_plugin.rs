//! The Python example plugin (`plugins/examples/python-policy`), a component built from
//! Python by componentize-py against the same WIT: the contract is not tied to Rust.
//!
//! The component is built by `plugins/examples/python-policy/build.sh`, not by host/build.rs
//! (it needs Python and a download from PyPI), so the test is `#[ignore]`d: `cargo test`
//! lists it as ignored with the reason, and `.ci/run` builds the component and runs it by name
//! with `--ignored`, where a missing component is a failure.

use crate::support::{tollgate, workspace};

/// Where build.sh puts the component, relative to the workspace root (tollgate runs there).
const WASM: &str = "target/plugins/python_policy.wasm";
const CASES: &str = "plugins/examples/python-policy/cases.yaml";

/// The built component's path; a missing component fails the test (it only runs when asked).
fn require_component() {
    let path = workspace().join(WASM);
    assert!(
        path.is_file(),
        "{} does not exist: run plugins/examples/python-policy/build.sh first (it needs python3 and PyPI)",
        path.display()
    );
}

/// The case names in the cases file, in order.
fn case_names() -> Vec<String> {
    let text = std::fs::read_to_string(workspace().join(CASES)).unwrap();
    let cases: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    cases["cases"]
        .as_sequence()
        .expect("the cases file has a `cases` list")
        .iter()
        .map(|case| case["name"].as_str().expect("every case has a name").to_string())
        .collect()
}

/// One test, so the 18 MiB component is compiled once (by `plugin test`, into the shared
/// compile cache) and the later commands load it from there.
///
/// Ignored by default (reported as `ignored` by `cargo test`, never counted as passed): it
/// needs the component, which a plain `cargo build` does not make. `.ci/run` builds it and
/// runs exactly this test with `--ignored`; locally:
/// `bash plugins/examples/python-policy/build.sh && cargo test -p tollgate --test e2e python_plugin -- --ignored`.
#[test]
#[ignore = "needs the Python component: bash plugins/examples/python-policy/build.sh, then run with --ignored"]
fn the_python_plugin_passes_its_cases_and_describes_itself() {
    require_component();

    // Every case passes: allow, deny and error cases alike.
    let names = case_names();
    assert!(names.len() >= 8, "the cases file should have at least 8 cases, has {}", names.len());
    let run = tollgate(&["plugin", "test", WASM, CASES]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("FAIL"), "{}", run.stdout);
    for name in &names {
        assert!(run.stdout.contains(&format!("  PASS  {name} (")), "case {name:?} did not pass:\n{}", run.stdout);
    }
    for outcome in ["(allow,", "(deny,", "(error,"] {
        assert!(run.stdout.contains(outcome), "the cases file has a case ending in {outcome}: {}", run.stdout);
    }
    let closing = format!("{} passed, 0 failed", names.len());
    assert_eq!(run.stdout.lines().last(), Some(closing.as_str()), "{}", run.stdout);

    // Its self-description and the world it implements, from the cache this time.
    let run = tollgate(&["--verbose", "plugin", "info", WASM]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("name:         python-policy\n"), "{}", run.stdout);
    assert!(run.stdout.contains("capabilities: none\n"), "{}", run.stdout);
    assert!(run.stdout.contains("world:        tollgate:policy/policy@0.1.3\n"), "{}", run.stdout);
    assert!(run.stderr.contains("loaded from the compile cache"), "the second load should hit the cache: {}", run.stderr);

    // Findings and the host import (`log`) work from Python too.
    let run = tollgate(&[
        "plugin",
        "eval",
        WASM,
        "--policy-config",
        "{allowed_registries: [docker.io/], require_digest: true}",
    ]);
    assert_eq!(run.code, 1, "deny exits 1: {}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("  - registry.example.com/app is not from an allowed registry (allowed: docker.io/)\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("  - registry.example.com/app:1.0.0 is not pinned by digest; prod requires a sha256 digest\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("  log info: checked registry.example.com/app:1.0.0 for prod: deny, 2 findings\n"),
        "{}",
        run.stdout
    );
}
