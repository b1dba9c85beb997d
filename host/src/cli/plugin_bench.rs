//! `tollgate plugin bench PLUGIN CASES...`: run a plugin's cases many times and say what each
//! costs (median and p99 time, peak memory), so an author sees it before shipping.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use super::setup::load_plugin;
use super::Cli;
use crate::exit::{ExitCode, Failure};
use crate::fixtures::bench::{CaseCost, bench_cases};
use crate::fixtures::read_cases_file;
use crate::report::escape::line;
use crate::report::{BasicFormat, JSON_SCHEMA_VERSION};
use crate::runtime::{CodeSource, Plugin};

/// Case names longer than this are cut (marked `…`) in the text table.
const NAME_WIDTH: usize = 60;

/// The most runs `--runs` takes (each run is every case once).
const MAX_RUNS: usize = 100_000;

/// Arguments of `tollgate plugin bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Path to the .wasm component, optionally pinned: PATH@sha256:HEX.
    pub plugin: String,
    /// Cases files (YAML), as for `plugin test`.
    #[arg(required = true)]
    pub cases: Vec<PathBuf>,
    /// How many measured runs of every case.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=MAX_RUNS as u64))]
    pub runs: u64,
    /// Runs before measuring, not counted (the first instantiations warm the host up).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(0..=MAX_RUNS as u64))]
    pub warmup: u64,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "text")]
    pub output: BasicFormat,
}

/// Help text after the options.
pub const BENCH_HELP: &str = "Each run is exactly what `plugin test` does: every case in a fresh instance, deciding as the \
                              gate does. Times are wall-clock, instantiation included; peak memory is the most linear \
                              memory and table storage the instance held (what the memory cap counts). Exit 0 when every \
                              case passed in every run, 1 otherwise.\n\n\
                              Example:\n  tollgate plugin bench target/wasm32-wasip2/release/my_policy.wasm cases.yaml --runs 50";

/// Run the bench and render it; exit 0 when every case passed in every run.
pub fn bench_command(cli: &Cli, args: &BenchArgs) -> Result<(String, ExitCode), Failure> {
    let plugin = load_plugin(cli, &args.plugin)?;
    let runs = usize::try_from(args.runs).unwrap_or(MAX_RUNS);
    let warmup = usize::try_from(args.warmup).unwrap_or(MAX_RUNS);
    let mut costs = Vec::new();
    for path in &args.cases {
        let file = read_cases_file(path).map_err(|error| Failure::bad_input(error.0))?;
        costs.extend(bench_cases(&plugin, path, &file, runs, warmup).map_err(|error| Failure::bad_input(error.0))?);
    }
    let code = if costs.iter().all(|cost| cost.passed) { ExitCode::Success } else { ExitCode::Denied };
    let text = match args.output {
        BasicFormat::Json => json(&plugin, &costs, runs, warmup),
        BasicFormat::Text => text(&plugin, &costs, runs, warmup),
    };
    Ok((text, code))
}

/// How the plugin's code was loaded, in words and milliseconds.
fn load(plugin: &Plugin) -> (&'static str, f64) {
    match plugin.code_source() {
        CodeSource::Precompiled { load_time } => ("precompiled", load_time.as_secs_f64() * 1000.0),
        CodeSource::Cache { load_time } => ("compile cache", load_time.as_secs_f64() * 1000.0),
        CodeSource::Baseline { compile_time } => ("compiled with Winch", compile_time.as_secs_f64() * 1000.0),
        CodeSource::Compiled { compile_time, .. } => ("compiled", compile_time.as_secs_f64() * 1000.0),
    }
}

fn json(plugin: &Arc<Plugin>, costs: &[CaseCost], runs: usize, warmup: usize) -> String {
    #[derive(Serialize)]
    struct Document<'a> {
        schema_version: u32,
        plugin: &'a str,
        sha256: &'a str,
        size_bytes: usize,
        loaded_from: &'static str,
        load_ms: f64,
        runs: usize,
        warmup: usize,
        cases: &'a [CaseCost],
    }
    let (loaded_from, load_ms) = load(plugin);
    crate::report::to_json(&Document {
        schema_version: JSON_SCHEMA_VERSION,
        plugin: plugin.source(),
        sha256: plugin.sha256(),
        size_bytes: plugin.size(),
        loaded_from,
        load_ms,
        runs,
        warmup,
        cases: costs,
    })
}

fn text(plugin: &Arc<Plugin>, costs: &[CaseCost], runs: usize, warmup: usize) -> String {
    let (loaded_from, load_ms) = load(plugin);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} ({} KiB, sha256:{}): {loaded_from} in {load_ms:.1} ms; {runs} measured runs of every case after {warmup} warm-up",
        line(plugin.source()),
        plugin.size().div_ceil(1024),
        &plugin.sha256()[..12.min(plugin.sha256().len())]
    );
    let names: Vec<String> = costs.iter().map(|cost| crate::report::shorten(&line(&cost.name), NAME_WIDTH)).collect();
    let width = names.iter().map(|name| name.chars().count()).max().unwrap_or(4).max(4);
    let _ = writeln!(out, "  {:<width$}  outcome  {:>10}  {:>10}  {:>11}", "case", "median", "p99", "peak memory");
    // With several cases files, each one's cases under its name.
    let several_files = costs.iter().any(|cost| cost.file != costs[0].file);
    let mut current_file = None;
    for (cost, name) in costs.iter().zip(&names) {
        if several_files && current_file != Some(&cost.file) {
            let _ = writeln!(out, "{}", line(&cost.file.display().to_string()));
        }
        current_file = Some(&cost.file);
        let _ = writeln!(
            out,
            "  {name:<width$}  {:<7}  {:>7.3} ms  {:>7.3} ms  {:>7.1} MiB",
            cost.outcome,
            cost.median.as_secs_f64() * 1000.0,
            cost.p99.as_secs_f64() * 1000.0,
            cost.peak_memory_bytes as f64 / (1024.0 * 1024.0)
        );
        if let Some(problem) = &cost.problem {
            let _ = writeln!(out, "    FAIL: {}", line(problem));
        }
    }
    let failed = costs.iter().filter(|cost| !cost.passed).count();
    let _ = writeln!(out, "{} cases, {failed} failed", costs.len());
    out
}
