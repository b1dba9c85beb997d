//! `wasi:io/poll` for plugins, with every wait cut at the call's deadline.
//!
//! In the sandbox's WASI (`SandboxState::new`: no sockets, no files, stdin closed, stdout and
//! stderr captured in memory and always ready) a guest can wait only through a pollable
//! (`poll`, `pollable.block`); the `blocking-…` stream functions wait on streams that are
//! always ready or closed. The one pollable that becomes ready later is a monotonic-clock
//! subscription, i.e. a sleep, which wasmtime-wasi serves with a real timer that epoch
//! interruption cannot stop. Cut at the deadline, no WASI call outlives its plugin call, so a
//! call without an `http-get` origin granted needs no watchdog thread
//! ([`super::HostAccess::may_wait_outside`]). Giving the sandbox a stream or socket that can
//! wait would end that: such a change must make `may_wait_outside` say so.

use std::time::{Duration, Instant};

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::p2::bindings::sync::io::poll;
use wasmtime_wasi_io::bindings::wasi::io::poll as async_poll;

/// Replace WASI's `wasi:io/poll` in `linker` (which already holds WASI) with [`BoundedPoll`],
/// which `poll_of` makes from a store's data.
pub(super) fn link_bounded_poll<T: 'static>(linker: &mut Linker<T>, poll_of: fn(&mut T) -> BoundedPoll<'_>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let linked = poll::add_to_linker::<T, BoundedWaits>(linker, poll_of);
    linker.allow_shadowing(false);
    linked
}

/// The resource table's own `wasi:io/poll`, each wait ended with an error at the deadline.
pub(super) struct BoundedPoll<'a> {
    table: &'a mut ResourceTable,
    deadline: Instant,
    timeout: Duration,
}

struct BoundedWaits;

impl HasData for BoundedWaits {
    type Data<'a> = BoundedPoll<'a>;
}

impl<'a> BoundedPoll<'a> {
    /// The waits of a call whose resources are in `table` and whose time (`timeout` long) is up
    /// at `deadline`.
    pub(super) fn new(table: &'a mut ResourceTable, deadline: Instant, timeout: Duration) -> Self {
        BoundedPoll { table, deadline, timeout }
    }

    /// Run `wait` until it ends or the deadline passes, whichever comes first.
    fn until_deadline<R>(&mut self, wait: impl AsyncFnOnce(&mut ResourceTable) -> wasmtime::Result<R>) -> wasmtime::Result<R> {
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        let table = &mut *self.table;
        // The timer is made inside the runtime `in_tokio` enters.
        match wasmtime_wasi::runtime::in_tokio(async move { tokio::time::timeout(remaining, wait(table)).await }) {
            Ok(result) => result,
            Err(_elapsed) => Err(wasmtime::Error::msg(timed_out_waiting(self.timeout))),
        }
    }
}

/// Why a call ended in a wait: said apart from running out of time in its own code.
pub(super) fn timed_out_waiting(timeout: Duration) -> String {
    format!("timed out after {} ms (waiting in a host call, e.g. a sleep; the wait was ended at the deadline)", timeout.as_millis())
}

impl poll::Host for BoundedPoll<'_> {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        self.until_deadline(async move |table: &mut ResourceTable| async_poll::Host::poll(table, pollables).await)
    }
}

impl poll::HostPollable for BoundedPoll<'_> {
    fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        // Never waits: it asks once whether the pollable is ready.
        wasmtime_wasi::runtime::in_tokio(async_poll::HostPollable::ready(self.table, pollable))
    }

    fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        self.until_deadline(async move |table: &mut ResourceTable| async_poll::HostPollable::block(table, pollable).await)
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        async_poll::HostPollable::drop(self.table, pollable)
    }
}
