//! Instances ended after the answer instead of before it.
//!
//! Dropping a call's `Store` resets its pool slot (a page-map scan and a copy of every page the
//! instance dirtied) or unmaps its memory: about a sixth of a standard policy's cost in a
//! long-lived process, none of which the caller's answer depends on. A server thread that
//! holds a [`DeferredInstanceDrops`] while it decides keeps the stores of the calls it ran
//! itself until the guard ends, after the answer has been handed over (`serve/guard.rs`), so
//! the reset runs while the answer is written. At most [`MAX_PARKED`] wait at once per
//! thread: a request of many decisions holds no more pool slots than one decision, and every
//! further store is dropped at once, as without the guard.

use std::cell::RefCell;

use wasmtime::Store;

use super::sandbox::SandboxState;

/// Stores a thread keeps at once: one decision of the four standard policies.
pub const MAX_PARKED: usize = 4;

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

/// End `store` now, or keep it for the guard alive on this thread (if it has room).
pub(super) fn drop_or_park(store: Store<SandboxState>) {
    let not_kept = PARKED.with(|parked| match parked.borrow_mut().as_mut() {
        Some(stores) if stores.len() < MAX_PARKED => {
            stores.push(store);
            None
        }
        _ => Some(store),
    });
    drop(not_kept);
}

/// Stores kept on this thread now.
#[cfg(test)]
pub(super) fn parked_here() -> usize {
    PARKED.with(|parked| parked.borrow().as_ref().map_or(0, Vec::len))
}
