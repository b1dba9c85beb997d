//! `tollgate demo`: build an example GitOps repository and walk through a promotion story
//! with the real engine, policies and Git, printing what a user would see at each step.

use std::path::{Path, PathBuf};

use crate::promotion::workspace::Workspace;
use crate::exit::Failure;
use crate::promotion::request::{PlanRequest, RollbackTarget};
use crate::report::{self, BasicFormat, OutputFormat, StatusFormat, VerifyFormat};
use crate::runtime::Runtime;
use crate::transition::Approval;

const OLD_DIGEST: &str = "sha256:1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a7988";
const NEW_DIGEST: &str = "sha256:9a8b7c6d5e4f30219a8b7c6d5e4f30219a8b7c6d5e4f30219a8b7c6d5e4f3021";

/// The example repository's files.
fn files() -> Vec<(String, String)> {
    let mut files = vec![("tollgate.yaml".to_string(), CONFIG.to_string())];
    for env in ["dev", "test", "prod"] {
        files.push((format!("envs/{env}/shop-api/values.yaml"), values(env)));
        files.push((format!("envs/{env}/shop-web/kustomization.yaml"), kustomization(env)));
    }
    files.push(("envs/prod/erp/readiness.yaml".to_string(), READINESS.to_string()));
    files.push(("base/shop-web/kustomization.yaml".to_string(), "resources:\n  - deployment.yaml\n".to_string()));
    files.push(("base/shop-web/deployment.yaml".to_string(), WEB_DEPLOYMENT.to_string()));
    files.push(("README.md".to_string(), "# shop GitOps (tollgate demo)\n\nDesired state per environment under envs/.\n".to_string()));
    files
}

const CONFIG: &str = r#"# tollgate configuration of the shop GitOps repository
branch: main
# The demo replays a week of promotions, so promote takes --at; a real repository leaves
# this off and promotions decide as of now.
allow_requested_at: true
environments: [dev, test, prod]
applications:
  shop-api:
    image: registry.example.com/shop/api
    environments:
      dev:  { file: envs/dev/shop-api/values.yaml,  helm: { tag_path: image.tag, digest_path: image.digest } }
      test: { file: envs/test/shop-api/values.yaml, helm: { tag_path: image.tag, digest_path: image.digest } }
      prod: { file: envs/prod/shop-api/values.yaml, helm: { tag_path: image.tag, digest_path: image.digest } }
  shop-web:
    image: registry.example.com/shop/web
    environments:
      dev:  { file: envs/dev/shop-web/kustomization.yaml,  kustomize: {} }
      test: { file: envs/test/shop-web/kustomization.yaml, kustomize: {} }
      prod: { file: envs/prod/shop-web/kustomization.yaml, kustomize: {} }
policies:
  - plugin: builtin:approval-count
    environments: [prod]
    config:
      environments:
        prod:
          required: 2
          groups: { sre: [bob, dana] }
          group_minimums: { sre: 1 }
          max_age: 24h
  - plugin: builtin:change-window
    environments: [prod]
    config:
      environments:
        prod:
          timezone: Europe/Berlin
          windows:
            - { days: [mon, tue, wed, thu], start: "09:00", end: "16:00" }
          freezes:
            - { from: "2026-12-18 18:00", until: "2027-01-05 09:00", reason: year-end close }
          rollbacks: outside-windows
  - plugin: builtin:secret-scope
    config: SECRET_SCOPE_CONFIG
  - plugin: builtin:erp-readiness
    environments: [prod]
    config:
      environments:
        prod: { readiness_file: "envs/{env}/erp/readiness.yaml" }
  # Let an artifact run a while in test before prod. Not enabled in the demo, whose story
  # promotes to prod on the day it reached test; an incident ticket could skip the wait.
  # - plugin: builtin:soak-time
  #   environments: [prod]
  #   config:
  #     default: { min: 24h, break_glass: true }
  # Promote only what is healthy where it runs now. Not enabled in the demo, which has no
  # Argo CD or Alertmanager to ask. tollgate reads the Argo CD token from ARGOCD_TOKEN and
  # sends it to that origin only; the plugin never sees it, and records name only the variable.
  # - plugin: builtin:deployment-health
  #   environments: [prod]
  #   http_origins: [https://argocd.example.com, https://alertmanager.example.com]
  #   credentials:
  #     https://argocd.example.com: { bearer: { env: ARGOCD_TOKEN } }
  #   config:
  #     environments:
  #       prod:                      # what the source of a prod promotion (test) must show
  #         argocd: { url: https://argocd.example.com, application: "{app}-{env}" }
  #         alertmanager:
  #           url: https://alertmanager.example.com
  #           matchers: ['env="{env}"', 'app="{app}"', 'severity=~"critical|warning"']
  #         rollbacks: exempt
"#;

const WEB_DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: shop-web\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: registry.example.com/shop/web:2.0.0\n          envFrom:\n            - configMapRef: { name: shop-web }\n";

const READINESS: &str = "# Maintained by the ERP team: is ERP ready for changes in prod?\nstatus: ready\nmaintenance:\n  - { start: 2026-01-10T20:00:00Z, end: 2026-01-11T02:00:00Z, reason: SAP kernel upgrade }\n";

fn values(env: &str) -> String {
    format!(
        "# shop-api in {env} (Helm values)\nreplicaCount: {}\nimage:\n  repository: registry.example.com/shop/api\n  tag: \"1.4.1\"   # set by tollgate promotions\n  digest: {OLD_DIGEST}\nenv:\n  - name: DB_PASSWORD\n    valueFrom:\n      secretKeyRef: {{ name: {env}-db, key: password }}\n",
        if env == "prod" { 3 } else { 1 }
    )
}

fn kustomization(env: &str) -> String {
    format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: shop-{env}\nresources:\n  - ../../../base/shop-web\nimages:\n  - name: registry.example.com/shop/web\n    newTag: 2.0.0\n"
    )
}

/// Create the example repository in `dir` (which must not exist or be empty).
pub fn create_repository(dir: &Path, secret_scope_config: &str) -> Result<(), Failure> {
    if dir.exists() && std::fs::read_dir(dir).map(|mut entries| entries.next().is_some()).unwrap_or(true) {
        return Err(Failure::bad_input(format!("{} is not empty; give a new directory", dir.display())));
    }
    let fail = |error: &dyn std::fmt::Display| Failure::bad_input(format!("{}: {error}", dir.display()));
    let mut options = git2::RepositoryInitOptions::new();
    options.initial_head("main");
    let repo = git2::Repository::init_opts(dir, &options).map_err(|error| fail(&error))?;
    for (path, content) in files() {
        let content = content.replace("SECRET_SCOPE_CONFIG", secret_scope_config);
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("files live in a directory")).map_err(|error| fail(&error))?;
        std::fs::write(&path, content).map_err(|error| fail(&error))?;
    }
    let mut index = repo.index().map_err(|error| fail(&error))?;
    index.add_all(["*"], git2::IndexAddOption::DEFAULT, None).map_err(|error| fail(&error))?;
    index.write().map_err(|error| fail(&error))?;
    let tree = repo.find_tree(index.write_tree().map_err(|error| fail(&error))?).map_err(|error| fail(&error))?;
    let signature = git2::Signature::now("platform team", "platform@example.com").map_err(|error| fail(&error))?;
    repo.commit(Some("HEAD"), &signature, &signature, "initial desired state: shop-api 1.4.1 and shop-web 2.0.0 everywhere", &tree, &[])
        .map_err(|error| fail(&error))?;
    let mut config = repo.config().map_err(|error| fail(&error))?;
    config.set_str("user.name", "platform team").map_err(|error| fail(&error))?;
    config.set_str("user.email", "platform@example.com").map_err(|error| fail(&error))?;
    Ok(())
}

/// The secret-scope configuration the demo uses.
pub const SECRET_SCOPE_CONFIG: &str = "{ environments: { dev: { allow: [\"k8s:dev-*\"] }, test: { allow: [\"k8s:test-*\"] }, prod: { allow: [\"k8s:prod-*\"] } } }";

fn at(time: &str) -> i64 {
    time.parse::<jiff::Timestamp>().expect("demo times are valid").as_second()
}

fn approval(name: &str) -> Approval {
    Approval { approver: name.to_string(), at: None, version: String::new(), group: None, signed: None }
}

/// Run the story in `dir` (a new temporary directory when `None`); returns the repository path.
pub fn run(dir: Option<&Path>, runtime: Runtime, out: &mut dyn FnMut(&str)) -> Result<PathBuf, Failure> {
    let dir = match dir {
        Some(dir) => dir.to_path_buf(),
        None => {
            let base = std::env::temp_dir().join(format!("tollgate-demo-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&base);
            base
        }
    };
    create_repository(&dir, SECRET_SCOPE_CONFIG)?;
    let workspace = Workspace::open(&dir, None, None, runtime)?;
    out(&format!("Created an example GitOps repository in {}\n(dev → test → prod; shop-api as Helm values, shop-web as Kustomize; four standard policies)\n\n", dir.display()));

    step(out, "What is deployed where? (read from Git alone)", "tollgate status");
    out(&report::status(workspace.config.graph(), &workspace.status()?, StatusFormat::Text));

    let base = PlanRequest { app: "shop-api".into(), actor: "alice".into(), actor_given: true, at_given: true, ..PlanRequest::default() };
    let promote = |title: &str, command: &str, request: PlanRequest, out: &mut dyn FnMut(&str)| -> Result<(), Failure> {
        step(out, title, command);
        out(&render_promotion(&workspace.promote(&request, None, None)?));
        Ok(())
    };
    promote(
        "A new build of shop-api enters dev",
        "tollgate promote shop-api --to dev --version 1.4.2 --digest sha256:9a8b… --actor alice",
        PlanRequest { to_env: "dev".into(), version: Some("1.4.2".into()), digest: Some(NEW_DIGEST.into()), at: at("2026-01-05T09:00:00Z"), ..base.clone() },
        out,
    )?;
    promote(
        "It is promoted to test (the artifact comes from dev, digest included)",
        "tollgate promote shop-api --to test --actor alice",
        PlanRequest { to_env: "test".into(), at: at("2026-01-05T11:00:00Z"), ..base.clone() },
        out,
    )?;
    promote(
        "Promotion to prod without approvals: denied, nothing is committed",
        "tollgate promote shop-api --to prod --actor alice",
        PlanRequest { to_env: "prod".into(), at: at("2026-01-06T09:30:00Z"), ..base.clone() },
        out,
    )?;
    let approved = PlanRequest { to_env: "prod".into(), approvals: vec![approval("bob"), approval("carol")], ..base.clone() };
    promote(
        "With approvals, but on Friday evening: outside the change window",
        "tollgate promote shop-api --to prod --actor alice --approval bob --approval carol --at 2026-01-09T17:30:00+01:00",
        PlanRequest { at: at("2026-01-09T17:30:00+01:00"), ..approved.clone() },
        out,
    )?;
    promote(
        "With approvals, on Tuesday morning: allowed and committed",
        "tollgate promote shop-api --to prod --actor alice --approval bob --approval carol --at 2026-01-06T10:30:00+01:00",
        PlanRequest { at: at("2026-01-06T10:30:00+01:00"), ..approved.clone() },
        out,
    )?;
    promote(
        "Something is wrong in prod: roll back to the previous version (gated like a promotion)",
        "tollgate rollback shop-api --env prod --actor dana --approval bob --approval carol --at 2026-01-06T11:00:00+01:00",
        PlanRequest {
            actor: "dana".into(),
            rollback: Some(RollbackTarget::Previous),
            at: at("2026-01-06T11:00:00+01:00"),
            ..approved.clone()
        },
        out,
    )?;

    step(out, "What is in prod now?", "tollgate status");
    out(&report::status(workspace.config.graph(), &workspace.status()?, StatusFormat::Text));
    step(out, "The promotion log, from the decision records in the commits", "tollgate history");
    out(&report::history(&workspace.log()?, BasicFormat::Text));
    let head = workspace.tip()?.commit.to_string();
    step(out, "Check the last promotion commit and re-run its policies as its base configured them", "tollgate verify HEAD");
    out(&report::verification(&workspace.verify(&head, false)?, VerifyFormat::Text));
    signed_approvals(workspace, &dir, out)?;
    out(&format!("\nThe repository is at {}\nInspect it with: git -C {} log --stat (each promotion commit holds its decision record under .tollgate/decisions/)\n", dir.display(), dir.display()));
    Ok(dir)
}

/// The last part of the story: prod starts requiring signed approvals; bob and carol approve
/// with SSH keys made for the demo (skipped when ssh-keygen is not installed).
fn signed_approvals(workspace: Workspace, dir: &Path, out: &mut dyn FnMut(&str)) -> Result<(), Failure> {
    use super::trust::{ApprovalTarget, ApproveArgs, approve};
    let fail = |error: &dyn std::fmt::Display| Failure::bad_input(format!("demo: {error}"));
    let keys = tempfile::tempdir().map_err(|error| fail(&error))?;
    let mut allowed = String::from("# who may sign approvals (ssh-keygen(1) ALLOWED SIGNERS)\n");
    for name in ["bob", "carol"] {
        let key = keys.path().join(name);
        let made = std::process::Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"]).arg(&key).output();
        if !made.is_ok_and(|output| output.status.success()) {
            out("\n== Signed approvals: skipped (ssh-keygen not found; install openssh-client)\n");
            return Ok(());
        }
        let public = std::fs::read_to_string(key.with_extension("pub")).map_err(|error| fail(&error))?;
        allowed.push_str(&format!("{name} namespaces=\"tollgate-approval\" {}\n", public.trim()));
    }
    step(out, "prod now requires signed approvals: keys in .tollgate/allowed_signers, trust: in tollgate.yaml", "git commit -m \"require signed approvals in prod\"");
    let config_text = format!(
        "{}trust:\n  allowed_signers: .tollgate/allowed_signers\n  environments:\n    prod: {{ signed_approvals: true }}\n",
        CONFIG.replace("SECRET_SCOPE_CONFIG", SECRET_SCOPE_CONFIG)
    );
    commit_files(dir, &[(".tollgate/allowed_signers", &allowed), ("tollgate.yaml", &config_text)], "require signed approvals in prod").map_err(|error| fail(&error))?;
    out(&allowed);
    let Workspace { runtime, .. } = workspace;
    let workspace = Workspace::open(dir, None, None, runtime)?;
    let when = "2026-01-07T10:00:00+01:00";
    let request = PlanRequest {
        app: "shop-api".into(),
        to_env: "prod".into(),
        actor: "alice".into(),
        actor_given: true,
        at: at(when),
        ..PlanRequest::default()
    };
    step(out, "Typed approvals no longer count in prod", "tollgate promote shop-api --to prod --actor alice --approval bob --approval carol");
    let typed = PlanRequest { approvals: vec![approval("bob"), approval("carol")], ..request.clone() };
    if let Err(refused) = crate::promotion::approvals::request_approvals(&workspace, &typed, &[]) {
        out(&format!("tollgate: {}\n", refused.message));
    }
    for name in ["bob", "carol"] {
        let key = keys.path().join(name);
        step(out, &format!("{name} approves with their SSH key"), &format!("tollgate approve shop-api --to prod --key ~/.ssh/{name}"));
        let args = ApproveArgs {
            target: ApprovalTarget { app: "shop-api".into(), to: "prod".into(), from: None, version: None, digest: None },
            key: Some(key.display().to_string()),
            principal: None,
            approval_file: None,
            push: None,
            at: Some("2026-01-07T08:30:00Z".into()),
        };
        out(&approve(&workspace, &args)?);
    }
    step(out, "With two verified signed approvals: allowed and committed", &format!("tollgate promote shop-api --to prod --actor alice --at {when}"));
    let signed = PlanRequest { approvals: crate::promotion::approvals::request_approvals(&workspace, &request, &[])?, ..request };
    out(&render_promotion(&workspace.promote(&signed, None, None)?));
    let head = workspace.tip()?.commit.to_string();
    step(out, "verify re-checks the recorded signatures offline", "tollgate verify HEAD");
    out(&report::verification(&workspace.verify(&head, false)?, VerifyFormat::Text));
    Ok(())
}

/// Commit `files` on the checked-out branch of the demo repository.
fn commit_files(dir: &Path, files: &[(&str, &str)], message: &str) -> Result<(), git2::Error> {
    let repo = git2::Repository::open(dir)?;
    for (path, content) in files {
        let full = dir.join(path);
        std::fs::create_dir_all(full.parent().expect("a file in the repository")).map_err(|error| git2::Error::from_str(&error.to_string()))?;
        std::fs::write(&full, content).map_err(|error| git2::Error::from_str(&error.to_string()))?;
    }
    let mut index = repo.index()?;
    for (path, _) in files {
        index.add_path(Path::new(path))?;
    }
    index.write()?;
    let tree = repo.find_tree(index.write_tree()?)?;
    let parent = repo.head()?.peel_to_commit()?;
    let signature = repo.signature()?;
    repo.commit(Some("HEAD"), &signature, &signature, message, &tree, &[&parent])?;
    Ok(())
}

fn step(out: &mut dyn FnMut(&str), title: &str, command: &str) {
    out(&format!("\n== {title}\n$ {command}\n"));
}

/// The text report of a promotion of one application into one environment.
fn render_promotion(batch: &crate::promotion::pipeline::Batch) -> String {
    batch.single().map(|decided| report::decision::render(decided, batch.commit.as_deref(), false, OutputFormat::Text)).unwrap_or_default()
}
