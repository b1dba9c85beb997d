//! `behaviour: probe`: one thing the host bounds or denies, named by `target`
//! (`WHAT` or `WHAT:ARGUMENT`), tried for real and reported as a finding:
//!
//! - `finding-message:N`, `finding-path:N`: a finding whose message or path is N bytes;
//! - `log-lines:N`: N log lines of 4096 bytes each;
//! - `udp:ADDRESS`: send a datagram to ADDRESS;
//! - `dns:NAME`: look NAME up;
//! - `info`: what `read-file`, `http-get` and a TCP connection gave `info()` in this instance
//!   (the plugin's description says it too), then the same calls from `evaluate()`;
//! - `poll-clock:MS`: wait with `wasi:io/poll.poll` on two monotonic-clock pollables, due in MS
//!   and in twice MS milliseconds, and report which were ready.

use std::sync::Mutex;

use tollgate_sdk::host::{self, LogLevel};
use tollgate_sdk::{Finding, Result, Verdict};

/// What `info()` saw, in the order it tried.
static FROM_INFO: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The origin `info()` tries to reach (the tests grant it to the policy).
pub const INFO_ORIGIN: &str = "http://127.0.0.1:9";

/// Called from `info()`: try to reach a repository file, a granted origin and the network;
/// what happened, also kept for the `info` probe of the same instance.
pub fn probe_from_info() -> Vec<String> {
    let read = match host::read_file("tollgate.yaml") {
        Ok(Some(content)) => format!("read-file: read {} bytes", content.len()),
        Ok(None) => "read-file: no such file".to_string(),
        Err(error) => format!("read-file: refused: {error}"),
    };
    let fetched = match host::http_get(&format!("{INFO_ORIGIN}/from-info"), &[]) {
        Ok(response) => format!("http-get: status {}", response.status),
        Err(error) => format!("http-get: refused: {error}"),
    };
    let connected = match std::net::TcpStream::connect("127.0.0.1:9") {
        Ok(_) => "tcp: connected".to_string(),
        Err(error) => format!("tcp: denied ({})", error.kind()),
    };
    let seen = vec![read, fetched, connected];
    *FROM_INFO.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = seen.clone();
    seen
}

/// Run the probe `target` names.
pub fn run(target: &str) -> Result<Verdict> {
    let (what, argument) = target.split_once(':').unwrap_or((target, ""));
    let size = || argument.parse::<usize>().unwrap_or(0);
    Ok(match what {
        "finding-message" => Verdict::allow().with_finding("x".repeat(size())),
        "finding-path" => Verdict::allow().with_finding(Finding::new("a finding with a long path").at("p".repeat(size()))),
        "log-lines" => {
            let line = "l".repeat(4096);
            for _ in 0..size() {
                host::log(LogLevel::Info, &line);
            }
            Verdict::allow().with_finding(format!("logged {} lines of 4096 bytes", size()))
        }
        "udp" => {
            let sent = std::net::UdpSocket::bind("127.0.0.1:0").and_then(|socket| socket.send_to(b"from the sandbox", argument));
            Verdict::allow().with_finding(match sent {
                Ok(bytes) => format!("udp: sent {bytes} bytes"),
                Err(error) => format!("udp: denied ({})", error.kind()),
            })
        }
        "dns" => {
            use std::net::ToSocketAddrs;
            Verdict::allow().with_finding(match (argument, 80).to_socket_addrs() {
                Ok(addresses) => format!("dns: resolved {} addresses", addresses.count()),
                Err(error) => format!("dns: denied ({})", error.kind()),
            })
        }
        "info" => {
            let seen = FROM_INFO.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
            let mut verdict = Verdict::allow();
            for line in seen {
                verdict = verdict.with_finding(format!("from info(): {line}"));
            }
            // The same calls from evaluate(), where the configuration's grants apply.
            verdict = verdict.with_finding(match host::http_get(&format!("{INFO_ORIGIN}/from-evaluate"), &[]) {
                Ok(response) => format!("from evaluate(): http-get: status {}", response.status),
                Err(error) => format!("from evaluate(): http-get: {error}"),
            });
            verdict.with_finding(match host::read_file("tollgate.yaml") {
                Ok(Some(content)) => format!("from evaluate(): read-file: read {} bytes", content.len()),
                Ok(None) => "from evaluate(): read-file: no such file".to_string(),
                Err(error) => format!("from evaluate(): read-file: refused: {error}"),
            })
        }
        "poll-clock" => {
            #[cfg(target_os = "wasi")]
            let ready = {
                use wasip2::clocks::monotonic_clock::subscribe_duration;
                let millis = size() as u64;
                let (first, second) = (subscribe_duration(millis * 1_000_000), subscribe_duration(2 * millis * 1_000_000));
                wasip2::io::poll::poll(&[&first, &second])
            };
            #[cfg(not(target_os = "wasi"))]
            let ready: Vec<u32> = Vec::new();
            Verdict::allow().with_finding(format!("poll-clock: ready {ready:?}"))
        }
        other => return Err(tollgate_sdk::Error::new(format!("no probe named {other:?}"))),
    })
}
