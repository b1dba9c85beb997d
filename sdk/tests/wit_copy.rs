//! The WIT the SDKs build against (`sdk/wit/vVERSION/policy.wit` and
//! `sdk-js/wit/vVERSION/policy.wit`, inside each package so a copy builds anywhere) is the
//! repository's `wit/policy.wit`, byte for byte, under the directory named after its version. The top-level file is the one to edit; this test
//! says what to copy when they differ. (Not packaged: it needs the repository around it.)

use std::path::Path;

/// The `package tollgate:policy@VERSION;` version of a WIT file.
fn package_version(wit: &str) -> &str {
    wit.lines()
        .find_map(|line| line.strip_prefix("package tollgate:policy@"))
        .map(|rest| rest.trim_end_matches(';').trim())
        .expect("a `package tollgate:policy@…;` line")
}

#[test]
fn the_sdk_wit_is_the_repository_wit_under_its_version() {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(sdk.join("../wit/policy.wit")).unwrap();
    let version = package_version(&source);
    for package in ["sdk", "sdk-js"] {
        let wit = sdk.join("..").join(package).join("wit");
        let copy = wit.join(format!("v{version}")).join("policy.wit");
        let fix = format!("run: mkdir -p {package}/wit/v{version} && cp wit/policy.wit {package}/wit/v{version}/ (and remove the old version)");
        let copied = std::fs::read_to_string(&copy).unwrap_or_else(|error| panic!("{}: {error}; {fix}", copy.display()));
        assert!(copied == source, "{} differs from wit/policy.wit; {fix}", copy.display());
        // Only that version: an old directory left behind would be packaged for nothing.
        let versions: Vec<String> = std::fs::read_dir(&wit).unwrap().map(|entry| entry.unwrap().file_name().into_string().unwrap()).collect();
        assert_eq!(versions, [format!("v{version}")], "{package}/wit holds only the current version; remove the others");
    }

    let lib = std::fs::read_to_string(sdk.join("src/lib.rs")).unwrap();
    assert!(lib.contains(&format!("path: \"wit/v{version}\",")), "sdk/src/lib.rs generates its bindings from wit/v{version}");
    // (sdk-js: tollgate-js finds its one wit/vVERSION itself; its TypeScript types are checked by its own tests.)
}
