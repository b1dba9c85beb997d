//! Plugin files and the compile cache: tollgate reads only regular files, bounded, and runs
//! cached native code only from a cache this user alone could have written.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support::{plugin, tollgate, tollgate_with_cache};

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(entries(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn a_plugin_path_to_dev_zero_is_refused_without_reading_it() {
    let run = tollgate(&["plugin", "info", "/dev/zero"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("plugin /dev/zero: it is not a regular file (it is a character device); give the path to a built .wasm component"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_plugin_path_to_a_fifo_is_refused_instead_of_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("plugin.wasm");
    let status = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo (coreutils)");
    assert!(status.success());
    // Nobody ever writes to the FIFO: without O_NONBLOCK the open would wait forever.
    let run = tollgate(&["plugin", "info", fifo.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("it is not a regular file (it is a FIFO)"), "{}", run.stderr);
}

#[test]
fn a_corrupted_cache_entry_is_detected_and_rebuilt_not_run() {
    let cache = tempfile::tempdir().unwrap();
    let wasm = plugin("image-policy");
    let wasm = wasm.to_str().unwrap();
    let first = tollgate_with_cache(cache.path(), &["--verbose", "plugin", "info", wasm]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let cached = entries(cache.path());
    assert_eq!(cached.len(), 1, "{cached:?}");
    // Overwrite code in the middle of the entry (as an attacker patching .text would):
    // the ELF header and wasmtime's own metadata stay intact, only the checksum can tell.
    let mut bytes = std::fs::read(&cached[0]).unwrap();
    let middle = bytes.len() / 2;
    for byte in &mut bytes[middle..middle + 64] {
        *byte = 0xcc;
    }
    std::fs::write(&cached[0], &bytes).unwrap();
    let second = tollgate_with_cache(cache.path(), &["--verbose", "plugin", "info", wasm]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(second.stderr.contains("is corrupt (checksum mismatch); rebuilding it"), "{}", second.stderr);
    assert!(second.stderr.contains(": compiled in "), "{}", second.stderr);
    assert_eq!(first.stdout, second.stdout);
    let third = tollgate_with_cache(cache.path(), &["--verbose", "plugin", "info", wasm]);
    assert!(third.stderr.contains(": loaded from the compile cache in "), "rebuilt: {}", third.stderr);
}

#[test]
fn a_cache_others_can_write_is_not_used_at_all() {
    let parent = tempfile::tempdir().unwrap();
    let cache = parent.path().join("cache");
    let wasm = plugin("image-policy");
    let wasm = wasm.to_str().unwrap();
    let first = tollgate_with_cache(&cache, &["--verbose", "plugin", "info", wasm]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777, 0o700, "created private");
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let second = tollgate_with_cache(&cache, &["--verbose", "plugin", "info", wasm]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(second.stderr.contains("warning: not using the compile cache: "), "{}", second.stderr);
    assert!(second.stderr.contains("has mode 777; it must not be accessible to group or others; compiling in memory"), "{}", second.stderr);
    assert!(second.stderr.contains(": compiled in ") && !second.stderr.contains("cached at"), "{}", second.stderr);
    assert_eq!(first.stdout, second.stdout);
}

#[test]
fn an_engine_directory_swapped_for_a_symlink_is_not_followed() {
    let parent = tempfile::tempdir().unwrap();
    let cache = parent.path().join("cache");
    let wasm = plugin("image-policy");
    let wasm = wasm.to_str().unwrap();
    assert_eq!(tollgate_with_cache(&cache, &["plugin", "info", wasm]).code, 0);
    // Move the real engine directory away and leave a symlink to it in its place.
    let engine_dir = std::fs::read_dir(&cache).unwrap().next().unwrap().unwrap().path();
    let moved = parent.path().join("elsewhere");
    std::fs::rename(&engine_dir, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &engine_dir).unwrap();
    let run = tollgate_with_cache(&cache, &["--verbose", "plugin", "info", wasm]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("is a symlink or not a directory; compiling in memory"), "{}", run.stderr);
    assert!(run.stderr.contains(": compiled in "), "{}", run.stderr);
}
