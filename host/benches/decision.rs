//! One decision in process with the four standard policies of the demo's prod promotion, as
//! the gate runs it: the four plugins already loaded (precompiled builtins), then for each
//! decision a fresh store and instance per policy, all four started and awaited in order (none
//! is granted an `http-get` origin, so each runs on the calling thread, as in the gate).
//!
//! Measured three times:
//! - as `tollgate serve --preinitialise` decides once a configuration is hot: pooled instances
//!   (`Runtime::new_pooled`) of each plugin's pre-initialised snapshot for its configuration
//!   (`Plugin::preinitialise`, made before measuring), evaluate alone in each;
//! - with plain pooled instances (`plan-batch`, a plain `serve`): info(),
//!   validate-config and evaluate in each;
//! - with instances mapped on demand (a one-shot `plan`).
//!
//! Prints the medians in microseconds on lines that scripts can parse: `decision-median-us <N>`
//! (the first), `decision-plain-median-us <N>` and `decision-on-demand-median-us <N>`, and each
//! plugin's decision on its own.
//!
//! `cargo bench -p tollgate --bench decision`; `TOLLGATE_BENCH_QUICK=1` for a smoke run.

#[allow(dead_code)] // the helpers the other benches use too
mod measure;
mod scenario;

use std::sync::Arc;
use std::time::{Duration, Instant};

use measure::{fail, median, quick};
use scenario::{Scenario, scenario};
use tollgate::decision::PolicyOutcome;
use tollgate::runtime::{CodeSource, Limits, Plugin, PluginRef, Runtime};

const PLUGINS: [&str; 4] = ["change-window", "approval-count", "secret-scope", "erp-readiness"];

fn main() {
    let (warmup, rounds) = if quick() { (2, 20) } else { (50, 1000) };
    // What `serve --preinitialise` runs once a configuration is hot, what a long-lived process runs otherwise,
    // then what a one-shot process runs.
    let mut pooled = Runtime::new_pooled(None).unwrap_or_else(|error| fail(&format!("cannot create a pooled runtime: {error:#}")));
    pooled.preinitialise_hot_configurations();
    let preinitialised = measure_decisions(&pooled, Instances::Preinitialised, warmup, rounds);
    let plain = Runtime::new_pooled(None).unwrap_or_else(|error| fail(&format!("cannot create a pooled runtime: {error:#}")));
    let plain = measure_decisions(&plain, Instances::Plain, warmup, rounds);
    let on_demand = Runtime::new(None).unwrap_or_else(|error| fail(&format!("cannot create a runtime: {error:#}")));
    let on_demand = measure_decisions(&on_demand, Instances::Plain, warmup, rounds);

    let us = |duration: Duration| duration.as_secs_f64() * 1e6;
    for (what, samples) in [
        ("pooled instances pre-initialised for their configuration (serve --preinitialise, once hot)", &preinitialised),
        ("plain pooled instances (plan-batch, serve)", &plain),
        ("instances mapped on demand (one-shot plan)", &on_demand),
    ] {
        println!("one decision, four standard policies in parallel, {what} ({rounds} decisions after {warmup} warm-up):");
        println!("  median {:.1} µs, fastest {:.1} µs", us(median(samples.decisions.clone())), us(*samples.decisions.iter().min().expect("samples")));
        for (name, single) in PLUGINS.iter().zip(&samples.singles) {
            println!("  {name:<15} alone: median {:.1} µs", us(median(single.clone())));
        }
    }
    println!("decision-on-demand-median-us {:.1}", us(median(on_demand.decisions)));
    println!("decision-plain-median-us {:.1}", us(median(plain.decisions)));
    println!("decision-median-us {:.1}", us(median(preinitialised.decisions)));
}

/// Which instances a decision gets.
#[derive(Clone, Copy, PartialEq)]
enum Instances {
    /// Of the plugin itself: info(), validate-config and evaluate in each.
    Plain,
    /// Of the plugin's snapshot for the scenario's configuration: evaluate alone.
    Preinitialised,
}

/// Decision times, and each plugin's alone.
struct Samples {
    decisions: Vec<Duration>,
    singles: Vec<Vec<Duration>>,
}

fn measure_decisions(runtime: &Runtime, instances: Instances, warmup: usize, rounds: usize) -> Samples {
    let policies: Vec<(Arc<Plugin>, Scenario)> = PLUGINS
        .iter()
        .map(|name| {
            let reference = PluginRef::parse(&format!("builtin:{name}")).unwrap_or_else(|error| fail(&error));
            let plugin = runtime.load(&reference).unwrap_or_else(|error| fail(&error.message));
            if !matches!(plugin.code_source(), CodeSource::Precompiled { .. }) {
                fail(&format!("builtin:{name} was not loaded from its precompiled code: {:?}", plugin.code_source()));
            }
            let scenario = scenario(name);
            if instances == Instances::Preinitialised {
                plugin
                    .preinitialise(&scenario.config, &scenario.access().environments, Limits::default())
                    .unwrap_or_else(|error| fail(&format!("builtin:{name} was not pre-initialised: {error}")));
            }
            (plugin, scenario)
        })
        .collect();
    if runtime.compilations() != 0 {
        fail("loading the builtins compiled something");
    }

    let mut decisions = Vec::with_capacity(rounds);
    let mut singles: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); PLUGINS.len()];
    for round in 0..warmup + rounds {
        let started = Instant::now();
        let pending: Vec<_> = policies
            .iter()
            .map(|(plugin, scenario)| plugin.start_decision(&scenario.config, &scenario.transition, Limits::default(), scenario.access()))
            .collect();
        let decided: Vec<_> = pending.into_iter().map(|pending| pending.wait()).collect();
        let elapsed = started.elapsed();
        for ((name, (_, scenario)), decided) in PLUGINS.iter().zip(&policies).zip(&decided) {
            check(name, scenario, &decided.evaluation.outcome);
        }
        // Each plugin on its own, interleaved with the decisions.
        let mut single = Vec::with_capacity(PLUGINS.len());
        for (plugin, scenario) in &policies {
            let started = Instant::now();
            let decided = plugin.decide(&scenario.config, &scenario.transition, Limits::default(), scenario.access());
            single.push(started.elapsed());
            check(plugin.source(), scenario, &decided.evaluation.outcome);
        }
        if round >= warmup {
            decisions.push(elapsed);
            for (samples, sample) in singles.iter_mut().zip(single) {
                samples.push(sample);
            }
        }
    }
    Samples { decisions, singles }
}

/// Every decision must allow, or the timing means nothing.
fn check(name: &str, scenario: &Scenario, outcome: &PolicyOutcome) {
    match outcome {
        PolicyOutcome::Verdict(verdict) if verdict.decision == scenario.expect => {}
        other => fail(&format!("{name}: expected {:?}, got {other:?}", scenario.expect)),
    }
}
