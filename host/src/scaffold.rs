//! `tollgate plugin new`: scaffold a policy plugin crate that uses the SDK.
//!
//! The crate it writes builds standalone (it has a `[workspace]` of its own), compiles to a
//! `wasm32-wasip2` component with a size-optimised release profile, and passes its own unit
//! tests and `cases.yaml` right away:
//!
//! | file | what |
//! | --- | --- |
//! | `Cargo.toml` | cdylib + rlib, `tollgate-sdk` (see below), size-optimised `[profile.release]` |
//! | `src/lib.rs` | a small real policy (promotions into listed environments need a change-ticket label) with native unit tests |
//! | `cases.yaml` | allow, deny and error cases for `tollgate plugin test` |
//! | `README.md` | how to build, test natively and test as a component |
//! | `rust-toolchain.toml` | the toolchain and the `wasm32-wasip2` target |
//! | `.gitignore` | `/target` |
//! | `vendor/tollgate-sdk-VERSION/` | the SDK this binary carries, unless `--sdk-path` or `--sdk-from-registry` ([`sdk`]) |
//!
//! The templates live in `scaffold/*.tmpl` next to this file; [`render`] fills in
//! `{{name}}`, `{{crate_name}}`, `{{sdk_dependency}}`, `{{sdk_readme}}` and `{{rust_version}}`.

use std::path::{Path, PathBuf};

use crate::exit::Failure;

pub mod sdk;
pub mod typescript;

pub use sdk::SdkSource;

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

/// The language of a new plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    /// A Rust crate with tollgate-sdk (`sdk/`).
    Rust,
    /// A TypeScript project with tollgate-sdk for JavaScript (`sdk-js/`, [`typescript`]).
    Ts,
}

/// `tollgate plugin new NAME [--lang rust|ts] [--dir DIR] [--sdk-path PATH | --sdk-from-registry]`:
/// create the project and say what was written and what to run next.
///
/// # Errors
/// As [`create`] and [`SdkSource::checked_path`]; `--sdk-path` and `--sdk-from-registry`
/// are for Rust only.
pub fn new_command(name: &str, language: Language, dir: Option<&Path>, sdk_path: Option<&Path>, sdk_from_registry: bool) -> Result<String, Failure> {
    validate_name(name)?;
    let dir = dir.map_or_else(|| PathBuf::from(name), Path::to_path_buf);
    if language == Language::Ts && (sdk_path.is_some() || sdk_from_registry) {
        return Err(Failure::bad_input(
            "--sdk-path and --sdk-from-registry choose the Rust SDK; a TypeScript plugin gets tollgate-sdk for JavaScript in vendor/ (leave them out)",
        ));
    }
    let sdk = match sdk_path {
        Some(path) => SdkSource::checked_path(path)?,
        None if sdk_from_registry => SdkSource::Registry,
        None => SdkSource::Vendored,
    };
    let (described, next) = match language {
        Language::Rust => (
            sdk.describe(),
            format!(
                "cargo test                                    # the unit tests in src/lib.rs, natively\n  \
                 cargo build --target wasm32-wasip2 --release  # the component\n  \
                 tollgate plugin test {} cases.yaml",
                rust_component(name)
            ),
        ),
        Language::Ts => (
            typescript::describe(),
            format!(
                "npm ci         # the packages package-lock.json pins\n  \
                 npm test       # the unit tests in src/policy.test.ts, natively\n  \
                 npm run build  # the component\n  \
                 tollgate plugin test {} cases.yaml",
                typescript::component(name)
            ),
        ),
    };
    let mut text = format!("Created plugin {name} in {} ({described}):\n", dir.display());
    for file in create(name, &dir, language, &sdk)? {
        let relative = file.strip_prefix(&dir).unwrap_or(&file).display().to_string();
        let slash = if file.is_dir() { "/" } else { "" };
        text.push_str(&format!("  {relative}{slash}\n"));
    }
    text.push_str(&format!("\nNext:\n  cd {}\n  {next}\n", dir.display()));
    Ok(text)
}

/// Where `cargo build --target wasm32-wasip2 --release` puts a Rust plugin's component.
fn rust_component(name: &str) -> String {
    format!("target/wasm32-wasip2/release/{}.wasm", crate_name(name))
}

/// A Rust plugin crate: (path in it, content) of every file, and the paths to list.
fn rust_project(name: &str, sdk: &SdkSource) -> (Vec<(String, String)>, Vec<String>) {
    let crate_name = crate_name(name);
    let dependency = sdk.dependency();
    let sdk_readme = sdk_readme(sdk);
    let component = rust_component(name);
    let vars: &[(&str, &str)] = &[
        ("name", name),
        ("crate_name", &crate_name),
        ("sdk_dependency", &dependency),
        ("sdk_readme", &sdk_readme),
        ("rust_version", env!("CARGO_PKG_RUST_VERSION")),
        ("build_command", "cargo build --target wasm32-wasip2 --release"),
        ("component", &component),
    ];
    let mut files: Vec<(String, String)> = TEMPLATES.iter().map(|(path, template)| (path.to_string(), render(template, vars))).collect();
    let mut listed: Vec<String> = TEMPLATES.iter().map(|(path, _)| path.to_string()).collect();
    if *sdk == SdkSource::Vendored {
        let vendored = sdk::vendored_dir();
        files.extend(sdk::FILES.iter().map(|(path, content)| (format!("{vendored}/{path}"), content.to_string())));
        listed.push(vendored);
    }
    (files, listed)
}

/// Write a new plugin project named `name` in `language` into `dir`; a Rust crate depends on
/// the SDK from `sdk` (a TypeScript project always gets the carried SDK in `vendor/`).
///
/// `dir` may exist if it is an empty directory; it is created (with its parents) otherwise.
/// The project is written into a staging directory beside `dir` and renamed into place, so
/// `dir` either ends up complete or is left as it was. Returns what it holds, each `dir`
/// joined with its path in the project: the files (for Rust `Cargo.toml`, `src/lib.rs`,
/// `cases.yaml`, `README.md`, `rust-toolchain.toml`, `.gitignore`), then the SDK's directory
/// when it is vendored ([`sdk::vendored_dir`], [`typescript::vendored_dir`]).
///
/// # Errors
/// Bad input (exit 2) for an invalid name (see [`validate_name`]), a `dir` that is a file, a
/// symbolic link or a non-empty directory (nothing is overwritten), or a file that cannot be
/// written.
pub fn create(name: &str, dir: &Path, language: Language, sdk: &SdkSource) -> Result<Vec<PathBuf>, Failure> {
    validate_name(name)?;
    check_target(dir)?;
    let (files, listed) = match language {
        Language::Rust => rust_project(name, sdk),
        Language::Ts => typescript::project(name),
    };
    let staging = Staging::new(dir)?;
    for (relative, content) in &files {
        let path = staging.path.join(relative);
        write_new(&path, content).map_err(|error| Failure::bad_input(format!("{}: cannot write it ({error})", dir.join(relative).display())))?;
    }
    staging.finish(dir)?;
    Ok(listed.iter().map(|path| dir.join(path)).collect())
}

/// The README's "The SDK dependency" paragraph for where the SDK comes from.
fn sdk_readme(sdk: &SdkSource) -> String {
    match sdk {
        SdkSource::Vendored => format!(
            "`{vendored}/` is tollgate-sdk {version}, the one the `tollgate` that generated this crate carries \
             (exactly what `cargo package -p tollgate-sdk` packs), and `Cargo.toml` depends on it by that relative \
             path: the crate builds on any machine, with no tollgate checkout. Commit it with the crate.\n\n\
             Once tollgate-sdk is on crates.io, depend on it there instead (`tollgate-sdk = \"{version}\"`, what \
             `tollgate plugin new --sdk-from-registry` writes) and delete `vendor/`.",
            vendored = sdk::vendored_dir(),
            version = sdk::version()
        ),
        SdkSource::Path(path) => format!(
            "`Cargo.toml` depends on tollgate-sdk by path, on the directory given to `tollgate plugin new --sdk-path`:\n\n\
             ```\n{}\n```\n\nIf it moves, or you build this crate on another machine, point `tollgate-sdk = {{ path = \"…\" }}` \
             at a copy there, or run `tollgate plugin new` without `--sdk-path` to get the SDK written into the crate.",
            path.display()
        ),
        SdkSource::Registry => format!(
            "`Cargo.toml` depends on tollgate-sdk {version} from crates.io (`tollgate plugin new --sdk-from-registry`).",
            version = sdk::version()
        ),
    }
}

/// Refuse a `dir` that is anything but absent or an empty directory.
fn check_target(dir: &Path) -> Result<(), Failure> {
    match std::fs::symlink_metadata(dir) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(Failure::bad_input(format!("{}: cannot read it ({error})", dir.display()))),
        Ok(metadata) if metadata.file_type().is_symlink() => Err(Failure::bad_input(format!(
            "{}: is a symbolic link; give the directory it points to, or another --dir",
            dir.display()
        ))),
        Ok(metadata) if !metadata.is_dir() => Err(Failure::bad_input(format!("{}: exists and is not a directory; choose another --dir", dir.display()))),
        Ok(_) => match std::fs::read_dir(dir).map(|mut entries| entries.next().is_none()) {
            Ok(true) => Ok(()),
            Ok(false) => Err(Failure::bad_input(format!(
                "{}: the directory already exists and is not empty; refusing to overwrite it (choose another --dir, or remove it)",
                dir.display()
            ))),
            Err(error) => Err(Failure::bad_input(format!("{}: cannot read the directory ({error})", dir.display()))),
        },
    }
}

/// A directory beside the new crate's, written in full and then renamed into place; removed
/// with everything in it when dropped before [`Staging::finish`].
struct Staging {
    path: PathBuf,
    moved: bool,
}

impl Staging {
    /// A new, empty, uniquely named directory in `dir`'s parent (created when missing).
    fn new(dir: &Path) -> Result<Staging, Failure> {
        let parent = match dir.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let stem = dir.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
        std::fs::create_dir_all(&parent).map_err(|error| Failure::bad_input(format!("{}: cannot create it ({error})", parent.display())))?;
        for attempt in 0..100 {
            let path = parent.join(format!(".{stem}.tollgate-new-{}-{attempt}", std::process::id()));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(Staging { path, moved: false }),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(error) => return Err(Failure::bad_input(format!("{}: cannot create a directory there ({error})", parent.display()))),
            }
        }
        Err(Failure::bad_input(format!("{}: cannot create a staging directory there", parent.display())))
    }

    /// Move the staged crate to `dir` (which is absent or an empty directory).
    fn finish(mut self, dir: &Path) -> Result<(), Failure> {
        std::fs::rename(&self.path, dir).map_err(|error| {
            Failure::bad_input(format!("{}: cannot move the new crate there ({error}); nothing was written", dir.display()))
        })?;
        self.moved = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.moved {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
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
        let vars = [("name", "n"), ("crate_name", "c"), ("sdk_dependency", "\"1\""), ("sdk_readme", "s"), ("rust_version", "1"), ("build_command", "b"), ("component", "c")];
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
    fn creates_every_file_and_refuses_to_overwrite() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("nested").join("my-policy");
        let files = create("my-policy", &dir, Language::Rust, &sdk()).unwrap();
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

        let again = message(create("my-policy", &dir, Language::Rust, &sdk()));
        assert!(again.ends_with("the directory already exists and is not empty; refusing to overwrite it (choose another --dir, or remove it)"), "{again}");
        assert_eq!(std::fs::read_to_string(dir.join("Cargo.toml")).unwrap(), manifest);

        let file = temp.path().join("file");
        std::fs::write(&file, "x").unwrap();
        assert!(message(create("my-policy", &file, Language::Rust, &sdk())).ends_with("exists and is not a directory; choose another --dir"));

        let empty = temp.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert_eq!(create("p", &empty, Language::Rust, &sdk()).unwrap().len(), TEMPLATES.len());

        let bad = temp.path().join("Bad");
        assert!(message(create("Bad", &bad, Language::Rust, &sdk())).contains("did you mean \"bad\"?"));
        assert!(!bad.exists(), "nothing is written for a bad name");
    }

    /// Every file under `dir`, relative to it, sorted.
    pub(super) fn files_under(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut pending = vec![dir.to_path_buf()];
        while let Some(next) = pending.pop() {
            for entry in std::fs::read_dir(&next).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    pending.push(path);
                } else {
                    out.push(path.strip_prefix(dir).unwrap().to_str().unwrap().to_string());
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn by_default_the_carried_sdk_is_written_into_the_crate_and_depended_on_by_a_relative_path() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("p");
        let written = create("p", &dir, Language::Rust, &SdkSource::Vendored).unwrap();
        assert_eq!(written.last().unwrap(), &dir.join("vendor/tollgate-sdk-0.1.0"));
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("tollgate-sdk = { path = \"vendor/tollgate-sdk-0.1.0\" }\n"), "{manifest}");
        for (path, content) in sdk::FILES {
            assert_eq!(std::fs::read_to_string(dir.join("vendor/tollgate-sdk-0.1.0").join(path)).unwrap(), *content, "{path}");
        }
        let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
        assert!(readme.contains("`vendor/tollgate-sdk-0.1.0/` is tollgate-sdk 0.1.0"), "{readme}");
        assert_eq!(std::fs::read_dir(temp.path()).unwrap().count(), 1, "no staging directory is left beside the crate");
    }

    #[test]
    fn from_the_registry_the_crate_depends_on_this_sdk_version_and_carries_no_copy() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("p");
        assert_eq!(create("p", &dir, Language::Rust, &SdkSource::Registry).unwrap().len(), TEMPLATES.len());
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("tollgate-sdk = \"0.1.0\"\n"), "{manifest}");
        assert!(!dir.join("vendor").exists());
    }

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("p");
        // A symbolic link where the crate would go is refused before anything is written.
        std::os::unix::fs::symlink(temp.path(), &dir).unwrap();
        assert!(message(create("p", &dir, Language::Rust, &SdkSource::Vendored)).ends_with("is a symbolic link; give the directory it points to, or another --dir"));
        std::fs::remove_file(&dir).unwrap();
        // A parent that is a file.
        let file = temp.path().join("file");
        std::fs::write(&file, "x").unwrap();
        assert!(message(create("p", &file.join("p"), Language::Rust, &SdkSource::Vendored)).contains("/file/p: cannot read it ("));
        assert_eq!(files_under(temp.path()), ["file"]);
    }

    #[test]
    fn a_typescript_plugin_takes_no_rust_sdk_choice_and_gets_its_own_files() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("p");
        for (sdk_path, from_registry) in [(Some(Path::new("/opt/sdk")), false), (None, true)] {
            let refused = message(new_command("p", Language::Ts, Some(&dir), sdk_path, from_registry));
            assert!(refused.starts_with("--sdk-path and --sdk-from-registry choose the Rust SDK; "), "{refused}");
        }
        assert!(!dir.exists());
        let text = new_command("p", Language::Ts, Some(&dir), None, false).unwrap();
        assert!(text.starts_with(&format!("Created plugin p in {} (tollgate-sdk for JavaScript 0.1.0 in vendor/tollgate-sdk-js-0.1.0):\n", dir.display())), "{text}");
        assert!(text.ends_with("npm run build  # the component\n  tollgate plugin test dist/p.wasm cases.yaml\n"), "{text}");
        assert!(dir.join("vendor/tollgate-sdk-js-0.1.0/bin/tollgate-js.mjs").is_file());
        assert!(!dir.join("Cargo.toml").exists());
    }
}
