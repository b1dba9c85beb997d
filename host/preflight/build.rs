//! Makes sure the Rust toolchain has the standard library for the plugins' wasm target before
//! anything else builds (see src/lib.rs for why).
//!
//! Runs in two ways: as this crate's build script, and as a program that `rustc-wrapper`
//! compiles and runs when cargo first asks rustc for its version, seconds into a build. In the
//! second way cargo does not show what succeeds, so a notice about an added target is left in
//! a file, [`NOTE_FILE`] in the target directory, for the build script to show.

use std::env;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

#[path = "src/target.rs"]
mod target;
use target::WASM_TARGET;

/// The file in the target directory that carries a notice from the wrapper's run to the
/// build script's.
const NOTE_FILE: &str = "tollgate-preflight-note.txt";

/// How long `rustup target add` may take: a download of the standard library (tens of MB) on a
/// slow link fits; a network that swallows packets does not hold the build forever.
const RUSTUP_TIME_LIMIT: Duration = Duration::from_secs(600);

fn main() -> ExitCode {
    show_notice_left_by_wrapper();
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"));
    let libdir = match target_libdir(&rustc) {
        Ok(libdir) => libdir,
        Err(why) => return stop(&format!("{why}\n{}", install_hint(None))),
    };
    // Checked again when the target is added or removed; otherwise cargo keeps the last answer.
    println!("cargo:rerun-if-changed={}", libdir.display());
    if has_standard_library(&libdir) {
        return ExitCode::SUCCESS;
    }
    // rustup's proxies name the toolchain they run in RUSTUP_TOOLCHAIN; without it, rustup does
    // not manage this toolchain and cannot add a target to it.
    let Some(toolchain) = env::var("RUSTUP_TOOLCHAIN").ok().filter(|name| !name.is_empty()) else {
        return stop(&format!(
            "the Rust toolchain ({}) lacks the {WASM_TARGET} target (no standard library in {}), \
             which tollgate compiles its policy plugins for.\n{}",
            Path::new(&rustc).display(),
            libdir.display(),
            install_hint(None)
        ));
    };
    match rustup_add_target(&toolchain) {
        Ok(()) if has_standard_library(&libdir) => {
            tell(&format!(
                "added the {WASM_TARGET} target to the Rust toolchain {toolchain} \
                 (`rustup target add {WASM_TARGET} --toolchain {toolchain}`): tollgate compiles \
                 its policy plugins for it"
            ));
            ExitCode::SUCCESS
        }
        Ok(()) => stop(&format!(
            "`rustup target add {WASM_TARGET} --toolchain {toolchain}` succeeded, but {} still \
             holds no standard library.\n{}",
            libdir.display(),
            install_hint(Some(&toolchain))
        )),
        Err(why) => stop(&format!(
            "the Rust toolchain {toolchain} lacks the {WASM_TARGET} target, which tollgate \
             compiles its policy plugins for, and rustup could not add it: {why}\n{}",
            install_hint(Some(&toolchain))
        )),
    }
}

/// Where `rustc` looks for the wasm target's standard library.
fn target_libdir(rustc: &OsString) -> Result<PathBuf, String> {
    let output = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", WASM_TARGET])
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("could not run {}: {error}", Path::new(rustc).display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} does not know the {WASM_TARGET} target (Rust 1.82 or later does):\n{}",
            Path::new(rustc).display(),
            String::from_utf8_lossy(&output.stderr).trim_end()
        ));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
}

/// Whether `libdir` holds a compiled standard library (`libstd-<hash>.rlib`).
fn has_standard_library(libdir: &Path) -> bool {
    let Ok(entries) = libdir.read_dir() else { return false };
    entries.flatten().any(|entry| {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        name.starts_with("libstd-") && name.ends_with(".rlib")
    })
}

/// Runs `rustup target add`, its output kept in a file: a build script's stdout is read by
/// cargo as instructions, and a pipe left unread could stall rustup.
fn rustup_add_target(toolchain: &str) -> Result<(), String> {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").ok_or("cargo set no OUT_DIR")?);
    let log_path = out_dir.join("rustup-target-add.log");
    let log = File::create(&log_path).map_err(|error| format!("create {}: {error}", log_path.display()))?;
    let log_err = log.try_clone().map_err(|error| format!("{}: {error}", log_path.display()))?;
    let mut child = Command::new("rustup")
        .args(["target", "add", WASM_TARGET, "--toolchain", toolchain])
        .stdin(Stdio::null())
        // A failed download is a message for people, not a backtrace.
        .env("RUST_BACKTRACE", "0")
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(|error| format!("could not run rustup: {error}"))?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < RUSTUP_TIME_LIMIT => sleep(Duration::from_millis(100)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("rustup did not finish within {} seconds", RUSTUP_TIME_LIMIT.as_secs()));
            }
            Err(error) => return Err(format!("waiting for rustup: {error}")),
        }
    };
    if status.success() {
        return Ok(());
    }
    let said = std::fs::read_to_string(&log_path).unwrap_or_default();
    let said: Vec<String> = said.trim_end().lines().map(|line| format!("    {line}")).collect();
    Err(format!("`rustup target add` failed ({status}):\n{}", said.join("\n")))
}

/// The commands that give a toolchain the target: for a toolchain rustup installed, adding
/// it; for any other, installing the toolchain that `rust-toolchain.toml` pins, with it.
fn install_hint(toolchain: Option<&str>) -> String {
    let channel = pinned_channel().unwrap_or_else(|| "stable".to_string());
    let add = match toolchain {
        Some(name) => format!("rustup target add {WASM_TARGET} --toolchain {name}"),
        None => format!("rustup target add {WASM_TARGET}"),
    };
    format!(
        "To fix it, run\n    {add}\nor, if rustup did not install this toolchain (it cannot add targets to \
         one it did not install), install the toolchain that rust-toolchain.toml pins, with the target:\n    \
         rustup toolchain install {channel} --profile minimal --target {WASM_TARGET}\n\
         and run the command again."
    )
}

/// The `channel` that the workspace's rust-toolchain.toml pins.
fn pinned_channel() -> Option<String> {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR")?);
    let text = std::fs::read_to_string(manifest_dir.join("../../rust-toolchain.toml")).ok()?;
    text.lines().find_map(|line| {
        let value = line.trim().strip_prefix("channel")?.trim_start().strip_prefix('=')?.trim();
        Some(value.trim_matches('"').to_string())
    })
}

/// The target directory the wrapper names when it runs this program (in a build script,
/// cargo's OUT_DIR says where the target directory is).
const WRAPPER_TARGET_DIR: &str = "TOLLGATE_PREFLIGHT_TARGET_DIR";

/// Shows `notice` on the build's stderr: as a cargo warning from the build script, or, run by
/// the wrapper, through [`NOTE_FILE`] in the target directory.
fn tell(notice: &str) {
    match env::var_os(WRAPPER_TARGET_DIR) {
        Some(target_dir) => {
            let target_dir = PathBuf::from(target_dir);
            // Losing the notice loses nothing else: the target is there either way.
            let _ = std::fs::create_dir_all(&target_dir);
            let _ = std::fs::write(target_dir.join(NOTE_FILE), notice);
        }
        None => println!("cargo:warning={notice}"),
    }
}

/// Shows, as the build script, a notice the wrapper's run left in the target directory, which
/// is an ancestor of OUT_DIR (how far up depends on the profile and `--target`).
fn show_notice_left_by_wrapper() {
    if env::var_os(WRAPPER_TARGET_DIR).is_some() {
        return;
    }
    let Some(out_dir) = env::var_os("OUT_DIR") else { return };
    let Some(note) = Path::new(&out_dir).ancestors().map(|dir| dir.join(NOTE_FILE)).find(|note| note.is_file()) else {
        return;
    };
    if let Ok(notice) = std::fs::read_to_string(&note) {
        println!("cargo:warning={}", notice.trim());
        let _ = std::fs::remove_file(&note);
    }
}

/// Stops the build: cargo shows this build script's stderr under its name.
fn stop(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}
