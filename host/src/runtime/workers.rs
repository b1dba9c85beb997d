//! Reused sandbox threads. Every policy call runs on a worker thread so that the caller can
//! abandon it (the watchdog); starting a thread per call cost more than a small plugin's
//! whole evaluation, so finished workers wait for the next call instead of exiting.
//!
//! A call never waits for a free worker: when none is idle a new one starts, so a call's
//! deadline runs from when it starts, exactly as with a thread per call, and a worker stuck in
//! a host call (abandoned by the watchdog) only takes itself out of the rotation. The number
//! of workers is therefore the peak number of calls in flight at once (the policies of one
//! decision), not a fixed size that a stuck plugin could exhaust.

use std::sync::Mutex;
use std::sync::mpsc::{self, Sender};

/// A unit of work for a worker.
pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// Workers waiting for a job, each reached through its own channel.
static IDLE: Mutex<Vec<Sender<Job>>> = Mutex::new(Vec::new());

/// Run `job` on an idle worker, or on a new one when none is idle.
pub fn run(job: Job) -> std::io::Result<()> {
    let mut job = job;
    loop {
        let idle = IDLE.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).pop();
        match idle {
            // A worker only leaves its receiver when its thread ends (it never does on its
            // own); if that happened, the job comes back and the next worker is tried.
            Some(worker) => match worker.send(job) {
                Ok(()) => return Ok(()),
                Err(mpsc::SendError(returned)) => job = returned,
            },
            None => return spawn(job),
        }
    }
}

fn spawn(first: Job) -> std::io::Result<()> {
    std::thread::Builder::new().name("tollgate-policy".into()).spawn(move || {
        let (sender, receiver) = mpsc::channel::<Job>();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            job();
            IDLE.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(sender.clone());
            next = receiver.recv().ok();
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
