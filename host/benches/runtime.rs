//! Plugin runtime benchmark: for each standard plugin, side by side in one run,
//!
//! - (a) loading it with an empty compile cache (Cranelift compiles it, then it is stored),
//! - (b) loading it from a warm compile cache (a fresh `Runtime` each time, pointed at the
//!   same cache directory, so the in-memory map of loaded plugins cannot hide the disk cache),
//! - (c) one evaluation (a fresh store and instance, as every decision gets) of a realistic
//!   configuration and transition (the demo repository's policies).
//!
//! Prints medians and the ratio cold/cached. The machine this runs on is noisy: read the
//! ratios, not the absolute figures.
//!
//! `cargo bench -p tollgate --bench runtime`; `TOLLGATE_BENCH_QUICK=1` for a smoke run.

mod measure;
mod scenario;

use measure::{fail, median, ms, quick, ratio};
use scenario::{Scenario, scenario};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tollgate::decision::PolicyOutcome;
use tollgate::runtime::{CodeSource, Limits, Plugin, Runtime, builtin_bytes};

const PLUGINS: [&str; 4] = ["change-window", "approval-count", "secret-scope", "erp-readiness"];

/// Iteration counts for one plugin.
struct Counts {
    compile: usize,
    cached: usize,
    evaluate: usize,
}

fn counts() -> Counts {
    if quick() { Counts { compile: 1, cached: 3, evaluate: 3 } } else { Counts { compile: 7, cached: 30, evaluate: 50 } }
}

fn main() {
    let counts = counts();
    println!(
        "tollgate runtime benchmark ({} mode: {} cold loads, {} cached loads, {} evaluations per plugin)\n",
        if quick() { "quick" } else { "full" },
        counts.compile,
        counts.cached,
        counts.evaluate
    );
    let started = Instant::now();
    let rows = bench_plugins(&counts);

    println!(
        "{:<15} {:>5} {:>9} {:>12} {:>10} {:>12} {:>12} {:>9} {:>8}",
        "plugin", "KiB", "cold ms", "(cranelift)", "cached ms", "cold/cached", "evaluate ms", "(fastest)", "verdict"
    );
    for row in &rows {
        println!(
            "{:<15} {:>5} {:>9.1} {:>12.1} {:>10.2} {:>12.0} {:>12.2} {:>9.2} {:>8}",
            row.name,
            row.size / 1024,
            ms(median(row.cold.clone())),
            ms(median(row.cranelift.clone())),
            ms(median(row.cached.clone())),
            ratio(median(row.cold.clone()), median(row.cached.clone())),
            ms(median(row.evaluate.clone())),
            ms(*row.evaluate.iter().min().expect("samples")),
            row.verdict
        );
    }
    println!("\ncold: Runtime::load_bytes with an empty cache directory (sha256, Cranelift, serialize + write the cache entry,");
    println!("link); (cranelift): the compile time the runtime reports itself (CodeSource::Compiled); cached: load_bytes on a");
    println!("fresh Runtime pointed at a warm cache directory (CodeSource::Cache); evaluate: Plugin::evaluate (thread, store,");
    println!("instance, validate-config, evaluate), median and fastest. Medians unless said otherwise; the plugins are");
    println!("measured round by round, interleaved; Runtime::new is outside every timed region.");
    println!("total bench time {:.1} s", started.elapsed().as_secs_f64());
}

/// One plugin under test and its samples.
struct Row {
    name: &'static str,
    source: String,
    bytes: &'static [u8],
    size: usize,
    /// A compile cache directory filled with this plugin.
    cache: tempfile::TempDir,
    cold: Vec<Duration>,
    cranelift: Vec<Duration>,
    cached: Vec<Duration>,
    evaluate: Vec<Duration>,
    verdict: &'static str,
}

fn bench_plugins(counts: &Counts) -> Vec<Row> {
    let mut rows: Vec<Row> = PLUGINS
        .iter()
        .map(|&name| {
            let bytes = builtin_bytes(name).unwrap_or_else(|| fail(&format!("builtin:{name} is not embedded in this tollgate")));
            let source = format!("builtin:{name}");
            // Fill a cache directory for (b) and (c), checking that the load compiled and stored it.
            let cache = tempdir();
            let runtime = new_runtime(cache.path());
            let plugin = load(&runtime, &source, bytes);
            if !matches!(plugin.code_source(), CodeSource::Compiled { cached_at: Some(_), .. }) {
                fail(&format!("{source}: filling the cache did not compile and store it ({:?})", plugin.code_source()));
            }
            Row {
                name,
                source,
                bytes,
                size: bytes.len(),
                cache,
                cold: Vec::new(),
                cranelift: Vec::new(),
                cached: Vec::new(),
                evaluate: Vec::new(),
                verdict: "",
            }
        })
        .collect();

    // (a) Cold: a new, empty cache directory and a new runtime for every load.
    eprintln!("cold loads ...");
    for _ in 0..counts.compile {
        for row in &mut rows {
            let cache = tempdir();
            let runtime = new_runtime(cache.path());
            let started = Instant::now();
            let plugin = load(&runtime, &row.source, row.bytes);
            row.cold.push(started.elapsed());
            match plugin.code_source() {
                CodeSource::Compiled { compile_time, cached_at: Some(_) } => row.cranelift.push(*compile_time),
                CodeSource::Compiled { cached_at: None, .. } => fail(&format!(
                    "{}: compiled but not stored in the compile cache; the cached measurement would be wrong",
                    row.source
                )),
                CodeSource::Baseline { .. } => fail(&format!(
                    "{}: compiled with Winch (a component of 4 MiB or more); this measures Cranelift",
                    row.source
                )),
                CodeSource::Cache { .. } | CodeSource::Precompiled { .. } => {
                    fail(&format!("{}: the cold load came from the cache although its directory was empty", row.source))
                }
            }
        }
    }

    // (b) Warm: load from the filled cache directory with a fresh runtime each time, so
    // the runtime's in-memory map of loaded plugins cannot answer.
    eprintln!("cached loads ...");
    for _ in 0..counts.cached {
        for row in &mut rows {
            let runtime = new_runtime(row.cache.path());
            let started = Instant::now();
            let plugin = load(&runtime, &row.source, row.bytes);
            row.cached.push(started.elapsed());
            if !matches!(plugin.code_source(), CodeSource::Cache { .. }) {
                fail(&format!("{}: expected a load from the warm compile cache, got {:?}", row.source, plugin.code_source()));
            }
        }
    }

    // (c) Evaluate a realistic config and transition; a fresh store and instance per call.
    eprintln!("evaluations ...");
    let runtime = new_runtime(rows[0].cache.path());
    let prepared: Vec<(Arc<Plugin>, Scenario)> = rows
        .iter()
        .map(|row| {
            let plugin = runtime.load_bytes(&row.source, row.bytes, None).unwrap_or_else(|error| fail(&error.message));
            (plugin, scenario(row.name))
        })
        .collect();
    for (row, (plugin, scenario)) in rows.iter_mut().zip(&prepared) {
        for _ in 0..2 {
            row.verdict = evaluate_checked(plugin, scenario, &row.source);
        }
    }
    for _ in 0..counts.evaluate {
        for (row, (plugin, scenario)) in rows.iter_mut().zip(&prepared) {
            let access = scenario.access();
            let started = Instant::now();
            let evaluation = plugin.decide(&scenario.config, &scenario.transition, Limits::default(), access).evaluation;
            row.evaluate.push(started.elapsed());
            check_outcome(&evaluation.outcome, scenario, &row.source);
        }
    }
    rows
}

fn new_runtime(cache: &std::path::Path) -> Runtime {
    Runtime::new(Some(cache)).unwrap_or_else(|error| fail(&format!("cannot create a runtime: {error:#}")))
}

fn load(runtime: &Runtime, source: &str, bytes: &[u8]) -> Arc<Plugin> {
    runtime.load_bytes(source, bytes, None).unwrap_or_else(|error| fail(&error.message))
}

fn evaluate_checked(plugin: &Arc<Plugin>, scenario: &Scenario, source: &str) -> &'static str {
    let evaluation = plugin.decide(&scenario.config, &scenario.transition, Limits::default(), scenario.access()).evaluation;
    check_outcome(&evaluation.outcome, scenario, source)
}

/// The evaluation must give the verdict the scenario expects, or the timing means nothing.
fn check_outcome(outcome: &PolicyOutcome, scenario: &Scenario, source: &str) -> &'static str {
    match outcome {
        PolicyOutcome::Verdict(verdict) if verdict.decision == scenario.expect => outcome.label(),
        PolicyOutcome::Verdict(verdict) => fail(&format!(
            "{source}: expected {:?} but got {:?}: {:?}",
            scenario.expect,
            verdict.decision,
            verdict.findings.iter().map(|finding| &finding.message).collect::<Vec<_>>()
        )),
        PolicyOutcome::Failed { cause } => fail(&format!("{source}: the evaluation failed: {cause}")),
    }
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("tollgate-bench-runtime-")
        .tempdir()
        .unwrap_or_else(|error| fail(&format!("cannot create a temporary directory: {error}")))
}

