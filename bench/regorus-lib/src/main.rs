//! One decision of the four bench rules with regorus as a library: prints the median
//! microseconds of one evaluation (a clone of the prepared engine, the input set, the
//! verdicts evaluated), like one fresh tollgate instance per evaluation.
//!
//! Usage: tollgate-bench-regorus RULES.rego INPUT.json [ITERATIONS]

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (rules, input) = (&args[1], &args[2]);
    let iterations: usize = args.get(3).map(|text| text.parse()).transpose()?.unwrap_or(2_000);
    let mut engine = regorus::Engine::new();
    engine.add_policy_from_file(rules)?;
    let input = regorus::Value::from_json_str(&std::fs::read_to_string(input)?)?;
    let mut samples = Vec::with_capacity(iterations);
    let mut verdicts = String::new();
    for _ in 0..iterations {
        let started = Instant::now();
        let mut fresh = engine.clone();
        fresh.set_input(input.clone());
        let value = fresh.eval_rule("data.tollgate.bench.verdicts".to_string())?;
        samples.push(started.elapsed().as_secs_f64() * 1e6);
        verdicts = value.to_json_str()?;
    }
    samples.sort_by(f64::total_cmp);
    println!("{:.1} µs median per decision over {iterations}; verdicts {}", samples[iterations / 2], verdicts.replace('\n', ""));
    Ok(())
}
