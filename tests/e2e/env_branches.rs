//! Environments on branches of their own, as GitOps Promoter keeps them (`environment/dev`,
//! `environment/prod`): a location's `branch:` (examples/gitops-promoter/tollgate.yaml), read by
//! plan, status, check-config and check-proposal; a promotion call spanning two branches
//! refused; and the example's `WebRequestCommitStatus` against a real server on a loopback
//! port. Promotions committed on environment branches: `env_branch_promotions.rs`.

use crate::serve_support::{Server, token_file};
use crate::support::{committed_repo, git, snapshot, tollgate_in, workspace};

pub(crate) const IMAGE: &str = "registry.example.com/shop/api";
/// Appended to the example's policies: prod needs one approval, which a check has none of
/// (no signed approvals are configured), so a proposal into prod is denied by a policy.
const APPROVAL_POLICY: &str = "  - plugin: builtin:approval-count\n    environments: [prod]\n    config: { environments: { prod: { required: 1 } } }\n";

/// The hydrated manifest GitOps Promoter keeps for shop-api, running `version`.
pub(crate) fn manifest(version: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{ name: shop-api }}\nspec:\n  template:\n    spec:\n      containers:\n        - name: api\n          image: {IMAGE}:{version}\n"
    )
}

/// Commit shop-api's manifest at `version` on `branch`: a new branch off `from`, or, without
/// it, an orphan branch holding only the manifest. Returns the commit.
pub(crate) fn commit_on_branch(repo: &str, branch: &str, from: Option<&str>, version: &str) -> String {
    match from {
        Some(from) => git(repo, &["checkout", "--quiet", "-b", branch, from]),
        None => {
            git(repo, &["checkout", "--quiet", "--orphan", branch]);
            git(repo, &["rm", "-rfq", "."])
        }
    };
    let path = std::path::Path::new(repo).join("shop-api/manifest.yaml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, manifest(version)).unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["-c", "user.name=hydrator", "-c", "user.email=hydrator@example.com", "commit", "--quiet", "-m", &format!("hydrate shop-api {version}")]);
    let commit = git(repo, &["rev-parse", "HEAD"]).trim().to_string();
    git(repo, &["checkout", "--quiet", "main"]);
    commit
}

/// A repository laid out as GitOps Promoter keeps it: the example's tollgate.yaml (with
/// [`APPROVAL_POLICY`]) on main, shop-api 1.4.2 on environment/dev and 1.4.1 on
/// environment/prod.
fn promoter_repo() -> (tempfile::TempDir, String) {
    let example = std::fs::read_to_string(workspace().join("examples/gitops-promoter/tollgate.yaml")).unwrap();
    assert!(example.trim_end().ends_with("\"16:00\" }"), "policies are the example's last section");
    let (dir, repo) = committed_repo(&[("tollgate.yaml".into(), format!("{example}{APPROVAL_POLICY}")), ("README.md".into(), "DRY sources\n".into())]);
    commit_on_branch(&repo, "environment/dev", None, "1.4.2");
    commit_on_branch(&repo, "environment/prod", None, "1.4.1");
    (dir, repo)
}

#[test]
fn env_branches_plan_status_and_check_config_read_each_environment_from_its_branch() {
    let (_dir, repo) = promoter_repo();
    let run = tollgate_in(&repo, &["check-config"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    let run = tollgate_in(&repo, &["status", "-o", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let status: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let text = status.to_string();
    assert!(text.contains("\"1.4.2\"") && text.contains("\"1.4.1\""), "dev's and prod's versions, each from its branch: {text}");
    assert!(!text.contains("does not exist"), "{text}");

    // prod takes what dev runs, read from environment/dev; planned on environment/prod's tip.
    let plan = |extra: &[&str]| {
        let mut args = vec!["plan", "shop-api", "--to", "prod", "--actor", "alice", "-o", "json"];
        args.extend_from_slice(extra);
        let run = tollgate_in(&repo, &args);
        (run.code, serde_json::from_str::<serde_json::Value>(&run.stdout).unwrap_or_else(|_| panic!("{}{}", run.stdout, run.stderr)))
    };
    let (code, document) = plan(&[]);
    assert_eq!(code, 1, "{document}");
    assert_eq!(document["decision"], "deny");
    assert_eq!(document["transition"]["from_env"], "dev");
    assert_eq!(document["transition"]["artifact"]["version"], "1.4.2");
    assert_eq!(document["transition"]["previous_artifact"]["version"], "1.4.1");
    let (code, document) = plan(&["--approval", "bob"]);
    let approval_count = document["policies"].as_array().unwrap().iter().find(|policy| policy["name"] == "approval-count").cloned().unwrap_or_default();
    assert_eq!(approval_count["evaluation"]["decision"], "allow", "{document}");
    assert!(code == 0 || document["summary"].as_str().unwrap().contains("change-window"), "only the change window may deny: {document}");

    // One promotion commit lands on one branch: a call into dev and prod is refused before
    // anything is planned (exit 2), nothing changed.
    let before = snapshot(&repo);
    let run = tollgate_in(&repo, &["promote", "shop-api", "--to", "dev", "--to", "prod", "--version", "1.4.3", "--actor", "alice", "--approval", "bob"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("shop-api in dev lives on branch environment/dev and shop-api in prod on branch environment/prod: one promotion commit lands on one branch"),
        "{}",
        run.stderr
    );
    assert_eq!(snapshot(&repo), before);

    // A branch that does not exist names itself and the field that gave it.
    let config = std::fs::read_to_string(std::path::Path::new(&repo).join("tollgate.yaml")).unwrap();
    let wrong = std::path::Path::new(&repo).join("../wrong.yaml");
    std::fs::write(&wrong, config.replace("environment/{env}", "environments/{env}")).unwrap();
    let wrong = wrong.to_str().unwrap();
    let run = tollgate_in(&repo, &["--config", wrong, "plan", "shop-api", "--to", "prod", "--actor", "alice"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("branch environments/prod does not exist") && run.stderr.contains("fix defaults.branch in tollgate.yaml"), "{}", run.stderr);
    let run = tollgate_in(&repo, &["--config", wrong, "check-config"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("wrong.yaml:5:3: error: defaults.branch: branch environments/dev does not exist"), "{}{}", run.stdout, run.stderr);
}

/// The example's WebRequestCommitStatus: its request with GitOps Promoter's template filled in,
/// and its expression.
struct PromoterGate {
    body_template: String,
    expression: String,
}

fn promoter_gate() -> PromoterGate {
    let text = std::fs::read_to_string(workspace().join("examples/gitops-promoter/web-request-commit-status.yaml")).unwrap();
    let resource = serde_yaml::Deserializer::from_str(&text)
        .map(|document| serde_yaml::Value::deserialize(document).unwrap())
        .find(|document| document["kind"] == "WebRequestCommitStatus")
        .expect("the example holds a WebRequestCommitStatus");
    let request = &resource["spec"]["httpRequest"];
    assert_eq!(request["method"], "POST");
    assert!(request["urlTemplate"].as_str().unwrap().ends_with("/v1/check"));
    assert_eq!(request["authentication"]["bearer"]["secretRef"]["name"], "tollgate-token");
    PromoterGate { body_template: request["bodyTemplate"].as_str().unwrap().to_string(), expression: resource["spec"]["expression"].as_str().unwrap().to_string() }
}

impl PromoterGate {
    /// The body GitOps Promoter sends for the proposed commit `sha` into `branch`.
    fn body(&self, sha: &str, branch: &str) -> String {
        let body = self.body_template.replace("{{ .ReportedSha }}", sha).replace("{{ .Environment.Branch }}", branch);
        assert!(!body.contains("{{"), "every template action is filled in: {body}");
        body
    }

    /// The expression, clauses `Response.StatusCode == N` and `Response.Body.KEY == 'VALUE'`
    /// joined by `&&` (what the example uses), on an answer.
    fn passes(&self, status: u16, body: &serde_json::Value) -> bool {
        self.expression.split("&&").all(|clause| {
            let (left, right) = clause.trim().split_once(" == ").unwrap_or_else(|| panic!("unsupported clause {clause}"));
            match left.trim() {
                "Response.StatusCode" => right.trim().parse::<u16>().unwrap() == status,
                left => {
                    let key = left.strip_prefix("Response.Body.").unwrap_or_else(|| panic!("unsupported clause {clause}"));
                    body[key] == right.trim().trim_matches('\'')
                }
            }
        })
    }
}

use serde::Deserialize as _;

#[test]
fn env_branches_serve_check_answers_the_gitops_promoter_web_request_commit_status() {
    let (dir, repo) = promoter_repo();
    let server = Server::start(&repo, &[], &["--token-file", &token_file(dir.path()), "--allow-promote"]);
    let gate = promoter_gate();
    let check = |sha: &str, branch: &str| {
        let answer = server.call("POST", "/v1/check", Some(&gate.body(sha, branch)));
        let document = answer.json();
        (gate.passes(answer.status, &document), answer.status, document)
    };

    // dev is the root and has no policies: the hydrated 1.4.3 passes.
    let dev_next = commit_on_branch(&repo, "environment/dev-next", Some("environment/dev"), "1.4.3");
    let (passes, status, document) = check(&dev_next, "environment/dev");
    assert!(passes, "{status} {document}");
    let transition = &document["transitions"][0];
    assert_eq!((transition["environment"].as_str(), transition["version"].as_str()), (Some("dev"), Some("1.4.3")), "{document}");
    assert_eq!(transition["matches_promotion"], true);
    assert_eq!(transition["document"]["transition"]["requested_by"], "gitops-promoter");
    let cli = tollgate_in(&repo, &["check-proposal", &dev_next, "--branch", "environment/dev", "--actor", "gitops-promoter", "-o", "json"]);
    assert_eq!(cli.code, 0, "{}{}", cli.stdout, cli.stderr);
    let cli: serde_json::Value = serde_json::from_str(&cli.stdout).unwrap();
    assert_eq!((cli["decision"].as_str(), cli["transitions"][0]["version"].as_str()), (Some("allow"), Some("1.4.3")));

    // prod takes what dev runs (1.4.2, read from environment/dev): the proposal is that
    // promotion, judged against environment/prod's tip, and denied for want of an approval.
    let prod_next = commit_on_branch(&repo, "environment/prod-next", Some("environment/prod"), "1.4.2");
    let (passes, status, document) = check(&prod_next, "environment/prod");
    assert!(!passes, "{status} {document}");
    assert_eq!((status, document["decision"].as_str()), (200, Some("deny")), "{document}");
    let transition = &document["transitions"][0];
    assert_eq!(transition["document"]["transition"]["from_env"], "dev");
    assert_eq!(transition["document"]["transition"]["previous_artifact"]["version"], "1.4.1");
    assert!(transition["document"]["policies"].to_string().contains("approval-count"), "{document}");

    // A version dev does not run is no promotion tollgate would make.
    let skipped = commit_on_branch(&repo, "environment/prod-next-2", Some("environment/prod"), "9.9.9");
    let (passes, _, document) = check(&skipped, "environment/prod");
    assert!(!passes);
    assert!(document["transitions"][0]["summary"].as_str().unwrap().contains("prod takes what is in dev (1.4.2), not 9.9.9"), "{document}");

    // Without the branch, the change cannot pass as unrelated; a branch no location lives on
    // is refused by name.
    let answer = server.call("POST", "/v1/check", Some(&serde_json::json!({ "commit": prod_next }).to_string()));
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(answer.json()["error"].as_str().unwrap().contains("(shop-api in prod on environment/prod); name the branch it is to land on"), "{}", answer.body);
    let (passes, status, document) = check(&prod_next, "environment/staging");
    assert!(!passes);
    assert_eq!(status, 400);
    assert!(document["error"].as_str().unwrap().contains("no configured location lives on environment/staging"), "{document}");
}
