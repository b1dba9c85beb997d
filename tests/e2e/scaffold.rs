//! `tollgate plugin new`: the scaffold, with the SDK it carries written into it, passes its
//! unit tests, builds for wasm32-wasip2 outside the checkout (offline) and passes its cases
//! through the real host; bad names, non-empty directories and unusable SDKs exit 2.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{tollgate, workspace};

/// Target directory for the scaffold's builds, kept across test runs so that only the first
/// run compiles the SDK and its dependencies (a few minutes); later runs rebuild the plugin.
pub fn target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("scaffold-target")
}

/// Run `cargo ARGS` in `dir` the way a plugin author would: the `cargo` on PATH (with rustup,
/// the crate's own rust-toolchain.toml applies) and none of the settings the outer cargo
/// passes to this test.
pub fn cargo(dir: &Path, args: &[&str]) -> Output {
    let run = |program: &std::ffi::OsStr| {
        let mut command = Command::new(program);
        command.args(args).current_dir(dir).env("CARGO_TARGET_DIR", target_dir());
        for variable in
            ["CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS", "CARGO_BUILD_TARGET", "CARGO_PRIMARY_PACKAGE", "CARGO_MAKEFLAGS", "RUSTUP_TOOLCHAIN"]
        {
            command.env_remove(variable);
        }
        command.output()
    };
    match run("cargo".as_ref()) {
        Ok(output) => output,
        // No cargo on PATH: the one running this test.
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => run(env!("CARGO").as_ref()).expect("run cargo"),
        Err(error) => panic!("run cargo: {error}"),
    }
}

pub fn assert_success(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Build the crate `plugin new` wrote in `dir` for wasm32-wasip2, offline, and run its cases
/// through the host; returns the component's path.
pub fn build_and_pass_cases(dir: &Path, crate_name: &str, cases: usize) -> PathBuf {
    // Pin the dependencies to this workspace's lock file: the same versions as the SDK is
    // tested with, already downloaded, so the builds need no network (cargo drops the rest).
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let build = cargo(dir, &["build", "--offline", "--target", "wasm32-wasip2", "--release"]);
    assert_success("cargo build --offline --target wasm32-wasip2 --release", &build);
    let wasm = target_dir().join("wasm32-wasip2").join("release").join(format!("{crate_name}.wasm"));
    let run = tollgate(&["plugin", "test", wasm.to_str().unwrap(), dir.join("cases.yaml").to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("(error,"), "the cases file has an error case: {}", run.stdout);
    assert_eq!(run.stdout.lines().last(), Some(format!("{cases} passed, 0 failed").as_str()), "{}", run.stdout);
    wasm
}

#[test]
fn a_new_plugin_names_no_checkout_passes_its_unit_tests_builds_offline_and_passes_its_cases() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("my-policy");
    let run = tollgate(&["plugin", "new", "my-policy", "--dir", dir.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with(&format!("Created plugin my-policy in {} (tollgate-sdk 0.1.0 in vendor/tollgate-sdk-0.1.0):\n", dir.display())),
        "{}",
        run.stdout
    );
    for file in ["Cargo.toml", "src/lib.rs", "cases.yaml", "README.md", "rust-toolchain.toml", ".gitignore", "vendor/tollgate-sdk-0.1.0/"] {
        assert!(dir.join(file).exists(), "{file} was not written");
        assert!(run.stdout.contains(&format!("\n  {file}\n")), "{file} is not listed: {}", run.stdout);
    }
    assert!(run.stdout.contains("tollgate plugin test target/wasm32-wasip2/release/my_policy.wasm cases.yaml"), "{}", run.stdout);
    // Nothing points back at the checkout this tollgate was built from.
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("tollgate-sdk = { path = \"vendor/tollgate-sdk-0.1.0\" }"), "{manifest}");
    let checkout = workspace().display().to_string();
    for file in ["Cargo.toml", "README.md", "src/lib.rs", "cases.yaml"] {
        assert!(!std::fs::read_to_string(dir.join(file)).unwrap().contains(&checkout), "{file} names the checkout");
    }

    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let test = cargo(&dir, &["test", "--offline"]);
    assert_success("cargo test --offline", &test);
    let stdout = String::from_utf8_lossy(&test.stdout);
    assert!(stdout.contains("test result: ok. 5 passed; 0 failed"), "{stdout}");

    let wasm = build_and_pass_cases(&dir, "my_policy", 8);
    let run = tollgate(&["plugin", "info", wasm.to_str().unwrap(), "-o", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let info: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(info["name"], "my-policy");
    assert_eq!(info["version"], "0.1.0");
}

#[test]
fn bad_names_are_refused_with_exit_2_and_nothing_is_written() {
    let temp = tempfile::tempdir().unwrap();
    for (name, message) in [
        ("My_Policy", "plugin name \"My_Policy\" has 'M' at position 1: use lowercase letters, digits and `-`, starting with a letter, e.g. my-policy; did you mean \"my-policy\"?"),
        ("2fa", "plugin name \"2fa\" does not start with a letter: "),
        ("my.policy", "plugin name \"my.policy\" has '.' at position 3: "),
        ("std", "plugin name \"std\" is taken by a Rust standard library crate or a dependency of the plugin"),
    ] {
        let dir = temp.path().join("plugin");
        let run = tollgate(&["plugin", "new", name, "--dir", dir.to_str().unwrap()]);
        assert_eq!(run.code, 2, "{name}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.starts_with(&format!("tollgate: {message}")), "{name}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{}", run.stdout);
        assert!(!dir.exists(), "{name}: {} was created", dir.display());
    }
}

#[test]
fn a_non_empty_directory_is_not_overwritten() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("existing");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("Cargo.toml"), "mine").unwrap();
    let run = tollgate(&["plugin", "new", "my-policy", "--dir", dir.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stderr,
        format!(
            "tollgate: {}: the directory already exists and is not empty; refusing to overwrite it (choose another --dir, or remove it)\n",
            dir.display()
        )
    );
    assert_eq!(std::fs::read_to_string(dir.join("Cargo.toml")).unwrap(), "mine");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "nothing was added");

    // An empty directory is fine.
    let empty = temp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let run = tollgate(&["plugin", "new", "my-policy", "--dir", empty.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(empty.join("src/lib.rs").is_file());
}

#[test]
fn an_sdk_path_that_is_not_the_sdk_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("my-policy");
    let host = workspace().join("host");
    let run = tollgate(&["plugin", "new", "my-policy", "--dir", dir.to_str().unwrap(), "--sdk-path", host.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("Cargo.toml is not the tollgate-sdk crate's manifest; leave out --sdk-path to use the tollgate-sdk 0.1.0 this tollgate carries"),
        "{}",
        run.stderr
    );
    assert!(!dir.exists());

    let run = tollgate(&["plugin", "new", "--help"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("--sdk-path <PATH>") && run.stdout.contains("--sdk-from-registry"), "{}", run.stdout);
    assert!(run.stdout.contains("vendor/tollgate-sdk-VERSION/"), "{}", run.stdout);
    let run = tollgate(&["plugin", "new", "p", "--sdk-path", "sdk", "--sdk-from-registry"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("cannot be used with"), "{}", run.stderr);
}
