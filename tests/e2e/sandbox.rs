//! The sandbox contains misbehaving plugins and fails closed, with the cause in plain words.

use std::io::Read;
use std::net::TcpListener;
use std::time::{Duration, Instant};

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

/// The elapsed milliseconds `plugin eval` reports (`PLUGIN: error (123.4 ms)`).
fn reported_ms(run: &crate::support::Run) -> f64 {
    run.stdout.split(": error (").nth(1).and_then(|rest| rest.split(' ').next()).unwrap().parse().unwrap()
}

#[test]
fn an_infinite_loop_stops_at_the_configured_timeout_with_exit_3() {
    let started = Instant::now();
    let run = eval("spin", &["--timeout-ms", "300"]);
    let wall = started.elapsed();
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains(": error ("), "{}", run.stdout);
    // Stopped by the epoch deadline inside WebAssembly, not abandoned by the watchdog (whose
    // message differs): with epoch interruption broken this line changes.
    assert!(run.stdout.contains("  timed out after 300 ms\n"), "{}", run.stdout);
    assert!(!run.stdout.contains("watchdog"), "{}", run.stdout);
    let elapsed = reported_ms(&run);
    assert!(elapsed >= 300.0, "not before the timeout: {elapsed} ms");
    // Generous (a loaded machine): the process as a whole ends long before a spinning guest
    // would (it never would) and well within a minute.
    assert!(wall < Duration::from_secs(60), "tollgate itself took {wall:?}");
}

/// Regression: the epoch ticker counted its sleeps, so on a loaded machine, where a sleep
/// lasts longer than asked, a spinning plugin's deadline came late, and the watchdog (meant
/// for calls blocked in the host) abandoned it instead. The extreme of a loaded machine:
/// the whole process gets no CPU for a second (SIGSTOP) while the plugin spins.
#[test]
fn a_plugin_starved_of_cpu_is_stopped_at_its_deadline_not_by_the_watchdog() {
    use std::os::unix::process::CommandExt;
    let config = "{behaviour: spin}";
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("--cache-dir")
        .arg(crate::support::shared_cache())
        .args(["plugin", "eval", "--policy-config", config, &hostile(), "--timeout-ms", "3000"])
        // Granted (never fetched from): the call then runs on a `tollgate-policy` worker,
        // whose CPU time tells when the plugin spins.
        .args(["--http-origin", "http://127.0.0.1:9"])
        .current_dir(crate::support::workspace())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = child.id();
    // Wait until the plugin spins (its worker thread has used CPU), then stop everything.
    let started = Instant::now();
    while policy_thread_cpu_ticks(pid) < 5 {
        assert!(started.elapsed() < Duration::from_secs(60), "the plugin never started spinning");
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: kill(2) on the child we started; no memory is involved.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGSTOP) };
    std::thread::sleep(Duration::from_secs(1));
    // SAFETY: as above.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGCONT) };
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(3), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    // Counted in sleeps, the epoch would lag the second the process stood still, and reach
    // the deadline only after the watchdog (500 ms past it) gave up on the call.
    assert!(stdout.contains("  timed out after 3000 ms\n"), "{stdout}");
    assert!(!stdout.contains("watchdog"), "{stdout}");
}

/// CPU time (clock ticks) used so far by the `tollgate-policy` worker threads of `pid`.
fn policy_thread_cpu_ticks(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return 0 };
    tasks
        .flatten()
        .filter(|task| std::fs::read_to_string(task.path().join("comm")).is_ok_and(|name| name.trim() == "tollgate-policy"))
        .filter_map(|task| std::fs::read_to_string(task.path().join("stat")).ok())
        .map(|stat| {
            // After the command name in parentheses: fields 14 and 15 (utime, stime) of stat.
            let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
            fields.get(11).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0) + fields.get(12).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0)
        })
        .sum()
}

/// A sleep is a wait in a WASI host call, where epoch interruption cannot reach: it ends at
/// the deadline (the plugin asks for a minute), on the caller's thread, with no watchdog. (A
/// call blocked in an `http-get` is abandoned by the watchdog instead:
/// `runtime::plugin::tests::a_call_blocked_in_an_http_get_…`.)
#[test]
fn a_plugin_that_sleeps_past_its_deadline_is_stopped_at_it() {
    let started = Instant::now();
    let run = eval("sleep", &["--timeout-ms", "300"]);
    let wall = started.elapsed();
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("  timed out after 300 ms (waiting in a host call, e.g. a sleep; the wait was ended at the deadline)\n"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("watchdog"), "{}", run.stdout);
    let elapsed = reported_ms(&run);
    assert!(elapsed >= 300.0, "not before the timeout: {elapsed} ms");
    assert!(wall < Duration::from_secs(30), "stopped at the deadline, not after the plugin's 60 s sleep: {wall:?}");
}

/// The same for a wait on several pollables at once (`wasi:io/poll.poll`, as an event loop
/// waits): a short one is served as before, one past the deadline ends at it.
#[test]
fn a_poll_on_clocks_is_served_within_the_deadline_and_ended_at_it() {
    let probe = |millis: &str, timeout: &str| {
        let config = format!("{{behaviour: probe, target: 'poll-clock:{millis}'}}");
        tollgate(&["plugin", "eval", "--policy-config", &config, &hostile(), "--timeout-ms", timeout])
    };
    let run = probe("20", "60000");
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("poll-clock: ready [0]"), "the earlier clock was ready first: {}", run.stdout);

    let started = Instant::now();
    let run = probe("60000", "300");
    let wall = started.elapsed();
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("  timed out after 300 ms (waiting in a host call, e.g. a sleep; the wait was ended at the deadline)\n"), "{}", run.stdout);
    assert!(wall < Duration::from_secs(30), "ended at the deadline, not after the minute asked for: {wall:?}");
}

#[test]
fn a_memory_bomb_stops_at_the_cap() {
    // A minute's deadline here and below: on a loaded machine the default 2 s could end the
    // call before the limit under test does.
    let run = eval("memory-bomb", &["--memory-mib", "16", "--timeout-ms", "60000"]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("  exceeded memory limit of 16 MiB\n"), "{}", run.stdout);

    let run = eval("memory-bomb", &["--timeout-ms", "60000"]);
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
    let run = eval("huge-verdict", &["--timeout-ms", "60000"]);
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
fn a_listening_loopback_port_is_unreachable_from_the_sandbox() {
    // Something really listens, so "denied" cannot be a refused connection in disguise.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    listener.set_nonblocking(true).unwrap();
    let config = format!("{{behaviour: probe-sandbox, target: '{address}'}}");
    let run = tollgate(&["plugin", "eval", "--policy-config", &config, &hostile(), "-o", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let network = document["findings"][2]["message"].as_str().unwrap();
    assert!(network.starts_with("network: denied ("), "{network}");
    match listener.accept() {
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the guest reached {address}: {other:?}"),
    }
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
    // 6,000 host calls: far more than the default 2 s on a loaded machine in a debug build.
    let run = eval("flood-output", &["--timeout-ms", "60000", "-o", "json"]);
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
    let slow = http_server(200, r#"{"ready": true}"#, Duration::from_secs(60));
    let ungranted = http_server(200, "secret", Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let cases = write(
        dir.path(),
        "http.yaml",
        &format!(
            "http_origins: ['{ready}', '{slow}']\ntimeout_ms: 2000\ncases:\n\
             \x20 - name: a granted origin answers\n    config: {{ behaviour: http-get, target: '{ready}/ready' }}\n    expect: allow\n    findings_contain: ['status 200: {{\"ready\": true}}']\n\
             \x20 - name: an ungranted origin is refused by the host\n    config: {{ behaviour: http-get, target: '{ungranted}/x' }}\n    expect: error\n    error_contains: 'is not granted to this policy'\n\
             \x20 - name: a slow server runs into the deadline\n    config: {{ behaviour: http-get, target: '{slow}/ready' }}\n    expect: error\n    error_contains: \"timed out: no complete response within the policy's 2000 ms deadline\"\n"
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

/// A loopback server that records each request's head and answers with `respond(head)`.
fn recording_server(respond: impl Fn(&str) -> Vec<u8> + Send + Sync + 'static) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = requests.clone();
    let respond = std::sync::Arc::new(respond);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|read| read == 1) {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            seen.lock().unwrap().push(head.clone());
            let _ = std::io::Write::write_all(&mut stream, &respond(&head));
        }
    });
    (origin, requests)
}

fn response(status: &str, extra_headers: &str, body: &[u8]) -> Vec<u8> {
    let mut bytes = format!("HTTP/1.1 {status}\r\n{extra_headers}content-length: {}\r\nconnection: close\r\n\r\n", body.len()).into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn http_eval(origin: &str, target: &str, headers: &str) -> crate::support::Run {
    let config = format!("{{behaviour: http-get, target: '{target}'{headers}}}");
    tollgate(&["plugin", "eval", "--policy-config", &config, &hostile(), "--http-origin", origin, "-o", "json"])
}

fn findings(run: &crate::support::Run) -> Vec<String> {
    let document: serde_json::Value = serde_json::from_str(&run.stdout).unwrap_or_else(|_| panic!("{}{}", run.stdout, run.stderr));
    document["findings"].as_array().map_or_else(Vec::new, |findings| findings.iter().map(|f| f["message"].as_str().unwrap().to_string()).collect())
}

#[test]
fn http_get_forwards_the_plugins_headers_but_never_its_host() {
    let (origin, requests) = recording_server(|_| response("200 OK", "", b"fine"));
    let run = http_eval(&origin, &format!("{origin}/ready"), ", headers: [[x-probe, forwarded], [Host, evil.example], [accept, text/plain]]");
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(findings(&run)[0], "status 200: fine");
    let requests = requests.lock().unwrap();
    assert_eq!(requests.len(), 1);
    let head = requests[0].to_ascii_lowercase();
    assert!(head.starts_with("get /ready http/1.1\r\n"), "{head}");
    assert!(head.contains("\r\nx-probe: forwarded\r\n"), "{head}");
    assert!(head.contains("\r\naccept: text/plain\r\n"), "{head}");
    let host = origin.trim_start_matches("http://");
    assert!(head.contains(&format!("\r\nhost: {host}\r\n")), "the Host of the granted URL: {head}");
    assert!(!head.contains("evil.example"), "the plugin's Host header is dropped: {head}");
}

#[test]
fn http_get_returns_redirects_instead_of_following_them() {
    let (elsewhere, elsewhere_requests) = recording_server(|_| response("200 OK", "", b"secret"));
    let location = format!("location: {elsewhere}/secret\r\n");
    let (origin, requests) = recording_server(move |_| response("302 Found", &location, b""));
    let run = http_eval(&origin, &format!("{origin}/ready"), "");
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let findings = findings(&run);
    assert_eq!(findings[0], "status 302: ");
    assert_eq!(findings[2], format!("location: {elsewhere}/secret"));
    assert_eq!(requests.lock().unwrap().len(), 1);
    assert!(elsewhere_requests.lock().unwrap().is_empty(), "the redirect target was never contacted");
}

#[test]
fn http_get_bodies_are_capped_at_one_mib() {
    let (origin, _) = recording_server(|head| {
        let size = if head.starts_with("GET /over") { 1024 * 1024 + 1 } else { 1024 * 1024 };
        response("200 OK", "", &vec![b'x'; size])
    });
    let at_limit = http_eval(&origin, &format!("{origin}/exact"), "");
    assert_eq!(at_limit.code, 0, "{}{}", at_limit.stdout, at_limit.stderr);
    assert_eq!(findings(&at_limit)[1], "body bytes: 1048576");
    let over = http_eval(&origin, &format!("{origin}/over"), "");
    assert_eq!(over.code, 3, "{}{}", over.stdout, over.stderr);
    let document: serde_json::Value = serde_json::from_str(&over.stdout).unwrap();
    assert_eq!(document["cause"], "the plugin returned an error: response body exceeds the limit of 1048576 bytes", "{}", over.stdout);
}

#[test]
fn a_stack_overflow_fails_closed() {
    let run = eval("stack-overflow", &["--timeout-ms", "60000"]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("  overflowed its stack\n"), "{}", run.stdout);
}

#[test]
fn every_call_gets_a_fresh_instance_and_a_stopped_monotonic_clock() {
    // `plugin test` evaluates each case in the same process with the same loaded plugin; the
    // global counter a case bumps must be back at 0 in the next one.
    let dir = tempfile::tempdir().unwrap();
    let cases = write(
        dir.path(),
        "state.yaml",
        "config: { behaviour: state }\ncases:\n\
         \x20 - name: first\n    expect: allow\n    findings_contain: ['calls before: 0', 'monotonic elapsed: 0 ns']\n\
         \x20 - name: second\n    expect: allow\n    findings_contain: ['calls before: 0', 'monotonic elapsed: 0 ns']\n\
         \x20 - name: third\n    expect: allow\n    findings_contain: ['calls before: 0']\n",
    );
    let run = tollgate(&["plugin", "test", &hostile(), &cases]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.stdout.lines().last(), Some("3 passed, 0 failed"));
}

#[test]
fn the_memory_cap_counts_all_memories_together() {
    // Two extra instances of a core module with a 6 MiB memory each, on top of the plugin's
    // own: 12 MiB that no single memory exceeds, over an 8 MiB cap only together.
    let dir = tempfile::tempdir().unwrap();
    let wasm = crate::budget::inflated_with_memories(dir.path(), 96, 2);
    let config = "{behaviour: probe-sandbox}";
    let run = tollgate(&["plugin", "eval", "--policy-config", config, &wasm, "--memory-mib", "8"]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("  exceeded memory limit of 8 MiB\n"), "{}", run.stdout);
    let run = tollgate(&["plugin", "eval", "--policy-config", config, &wasm, "--memory-mib", "64"]);
    assert_eq!(run.code, 0, "the same plugin fits a larger cap: {}{}", run.stdout, run.stderr);
}

#[test]
fn control_characters_in_plugin_output_are_neutralised() {
    let run = eval("forge-report", &["-o", "json"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let findings = findings(&run);
    // The runtime replaces terminal escapes and carriage returns as they leave the sandbox.
    assert_eq!(findings[1], "\u{fffd}[2K\u{fffd}allowed: everything fine");
    let text = eval("forge-report", &[]);
    assert!(!text.stdout.contains('\u{1b}') && !text.stdout.contains('\r'), "{:?}", text.stdout);
    assert!(text.stdout.contains("  - first line\\nallowed: committed 4f2a9c1e7b3d\n"), "{}", text.stdout);
}

#[test]
fn read_file_is_withheld_from_a_plugin_that_does_not_declare_it() {
    // A real promotion (where access follows the plugin's declared capabilities), not
    // `plugin test` (which always grants files).
    let dir = crate::support::gitops_repo();
    let repo = crate::support::repo_path(&dir);
    let config = format!(
        "environments: [dev]\napplications:\n  shop-api:\n    image: registry.example.com/shop/api\n    environments:\n      dev: {{ file: envs/dev/shop-api/values.yaml, helm: {{ tag_path: image.tag }} }}\npolicies:\n  - plugin: {}\n    config: {{ path: envs/dev/shop-api/values.yaml }}\n",
        plugin("undeclared").display()
    );
    let config_path = dir.path().join("undeclared.yaml");
    std::fs::write(&config_path, config).unwrap();
    let before = crate::support::snapshot(&repo);
    let run = crate::support::tollgate_in(&repo, &["--config", config_path.to_str().unwrap(), "promote", "shop-api", "--to", "dev", "--version", "1.5.0"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("read-file refused: reading repository files is not available to this policy"), "{}", run.stdout);
    assert_eq!(crate::support::snapshot(&repo), before);
}

#[test]
fn a_manifest_nesting_thousands_of_levels_through_aliases_is_a_secret_scope_deny_not_a_trap() {
    // Forty anchors, each wrapping the previous one in 100 brackets: 4,000 levels out of 40
    // short lines. Copying or dropping that tree overflowed the component's stack (a trap, so
    // the gate failed to run: exit 3); it is refused at the alias that goes past 128 levels.
    let chain: String = (0..40)
        .map(|level| {
            let inner = if level == 0 { "x".to_string() } else { format!("*a{}", level - 1) };
            format!("a{level}: &a{level} {}{inner}{}\\n", "[".repeat(100), "]".repeat(100))
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let cases = write(
        dir.path(),
        "cases.yaml",
        &format!(
            "environments: [prod]\npolicy_environments: [prod]\nconfig: {{ environments: {{ prod: {{ allow: ['k8s:prod-*'] }} }} }}\ncases:\n  \
             - name: aliases\n    transition: {{ to_env: prod, changes: [{{ path: envs/prod/chain.yaml, after: \"{chain}\" }}] }}\n    expect: deny\n"
        ),
    );
    let run = tollgate(&["plugin", "test", "builtin:secret-scope", &cases, "-o", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("envs/prod/chain.yaml does not parse as YAML at line 2 column 109: nested deeper than 128 levels"),
        "{}",
        run.stdout
    );
}
