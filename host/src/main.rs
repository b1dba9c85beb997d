//! The `tollgate` binary: a thin shell over the library's command line.

fn main() {
    tollgate::repo::cache_large_trees();
    std::process::exit(tollgate::cli::main());
}
