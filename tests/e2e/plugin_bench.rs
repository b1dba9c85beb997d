//! `tollgate plugin bench`: every case of a cases file, run after run through what `plugin
//! test` runs, with median and p99 time and peak memory. The figures' shape and sense are
//! checked, never their size in time (this machine is shared and noisy).

use crate::support::{plugin, tollgate, workspace, write};

const CASES: &str = "plugins/examples/image-policy/cases.yaml";

fn image_policy() -> String {
    plugin("image-policy").to_str().unwrap().to_string()
}

#[test]
fn bench_runs_every_case_as_plugin_test_does_and_reports_time_and_memory() {
    let wasm = image_policy();
    let cases = workspace().join(CASES);
    let cases = cases.to_str().unwrap();
    let test = tollgate(&["plugin", "test", &wasm, cases, "-o", "json"]);
    assert_eq!(test.code, 0, "{}{}", test.stdout, test.stderr);
    let test: serde_json::Value = serde_json::from_str(&test.stdout).unwrap();

    let run = tollgate(&["plugin", "bench", &wasm, cases, "--runs", "5", "--warmup", "2", "-o", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let bench: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(bench["runs"], 5);
    assert_eq!(bench["warmup"], 2);
    assert_eq!(bench["plugin"], wasm);
    assert_eq!(bench["sha256"], test["sha256"]);
    assert!(["precompiled", "compile cache", "compiled"].contains(&bench["loaded_from"].as_str().unwrap()), "{}", bench["loaded_from"]);
    assert!(bench["load_ms"].as_f64().unwrap() >= 0.0);

    // The same cases, in order, with the outcomes `plugin test` saw.
    let tested = test["cases"].as_array().unwrap();
    let benched = bench["cases"].as_array().unwrap();
    assert_eq!(benched.len(), tested.len());
    assert!(benched.len() >= 6, "the image-policy cases: {}", benched.len());
    for (bench, test) in benched.iter().zip(tested) {
        assert_eq!(bench["name"], test["name"]);
        assert_eq!(bench["outcome"], test["evaluation"]["decision"].as_str().unwrap_or("error"), "{bench}\n{test}");
        assert_eq!(bench["passed"], true, "{bench}");
        let (min, median, p99) = (bench["min_ms"].as_f64().unwrap(), bench["median_ms"].as_f64().unwrap(), bench["p99_ms"].as_f64().unwrap());
        assert!(0.0 < min && min <= median && median <= p99, "{bench}");
        // A Rust plugin holds its linear memory (at least one 64 KiB page), far below the 64 MiB cap.
        let memory = bench["peak_memory_bytes"].as_u64().unwrap();
        assert!((64 * 1024..64 * 1024 * 1024).contains(&memory), "{bench}");
    }
    let outcomes: Vec<&str> = benched.iter().map(|case| case["outcome"].as_str().unwrap()).collect();
    for outcome in ["allow", "deny", "error"] {
        assert!(outcomes.contains(&outcome), "{outcomes:?}");
    }

    let run = tollgate(&["plugin", "bench", &wasm, cases, "--runs", "3"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with(&format!("{wasm} (")) && lines[0].ends_with("; 3 measured runs of every case after 1 warm-up"), "{}", run.stdout);
    assert!(lines[1].starts_with("  case ") && lines[1].ends_with("outcome      median         p99  peak memory"), "{}", run.stdout);
    assert_eq!(lines.len(), benched.len() + 3, "{}", run.stdout);
    assert!(lines[2].contains(" allow ") && lines[2].ends_with(" MiB"), "{}", run.stdout);
    assert_eq!(lines.last(), Some(&format!("{} cases, 0 failed", benched.len()).as_str()));
}

#[test]
fn peak_memory_is_the_instance_high_water_mark() {
    let temp = tempfile::tempdir().unwrap();
    let cases = write(
        temp.path(),
        "memory.yaml",
        "memory_mib: 16\ncases:\n  - name: small\n    config: { behaviour: state }\n    expect: allow\n  \
         - name: bomb\n    config: { behaviour: memory-bomb }\n    expect: error\n    error_contains: exceeded memory limit of 16 MiB\n",
    );
    let run = tollgate(&["plugin", "bench", plugin("hostile").to_str().unwrap(), &cases, "--runs", "2", "-o", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let bench: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let memory = |index: usize| bench["cases"][index]["peak_memory_bytes"].as_u64().unwrap();
    const MIB: u64 = 1024 * 1024;
    assert!(memory(0) < 4 * MIB, "a plugin doing nothing holds little: {}", memory(0));
    // The bomb grew its memory until the 16 MiB cap refused more: the mark is just below it.
    assert!((12 * MIB..=16 * MIB).contains(&memory(1)), "{}", memory(1));
}

#[test]
fn a_failing_case_fails_the_bench_and_bad_counts_are_usage_errors() {
    let temp = tempfile::tempdir().unwrap();
    let cases = write(
        temp.path(),
        "wrong.yaml",
        "config: { allowed_registries: [registry.example.com/] }\ncases:\n  - name: expects the wrong thing\n    \
         transition: { artifact: { image: docker.io/x, version: 1.0.0 } }\n    expect: allow\n",
    );
    let run = tollgate(&["plugin", "bench", &image_policy(), &cases, "--runs", "2"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("\n    FAIL: expected allow, got deny"), "{}", run.stdout);
    assert!(run.stdout.ends_with("1 cases, 1 failed\n"), "{}", run.stdout);

    for bad in [["--runs", "0"], ["--runs", "x"], ["--warmup", "many"]] {
        let run = tollgate(&["plugin", "bench", &image_policy(), &cases, bad[0], bad[1]]);
        assert_eq!(run.code, 2, "{bad:?}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(&format!("invalid value '{}' for '{} <N>'", bad[1], bad[0])), "{}", run.stderr);
    }
    let run = tollgate(&["plugin", "bench", &image_policy(), &temp.path().join("missing.yaml").to_string_lossy()]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("missing.yaml: cannot read the cases file"), "{}", run.stderr);
}
