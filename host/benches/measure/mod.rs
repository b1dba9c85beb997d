//! What both benchmarks measure with: medians, milliseconds, ratios, the quick mode, and
//! aborting with a message when a run did not do what it was meant to.

use std::time::Duration;

/// `TOLLGATE_BENCH_QUICK=1`: a few iterations, to check the benchmark itself runs.
pub fn quick() -> bool {
    std::env::var("TOLLGATE_BENCH_QUICK").is_ok_and(|value| !value.is_empty() && value != "0")
}

/// The median of the samples.
pub fn median(mut samples: Vec<Duration>) -> Duration {
    assert!(!samples.is_empty(), "no samples");
    samples.sort();
    let middle = samples.len() / 2;
    if samples.len() % 2 == 1 { samples[middle] } else { (samples[middle - 1] + samples[middle]) / 2 }
}

/// A duration in milliseconds.
pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// `a / b`, safe for a zero `b`.
pub fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

/// Stop the benchmark: what it measured would be meaningless.
pub fn fail(message: &str) -> ! {
    eprintln!("benchmark aborted: {message}");
    std::process::exit(1);
}
