//! Compiles the standard plugins to components (see src/lib.rs).

use std::process::ExitCode;

#[path = "src/packages.rs"]
mod packages;

fn main() -> ExitCode {
    match tollgate_preflight::build_components(packages::STANDARD_PLUGINS) {
        Ok(dir) => {
            println!("cargo:rustc-env=TOLLGATE_STANDARD_PLUGIN_DIR={}", dir.display());
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
