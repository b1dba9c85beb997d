//! The erp-readiness plugin against real HTTP servers on 127.0.0.1: the host's real client
//! fetches the readiness endpoint, and every way the endpoint can fail is a deny with a
//! finding (or, past the deadline, a failure), never an allow.

use std::time::Duration;

use crate::support::{http_server, plugin, tollgate, write};

fn erp() -> String {
    plugin("erp-readiness").to_str().unwrap().to_string()
}

/// One cases-file case: a promotion of shop-api (contract 2.4.0) to prod, whose readiness
/// comes from `url`. `finding` is pinned with `findings_contain` when not empty.
fn case(name: &str, url: &str, expect: &str, finding: &str) -> String {
    let mut case = format!(
        "  - name: {name}\n\
         \x20   config: {{ environments: {{ prod: {{ endpoint: {{ url: '{url}' }} }} }} }}\n\
         \x20   transition: {{ application: shop-api, labels: {{ erp-contract: 2.4.0 }} }}\n\
         \x20   expect: {expect}\n"
    );
    if !finding.is_empty() {
        case.push_str(&format!("    findings_contain: ['{finding}']\n"));
    }
    case
}

#[test]
fn erp_readiness_reads_a_real_endpoint_and_fails_closed_on_bad_answers() {
    let ready = http_server(200, r#"{"status": "ready", "supported_contract": ">=2.3, <3"}"#, Duration::ZERO);
    let not_ready = http_server(200, r#"{"status": "degraded", "message": "invoice sync lagging"}"#, Duration::ZERO);
    let malformed = http_server(200, r#"{"status": "ready","#, Duration::ZERO);
    let broken = http_server(500, "internal error", Duration::ZERO);
    let ungranted = http_server(200, r#"{"status": "ready"}"#, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    // No `http:` section: the granted origins are fetched over the network for real.
    let cases = [
        format!("http_origins: ['{ready}', '{not_ready}', '{malformed}', '{broken}']\ncases:\n"),
        case("ready", &format!("{ready}/ready?env={{env}}&app={{app}}"), "allow", ""),
        case(
            "not ready",
            &format!("{not_ready}/ready"),
            "deny",
            &format!("ERP integration for prod is not ready (status: degraded: invoice sync lagging); reported by {not_ready}/ready"),
        ),
        case(
            "malformed body",
            &format!("{malformed}/ready"),
            "deny",
            &format!(
                "ERP readiness endpoint {malformed}/ready answered with a malformed readiness document: EOF while parsing a value at line 1 column 19"
            ),
        ),
        case(
            "HTTP 500",
            &format!("{broken}/ready"),
            "deny",
            &format!("ERP readiness endpoint {broken}/ready could not be read: it answered HTTP 500: internal error"),
        ),
        case(
            "ungranted origin",
            &format!("{ungranted}/ready"),
            "deny",
            &format!("ERP readiness endpoint {ungranted}/ready could not be read: {ungranted} is not granted to this policy"),
        ),
    ]
    .concat();
    let cases = write(dir.path(), "erp.yaml", &cases);
    let run = tollgate(&["plugin", "test", &erp(), &cases]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("PASS  ready (allow,"), "{}", run.stdout);
    assert!(run.stdout.contains("PASS  HTTP 500 (deny,"), "{}", run.stdout);
    assert_eq!(run.stdout.lines().last(), Some("5 passed, 0 failed"), "{}", run.stdout);
}

#[test]
fn erp_readiness_endpoint_slower_than_the_deadline_is_never_an_allow() {
    // The server answers long after the deadline; the deadline is long enough that the margin
    // the host leaves the plugin after http-get gives up (a quarter of it, at most 250 ms) is
    // far more than a loaded machine delays a thread.
    let slow = http_server(200, r#"{"status": "ready"}"#, Duration::from_secs(60));
    let dir = tempfile::tempdir().unwrap();
    let cases = format!(
        "http_origins: ['{slow}']\ntimeout_ms: 2000\ncases:\n{}",
        case("slow endpoint", &format!("{slow}/ready"), "deny", "")
    );
    let cases = write(dir.path(), "slow.yaml", &cases);
    let run = tollgate(&["plugin", "test", &erp(), &cases, "-o", "json"]);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).unwrap_or_else(|_| panic!("{}{}", run.stdout, run.stderr));
    let evaluation = &document["cases"][0]["evaluation"];
    // The host gives http-get the deadline minus that margin, so the plugin itself turns the
    // timeout into a deny with a finding (fail closed, never an allow).
    assert_eq!(evaluation["outcome"], "verdict", "{evaluation}");
    assert_eq!(evaluation["decision"], "deny", "{evaluation}");
    assert_eq!(
        evaluation["findings"][0]["message"].as_str().unwrap(),
        format!("ERP readiness endpoint {slow}/ready could not be read: timed out: no complete response within the policy's 2000 ms deadline")
    );
    // Ended by the deadline, not by the server's answer a minute later.
    let elapsed = evaluation["elapsed_ms"].as_f64().unwrap();
    assert!(elapsed < 30_000.0, "took {elapsed} ms");
}
