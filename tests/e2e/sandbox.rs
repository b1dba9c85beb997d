//! The sandbox contains misbehaving plugins and fails closed, with the cause in plain words.

use std::time::Duration;

use crate::support::{hostile_case, http_server, plugin, tollgate, write};

fn hostile() -> String {
    plugin("hostile").to_str().unwrap().to_string()
}

/// `tollgate plugin eval` of the hostile plugin with a behaviour and extra flags.
fn eval(behaviour: &str, extra: &[&str]) -> crate::support::Run {
    let config = format!("{{behaviour: {behaviour}}}");
    let mut args = vec!["plugin", "eval", "--policy-config", &config];
    let plugin = hostile();
    args.push(&plugin);
    args.extend_from_slice(extra);
    tollgate(&args)
}

#[test]
fn an_infinite_loop_stops_at_the_configured_timeout_with_exit_3() {
    let run = eval("spin", &["--timeout-ms", "300"]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains(": error ("), "{}", run.stdout);
    assert!(run.stdout.contains("  timed out after 300 ms\n"), "{}", run.stdout);
}

#[test]
fn a_plugin_blocked_in_a_host_call_is_abandoned_at_the_timeout() {
    let run = eval("sleep", &["--timeout-ms", "300"]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("  timed out after 300 ms\n"), "{}", run.stdout);
    let elapsed: f64 = run.stdout.split(": error (").nth(1).and_then(|rest| rest.split(' ').next()).unwrap().parse().unwrap();
    assert!(elapsed < 30_000.0, "abandoned at the deadline, not after the plugin's 60 s sleep: {elapsed} ms");
}

#[test]
fn a_memory_bomb_stops_at_the_cap() {
    let run = eval("memory-bomb", &["--memory-mib", "16"]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("  exceeded memory limit of 16 MiB\n"), "{}", run.stdout);

    let run = eval("memory-bomb", &[]);
    assert_eq!(run.code, 3);
    assert!(run.stdout.contains("exceeded memory limit of 64 MiB"), "the default cap is 64 MiB: {}", run.stdout);
}

#[test]
fn a_panic_is_a_failure_that_quotes_the_panic_message() {
    let run = eval("panic", &[]);
    assert_eq!(run.code, 3);
    assert!(run.stdout.contains("trapped: "), "{}", run.stdout);
    assert!(run.stdout.contains("(the plugin panicked: the hostile plugin panicked on purpose)"), "{}", run.stdout);
}

#[test]
fn an_error_returned_by_the_plugin_fails_closed() {
    let run = eval("error", &[]);
    assert_eq!(run.code, 3);
    assert!(run.stdout.contains("the plugin returned an error: could not reach the approval service"), "{}", run.stdout);
}

#[test]
fn an_oversized_verdict_is_malformed_output() {
    let run = eval("huge-verdict", &[]);
    assert_eq!(run.code, 3);
    assert!(run.stdout.contains("returned malformed output: 100000 findings (limit 500)"), "{}", run.stdout);
}

#[test]
fn a_plugin_finds_no_environment_files_or_network() {
    let run = eval("probe-sandbox", &["-o", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let findings: Vec<&str> = document["findings"].as_array().unwrap().iter().map(|f| f["message"].as_str().unwrap()).collect();
    assert_eq!(findings[0], "env: 0 variables, 0 arguments");
    assert_eq!(
        findings[1],
        "files: /: denied (entity not found); .: denied (entity not found); /etc/passwd: denied (entity not found); /proc/self/environ: denied (entity not found)"
    );
    assert!(findings[2].starts_with("network: denied"), "{}", findings[2]);
    // The clock reads the transition's requested-at (default 2026-01-05T10:00:00Z).
    assert_eq!(findings[3], "clock: 1767607200 (requested-at 1767607200)");
    // Output is captured for the report, not passed through.
    assert_eq!(document["stdout"], "probe: hello from stdout\n");
    assert_eq!(document["stderr"], "probe: hello from stderr\n");
}

#[test]
fn the_same_transition_gives_identical_verdicts_even_with_clock_and_random() {
    let dir = tempfile::tempdir().unwrap();
    let transition = write(dir.path(), "t.yaml", "id: d-1\nrequested_at: 2026-06-01T17:30:00+02:00\n");
    let first = eval("probe-sandbox", &["--transition", &transition, "-o", "json"]);
    let second = eval("probe-sandbox", &["--transition", &transition, "-o", "json"]);
    let findings = |run: &crate::support::Run| {
        let document: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        document["findings"].clone()
    };
    assert_eq!(findings(&first), findings(&second));
    assert_eq!(findings(&first)[3]["message"], "clock: 1780327800 (requested-at 1780327800)");
    let random = findings(&first)[4]["message"].as_str().unwrap().to_string();
    assert!(random.starts_with("random: ") && !random.contains("error"), "{random}");

    // A different decision gets different (but again reproducible) randomness.
    let other = write(dir.path(), "other.yaml", "id: d-2\nrequested_at: 2026-06-01T17:30:00+02:00\n");
    let third = eval("probe-sandbox", &["--transition", &other, "-o", "json"]);
    assert_ne!(findings(&first)[4], findings(&third)[4]);
}

#[test]
fn floods_of_output_and_logs_are_cut_not_fatal() {
    let run = eval("flood-output", &["-o", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let stdout = document["stdout"].as_str().unwrap();
    assert!(stdout.len() < 70 * 1024, "stdout is bounded: {} bytes", stdout.len());
    assert!(stdout.ends_with("more bytes dropped]"), "{}", &stdout[stdout.len() - 80..]);
    let logs = document["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 201);
    assert_eq!(logs[200]["message"], "[1800 more log lines dropped]");
}

#[test]
fn read_file_sees_the_repository_view_and_nothing_outside_it() {
    let dir = tempfile::tempdir().unwrap();
    let files = "files:\n  envs/prod/erp/readiness.yaml: 'status: ready'\n";
    let cases = write(
        dir.path(),
        "read.yaml",
        &format!(
            "config: {{ behaviour: read-file, target: envs/prod/erp/readiness.yaml }}\n{files}cases:\n\
             \x20 - name: reads a file of the proposed tree\n    expect: allow\n    findings_contain: ['read envs/prod/erp/readiness.yaml: status: ready']\n\
             \x20 - name: a missing file is none\n    config: {{ behaviour: read-file, target: envs/dev/x.yaml }}\n    expect: deny\n\
             \x20 - name: escaping the repository is refused\n    config: {{ behaviour: read-file, target: ../../etc/passwd }}\n    expect: error\n    error_contains: 'invalid path \"../../etc/passwd\"'\n\
             \x20 - name: absolute paths are refused\n    config: {{ behaviour: read-file, target: /etc/passwd }}\n    expect: error\n    error_contains: 'it is absolute'\n"
        ),
    );
    let run = tollgate(&["plugin", "test", &hostile(), &cases]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.stdout.lines().last(), Some("4 passed, 0 failed"));
}

#[test]
fn http_get_reaches_only_granted_origins_within_the_deadline() {
    let ready = http_server(200, r#"{"ready": true}"#, Duration::ZERO);
    let slow = http_server(200, r#"{"ready": true}"#, Duration::from_secs(5));
    let ungranted = http_server(200, "secret", Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let cases = write(
        dir.path(),
        "http.yaml",
        &format!(
            "http_origins: ['{ready}', '{slow}']\ntimeout_ms: 800\ncases:\n\
             \x20 - name: a granted origin answers\n    config: {{ behaviour: http-get, target: '{ready}/ready' }}\n    expect: allow\n    findings_contain: ['status 200: {{\"ready\": true}}']\n\
             \x20 - name: an ungranted origin is refused by the host\n    config: {{ behaviour: http-get, target: '{ungranted}/x' }}\n    expect: error\n    error_contains: 'is not granted to this policy'\n\
             \x20 - name: a slow server runs into the deadline\n    config: {{ behaviour: http-get, target: '{slow}/ready' }}\n    expect: error\n    error_contains: \"timed out: no complete response within the policy's 800 ms deadline\"\n"
        ),
    );
    let run = tollgate(&["plugin", "test", &hostile(), &cases]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.stdout.lines().last(), Some("3 passed, 0 failed"));
}

#[test]
fn canned_http_responses_and_errors_come_from_the_cases_file() {
    let dir = tempfile::tempdir().unwrap();
    let extra = "http_origins: ['https://erp.example.com']\nhttp:\n  https://erp.example.com/ready: { status: 503, body: 'maintenance' }\n";
    let cases = hostile_case(dir.path(), "http-get", extra, "allow");
    let cases_text = std::fs::read_to_string(&cases).unwrap().replace(
        "config: { behaviour: http-get }",
        "config: { behaviour: http-get, target: 'https://erp.example.com/ready' }",
    );
    std::fs::write(&cases, cases_text + "    findings_contain: ['status 503: maintenance']\n").unwrap();
    let run = tollgate(&["plugin", "test", &hostile(), &cases]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}
