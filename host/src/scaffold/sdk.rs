//! Where a new plugin crate gets `tollgate-sdk` from.
//!
//! The SDK is not published yet, so this binary carries it: [`FILES`] are the files of the
//! packaged crate (`cargo package -p tollgate-sdk`), and `plugin new` writes them into the
//! new crate as `vendor/tollgate-sdk-VERSION/` and depends on that by a relative path. The
//! crate then builds on any machine, with no tollgate checkout. `--sdk-path` points at
//! another copy instead, checked first; `--sdk-from-registry` depends on the published crate.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::exit::Failure;

/// The SDK's packaged files: (path inside the crate, content). A test checks that this is
/// exactly what `cargo package -p tollgate-sdk` packs (tests/e2e/sdk_package.rs) and that no
/// file of `sdk/src` or `sdk/wit` is missing (below).
pub const FILES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../../../sdk/Cargo.toml")),
    ("README.md", include_str!("../../../sdk/README.md")),
    ("src/__private.rs", include_str!("../../../sdk/src/__private.rs")),
    ("src/environment_names.rs", include_str!("../../../sdk/src/environment_names.rs")),
    ("src/error.rs", include_str!("../../../sdk/src/error.rs")),
    ("src/host.rs", include_str!("../../../sdk/src/host.rs")),
    ("src/lib.rs", include_str!("../../../sdk/src/lib.rs")),
    ("src/per_environment.rs", include_str!("../../../sdk/src/per_environment.rs")),
    ("src/placeholders.rs", include_str!("../../../sdk/src/placeholders.rs")),
    ("src/policy.rs", include_str!("../../../sdk/src/policy.rs")),
    ("src/testing.rs", include_str!("../../../sdk/src/testing.rs")),
    ("src/types.rs", include_str!("../../../sdk/src/types.rs")),
    ("wit/v0.1.3/policy.wit", include_str!("../../../sdk/wit/v0.1.3/policy.wit")),
];

/// The version of the SDK this binary carries, from its `Cargo.toml`.
pub fn version() -> &'static str {
    package_version(FILES[0].1).expect("sdk/Cargo.toml has a [package] version")
}

/// Where the carried SDK goes inside a new plugin crate, relative to it.
pub fn vendored_dir() -> String {
    format!("vendor/tollgate-sdk-{}", version())
}

/// Where the new crate gets `tollgate-sdk` from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdkSource {
    /// The SDK this binary carries, written into the new crate ([`vendored_dir`]): the default.
    Vendored,
    /// An SDK crate directory given with `--sdk-path`, absolute and checked ([`SdkSource::checked_path`]).
    Path(PathBuf),
    /// The crate published on crates.io, this binary's SDK version (`--sdk-from-registry`).
    Registry,
}

impl SdkSource {
    /// `--sdk-path DIR` when it holds a tollgate-sdk that builds outside a checkout and
    /// makes plugins this tollgate runs.
    ///
    /// Checks, each failing with what to do: `DIR/Cargo.toml` declares `tollgate-sdk`; cargo
    /// reads the manifest (`cargo metadata --no-deps --offline`, which refuses e.g. a copy of
    /// an older `sdk/` that inherits keys from a workspace it left behind); the WIT its
    /// bindings come from (`path:` in `src/lib.rs`) exists, and its version is one this tollgate runs.
    ///
    /// # Errors
    /// Bad input naming the path and the check that failed.
    pub fn checked_path(path: &Path) -> Result<SdkSource, Failure> {
        let refuse = |problem: String| {
            Failure::bad_input(format!(
                "--sdk-path {}: {problem}; leave out --sdk-path to use the tollgate-sdk {} this tollgate carries",
                path.display(),
                version()
            ))
        };
        let manifest = path.join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).map_err(|error| refuse(format!("cannot read {} ({error})", manifest.display())))?;
        if !declares_package(&text, "tollgate-sdk") {
            return Err(refuse(format!("{} is not the tollgate-sdk crate's manifest", manifest.display())));
        }
        cargo_reads_manifest(&manifest).map_err(refuse)?;
        let lib = path.join("src").join("lib.rs");
        let source = std::fs::read_to_string(&lib).map_err(|error| refuse(format!("cannot read {} ({error})", lib.display())))?;
        if let Some(wit) = bindings_wit_path(&source) {
            let wit_dir = path.join(wit);
            let version = wit_version(&wit_dir).map_err(|problem| {
                refuse(format!(
                    "{} generates its bindings from {wit:?}, but {problem} (a copy of sdk/ from a checkout older than \
                     tollgate-sdk's own wit/ directory does not build outside that checkout)",
                    lib.display()
                ))
            })?;
            check_wit_version(&version).map_err(|problem| refuse(format!("it builds plugins for tollgate:policy@{version}, {problem}")))?;
        }
        let absolute = path.canonicalize().map_err(|error| refuse(format!("cannot resolve it ({error})")))?;
        Ok(SdkSource::Path(absolute))
    }

    /// The `tollgate-sdk = …` value for the new crate's `Cargo.toml`.
    pub fn dependency(&self) -> String {
        match self {
            SdkSource::Vendored => format!("{{ path = {} }}", toml_string(&vendored_dir())),
            SdkSource::Path(path) => format!("{{ path = {} }}", toml_string(&path.display().to_string())),
            SdkSource::Registry => toml_string(version()),
        }
    }

    /// Where the SDK comes from, in a few words (`plugin new` prints it).
    pub fn describe(&self) -> String {
        match self {
            SdkSource::Vendored => format!("tollgate-sdk {} in {}", version(), vendored_dir()),
            SdkSource::Path(path) => format!("tollgate-sdk from {}", path.display()),
            SdkSource::Registry => format!("tollgate-sdk {} from crates.io", version()),
        }
    }
}

/// Write the carried SDK's files under `dir`.
///
/// # Errors
/// The first file that cannot be written.
pub fn write_vendored(dir: &Path) -> std::io::Result<()> {
    for (relative, content) in FILES {
        super::write_new(&dir.join(relative), content)?;
    }
    Ok(())
}

/// Run `cargo metadata` on an SDK manifest; its first error line when cargo refuses it.
fn cargo_reads_manifest(manifest: &Path) -> Result<(), String> {
    let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline", "--manifest-path"])
        .arg(manifest)
        .output()
        .map_err(|error| format!("cannot run `cargo metadata` to check it ({error}); install Rust (https://rustup.rs) first"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let reason: Vec<&str> = stderr.lines().map(str::trim).filter(|line| !line.is_empty()).take(3).collect();
    Err(format!("cargo cannot read it: {}", reason.join(" ")))
}

/// The `path: "…"` of the `wit_bindgen::generate!` in an SDK's `src/lib.rs`, if it has one.
fn bindings_wit_path(lib: &str) -> Option<&str> {
    let generate = &lib[lib.find("generate!(")?..];
    let after = &generate[generate.find("path:")? + "path:".len()..];
    let value = after.trim_start().strip_prefix('"')?;
    Some(&value[..value.find('"')?])
}

/// The `tollgate:policy` version of the WIT at `path` (a `.wit` file or a directory of them).
fn wit_version(path: &Path) -> Result<String, String> {
    let files: Vec<PathBuf> = if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|error| format!("{} cannot be read ({error})", path.display()))?;
        entries.filter_map(|entry| entry.ok().map(|entry| entry.path())).filter(|file| file.extension().is_some_and(|ext| ext == "wit")).collect()
    } else if path.is_file() {
        vec![path.to_path_buf()]
    } else {
        return Err(format!("{} does not exist", path.display()));
    };
    for file in &files {
        let text = std::fs::read_to_string(file).map_err(|error| format!("{} cannot be read ({error})", file.display()))?;
        if let Some(version) = text.lines().find_map(|line| line.trim().strip_prefix("package tollgate:policy@")) {
            return Ok(version.trim_end_matches(';').trim().to_string());
        }
    }
    Err(format!("{} has no `package tollgate:policy@…` declaration", path.display()))
}

/// Whether plugins built against WIT `version` run in this tollgate (same 0.x line, not newer).
fn check_wit_version(version: &str) -> Result<(), String> {
    let ours = semver::Version::parse(crate::WIT_VERSION).expect("WIT_VERSION is semver");
    let theirs = semver::Version::parse(version).map_err(|error| format!("which is not a version ({error})"))?;
    if theirs.major != ours.major || theirs.minor != ours.minor || theirs > ours {
        return Err(format!("which this tollgate (tollgate:policy@{ours}) cannot run; use an SDK for {}.{}.x", ours.major, ours.minor));
    }
    Ok(())
}

/// The `version` of a Cargo manifest's `[package]` table (a line scan, no TOML parser).
fn package_version(manifest: &str) -> Option<&str> {
    package_key(manifest, "version")
}

/// Whether a Cargo manifest's `[package]` table is named `name`.
fn declares_package(manifest: &str, name: &str) -> bool {
    package_key(manifest, "name") == Some(name)
}

/// A plain string value of a Cargo manifest's `[package]` table (a line scan, no TOML parser).
fn package_key<'m>(manifest: &'m str, wanted: &str) -> Option<&'m str> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package
            && let Some((key, value)) = line.split_once('=')
            && key.trim() == wanted
        {
            return Some(value.trim().trim_matches(|c| c == '"' || c == '\''));
        }
    }
    None
}

/// `text` as a TOML basic string, quotes included.
pub fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::ExitCode;

    fn sdk_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk")
    }

    fn refusal(path: &Path) -> String {
        let failure = SdkSource::checked_path(path).unwrap_err();
        assert_eq!(failure.code, ExitCode::BadInput);
        failure.message
    }

    /// Every file under sdk/src and sdk/wit, relative to sdk/.
    fn sdk_source_files() -> Vec<String> {
        let mut files: Vec<String> = super::super::tests::files_under(&sdk_dir()).into_iter().filter(|file| file.starts_with("src/") || file.starts_with("wit/")).collect();
        files.sort();
        files
    }

    #[test]
    fn the_carried_sdk_is_every_file_of_sdk_src_and_wit_as_it_is_now() {
        let carried: Vec<&str> = FILES.iter().map(|(path, _)| *path).filter(|path| path.starts_with("src/") || path.starts_with("wit/")).collect();
        assert_eq!(carried, sdk_source_files(), "add the new sdk/ file to FILES in host/src/scaffold/sdk.rs");
        for (path, content) in FILES {
            assert_eq!(std::fs::read_to_string(sdk_dir().join(path)).unwrap(), *content, "{path}");
        }
        assert_eq!(version(), "0.1.0");
        assert_eq!(vendored_dir(), "vendor/tollgate-sdk-0.1.0");
    }

    #[test]
    fn the_carried_sdk_builds_plugins_for_this_host() {
        let lib = FILES.iter().find(|(path, _)| *path == "src/lib.rs").unwrap().1;
        let wit = bindings_wit_path(lib).expect("the SDK generates its bindings from a path");
        assert_eq!(wit, format!("wit/v{}", crate::WIT_VERSION), "the SDK binds to this host's WIT version");
        assert!(FILES.iter().any(|(path, _)| *path == format!("{wit}/policy.wit")));
        let inherits = FILES[0].1.lines().filter(|line| !line.starts_with('#')).any(|line| line.contains("workspace"));
        assert!(!inherits, "the SDK inherits nothing from a workspace");
    }

    #[test]
    fn the_sdk_of_this_checkout_passes_the_checks() {
        let SdkSource::Path(path) = SdkSource::checked_path(&sdk_dir()).unwrap() else { panic!("a path") };
        assert_eq!(path, sdk_dir().canonicalize().unwrap());
    }

    #[test]
    fn unusable_sdk_copies_are_refused_naming_the_problem() {
        let temp = tempfile::tempdir().unwrap();
        let missing = temp.path().join("none");
        assert!(refusal(&missing).starts_with(&format!("--sdk-path {}: cannot read {}/Cargo.toml (", missing.display(), missing.display())));

        let host = Path::new(env!("CARGO_MANIFEST_DIR"));
        assert!(refusal(host).contains("Cargo.toml is not the tollgate-sdk crate's manifest; leave out --sdk-path to use the tollgate-sdk 0.1.0 this tollgate carries"));

        // The issue's copy: sdk/ as it was, inheriting from a workspace it no longer has.
        let copy = temp.path().join("sdk-copy");
        std::fs::create_dir_all(copy.join("src")).unwrap();
        std::fs::write(copy.join("Cargo.toml"), "[package]\nname = \"tollgate-sdk\"\nversion.workspace = true\nedition.workspace = true\n").unwrap();
        std::fs::write(copy.join("src/lib.rs"), "").unwrap();
        let message = refusal(&copy);
        assert!(message.contains(": cargo cannot read it: ") && message.contains("workspace"), "{message}");

        // A manifest cargo reads, but bindings from a WIT outside the copy.
        std::fs::write(copy.join("Cargo.toml"), "[package]\nname = \"tollgate-sdk\"\nversion = \"0.1.0\"\nedition = \"2024\"\n").unwrap();
        std::fs::write(copy.join("src/lib.rs"), "wit_bindgen::generate!({ world: \"policy\", path: \"../wit\" });").unwrap();
        let message = refusal(&copy);
        assert!(message.contains("src/lib.rs generates its bindings from \"../wit\", but "), "{message}");
        assert!(message.contains("/../wit does not exist (a copy of sdk/ from a checkout older than"), "{message}");

        // Bindings for a contract this host does not run.
        std::fs::create_dir_all(copy.join("wit")).unwrap();
        std::fs::write(copy.join("src/lib.rs"), "wit_bindgen::generate!({ world: \"policy\", path: \"wit\" });").unwrap();
        std::fs::write(copy.join("wit/policy.wit"), "package tollgate:policy@0.2.0;\n").unwrap();
        let message = refusal(&copy);
        assert!(message.contains(&format!("it builds plugins for tollgate:policy@0.2.0, which this tollgate (tollgate:policy@{}) cannot run; use an SDK for 0.1.x", crate::WIT_VERSION)), "{message}");
        std::fs::write(copy.join("wit/policy.wit"), "package tollgate:policy@0.1.0;\n").unwrap();
        assert!(matches!(SdkSource::checked_path(&copy), Ok(SdkSource::Path(_))));
    }

    #[test]
    fn dependencies_point_at_the_chosen_sdk() {
        assert_eq!(SdkSource::Vendored.dependency(), "{ path = \"vendor/tollgate-sdk-0.1.0\" }");
        assert_eq!(SdkSource::Path(PathBuf::from("/opt/x \"y\"")).dependency(), r#"{ path = "/opt/x \"y\"" }"#);
        assert_eq!(SdkSource::Registry.dependency(), "\"0.1.0\"");
        assert_eq!(SdkSource::Registry.describe(), "tollgate-sdk 0.1.0 from crates.io");
    }

    #[test]
    fn manifest_keys_come_from_the_package_table_only() {
        assert!(declares_package("[package]\nname = \"tollgate-sdk\"\n", "tollgate-sdk"));
        assert!(!declares_package("[dependencies]\nname = \"tollgate-sdk\"\n", "tollgate-sdk"));
        assert_eq!(package_version("[package]\nname = 'x'\nversion = \"1.2.3\"\n[dependencies]\nversion = \"9\"\n"), Some("1.2.3"));
        assert_eq!(bindings_wit_path("x\nwit_bindgen::generate!({\n    world: \"policy\",\n    path: \"wit/v9\",\n});"), Some("wit/v9"));
        assert_eq!(bindings_wit_path("no bindings"), None);
    }

    #[test]
    fn toml_strings_escape_quotes_and_backslashes() {
        assert_eq!(toml_string(r#"C:\src\"x""#), r#""C:\\src\\\"x\"""#);
    }
}
