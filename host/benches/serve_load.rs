//! The open-loop load generator of `bench/serve-load` (driven by `bench/serve_load.py`, which
//! makes the repository, starts `tollgate serve` and warms it up): request `i` is due at
//! `i / rate` seconds, `workers` threads with one persistent HTTP/1.1 connection each take the
//! due requests in order, and each latency counts from when its request was due, so a server
//! that falls behind shows it (no coordinated omission).
//!
//! Compiled, so that what it measures is the server: the Python generator it replaces spent
//! about 0.35 ms of its own in every request (its `GET /healthz` median was 0.45–0.52 ms for
//! 115–130 µs of server CPU; BENCHMARKS.md, "serve under load").
//!
//! `serve_load URL REQUESTS RATE WORKERS BODY_FILE [--get]` (POST the body, or with `--get`
//! GET the URL: the client's floor against `/healthz`; cargo bench adds `--bench`, ignored).
//! Prints `statuses CODE=COUNT ...` and `latencies-us L0 L1 ...` in request order.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).filter(|arg| arg != "--bench").collect();
    let get = args.last().is_some_and(|arg| arg == "--get");
    if get {
        args.pop();
    }
    let [url, requests, rate, workers, body_file] = args.as_slice() else {
        eprintln!("usage: serve_load URL REQUESTS RATE WORKERS BODY_FILE [--get]");
        std::process::exit(2);
    };
    let number = |text: &str| text.parse::<f64>().unwrap_or_else(|_| fail(&format!("not a number: {text}")));
    let (requests, rate, workers) = (number(requests) as usize, number(rate), number(workers) as usize);
    let body = std::fs::read(body_file).unwrap_or_else(|error| fail(&format!("cannot read {body_file}: {error}")));
    // The kernel's default 50 µs timer slack would make every request late by up to that much
    // before it is sent; the generator's own lateness is not the server's.
    // SAFETY: prctl with PR_SET_TIMERSLACK takes plain integers and changes only this thread's
    // (and its later threads') timer slack.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) };

    let start = Instant::now() + Duration::from_millis(200);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<(u16, Duration)>>> = Mutex::new(vec![None; requests]);
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            scope.spawn(|| {
                let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(30))).build().into();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= requests {
                        return;
                    }
                    let due = start + Duration::from_secs_f64(index as f64 / rate);
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                    let response = match get {
                        true => agent.get(url.as_str()).call(),
                        false => agent.post(url.as_str()).header("content-type", "application/json").send(&body[..]),
                    };
                    let status = match response {
                        Ok(mut response) => {
                            let status = response.status().as_u16();
                            response.body_mut().read_to_vec().map_or(0, |_| status)
                        }
                        Err(_) => 0,
                    };
                    results.lock().expect("no worker panics holding it")[index] = Some((status, due.elapsed()));
                }
            });
        }
    });

    let results = results.into_inner().expect("no worker panicked");
    let mut statuses = std::collections::BTreeMap::new();
    for (status, _) in results.iter().flatten() {
        *statuses.entry(*status).or_insert(0usize) += 1;
    }
    let statuses: Vec<String> = statuses.iter().map(|(status, count)| format!("{status}={count}")).collect();
    println!("statuses {}", statuses.join(" "));
    let latencies: Vec<String> = results.iter().flatten().map(|(_, latency)| format!("{:.1}", latency.as_secs_f64() * 1e6)).collect();
    println!("latencies-us {}", latencies.join(" "));
}

fn fail(message: &str) -> ! {
    eprintln!("serve_load: {message}");
    std::process::exit(2)
}
