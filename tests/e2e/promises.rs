//! Promises of the README and SECURITY.md that no other test held the host to (issue 21,
//! "Promises without a test"): info() runs with nothing reachable, the 4 KiB limit on a
//! finding's message and path, the 256 KiB cap on a plugin's logs and the 64 KiB cap on its
//! stderr, UDP and DNS denied to a plugin. Each drives the hostile test component
//! (`behaviour: probe`, tests/plugins/hostile/src/probes.rs) through the real binary.

use std::net::UdpSocket;

use crate::support::{Run, plugin, tollgate};

fn hostile() -> String {
    plugin("hostile").to_str().unwrap().to_string()
}

/// `tollgate plugin eval` of the hostile plugin's probe `target`, as JSON, plus `extra` flags.
fn probe(target: &str, extra: &[&str]) -> Run {
    let config = format!("{{behaviour: probe, target: '{target}'}}");
    let plugin = hostile();
    let mut args = vec!["plugin", "eval", "--policy-config", &config, &plugin, "-o", "json"];
    args.extend_from_slice(extra);
    tollgate(&args)
}

fn document(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|error| panic!("{error}: {}{}", run.stdout, run.stderr))
}

fn findings(run: &Run) -> Vec<String> {
    document(run)["findings"].as_array().unwrap_or_else(|| panic!("no findings: {}{}", run.stdout, run.stderr)).iter().map(|f| f["message"].as_str().unwrap().to_string()).collect()
}

#[test]
fn info_runs_with_nothing_reachable_even_what_the_configuration_grants() {
    // Asked on its own (`plugin info`), info() reaches nothing; the plugin's description
    // says what it tried.
    let run = tollgate(&["plugin", "info", &hostile(), "-o", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let description = document(&run)["description"].as_str().unwrap().to_string();
    assert!(description.contains("its info() saw: read-file: refused: reading repository files is not available to this policy; "), "{description}");
    assert!(description.contains("; http-get: refused: http://127.0.0.1:9 is not granted to this policy"), "{description}");
    assert!(description.contains("; tcp: denied ("), "{description}");

    // In a real plan, info() runs in the decision's own instance, before the configuration's
    // grants apply: the origin it tries is granted and the file it reads is in the repository,
    // and evaluate() in the same instance reaches both; info() reaches neither.
    let (_dir, repo) = crate::record::plain_repo_with(
        &format!(
            "{}policies:\n  - plugin: {}\n    http_origins: ['http://127.0.0.1:9']\n    config: {{ behaviour: probe, target: info }}\n",
            crate::record::PLAIN_CONFIG,
            hostile()
        ),
        &[],
    );
    let run = crate::support::tollgate_in(&repo, &["plan", "api", "--to", "dev", "--version", "1.1.0", "--actor", "alice", "-o", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let plan = document(&run);
    let messages: Vec<&str> = plan["policies"][0]["evaluation"]["findings"].as_array().unwrap().iter().map(|f| f["message"].as_str().unwrap()).collect();
    assert_eq!(messages.len(), 5, "{plan:#}");
    assert_eq!(messages[0], "from info(): read-file: refused: reading repository files is not available to this policy", "{plan:#}");
    assert!(messages[1].starts_with("from info(): http-get: refused: http://127.0.0.1:9 is not granted to this policy"), "{plan:#}");
    assert!(messages[2].starts_with("from info(): tcp: denied ("), "{plan:#}");
    // evaluate() got past the grant (whatever 127.0.0.1:9 answers) and read the file.
    assert!(messages[3].starts_with("from evaluate(): http-get: ") && !messages[3].contains("not granted"), "{plan:#}");
    assert!(messages[4].starts_with("from evaluate(): read-file: read "), "{plan:#}");
}

#[test]
fn a_finding_message_or_path_over_4_kib_is_malformed_output_and_4_kib_is_not() {
    for what in ["message", "path"] {
        let at_limit = probe(&format!("finding-{what}:4096"), &[]);
        assert_eq!(at_limit.code, 0, "{what} of 4096 bytes: {}{}", at_limit.stdout, at_limit.stderr);
        let over = probe(&format!("finding-{what}:4097"), &[]);
        assert_eq!(over.code, 3, "{what} of 4097 bytes: {}{}", over.stdout, over.stderr);
        assert_eq!(document(&over)["outcome"], "failed", "{}", over.stdout);
        assert!(
            over.stdout.contains(&format!("returned malformed output: a finding {what} is 4097 bytes (limit 4096)")),
            "{}",
            over.stdout
        );
    }
}

#[test]
fn logs_keep_at_most_256_kib_in_all_and_count_the_lines_dropped() {
    // 100 lines of 4 KiB (the longest a line may be): 400 KiB offered, 256 KiB kept.
    let run = probe("log-lines:100", &["--timeout-ms", "60000"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let logs = document(&run)["logs"].as_array().unwrap().clone();
    let kept: Vec<&str> = logs.iter().map(|line| line["message"].as_str().unwrap()).filter(|message| message.starts_with('l')).collect();
    assert_eq!(kept.len(), 64, "{} lines kept", kept.len());
    assert_eq!(kept.iter().map(|message| message.len()).sum::<usize>(), 256 * 1024);
    assert_eq!(logs.last().unwrap()["message"], "[36 more log lines dropped]");
    assert_eq!(logs.len(), 65);
}

#[test]
fn stdout_and_stderr_keep_64_kib_each_and_say_how_much_was_dropped() {
    // flood-output writes 2,000 lines of 1,024 bytes to each (and logs as many: a deadline
    // far beyond the default 2 s, for a loaded machine).
    let config = "{behaviour: flood-output}";
    let run = tollgate(&["plugin", "eval", "--policy-config", config, &hostile(), "--timeout-ms", "60000", "-o", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let document = document(&run);
    for stream in ["stdout", "stderr"] {
        let text = document[stream].as_str().unwrap();
        let (kept, note) = text.rsplit_once("\n[… ").unwrap_or_else(|| panic!("{stream} has no note: {}", &text[text.len().saturating_sub(80)..]));
        assert_eq!(kept.len(), 64 * 1024, "{stream}");
        assert!(kept.bytes().all(|byte| byte == b'x' || byte == b'\n'), "{stream}");
        assert_eq!(note, format!("{} more bytes dropped]", 2_000 * 1_024 - 64 * 1024), "{stream}");
    }
}

#[test]
fn udp_is_denied_to_a_plugin_and_nothing_arrives() {
    // Something really listens, so "denied" cannot be a lost datagram in disguise.
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver.set_nonblocking(true).unwrap();
    let address = receiver.local_addr().unwrap();
    let run = probe(&format!("udp:{address}"), &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let finding = &findings(&run)[0];
    assert!(finding.starts_with("udp: denied ("), "{finding}");
    let mut buffer = [0u8; 64];
    match receiver.recv_from(&mut buffer) {
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("a datagram from the guest reached {address}: {other:?}"),
    }
}

#[test]
fn dns_lookups_are_denied_to_a_plugin() {
    // localhost: a lookup the sandbox must refuse, which needs no network if it did not.
    let run = probe("dns:localhost", &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let finding = &findings(&run)[0];
    assert!(finding.starts_with("dns: denied ("), "{finding}");
}
