//! Instances ended after the answer instead of before it.
//!
//! Dropping a call's `Store` resets its pool slot (a page-map scan and a copy of every page the
//! instance dirtied) or unmaps its memory: about a sixth of a standard policy's cost in a
//! long-lived process, none of which the caller's answer depends on. A server thread that
//! holds a [`DeferredInstanceDrops`] while it decides keeps the stores of the calls it ran
//! itself, from each call's end until the guard ends, which is just after the answer has been
//! handed over (`serve/guard.rs`): the last decision's resets run while the answer is written.
//! Bounded so that a request holds little more than before: at most [`MAX_PARKED`] stores at
//! once (the oldest ends when a newer one comes), each of at most [`MAX_PARKED_BYTES`] of
//! memory (a larger one ends at once, as without the guard).

use std::cell::RefCell;

use wasmtime::Store;

use super::sandbox::SandboxState;

/// Stores a thread keeps at once: one decision of the four standard policies.
pub const MAX_PARKED: usize = 4;
/// The most memory a kept store may hold: what the pool keeps resident in a slot anyway.
pub const MAX_PARKED_BYTES: usize = super::engine::KEEP_RESIDENT_BYTES;

std::thread_local! {
    /// `Some` while a guard is alive on this thread.
    static PARKED: RefCell<Option<Vec<Store<SandboxState>>>> = const { RefCell::new(None) };
}

/// While alive, the stores of calls run on this thread are dropped when it ends (see the module).
#[must_use = "the stores are kept only while the guard is alive"]
pub struct DeferredInstanceDrops {
    /// Whether this guard started the keeping (an inner guard leaves it to the outer one).
    outermost: bool,
    /// Not `Send`: the guard ends on the thread whose stores it keeps.
    _thread_bound: std::marker::PhantomData<*const ()>,
}

/// Keep the stores of calls this thread runs until the returned guard ends. Within a guard
/// already alive on the thread, the stores end with that outer guard.
pub fn defer_instance_drops() -> DeferredInstanceDrops {
    let outermost = PARKED.with(|parked| {
        let mut parked = parked.borrow_mut();
        let outermost = parked.is_none();
        parked.get_or_insert_with(|| Vec::with_capacity(MAX_PARKED));
        outermost
    });
    DeferredInstanceDrops { outermost, _thread_bound: std::marker::PhantomData }
}

impl Drop for DeferredInstanceDrops {
    fn drop(&mut self) {
        if self.outermost {
            // Taken out first: a store's own drop must not find the list borrowed.
            let stores = PARKED.with(|parked| parked.borrow_mut().take());
            drop(stores);
        }
    }
}

/// End `store` now, or keep it for the guard alive on this thread (ending the oldest kept one
/// when there are [`MAX_PARKED`] already).
pub(super) fn drop_or_park(store: Store<SandboxState>) {
    if store.data().limiter.used() > MAX_PARKED_BYTES {
        return drop(store);
    }
    let ended = PARKED.with(|parked| match parked.borrow_mut().as_mut() {
        Some(stores) => {
            let oldest = (stores.len() == MAX_PARKED).then(|| stores.remove(0));
            stores.push(store);
            oldest
        }
        None => Some(store),
    });
    // Outside the borrow: a store's own drop must not find the list borrowed.
    drop(ended);
}

/// The memory of each store kept on this thread now, oldest first.
#[cfg(test)]
pub(super) fn parked_here() -> Vec<usize> {
    PARKED.with(|parked| parked.borrow().iter().flatten().map(|store| store.data().limiter.used()).collect())
}
