//! Compiles the test plugins to components (see src/lib.rs).

use std::process::ExitCode;

#[path = "src/packages.rs"]
mod packages;

fn main() -> ExitCode {
    tollgate_preflight::build_components_for_crate(packages::TEST_PLUGINS, "TOLLGATE_TEST_PLUGIN_DIR")
}
