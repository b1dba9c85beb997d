//! What the commands set up before they act: the runtime, the workspace (repository,
//! configuration from the protected branch, lockfile), a single plugin, input files.

use std::path::Path;
use std::sync::Arc;

use super::Cli;
use crate::exit::Failure;
use crate::input::describe_yaml_error;
use crate::promotion::workspace::Workspace;
use crate::runtime::{CompileCache, Plugin, PluginRef, Runtime};

/// The plugin runtime with the compile cache and the registry store the flags choose.
pub(super) fn runtime(cli: &Cli) -> Result<Runtime, Failure> {
    runtime_for(cli, Lifetime::OneShot)
}

/// How long the process that runs the decisions lives.
#[derive(Clone, Copy)]
pub(super) enum Lifetime {
    /// One command: instances mapped on demand (quick to start).
    OneShot,
    /// Many decisions (`plan-batch`, `serve`): instances from a pool (quick per decision).
    LongLived,
    /// `serve --preinitialise`: as long-lived, and a hot configuration of a standard plugin is
    /// pre-initialised in the background (quicker still per decision, after a second or two of
    /// compiling, for more memory).
    PreinitialisingServer,
}

/// [`runtime`] for a process of `lifetime`.
pub(super) fn runtime_for(cli: &Cli, lifetime: Lifetime) -> Result<Runtime, Failure> {
    let store_root = cli.cache_dir.clone().or_else(CompileCache::default_root);
    let cache_root = if cli.no_cache { None } else { store_root.clone() };
    let created = match lifetime {
        Lifetime::OneShot => Runtime::new(cache_root.as_deref()),
        Lifetime::LongLived | Lifetime::PreinitialisingServer => Runtime::new_pooled(cache_root.as_deref()),
    };
    let mut runtime = created
        .map_err(|error| Failure::policy_failed(format!("cannot start the WebAssembly runtime: {error:#}")))?;
    if matches!(lifetime, Lifetime::PreinitialisingServer) {
        runtime.preinitialise_hot_configurations();
    }
    runtime.set_verbose(cli.verbose);
    // Pulled plugins stay in the store even with --no-cache: it holds verified bytes, not compiled code.
    runtime.set_registry(crate::registry::Resolver::new(store_root, cli.insecure_registries.clone(), cli.locked));
    Ok(runtime)
}

/// The repository and the configuration of its protected branch, with its `tollgate.lock`.
pub(super) fn open_workspace(cli: &Cli) -> Result<Workspace, Failure> {
    open_workspace_for(cli, Lifetime::OneShot)
}

/// [`open_workspace`] with the runtime of a process of `lifetime`.
pub(super) fn open_workspace_for(cli: &Cli, lifetime: Lifetime) -> Result<Workspace, Failure> {
    open_workspace_with(&cli.repo, cli.config.as_deref(), protected_branch(cli), Arc::new(runtime_for(cli, lifetime)?))
}

/// [`open_workspace`] of the repository at `repo` with a given runtime (the server's, shared
/// by every request).
pub(super) fn open_workspace_with(repo: &Path, config: Option<&Path>, protected: Option<String>, runtime: Arc<Runtime>) -> Result<Workspace, Failure> {
    let repo = crate::repo::GitRepo::open(repo).map_err(|error| Failure::bad_input(error.0))?;
    open_workspace_in(repo, config, protected, runtime)
}

/// [`open_workspace_with`] over a repository already open (the server reuses them).
pub(super) fn open_workspace_in(repo: crate::repo::GitRepo, config: Option<&Path>, protected: Option<String>, runtime: Arc<Runtime>) -> Result<Workspace, Failure> {
    // The protected branch is found once (each look-up reads references from disk): the
    // configuration is read from it, and without --config its lock too.
    let protected = match (protected, config) {
        (None, None) => Some(crate::promotion::workspace::default_protected_branch(&repo)?),
        (protected, _) => protected,
    };
    let workspace = Workspace::open_in(repo, config, protected.as_deref(), runtime)?;
    // tollgate.lock sits beside the tollgate.yaml that was read: on the protected branch (with
    // --config, beside that file, whatever the branch).
    let lock_branch = protected.unwrap_or_else(|| workspace.config.branch.clone());
    let lock = crate::registry::Lockfile::for_configuration(&workspace.repo, &lock_branch, config).map_err(Failure::bad_input)?;
    workspace.runtime.registry().set_lockfile(lock);
    Ok(workspace)
}

/// `--protected-branch`, else `$TOLLGATE_PROTECTED_BRANCH`.
pub(super) fn protected_branch(cli: &Cli) -> Option<String> {
    cli.protected_branch.clone().or_else(|| std::env::var("TOLLGATE_PROTECTED_BRANCH").ok().filter(|branch| !branch.is_empty()))
}

/// One plugin by reference (`--verbose` says where its code came from).
pub(super) fn load_plugin(cli: &Cli, reference: &str) -> Result<Arc<Plugin>, Failure> {
    let reference = PluginRef::parse(reference).map_err(Failure::bad_input)?;
    let runtime = runtime(cli)?;
    let plugin = runtime.load(&reference).map_err(|error| Failure::bad_input(error.message))?;
    Ok(plugin)
}

/// A text file the requester names; unreadable is bad input.
pub(super) fn read_input(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|error| Failure::bad_input(format!("{}: cannot read it ({error})", path.display())))
}

/// YAML (or JSON) text as JSON text, for a plugin's config.
pub(super) fn yaml_to_json(source: &str, text: &str) -> Result<String, Failure> {
    let value: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|error| Failure::bad_input(format!("{source}: {}", describe_yaml_error(&error))))?;
    let value = if value.is_null() { serde_yaml::Value::Mapping(Default::default()) } else { value };
    serde_json::to_string(&value).map_err(|error| Failure::bad_input(format!("{source}: cannot be turned into JSON ({error})")))
}
