//! Promotion benchmark: the cost of deciding and committing a promotion must not grow with
//! the size of the GitOps repository.
//!
//! Builds the demo repository (`tollgate::cli::demo::create_repository`) twice, once with 1,000
//! and once with 100,000 extra committed files (`other/NNNN/file-NNNNN.yaml`, written with
//! `git fast-import`, then checked out so the index and working tree are full size too), and
//! measures side by side, interleaved round by round:
//!
//! - `decide`: plan shop-api into dev with a new version and run the gate (no commit);
//! - `promote`: decide and commit it (a new version every time, so every one is a real commit);
//!
//! each with the demo configuration (in dev only `builtin:secret-scope` applies), with a
//! configuration on disk that has no policies (the Git part alone), and with no policies on
//! a bare clone (no index or working tree to keep in step). Prints medians and the ratio
//! 100k/1k, which should be about 1. Every promotion is checked to have landed.
//!
//! `cargo bench -p tollgate --bench promotion`; `TOLLGATE_BENCH_QUICK=1` for a smoke run.

mod measure;

use measure::{fail, median, ms, quick, ratio};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tollgate::decision::{Decision, PolicyOutcome};
use tollgate::promotion::workspace::Workspace;
use tollgate::promotion::judge::GateOutcome;
use tollgate::manifest::read_deployed;
use tollgate::promotion::request::PlanRequest;
use tollgate::runtime::Runtime;

const SIZES: [usize; 2] = [1_000, 100_000];
const FILES_PER_DIR: usize = 100;
const APP: &str = "shop-api";
const ENV: &str = "dev";
const DEV_FILE: &str = "envs/dev/shop-api/values.yaml";
/// 2026-01-05T09:00:00Z, the demo's first promotion.
const REQUESTED_AT: i64 = 1_767_603_600;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// The demo's tollgate.yaml from the branch tip: secret-scope runs for dev.
    Policies,
    /// A config file on disk without policies: only planning and Git.
    NoPolicies,
    /// No policies, on a bare clone: no index or working tree to update.
    NoPoliciesBare,
}

impl Variant {
    const ALL: [Variant; 3] = [Variant::Policies, Variant::NoPolicies, Variant::NoPoliciesBare];

    fn label(self) -> &'static str {
        match self {
            Variant::Policies => "demo policies (secret-scope)",
            Variant::NoPolicies => "no policies",
            Variant::NoPoliciesBare => "no policies, bare clone",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Decide,
    Promote,
}

impl Op {
    const ALL: [Op; 2] = [Op::Decide, Op::Promote];

    fn label(self) -> &'static str {
        match self {
            Op::Decide => "decide",
            Op::Promote => "promote",
        }
    }
}

/// One workspace under test and its samples per operation.
struct Subject {
    size: usize,
    variant: Variant,
    workspace: Workspace,
    /// The working copy to check after a promotion (non-bare only).
    workdir: Option<PathBuf>,
    decide: Vec<Duration>,
    promote: Vec<Duration>,
    promotions: usize,
}

fn main() {
    let rounds = if quick() { 3 } else { 40 };
    println!(
        "tollgate promotion benchmark ({} mode: {rounds} rounds; repositories with {} extra files)\n",
        if quick() { "quick" } else { "full" },
        SIZES.iter().map(|size| size.to_string()).collect::<Vec<_>>().join(" and ")
    );
    let started = Instant::now();
    let base = tempfile::Builder::new()
        .prefix("tollgate-bench-promotion-")
        .tempdir()
        .unwrap_or_else(|error| fail(&format!("cannot create a temporary directory: {error}")));
    let cache = base.path().join("compile-cache");

    let mut subjects = Vec::new();
    for size in SIZES {
        let repo = base.path().join(format!("repo-{size}"));
        let bare = base.path().join(format!("repo-{size}.git"));
        let build_started = Instant::now();
        build_repository(&repo, size);
        git(base.path(), &["clone", "--quiet", "--bare", path_str(&repo), path_str(&bare)]);
        eprintln!("built {} (+ bare clone) in {:.1} s", repo.display(), build_started.elapsed().as_secs_f64());

        // The demo config without its policies, as a file outside the repository.
        let demo_config = std::fs::read_to_string(repo.join("tollgate.yaml")).unwrap_or_else(|error| fail(&error.to_string()));
        let no_policies = demo_config.split("\npolicies:").next().expect("split yields one part").to_string() + "\npolicies: []\n";
        let no_policies_path = base.path().join(format!("no-policies-{size}.yaml"));
        std::fs::write(&no_policies_path, no_policies).unwrap_or_else(|error| fail(&error.to_string()));

        for variant in Variant::ALL {
            let (path, config, runtime) = match variant {
                Variant::Policies => (&repo, None, runtime(Some(&cache))),
                Variant::NoPolicies => (&repo, Some(no_policies_path.as_path()), runtime(None)),
                Variant::NoPoliciesBare => (&bare, Some(no_policies_path.as_path()), runtime(None)),
            };
            let workspace = Workspace::open(path, config, None, runtime)
                .unwrap_or_else(|failure| fail(&format!("{}: cannot open: {}", path.display(), failure.message)));
            let expected_policies = if variant == Variant::Policies { 1 } else { 0 };
            let applicable = workspace.config.policies.iter().filter(|policy| policy.applies_to(ENV)).count();
            if applicable != expected_policies {
                fail(&format!("{} {}: {applicable} policies apply to {ENV}, expected {expected_policies}", size, variant.label()));
            }
            check_size(&workspace, size);
            let workdir = (variant != Variant::NoPoliciesBare).then(|| repo.clone());
            subjects.push(Subject { size, variant, workspace, workdir, decide: Vec::new(), promote: Vec::new(), promotions: 0 });
        }
    }

    // Warm up every subject (loads and compiles the plugin, fills the OS caches), then
    // measure round by round so slow phases of the machine hit every subject alike.
    let mut serial = 0usize;
    for subject in &mut subjects {
        run_once(subject, &mut serial, false);
    }
    for round in 0..rounds {
        // Alternate the order so neither size is always first after the other's commit.
        let order: Vec<usize> =
            if round % 2 == 0 { (0..subjects.len()).collect() } else { (0..subjects.len()).rev().collect() };
        for index in order {
            run_once(&mut subjects[index], &mut serial, true);
        }
    }
    for subject in &subjects {
        check_history(subject);
    }

    println!("{:<10} {:<30} {:>10} {:>11} {:>9}", "operation", "configuration", "1k ms", "100k ms", "100k/1k");
    for op in Op::ALL {
        for variant in Variant::ALL {
            let median_for = |size: usize| {
                let subject = subjects.iter().find(|s| s.size == size && s.variant == variant).expect("every subject exists");
                median(match op {
                    Op::Decide => subject.decide.clone(),
                    Op::Promote => subject.promote.clone(),
                })
            };
            let (small, large) = (median_for(SIZES[0]), median_for(SIZES[1]));
            println!(
                "{:<10} {:<30} {:>10.2} {:>11.2} {:>9.2}",
                op.label(),
                variant.label(),
                ms(small),
                ms(large),
                ratio(large, small)
            );
        }
    }
    println!(
        "\nMedians of {rounds} rounds. decide = Workspace::decide (history, plan, proposed tree, policies); promote = \
         Workspace::promote\n(decide + commit + note + checkout of the changed file). Every promotion was checked in the \
         tip tree (and, but for\nthe bare clone, in the working copy)."
    );
    println!("total bench time {:.1} s", started.elapsed().as_secs_f64());
}

fn runtime(cache: Option<&Path>) -> Runtime {
    Runtime::new(cache).unwrap_or_else(|error| fail(&format!("cannot create a runtime: {error:#}")))
}

/// Decide and promote once with a fresh version each; `record` keeps the timings.
fn run_once(subject: &mut Subject, serial: &mut usize, record: bool) {
    let request = |version: String| PlanRequest {
        app: APP.into(),
        to_env: ENV.into(),
        digest: Some(digest(&version)),
        version: Some(version),
        actor: "bench <bench@example.com>".into(),
        at: REQUESTED_AT,
        ..PlanRequest::default()
    };
    let what = format!("{} extra files, {}", subject.size, subject.variant.label());

    // decide: a version that is never deployed, so the plan is never a no-op.
    *serial += 1;
    let decide_request = request(format!("9.{serial}.0"));
    let started = Instant::now();
    let decided = subject.workspace.decide(&decide_request).unwrap_or_else(|failure| fail(&format!("{what}: decide: {}", failure.message)));
    let elapsed = started.elapsed();
    if decided.plan.no_op {
        fail(&format!("{what}: decide planned a no-op"));
    }
    check_gate(&what, &decided.gate, subject.variant);
    if record {
        subject.decide.push(elapsed);
    }

    // promote: a new version, committed.
    *serial += 1;
    let version = format!("3.{serial}.0");
    let promote_request = request(version.clone());
    let started = Instant::now();
    let promoted =
        subject.workspace.promote(&promote_request, None, None).unwrap_or_else(|failure| fail(&format!("{what}: promote: {}", failure.message)));
    let elapsed = started.elapsed();
    let decided = promoted.single().unwrap_or_else(|| fail(&format!("{what}: promote {version} decided nothing")));
    check_gate(&what, &decided.gate, subject.variant);
    let Some(commit) = promoted.commit else { fail(&format!("{what}: promote {version} made no commit")) };
    check_landed(subject, &commit, &version);
    subject.promotions += 1;
    if record {
        subject.promote.push(elapsed);
    }
}

fn check_gate(what: &str, gate: &tollgate::promotion::judge::GateResult, variant: Variant) {
    if gate.outcome != GateOutcome::Allowed {
        fail(&format!("{what}: the gate did not allow: {:?}", gate.policies.iter().map(|p| &p.evaluation.outcome).collect::<Vec<_>>()));
    }
    let expected = if variant == Variant::Policies { 1 } else { 0 };
    if gate.policies.len() != expected {
        fail(&format!("{what}: {} policies ran, expected {expected}", gate.policies.len()));
    }
    for run in &gate.policies {
        if !matches!(&run.evaluation.outcome, PolicyOutcome::Verdict(verdict) if verdict.decision == Decision::Allow) {
            fail(&format!("{what}: {} did not allow: {:?}", run.name, run.evaluation.outcome));
        }
    }
}

/// The branch tip is the new commit and its tree (and the working copy) has the new version.
fn check_landed(subject: &Subject, commit: &str, version: &str) {
    let what = format!("{} extra files, {}", subject.size, subject.variant.label());
    let workspace = &subject.workspace;
    let tip = workspace.tip().unwrap_or_else(|failure| fail(&failure.message));
    if tip.commit.to_string() != commit {
        fail(&format!("{what}: the branch tip is {} but the promotion committed {commit}", tip.commit));
    }
    let application = &workspace.config.applications[APP];
    let layout = application.environments[ENV].layout(&application.image);
    let read = |text: Option<String>, where_: &str| {
        let text = text.unwrap_or_else(|| fail(&format!("{what}: {DEV_FILE} is missing in {where_}")));
        let deployed = read_deployed(DEV_FILE, &text, &layout).unwrap_or_else(|error| fail(&format!("{what}: {where_}: {}", error.0)));
        if deployed.version != version || deployed.digest.as_deref() != Some(digest(version).as_str()) {
            fail(&format!("{what}: {where_} has {} {:?}, expected {version}", deployed.version, deployed.digest));
        }
    };
    read(workspace.repo.read_file(tip.tree, DEV_FILE).unwrap_or_else(|error| fail(&error.0)), "the tip tree");
    if let Some(workdir) = &subject.workdir {
        read(std::fs::read_to_string(workdir.join(DEV_FILE)).ok(), "the working copy");
    }
}

/// The tip tree still has all the extra files, and the history has every promotion.
fn check_history(subject: &Subject) {
    let what = format!("{} extra files, {}", subject.size, subject.variant.label());
    check_size(&subject.workspace, subject.size);
    let history = subject.workspace.history().unwrap_or_else(|failure| fail(&failure.message));
    let promotions = history.iter().filter(|record| record.app == APP && record.to == ENV).count();
    if promotions < subject.promotions {
        fail(&format!("{what}: the history has {promotions} promotions to {ENV}, expected at least {}", subject.promotions));
    }
}

fn check_size(workspace: &Workspace, size: usize) {
    let tip = workspace.tip().unwrap_or_else(|failure| fail(&failure.message));
    for path in [extra_path(0), extra_path(size - 1)] {
        if workspace.repo.read_file(tip.tree, &path).unwrap_or_else(|error| fail(&error.0)).is_none() {
            fail(&format!("{}: {path} is missing from the tip tree", workspace.repo.path().display()));
        }
    }
}

fn digest(version: &str) -> String {
    // A stable, distinct, well-formed digest per version.
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for byte in version.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("sha256:{}", format!("{hash:016x}").repeat(4))
}

fn extra_path(index: usize) -> String {
    format!("other/{:04}/file-{index:05}.yaml", index / FILES_PER_DIR)
}

/// The demo repository plus `extra` committed files, checked out.
fn build_repository(dir: &Path, extra: usize) {
    tollgate::cli::demo::create_repository(dir, tollgate::cli::demo::SECRET_SCOPE_CONFIG)
        .unwrap_or_else(|failure| fail(&format!("create_repository: {}", failure.message)));
    let head = git(dir, &["rev-parse", "HEAD"]);
    let demo_files = git(dir, &["ls-files"]).lines().count();

    let mut stream = Vec::with_capacity(extra * 200);
    let message = format!("add {extra} unrelated files");
    write!(
        stream,
        "commit refs/heads/main\ncommitter bench <bench@example.com> 1767600000 +0000\ndata {}\n{message}\nfrom {head}\n",
        message.len() + 1
    )
    .expect("write to memory");
    for index in 0..extra {
        let content = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other-{index:05}\n  namespace: other-{:04}\ndata:\n  index: \"{index}\"\n",
            index / FILES_PER_DIR
        );
        write!(stream, "M 100644 inline {}\ndata {}\n{content}\n", extra_path(index), content.len()).expect("write to memory");
    }
    stream.extend_from_slice(b"done\n");

    let mut child = Command::new("git")
        .args(["fast-import", "--quiet", "--done"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| fail(&format!("cannot run git fast-import: {error}")));
    child.stdin.take().expect("piped").write_all(&stream).unwrap_or_else(|error| fail(&format!("git fast-import: {error}")));
    let output = child.wait_with_output().unwrap_or_else(|error| fail(&format!("git fast-import: {error}")));
    if !output.status.success() {
        fail(&format!("git fast-import failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    // Index and working tree at full size, as in a real checkout.
    git(dir, &["reset", "--quiet", "--hard", "main"]);
    let files = git(dir, &["ls-files"]).lines().count();
    if files != extra + demo_files {
        fail(&format!("{}: {files} files in the index, expected {demo_files} + {extra}", dir.display()));
    }
}

/// Run git in `dir`; its stdout, trimmed.
fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|error| fail(&format!("cannot run git {}: {error}", args.join(" "))));
    if !output.status.success() {
        fail(&format!("git {} failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr)));
    }
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap_or_else(|| fail(&format!("{} is not UTF-8", path.display())))
}

