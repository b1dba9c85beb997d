//! Configuration that scales and overlays that lack the key, as a user meets them: one
//! `file:` template for every application and environment (with skips and an override),
//! check-config's report of every resolved file that does not exist (on the template's line
//! and column), and the first promotion into overlays without `image.tag` or an `images:`
//! entry, adding only the new lines (checked with `cmp` once they are taken out again).

use std::path::Path;
use std::process::Command;

use crate::support::{git, snapshot, tollgate_in};

const APPS: [&str; 3] = ["api", "worker", "web"];
const ENVS: [&str; 4] = ["dev", "test", "load", "prod"];

const TEMPLATED: &str = "environments: [dev, test, load, prod]\ndefaults: { file: \"envs/{env}/{app}/values.yaml\", helm: { tag_path: image.tag } }\napplications:\n  api: { image: registry.example.com/shop/api }\n  worker: { image: registry.example.com/shop/worker }\n  web:\n    image: registry.example.com/shop/web\n    skip: [load]\n";

/// A repository on branch `main` holding `files`, with a committer identity.
fn repository(files: &[(String, String)]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let repo = repo.to_str().unwrap().to_string();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["config", "user.name", "Test"]);
    git(&repo, &["config", "user.email", "test@example.com"]);
    for (path, content) in files {
        let path = Path::new(&repo).join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "initial"]);
    (dir, repo)
}

fn values(app: &str, tag: &str) -> String {
    format!("image:\n  repository: registry.example.com/shop/{app}\n  tag: \"{tag}\"\n")
}

fn templated_repository() -> (tempfile::TempDir, String) {
    let mut files = vec![("tollgate.yaml".to_string(), TEMPLATED.to_string())];
    for app in APPS {
        for env in ENVS {
            if (app, env) != ("web", "load") {
                files.push((format!("envs/{env}/{app}/values.yaml"), values(app, "1.0.0")));
            }
        }
    }
    repository(&files)
}

#[test]
fn templates_resolve_every_file_of_a_generated_repository() {
    let (_dir, repo) = templated_repository();
    let run = tollgate_in(&repo, &["check-config", "-o", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let locations = report["locations"].as_array().unwrap();
    // Three applications in four environments, less web's skipped load: 11 files, one line.
    assert_eq!(locations.len(), 11, "{}", run.stdout);
    for location in locations {
        let (app, env) = (location["application"].as_str().unwrap(), location["environment"].as_str().unwrap());
        assert_eq!(location["file"], format!("envs/{env}/{app}/values.yaml"));
        assert_eq!(location["version"], "1.0.0");
    }
    assert!(!locations.iter().any(|location| location["application"] == "web" && location["environment"] == "load"));
    assert_eq!(report["missing_files"], serde_json::json!([]));

    // The resolved files are what promotions edit.
    let run = tollgate_in(&repo, &["promote", "worker", "--to", "dev", "--version", "1.1.0", "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let run = tollgate_in(&repo, &["promote", "worker", "--to", "test", "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(git(&repo, &["show", "--name-only", "--format=", "HEAD", "--", "envs"]).trim(), "envs/test/worker/values.yaml");
    assert_eq!(git(&repo, &["show", "HEAD:envs/test/worker/values.yaml"]), values("worker", "1.1.0"));
    // web does not run in load: its promotion into prod comes from test, without --from.
    for env in ["dev", "test"] {
        let mut args = vec!["promote", "web", "--to", env, "--actor", "alice"];
        if env == "dev" {
            args.extend(["--version", "3.0.0"]);
        }
        let run = tollgate_in(&repo, &args);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    }
    let run = tollgate_in(&repo, &["promote", "web", "--to", "prod", "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(crate::support::record_at(&repo, "HEAD")["transition"]["from_env"], "test");
    assert_eq!(git(&repo, &["show", "HEAD:envs/prod/web/values.yaml"]), values("web", "3.0.0"));
    // worker runs in load, so its prod still comes from load.
    let run = tollgate_in(&repo, &["plan", "worker", "--to", "prod"]);
    assert!(run.stdout.starts_with("promote worker 1.0.0 from load to prod "), "{}{}", run.stdout, run.stderr);
    let run = tollgate_in(&repo, &["status", "-o", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let status: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let web = status["applications"].as_array().unwrap().iter().find(|app| app["app"] == "web").unwrap();
    assert!(web["environments"].get("load").is_none(), "web skips load: {web}");
}

#[test]
fn check_config_reports_every_missing_template_file_with_line_and_column() {
    let (_dir, repo) = templated_repository();
    git(&repo, &["rm", "-q", "envs/prod/worker/values.yaml", "envs/test/web/values.yaml"]);
    git(&repo, &["commit", "-q", "-m", "lose two files"]);
    let run = tollgate_in(&repo, &["check-config"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    for (app, env) in [("web", "test"), ("worker", "prod")] {
        let expected = format!(
            "tollgate.yaml:2:13: error: defaults.file: envs/{env}/{app}/values.yaml does not exist on branch main ("
        );
        let line = run.stdout.lines().find(|line| line.starts_with(&expected)).unwrap_or_else(|| panic!("no {expected:?} in\n{}", run.stdout));
        assert!(line.ends_with(&format!(") ({app} in {env}, from this template); commit the file, fix the template, or add {env} to applications.{app}.skip")), "{line}");
    }
    assert!(run.stdout.ends_with("\ninvalid: 2 errors, 0 warnings\n"), "{}", run.stdout);
    let run = tollgate_in(&repo, &["plan", "worker", "--to", "prod"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("envs/prod/worker/values.yaml does not exist on main; create it or fix defaults.file"), "{}", run.stderr);
    let run = tollgate_in(&repo, &["check-config", "-o", "json"]);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        report["missing_files"],
        serde_json::json!([
            { "application": "web", "environment": "test", "file": "envs/test/web/values.yaml", "field": "defaults.file", "from_template": true, "line": 2, "column": 13 },
            { "application": "worker", "environment": "prod", "file": "envs/prod/worker/values.yaml", "field": "defaults.file", "from_template": true, "line": 2, "column": 13 },
        ])
    );

    // A template that could never name a file in the repository is a configuration error.
    let config = Path::new(&repo).join("tollgate.yaml").to_str().unwrap().to_string();
    std::fs::write(&config, TEMPLATED.replace("envs/{env}/{app}", "envs/{env}/../{app}")).unwrap();
    let run = tollgate_in(&repo, &["--config", &config, "check-config"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with(&format!("{config}:2:13: error: defaults.file: \"envs/{{env}}/../{{app}}/values.yaml\" must be a normalised path")),
        "{}",
        run.stdout
    );
}

/// `edited` with `inserted` (whole lines) taken out is byte for byte `original`, by `cmp`.
fn assert_only_lines_inserted(original: &str, edited: &str, inserted: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let mut kept = String::new();
    let mut removed = Vec::new();
    for line in edited.split_inclusive('\n') {
        if inserted.contains(&line.trim_end_matches('\n')) {
            removed.push(line.trim_end_matches('\n'));
        } else {
            kept.push_str(line);
        }
    }
    assert_eq!(removed, inserted, "the inserted lines, in order:\n{edited}");
    std::fs::write(dir.path().join("original"), original).unwrap();
    std::fs::write(dir.path().join("kept"), kept).unwrap();
    let cmp = Command::new("cmp").arg(dir.path().join("original")).arg(dir.path().join("kept")).output().expect("run cmp");
    assert!(cmp.status.success(), "{}\n{edited}", String::from_utf8_lossy(&cmp.stdout));
}

const OVERLAY_CONFIG: &str = "environments: [dev, prod]\napplications:\n  api:\n    image: registry.example.com/shop/api\n    environments:\n      dev: { file: chart/values.yaml, helm: { tag_path: image.tag } }\n      prod: { file: chart/values-production.yaml, helm: { tag_path: image.tag } }\n  web:\n    image: registry.example.com/shop/web\n    environments:\n      dev: { file: web/base/kustomization.yaml, kustomize: {} }\n      prod: { file: web/overlays/prod/kustomization.yaml, kustomize: {} }\n";
const HELM_OVERLAY: &str = "# production: more replicas, same image as the base values\nreplicaCount: 4\nimage:\n    pullPolicy: Always    # never a stale tag\nresources:\n    limits:\n        cpu: \"2\"\n";
const KUSTOMIZE_BASE: &str = "resources:\n- deployment.yaml\nimages:\n- name: registry.example.com/shop/web\n  newTag: 2.1.0\n";
const KUSTOMIZE_OVERLAY: &str = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../base   # the base names the image\npatches:\n  - path: replicas.yaml\n";

#[test]
fn an_overlay_key_is_inserted_with_every_other_byte_unchanged() {
    let (_dir, repo) = repository(&[
        ("tollgate.yaml".into(), OVERLAY_CONFIG.into()),
        ("chart/values.yaml".into(), values("api", "1.2.0")),
        ("chart/values-production.yaml".into(), HELM_OVERLAY.into()),
        ("web/base/kustomization.yaml".into(), KUSTOMIZE_BASE.into()),
        ("web/overlays/prod/kustomization.yaml".into(), KUSTOMIZE_OVERLAY.into()),
    ]);

    // Without the opt-in: refused, and the error says exactly what to write.
    let before = snapshot(&repo);
    let run = tollgate_in(&repo, &["promote", "api", "--to", "prod", "--actor", "alice"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("chart/values-production.yaml has no `image.tag` (an overlay that inherits it from a base values file?); to let the first promotion add it, write `helm: { tag_path: image.tag, insert: true }` at applications.api.environments.prod.helm in tollgate.yaml"),
        "{}",
        run.stderr
    );
    let run = tollgate_in(&repo, &["promote", "web", "--to", "prod", "--actor", "alice"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("write `kustomize: { image: registry.example.com/shop/web, insert: true }` at applications.web.environments.prod.kustomize"), "{}", run.stderr);
    let run = tollgate_in(&repo, &["check-config"]);
    assert!(run.stdout.contains("tollgate.yaml:7:51: error: applications.api.environments.prod.helm: chart/values-production.yaml has no `image.tag`"), "{}", run.stdout);
    assert_eq!(snapshot(&repo), before, "nothing changed");

    // Opted in on the protected branch: the first promotion adds the key.
    let opted_in = OVERLAY_CONFIG
        .replace("values-production.yaml, helm: { tag_path: image.tag }", "values-production.yaml, helm: { tag_path: image.tag, insert: true }")
        .replace("prod/kustomization.yaml, kustomize: {}", "prod/kustomization.yaml, kustomize: { insert: true }");
    std::fs::write(Path::new(&repo).join("tollgate.yaml"), opted_in).unwrap();
    git(&repo, &["commit", "-q", "-am", "let overlays take the tag"]);
    let run = tollgate_in(&repo, &["check-config"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let run = tollgate_in(&repo, &["status", "-o", "json"]);
    let status: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        status["applications"][0]["environments"]["prod"]["error"],
        "not set in chart/values-production.yaml yet; the first promotion adds it (insert: true)",
        "{}",
        run.stdout
    );

    let run = tollgate_in(&repo, &["promote", "api", "--to", "prod", "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let helm = git(&repo, &["show", "HEAD:chart/values-production.yaml"]);
    // Four-space indentation, as the file writes it, under the existing image: mapping.
    assert_only_lines_inserted(HELM_OVERLAY, &helm, &["    tag: \"1.2.0\""]);
    let record = crate::support::record_at(&repo, "HEAD");
    assert!(record["transition"].get("previous_artifact").is_none_or(serde_json::Value::is_null), "nothing was there before: {record}");
    let run = tollgate_in(&repo, &["verify", "HEAD"]);
    assert_eq!(run.code, 0, "the promotion that inserted the key checks out: {}{}", run.stdout, run.stderr);
    assert_eq!(std::fs::read_to_string(Path::new(&repo).join("chart/values-production.yaml")).unwrap(), helm, "work tree follows");

    let run = tollgate_in(&repo, &["promote", "web", "--to", "prod", "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let kustomize = git(&repo, &["show", "HEAD:web/overlays/prod/kustomization.yaml"]);
    // Sequences indented under their key, as resources: is.
    assert_only_lines_inserted(KUSTOMIZE_OVERLAY, &kustomize, &["images:", "  - name: registry.example.com/shop/web", "    newTag: \"2.1.0\""]);

    // From now on the key is there: the next promotion is an ordinary one-scalar edit.
    let run = tollgate_in(&repo, &["promote", "api", "--to", "dev", "--version", "1.3.0", "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let run = tollgate_in(&repo, &["promote", "api", "--to", "prod", "--actor", "alice"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(git(&repo, &["show", "HEAD:chart/values-production.yaml"]), helm.replace("1.2.0", "1.3.0"));
    let record = crate::support::record_at(&repo, "HEAD");
    assert_eq!(record["transition"]["previous_artifact"]["version"], "1.2.0", "{record}");
}
