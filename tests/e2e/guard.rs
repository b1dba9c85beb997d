//! The branch guard (`tollgate verify BASE..HEAD`), on its own and as a real bare
//! repository's pre-receive hook.

use std::path::Path;
use std::process::Command;

use crate::support::{committed_repo, git, tollgate_in};

const VALUES: &str = "image:\n  repository: registry.example.com/shop/api\n  tag: \"VERSION\"\n";

/// `tollgate.yaml` for dev → prod with `trust` (YAML lines under `trust:`, may be empty).
fn config(trust: &str) -> String {
    format!(
        "environments: [dev, prod]\napplications:\n  shop-api:\n    image: registry.example.com/shop/api\n    environments:\n      \
         dev: {{ file: envs/dev/values.yaml, helm: {{ tag_path: image.tag }} }}\n      \
         prod: {{ file: envs/prod/values.yaml, helm: {{ tag_path: image.tag }} }}\npolicies: []\n{trust}"
    )
}

fn keygen(dir: &Path, name: &str) -> (String, String) {
    let path = dir.join(format!("id_{name}"));
    let status = Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"]).arg(&path).status().unwrap();
    assert!(status.success());
    (path.to_str().unwrap().to_string(), std::fs::read_to_string(path.with_extension("pub")).unwrap().trim().to_string())
}

fn hand_edit(repo: &str, file: &str, from: &str, to: &str) -> String {
    let path = Path::new(repo).join(file);
    std::fs::write(&path, std::fs::read_to_string(&path).unwrap().replace(from, to)).unwrap();
    git(repo, &["-c", "commit.gpgsign=false", "commit", "-q", "-am", "edit by hand"]);
    git(repo, &["rev-parse", "HEAD"]).trim().to_string()
}

#[test]
fn a_range_names_each_commit_that_changes_a_configured_location_without_counting() {
    let files = [
        ("tollgate.yaml".to_string(), config("")),
        ("envs/dev/values.yaml".to_string(), VALUES.replace("VERSION", "1.0.0")),
        ("envs/prod/values.yaml".to_string(), VALUES.replace("VERSION", "1.0.0")),
        ("README.md".to_string(), "# shop\n".to_string()),
    ];
    let (_dir, repo) = committed_repo(&files);
    let base = git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    assert_eq!(tollgate_in(&repo, &["promote", "shop-api", "--to", "dev", "--version", "1.1.0", "--actor", "alice"]).code, 0);
    std::fs::write(Path::new(&repo).join("README.md"), "# shop\n\nDocs.\n").unwrap();
    git(&repo, &["commit", "-q", "-am", "docs"]);
    let edit = hand_edit(&repo, "envs/prod/values.yaml", "1.0.0", "6.6.6");

    let run = tollgate_in(&repo, &["verify", &format!("{base}..HEAD")]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("ok      ") && lines[0].contains(" unsigned   promote shop-api 1.1.0 to dev"), "{}", run.stdout);
    assert!(lines.iter().any(|line| line.starts_with("ok      ") && line.contains(" unrelated  docs")), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("REFUSED {} refused    edit by hand\n    changes envs/prod/values.yaml (shop-api in prod) without a decision record", &edit[..12])), "{}", run.stdout);
    assert!(run.stdout.ends_with("1 of 3 commits refused\n"), "{}", run.stdout);
    let json: serde_json::Value = serde_json::from_str(&tollgate_in(&repo, &["verify", &format!("{base}..HEAD~1"), "-o", "json"]).stdout).unwrap();
    assert_eq!(json["passes"], true);
    assert_eq!(json["commits"].as_array().unwrap().len(), 2);

    // A merge may take a file from either side, but not write content of its own.
    git(&repo, &["reset", "-q", "--hard", "HEAD~1"]);
    git(&repo, &["checkout", "-q", "-b", "side", "HEAD~1"]);
    std::fs::write(Path::new(&repo).join("notes.txt"), "side\n").unwrap();
    git(&repo, &["add", "notes.txt"]);
    git(&repo, &["commit", "-q", "-m", "side notes"]);
    git(&repo, &["checkout", "-q", "main"]);
    git(&repo, &["merge", "-q", "--no-ff", "--no-commit", "side"]);
    std::fs::write(Path::new(&repo).join("envs/prod/values.yaml"), VALUES.replace("VERSION", "7.7.7")).unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "evil merge"]);
    let run = tollgate_in(&repo, &["verify", &format!("{base}..HEAD")]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("the merge itself changes envs/prod/values.yaml: its content is in none of the merged commits"), "{}", run.stdout);

    let run = tollgate_in(&repo, &["verify", "nothing..HEAD"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("nothing is not a commit"), "{}", run.stderr);
}

#[test]
fn a_pre_receive_hook_refuses_hand_edits_and_forged_records_and_accepts_tollgates_promotions() {
    let dir = tempfile::tempdir().unwrap();
    let (alice_key, alice_pub) = keygen(dir.path(), "alice");
    let signers = format!("alice namespaces=\"git\" {alice_pub}\n");
    let trust = "trust:\n  allowed_signers: .tollgate/allowed_signers\n  promoters: [alice]\n  signed_configuration: true\n  environments:\n    prod: { signed_commits: true }\n";
    let files = [
        ("tollgate.yaml".to_string(), config(trust)),
        (".tollgate/allowed_signers".to_string(), signers),
        ("envs/dev/values.yaml".to_string(), VALUES.replace("VERSION", "1.0.0")),
        ("envs/prod/values.yaml".to_string(), VALUES.replace("VERSION", "1.0.0")),
    ];
    let (seed_dir, seed) = committed_repo(&files);
    let remote = dir.path().join("remote.git").to_str().unwrap().to_string();
    git(&seed, &["clone", "-q", "--bare", &seed, &remote]);
    drop(seed_dir);
    // The hook guards every branch a push changes or creates; the objects are still quarantined.
    let hook = Path::new(&remote).join("hooks/pre-receive");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\nstatus=0\nwhile read old new ref; do\n  case \"$new\" in 0000000000000000000000000000000000000000) continue;; esac\n  \
             \"{}\" --repo . verify \"$old..$new\" || status=1\ndone\nexit $status\n",
            env!("CARGO_BIN_EXE_tollgate")
        ),
    )
    .unwrap();
    let mut permissions = std::fs::metadata(&hook).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&hook, permissions).unwrap();

    let work = dir.path().join("work").to_str().unwrap().to_string();
    git(&remote, &["clone", "-q", &remote, &work]);
    git(&work, &["config", "user.name", "alice"]);
    git(&work, &["config", "user.email", "alice@example.com"]);
    git(&work, &["config", "gpg.format", "ssh"]);
    git(&work, &["config", "user.signingKey", &alice_key]);
    git(&work, &["config", "commit.gpgsign", "true"]);
    let push = |args: &[&str]| Command::new("git").arg("-C").arg(&work).arg("push").args(args).output().unwrap();

    // tollgate's own promotions land, on main and on a new branch (all-zero base).
    for to in ["dev", "prod"] {
        let version: &[&str] = if to == "dev" { &["--version", "1.1.0"] } else { &[] };
        let mut args = vec!["promote", "shop-api", "--to", to, "--actor", "alice"];
        args.extend_from_slice(version);
        args.push("--push");
        let run = tollgate_in(&work, &args);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    }
    let run = tollgate_in(&work, &["promote", "shop-api", "--to", "dev", "--version", "1.2.0", "--actor", "alice", "--branch", "review", "--push"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(git(&remote, &["rev-parse", "main"]), git(&work, &["rev-parse", "main"]));

    // A hand edit is refused, on main and on a new branch.
    let accepted = git(&remote, &["rev-parse", "main"]);
    git(&work, &["checkout", "-q", "main"]);
    hand_edit(&work, "envs/prod/values.yaml", "1.1.0", "9.9.9");
    for target in ["main", "HEAD:refs/heads/hotfix"] {
        let output = push(&["-q", "origin", target]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{stderr}");
        assert!(stderr.contains("changes envs/prod/values.yaml (shop-api in prod) without a decision record"), "{stderr}");
    }
    assert_eq!(git(&remote, &["rev-parse", "main"]), accepted);
    assert!(git(&remote, &["branch", "--list", "hotfix"]).is_empty());
    git(&work, &["reset", "-q", "--hard", "origin/main"]);

    // A forged record where prod promotion commits must be signed: made by tollgate under a
    // weaker configuration of mallory's own, in a commit nobody signed.
    let weak = dir.path().join("weak.yaml");
    std::fs::write(&weak, config("")).unwrap();
    git(&work, &["config", "commit.gpgsign", "false"]);
    git(&work, &["config", "--unset", "gpg.format"]);
    let run = tollgate_in(&work, &["--config", weak.to_str().unwrap(), "promote", "shop-api", "--to", "dev", "--version", "2.0.0", "--actor", "mallory"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let run = tollgate_in(&work, &["--config", weak.to_str().unwrap(), "promote", "shop-api", "--to", "prod", "--actor", "mallory"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let output = push(&["-q", "origin", "main"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("ok      ") && stderr.contains(" unsigned   promote shop-api 2.0.0 to dev"), "dev does not require signed commits: {stderr}");
    assert!(stderr.contains("prod requires signed commits; not signed"), "{stderr}");
    assert_eq!(git(&remote, &["rev-parse", "main"]), accepted);

    // A configuration change needs a promoter's signature here.
    git(&work, &["reset", "-q", "--hard", "origin/main"]);
    let config_file = Path::new(&work).join("tollgate.yaml");
    std::fs::write(&config_file, std::fs::read_to_string(&config_file).unwrap().replace("prod: { signed_commits: true }", "prod: {}")).unwrap();
    git(&work, &["commit", "-q", "-am", "relax prod"]);
    let output = push(&["-q", "origin", "main"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("changes tollgate.yaml without a promoter's signature, which trust.signed_configuration requires (not signed)"), "{stderr}");
    git(&work, &["config", "gpg.format", "ssh"]);
    git(&work, &["commit", "-q", "--amend", "-S", "--no-edit"]);
    let output = push(&["-q", "origin", "main"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}
