//! The `tollgate` command line: argument parsing and exit codes over the library.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::exit::ExitCode;
use crate::fixtures::{read_cases_file, run_cases};
use crate::report::{self, OutputFormat};
use crate::runtime::{CodeSource, CompileCache, Plugin, PluginRef, Runtime};

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

fn print(text: &str) {
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`tollgate … | head`) is not an error worth a panic.
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}
