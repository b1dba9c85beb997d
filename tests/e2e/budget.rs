//! One memory budget per evaluation: hostile components that try to make tollgate hold more
//! than the configured cap (tables, extra instances, log lines, capability floods) fail
//! closed or are cut, and the peak RSS of the tollgate process stays within a documented
//! multiple of the cap (see SECURITY.md), measured from the child's own rusage.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{Run, git, gitops_repo, plugin, repo_path, shared_cache, snapshot, workspace};

const MIB: u64 = 1024 * 1024;

/// The documented bound (SECURITY.md): peak RSS ≤ 3 × the memory cap + 160 MiB for the
/// runtime itself (wasmtime, the compiled plugin, a debug build's own heap).
fn rss_bound(cap_mib: u64) -> u64 {
    (3 * cap_mib + 160) * MIB
}

/// Run `tollgate ARGS` and return the run and the child's peak resident set size in bytes
/// (`ru_maxrss` from `wait4`, for exactly this child).
// The child is reaped by `wait4` below (std's `wait` would not report its rusage).
#[allow(clippy::zombie_processes)]
pub fn tollgate_peak_rss(args: &[&str]) -> (Run, u64) {
    tollgate_peak_rss_env(args, &[])
}

/// [`tollgate_peak_rss`] with extra environment variables.
#[allow(clippy::zombie_processes)]
pub fn tollgate_peak_rss_env(args: &[&str], env: &[(&str, &str)]) -> (Run, u64) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("--cache-dir")
        .arg(shared_cache())
        .args(args)
        .current_dir(workspace())
        .env_remove("TOLLGATE_CACHE_DIR")
        .env_remove("GITHUB_STEP_SUMMARY")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tollgate");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).unwrap();
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).unwrap();
        text
    });
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value; wait4 fills it for the child we spawned.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pid is our own unreaped child; the pointers are valid for the call.
    let reaped = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(reaped, child.id() as libc::pid_t, "wait4 failed");
    assert!(libc::WIFEXITED(status), "tollgate was killed (status {status:#x}), e.g. by the OOM killer");
    let run = Run { code: libc::WEXITSTATUS(status), stdout: out.join().unwrap(), stderr: err.join().unwrap() };
    // ru_maxrss is in KiB on Linux. Printed for SECURITY.md's figures (`-- --nocapture`).
    let peak = usage.ru_maxrss as u64 * 1024;
    eprintln!("peak RSS of tollgate {}: {} MiB", args.join(" "), peak / MIB);
    (run, peak)
}

/// The hostile component with `instances` extra core instances appended, each of a core
/// module that defines `tables` funcref tables of `elements` elements: hand-encoded core wasm
/// in sections added to the end of the real component (after its exports, so the policy
/// still works; wasmtime instantiates every core instance a component declares).
fn inflated_hostile(dir: &Path, tables: u32, elements: u32, instances: u32) -> String {
    let mut table_section = leb(tables);
    for _ in 0..tables {
        table_section.extend([0x70, 0x00]); // funcref, min only
        table_section.extend(leb(elements));
    }
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    module.push(4); // table section
    module.extend(leb(table_section.len() as u32));
    module.extend(table_section);
    let inflated = append_instances(std::fs::read(plugin("hostile")).unwrap(), &module, instances);

    let path = dir.join(format!("hostile-{tables}x{elements}x{instances}.wasm"));
    std::fs::write(&path, inflated).unwrap();
    path.to_str().unwrap().to_string()
}

/// The hostile component with `instances` extra core instances of a module that defines one
/// linear memory of `pages` 64 KiB pages.
pub fn inflated_with_memories(dir: &Path, pages: u32, instances: u32) -> String {
    let mut memory_section = leb(1);
    memory_section.push(0x00); // min only
    memory_section.extend(leb(pages));
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    module.push(5); // memory section
    module.extend(leb(memory_section.len() as u32));
    module.extend(memory_section);
    let path = dir.join(format!("hostile-memories-{pages}x{instances}.wasm"));
    std::fs::write(&path, append_instances(std::fs::read(plugin("hostile")).unwrap(), &module, instances)).unwrap();
    path.to_str().unwrap().to_string()
}

/// `component` with `module` appended and instantiated `instances` times.
fn append_instances(component: Vec<u8>, module: &[u8], instances: u32) -> Vec<u8> {
    let module_index = count_top_level_modules(&component);
    let mut inflated = component;
    inflated.push(1); // core module section
    inflated.extend(leb(module.len() as u32));
    inflated.extend(module);
    let mut instance_section = leb(instances);
    for _ in 0..instances {
        instance_section.push(0x00); // instantiate
        instance_section.extend(leb(module_index));
        instance_section.push(0x00); // no arguments
    }
    inflated.push(2); // core instance section
    inflated.extend(leb(instance_section.len() as u32));
    inflated.extend(instance_section);
    inflated
}

/// Core modules defined at the top level of a component (each core module section holds one).
fn count_top_level_modules(component: &[u8]) -> u32 {
    let mut offset = 8;
    let mut modules = 0;
    while offset < component.len() {
        let id = component[offset];
        let (size, read) = read_leb(&component[offset + 1..]);
        offset += 1 + read + size as usize;
        if id == 1 {
            modules += 1;
        }
    }
    modules
}

fn leb(mut value: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            bytes.push(byte);
            return bytes;
        }
        bytes.push(byte | 0x80);
    }
}

fn read_leb(bytes: &[u8]) -> (u32, usize) {
    let (mut value, mut shift, mut read) = (0u32, 0, 0);
    loop {
        let byte = bytes[read];
        read += 1;
        value |= u32::from(byte & 0x7f) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            return (value, read);
        }
    }
}

fn eval(wasm: &str, behaviour: &str, extra: &[&str]) -> (Run, u64) {
    let config = format!("{{behaviour: {behaviour}}}");
    let mut args = vec!["plugin", "eval", "--policy-config", &config, wasm];
    args.extend_from_slice(extra);
    tollgate_peak_rss(&args)
}

#[test]
fn the_inflation_keeps_a_working_policy() {
    // Proves the hostile variants below fail because of what they add, not because the
    // inflation broke the component: a few small extra instances still evaluate.
    let dir = tempfile::tempdir().unwrap();
    let wasm = inflated_hostile(dir.path(), 2, 10, 3);
    let (run, _) = eval(&wasm, "probe-sandbox", &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("network: denied"), "{}", run.stdout);
}

#[test]
fn funcref_tables_count_against_the_memory_cap() {
    // 4 tables of 100,000 elements in each of 8 instances: 3.2 MB of tables per instance
    // (within the table count), none of it linear memory. Before, all of it was allowed.
    let dir = tempfile::tempdir().unwrap();
    let wasm = inflated_hostile(dir.path(), 4, 100_000, 8);
    let (run, peak) = eval(&wasm, "probe-sandbox", &["--timeout-ms", "20000", "--memory-mib", "16"]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("  exceeded memory limit of 16 MiB\n"), "{}", run.stdout);
    assert!(peak <= rss_bound(16), "peak RSS {} MiB over the bound {} MiB", peak / MIB, rss_bound(16) / MIB);
}

#[test]
fn a_hundred_tables_per_instance_exceed_the_table_count() {
    // The component: 100 tables × 100,000 elements, instantiated 10 times (813 MB
    // peak RSS and an allow before).
    let dir = tempfile::tempdir().unwrap();
    let wasm = inflated_hostile(dir.path(), 100, 100_000, 10);
    let (run, peak) = eval(&wasm, "probe-sandbox", &["--timeout-ms", "20000"]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("  exceeded the sandbox's limits of 64 core instances, 64 tables and 64 memories (table count too high at "),
        "{}",
        run.stdout
    );
    assert!(peak <= rss_bound(64), "peak RSS {} MiB over the bound {} MiB", peak / MIB, rss_bound(64) / MIB);
}

#[test]
fn ninety_nine_extra_instances_exceed_the_instance_count() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = inflated_hostile(dir.path(), 0, 0, 99);
    let (run, peak) = eval(&wasm, "probe-sandbox", &["--timeout-ms", "20000"]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("(instance count too high at 65)"), "{}", run.stdout);
    assert!(peak <= rss_bound(64), "peak RSS {} MiB over the bound {} MiB", peak / MIB, rss_bound(64) / MIB);
}

#[test]
fn huge_log_lines_are_copied_only_up_to_the_line_limit() {
    // 40 lines of 48 MiB: before, each kept its whole allocation (2.47 GB).
    let hostile = plugin("hostile");
    let (run, peak) = eval(hostile.to_str().unwrap(), "log-flood", &["--timeout-ms", "30000", "-o", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let document: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let logs = document["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 40);
    for line in logs {
        let message = line["message"].as_str().unwrap();
        assert_eq!(message, format!("{}…", "x".repeat(4096)));
    }
    assert!(peak <= rss_bound(64), "peak RSS {} MiB over the bound {} MiB", peak / MIB, rss_bound(64) / MIB);
}

#[test]
fn a_capability_flood_is_malformed_output() {
    // info() asking for read-file a million times: before, `plugin info` printed all of them
    // (the 31 million printed 346 MB).
    let flood = plugin("hostile-info");
    let (run, peak) = tollgate_peak_rss(&["plugin", "info", flood.to_str().unwrap()]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("returned malformed output: 1000000 capabilities (limit 16)"), "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.len() < 4096, "nothing flooded out: {} bytes", run.stdout.len());
    assert!(peak <= rss_bound(64), "peak RSS {} MiB over the bound {} MiB", peak / MIB, rss_bound(64) / MIB);
}

#[test]
fn a_promotion_through_an_inflated_plugin_commits_nothing() {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    let wasm = inflated_hostile(dir.path(), 4, 100_000, 8);
    let config = format!(
        "environments: [dev, test, prod]\napplications:\n  shop-api:\n    image: registry.example.com/shop/api\n    environments:\n      dev: {{ file: envs/dev/shop-api/values.yaml, helm: {{ tag_path: image.tag }} }}\npolicies:\n  - plugin: {wasm}\n    timeout_ms: 20000\n    memory_mib: 16\n    config: {{ behaviour: probe-sandbox }}\n"
    );
    let config_path = dir.path().join("inflated.yaml");
    std::fs::write(&config_path, config).unwrap();
    let before = snapshot(&repo);
    let (run, peak) = tollgate_peak_rss(&[
        "--repo",
        &repo,
        "--config",
        config_path.to_str().unwrap(),
        "promote",
        "shop-api",
        "--to",
        "dev",
        "--version",
        "1.5.0",
    ]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    // Instantiating it ran out of memory: before info() was asked, so not "its info() failed".
    assert!(run.stdout.contains("      failed: exceeded memory limit of 16 MiB\n"), "{}", run.stdout);
    assert!(run.stdout.contains("nothing committed"), "{}", run.stdout);
    assert_eq!(snapshot(&repo), before);
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    assert!(peak <= rss_bound(16), "peak RSS {} MiB over the bound {} MiB", peak / MIB, rss_bound(16) / MIB);
}

#[test]
fn host_resources_a_plugin_never_drops_are_capped() {
    // 20,000 stdout handles, each a host-side table entry the linear-memory cap never sees:
    // over the 10,000 cap (wasmtime alone would allow a million).
    let hostile = plugin("hostile");
    let (run, peak) = eval(hostile.to_str().unwrap(), "resource-flood", &["--timeout-ms", "20000"]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("  exceeded the sandbox's limit of 10000 host resources (WASI streams, pollables, …) alive at once\n"),
        "{}",
        run.stdout
    );
    assert!(peak <= rss_bound(64), "peak RSS {} MiB over the bound {} MiB", peak / MIB, rss_bound(64) / MIB);
}
