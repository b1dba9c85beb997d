//! `tollgate plugin new`: scaffold a policy plugin crate that uses the SDK.
//!
//! The crate it writes builds standalone (it has a `[workspace]` of its own), compiles to a
//! `wasm32-wasip2` component with a size-optimised release profile, and passes its own unit
//! tests and `cases.yaml` right away:
//!
//! | file | what |
//! | --- | --- |
//! | `Cargo.toml` | cdylib + rlib, `tollgate-sdk` by path, size-optimised `[profile.release]` |
//! | `src/lib.rs` | a small real policy (promotions into listed environments need a change-ticket label) with native unit tests |
//! | `cases.yaml` | allow, deny and error cases for `tollgate plugin test` |
//! | `README.md` | how to build, test natively and test as a component |
//! | `rust-toolchain.toml` | the toolchain and the `wasm32-wasip2` target |
//! | `.gitignore` | `/target` |
//!
//! The templates live in `scaffold/*.tmpl` next to this file; [`render`] fills in
//! `{{name}}`, `{{crate_name}}`, `{{sdk_path}}`, `{{sdk_path_toml}}` and `{{rust_version}}`.

use std::path::{Path, PathBuf};

use crate::exit::Failure;

/// The files of a new plugin crate: (path relative to the crate, template).
const TEMPLATES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("scaffold/Cargo.toml.tmpl")),
    ("src/lib.rs", include_str!("scaffold/lib.rs.tmpl")),
    ("cases.yaml", include_str!("scaffold/cases.yaml.tmpl")),
    ("README.md", include_str!("scaffold/README.md.tmpl")),
    ("rust-toolchain.toml", include_str!("scaffold/rust-toolchain.toml.tmpl")),
    (".gitignore", include_str!("scaffold/gitignore.tmpl")),
];

/// Names a plugin crate cannot have: the standard library's crates (they break its tests or
/// doctests) and the crate's own dependencies.
const RESERVED_NAMES: &[&str] = &["alloc", "core", "proc-macro", "std", "test", "serde", "tollgate-sdk"];

/// Where the new crate gets `tollgate-sdk` from.
///
/// The SDK is not published on a registry, so for now it is always a path dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdkSource {
    /// The SDK crate's directory (the `sdk/` of a tollgate checkout), absolute.
    Path(PathBuf),
}

impl SdkSource {
    /// The `sdk/` directory of the checkout this binary was built from, when it still exists.
    pub fn from_this_checkout() -> Option<PathBuf> {
        let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("sdk");
        sdk.join("Cargo.toml").is_file().then(|| sdk.canonicalize().unwrap_or(sdk))
    }

    /// The SDK at `--sdk-path` when given, else [`SdkSource::from_this_checkout`].
    ///
    /// # Errors
    /// Bad input when the directory is not the `tollgate-sdk` crate, or when no path is given
    /// and this binary's checkout has no `sdk/` (any more).
    pub fn resolve(sdk_path: Option<&Path>) -> Result<SdkSource, Failure> {
        let Some(path) = sdk_path else {
            return Self::from_this_checkout().map(SdkSource::Path).ok_or_else(|| {
                Failure::bad_input(format!(
                    "cannot find tollgate-sdk: this tollgate was built from {}, which has no sdk/ directory (any more); \
                     pass --sdk-path DIR, the sdk/ directory of a tollgate checkout",
                    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new("/")).display()
                ))
            });
        };
        let manifest = path.join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).map_err(|error| {
            Failure::bad_input(format!(
                "--sdk-path {}: cannot read {} ({error}); give the sdk/ directory of a tollgate checkout",
                path.display(),
                manifest.display()
            ))
        })?;
        if !declares_package(&text, "tollgate-sdk") {
            return Err(Failure::bad_input(format!(
                "--sdk-path {}: {} is not the tollgate-sdk crate's manifest; give the sdk/ directory of a tollgate checkout",
                path.display(),
                manifest.display()
            )));
        }
        let absolute = path
            .canonicalize()
            .map_err(|error| Failure::bad_input(format!("--sdk-path {}: cannot resolve it ({error})", path.display())))?;
        Ok(SdkSource::Path(absolute))
    }
}

/// Whether a Cargo manifest's `[package]` table is named `name` (a line scan, no TOML parser).
fn declares_package(manifest: &str, name: &str) -> bool {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package
            && let Some((key, value)) = line.split_once('=')
            && key.trim() == "name"
        {
            return value.trim().trim_matches(|c| c == '"' || c == '\'') == name;
        }
    }
    false
}

/// Check a plugin name: lowercase ASCII letters, digits and `-`, starting with a letter.
///
/// # Errors
/// Bad input saying what is wrong, with a corrected name when one is obvious.
pub fn validate_name(name: &str) -> Result<(), Failure> {
    const RULE: &str = "use lowercase letters, digits and `-`, starting with a letter, e.g. my-policy";
    let problem = if name.is_empty() {
        Some("is empty".to_string())
    } else if let Some((index, c)) = name.char_indices().find(|&(_, c)| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')) {
        Some(format!("has {c:?} at position {}", index + 1))
    } else if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        Some("does not start with a letter".to_string())
    } else {
        None
    };
    if let Some(problem) = problem {
        let suggestion = name.trim().to_ascii_lowercase().replace(['_', ' '], "-");
        let hint = if suggestion != name && validate_name(&suggestion).is_ok() { format!("; did you mean {suggestion:?}?") } else { String::new() };
        return Err(Failure::bad_input(format!("plugin name {name:?} {problem}: {RULE}{hint}")));
    }
    if RESERVED_NAMES.contains(&name) {
        return Err(Failure::bad_input(format!(
            "plugin name {name:?} is taken by a Rust standard library crate or a dependency of the plugin; choose another, e.g. {name}-policy"
        )));
    }
    Ok(())
}

/// The Rust crate name of a plugin name (`my-policy` → `my_policy`), which is also the stem
/// of the built component (`target/wasm32-wasip2/release/my_policy.wasm`).
pub fn crate_name(name: &str) -> String {
    name.replace('-', "_")
}

/// Fill in a template's `{{key}}` placeholders from `vars`.
///
/// # Panics
/// When a placeholder has no value: a template bug, caught by this module's tests.
pub fn render(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").unwrap_or_else(|| panic!("unterminated placeholder in template: {:?}", &rest[start..]));
        let key = &after[..end];
        let value = vars.iter().find(|(name, _)| *name == key).unwrap_or_else(|| panic!("template placeholder {{{{{key}}}}} has no value"));
        out.push_str(value.1);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// `text` as a TOML basic string, quotes included.
fn toml_string(text: &str) -> String {
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

/// Write a new plugin crate named `name` into `dir`, depending on the SDK at `sdk`.
///
/// `dir` may exist if it is an empty directory; it is created (with its parents) otherwise.
/// Returns the files written, each `dir` joined with its path in the crate, in the order
/// `Cargo.toml`, `src/lib.rs`, `cases.yaml`, `README.md`, `rust-toolchain.toml`, `.gitignore`.
///
/// # Errors
/// Bad input (exit 2) for an invalid name (see [`validate_name`]), a `dir` that is a file or
/// a non-empty directory (nothing is overwritten), or a file that cannot be written; in the
/// last case what was already written is removed again.
pub fn create(name: &str, dir: &Path, sdk: SdkSource) -> Result<Vec<PathBuf>, Failure> {
    validate_name(name)?;
    let existed = match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Failure::bad_input(format!(
                    "{}: the directory already exists and is not empty; refusing to overwrite it (choose another --dir, or remove it)",
                    dir.display()
                )));
            }
            true
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => false,
        Err(_) if dir.exists() && !dir.is_dir() => {
            return Err(Failure::bad_input(format!("{}: exists and is not a directory; choose another --dir", dir.display())));
        }
        Err(error) => return Err(Failure::bad_input(format!("{}: cannot read the directory ({error})", dir.display()))),
    };

    let SdkSource::Path(sdk_path) = sdk;
    let sdk_display = sdk_path.display().to_string();
    let crate_name = crate_name(name);
    let sdk_toml = toml_string(&sdk_display);
    let vars: &[(&str, &str)] = &[
        ("name", name),
        ("crate_name", &crate_name),
        ("sdk_path", &sdk_display),
        ("sdk_path_toml", &sdk_toml),
        ("rust_version", env!("CARGO_PKG_RUST_VERSION")),
    ];

    let mut written = Vec::new();
    for (relative, template) in TEMPLATES {
        let path = dir.join(relative);
        if let Err(error) = write_new(&path, &render(template, vars)) {
            for file in written.iter().rev() {
                let _ = std::fs::remove_file(file);
            }
            let _ = std::fs::remove_dir(dir.join("src"));
            if !existed {
                let _ = std::fs::remove_dir(dir);
            }
            return Err(Failure::bad_input(format!("{}: cannot write it ({error})", path.display())));
        }
        written.push(path);
    }
    Ok(written)
}

/// Write `content` to a file that must not exist yet, creating its parent directories.
fn write_new(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(path)?;
    file.write_all(content.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::ExitCode;

    fn sdk() -> SdkSource {
        SdkSource::Path(PathBuf::from("/opt/tollgate/sdk"))
    }

    fn message(result: Result<impl std::fmt::Debug, Failure>) -> String {
        let failure = result.unwrap_err();
        assert_eq!(failure.code, ExitCode::BadInput);
        failure.message
    }

    #[test]
    fn names_are_lowercase_letters_digits_and_dashes_starting_with_a_letter() {
        for good in ["my-policy", "p", "policy2", "a-1-b"] {
            validate_name(good).unwrap();
        }
        assert_eq!(
            message(validate_name("My_Policy")),
            "plugin name \"My_Policy\" has 'M' at position 1: use lowercase letters, digits and `-`, starting with a letter, e.g. my-policy; did you mean \"my-policy\"?"
        );
        assert!(message(validate_name("2fa-check")).contains("\"2fa-check\" does not start with a letter"));
        assert!(message(validate_name("-x")).contains("does not start with a letter"));
        assert!(message(validate_name("")).starts_with("plugin name \"\" is empty: "));
        assert!(message(validate_name("my.policy")).contains("has '.' at position 3"));
        assert!(message(validate_name("tollgate-sdk")).contains("is taken by a Rust standard library crate or a dependency"));
        assert!(message(validate_name("std")).contains("choose another, e.g. std-policy"));
    }

    #[test]
    fn every_template_renders_completely() {
        let vars = [("name", "n"), ("crate_name", "c"), ("sdk_path", "s"), ("sdk_path_toml", "\"s\""), ("rust_version", "1")];
        for (path, template) in TEMPLATES {
            let text = render(template, &vars);
            assert!(!text.contains("{{") && !text.contains("}}"), "{path} keeps a placeholder");
        }
        assert_eq!(render("a {{x}} b {{y}}{{x}}", &[("x", "1"), ("y", "2")]), "a 1 b 21");
    }

    #[test]
    fn the_toolchain_is_the_one_this_repository_pins() {
        let ours = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../rust-toolchain.toml")).unwrap();
        let channel = |text: &str| text.lines().find(|line| line.starts_with("channel")).map(str::to_string);
        let template = TEMPLATES.iter().find(|(path, _)| *path == "rust-toolchain.toml").unwrap().1;
        assert_eq!(channel(template), channel(&ours));
        assert!(template.contains("\"wasm32-wasip2\""));
    }

    #[test]
    fn toml_strings_escape_quotes_and_backslashes() {
        assert_eq!(toml_string(r#"C:\src\"x""#), r#""C:\\src\\\"x\"""#);
    }

    #[test]
    fn creates_every_file_and_refuses_to_overwrite() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("nested").join("my-policy");
        let files = create("my-policy", &dir, sdk()).unwrap();
        let names: Vec<_> = files.iter().map(|path| path.strip_prefix(&dir).unwrap().to_str().unwrap().to_string()).collect();
        assert_eq!(names, ["Cargo.toml", "src/lib.rs", "cases.yaml", "README.md", "rust-toolchain.toml", ".gitignore"]);
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("name = \"my-policy\"\n"), "{manifest}");
        assert!(manifest.contains("tollgate-sdk = { path = \"/opt/tollgate/sdk\" }"), "{manifest}");
        assert!(manifest.contains("\n[workspace]\n"), "{manifest}");
        let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
        assert!(lib.contains("PluginInfo::new(\n            \"my-policy\","), "{lib}");
        let cases = std::fs::read_to_string(dir.join("cases.yaml")).unwrap();
        assert!(cases.contains("target/wasm32-wasip2/release/my_policy.wasm cases.yaml"), "{cases}");
        assert!(std::fs::read_to_string(dir.join("README.md")).unwrap().contains("/opt/tollgate/sdk"));

        let again = message(create("my-policy", &dir, sdk()));
        assert!(again.ends_with("the directory already exists and is not empty; refusing to overwrite it (choose another --dir, or remove it)"), "{again}");
        assert_eq!(std::fs::read_to_string(dir.join("Cargo.toml")).unwrap(), manifest);

        let file = temp.path().join("file");
        std::fs::write(&file, "x").unwrap();
        assert!(message(create("my-policy", &file, sdk())).ends_with("exists and is not a directory; choose another --dir"));

        let empty = temp.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert_eq!(create("p", &empty, sdk()).unwrap().len(), TEMPLATES.len());

        let bad = temp.path().join("Bad");
        assert!(message(create("Bad", &bad, sdk())).contains("did you mean \"bad\"?"));
        assert!(!bad.exists(), "nothing is written for a bad name");
    }

    #[test]
    fn the_sdk_comes_from_this_checkout_or_a_checked_path() {
        let SdkSource::Path(path) = SdkSource::resolve(None).unwrap();
        assert!(path.is_absolute() && path.join("src/lib.rs").is_file(), "{}", path.display());
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        assert_eq!(SdkSource::resolve(Some(&here.join("../sdk"))).unwrap(), SdkSource::Path(path));
        assert!(message(SdkSource::resolve(Some(here))).contains("is not the tollgate-sdk crate's manifest"));
        assert!(message(SdkSource::resolve(Some(Path::new("/no/such/sdk")))).starts_with("--sdk-path /no/such/sdk: cannot read /no/such/sdk/Cargo.toml ("));
        assert!(declares_package("[package]\nname = \"tollgate-sdk\"\n", "tollgate-sdk"));
        assert!(!declares_package("[dependencies]\nname = \"tollgate-sdk\"\n", "tollgate-sdk"));
    }
}
