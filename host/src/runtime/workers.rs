//! Reused sandbox threads. A policy call that may wait on the world outside the process (one
//! granted `http-get` origins) runs on a worker thread so that the caller can abandon it (the
//! watchdog); starting a thread per call cost more than a small plugin's whole evaluation, so
//! finished workers wait for the next call instead of exiting.
//!
//! A call never waits for a free worker: when none is idle a new one starts, so a call's
//! deadline runs from when it starts, exactly as with a thread per call, and a worker stuck in
//! a host call (abandoned by the watchdog) only takes itself out of the rotation.
//!
//! Workers do not outlive their use: the worker that finished last takes the next call, a
//! finished worker waits only while fewer than [`MAX_IDLE`] others wait, and an idle one ends
//! after [`IDLE_TIMEOUT`] without a call. So the workers a burst started end once it is over,
//! with their stacks and per-thread state. (They used to stay for the process's lifetime, as
//! many as the most calls ever in flight at once: a long-lived `tollgate serve` went from 30
//! to 42 threads, and its memory with them.)

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::Duration;

/// A unit of work for a worker.
pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// The most workers waiting for a call at once; a worker finishing a call beyond that ends.
/// More than a decision's policies on a few requests at once, so steady load reuses threads.
pub const MAX_IDLE: usize = 16;
/// How long an idle worker waits for a call before it ends.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// The process's workers.
static WORKERS: Workers = Workers::new(MAX_IDLE, IDLE_TIMEOUT);

/// Run `job` on an idle worker, or on a new one when none is idle.
pub fn run(job: Job) -> std::io::Result<()> {
    WORKERS.run(job)
}

/// A set of worker threads (one per process; tests make their own).
struct Workers {
    /// Workers waiting for a job, each reached through its own channel; the last one pushed
    /// is the next to work, so the ones at the front are those idle longest.
    idle: Mutex<Vec<IdleWorker>>,
    max_idle: usize,
    idle_timeout: Duration,
    /// Worker threads alive (working or idle).
    alive: AtomicUsize,
    next_id: AtomicU64,
}

struct IdleWorker {
    id: u64,
    sender: Sender<Job>,
}

impl Workers {
    const fn new(max_idle: usize, idle_timeout: Duration) -> Workers {
        Workers { idle: Mutex::new(Vec::new()), max_idle, idle_timeout, alive: AtomicUsize::new(0), next_id: AtomicU64::new(0) }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<IdleWorker>> {
        self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn run(&'static self, job: Job) -> std::io::Result<()> {
        let mut job = job;
        loop {
            let idle = self.idle().pop();
            match idle {
                // A worker leaves its receiver only when its thread ends, and it ends only
                // once off the idle list; if that happened anyway, the job comes back and the
                // next worker is tried.
                Some(worker) => match worker.sender.send(job) {
                    Ok(()) => return Ok(()),
                    Err(mpsc::SendError(returned)) => job = returned,
                },
                None => return self.spawn(job),
            }
        }
    }

    fn spawn(&'static self, first: Job) -> std::io::Result<()> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.alive.fetch_add(1, Ordering::SeqCst);
        let spawned = std::thread::Builder::new().name("tollgate-policy".into()).spawn(move || {
            self.work(id, first);
            self.alive.fetch_sub(1, Ordering::SeqCst);
        });
        if spawned.is_err() {
            self.alive.fetch_sub(1, Ordering::SeqCst);
        }
        spawned.map(drop)
    }

    /// A worker's life: `first`, then calls while it is wanted.
    fn work(&self, id: u64, first: Job) {
        let (sender, receiver) = mpsc::channel::<Job>();
        let mut job = first;
        loop {
            job();
            {
                let mut idle = self.idle();
                if idle.len() >= self.max_idle {
                    return;
                }
                idle.push(IdleWorker { id, sender: sender.clone() });
            }
            job = match receiver.recv_timeout(self.idle_timeout) {
                Ok(next) => next,
                Err(RecvTimeoutError::Timeout) => {
                    let mut idle = self.idle();
                    if let Some(position) = idle.iter().position(|worker| worker.id == id) {
                        // Off the list, nobody can send to it any more: it may end.
                        idle.remove(position);
                        return;
                    }
                    drop(idle);
                    // A caller took it off the list just now and is sending it a job.
                    match receiver.recv() {
                        Ok(next) => next,
                        Err(_) => return,
                    }
                }
                // It holds a sender itself: the channel cannot be disconnected.
                Err(RecvTimeoutError::Disconnected) => return,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    #[test]
    fn finished_workers_are_reused_and_a_stuck_one_does_not_block_others() {
        let (done, finished) = mpsc::channel();
        // A worker that never finishes (as one abandoned in a host call).
        let (_release, stuck) = mpsc::channel::<()>();
        run(Box::new(move || {
            let _ = stuck.recv();
        }))
        .unwrap();
        for _ in 0..20 {
            let done = done.clone();
            run(Box::new(move || done.send(std::thread::current().id()).unwrap())).unwrap();
            // Sequential calls: each finds the previous one's worker idle (or a new one).
            finished.recv_timeout(std::time::Duration::from_secs(10)).expect("the call ran despite the stuck worker");
        }
        drop(done);
        let mut threads = Vec::new();
        for _ in 0..20 {
            let (done, finished) = mpsc::channel();
            run(Box::new(move || done.send(std::thread::current().id()).unwrap())).unwrap();
            threads.push(finished.recv_timeout(std::time::Duration::from_secs(10)).unwrap());
            // Give the worker time to put itself back on the idle list.
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        threads.sort_by_key(|id| format!("{id:?}"));
        threads.dedup();
        assert!(threads.len() < 20, "workers were reused: {} distinct threads for 20 calls", threads.len());
    }

    /// Wait (at most a minute) until `workers` has at most `most` threads alive.
    fn wait_for_at_most(workers: &Workers, most: usize) -> usize {
        for _ in 0..6000 {
            if workers.alive.load(Ordering::SeqCst) <= most {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        workers.alive.load(Ordering::SeqCst)
    }

    #[test]
    fn policy_workers_grew_by_every_burst_and_never_ended() {
        // The regression: workers were as many as the most calls ever in flight at once, for
        // the process's lifetime. Now those past `max_idle` end when their call does, and
        // the rest once idle for `idle_timeout`.
        let workers: &'static Workers = Box::leak(Box::new(Workers::new(2, Duration::from_millis(200))));
        let burst = 10;
        let all_running = Arc::new(Barrier::new(burst + 1));
        let (done, finished) = mpsc::channel();
        for _ in 0..burst {
            let (all_running, done) = (all_running.clone(), done.clone());
            workers
                .run(Box::new(move || {
                    // Every call of the burst in flight at once: each needs its own worker.
                    all_running.wait();
                    // Held until the count below is taken.
                    all_running.wait();
                    done.send(()).unwrap();
                }))
                .unwrap();
        }
        all_running.wait();
        assert_eq!(workers.alive.load(Ordering::SeqCst), burst, "one worker per call in flight");
        all_running.wait();
        for _ in 0..burst {
            finished.recv_timeout(Duration::from_secs(10)).unwrap();
        }
        assert!(wait_for_at_most(workers, 2) <= 2, "workers past the idle limit end when their call does");
        // Still reused while they wait.
        let (done, finished) = mpsc::channel();
        workers.run(Box::new(move || done.send(()).unwrap())).unwrap();
        finished.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(workers.alive.load(Ordering::SeqCst) <= 2, "an idle worker took the call");
        assert_eq!(wait_for_at_most(workers, 0), 0, "idle workers end after the idle timeout");
        // And a call after that starts a new one.
        let (done, finished) = mpsc::channel();
        workers.run(Box::new(move || done.send(()).unwrap())).unwrap();
        finished.recv_timeout(Duration::from_secs(10)).expect("a call after every worker ended runs");
    }

    #[test]
    fn a_worker_ending_on_its_idle_timeout_never_loses_a_call() {
        // Calls arriving just as idle workers time out: every one must run (a lost call would
        // be a decision failing on the watchdog's timeout for nothing).
        let workers: &'static Workers = Box::leak(Box::new(Workers::new(4, Duration::from_millis(1))));
        let (done, finished) = mpsc::channel();
        for round in 0..300 {
            let done = done.clone();
            workers.run(Box::new(move || done.send(round).unwrap())).unwrap();
            if round % 3 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        drop(done);
        let mut ran: Vec<i32> = Vec::new();
        while let Ok(round) = finished.recv_timeout(Duration::from_secs(10)) {
            ran.push(round);
        }
        ran.sort();
        assert_eq!(ran, (0..300).collect::<Vec<_>>());
    }
}
