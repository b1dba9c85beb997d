//! Signed approvals, signed promotion commits and signed plugins with real `ssh-keygen` and
//! `git`: interoperability both ways, every refusal with its reason, and prod end to end.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tollgate::transition::Artifact;
use tollgate::trust::AllowedSigners;
use tollgate::trust::approvals::{Target, check};
use tollgate::trust::statement::{SignedApproval, Statement};

use crate::support::{git, gitops_repo, plugin, repo_path, snapshot, tollgate_in};

const TUESDAY: &str = "2026-01-06T10:30:00+01:00";
const TUESDAY_SECONDS: i64 = 1_767_691_800;
const EARLIER: &str = "2026-01-06T09:00:00Z";

fn digest() -> String {
    format!("sha256:{}", "ab".repeat(32))
}

/// A fresh key pair: (private key path, public key line).
pub(crate) fn keygen(dir: &Path, name: &str, kind: &str) -> (PathBuf, String) {
    let path = dir.join(format!("id_{name}"));
    let mut args = vec!["-q", "-t", kind, "-N", "", "-C", name, "-f"];
    let path_text = path.to_str().unwrap().to_string();
    args.push(&path_text);
    if kind == "rsa" {
        args.extend(["-b", "2048"]);
    }
    let status = Command::new("ssh-keygen").args(&args).status().expect("ssh-keygen is installed (openssh-client)");
    assert!(status.success());
    let public = std::fs::read_to_string(path.with_file_name(format!("id_{name}.pub"))).unwrap();
    (path, public.trim().to_string())
}

/// `ssh-keygen -Y sign -n NAMESPACE -f KEY FILE`: returns the armored signature.
fn ssh_keygen_sign(key: &Path, namespace: &str, message: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("message");
    std::fs::write(&file, message).unwrap();
    let output = Command::new("ssh-keygen").args(["-Y", "sign", "-n", namespace, "-f"]).arg(key).arg(&file).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    std::fs::read_to_string(dir.path().join("message.sig")).unwrap()
}

/// `ssh-keygen -Y verify`: whether OpenSSH accepts `signature` over `message`.
fn ssh_keygen_verify(allowed: &Path, principal: &str, namespace: &str, signature: &str, message: &[u8]) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let sig = dir.path().join("sig");
    std::fs::write(&sig, signature).unwrap();
    let mut child = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f"])
        .arg(allowed)
        .args(["-I", principal, "-n", namespace, "-s"])
        .arg(&sig)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), message).unwrap();
    child.wait_with_output().unwrap().status.success()
}

fn statement(approver: &str) -> Statement {
    Statement {
        application: "shop-api".into(),
        environment: "prod".into(),
        image: "registry.example.com/shop/api".into(),
        version: "1.4.2".into(),
        digest: Some(digest()),
        approver: approver.into(),
        time: TUESDAY_SECONDS - 3600,
    }
}

fn target() -> Target {
    Target {
        application: "shop-api".into(),
        environment: "prod".into(),
        artifact: Artifact { image: "registry.example.com/shop/api".into(), version: "1.4.2".into(), digest: Some(digest()) },
    }
}

struct Keys {
    _dir: tempfile::TempDir,
    bob: PathBuf,
    carol: PathBuf,
    mallory: PathBuf,
    alice: PathBuf,
    alice_second: PathBuf,
    dana_ecdsa: PathBuf,
    erin_rsa: PathBuf,
    allowed_signers: String,
    allowed_file: PathBuf,
}

fn keys() -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let (bob, bob_pub) = keygen(dir.path(), "bob", "ed25519");
    let (carol, carol_pub) = keygen(dir.path(), "carol", "ed25519");
    let (mallory, _) = keygen(dir.path(), "mallory", "ed25519");
    let (alice, alice_pub) = keygen(dir.path(), "alice", "ed25519");
    let (alice_second, alice_second_pub) = keygen(dir.path(), "alice2", "ed25519");
    let (dana_ecdsa, dana_pub) = keygen(dir.path(), "dana", "ecdsa");
    let (erin_rsa, erin_pub) = keygen(dir.path(), "erin", "rsa");
    let allowed_signers = format!(
        "# who may sign what\nbob {bob_pub}\ncarol namespaces=\"tollgate-approval,git\" {carol_pub}\n\
         alice namespaces=\"git,tollgate-approval\" {alice_pub}\nalice {alice_second_pub}\n\
         dana {dana_pub}\nerin valid-before=\"20260101Z\" {erin_pub}\n"
    );
    let allowed_file = dir.path().join("allowed_signers");
    std::fs::write(&allowed_file, &allowed_signers).unwrap();
    Keys { _dir: dir, bob, carol, mallory, alice, alice_second, dana_ecdsa, erin_rsa, allowed_signers, allowed_file }
}

fn signers(keys: &Keys) -> AllowedSigners {
    AllowedSigners::parse("allowed_signers", &keys.allowed_signers).unwrap()
}

/// Check a statement signed by ssh-keygen with `key` in `namespace`.
fn check_signed(keys: &Keys, statement: &Statement, key: &Path, namespace: &str) -> Result<String, String> {
    let text = statement.to_text();
    let signature = ssh_keygen_sign(key, namespace, text.as_bytes());
    let checked = check(&signers(keys), "test".into(), SignedApproval { text, signature }, Some(&target()), TUESDAY_SECONDS);
    match checked.signer {
        Some(signer) => Ok(signer.principal),
        None => Err(checked.problem.unwrap()),
    }
}

#[test]
fn a_statement_signed_by_ssh_keygen_verifies_in_tollgate_with_ed25519_ecdsa_and_rsa() {
    let keys = keys();
    assert_eq!(check_signed(&keys, &statement("bob"), &keys.bob, "tollgate-approval"), Ok("bob".to_string()));
    assert_eq!(check_signed(&keys, &statement("dana"), &keys.dana_ecdsa, "tollgate-approval"), Ok("dana".to_string()));
    // erin's RSA key verifies cryptographically; the line expired on 2026-01-01.
    let error = check_signed(&keys, &statement("erin"), &keys.erin_rsa, "tollgate-approval").unwrap_err();
    assert!(error.contains("valid only until 2026-01-01T00:00:00Z (expired)"), "{error}");
}

#[test]
fn signatures_are_refused_with_what_and_why() {
    let keys = keys();
    let refused = |statement: &Statement, key: &Path, namespace: &str| check_signed(&keys, statement, key, namespace).unwrap_err();

    let error = refused(&statement("mallory"), &keys.mallory, "tollgate-approval");
    assert!(error.contains("key SHA256:") && error.contains("is not in the allowed signers"), "unknown key: {error}");
    let error = refused(&statement("carol"), &keys.bob, "tollgate-approval");
    assert!(error.contains("is allowed for bob") && error.contains("not for principal carol"), "another principal's key: {error}");
    let error = refused(&statement("bob"), &keys.bob, "git");
    assert!(error.contains("the signature is for namespace \"git\", not \"tollgate-approval\""), "wrong namespace: {error}");
    for (changed, field) in [
        (Statement { version: "1.4.3".into(), ..statement("bob") }, "version 1.4.3, but this promotion is version 1.4.2"),
        (Statement { digest: Some(format!("sha256:{}", "cd".repeat(32))), ..statement("bob") }, "digest sha256:cdcd"),
        (Statement { environment: "test".into(), ..statement("bob") }, "environment test, but this promotion is environment prod"),
        (Statement { application: "shop-web".into(), ..statement("bob") }, "application shop-web"),
    ] {
        let error = refused(&changed, &keys.bob, "tollgate-approval");
        assert!(error.contains(field), "{field}: {error}");
    }
    let late = Statement { time: TUESDAY_SECONDS + 60, ..statement("bob") };
    assert!(refused(&late, &keys.bob, "tollgate-approval").contains("after the decision time"));

    // A tampered byte: sign, then change one character of the statement.
    let text = statement("bob").to_text();
    let signature = ssh_keygen_sign(&keys.bob, "tollgate-approval", text.as_bytes());
    let tampered = SignedApproval { text: text.replace("approver: bob", "approver: bot"), signature: signature.clone() };
    let checked = check(&signers(&keys), "t".into(), tampered, Some(&target()), TUESDAY_SECONDS);
    let error = checked.problem.unwrap();
    // The one right reason: the bytes changed after signing (the signature is checked before
    // anyone asks who "bot" is).
    assert!(error.starts_with("approver bot: the signature by key SHA256:") && error.contains("does not match the signed bytes") && error.ends_with("they were changed after signing"), "{error}");
    assert!(!error.contains("allowed signers") && !error.contains("principal"), "{error}");
    let tampered = SignedApproval { text: text.replace("image: registry", "image: registrx"), signature };
    let later = Target { artifact: Artifact { image: "registrx.example.com/shop/api".into(), ..target().artifact }, ..target() };
    let error = check(&signers(&keys), "t".into(), tampered, Some(&later), TUESDAY_SECONDS).problem.unwrap();
    assert!(error.contains("does not match the signed bytes") && error.contains("changed after signing"), "{error}");

    // Replayed for a later version: bob's approval of 1.4.2 never approves 1.4.3.
    let text = statement("bob").to_text();
    let signature = ssh_keygen_sign(&keys.bob, "tollgate-approval", text.as_bytes());
    let next = Target { artifact: Artifact { version: "1.4.3".into(), ..target().artifact }, ..target() };
    let error = check(&signers(&keys), "t".into(), SignedApproval { text, signature }, Some(&next), TUESDAY_SECONDS).problem.unwrap();
    assert!(error.contains("it approves version 1.4.2, but this promotion is version 1.4.3"), "{error}");
}

#[test]
fn a_key_removed_from_the_allowed_signers_no_longer_verifies() {
    let keys = keys();
    let text = statement("bob").to_text();
    let signature = ssh_keygen_sign(&keys.bob, "tollgate-approval", text.as_bytes());
    let without_bob: String = keys.allowed_signers.lines().filter(|line| !line.starts_with("bob ")).map(|line| format!("{line}\n")).collect();
    let signers = AllowedSigners::parse("allowed_signers", &without_bob).unwrap();
    let error = check(&signers, "t".into(), SignedApproval { text, signature }, Some(&target()), TUESDAY_SECONDS).problem.unwrap();
    assert!(error.contains("is not in the allowed signers"), "{error}");
}

/// The demo repository with shop-api 1.4.2 in test, an allowed-signers file and `trust_yaml`
/// appended to tollgate.yaml, committed on main.
fn trusted_repo(keys: &Keys, trust_yaml: &str) -> (tempfile::TempDir, String) {
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    git(&repo, &["config", "user.name", "Alice"]);
    git(&repo, &["config", "user.email", "alice@example.com"]);
    let run = tollgate_in(&repo, &["promote", "shop-api", "--to", "dev", "--version", "1.4.2", "--digest", &digest(), "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let run = tollgate_in(&repo, &["promote", "shop-api", "--to", "test", "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    std::fs::create_dir_all(dir.path().join("repo/.tollgate")).unwrap();
    std::fs::write(dir.path().join("repo/.tollgate/allowed_signers"), &keys.allowed_signers).unwrap();
    let config_path = dir.path().join("repo/tollgate.yaml");
    let config = std::fs::read_to_string(&config_path).unwrap();
    std::fs::write(&config_path, format!("{config}trust:\n  allowed_signers: .tollgate/allowed_signers\n{trust_yaml}")).unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "require signatures"]);
    (dir, repo)
}

fn approve(repo: &str, key: &Path, extra: &[&str]) -> crate::support::Run {
    let mut args = vec!["approve", "shop-api", "--to", "prod", "--key", key.to_str().unwrap(), "--at", EARLIER];
    args.extend_from_slice(extra);
    tollgate_in(repo, &args)
}

#[test]
fn prod_requiring_signed_approvals_refuses_typed_names_and_allows_two_signed_approvals() {
    let keys = keys();
    let (dir, repo) = trusted_repo(&keys, "  environments:\n    prod: { signed_approvals: true }\n");
    let run = tollgate_in(&repo, &["check-config"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    let before = snapshot(&repo);
    let run = tollgate_in(&repo, &["promote", "shop-api", "--to", "prod", "--actor", "alice", "--approval", "bob", "--approval", "carol", "--at", TUESDAY]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("prod requires signed approvals (trust.environments.prod.signed_approvals)"), "{}", run.stderr);
    assert!(run.stderr.contains("tollgate approve shop-api --to prod"), "{}", run.stderr);
    assert_eq!(snapshot(&repo), before);

    // No signed approvals yet: approval-count sees none.
    let run = tollgate_in(&repo, &["promote", "shop-api", "--to", "prod", "--actor", "alice", "--at", TUESDAY]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("prod needs 2 approvals of 1.4.2; have none"), "{}", run.stdout);

    // An unknown key is refused by approve itself, and nothing is stored.
    let run = approve(&repo, &keys.mallory, &["--principal", "mallory"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("would not count, so it was not stored") && run.stderr.contains("not in the allowed signers"), "{}", run.stderr);

    let file = dir.path().join("carol.approval");
    let run = approve(&repo, &keys.bob, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("approved shop-api 1.4.2 (sha256:abab") && run.stdout.contains("into prod as bob (key SHA256:"), "{}", run.stdout);
    let run = approve(&repo, &keys.carol, &["--approval-file", file.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    // The file tollgate wrote verifies with OpenSSH itself.
    let content = std::fs::read_to_string(&file).unwrap();
    let signed = SignedApproval::parse_all(&content).unwrap().remove(0);
    assert!(ssh_keygen_verify(&keys.allowed_file, "carol", "tollgate-approval", &signed.signature, signed.text.as_bytes()));
    assert!(!ssh_keygen_verify(&keys.allowed_file, "carol", "tollgate-approval", &signed.signature, signed.text.replace("1.4.2", "1.4.3").as_bytes()));

    let run = tollgate_in(&repo, &["approvals", "shop-api", "--to", "prod", "--at", TUESDAY, "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("a promotion would take 1.4.2 sha256:abab"), "{}", run.stdout);
    assert!(run.stdout.contains("  ok    bob 1.4.2 at 2026-01-06T09:00:00Z: verified as bob (key SHA256:"), "{}", run.stdout);
    assert!(run.stdout.ends_with("2 of 2 count (as approval-count counts them)\n"), "{}", run.stdout);

    let run = tollgate_in(&repo, &["promote", "shop-api", "--to", "prod", "--actor", "alice", "--at", TUESDAY, "-o", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let decision: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let approvers: Vec<&str> = decision["transition"]["approvals"].as_array().unwrap().iter().map(|a| a["approver"].as_str().unwrap()).collect();
    assert_eq!(approvers, vec!["bob", "carol"]);

    let run = tollgate_in(&repo, &["verify", "HEAD"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("signed approvals: 2 re-verified"), "{}", run.stdout);

    // A rollback into prod needs signed approvals of the version it goes back to.
    let rollback = ["rollback", "shop-api", "--env", "prod", "--actor", "alice", "--at", TUESDAY, "--dry-run"];
    let run = tollgate_in(&repo, &rollback);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("prod needs 2 approvals of 1.4.1; have none"), "{}", run.stdout);
    for key in [&keys.bob, &keys.carol] {
        let run = approve(&repo, key, &["--version", "1.4.1"]);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        assert!(run.stdout.contains("approved shop-api 1.4.1 (sha256:1f2e3d4c"), "{}", run.stdout);
    }
    let run = tollgate_in(&repo, &rollback);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let run = approve(&repo, &keys.bob, &["--version", "9.9.9"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("nor is 9.9.9 a version to roll back to"), "{}", run.stderr);

    // A fresh clone re-checks the recorded signatures offline.
    let clone = dir.path().join("clone");
    let status = Command::new("git").args(["clone", "-q", &repo]).arg(&clone).status().unwrap();
    assert!(status.success());
    let clone = clone.to_str().unwrap().to_string();
    let run = tollgate_in(&clone, &["verify", "HEAD"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("signed approvals: 2 re-verified"), "{}", run.stdout);
}

#[test]
fn self_approval_through_a_second_key_of_the_requester_does_not_count() {
    let keys = keys();
    let (_dir, repo) = trusted_repo(&keys, "  environments:\n    prod: { signed_approvals: true }\n");
    assert_eq!(approve(&repo, &keys.bob, &[]).code, 0);
    let run = approve(&repo, &keys.alice_second, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("as alice"), "{}", run.stdout);
    let run = tollgate_in(&repo, &["promote", "shop-api", "--to", "prod", "--actor", "alice", "--at", TUESDAY]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("have 1: bob (sre)") && run.stdout.contains("ignored: alice approved their own promotion"), "{}", run.stdout);
}

#[test]
fn a_replayed_approval_does_not_count_for_the_next_version() {
    let keys = keys();
    let (_dir, repo) = trusted_repo(&keys, "  environments:\n    prod: { signed_approvals: true }\n");
    assert_eq!(approve(&repo, &keys.bob, &[]).code, 0);
    assert_eq!(approve(&repo, &keys.carol, &[]).code, 0);
    // 1.4.3 reaches test; the approvals of 1.4.2 are still stored.
    let run = tollgate_in(&repo, &["promote", "shop-api", "--to", "dev", "--version", "1.4.3", "--digest", &format!("sha256:{}", "cd".repeat(32)), "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(tollgate_in(&repo, &["promote", "shop-api", "--to", "test", "--actor", "alice"]).code, 0);
    let run = tollgate_in(&repo, &["promote", "shop-api", "--to", "prod", "--actor", "alice", "--at", TUESDAY]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("prod needs 2 approvals of 1.4.3; have none"), "{}", run.stdout);
    assert!(run.stderr.contains("signed approval by bob does not count: it approves version 1.4.2, but this promotion is version 1.4.3"), "{}", run.stderr);
}

#[test]
fn a_signed_promotion_commit_passes_git_verify_commit_and_unsigned_ones_are_refused_where_required() {
    let keys = keys();
    let (_dir, repo) = trusted_repo(&keys, "  environments:\n    prod: { signed_approvals: true, signed_commits: true }\n");
    assert_eq!(approve(&repo, &keys.bob, &[]).code, 0);
    assert_eq!(approve(&repo, &keys.carol, &[]).code, 0);

    // Git is not set up to sign: refused before anything is committed, saying how.
    let before = snapshot(&repo);
    let run = tollgate_in(&repo, &["promote", "shop-api", "--to", "prod", "--actor", "alice", "--at", TUESDAY]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("promotions into prod must be signed commits") && run.stderr.contains("git config gpg.format ssh"), "{}", run.stderr);
    assert_eq!(snapshot(&repo), before);

    git(&repo, &["config", "gpg.format", "ssh"]);
    git(&repo, &["config", "user.signingKey", keys.alice.to_str().unwrap()]);
    git(&repo, &["config", "commit.gpgsign", "true"]);
    // The signature makes the requester known: alice's key cannot promote as someone else.
    let run = tollgate_in(&repo, &["promote", "shop-api", "--to", "prod", "--actor", "mallory", "--at", TUESDAY]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("the requester is the signer: your key signs as alice, but the requester is \"mallory\"; pass --actor alice"), "{}", run.stderr);
    let run = tollgate_in(&repo, &["promote", "shop-api", "--to", "prod", "--actor", "alice", "--at", TUESDAY]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    let allowed = format!("gpg.ssh.allowedSignersFile={}", keys.allowed_file.display());
    let output = Command::new("git").args(["-C", &repo, "-c", &allowed, "verify-commit", "HEAD"]).output().unwrap();
    assert!(output.status.success(), "git verify-commit: {}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).contains("Good \"git\" signature for alice"), "{}", String::from_utf8_lossy(&output.stderr));
    let log = git(&repo, &["-c", &allowed, "log", "--show-signature", "-1"]);
    assert!(log.contains("Good \"git\" signature for alice with ED25519 key SHA256:"), "{log}");
    let run = tollgate_in(&repo, &["verify", "HEAD"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("commit signature: good signature by alice (key SHA256:"), "{}", run.stdout);

    // An unsigned promotion commit into prod (made around tollgate: the same promotion,
    // recommitted without a signature) fails verify.
    let head = git(&repo, &["rev-parse", "HEAD"]);
    git(&repo, &["reset", "-q", "--soft", "HEAD~1"]);
    git(&repo, &["-c", "commit.gpgsign=false", "commit", "-q", "-C", head.trim()]);
    let unsigned = git(&repo, &["rev-parse", "HEAD"]);
    assert_ne!(unsigned, head);
    let run = tollgate_in(&repo, &["verify", "HEAD"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("UNTRUSTED: prod requires signed commits; not signed"), "{}", run.stdout);

    // history marks it; it is never a rollback target.
    let run = tollgate_in(&repo, &["history", "--env", "prod"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let marked = format!("{}  ", &unsigned.trim()[..12]);
    let after = run.stdout.split(&marked).nth(1).unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(after.contains("    UNTRUSTED: prod requires signed commits; not signed\n"), "{}", run.stdout);
    assert_eq!(run.stdout.matches("UNTRUSTED").count(), 1, "{}", run.stdout);
    let run = tollgate_in(&repo, &["status"]);
    assert!(run.stdout.contains(&format!("UNTRUSTED: shop-api in prod arrived by {}: prod requires signed commits; not signed\n", &unsigned.trim()[..12])), "{}", run.stdout);
    let run = tollgate_in(&repo, &["rollback", "shop-api", "--env", "prod", "--to", &unsigned.trim()[..12], "--actor", "alice", "--dry-run", "--at", TUESDAY]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("never ran in prod according to the promotion history that counts"), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("left out: {} (1.4.2): prod requires signed commits; not signed", &unsigned.trim()[..12])), "{}", run.stderr);
}

#[test]
fn a_signed_plugin_loads_only_with_its_exact_bytes_and_plugin_info_shows_the_signer() {
    let keys = keys();
    let (dir, repo) = trusted_repo(&keys, "");
    let wasm = dir.path().join("repo/image_policy.wasm");
    std::fs::copy(plugin("image-policy"), &wasm).unwrap();
    let run = tollgate_in(&repo, &["plugin", "sign", wasm.to_str().unwrap(), "--key", keys.bob.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let signature = std::fs::read_to_string(dir.path().join("repo/image_policy.wasm.sig")).unwrap();
    assert!(ssh_keygen_verify(&keys.allowed_file, "bob", "tollgate-plugin", &signature, &std::fs::read(&wasm).unwrap()));

    let run = tollgate_in(&repo, &["plugin", "info", wasm.to_str().unwrap(), "--allowed-signers", keys.allowed_file.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("signed by:    bob (key SHA256:"), "{}", run.stdout);

    let config_path = dir.path().join("repo/tollgate.yaml");
    let config = std::fs::read_to_string(&config_path).unwrap().replace(
        "policies:\n",
        "policies:\n  - plugin: image_policy.wasm\n    signers: [bob]\n    config: { allowed_registries: [registry.example.com/] }\n",
    );
    std::fs::write(&config_path, config).unwrap();
    git(&repo, &["add", "tollgate.yaml"]);
    git(&repo, &["commit", "-q", "-m", "signed plugin"]);
    let plan = ["plan", "shop-api", "--to", "prod", "--actor", "alice", "--approval", "bob", "--approval", "carol", "--at", TUESDAY];
    let run = tollgate_in(&repo, &plan);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    // Other bytes under the same name, with the old signature: refused.
    std::fs::copy(plugin("hostile"), &wasm).unwrap();
    let run = tollgate_in(&repo, &plan);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("does not match the signed bytes") && run.stderr.contains("changed after signing"), "{}", run.stderr);
    let run = tollgate_in(&repo, &["plugin", "info", wasm.to_str().unwrap(), "--allowed-signers", keys.allowed_file.to_str().unwrap()]);
    assert!(run.stdout.contains("signed by:    INVALID:"), "{}", run.stdout);
    let run = tollgate_in(&repo, &["check-config"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("policies.0.signers: ") && run.stdout.contains("changed after signing"), "{}", run.stdout);
}

#[test]
fn approvals_pushed_from_two_clones_are_merged_on_the_remote() {
    let keys = keys();
    let (dir, repo) = trusted_repo(&keys, "  environments:\n    prod: { signed_approvals: true }\n");
    let remote = dir.path().join("remote.git");
    let status = Command::new("git").args(["clone", "-q", "--bare", &repo]).arg(&remote).status().unwrap();
    assert!(status.success());
    let clone = |name: &str| {
        let path = dir.path().join(name);
        assert!(Command::new("git").args(["clone", "-q"]).arg(&remote).arg(&path).status().unwrap().success());
        let path = path.to_str().unwrap().to_string();
        git(&path, &["config", "user.name", name]);
        git(&path, &["config", "user.email", &format!("{name}@example.com")]);
        path
    };
    let (bob, carol) = (clone("bob"), clone("carol"));
    let run = approve(&bob, &keys.bob, &["--push"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("pushed refs/tollgate/approvals to origin"), "{}", run.stdout);
    // carol's clone never fetched bob's approval: her push is rejected, merged, pushed again.
    let run = approve(&carol, &keys.carol, &["--push"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    let requester = clone("alice");
    git(&requester, &["fetch", "-q", "origin", "refs/tollgate/approvals:refs/tollgate/approvals"]);
    let run = tollgate_in(&requester, &["approvals", "shop-api", "--to", "prod", "--at", TUESDAY, "--actor", "alice"]);
    assert!(run.stdout.ends_with("2 of 2 count (as approval-count counts them)\n"), "{}{}", run.stdout, run.stderr);
    let run = tollgate_in(&requester, &["promote", "shop-api", "--to", "prod", "--actor", "alice", "--at", TUESDAY, "--push"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

#[test]
fn check_config_names_a_missing_or_broken_allowed_signers_file() {
    let keys = keys();
    let (dir, repo) = trusted_repo(&keys, "  environments:\n    prod: { signed_approvals: true }\n");
    let signers = dir.path().join("repo/.tollgate/allowed_signers");
    std::fs::write(&signers, format!("{}*@example.com cert-authority {}\n", keys.allowed_signers, keys.allowed_signers.lines().nth(1).unwrap().split_once(' ').unwrap().1)).unwrap();
    git(&repo, &["commit", "-q", "-am", "a CA line"]);
    let run = tollgate_in(&repo, &["check-config"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("trust.allowed_signers: .tollgate/allowed_signers (branch main):8: cert-authority (SSH certificates) is not supported"), "{}", run.stdout);

    git(&repo, &["rm", "-q", ".tollgate/allowed_signers"]);
    git(&repo, &["commit", "-q", "-m", "no signers"]);
    let run = tollgate_in(&repo, &["check-config"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("trust.allowed_signers: .tollgate/allowed_signers (trust.allowed_signers) does not exist on branch main; commit it there"), "{}", run.stdout);
    let run = tollgate_in(&repo, &["promote", "shop-api", "--to", "prod", "--actor", "alice", "--at", TUESDAY]);
    assert_eq!(run.code, 2, "a promotion that needs signatures fails closed: {}{}", run.stdout, run.stderr);
}

#[test]
fn approve_signs_through_ssh_agent_with_gits_signing_key() {
    let keys = keys();
    let (dir, repo) = trusted_repo(&keys, "  environments:\n    prod: { signed_approvals: true }\n");
    let socket = dir.path().join("agent.sock");
    /// Stops the agent this test started, whatever happens.
    struct Agent(std::process::Child);
    impl Drop for Agent {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let agent = Agent(Command::new("ssh-agent").arg("-D").arg("-a").arg(&socket).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
    for _ in 0..100 {
        if socket.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let added = Command::new("ssh-add").arg("-q").arg(&keys.bob).env("SSH_AUTH_SOCK", &socket).status().unwrap();
    assert!(added.success());
    // Only the agent holds the private key now; Git names the key literally, as with 1Password or a token.
    let public = std::fs::read_to_string(keys.bob.with_file_name("id_bob.pub")).unwrap();
    std::fs::remove_file(&keys.bob).unwrap();
    git(&repo, &["config", "user.signingKey", &format!("key::{}", public.trim())]);
    let socket_text = socket.to_str().unwrap().to_string();
    let run = crate::support::tollgate_env(
        &crate::support::shared_cache(),
        &["--repo", &repo, "approve", "shop-api", "--to", "prod", "--at", EARLIER],
        &[("SSH_AUTH_SOCK", &socket_text)],
    );
    drop(agent);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("into prod as bob (key SHA256:"), "{}", run.stdout);

    let run = tollgate_in(&repo, &["approvals", "shop-api", "--to", "prod", "--at", TUESDAY, "-o", "json"]);
    let listing: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(listing["counted"], 1);
    assert_eq!(listing["approvals"][0]["signer"]["principal"], "bob");
    assert_eq!(listing["approvals"][0]["statement"]["version"], "1.4.2");
}

#[test]
fn item_03_approvals_agrees_with_what_approval_count_counts() {
    let keys = keys();
    let (_dir, repo) = trusted_repo(&keys, "  environments:\n    prod: { signed_approvals: true }\n");
    for key in [&keys.bob, &keys.carol, &keys.alice] {
        let run = approve(&repo, key, &[]);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    }
    // alice requests: her own signed approval verifies, but approval-count does not count it.
    let run = tollgate_in(&repo, &["approvals", "shop-api", "--to", "prod", "--at", TUESDAY, "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("  SKIP  alice 1.4.2 at 2026-01-06T09:00:00Z: verified as alice (key SHA256:"), "{}", run.stdout);
    assert!(run.stdout.contains("but approval-count does not count it"), "{}", run.stdout);
    assert!(run.stdout.ends_with("2 of 3 count (as approval-count counts them)\n"), "{}", run.stdout);
    let json: serde_json::Value = serde_json::from_str(&tollgate_in(&repo, &["approvals", "shop-api", "--to", "prod", "--at", TUESDAY, "--actor", "alice", "-o", "json"]).stdout).unwrap();
    assert_eq!(json["counted"], 2);
    assert_eq!(json["counted_by"], "approval-count");

    let run = tollgate_in(&repo, &["promote", "shop-api", "--to", "prod", "--actor", "alice", "--at", TUESDAY]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let message = git(&repo, &["log", "-1", "--format=%B"]);
    assert!(message.contains("Tollgate-Approved-By: bob\nTollgate-Approved-By: carol\n"), "{message}");
    assert!(!message.contains("Tollgate-Approved-By: alice"), "{message}");
    let history = tollgate_in(&repo, &["history", "--env", "prod"]).stdout;
    assert!(history.contains("    approved by bob, carol\n    approvals no policy counted: alice\n"), "{history}");
    assert_eq!(tollgate_in(&repo, &["verify", "HEAD"]).code, 0);
}
