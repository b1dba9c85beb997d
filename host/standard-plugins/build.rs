//! Compiles the standard plugins to components (see src/lib.rs).

use std::process::ExitCode;

#[path = "src/packages.rs"]
mod packages;

fn main() -> ExitCode {
    tollgate_preflight::build_components_for_crate(packages::STANDARD_PLUGINS, "TOLLGATE_STANDARD_PLUGIN_DIR")
}
