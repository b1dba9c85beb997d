//! The SDK as a package: `cargo package -p tollgate-sdk` packs a crate that builds on its
//! own, outside this checkout and offline; `plugin new` writes exactly those files; and
//! `--sdk-path` refuses a copy that cannot build.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::scaffold::{assert_success, build_and_pass_cases, cargo};
use crate::support::{self, tollgate, workspace};

/// The SDK's version, as the packaged file names carry it.
const VERSION: &str = "0.1.0";

/// `cargo package -p tollgate-sdk` (without its own verification build: the tests below build
/// a plugin against the result instead), unpacked into a temporary directory outside the
/// checkout, once per test run. Returns the unpacked crate's directory.
fn packaged_sdk() -> &'static Path {
    static UNPACKED: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &UNPACKED
        .get_or_init(|| {
            let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sdk-package");
            let package = cargo(
                &workspace(),
                &["package", "-p", "tollgate-sdk", "--no-verify", "--allow-dirty", "--offline", "--locked", "--target-dir", target.to_str().unwrap()],
            );
            assert_success("cargo package -p tollgate-sdk", &package);
            let crate_file = target.join("package").join(format!("tollgate-sdk-{VERSION}.crate"));
            let temp = tempfile::tempdir().unwrap();
            assert!(!temp.path().starts_with(workspace()), "unpacked outside the checkout");
            let tar = Command::new("tar").arg("-xzf").arg(&crate_file).arg("-C").arg(temp.path()).output().expect("run tar");
            assert_success("tar -xzf tollgate-sdk.crate", &tar);
            let dir = temp.path().join(format!("tollgate-sdk-{VERSION}"));
            (temp, dir)
        })
        .1
}

/// Every file under `dir`, relative to it, sorted ([`support::files_under`]).
fn relative_files_under(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = support::files_under(dir).iter().map(|path| path.strip_prefix(dir).unwrap().to_str().unwrap().to_string()).collect();
    files.sort();
    files
}

#[test]
fn plugin_new_writes_exactly_the_packaged_sdk() {
    let sdk = packaged_sdk();
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("p");
    let run = tollgate(&["plugin", "new", "p", "--dir", dir.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let vendored = dir.join(format!("vendor/tollgate-sdk-{VERSION}"));

    // cargo adds its normalised Cargo.toml (keeping ours as Cargo.toml.orig), the lock file
    // it resolved and where it was packed from; everything else is the same file.
    let added_by_cargo = ["Cargo.toml", ".cargo_vcs_info.json", "Cargo.lock"];
    let packaged: Vec<String> = relative_files_under(sdk).into_iter().filter(|file| !added_by_cargo.contains(&file.as_str())).collect();
    let written: Vec<String> =
        relative_files_under(&vendored).into_iter().map(|file| if file == "Cargo.toml" { "Cargo.toml.orig".to_string() } else { file }).collect();
    let mut written_sorted = written.clone();
    written_sorted.sort();
    assert_eq!(written_sorted, packaged, "plugin new writes the files cargo packages (host/src/scaffold/sdk.rs FILES)");
    for file in &packaged {
        let ours = if file == "Cargo.toml.orig" { "Cargo.toml" } else { file.as_str() };
        assert_eq!(std::fs::read(vendored.join(ours)).unwrap(), std::fs::read(sdk.join(file)).unwrap(), "{file} differs");
    }
    assert!(packaged.contains(&"wit/v0.1.3/policy.wit".to_string()), "the WIT is inside the package: {packaged:?}");

    // The package describes itself for crates.io and docs.rs, and inherits nothing.
    let manifest = std::fs::read_to_string(sdk.join("Cargo.toml")).unwrap();
    for key in ["description = ", "license = \"Apache-2.0\"", "repository = ", "documentation = ", "keywords = [", "rust-version = \"1.95\"", "edition = \"2024\""] {
        assert!(manifest.contains(key), "the packaged Cargo.toml lacks {key}:\n{manifest}");
    }
    assert!(!manifest.contains("workspace"), "{manifest}");
}

#[test]
fn a_plugin_builds_outside_the_checkout_offline_against_the_packaged_sdk() {
    let sdk = packaged_sdk();
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("packaged-policy");
    let run = tollgate(&["plugin", "new", "packaged-policy", "--dir", dir.to_str().unwrap(), "--sdk-path", sdk.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let sdk = sdk.canonicalize().unwrap();
    assert!(run.stdout.starts_with(&format!("Created plugin packaged-policy in {} (tollgate-sdk from {}):\n", dir.display(), sdk.display())), "{}", run.stdout);
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains(&format!("tollgate-sdk = {{ path = {:?} }}", sdk.display().to_string())), "{manifest}");
    assert!(!dir.join("vendor").exists(), "no second copy of the SDK");

    let wasm = build_and_pass_cases(&dir, "packaged_policy", 8);
    let run = tollgate(&["plugin", "info", wasm.to_str().unwrap(), "-o", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let info: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(info["name"], "packaged-policy");
    assert_eq!(info["world"], "tollgate:policy/policy@0.1.3");
}

#[test]
fn a_copy_of_the_sdk_that_cannot_build_is_refused_with_what_to_do() {
    let temp = tempfile::tempdir().unwrap();
    // The copy: sdk/ as it used to be, taken out of its workspace.
    let copy = temp.path().join("sdk-copy");
    std::fs::create_dir_all(copy.join("src")).unwrap();
    std::fs::write(
        copy.join("Cargo.toml"),
        "[package]\nname = \"tollgate-sdk\"\nversion.workspace = true\nedition.workspace = true\n\n[dependencies]\nwit-bindgen = { workspace = true }\n",
    )
    .unwrap();
    std::fs::write(copy.join("src/lib.rs"), "wit_bindgen::generate!({ world: \"policy\", path: \"../wit\" });\n").unwrap();
    let dir = temp.path().join("p");
    let run = tollgate(&["plugin", "new", "p", "--dir", dir.to_str().unwrap(), "--sdk-path", copy.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.starts_with(&format!("tollgate: --sdk-path {}: cargo cannot read it: ", copy.display())), "{}", run.stderr);
    assert!(run.stderr.contains("workspace"), "cargo's reason is given: {}", run.stderr);
    assert!(run.stderr.trim_end().ends_with("leave out --sdk-path to use the tollgate-sdk 0.1.0 this tollgate carries"), "{}", run.stderr);
    assert!(!dir.exists(), "nothing was written");

    // Its manifest fixed, the bindings still come from outside the copy.
    std::fs::write(copy.join("Cargo.toml"), "[package]\nname = \"tollgate-sdk\"\nversion = \"0.1.0\"\nedition = \"2024\"\n").unwrap();
    let run = tollgate(&["plugin", "new", "p", "--dir", dir.to_str().unwrap(), "--sdk-path", copy.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("src/lib.rs generates its bindings from \"../wit\", but "), "{}", run.stderr);
    assert!(!dir.exists(), "nothing was written");
}

#[test]
fn from_the_registry_the_scaffold_depends_on_the_published_version() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("p");
    let run = tollgate(&["plugin", "new", "p", "--dir", dir.to_str().unwrap(), "--sdk-from-registry"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.starts_with(&format!("Created plugin p in {} (tollgate-sdk {VERSION} from crates.io):\n", dir.display())), "{}", run.stdout);
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains(&format!("\ntollgate-sdk = \"{VERSION}\"\n")), "{manifest}");
    assert!(!dir.join("vendor").exists());
    // cargo reads the manifest as a registry dependency (resolving it needs the network and
    // the published crate, so only the manifest is checked).
    let metadata = cargo(&dir, &["metadata", "--no-deps", "--offline", "--format-version", "1"]);
    assert_success("cargo metadata", &metadata);
    let metadata: serde_json::Value = serde_json::from_slice(&metadata.stdout).unwrap();
    let dependency = &metadata["packages"][0]["dependencies"].as_array().unwrap().iter().find(|d| d["name"] == "tollgate-sdk").cloned().unwrap();
    assert_eq!(dependency["req"], format!("^{VERSION}"));
    assert_eq!(dependency["source"], "registry+https://github.com/rust-lang/crates.io-index");
}
