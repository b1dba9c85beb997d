//! `tollgate plugin new`: the scaffold passes its unit tests, builds for wasm32-wasip2 and
//! passes its cases through the real host; bad names and non-empty directories exit 2.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{tollgate, workspace};

/// Target directory for the scaffold's builds, kept across test runs so that only the first
/// run compiles the SDK and its dependencies (a few minutes); later runs rebuild the plugin.
fn target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("scaffold-target")
}

/// Run `cargo ARGS` in `dir` the way a plugin author would: the `cargo` on PATH (with rustup,
/// the crate's own rust-toolchain.toml applies) and none of the settings the outer cargo
/// passes to this test.
fn cargo(dir: &Path, args: &[&str]) -> Output {
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

fn assert_success(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_new_plugin_passes_its_unit_tests_builds_for_wasm_and_passes_its_cases() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("my-policy");
    let run = tollgate(&["plugin", "new", "my-policy", "--dir", dir.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let sdk = workspace().join("sdk").canonicalize().unwrap();
    assert!(
        run.stdout.starts_with(&format!("Created plugin my-policy in {} (tollgate-sdk from {}):\n", dir.display(), sdk.display())),
        "{}",
        run.stdout
    );
    for file in ["Cargo.toml", "src/lib.rs", "cases.yaml", "README.md", "rust-toolchain.toml", ".gitignore"] {
        assert!(dir.join(file).is_file(), "{file} was not written");
        assert!(run.stdout.contains(&format!("\n  {file}\n")), "{file} is not listed: {}", run.stdout);
    }
    assert!(run.stdout.contains("tollgate plugin test target/wasm32-wasip2/release/my_policy.wasm cases.yaml"), "{}", run.stdout);
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains(&format!("tollgate-sdk = {{ path = {:?} }}", sdk.display().to_string())), "{manifest}");

    // Pin the dependencies to this workspace's lock file: the same versions as the SDK is
    // tested with, already downloaded, so the builds need no network (cargo drops the rest).
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();

    let test = cargo(&dir, &["test"]);
    assert_success("cargo test", &test);
    let stdout = String::from_utf8_lossy(&test.stdout);
    assert!(stdout.contains("test result: ok. 5 passed; 0 failed"), "{stdout}");

    let build = cargo(&dir, &["build", "--target", "wasm32-wasip2", "--release"]);
    assert_success("cargo build --target wasm32-wasip2 --release", &build);
    let wasm = target_dir().join("wasm32-wasip2").join("release").join("my_policy.wasm");
    let wasm = wasm.to_str().unwrap();

    let cases = dir.join("cases.yaml");
    let run = tollgate(&["plugin", "test", wasm, cases.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("PASS  a promotion to prod without a change ticket is denied (deny,"), "{}", run.stdout);
    assert!(run.stdout.contains("(error,"), "the cases file has an error case: {}", run.stdout);
    assert_eq!(run.stdout.lines().last(), Some("8 passed, 0 failed"), "{}", run.stdout);

    let run = tollgate(&["plugin", "info", wasm, "-o", "json"]);
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
    assert!(run.stderr.contains("is not the tollgate-sdk crate's manifest; give the sdk/ directory of a tollgate checkout"), "{}", run.stderr);
    assert!(!dir.exists());

    let run = tollgate(&["plugin", "new", "--help"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("--sdk-path <PATH>"), "{}", run.stdout);
    assert!(run.stdout.contains("the sdk/ directory of the tollgate checkout this binary was built from"), "{}", run.stdout);
}
