//! Host-held credentials reflected back in another form by a granted origin: the policy is
//! stopped before it reads the answer, fails closed (exit 3) naming the origin, and no form
//! of the secret reaches the output, the decision log or the repository.

use base64::Engine as _;

use super::{respond, serve};
use crate::support::{git, gitops_repo, plugin, repo_path, shared_cache, tollgate_env};

const TOKEN: &str = "reflected-token-5e0c2a71b9d4";

/// How the reflecting server hands back the `Authorization` header it received.
type Transform = fn(&str) -> String;

/// Each encoding the reflecting server is asked for, by name.
const TRANSFORMS: [(&str, Transform); 9] = [
    ("upper-cased", |text| text.to_uppercase()),
    ("lower-cased", |text| text.to_lowercase()),
    ("base64", |text| base64::engine::general_purpose::STANDARD.encode(text)),
    ("hex", |text| hex::encode(text)),
    ("reversed", |text| text.chars().rev().collect()),
    ("split by characters", |text| text.chars().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(",")),
    ("percent-encoded", |text| text.bytes().map(|byte| format!("%{byte:02X}")).collect()),
    ("\\u-escaped", |text| text.chars().map(|c| format!("\\u{:04x}", c as u32)).collect()),
    ("half and half", |text| format!("{{\"a\":\"{}\",\"b\":\"{}\"}}", &text[..text.len() / 2], text[text.len() / 2..].to_uppercase())),
];

/// Commit a configuration whose one policy is the hostile plugin fetching `origin/path` with
/// a bearer token for `origin` from the environment variable `variable`.
fn fetching_with_a_credential(repo: &str, origin: &str, variable: &str, path: &str) {
    let file = std::path::Path::new(repo).join("tollgate.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let head = &text[..text.find("policies:").unwrap()];
    let policy = format!(
        "{head}policies:\n  - plugin: '{}'\n    http_origins: ['{origin}']\n    credentials:\n      {origin}: {{ bearer: {{ env: {variable} }} }}\n    config: {{ behaviour: http-get, target: '{origin}/{path}' }}\n",
        plugin("hostile").display()
    );
    std::fs::write(&file, policy).unwrap();
    git(repo, &["commit", "-qam", &format!("fetch {path}")]);
}

#[test]
fn a_credential_reflected_in_any_common_encoding_fails_closed_and_reaches_no_output() {
    let (host, _) = serve(|request, stream| {
        let authorization = request.header("authorization").unwrap_or_default().to_string();
        let index: usize = request.path.rsplit('/').next().and_then(|index| index.parse().ok()).unwrap_or(0);
        let body = (TRANSFORMS[index].1)(&authorization);
        respond(stream, 200, &[("content-type", "application/json")], body.as_bytes());
    });
    let origin = format!("http://{host}");
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    let log = dir.path().join("decisions.jsonl");
    for (index, (name, _)) in TRANSFORMS.iter().enumerate() {
        fetching_with_a_credential(&repo, &origin, "REFLECTED_TOKEN", &format!("echo/{index}"));
        let args = ["--repo", repo.as_str(), "--decision-log", log.to_str().unwrap(), "plan", "shop-api", "--to", "dev", "--version", "1.5.0", "--no-digest", "-o", "json"];
        let run = tollgate_env(&shared_cache(), &args, &[("REFLECTED_TOKEN", TOKEN)]);
        assert_eq!(run.code, 3, "{name}: {}{}", run.stdout, run.stderr);
        assert!(run.stdout.contains(&format!("the answer from {origin} carried a form of the credential for {origin}")), "{name}: {}", run.stdout);
        let everything = format!("{}{}{}", run.stdout, run.stderr, std::fs::read_to_string(&log).unwrap_or_default());
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("Bearer {TOKEN}"));
        assert!(!everything.contains(TOKEN) && !everything.contains(&encoded) && !everything.contains(&TOKEN.to_uppercase()), "{name}: {everything}");
    }
}

#[test]
fn a_secret_shorter_than_twelve_characters_is_refused_before_anything_is_sent() {
    let (host, seen) = serve(|_, stream| respond(stream, 200, &[], b"{}"));
    let origin = format!("http://{host}");
    let dir = gitops_repo();
    let repo = repo_path(&dir);
    fetching_with_a_credential(&repo, &origin, "SHORT_TOKEN", "x");
    let run = tollgate_env(&shared_cache(), &["--repo", &repo, "plan", "shop-api", "--to", "dev", "--version", "1.5.0", "--no-digest"], &[("SHORT_TOKEN", "0123456789")]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("environment variable SHORT_TOKEN holds a secret of 10 characters; tollgate needs at least 12"), "{}", run.stdout);
    assert!(seen.lock().unwrap().is_empty(), "nothing was sent");
}
