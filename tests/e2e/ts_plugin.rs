//! TypeScript plugins (sdk-js/, `tollgate-js build`: componentize-js against the same WIT):
//! the TypeScript port of image-policy passes the Rust example's own cases file, and a
//! `plugin new --lang ts` crate builds and passes its cases.
//!
//! Both need npm packages (sdk-js's, installed by `./test` with `npm ci`) and a build that
//! takes tens of seconds, so they are `#[ignore]`d: `cargo test` lists them as ignored, and
//! `./test` builds what they need and runs each by name with `--ignored`, where a missing
//! component or package is a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::scaffold::assert_success;
use crate::support::{tollgate, tollgate_with_cache, workspace};

/// Where plugins/examples/ts-image-policy/build.sh puts the component (relative to the workspace root).
const EXAMPLE_WASM: &str = "target/plugins/ts_image_policy.wasm";
/// The Rust example's cases, which the TypeScript port must pass unchanged.
const RUST_CASES: &str = "plugins/examples/image-policy/cases.yaml";

/// The case names of a cases file, in order.
fn case_names(path: &Path) -> Vec<String> {
    let cases: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    cases["cases"].as_sequence().unwrap().iter().map(|case| case["name"].as_str().unwrap().to_string()).collect()
}

/// `plugin test` passes every case of `cases`, one line each, and says so.
fn assert_passes_every_case(wasm: &str, cases: &Path) {
    let names = case_names(cases);
    let run = tollgate(&["plugin", "test", wasm, cases.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    for name in &names {
        assert!(run.stdout.contains(&format!("  PASS  {name} (")), "case {name:?} did not pass:\n{}", run.stdout);
    }
    for outcome in ["(allow,", "(deny,", "(error,"] {
        assert!(run.stdout.contains(outcome), "a case ends in {outcome}: {}", run.stdout);
    }
    assert_eq!(run.stdout.lines().last(), Some(format!("{} passed, 0 failed", names.len()).as_str()), "{}", run.stdout);
}

/// Ignored by default (it needs the component build.sh makes); `./test` runs it by name.
#[test]
#[ignore = "needs the TypeScript component: bash plugins/examples/ts-image-policy/build.sh, then run with --ignored"]
fn the_typescript_image_policy_passes_the_rust_examples_cases() {
    let wasm = workspace().join(EXAMPLE_WASM);
    assert!(wasm.is_file(), "{} does not exist: run plugins/examples/ts-image-policy/build.sh first", wasm.display());
    assert_passes_every_case(EXAMPLE_WASM, &workspace().join(RUST_CASES));

    let run = tollgate(&["plugin", "info", EXAMPLE_WASM, "-o", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let info: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(info["name"], "ts-image-policy");
    assert_eq!(info["world"], format!("tollgate:policy/policy@{}", tollgate::WIT_VERSION));
    assert_eq!(info["capabilities"], serde_json::json!([]));

    // The first load into an empty cache compiles with Winch (fast) and leaves Cranelift's
    // code in the cache before the process ends; the next run loads that.
    let cache = tempfile::tempdir().unwrap();
    let run = tollgate_with_cache(cache.path(), &["--verbose", "plugin", "info", EXAMPLE_WASM]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains(": compiled with Winch (the baseline compiler) in "), "{}", run.stderr);
    let run = tollgate_with_cache(cache.path(), &["--verbose", "plugin", "info", EXAMPLE_WASM]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains(": loaded from the compile cache in "), "Cranelift's code was cached: {}", run.stderr);

    // Host functions from JavaScript: a multi-artifact transition's images all checked
    // (transition-artifacts), exit 1 on deny.
    let temp = tempfile::tempdir().unwrap();
    let transition = temp.path().join("transition.yaml");
    std::fs::write(
        &transition,
        "artifacts:\n  - { name: api, image: registry.example.com/shop/api, version: 1.3.0 }\n  - { name: worker, image: docker.io/evil/worker, version: 1.3.0 }\n",
    )
    .unwrap();
    let run = tollgate(&[
        "plugin",
        "eval",
        EXAMPLE_WASM,
        "--policy-config",
        "{allowed_registries: [registry.example.com/]}",
        "--transition",
        transition.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("docker.io/evil/worker is not from an allowed registry"), "{}", run.stdout);
    assert!(!run.stdout.contains("registry.example.com/shop/api is not"), "{}", run.stdout);
}

/// Run `program ARGS` in `dir` without the settings the outer cargo passes to this test.
fn run_in(dir: &Path, program: &str, args: &[&str]) -> Output {
    Command::new(program).args(args).current_dir(dir).env_remove("NODE_OPTIONS").output().unwrap_or_else(|error| panic!("run {program}: {error}"))
}

/// Ignored by default (it needs npm's cache filled by `./test`'s `npm ci`); `./test` runs it by name.
#[test]
#[ignore = "needs sdk-js's npm packages in npm's cache (./test installs them), then run with --ignored"]
fn a_new_typescript_plugin_passes_its_unit_tests_builds_offline_and_passes_its_cases() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("ticket-policy");
    let run = tollgate(&["plugin", "new", "ticket-policy", "--lang", "ts", "--dir", dir.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    for file in ["package.json", "package-lock.json", "tsconfig.json", "src/policy.ts", "src/policy.test.ts", "cases.yaml", "README.md", ".gitignore"] {
        assert!(dir.join(file).is_file(), "{file} was not written: {}", run.stdout);
    }
    assert!(run.stdout.contains("npm run build"), "{}", run.stdout);
    let checkout = workspace().display().to_string();
    assert!(!std::fs::read_to_string(dir.join("package.json")).unwrap().contains(&checkout), "package.json names the checkout");

    // The lock pins every package; npm installs them from its cache, never the network.
    let install = run_in(&dir, "npm", &["ci", "--offline", "--no-audit", "--no-fund"]);
    assert_success("npm ci --offline", &install);
    let test = run_in(&dir, "npm", &["test"]);
    assert_success("npm test", &test);
    let stdout = String::from_utf8_lossy(&test.stdout);
    assert!(stdout.contains("# pass 5") && stdout.contains("# fail 0"), "{stdout}");

    let build = run_in(&dir, "npm", &["run", "build"]);
    assert_success("npm run build", &build);
    let wasm: PathBuf = dir.join("dist").join("ticket_policy.wasm");
    assert!(wasm.is_file(), "{}", String::from_utf8_lossy(&build.stderr));
    assert_passes_every_case(wasm.to_str().unwrap(), &dir.join("cases.yaml"));
    let run = tollgate(&["plugin", "info", wasm.to_str().unwrap(), "-o", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let info: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(info["name"], "ticket-policy");
}
