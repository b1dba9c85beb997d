//! `tollgate plugin new --lang ts`: a TypeScript plugin project on tollgate-sdk for
//! JavaScript (`sdk-js/`), which this binary carries like the Rust SDK ([`super::sdk`]).
//!
//! | file | what |
//! | --- | --- |
//! | `package.json` | `npm run build` / `npm test` (tollgate-js), tollgate-sdk from `vendor/` |
//! | `package-lock.json` | every package pinned with its integrity hash: sdk-js's own lock |
//! | `tsconfig.json` | strict TypeScript, for editors and the build's type check |
//! | `src/policy.ts` | the Rust scaffold's policy (a change ticket per listed environment) with `definePolicy` |
//! | `src/policy.test.ts` | native unit tests through `tollgate-sdk/testing` |
//! | `cases.yaml`, `README.md`, `.gitignore` | as for Rust: the same cases |
//! | `vendor/tollgate-sdk-js-VERSION/` | the SDK, exactly the files its package.json publishes |

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{crate_name, render};

/// sdk-js's published files: (path inside the package, content). A test checks that no file
/// of the package is missing.
pub const FILES: &[(&str, &str)] = &[
    ("package.json", include_str!("../../../sdk-js/package.json")),
    ("README.md", include_str!("../../../sdk-js/README.md")),
    ("index.d.ts", include_str!("../../../sdk-js/index.d.ts")),
    ("testing.d.ts", include_str!("../../../sdk-js/testing.d.ts")),
    ("bin/tollgate-js.mjs", include_str!("../../../sdk-js/bin/tollgate-js.mjs")),
    ("src/host.js", include_str!("../../../sdk-js/src/host.js")),
    ("src/index.js", include_str!("../../../sdk-js/src/index.js")),
    ("src/testing.js", include_str!("../../../sdk-js/src/testing.js")),
    ("types/wit/policy.d.ts", include_str!("../../../sdk-js/types/wit/policy.d.ts")),
    ("types/wit/interfaces/tollgate-policy-host.d.ts", include_str!("../../../sdk-js/types/wit/interfaces/tollgate-policy-host.d.ts")),
    ("types/wit/interfaces/tollgate-policy-plugin.d.ts", include_str!("../../../sdk-js/types/wit/interfaces/tollgate-policy-plugin.d.ts")),
    ("types/wit/interfaces/tollgate-policy-types.d.ts", include_str!("../../../sdk-js/types/wit/interfaces/tollgate-policy-types.d.ts")),
    ("wit/v0.1.3/policy.wit", include_str!("../../../sdk-js/wit/v0.1.3/policy.wit")),
];

/// sdk-js's lock file: the exact version and integrity of everything its tools use.
const SDK_LOCK: &str = include_str!("../../../sdk-js/package-lock.json");

/// The project's files other than the SDK: (path, template).
const TEMPLATES: &[(&str, &str)] = &[
    ("package.json", include_str!("ts/package.json.tmpl")),
    ("tsconfig.json", include_str!("ts/tsconfig.json.tmpl")),
    ("src/policy.ts", include_str!("ts/policy.ts.tmpl")),
    ("src/policy.test.ts", include_str!("ts/policy.test.ts.tmpl")),
    ("cases.yaml", include_str!("cases.yaml.tmpl")),
    ("README.md", include_str!("ts/README.md.tmpl")),
    (".gitignore", include_str!("ts/gitignore.tmpl")),
];

/// sdk-js's package.json.
fn manifest() -> Value {
    serde_json::from_str(FILES[0].1).expect("sdk-js/package.json is JSON")
}

/// The version of the SDK this binary carries.
pub fn version() -> String {
    manifest()["version"].as_str().expect("sdk-js/package.json has a version").to_string()
}

/// Where the carried SDK goes inside a new project, relative to it.
pub fn vendored_dir() -> String {
    format!("vendor/tollgate-sdk-js-{}", version())
}

/// Where `npm run build` puts the component.
pub fn component(name: &str) -> String {
    format!("dist/{}.wasm", crate_name(name))
}

/// Where the SDK comes from, in a few words.
pub fn describe() -> String {
    format!("tollgate-sdk for JavaScript {} in {}", version(), vendored_dir())
}

/// The project's `package-lock.json`: sdk-js's lock with the project as its root and the
/// vendored SDK linked in, so `npm ci` installs exactly the packages sdk-js is tested with.
fn package_lock(name: &str) -> String {
    let sdk_lock: Value = serde_json::from_str(SDK_LOCK).expect("sdk-js/package-lock.json is JSON");
    let vendored = vendored_dir();
    let mut packages: BTreeMap<String, Value> = BTreeMap::new();
    packages.insert(String::new(), json!({ "name": name, "version": "0.1.0", "dependencies": { "tollgate-sdk": format!("file:{vendored}") } }));
    packages.insert("node_modules/tollgate-sdk".into(), json!({ "resolved": vendored, "link": true }));
    for (path, entry) in sdk_lock["packages"].as_object().expect("a lock has packages") {
        let path = if path.is_empty() { vendored.clone() } else { path.clone() };
        packages.insert(path, entry.clone());
    }
    let lock = json!({ "name": name, "version": "0.1.0", "lockfileVersion": 3, "requires": true, "packages": packages });
    let mut text = serde_json::to_string_pretty(&lock).expect("a lock serializes");
    text.push('\n');
    text
}

/// A TypeScript project: (path in it, content) of every file, and the paths to list.
pub fn project(name: &str) -> (Vec<(String, String)>, Vec<String>) {
    let vendored = vendored_dir();
    let version = version();
    let component = component(name);
    let crate_name = crate_name(name);
    let jco = manifest()["overrides"]["@bytecodealliance/jco"].as_str().expect("sdk-js pins jco in overrides").to_string();
    let vars: &[(&str, &str)] = &[
        ("name", name),
        ("crate_name", &crate_name),
        ("sdk_dir", &vendored),
        ("sdk_version", &version),
        ("jco_version", &jco),
        ("build_command", "npm run build"),
        ("component", &component),
    ];
    let mut files: Vec<(String, String)> = TEMPLATES.iter().map(|(path, template)| (path.to_string(), render(template, vars))).collect();
    files.insert(1, ("package-lock.json".into(), package_lock(name)));
    let mut listed: Vec<String> = files.iter().map(|(path, _)| path.clone()).collect();
    files.extend(FILES.iter().map(|(path, content)| (format!("{vendored}/{path}"), content.to_string())));
    listed.push(vendored);
    (files, listed)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn the_carried_sdk_is_every_published_file_of_sdk_js_as_it_is_now() {
        let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk-js");
        let published: Vec<String> = super::super::tests::files_under(&sdk)
            .into_iter()
            .filter(|file| !file.starts_with("node_modules/") && !file.starts_with("test/") && file != ".gitignore" && file != ".npmrc" && file != "package-lock.json")
            .collect();
        let mut carried: Vec<String> = FILES.iter().map(|(path, _)| path.to_string()).collect();
        carried.sort();
        assert_eq!(carried, published, "add the new sdk-js/ file to FILES in host/src/scaffold/typescript.rs (or to `files` in its package.json)");
        for (path, content) in FILES {
            assert_eq!(std::fs::read_to_string(sdk.join(path)).unwrap(), *content, "{path}");
        }
        let manifest = manifest();
        let listed: Vec<&str> = manifest["files"].as_array().unwrap().iter().map(|file| file.as_str().unwrap()).collect();
        // npm always publishes package.json.
        for (path, _) in FILES.iter().filter(|(path, _)| *path != "package.json") {
            assert!(listed.iter().any(|entry| path == entry || path.starts_with(entry.trim_end_matches('/'))), "{path} is not in package.json's files");
        }
        assert!(FILES.iter().any(|(path, _)| *path == format!("wit/v{}/policy.wit", crate::WIT_VERSION)), "sdk-js binds to this host's WIT");
    }

    #[test]
    fn the_lock_roots_sdk_js_s_lock_at_the_project_and_links_the_vendored_sdk() {
        let lock: Value = serde_json::from_str(&package_lock("my-policy")).unwrap();
        let sdk_lock: Value = serde_json::from_str(SDK_LOCK).unwrap();
        let packages = lock["packages"].as_object().unwrap();
        assert_eq!(lock["name"], "my-policy");
        assert_eq!(packages[""]["dependencies"]["tollgate-sdk"], "file:vendor/tollgate-sdk-js-0.1.0");
        assert_eq!(packages["node_modules/tollgate-sdk"], json!({ "resolved": "vendor/tollgate-sdk-js-0.1.0", "link": true }));
        assert_eq!(packages["vendor/tollgate-sdk-js-0.1.0"], sdk_lock["packages"][""]);
        for (path, entry) in sdk_lock["packages"].as_object().unwrap().iter().filter(|(path, _)| !path.is_empty()) {
            assert_eq!(&packages[path], entry, "{path}");
            assert!(entry.get("integrity").is_some() || entry.get("link").is_some(), "{path} is pinned by its integrity");
        }
        assert_eq!(packages.len(), sdk_lock["packages"].as_object().unwrap().len() + 2);
    }

    #[test]
    fn the_project_lists_its_files_then_the_sdk() {
        let (files, listed) = project("my-policy");
        assert_eq!(
            listed,
            ["package.json", "package-lock.json", "tsconfig.json", "src/policy.ts", "src/policy.test.ts", "cases.yaml", "README.md", ".gitignore", "vendor/tollgate-sdk-js-0.1.0"]
        );
        let text = |path: &str| files.iter().find(|(file, _)| file == path).unwrap().1.clone();
        assert!(text("package.json").contains("\"tollgate-sdk\": \"file:vendor/tollgate-sdk-js-0.1.0\""));
        assert!(text("src/policy.ts").contains("name: 'my-policy',"));
        assert!(text("cases.yaml").contains("#   npm run build\n#   tollgate plugin test dist/my_policy.wasm cases.yaml\n"));
        for (path, content) in &files {
            assert!(!content.contains("{{"), "{path} keeps a placeholder");
        }
    }
}
