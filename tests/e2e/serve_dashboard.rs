//! The dashboard in a real browser: Debian's `chromium`, headless, loads the pages of a test
//! repository served by `tollgate serve`; the test reads the DOM the browser built and saves
//! a screenshot.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::serve_support::Server;
use crate::support::{committed_repo, http_server, tollgate_in};

/// A plugin-supplied string that must reach the page as text, never as markup.
const HOSTILE: &str = "<script>document.title='pwned'</script><b id=injected>bold</b>";

/// Run headless Chromium with a fresh profile and no network beyond loopback; `args` say
/// what to do with `url`. Returns stdout.
fn chromium(profile: &Path, args: &[&str], url: &str) -> String {
    let output = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--virtual-time-budget=5000", "--window-size=1280,900"])
        .args(args)
        .arg(url)
        .output()
        .expect("run chromium (Debian's chromium package; ./test installs it)");
    assert!(output.status.success(), "chromium: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// The text of the elements of `dom` whose opening tag contains `marker`, tags stripped and
/// entities decoded: what a person reads there.
fn texts(dom: &str, marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = dom;
    while let Some(at) = rest.find(marker) {
        let open_end = rest[at..].find('>').map(|index| at + index + 1).unwrap();
        let tag_start = rest[..at].rfind('<').unwrap();
        let name: String = rest[tag_start + 1..].chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
        let close = format!("</{name}>");
        let end = rest[open_end..].find(&close).map(|index| open_end + index).unwrap();
        found.push(decode(&strip_tags(&rest[open_end..end])).split_whitespace().collect::<Vec<_>>().join(" "));
        rest = &rest[end..];
    }
    found
}

fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

fn decode(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&#x27;", "'").replace("&amp;", "&")
}

#[test]
fn serve_dashboard_in_chromium_shows_the_matrix_a_denied_finding_and_script_as_text() {
    let erp = http_server(200, r#"{"status": "degraded", "message": "<script>document.title='pwned'</script><b id=injected>bold</b>"}"#, Duration::ZERO);
    let config = format!(
        "branch: main\nenvironments: [dev, test, prod]\napplications:\n  shop-api:\n    image: registry.example.com/shop/api\n    environments:\n      \
         dev:  {{ file: envs/dev/values.yaml, helm: {{ tag_path: image.tag }} }}\n      test: {{ file: envs/test/values.yaml, helm: {{ tag_path: image.tag }} }}\n      \
         prod: {{ file: envs/prod/values.yaml, helm: {{ tag_path: image.tag }} }}\n\
         policies:\n  - plugin: builtin:erp-readiness\n    environments: [prod]\n    http_origins: ['{erp}']\n    \
         config: {{ environments: {{ prod: {{ endpoint: {{ url: '{erp}/ready' }} }} }} }}\n"
    );
    let values = |version: &str| format!("image:\n  tag: \"{version}\"\n");
    let (dir, repo) = committed_repo(&[
        ("tollgate.yaml".to_string(), config),
        ("envs/dev/values.yaml".to_string(), values("1.0.0")),
        ("envs/test/values.yaml".to_string(), values("1.0.0")),
        ("envs/prod/values.yaml".to_string(), values("1.0.0")),
    ]);
    for args in [vec!["promote", "shop-api", "--to", "dev", "--version", "1.1.0", "--actor", "alice"], vec!["promote", "shop-api", "--to", "test", "--actor", "alice"]] {
        let run = tollgate_in(&repo, &args);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    }
    // Loopback without tokens: the browser sends none.
    let server = Server::start(&repo, &[], &[]);
    let denied = server.call_with("POST", "/v1/plan", &[], Some(br#"{"app": "shop-api", "to": "prod", "actor": "alice"}"#));
    assert_eq!(denied.json()["decision"], "deny", "{}", denied.body);

    let profile = tempfile::tempdir().unwrap();
    let dom = chromium(profile.path(), &["--dump-dom"], &format!("{}/", server.url));
    // The matrix: shop-api's cells in graph order, test ahead of prod.
    let cells = texts(&dom, "data-env=");
    assert_eq!(cells.len(), 3, "{dom}");
    assert!(cells[0].starts_with("1.1.0 alice"), "{cells:?}");
    assert!(cells[1].contains("1.1.0") && cells[1].contains("unsigned"), "{cells:?}");
    assert!(cells[2].starts_with("1.0.0") && cells[2].contains("behind test (1.1.0)"), "{cells:?}");
    // The denied decision's finding, with the plugin's markup shown as text.
    let findings = texts(&dom, "class=\"finding\"");
    assert_eq!(findings.len(), 1, "{dom}");
    assert!(findings[0].contains("ERP integration for prod is not ready"), "{findings:?}");
    assert!(findings[0].contains(HOSTILE), "the markup reads as text: {findings:?}");
    assert!(!dom.contains("<script") && !dom.contains("id=\"injected\""), "no element came from the finding: {dom}");
    assert!(dom.contains("<title>tollgate: what runs where</title>"), "the script never ran");
    // The environment graph, drawn by the server.
    assert_eq!(texts(&dom, "text-anchor=").len(), 3, "{dom}");

    // A cell links to its promotion: who, approvals, every policy, the diff, verify status.
    let commit = tollgate_in(&repo, &["history", "--app", "shop-api", "--env", "test", "-o", "json"]).stdout;
    let commit: serde_json::Value = serde_json::from_str(&commit).unwrap();
    let commit = commit["promotions"][0]["commit"].as_str().unwrap().to_string();
    assert!(dom.contains(&format!("href=\"/promotion/{commit}\"")), "{dom}");
    let page = chromium(profile.path(), &["--dump-dom"], &format!("{}/promotion/{commit}", server.url));
    let promotion = texts(&page, "id=\"promotion\"").join(" ");
    assert!(promotion.contains("promote shop-api 1.1.0 from dev to test") && promotion.contains("requested by alice"), "{promotion}");
    assert!(texts(&page, "id=\"verify\"")[0].starts_with("checks out: every policy reproduced its verdict"), "{page}");
    assert!(texts(&page, "class=\"diff\"")[0].contains("- tag: \"1.0.0\" + tag: \"1.1.0\""), "{page}");
    let history = chromium(profile.path(), &["--dump-dom"], &format!("{}/history?app=shop-api&env=test", server.url));
    assert_eq!(texts(&history, "class=\"entry\"").len(), 1, "{history}");

    let screenshot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    let _ = std::fs::remove_file(&screenshot);
    chromium(profile.path(), &[&format!("--screenshot={}", screenshot.display())], &format!("{}/", server.url));
    let png = std::fs::read(&screenshot).expect("chromium saved a screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    drop(dir);
}
