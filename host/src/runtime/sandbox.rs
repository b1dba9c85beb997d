//! Per-evaluation sandbox state: WASI with nothing in it, a memory cap, captured output,
//! a deterministic clock and random source, and the `tollgate:policy/host` functions.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::{Engine, ResourceLimiter, Store, UpdateDeadline};
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bindings::{Policy, host_imports, wit};
use super::counted::CountedApprovals;
use super::http::{CannedFetcher, FetchError, HttpFetcher, origin_of};
use super::output::CapturedOutput;
use super::{EPOCH_TICK, FileSource, Limits, LogLine, PolicyEnvironments, MAX_FILE_BYTES, MAX_HTTP_BODY_BYTES, MAX_LOG_BYTES, MAX_LOG_LINE_BYTES, MAX_LOG_LINES, MAX_OUTPUT_BYTES};

/// What a policy may reach beyond its own memory, decided by the tollgate configuration.
#[derive(Clone)]
pub struct HostAccess {
    /// The proposed post-change repository tree for `read-file`; `None` refuses reads.
    pub files: Option<Arc<dyn FileSource>>,
    /// Origins (`scheme://host[:port]`) `http-get` may reach; empty refuses every URL.
    pub http_origins: Vec<String>,
    /// Who performs granted requests.
    pub http: Arc<dyn HttpFetcher>,
    /// The environment names `policy-environments` tells the plugin.
    pub environments: PolicyEnvironments,
}

impl HostAccess {
    /// Nothing reachable: no files, no origins (what info() runs with).
    pub fn none() -> Self {
        HostAccess { files: None, http_origins: Vec::new(), http: Arc::new(CannedFetcher::default()), environments: PolicyEnvironments::default() }
    }

    /// [`may_wait_outside`] for this access.
    pub fn may_wait_outside(&self) -> bool {
        may_wait_outside(&self.http_origins)
    }
}

/// Whether a plugin granted `http_origins` can make a host call that waits on the world outside
/// the process: an `http-get` to one of them. Only such a call needs a watchdog thread to be
/// abandoned by; every other host call answers from memory or the repository, and WASI's
/// waits end at the deadline ([`super::waits`]).
pub fn may_wait_outside(http_origins: &[String]) -> bool {
    !http_origins.is_empty()
}

/// Everything a plugin's imports resolve to: WASI with nothing in it ([`SandboxState::new`])
/// and its waits cut at the call's deadline ([`super::waits`]), and the `tollgate:policy/host`
/// functions.
pub fn link(linker: &mut Linker<SandboxState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    super::waits::link_bounded_poll(linker, |state| super::waits::BoundedPoll::new(&mut state.table, state.deadline, state.timeout))?;
    Policy::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    Ok(())
}

/// The store data of one evaluation.
pub struct SandboxState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(super) limiter: MemoryCap,
    access: HostAccess,
    /// When the call's time is up (its start plus `timeout`).
    deadline: Instant,
    timeout: Duration,
    pub(super) logs: Vec<LogLine>,
    pub(super) dropped_log_lines: usize,
    /// Bytes of log text kept so far.
    log_bytes: usize,
    pub(super) stdout: CapturedOutput,
    pub(super) stderr: CapturedOutput,
    /// The artifacts of a multi-artifact transition, for `transition-artifacts`.
    pub(super) artifacts: Vec<host_imports::NamedArtifact>,
    /// The kind of every artifact, for `transition-artifact-kinds` (WIT 0.1.3).
    pub(super) artifact_kinds: Vec<(String, host_imports::ArtifactKind)>,
    /// What the plugin reported through `report-counted-approvals`, checked against the
    /// transition's approvers.
    pub(super) counted: CountedApprovals,
    /// Whether the plugin called a host function whose answer depends on more than its
    /// configuration and the environment names (files, HTTP, the transition's artifacts,
    /// counted approvals): a template that did cannot stand for a decision (`preinit.rs`).
    pub(super) asked_beyond_configuration: bool,
}

impl SandboxState {
    /// A sandbox whose clock reads `requested_at` and whose randomness is derived from `seed`.
    pub fn new(access: HostAccess, requested_at: i64, seed: &[u8], memory_bytes: usize, timeout: Duration) -> Self {
        let stdout = CapturedOutput::new(MAX_OUTPUT_BYTES);
        let stderr = CapturedOutput::new(MAX_OUTPUT_BYTES);
        let insecure = SeededBytes::new(seed, b"insecure");
        let insecure_seed = u128::from_le_bytes(insecure.first[..16].try_into().expect("32-byte digest"));
        // No args, env, preopened directories, sockets or name lookup: the builder's defaults.
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(FrozenWallClock { unix_seconds: requested_at })
            .monotonic_clock(FrozenMonotonicClock)
            .secure_random(SeededBytes::new(seed, b"secure"))
            .insecure_random(insecure)
            .insecure_random_seed(insecure_seed)
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_HOST_RESOURCES);
        SandboxState {
            wasi,
            table,
            limiter: MemoryCap::new(memory_bytes),
            access,
            deadline: Instant::now() + timeout,
            timeout,
            logs: Vec::new(),
            dropped_log_lines: 0,
            log_bytes: 0,
            stdout,
            stderr,
            artifacts: Vec::new(),
            artifact_kinds: Vec::new(),
            counted: CountedApprovals::default(),
            asked_beyond_configuration: false,
        }
    }
}

impl SandboxState {
    /// Replace what the plugin may reach (granted once its info() has answered).
    pub fn grant(&mut self, access: HostAccess) {
        self.access = access;
    }

    /// When the call's time is up.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

/// A plugin's random bytes: a 4 KiB cycle derived from a seed (the first 32 bytes are
/// sha256(purpose, seed), each next 32 the sha256 of the previous), read as wasmtime-wasi's
/// `Deterministic` reads bytes. Hashed only as far as the plugin reads, which is mostly not at
/// all: deriving the whole cycle up front cost 256 hashes per instance.
struct SeededBytes {
    first: [u8; 32],
    block: [u8; 32],
    /// Which of the cycle's 128 blocks `block` is.
    block_index: usize,
    /// The next byte of `block` to hand out.
    offset: usize,
}

impl SeededBytes {
    const BLOCKS: usize = 4096 / 32;

    fn new(seed: &[u8], purpose: &[u8]) -> Self {
        let first: [u8; 32] = Sha256::new().chain_update(purpose).chain_update(seed).finalize().into();
        SeededBytes { first, block: first, block_index: 0, offset: 0 }
    }

    fn next_byte(&mut self) -> u8 {
        if self.offset == self.block.len() {
            self.block_index = (self.block_index + 1) % Self::BLOCKS;
            self.block = if self.block_index == 0 { self.first } else { Sha256::digest(self.block).into() };
            self.offset = 0;
        }
        self.offset += 1;
        self.block[self.offset - 1]
    }
}

impl rand_core::TryRng for SeededBytes {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(u32::from_be_bytes(std::array::from_fn(|_| self.next_byte())))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(u64::from_be_bytes(std::array::from_fn(|_| self.next_byte())))
    }

    fn try_fill_bytes(&mut self, bytes: &mut [u8]) -> Result<(), Self::Error> {
        bytes.iter_mut().for_each(|byte| *byte = self.next_byte());
        Ok(())
    }
}

impl WasiView for SandboxState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// The memory budget of one evaluation: every linear memory and every table of every core
/// instance the component creates, counted together against one cap, plus fixed ceilings on
/// how many instances, tables and memories it may create at all (each carries host-side
/// bookkeeping the cap cannot see). Going over is an error (a trap with a plain message), not
/// a failed `memory.grow` that a guest might misreport.
pub struct MemoryCap {
    limit: usize,
    /// Bytes of linear memory and table storage in use across all memories and tables.
    used: usize,
    /// Why the budget was exceeded, when it was.
    pub(super) exceeded: Option<String>,
}

/// Host bytes one table element occupies: wasmtime stores a funcref element as one pointer,
/// and funcref tables are the only kind this engine's configuration accepts.
pub const TABLE_ELEMENT_BYTES: usize = std::mem::size_of::<usize>();
/// At most this many core instances per evaluation (the standard plugins and the
/// componentize-py example run well within it, as their tests show).
pub const MAX_INSTANCES: usize = 64;
/// At most this many tables across all instances of one evaluation.
pub const MAX_TABLES: usize = 64;
/// At most this many linear memories across all instances of one evaluation.
pub const MAX_MEMORIES: usize = 64;
/// At most this many host resources (WASI streams, pollables, …) alive at once.
pub const MAX_HOST_RESOURCES: usize = 10_000;

impl MemoryCap {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Self {
        MemoryCap { limit, used: 0, exceeded: None }
    }

    /// Bytes in use now; as memories and tables never shrink, also the most ever used.
    pub fn used(&self) -> usize {
        self.used
    }

    /// The message for a plugin that hit the cap.
    pub fn message(&self) -> String {
        format!("exceeded memory limit of {}", describe_bytes(self.limit))
    }

    /// Charge growing something from `current` to `desired` bytes against the budget.
    fn charge(&mut self, current: usize, desired: usize) -> wasmtime::Result<bool> {
        let total = self.used.saturating_sub(current).saturating_add(desired);
        if total > self.limit {
            let message = self.message();
            self.exceeded = Some(message.clone());
            return Err(wasmtime::Error::msg(message));
        }
        self.used = total;
        Ok(true)
    }
}

pub use crate::platform::describe_bytes;

impl ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.charge(current, desired)
    }

    /// Also called with `current == 0` when a table is created, so a table's initial size is
    /// charged as well as its growth.
    fn table_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.charge(current.saturating_mul(TABLE_ELEMENT_BYTES), desired.saturating_mul(TABLE_ELEMENT_BYTES))
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

/// The wall clock a plugin sees: always the transition's `requested-at`.
struct FrozenWallClock {
    unix_seconds: i64,
}

impl HostWallClock for FrozenWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::from_secs(self.unix_seconds.max(0) as u64)
    }
}

/// The monotonic clock a plugin sees: stopped, so timing can't leak into a verdict.
struct FrozenMonotonicClock;

impl HostMonotonicClock for FrozenMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

impl wit::Host for SandboxState {}

impl host_imports::Host for SandboxState {
    fn transition_artifacts(&mut self) -> Vec<host_imports::NamedArtifact> {
        self.asked_beyond_configuration = true;
        self.artifacts.clone()
    }

    fn transition_artifact_kinds(&mut self) -> Vec<(String, host_imports::ArtifactKind)> {
        self.asked_beyond_configuration = true;
        self.artifact_kinds.clone()
    }

    fn policy_environments(&mut self) -> host_imports::EnvironmentNames {
        let told = &self.access.environments;
        host_imports::EnvironmentNames { configured: told.configured.clone(), runs_for: told.runs_for.clone() }
    }

    fn report_counted_approvals(&mut self, approvers: Vec<String>) {
        self.asked_beyond_configuration = true;
        self.counted.report(approvers);
    }

    fn log(&mut self, level: host_imports::LogLevel, message: String) {
        if self.logs.len() >= MAX_LOG_LINES || self.log_bytes >= MAX_LOG_BYTES {
            self.dropped_log_lines += 1;
            return;
        }
        let level = match level {
            host_imports::LogLevel::Debug => "debug",
            host_imports::LogLevel::Info => "info",
            host_imports::LogLevel::Warn => "warn",
            host_imports::LogLevel::Error => "error",
        };
        // Copy only the kept prefix: the lifted `message` (as large as the guest's memory)
        // is freed when this call returns instead of living on in the log.
        let message = bounded_copy(&message, MAX_LOG_LINE_BYTES);
        self.log_bytes += message.len();
        self.logs.push(LogLine { level, message });
    }

    fn read_file(&mut self, path: String) -> Result<Option<String>, String> {
        self.asked_beyond_configuration = true;
        let Some(files) = &self.access.files else {
            return Err("reading repository files is not available to this policy".to_string());
        };
        check_repo_path(&path)?;
        let content = files.read(&path)?;
        match content {
            Some(content) if content.len() > MAX_FILE_BYTES => Err(format!(
                "{path} is {} bytes, over the {} limit for read-file",
                content.len(),
                describe_bytes(MAX_FILE_BYTES)
            )),
            other => Ok(other),
        }
    }

    fn http_get(&mut self, url: String, headers: Vec<(String, String)>) -> Result<host_imports::HttpResponse, String> {
        self.asked_beyond_configuration = true;
        let origin = origin_of(&url)?;
        if !self.access.http_origins.iter().any(|granted| granted == &origin) {
            return Err(format!(
                "{origin} is not granted to this policy; grant it in the policy's capabilities (http_origins) to allow it"
            ));
        }
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(format!("the {} ms deadline has passed", self.timeout.as_millis()));
        }
        // Leave the plugin time to turn a timeout into a verdict of its own: little CPU, but
        // on a loaded machine its thread may wait that long to run again.
        let margin = (self.timeout / 4).min(Duration::from_millis(250));
        let budget = remaining.saturating_sub(margin).max(Duration::from_millis(1));
        let response = self.access.http.get(&url, &headers, budget, MAX_HTTP_BODY_BYTES).map_err(|error| match error {
            FetchError::TimedOut => {
                format!("timed out: no complete response within the policy's {} ms deadline", self.timeout.as_millis())
            }
            FetchError::Failed(message) => message,
        })?;
        Ok(host_imports::HttpResponse { status: response.status, headers: response.headers, body: response.body })
    }
}

/// Repository paths are relative, `/`-separated, and stay inside the repository.
fn check_repo_path(path: &str) -> Result<(), String> {
    let problem = if path.is_empty() {
        Some("is empty")
    } else if path.starts_with('/') {
        Some("is absolute; use a path relative to the repository root")
    } else if path.contains('\\') {
        Some("contains a backslash; use / as the separator")
    } else if path.split('/').any(|part| part == ".." || part == "." || part.is_empty()) {
        Some("must not contain empty, `.` or `..` components")
    } else if path.contains('\0') {
        Some("contains a NUL byte")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(format!("invalid path {path:?}: it {problem}")),
        None => Ok(()),
    }
}

/// Plugin-supplied text made safe to print: control characters other than newline and tab
/// (terminal escape sequences among them) become U+FFFD, so a plugin cannot repaint a report.
pub fn printable(text: &str) -> String {
    text.chars().map(|c| if c.is_control() && c != '\n' && c != '\t' { '\u{FFFD}' } else { c }).collect()
}

/// A printable copy of at most `max` bytes of `text` (plus an ellipsis when cut), allocated
/// at its own size, so no host copy outlives the call at the guest's size.
pub fn bounded_copy(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut copy = printable(&text[..end]);
    if end < text.len() {
        copy.push('…');
    }
    copy.shrink_to_fit();
    copy
}

/// Cut `text` to at most `max` bytes without splitting a character.
pub fn truncate_at_char_boundary(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
}

/// A store for one call: its memory limiter and its deadline.
pub(super) fn new_store(engine: &Engine, state: SandboxState, limits: Limits) -> Store<SandboxState> {
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limiter);
    store.set_epoch_deadline(epoch_ticks(limits.timeout));
    // The epoch only wakes the check; the deadline is the call's wall-clock one. The
    // ticker catches up in bursts when it ran late, so a count of ticks alone could
    // stop a call a little before its time.
    store.epoch_deadline_callback(|store| {
        let remaining = store.data().deadline().saturating_duration_since(Instant::now());
        Ok(if remaining.is_zero() { UpdateDeadline::Interrupt } else { UpdateDeadline::Continue(epoch_ticks(remaining)) })
    });
    store
}

/// Epoch ticks in `timeout`, rounded up.
fn epoch_ticks(timeout: Duration) -> u64 {
    (timeout.as_nanos() / EPOCH_TICK.as_nanos()) as u64 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_paths_must_stay_inside() {
        assert!(check_repo_path("envs/prod/values.yaml").is_ok());
        for bad in ["", "/etc/passwd", "../secrets", "envs/../../x", "a//b", "a\\b", "./a"] {
            assert!(check_repo_path(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn random_bytes_are_the_cycle_derived_from_the_seed_in_order() {
        use rand_core::{Rng, TryRng};
        use wasmtime_wasi::Deterministic;

        // The 4 KiB cycle as it was derived up front before it was derived lazily: records
        // replayed by `verify` must see the same bytes.
        let mut cycle = Vec::new();
        let mut block = Sha256::new().chain_update(b"secure").chain_update(b"seed").finalize();
        while cycle.len() < 4096 {
            cycle.extend_from_slice(&block);
            block = Sha256::digest(block);
        }
        let (mut lazy, mut eager) = (SeededBytes::new(b"seed", b"secure"), Deterministic::new(cycle));
        assert_eq!(lazy.next_u32(), eager.next_u32());
        assert_eq!(lazy.next_u64(), eager.next_u64());
        // Across the end of the cycle and back to its start.
        let (mut ours, mut theirs) = (vec![0; 9000], vec![0; 9000]);
        lazy.try_fill_bytes(&mut ours).unwrap();
        eager.try_fill_bytes(&mut theirs).unwrap();
        assert_eq!(ours, theirs);
        assert_ne!(SeededBytes::new(b"seed", b"insecure").first, SeededBytes::new(b"seed", b"secure").first);
    }

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(describe_bytes(64 * 1024 * 1024), "64 MiB");
        assert_eq!(describe_bytes(1536), "1536 bytes");
        assert_eq!(describe_bytes(512 * 1024), "512 KiB");
    }
}
