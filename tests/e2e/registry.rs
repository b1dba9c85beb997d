//! Plugins shared through a real OCI registry (Debian's docker-registry on 127.0.0.1):
//! push, pull, lock, promote with the locked plugin, moved tags, refusals and offline runs.

use std::path::Path;

use crate::registry_support::{Registry, sha256};
use crate::support::{Run, git, gitops_repo, plugin, repo_path, snapshot, tollgate_env};

const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// `tollgate ARGS` with its own plugin store / compile cache and no Docker credentials.
fn run(cache: &Path, args: &[&str]) -> Run {
    run_env(cache, args, &[])
}

/// [`run`] with more environment variables.
fn run_env(cache: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let docker = cache.join("docker-config");
    let mut env = env.to_vec();
    env.push(("DOCKER_CONFIG", docker.to_str().unwrap()));
    tollgate_env(cache, args, &env)
}

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|error| panic!("{error}: {}{}", run.stdout, run.stderr))
}

/// `plugin push FILE REFERENCE -o json` with `env`, which must succeed: its report.
fn push_json(registry: &Registry, cache: &Path, file: &Path, reference: &str, env: &[(&str, &str)]) -> serde_json::Value {
    let pushed = run_env(cache, &["plugin", "push", file.to_str().unwrap(), reference, "-o", "json"], env);
    assert_eq!(pushed.code, 0, "{}{}", pushed.stderr, registry.log());
    json(&pushed)
}

/// Point the demo repository's policies at one registry plugin and commit that.
fn use_registry_plugin(repo: &str, reference: &str) {
    let path = Path::new(repo).join("tollgate.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let head = &text[..text.find("policies:").unwrap()];
    let config = format!(
        "{head}policies:\n  - plugin: {reference}\n    config:\n      allowed_registries: [registry.example.com/]\n      require_digest: true\n"
    );
    std::fs::write(&path, config).unwrap();
    git(repo, &["commit", "-qam", "policies from the registry"]);
}

fn commit_lock(repo: &str) {
    git(repo, &["add", "tollgate.lock"]);
    git(repo, &["commit", "-qm", "lock registry plugins"]);
}

/// The same plugin with an extra custom section: another build with another digest.
fn rebuilt(component: &[u8]) -> Vec<u8> {
    let name = b"tollgate-test-build";
    let payload = b"2";
    let mut bytes = component.to_vec();
    bytes.push(0); // custom section
    bytes.push((1 + name.len() + payload.len()) as u8);
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(payload);
    bytes
}

const DEV: [&str; 8] = ["shop-api", "--to", "dev", "--version", "1.4.2", "--digest", DIGEST, "--actor"];
const DIGEST: &str = "sha256:abababababababababababababababababababababababababababababababab";

#[test]
fn registry_push_pull_lock_promote_moved_tag_and_offline() {
    let mut registry = Registry::start();
    let cache = tempfile::tempdir().unwrap();
    let wasm = plugin("image-policy");
    let component = std::fs::read(&wasm).unwrap();
    let reference = registry.reference("policies/image-policy:1.0.0");

    // Push: prints the manifest digest.
    let pushed = run(cache.path(), &["plugin", "push", wasm.to_str().unwrap(), &reference, "--source", "https://git.example.com/policies", "-o", "json"]);
    assert_eq!(pushed.code, 0, "{}{}", pushed.stderr, registry.log());
    let pushed = json(&pushed);
    let manifest_digest = pushed["manifest_digest"].as_str().unwrap().to_string();
    assert_eq!(pushed["component_digest"], sha256(&component));
    assert_eq!(pushed["pinned"], format!("{reference}@{manifest_digest}"));

    // Pull by tag and by digest, each into a fresh store.
    let by_tag = tempfile::tempdir().unwrap();
    let pulled = run(by_tag.path(), &["plugin", "pull", &reference, "-o", "json"]);
    assert_eq!(pulled.code, 0, "{}", pulled.stderr);
    assert_eq!(json(&pulled)["manifest_digest"], manifest_digest.as_str());
    let stored = by_tag.path().join("oci/sha256").join(sha256(&component).trim_start_matches("sha256:"));
    assert_eq!(std::fs::read(&stored).unwrap(), component, "the component is in the local store");
    let by_digest = tempfile::tempdir().unwrap();
    let pinned = registry.reference(&format!("policies/image-policy@{manifest_digest}"));
    let pulled = run(by_digest.path(), &["plugin", "pull", &pinned, "-o", "json"]);
    assert_eq!(pulled.code, 0, "{}", pulled.stderr);
    assert_eq!(json(&pulled)["component_digest"], sha256(&component));

    // Lock, commit the lock, promote with --locked: the record names the reference and both digests.
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    use_registry_plugin(&repo, &reference);
    let locked = run(cache.path(), &["--repo", &repo, "plugin", "lock"]);
    assert_eq!(locked.code, 0, "{}", locked.stderr);
    let lock = std::fs::read_to_string(Path::new(&repo).join("tollgate.lock")).unwrap();
    assert!(lock.contains(&format!("reference: {reference}")), "{lock}");
    assert!(lock.contains(&format!("manifest: {manifest_digest}")), "{lock}");
    assert!(lock.contains(&format!("component: {}", sha256(&component))), "{lock}");
    commit_lock(&repo);
    let mut dev = DEV.to_vec();
    dev.extend(["alice", "--locked", "-o", "json"]);
    let mut args = vec!["--repo", repo.as_str(), "promote"];
    args.extend(&dev);
    let promoted = run(cache.path(), &args);
    assert_eq!(promoted.code, 0, "{}{}", promoted.stdout, promoted.stderr);
    let decision = json(&promoted);
    let policy = &decision["policies"][0];
    assert_eq!(policy["plugin"], reference.as_str(), "{decision:#}");
    assert_eq!(policy["manifest_digest"], manifest_digest.as_str(), "{decision:#}");
    assert_eq!(format!("sha256:{}", policy["sha256"].as_str().unwrap()), sha256(&component));
    let record = crate::support::record_at(&repo, "HEAD");
    assert_eq!(record["policies"][0]["plugin"], reference.as_str());
    assert_eq!(record["policies"][0]["manifest_digest"], manifest_digest.as_str());
    assert_eq!(format!("sha256:{}", record["policies"][0]["sha256"].as_str().unwrap()), sha256(&component));

    let promotion_commit = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    let verified = run(cache.path(), &["--repo", &repo, "verify", &promotion_commit]);
    assert_eq!(verified.code, 0, "{}{}", verified.stdout, verified.stderr);

    // Move the tag to another build: plan keeps the locked digest; --locked fails until `plugin lock`.
    let rebuild = std::env::temp_dir().join(format!("tollgate-rebuilt-{}.wasm", std::process::id()));
    std::fs::write(&rebuild, rebuilt(&component)).unwrap();
    let moved = run(cache.path(), &["plugin", "push", rebuild.to_str().unwrap(), &reference, "-o", "json"]);
    assert_eq!(moved.code, 0, "{}", moved.stderr);
    let moved_digest = json(&moved)["manifest_digest"].as_str().unwrap().to_string();
    assert_ne!(moved_digest, manifest_digest);
    let test = ["--repo", repo.as_str(), "plan", "shop-api", "--to", "test", "-o", "json"];
    let planned = run(cache.path(), &test);
    assert_eq!(planned.code, 0, "{}{}", planned.stdout, planned.stderr);
    assert_eq!(json(&planned)["policies"][0]["manifest_digest"], manifest_digest.as_str(), "the locked digest, not the moved tag");
    let mut strict = test.to_vec();
    strict.push("--locked");
    let refused = run(cache.path(), &strict);
    assert_eq!(refused.code, 2, "{}{}", refused.stdout, refused.stderr);
    assert!(refused.stderr.contains(&reference) && refused.stderr.contains("tollgate.lock is out of date"), "{}", refused.stderr);
    assert!(refused.stderr.contains(&moved_digest), "{}", refused.stderr);
    let relocked = run(cache.path(), &["--repo", &repo, "plugin", "lock"]);
    assert_eq!(relocked.code, 0, "{}", relocked.stderr);
    commit_lock(&repo);
    let planned = run(cache.path(), &strict);
    assert_eq!(planned.code, 0, "{}{}", planned.stdout, planned.stderr);
    assert_eq!(json(&planned)["policies"][0]["manifest_digest"], moved_digest.as_str());
    std::fs::remove_file(&rebuild).unwrap();
    // The earlier decision still verifies: it is replayed from the manifest it recorded.
    let verified = run(cache.path(), &["--repo", &repo, "verify", &promotion_commit]);
    assert_eq!(verified.code, 0, "{}{}", verified.stdout, verified.stderr);

    // Offline: the registry is gone, the locked plugin comes from the local store.
    registry.stop();
    // verify replays the recorded decision with the plugin the record names, from the store.
    let verified = run(cache.path(), &["--repo", &repo, "verify", &promotion_commit]);
    assert_eq!(verified.code, 0, "verify offline: {}{}", verified.stdout, verified.stderr);
    assert!(verified.stdout.ends_with("\nreproduced: the commit checks out and every verdict is identical\n"), "{}", verified.stdout);
    let mut args = vec!["--repo", repo.as_str(), "promote", "shop-api", "--to", "test", "--actor", "alice", "-o", "json"];
    let offline = run(cache.path(), &args);
    assert_eq!(offline.code, 0, "{}{}", offline.stdout, offline.stderr);
    assert_eq!(json(&offline)["policies"][0]["manifest_digest"], moved_digest.as_str());
    // … but --locked cannot confirm the tag without it.
    args.push("--locked");
    args[5] = "prod";
    let strict = run(cache.path(), &args);
    assert_eq!(strict.code, 2, "{}{}", strict.stdout, strict.stderr);
    assert!(strict.stderr.contains("cannot reach the registry"), "{}", strict.stderr);
}

#[test]
fn registry_pushed_manifest_follows_the_wasm_oci_artifact_layout() {
    let registry = Registry::start();
    let cache = tempfile::tempdir().unwrap();
    let wasm = plugin("image-policy");
    let component = std::fs::read(&wasm).unwrap();
    let reference = registry.reference("policies/image-policy:1.0.0");
    let pushed = run(cache.path(), &["plugin", "push", wasm.to_str().unwrap(), &reference, "--source", "https://git.example.com/policies", "-o", "json"]);
    assert_eq!(pushed.code, 0, "{}", pushed.stderr);
    let digest = json(&pushed)["manifest_digest"].as_str().unwrap().to_string();

    let raw = registry.get("/v2/policies/image-policy/manifests/1.0.0", MANIFEST_TYPE);
    assert_eq!(sha256(&raw), digest, "the printed digest is the manifest's");
    let manifest: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(manifest["mediaType"], MANIFEST_TYPE);
    assert_eq!(manifest["config"]["mediaType"], "application/vnd.wasm.config.v0+json");
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "exactly one layer");
    assert_eq!(layers[0]["mediaType"], "application/wasm");
    assert_eq!(layers[0]["digest"], sha256(&component));
    assert_eq!(layers[0]["size"], component.len());
    let annotations = &manifest["annotations"];
    assert_eq!(annotations["org.opencontainers.image.title"], "image-policy");
    let info = json(&crate::support::tollgate(&["plugin", "info", wasm.to_str().unwrap(), "-o", "json"]));
    assert_eq!(annotations["org.opencontainers.image.version"], info["version"]);
    assert_eq!(annotations["org.opencontainers.image.description"], info["description"]);
    assert_eq!(annotations["org.opencontainers.image.source"], "https://git.example.com/policies");
    assert!(annotations.get("org.opencontainers.image.created").is_none(), "no wall-clock time: {annotations:#}");

    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    let config_blob = registry.get(&format!("/v2/policies/image-policy/blobs/{config_digest}"), "*/*");
    assert_eq!(sha256(&config_blob), config_digest);
    assert_eq!(manifest["config"]["size"], config_blob.len());
    let config: serde_json::Value = serde_json::from_slice(&config_blob).unwrap();
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["os"], "wasip2");
    assert_eq!(config["layerDigests"], serde_json::json!([sha256(&component)]));
    assert_eq!(config["created"], "1970-01-01T00:00:00Z", "no wall-clock time without SOURCE_DATE_EPOCH");
    let exports = config["component"]["exports"].as_array().unwrap();
    assert!(exports.iter().any(|export| export.as_str().unwrap().starts_with("tollgate:policy/plugin@0.1")), "{config:#}");
    assert!(config["component"]["imports"].as_array().unwrap().iter().any(|import| import.as_str().unwrap().starts_with("tollgate:policy/")), "{config:#}");
    let layer = registry.get(&format!("/v2/policies/image-policy/blobs/{}", sha256(&component)), "*/*");
    assert_eq!(layer, component);

    // The other plugin commands take a registry reference too.
    let remote = json(&run(cache.path(), &["plugin", "info", &reference, "-o", "json"]));
    assert_eq!(remote["name"], "image-policy");
    assert_eq!(remote["sha256"], info["sha256"]);
}

/// A repository whose one policy is `reference`, and the args of a promotion into dev.
fn promotion(reference: &str) -> (tempfile::TempDir, String) {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    use_registry_plugin(&repo, reference);
    (dir, repo)
}

/// Promote into dev with a fresh store: exit 2, the reference and `why` named, nothing committed.
fn refused(repo: &str, reference: &str, why: &str) {
    let before = snapshot(repo);
    let cache = tempfile::tempdir().unwrap();
    let mut args = vec!["--repo", repo, "promote"];
    args.extend(DEV);
    args.push("alice");
    let run = run(cache.path(), &args);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains(reference), "{}", run.stderr);
    assert!(run.stderr.contains(why), "{why}: {}", run.stderr);
    assert_eq!(snapshot(repo), before, "nothing committed");
}

#[test]
fn registry_refusals_exit_2_with_nothing_committed() {
    let mut registry = Registry::start();
    let cache = tempfile::tempdir().unwrap();

    // A container image where a plugin should be.
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let layer = b"not really a tarball";
    let image = serde_json::json!({
        "schemaVersion": 2, "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256(layer), "size": layer.len()}],
    });
    registry.push_raw("apps/web", "1", &[config, layer], image.to_string().as_bytes());
    let reference = registry.reference("apps/web:1");
    let (_dir, repo) = promotion(&reference);
    refused(&repo, &reference, "wrong media type");

    // A blob whose bytes no longer match its digest (tampered in the registry's storage).
    let wasm = plugin("image-policy");
    let component = std::fs::read(&wasm).unwrap();
    let reference = registry.reference("policies/tampered:1");
    let pushed = run(cache.path(), &["plugin", "push", wasm.to_str().unwrap(), &reference]);
    assert_eq!(pushed.code, 0, "{}", pushed.stderr);
    let blob = registry.blob_file(&sha256(&component));
    let mut tampered = std::fs::read(&blob).unwrap();
    let last = tampered.len() - 1;
    tampered[last] ^= 0xff;
    std::fs::write(&blob, tampered).unwrap();
    let (_dir, repo) = promotion(&reference);
    refused(&repo, &reference, "digest mismatch");

    // A layer over the plugin size limit: refused from the manifest, before downloading it.
    let huge = vec![0u8; 64 * 1024 * 1024 + 1];
    let wasm_config = br#"{"architecture":"wasm","os":"wasip2","layerDigests":[]}"#;
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": "application/vnd.wasm.config.v0+json", "digest": sha256(wasm_config), "size": wasm_config.len()},
        "layers": [{"mediaType": "application/wasm", "digest": sha256(&huge), "size": huge.len()}],
    });
    registry.push_raw("policies/huge", "1", &[wasm_config, &huge], manifest.to_string().as_bytes());
    let reference = registry.reference("policies/huge:1");
    let (_dir, repo) = promotion(&reference);
    refused(&repo, &reference, "over the 64 MiB plugin size limit; refusing it without downloading");
    // The registry's access log: the manifest was read, the 64 MiB layer never requested.
    let requests = registry.requests();
    assert!(requests.iter().any(|request| request.starts_with("GET /v2/policies/huge/manifests/1")), "the access log is read: {requests:?}");
    let huge_blob = format!("/v2/policies/huge/blobs/{}", sha256(&huge));
    assert!(!requests.iter().any(|request| request.starts_with("GET ") && request.contains(&huge_blob)), "{requests:?}");

    // A manifest over the 64 KiB bound (a huge annotation), refused before reading it.
    let component_config = br#"{"architecture":"wasm","os":"wasip2","layerDigests":[]}"#;
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": "application/vnd.wasm.config.v0+json", "digest": sha256(component_config), "size": component_config.len()},
        "layers": [{"mediaType": "application/wasm", "digest": sha256(&component), "size": component.len()}],
        "annotations": {"org.opencontainers.image.description": "x".repeat(100 * 1024)},
    });
    registry.push_raw("policies/tampered", "bloated", &[component_config], manifest.to_string().as_bytes());
    let reference = registry.reference("policies/tampered:bloated");
    let (_dir, repo) = promotion(&reference);
    refused(&repo, &reference, "over the 64 KiB limit for a plugin artifact");

    // A tag that does not exist.
    let reference = registry.reference("policies/tampered:2");
    let (_dir, repo) = promotion(&reference);
    refused(&repo, &reference, "tag \"2\" not found");

    // A registry that stopped answering.
    let reference = registry.reference("policies/image-policy:1");
    let (_dir, repo) = promotion(&reference);
    registry.stop();
    refused(&repo, &reference, "cannot reach the registry");
}

#[test]
fn registry_locked_fails_without_a_lockfile_and_check_config_uses_the_lock() {
    let registry = Registry::start();
    let cache = tempfile::tempdir().unwrap();
    let wasm = plugin("image-policy");
    let reference = registry.reference("policies/image-policy:1.0.0");
    let pushed = run(cache.path(), &["plugin", "push", wasm.to_str().unwrap(), &reference]);
    assert_eq!(pushed.code, 0, "{}", pushed.stderr);
    assert!(pushed.stdout.contains("  manifest   sha256:"), "{}", pushed.stdout);
    let (_dir, repo) = promotion(&reference);

    let run_locked = run(cache.path(), &["--repo", &repo, "--locked", "check-config"]);
    assert_eq!(run_locked.code, 2, "{}{}", run_locked.stdout, run_locked.stderr);
    assert!(run_locked.stdout.contains("no tollgate.lock"), "{}", run_locked.stdout);

    // Without --locked an unlocked reference resolves now, with a warning.
    let unlocked = run(cache.path(), &["--repo", &repo, "check-config"]);
    assert_eq!(unlocked.code, 0, "{}{}", unlocked.stdout, unlocked.stderr);
    assert!(unlocked.stderr.contains("is not in tollgate.lock"), "{}", unlocked.stderr);

    let locked = run(cache.path(), &["--repo", &repo, "plugin", "lock"]);
    assert_eq!(locked.code, 0, "{}", locked.stderr);
    commit_lock(&repo);
    let checked = run(cache.path(), &["--repo", &repo, "--locked", "check-config"]);
    assert_eq!(checked.code, 0, "{}{}", checked.stdout, checked.stderr);
    assert!(!checked.stderr.contains("warning"), "{}", checked.stderr);
}

#[test]
fn registry_refusing_access_names_the_credentials_tried() {
    let registry = Registry::start_refusing();
    let cache = tempfile::tempdir().unwrap();
    let reference = registry.reference("policies/image-policy:1.0.0");

    let anonymous = run(cache.path(), &["plugin", "pull", &reference]);
    assert_eq!(anonymous.code, 2, "{}", anonymous.stderr);
    assert!(anonymous.stderr.contains(&reference) && anonymous.stderr.contains("refused access (401 Unauthorized) with anonymous"), "{}", anonymous.stderr);

    // An auths entry, as `docker login` writes it.
    let docker = cache.path().join("docker-config");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(docker.join("config.json"), format!(r#"{{"auths": {{"{}": {{"auth": "Y2k6c2VjcmV0"}}}}}}"#, registry.host)).unwrap();
    let basic = run(cache.path(), &["plugin", "pull", &reference]);
    assert_eq!(basic.code, 2, "{}", basic.stderr);
    assert!(basic.stderr.contains(&format!("with user \"ci\" from {}", docker.join("config.json").display())), "{}", basic.stderr);

    // A credential helper configured for the host wins over auths.
    let bin = cache.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-tollgate-test");
    std::fs::write(&helper, "#!/bin/sh\nread host\necho '{\"ServerURL\":\"'$host'\",\"Username\":\"helper-user\",\"Secret\":\"s\"}'\n").unwrap();
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(
        docker.join("config.json"),
        format!(r#"{{"auths": {{"{0}": {{"auth": "Y2k6c2VjcmV0"}}}}, "credHelpers": {{"{0}": "tollgate-test"}}}}"#, registry.host),
    )
    .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let helped = tollgate_env(cache.path(), &["plugin", "pull", &reference], &[("DOCKER_CONFIG", docker.to_str().unwrap()), ("PATH", &path)]);
    assert_eq!(helped.code, 2, "{}", helped.stderr);
    assert!(helped.stderr.contains("with user \"helper-user\" from credential helper docker-credential-tollgate-test"), "{}", helped.stderr);
}

#[test]
fn registry_lock_and_local_store_are_checked_not_trusted() {
    let registry = Registry::start();
    let cache = tempfile::tempdir().unwrap();
    let wasm = plugin("image-policy");
    let component = std::fs::read(&wasm).unwrap();
    let reference = registry.reference("policies/image-policy:1.0.0");
    let pushed = run(cache.path(), &["plugin", "push", wasm.to_str().unwrap(), &reference]);
    assert_eq!(pushed.code, 0, "{}", pushed.stderr);
    let (_dir, repo) = promotion(&reference);
    let locked = run(cache.path(), &["--repo", &repo, "plugin", "lock"]);
    assert_eq!(locked.code, 0, "{}", locked.stderr);
    let lock_path = Path::new(&repo).join("tollgate.lock");
    let good_lock = std::fs::read_to_string(&lock_path).unwrap();

    // A lock edited to name another component: refused, nothing committed.
    let other = format!("sha256:{}", "0".repeat(64));
    std::fs::write(&lock_path, good_lock.replace(&sha256(&component), &other)).unwrap();
    commit_lock(&repo);
    let before = snapshot(&repo);
    let mut args = vec!["--repo", repo.as_str(), "promote"];
    args.extend(DEV);
    args.push("alice");
    let refused = run(cache.path(), &args);
    assert_eq!(refused.code, 2, "{}{}", refused.stdout, refused.stderr);
    assert!(refused.stderr.contains(&format!("tollgate.lock locks component {other}")), "{}", refused.stderr);
    assert_eq!(snapshot(&repo), before);

    // A damaged entry in the local store is not used: it is pulled again.
    std::fs::write(&lock_path, &good_lock).unwrap();
    commit_lock(&repo);
    let stored = cache.path().join("oci/sha256").join(sha256(&component).trim_start_matches("sha256:"));
    let mut damaged = component.clone();
    damaged[100] ^= 0xff;
    std::fs::write(&stored, damaged).unwrap();
    let promoted = run(cache.path(), &args);
    assert_eq!(promoted.code, 0, "{}{}", promoted.stdout, promoted.stderr);
    assert_eq!(std::fs::read(&stored).unwrap(), component, "pulled again into the store");
}

#[test]
fn registry_pushing_the_same_file_twice_gives_the_same_manifest_digest() {
    let registry = Registry::start();
    let cache = tempfile::tempdir().unwrap();
    let wasm = plugin("image-policy");
    let reference = registry.reference("policies/repush:1.0.0");
    let push = |reference: &str, env: &[(&str, &str)]| {
        push_json(&registry, cache.path(), &wasm, reference, env)["manifest_digest"].as_str().unwrap().to_string()
    };
    let first = push(&reference, &[]);

    // Locked, then the unchanged build pushed again: --locked still finds the lock up to date.
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    use_registry_plugin(&repo, &reference);
    let locked = run(cache.path(), &["--repo", &repo, "plugin", "lock"]);
    assert_eq!(locked.code, 0, "{}", locked.stderr);
    commit_lock(&repo);
    assert_eq!(push(&reference, &[]), first, "the same bytes, the same manifest");
    assert_eq!(push(&registry.reference("policies/repush:latest"), &[]), first, "under another tag too");
    let mut args = vec!["--repo", repo.as_str(), "plan"];
    args.extend(DEV);
    args.extend(["alice", "--locked", "-o", "json"]);
    let strict = run(cache.path(), &args);
    assert_eq!(strict.code, 0, "{}{}", strict.stdout, strict.stderr);
    assert_eq!(json(&strict)["policies"][0]["manifest_digest"], first.as_str());

    // SOURCE_DATE_EPOCH, the reproducible-builds convention, dates the artifact, reproducibly.
    let dated = registry.reference("policies/repush:2.0.0");
    let epoch = [("SOURCE_DATE_EPOCH", "1700000000")];
    let with_date = push(&dated, &epoch);
    assert_eq!(push(&dated, &epoch), with_date);
    assert_ne!(with_date, first);
    let manifest: serde_json::Value =
        serde_json::from_slice(&registry.get(&format!("/v2/policies/repush/manifests/{with_date}"), MANIFEST_TYPE)).unwrap();
    assert_eq!(manifest["annotations"]["org.opencontainers.image.created"], "2023-11-14T22:13:20Z");
    let bad = run_env(cache.path(), &["plugin", "push", wasm.to_str().unwrap(), &dated], &[("SOURCE_DATE_EPOCH", "yesterday")]);
    assert_eq!(bad.code, 2, "{}{}", bad.stdout, bad.stderr);
    assert!(bad.stderr.contains("SOURCE_DATE_EPOCH=\"yesterday\" is not a number of seconds"), "{}", bad.stderr);
}

#[test]
fn registry_component_digest_pinned_as_manifest_is_named_as_the_layer() {
    let registry = Registry::start();
    let cache = tempfile::tempdir().unwrap();
    let reference = registry.reference("policies/pinned:1.0.0");
    let pushed = push_json(&registry, cache.path(), &plugin("image-policy"), &reference, &[]);
    let component = pushed["component_digest"].as_str().unwrap().to_string();
    let pull_hint = format!("`tollgate plugin pull {}` prints it", registry.reference("policies/pinned:TAG"));

    for pinned in [registry.reference(&format!("policies/pinned@{component}")), format!("{reference}@{component}")] {
        let pulled = run(cache.path(), &["plugin", "pull", &pinned]);
        assert_eq!(pulled.code, 2, "{}{}", pulled.stdout, pulled.stderr);
        assert!(
            pulled.stderr.contains(&format!("{component} is the digest of the component layer, not of the manifest; pin the manifest digest")),
            "{}",
            pulled.stderr
        );
        assert!(pulled.stderr.contains(&pull_hint), "{}", pulled.stderr);
        // The same pin in tollgate.yaml: the promotion says so and commits nothing.
        let (_dir, repo) = promotion(&pinned);
        refused(&repo, &pinned, "is the digest of the component layer, not of the manifest");
    }
    // A digest of nothing in the repository is still just not found.
    let missing = registry.reference(&format!("policies/pinned@{DIGEST}"));
    let pulled = run(cache.path(), &["plugin", "pull", &missing]);
    assert_eq!(pulled.code, 2, "{}{}", pulled.stdout, pulled.stderr);
    assert!(pulled.stderr.contains(&format!("manifest {DIGEST} not found")), "{}", pulled.stderr);
}
