//! The `tollgate` command line: argument parsing and exit codes over the library.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::decision::{Decision, PolicyOutcome, Verdict};
use crate::exit::ExitCode;
use crate::fixtures::{describe_yaml_error, read_cases_file, run_cases};
use crate::report::{self, OutputFormat};
use crate::runtime::{CodeSource, CompileCache, HostAccess, Limits, NetworkFetcher, Plugin, PluginRef, Runtime};
use crate::transition::Transition;

const EXIT_CODES: &str = "Exit codes: 0 allowed/success, 1 denied/failed, 2 bad input or usage, \
                          3 a policy failed to run (fail closed), 4 conflict.";

/// tollgate: a policy gate for GitOps promotions.
#[derive(Debug, Parser)]
#[command(name = "tollgate", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// Say more on stderr (e.g. whether plugins came from the compile cache).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Directory for compiled plugins [default: $TOLLGATE_CACHE_DIR, $XDG_CACHE_HOME/tollgate or ~/.cache/tollgate].
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Compile plugins every time; do not read or write the compile cache.
    #[arg(long, global = true)]
    pub no_cache: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect and test policy plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

/// `tollgate plugin …`
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Show a plugin's name, version, capabilities, WIT world, sha256 and size.
    #[command(after_help = "Example:\n  tollgate plugin info target/plugins/wasm32-wasip2/plugin/image_policy.wasm")]
    Info {
        /// Path to the .wasm component, optionally pinned: PATH@sha256:HEX.
        plugin: String,
        /// Output format.
        #[arg(short, long, value_enum, default_value = "text")]
        output: OutputFormat,
    },
    /// Evaluate a plugin on one transition: exit 0 allow, 1 deny, 3 failed to run.
    #[command(after_help = "Example:\n  tollgate plugin eval policy.wasm --config '{allowed_registries: [registry.example.com/]}' \\\n      --transition transition.yaml")]
    Eval {
        /// Path to the .wasm component, optionally pinned: PATH@sha256:HEX.
        plugin: String,
        /// The policy's configuration, as YAML or JSON text.
        #[arg(long, value_name = "YAML", conflicts_with = "config_file")]
        config: Option<String>,
        /// The policy's configuration, from a YAML or JSON file.
        #[arg(long, value_name = "FILE")]
        config_file: Option<PathBuf>,
        /// The transition, from a YAML or JSON file; unspecified fields take test defaults.
        #[arg(long, value_name = "FILE")]
        transition: Option<PathBuf>,
        /// Time limit for the call, in milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 2000)]
        timeout_ms: u64,
        /// Memory cap, in MiB.
        #[arg(long, value_name = "MIB", default_value_t = 64)]
        memory_mib: u64,
        /// Output format.
        #[arg(short, long, value_enum, default_value = "text")]
        output: OutputFormat,
    },
    /// Run a plugin against cases files; exit 0 when every case passes, 1 otherwise.
    #[command(after_help = "Example:\n  tollgate plugin test target/plugins/wasm32-wasip2/plugin/image_policy.wasm \\\n      plugins/examples/image-policy/cases.yaml")]
    Test {
        /// Path to the .wasm component, optionally pinned: PATH@sha256:HEX.
        plugin: String,
        /// Cases files (YAML).
        #[arg(required = true)]
        cases: Vec<PathBuf>,
        /// Output format.
        #[arg(short, long, value_enum, default_value = "text")]
        output: OutputFormat,
    },
}

/// Bad input or a failed step, with the exit code it means.
struct Failure {
    code: ExitCode,
    message: String,
}

impl Failure {
    fn bad_input(message: impl Into<String>) -> Self {
        Failure { code: ExitCode::BadInput, message: message.into() }
    }
}

/// Run the command line; returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() { ExitCode::BadInput.code() } else { ExitCode::Success.code() };
        }
    };
    match run(&cli) {
        Ok(code) => code.code(),
        Err(failure) => {
            eprintln!("tollgate: {}", failure.message);
            failure.code.code()
        }
    }
}

fn run(cli: &Cli) -> Result<ExitCode, Failure> {
    match &cli.command {
        Command::Plugin(PluginCommand::Info { plugin, output }) => {
            let plugin = load_plugin(cli, plugin)?;
            let info = plugin
                .info()
                .map_err(|cause| Failure { code: ExitCode::PolicyFailed, message: format!("plugin {}: info failed: {cause}", plugin.source()) })?;
            print(&report::plugin_info(&plugin, &info, *output));
            Ok(ExitCode::Success)
        }
        Command::Plugin(PluginCommand::Eval { plugin, config, config_file, transition, timeout_ms, memory_mib, output }) => {
            let config = match (config, config_file) {
                (Some(text), _) => yaml_to_json("--config", text)?,
                (None, Some(path)) => yaml_to_json(&path.display().to_string(), &read_input(path)?)?,
                (None, None) => "{}".to_string(),
            };
            let transition: Transition = match transition {
                Some(path) => serde_yaml::from_str(&read_input(path)?)
                    .map_err(|error| Failure::bad_input(format!("{}: {}", path.display(), describe_yaml_error(&error))))?,
                None => Transition::default(),
            };
            let limits = Limits {
                timeout: Duration::from_millis(*timeout_ms),
                memory_bytes: usize::try_from(memory_mib.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX),
            };
            let plugin = load_plugin(cli, plugin)?;
            let access = HostAccess { files: None, http_origins: Vec::new(), http: Arc::new(NetworkFetcher) };
            let evaluation = plugin.evaluate(&config, &transition, limits, access);
            print(&report::evaluation(&plugin, &evaluation, *output));
            Ok(match &evaluation.outcome {
                PolicyOutcome::Verdict(Verdict { decision: Decision::Allow, .. }) => ExitCode::Success,
                PolicyOutcome::Verdict(Verdict { decision: Decision::Deny, .. }) => ExitCode::Denied,
                PolicyOutcome::Failed { .. } => ExitCode::PolicyFailed,
            })
        }
        Command::Plugin(PluginCommand::Test { plugin, cases, output }) => {
            let plugin = load_plugin(cli, plugin)?;
            let mut results = Vec::new();
            for path in cases {
                let file = read_cases_file(path).map_err(|error| Failure::bad_input(error.0))?;
                results.extend(run_cases(&plugin, path, &file).map_err(|error| Failure::bad_input(error.0))?);
            }
            print(&report::test_results(&plugin, &results, *output));
            Ok(if results.iter().all(|result| result.passed) { ExitCode::Success } else { ExitCode::Denied })
        }
    }
}

fn load_plugin(cli: &Cli, reference: &str) -> Result<Arc<Plugin>, Failure> {
    let reference = PluginRef::parse(reference).map_err(Failure::bad_input)?;
    let cache_root = if cli.no_cache { None } else { cli.cache_dir.clone().or_else(CompileCache::default_root) };
    let runtime = Runtime::new(cache_root.as_deref())
        .map_err(|error| Failure { code: ExitCode::PolicyFailed, message: format!("cannot start the WebAssembly runtime: {error:#}") })?;
    let plugin = runtime.load(&reference).map_err(|error| Failure::bad_input(error.message))?;
    if cli.verbose {
        match plugin.code_source() {
            CodeSource::Cache { load_time } => {
                eprintln!("tollgate: {}: loaded from the compile cache in {:.1} ms", plugin.source(), load_time.as_secs_f64() * 1000.0)
            }
            CodeSource::Compiled { compile_time, cached_at } => eprintln!(
                "tollgate: {}: compiled in {:.1} ms{}",
                plugin.source(),
                compile_time.as_secs_f64() * 1000.0,
                cached_at.as_ref().map(|path| format!(", cached at {}", path.display())).unwrap_or_default()
            ),
        }
    }
    Ok(plugin)
}

fn read_input(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|error| Failure::bad_input(format!("{}: cannot read it ({error})", path.display())))
}

/// YAML (or JSON) text as JSON text, for a plugin's config.
fn yaml_to_json(source: &str, text: &str) -> Result<String, Failure> {
    let value: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|error| Failure::bad_input(format!("{source}: {}", describe_yaml_error(&error))))?;
    let value = if value.is_null() { serde_yaml::Value::Mapping(Default::default()) } else { value };
    serde_json::to_string(&value).map_err(|error| Failure::bad_input(format!("{source}: cannot be turned into JSON ({error})")))
}

fn print(text: &str) {
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`tollgate … | head`) is not an error worth a panic.
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}
