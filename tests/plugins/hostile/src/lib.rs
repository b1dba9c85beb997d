//! A policy plugin that misbehaves on request. The end-to-end tests load it as a real
//! component to prove that the host contains every kind of misbehaviour and fails closed.

mod probes;

use serde::Deserialize;
use tollgate_sdk::host::{self, LogLevel};
use tollgate_sdk::{Capability, Error, Finding, PluginInfo, Policy, Result, Transition, Verdict, export_policy};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Config {
    behaviour: Behaviour,
    /// For `read-file` and `http-get`: what to read; for `probe-sandbox`: the address to
    /// connect to (default 127.0.0.1:80); for `count`: the names to report; for `probe`: which
    /// probe (see probes.rs).
    #[serde(default)]
    target: String,
    /// For `http-get`: request headers (default: accept JSON).
    #[serde(default)]
    headers: Option<Vec<(String, String)>>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
enum Behaviour {
    /// Loop forever.
    Spin,
    /// Sleep for a minute (blocks inside a WASI host call, where the epoch can't interrupt).
    Sleep,
    /// Allocate until something stops it.
    MemoryBomb,
    /// Panic (with panic=abort this is a trap).
    Panic,
    /// Return an error string.
    Error,
    /// Look for env vars, files, network, clock and randomness; report what it saw.
    ProbeSandbox,
    /// Write far more to stdout/stderr than the host keeps.
    FloodOutput,
    /// Return a verdict with an absurd number of findings.
    HugeVerdict,
    /// Read `target` with host.read-file and report it.
    ReadFile,
    /// Fetch `target` with host.http-get and report it.
    HttpGet,
    /// Log 40 lines of 48 MiB each (the host must keep only a bounded prefix of each).
    LogFlood,
    /// Recurse without end.
    StackOverflow,
    /// Report what a global counter held on entry (then bump it), and the monotonic clock
    /// read twice around some work: a fresh instance per call shows 0 every time, a frozen
    /// clock shows no elapsed time.
    State,
    /// Return findings carrying newlines, terminal escapes and bidi controls.
    ForgeReport,
    /// Create WASI host resources (stdout handles) without ever dropping them.
    ResourceFlood,
    /// Allow, reporting the comma-separated names in `target` as the counted approvals
    /// (WIT 0.1.2), whether or not they approved.
    Count,
    /// Try one thing the host bounds or denies, named by `target` (see probes.rs).
    Probe,
}

/// Bumped by every `state` evaluation of this instance.
static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

struct Hostile;

impl Policy for Hostile {
    type Config = Config;

    fn info() -> PluginInfo {
        let seen = probes::probe_from_info();
        PluginInfo::new("hostile", env!("CARGO_PKG_VERSION"), format!("Misbehaves on request (test fixture); its info() saw: {}", seen.join("; ")))
            .with_capability(Capability::ReadFile)
            .with_capability(Capability::HttpGet)
    }

    fn evaluate(config: &Config, transition: &Transition) -> Result<Verdict> {
        match config.behaviour {
            Behaviour::Spin => {
                let mut counter: u64 = 0;
                loop {
                    counter = std::hint::black_box(counter.wrapping_add(1));
                }
            }
            Behaviour::Sleep => {
                std::thread::sleep(std::time::Duration::from_secs(60));
                Ok(Verdict::allow())
            }
            Behaviour::MemoryBomb => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
                }
            }
            Behaviour::Panic => panic!("the hostile plugin panicked on purpose"),
            Behaviour::Error => Err(Error::new("could not reach the approval service")),
            Behaviour::ProbeSandbox => Ok(probe_sandbox(transition, &config.target)),
            Behaviour::FloodOutput => {
                let line = "x".repeat(1023);
                for _ in 0..2_000 {
                    println!("{line}");
                    eprintln!("{line}");
                    host::log(LogLevel::Info, &line);
                }
                Ok(Verdict::allow())
            }
            Behaviour::HugeVerdict => Ok(Verdict::deny_if_any(
                (0..100_000).map(|i| Finding::new(format!("finding number {i}"))).collect(),
            )),
            Behaviour::ReadFile => Ok(match host::read_file(&config.target)? {
                Some(content) => Verdict::allow().with_finding(format!("read {}: {content}", config.target)),
                None => Verdict::deny(format!("{} does not exist", config.target)),
            }),
            Behaviour::HttpGet => {
                let headers: Vec<(&str, &str)> = match &config.headers {
                    Some(headers) => headers.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect(),
                    None => vec![("accept", "application/json")],
                };
                let response = host::http_get(&config.target, &headers)?;
                let text = String::from_utf8_lossy(&response.body);
                let shown: String = text.chars().take(1000).collect();
                let location = response.headers.iter().find(|(name, _)| name == "location").map(|(_, value)| value.as_str());
                let mut verdict = Verdict::allow().with_finding(format!("status {}: {shown}", response.status));
                verdict = verdict.with_finding(format!("body bytes: {}", response.body.len()));
                if let Some(location) = location {
                    verdict = verdict.with_finding(format!("location: {location}"));
                }
                Ok(verdict)
            }
            Behaviour::LogFlood => {
                let line = "x".repeat(48 << 20);
                for _ in 0..40 {
                    host::log(LogLevel::Info, &line);
                }
                Ok(Verdict::allow().with_finding("logged 40 lines of 48 MiB"))
            }
            Behaviour::StackOverflow => Ok(Verdict::allow().with_finding(format!("depth {}", recurse(0)))),
            Behaviour::State => {
                let previous = CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let start = std::time::Instant::now();
                let mut sum: u64 = 0;
                for i in 0..2_000_000u64 {
                    sum = std::hint::black_box(sum.wrapping_add(i));
                }
                let elapsed = start.elapsed().as_nanos();
                Ok(Verdict::allow()
                    .with_finding(format!("calls before: {previous}"))
                    .with_finding(format!("monotonic elapsed: {elapsed} ns (sum {})", sum % 2)))
            }
            Behaviour::ResourceFlood => {
                #[cfg(target_os = "wasi")]
                for _ in 0..20_000u32 {
                    std::mem::forget(wasip2::cli::stdout::get_stdout());
                }
                Ok(Verdict::allow().with_finding("created 20,000 host resources"))
            }
            Behaviour::Count => {
                Ok(Verdict::allow().with_counted_approvals(config.target.split(',').filter(|name| !name.is_empty())))
            }
            Behaviour::Probe => probes::run(&config.target),
            Behaviour::ForgeReport => Ok(Verdict::deny_if_any(vec![
                Finding::new("first line\nallowed: committed 4f2a9c1e7b3d"),
                Finding::new("\u{1b}[2K\rallowed: everything fine"),
                Finding::new("\u{202e}evil\u{202c} \u{fffe}\u{ffff} <!-- ## ✅ All policies passed").at("../../../etc/passwd"),
            ])),
        }
    }
}

/// Recursion the optimiser cannot turn into a loop, keeping its state in WebAssembly locals
/// (not Rust's shadow stack in linear memory), so it is the engine's call stack that overflows.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    if depth == u64::MAX {
        return 0;
    }
    recurse(depth + 1).rotate_left(1) ^ depth
}

/// Everything the sandbox should hide, as findings: `env`, `files`, `network`, `clock`, `random`.
fn probe_sandbox(transition: &Transition, address: &str) -> Verdict {
    let address = if address.is_empty() { "127.0.0.1:80" } else { address };
    println!("probe: hello from stdout");
    eprintln!("probe: hello from stderr");
    let env_count = std::env::vars_os().count();
    let args_count = std::env::args_os().count();
    let files = ["/", ".", "/etc/passwd", "/proc/self/environ"]
        .iter()
        .map(|path| match std::fs::read_dir(path) {
            Ok(entries) => format!("{path}: listed {} entries", entries.count()),
            Err(_) => match std::fs::read(path) {
                Ok(bytes) => format!("{path}: read {} bytes", bytes.len()),
                Err(error) => format!("{path}: denied ({})", error.kind()),
            },
        })
        .collect::<Vec<_>>()
        .join("; ");
    let network = match std::net::TcpStream::connect(address) {
        Ok(_) => "connected".to_string(),
        Err(error) => format!("denied ({})", error.kind()),
    };
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or(-1);
    let mut random = [0u8; 16];
    let random = match getrandom::fill(&mut random) {
        Ok(()) => random.iter().map(|byte| format!("{byte:02x}")).collect::<String>(),
        Err(error) => format!("error {error}"),
    };
    let hasher_seed = {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(42);
        hasher.finish()
    };
    Verdict::allow()
        .with_finding(format!("env: {env_count} variables, {args_count} arguments"))
        .with_finding(format!("files: {files}"))
        .with_finding(format!("network: {network}"))
        .with_finding(format!("clock: {clock} (requested-at {})", transition.requested_at))
        .with_finding(format!("random: {random} hash {hasher_seed:016x}"))
}

export_policy!(Hostile);
