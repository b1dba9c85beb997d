//! `tollgate serve`: decisions over HTTP on the one pipeline, a dashboard and metrics.
//!
//! Each request reads the configuration of the repository's protected branch, as a command
//! would (which branch that is, unless a flag names it, is found once); what it shares with other requests is the plugin runtime (compiled plugins), the
//! opened repositories (libgit2 handles and their object caches, [`state::AppState::open`]),
//! the limits and the metrics. The decision endpoints call exactly what the
//! commands call ([`Commands`] lends the command line's own request building): `/v1/plan` is
//! `tollgate plan -o json`, `/v1/promote` is `tollgate promote --push -o json`.
//!
//! - [`api`]: the endpoints and their answers;
//! - [`state`]: what every request shares;
//! - [`body`]: request bodies (JSON with keys named after the flags) and error answers;
//! - [`guard`]: bearer tokens, webhook signatures, the in-flight limit and the deadline;
//! - [`listener`]: where it listens (loopback unless TLS or `--insecure-listen`), TLS with
//!   certificate reloading, and shutdown on SIGTERM;
//! - [`mirror`]: a remote `--repo` mirrored with the user's git and fetched periodically;
//! - [`metrics`]: the Prometheus metrics;
//! - [`openapi`]: the OpenAPI document of every endpoint;
//! - [`dashboard`]: the HTML pages.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::exit::Failure;
use crate::promotion::request::{PlanRequest, Skipped};
use crate::promotion::workspace::Workspace;
use crate::repo::GitRepo;

pub mod api;
pub mod body;
pub mod dashboard;
pub mod guard;
pub mod listener;
pub mod metrics;
pub mod mirror;
pub mod openapi;
pub mod state;

#[cfg(test)]
mod proptests;

pub use body::PlanBody;
pub use guard::{read_secret, read_tokens};
pub use mirror::RepoSource;

/// Largest request body accepted (413 past it).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What the server needs from the command line's set-up, so that a request over HTTP is
/// opened and built exactly as the same flags would be (and the server does not depend on
/// the command line).
pub trait Commands: Send + Sync + 'static {
    /// A workspace over `repo` (opened now, or reused between requests) with the
    /// configuration of its protected branch (and its `tollgate.lock`), read now, and the
    /// shared runtime.
    fn open_in(&self, repo: GitRepo) -> Result<Workspace, Failure>;
    /// The plan requests the flags named in `body` would make.
    fn plan_requests(&self, workspace: &Workspace, body: &PlanBody) -> Result<Requests, Failure>;
}

/// The requests of one call, as the command line builds them.
pub struct Requests {
    /// One per (application, target) pair.
    pub requests: Vec<PlanRequest>,
    /// Pairs with nothing to do because the application is not configured there.
    pub skipped: Vec<Skipped>,
    /// A release train (applications chosen by pattern or `all`).
    pub train: bool,
    /// One application into one target, named outright: answered as one decision.
    pub single: bool,
}

/// How the server was asked to run.
pub struct ServeOptions {
    /// `ADDR:PORT` to listen on.
    pub listen: String,
    /// API tokens (`None`: no token needed, loopback only).
    pub tokens: Option<Vec<String>>,
    /// Tokens for `/metrics` alone (`None`: the API tokens).
    pub metrics_tokens: Option<Vec<String>>,
    /// TLS certificate and key files.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Listen beyond loopback without TLS.
    pub insecure_listen: bool,
    /// The repository: a local path, or a remote URL and its mirror.
    pub repo: RepoSource,
    /// How often a mirror is fetched.
    pub fetch_interval: Duration,
    /// The webhook secret for `X-Hub-Signature-256`.
    pub webhook_secret: Option<Vec<u8>>,
    /// Serve `/v1/promote`.
    pub allow_promote: bool,
    /// Append every decision to this file, as `--decision-log` does.
    pub decision_log: Option<PathBuf>,
    /// Requests evaluated at once.
    pub max_in_flight: usize,
    /// Each request's deadline.
    pub request_timeout: Duration,
}

/// glibc's tunable that turns off its per-thread malloc caches, and the variable it is read from.
const NO_THREAD_CACHES: &str = "glibc.malloc.tcache_count=0";
const TUNABLES: &str = "GLIBC_TUNABLES";

/// Start the server's process again with glibc's per-thread malloc caches off, unless they are
/// already (or the caller chose its own `tcache_count`); returns only when that is so or the
/// process cannot be started again (it then serves as it is). Call it before anything else
/// the command does: the new process does it all again.
///
/// Why: each thread keeps freed blocks of each size for itself (up to seven per size below
/// 1 KiB), and a server whose threads come and go with the calls in flight (policy workers, the
/// blocking pool) kept growing by them: 36.5 → 45.2 MiB over 100,000 requests at 200/s, and
/// with the caches off flat within 1 MiB (BENCHMARKS.md). glibc reads its tunables only when a
/// process starts, hence the second start (`exec`: the same process id, arguments and
/// standard streams).
pub fn without_malloc_thread_caches() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        let current = std::env::var(TUNABLES).unwrap_or_default();
        if current.split(':').any(|tunable| tunable.starts_with("glibc.malloc.tcache_count=")) {
            return;
        }
        let tunables = if current.is_empty() { NO_THREAD_CACHES.to_string() } else { format!("{current}:{NO_THREAD_CACHES}") };
        let Ok(executable) = std::env::current_exe() else { return };
        let mut arguments = std::env::args_os();
        let Some(name) = arguments.next() else { return };
        // Returns only when it could not start the executable (e.g. replaced on disk since).
        let _ = std::process::Command::new(executable).arg0(name).args(arguments).env(TUNABLES, tunables).exec();
    }
}

/// Serve until SIGTERM or Ctrl-C, then finish the requests under way and return. Errors
/// before listening (bad flags, an address that needs TLS, a mirror that cannot be made) are
/// bad input.
pub fn run(options: ServeOptions, commands: Arc<dyn Commands>) -> Result<(), Failure> {
    // One thread for the connections: every request's work runs on a blocking thread (its
    // policies there too, or on workers when granted origins), so more async workers only added
    // wake-ups and work stealing
    // (about 9 % of the server's CPU per request, BENCHMARKS.md).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("tollgate-serve")
        .build()
        .map_err(|error| Failure::bad_input(format!("cannot start the server's runtime: {error}")))?;
    runtime.block_on(listener::serve(options, commands))
}
