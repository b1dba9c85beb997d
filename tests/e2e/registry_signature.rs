//! Signed plugins through a real OCI registry: `tollgate plugin push` carries the
//! `tollgate plugin sign` signature as a `sha256-<manifest hex>.sig` artifact, pulls keep it
//! in the local store, and a policy's `signers:` checks it like a `.wasm` file's `.sig`.
//! Keys come from the real `ssh-keygen`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::registry_support::{Registry, sha256};
use crate::support::{Run, git, gitops_repo, plugin, repo_path, tollgate_env};

const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const SIGNATURE_TYPE: &str = "application/vnd.tollgate.plugin.signature.v1+sshsig";
const DIGEST: &str = "sha256:abababababababababababababababababababababababababababababababab";

fn run(cache: &Path, args: &[&str]) -> Run {
    let docker = cache.join("docker-config");
    tollgate_env(cache, args, &[("DOCKER_CONFIG", docker.to_str().unwrap())])
}

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|error| panic!("{error}: {}{}", run.stdout, run.stderr))
}

/// A fresh ed25519 key pair from ssh-keygen: (private key path, public key line).
fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(format!("id_{name}"));
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .status()
        .expect("ssh-keygen is installed (openssh-client)");
    assert!(status.success());
    let public = std::fs::read_to_string(path.with_file_name(format!("id_{name}.pub"))).unwrap();
    (path, public.trim().to_string())
}

/// The demo repository with bob as allowed plugin signer and one registry policy
/// (`signers: [bob]` when `signed`), committed.
fn repo_with(dir: &tempfile::TempDir, bob_pub: &str, reference: &str, signed: bool) -> String {
    let repo = repo_path(dir);
    std::fs::create_dir_all(Path::new(&repo).join(".tollgate")).unwrap();
    std::fs::write(Path::new(&repo).join(".tollgate/allowed_signers"), format!("bob {bob_pub}\n")).unwrap();
    let path = Path::new(&repo).join("tollgate.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let head = &text[..text.find("policies:").unwrap()];
    let signers = if signed { "    signers: [bob]\n" } else { "" };
    std::fs::write(
        &path,
        format!(
            "{head}trust:\n  allowed_signers: .tollgate/allowed_signers\npolicies:\n  - plugin: {reference}\n{signers}    config:\n      \
             allowed_registries: [registry.example.com/]\n      require_digest: true\n"
        ),
    )
    .unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "policies from the registry"]);
    repo
}

fn plan(cache: &Path, repo: &str) -> Run {
    run(cache, &["--repo", repo, "plan", "shop-api", "--to", "dev", "--version", "1.4.2", "--digest", DIGEST, "--actor", "alice"])
}

/// The signature manifest as an attacker would re-push it: same layout, another signature.
fn signature_manifest(armored: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "artifactType": SIGNATURE_TYPE,
        "config": { "mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(b"{}"), "size": 2 },
        "layers": [{ "mediaType": SIGNATURE_TYPE, "digest": sha256(armored), "size": armored.len() }],
    }))
    .unwrap()
}

#[test]
fn registry_signed_plugin_travels_with_its_signature_and_signers_verify_it() {
    let mut registry = Registry::start();
    let keys = tempfile::tempdir().unwrap();
    let (bob, bob_pub) = keygen(keys.path(), "bob");
    let (mallory, _) = keygen(keys.path(), "mallory");
    let author = tempfile::tempdir().unwrap();
    let wasm = author.path().join("image_policy.wasm");
    std::fs::copy(plugin("image-policy"), &wasm).unwrap();
    let component = std::fs::read(&wasm).unwrap();
    let signed = run(author.path(), &["plugin", "sign", wasm.to_str().unwrap(), "--key", bob.to_str().unwrap()]);
    assert_eq!(signed.code, 0, "{}{}", signed.stdout, signed.stderr);

    // Push: the signature goes along under sha256-<manifest hex>.sig and the output says so.
    let reference = registry.reference("policies/image-policy:1.0.0");
    let pushed = run(author.path(), &["plugin", "push", wasm.to_str().unwrap(), &reference]);
    assert_eq!(pushed.code, 0, "{}{}", pushed.stderr, registry.log());
    let manifest_digest = pushed.stdout.lines().find_map(|line| line.trim().strip_prefix("manifest   ")).unwrap().to_string();
    let signature_tag = format!("sha256-{}.sig", manifest_digest.trim_start_matches("sha256:"));
    assert!(
        pushed.stdout.contains(&format!("  signature  {}", registry.reference(&format!("policies/image-policy:{signature_tag}")))),
        "{}",
        pushed.stdout
    );
    let stored: serde_json::Value =
        serde_json::from_slice(&registry.get(&format!("/v2/policies/image-policy/manifests/{signature_tag}"), MANIFEST_TYPE)).unwrap();
    assert_eq!(stored["artifactType"], SIGNATURE_TYPE);
    assert_eq!(stored["layers"][0]["mediaType"], SIGNATURE_TYPE);
    let armored = std::fs::read(author.path().join("image_policy.wasm.sig")).unwrap();
    assert_eq!(stored["layers"][0]["digest"], sha256(&armored), "the layer is the armored signature, byte for byte");

    // Another clone with its own store: lock (pulls it and its signature), plan with signers: allowed.
    let clone = tempfile::tempdir().unwrap();
    let dir = gitops_repo();
    let repo = repo_with(&dir, &bob_pub, &reference, true);
    let locked = run(clone.path(), &["--repo", &repo, "plugin", "lock"]);
    assert_eq!(locked.code, 0, "{}", locked.stderr);
    git(&repo, &["add", "tollgate.lock"]);
    git(&repo, &["commit", "-qm", "lock"]);
    let kept = clone.path().join("oci/signatures").join(&signature_tag);
    assert_eq!(std::fs::read(&kept).unwrap(), armored, "the signature is kept in the local store");
    let planned = plan(clone.path(), &repo);
    assert_eq!(planned.code, 0, "{}{}", planned.stdout, planned.stderr);

    // plugin info names the signer.
    let allowed = keys.path().join("allowed_signers");
    std::fs::write(&allowed, format!("bob {bob_pub}\n")).unwrap();
    let pulled = tempfile::tempdir().unwrap();
    let info = run(pulled.path(), &["plugin", "info", &reference, "--allowed-signers", allowed.to_str().unwrap()]);
    assert_eq!(info.code, 0, "{}{}", info.stdout, info.stderr);
    assert!(info.stdout.contains("signed by:    bob (key SHA256:"), "{}", info.stdout);

    // A signature artifact re-pushed with another key: refused, naming the reference and why.
    let forged_file = keys.path().join("forged.wasm");
    std::fs::write(&forged_file, &component).unwrap();
    let forged = run(author.path(), &["plugin", "sign", forged_file.to_str().unwrap(), "--key", mallory.to_str().unwrap()]);
    assert_eq!(forged.code, 0, "{}", forged.stderr);
    let forged = std::fs::read(keys.path().join("forged.wasm.sig")).unwrap();
    registry.push_raw("policies/image-policy", &signature_tag, &[b"{}", &forged], &signature_manifest(&forged));
    let fresh = tempfile::tempdir().unwrap();
    let refused = plan(fresh.path(), &repo);
    assert_eq!(refused.code, 2, "{}{}", refused.stdout, refused.stderr);
    assert!(
        refused.stderr.contains(&reference) && refused.stderr.contains("not signed by any of the policy's signers (bob)"),
        "{}",
        refused.stderr
    );
    let info = run(fresh.path(), &["plugin", "info", &reference, "--allowed-signers", allowed.to_str().unwrap()]);
    assert!(info.stdout.contains("signed by:    INVALID:"), "{}", info.stdout);

    // Offline: the first clone's store still has the component and bob's signature.
    registry.stop();
    let offline = plan(clone.path(), &repo);
    assert_eq!(offline.code, 0, "{}{}", offline.stdout, offline.stderr);
}

#[test]
fn registry_unsigned_plugin_is_refused_only_where_signers_are_required() {
    let registry = Registry::start();
    let keys = tempfile::tempdir().unwrap();
    let (_, bob_pub) = keygen(keys.path(), "bob");
    let author = tempfile::tempdir().unwrap();
    let reference = registry.reference("policies/unsigned:1.0.0");
    let pushed = run(author.path(), &["plugin", "push", plugin("image-policy").to_str().unwrap(), &reference, "-o", "json"]);
    assert_eq!(pushed.code, 0, "{}{}", pushed.stderr, registry.log());
    assert!(json(&pushed).get("signature").is_none(), "{}", pushed.stdout);

    let dir = gitops_repo();
    let repo = repo_with(&dir, &bob_pub, &reference, true);
    let cache = tempfile::tempdir().unwrap();
    let refused = plan(cache.path(), &repo);
    assert_eq!(refused.code, 2, "{}{}", refused.stdout, refused.stderr);
    assert!(refused.stderr.contains(&reference) && refused.stderr.contains("no signature"), "{}", refused.stderr);
    assert!(refused.stderr.contains("sha256-") && refused.stderr.contains(".sig"), "names the tag it looked for: {}", refused.stderr);
    let info = run(cache.path(), &["--repo", &repo, "plugin", "info", &reference]);
    assert_eq!(info.code, 0, "{}{}", info.stdout, info.stderr);
    assert!(info.stdout.contains("signed by:    unsigned"), "{}", info.stdout);
    let checked = run(cache.path(), &["--repo", &repo, "check-config"]);
    assert_eq!(checked.code, 2, "{}{}", checked.stdout, checked.stderr);
    assert!(checked.stdout.contains("signers") && checked.stdout.contains("no signature"), "{}", checked.stdout);

    let dir = gitops_repo();
    let repo = repo_with(&dir, &bob_pub, &reference, false);
    let allowed = plan(cache.path(), &repo);
    assert_eq!(allowed.code, 0, "{}{}", allowed.stdout, allowed.stderr);
}

#[test]
fn registry_push_refuses_a_stale_signature() {
    let registry = Registry::start();
    let keys = tempfile::tempdir().unwrap();
    let (bob, _) = keygen(keys.path(), "bob");
    let author = tempfile::tempdir().unwrap();
    let wasm = author.path().join("image_policy.wasm");
    std::fs::copy(plugin("image-policy"), &wasm).unwrap();
    let signed = run(author.path(), &["plugin", "sign", wasm.to_str().unwrap(), "--key", bob.to_str().unwrap()]);
    assert_eq!(signed.code, 0, "{}", signed.stderr);
    std::fs::copy(plugin("hostile"), &wasm).unwrap();
    let reference = registry.reference("policies/stale:1.0.0");
    let pushed = run(author.path(), &["plugin", "push", wasm.to_str().unwrap(), &reference]);
    assert_eq!(pushed.code, 2, "{}{}", pushed.stdout, pushed.stderr);
    assert!(pushed.stderr.contains("image_policy.wasm.sig") && pushed.stderr.contains("sign this build again"), "{}", pushed.stderr);
}

#[test]
fn registry_lock_refuses_an_unsigned_plugin_whose_policy_names_signers() {
    let registry = Registry::start();
    let keys = tempfile::tempdir().unwrap();
    let (bob, bob_pub) = keygen(keys.path(), "bob");
    let (mallory, _) = keygen(keys.path(), "mallory");
    let author = tempfile::tempdir().unwrap();
    let unsigned = registry.reference("policies/lock-unsigned:1.0.0");
    let pushed = run(author.path(), &["plugin", "push", plugin("image-policy").to_str().unwrap(), &unsigned]);
    assert_eq!(pushed.code, 0, "{}{}", pushed.stderr, registry.log());

    // Refused at lock time, naming the policy, and nothing written.
    let dir = gitops_repo();
    let repo = repo_with(&dir, &bob_pub, &unsigned, true);
    let lock_file = Path::new(&repo).join("tollgate.lock");
    let cache = tempfile::tempdir().unwrap();
    let refused = run(cache.path(), &["--repo", &repo, "plugin", "lock"]);
    assert_eq!(refused.code, 2, "{}{}", refused.stdout, refused.stderr);
    assert!(refused.stderr.contains("tollgate.yaml: policies[0].signers") && refused.stderr.contains("no signature"), "{}", refused.stderr);
    assert!(refused.stderr.contains("Nothing was written") && refused.stderr.contains("--allow-unsigned"), "{}", refused.stderr);
    assert!(!lock_file.exists(), "no tollgate.lock");

    // --allow-unsigned locks it with a warning; plan still refuses the plugin.
    let allowed = run(cache.path(), &["--repo", &repo, "plugin", "lock", "--allow-unsigned"]);
    assert_eq!(allowed.code, 0, "{}{}", allowed.stdout, allowed.stderr);
    assert!(allowed.stderr.contains("warning") && allowed.stderr.contains("locked anyway (--allow-unsigned)"), "{}", allowed.stderr);
    assert!(allowed.stdout.contains("UNSIGNED   policies[0] requires a signature by bob"), "{}", allowed.stdout);
    assert!(lock_file.exists());
    git(&repo, &["add", "tollgate.lock"]);
    git(&repo, &["commit", "-qm", "lock"]);
    let planned = plan(cache.path(), &repo);
    assert_eq!(planned.code, 2, "{}{}", planned.stdout, planned.stderr);
    assert!(planned.stderr.contains("no signature"), "{}", planned.stderr);

    // Signed by someone the allowed signers do not list for the policy: refused too. Signed by
    // bob: locked, and the summary says by whom.
    let wasm = author.path().join("image_policy.wasm");
    std::fs::copy(plugin("image-policy"), &wasm).unwrap();
    let lock_signed_by = |key: &Path, reference: &str| {
        let signed = run(author.path(), &["plugin", "sign", wasm.to_str().unwrap(), "--key", key.to_str().unwrap()]);
        assert_eq!(signed.code, 0, "{}", signed.stderr);
        assert_eq!(run(author.path(), &["plugin", "push", wasm.to_str().unwrap(), reference]).code, 0);
        let dir = gitops_repo();
        let repo = repo_with(&dir, &bob_pub, reference, true);
        run(cache.path(), &["--repo", &repo, "plugin", "lock"])
    };
    let refused = lock_signed_by(&mallory, &registry.reference("policies/lock-mallory:1.0.0"));
    assert_eq!(refused.code, 2, "{}{}", refused.stdout, refused.stderr);
    assert!(refused.stderr.contains("not signed by any of the policy's signers (bob)"), "{}", refused.stderr);
    let locked = lock_signed_by(&bob, &registry.reference("policies/lock-bob:1.0.0"));
    assert_eq!(locked.code, 0, "{}{}", locked.stdout, locked.stderr);
    assert!(locked.stdout.contains("signed by  bob (SHA256:"), "{}", locked.stdout);
}
