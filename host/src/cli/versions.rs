//! `tollgate versions APP`: what the application's registry offers under its `discover:` rule
//! (for a multi-artifact application, each artifact's under its own).

use clap::Args;

use super::setup::open_workspace;
use super::{Cli, print};
use crate::exit::{ExitCode, Failure};
use crate::report::{self, OutputFormat};

/// Arguments of `versions`.
#[derive(Debug, Args)]
pub struct VersionsArgs {
    /// Application (with a `discover:` rule in tollgate.yaml, or on its artifacts).
    pub app: String,
    /// Show the newest N.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,
    /// Output format: text or json.
    #[arg(short, long, value_enum, default_value = "text")]
    pub output: OutputFormat,
}

pub(super) fn run(cli: &Cli, args: &VersionsArgs) -> Result<ExitCode, Failure> {
    if !matches!(args.output, OutputFormat::Text | OutputFormat::Json) {
        return Err(Failure::bad_input("versions prints text or json (-o text|json)"));
    }
    crate::input::identifier("application", &args.app).map_err(|error| Failure::bad_input(error.to_string()))?;
    let workspace = open_workspace(cli)?;
    let offered = workspace.candidates(&args.app, args.limit.max(1))?;
    print(&report::versions::render(&args.app, &offered, args.output));
    Ok(ExitCode::Success)
}
