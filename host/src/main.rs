//! The `tollgate` binary: a thin shell over the library's command line.

fn main() {
    std::process::exit(tollgate::cli::main());
}
