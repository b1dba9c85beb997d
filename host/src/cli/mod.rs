//! The `tollgate` command line: argument parsing and exit codes over the library.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::decision::{Decision, PolicyOutcome, Verdict};
use crate::promotion::request::RollbackTarget;
use crate::exit::{ExitCode, Failure};
use crate::fixtures::{read_cases_file, run_cases};
use crate::input::describe_yaml_error;
use crate::report::{self, BasicFormat, TestFormat, VerifyFormat};
use crate::runtime::{HostAccess, Limits, NetworkFetcher, PluginRef, origin_of};
use crate::transition::Transition;

pub mod demo;
mod plan_batch;
mod plugin_bench;
pub mod registry;
pub mod trust;
mod decision;
mod request;
mod serve;
mod setup;
mod versions;
mod watch;

pub use request::{PlanArgs, RequestArgs};
use decision::{check_decision_log, report};
use request::{plan_request, plan_requests};
use setup::{load_plugin, open_workspace, protected_branch, read_input, runtime, yaml_to_json};

const EXIT_CODES: &str = "Exit codes: 0 allowed/success, 1 denied/failed, 2 bad input or usage, \
                          3 a policy failed to run (fail closed), 4 conflict.";

/// tollgate: a policy gate for GitOps promotions.
#[derive(Debug, Parser)]
#[command(name = "tollgate", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// Say more on stderr (e.g. whether plugins came from the compile cache).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Directory for compiled plugins [default: $TOLLGATE_CACHE_DIR, $XDG_CACHE_HOME/tollgate or ~/.cache/tollgate].
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Compile plugins every time; do not read or write the compile cache.
    #[arg(long, global = true)]
    pub no_cache: bool,
    /// The GitOps repository (bare or not); for `serve`, also a URL mirrored into --mirror-dir.
    #[arg(long, global = true, value_name = "DIR", default_value = ".")]
    pub repo: PathBuf,
    /// Configuration file on disk, instead of tollgate.yaml on the protected branch.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The branch whose tollgate.yaml judges promotions [default: $TOLLGATE_PROTECTED_BRANCH,
    /// a bare repository's HEAD, origin's default branch, main, master]. Never the checked-out
    /// branch: a pull request must not bring the rules that judge it.
    #[arg(long, global = true, value_name = "NAME")]
    pub protected_branch: Option<String>,
    /// Colour text output: auto (when stdout is a terminal and NO_COLOR is unset), always or never.
    #[arg(long, global = true, value_enum, default_value = "auto", value_name = "WHEN")]
    pub color: ColorChoice,
    /// Append one JSON line per decision (plan, promote, rollback) to FILE.
    #[arg(long, global = true, value_name = "FILE")]
    pub decision_log: Option<PathBuf>,
    /// For CI: fail when tollgate.lock is missing, lacks an oci:// plugin of the configuration,
    /// or a locked tag now points elsewhere (checked with the registry).
    #[arg(long, global = true)]
    pub locked: bool,
    /// Talk plain HTTP to this registry (HOST[:PORT]; repeatable). Loopback registries
    /// (127.0.0.1, [::1], localhost) always use plain HTTP.
    #[arg(long = "insecure-registry", global = true, value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,
    #[command(subcommand)]
    pub command: Command,
}

/// When to colour text output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// When stdout is a terminal and NO_COLOR is not set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// What version of every application is in every environment (read from Git alone).
    #[command(after_help = "Example:\n  tollgate --repo gitops status -o json")]
    Status {
        /// Output format: text, json (with the environment graph) or mermaid (a flowchart).
        #[arg(short, long, value_enum, default_value = "text")]
        output: report::StatusFormat,
    },
    /// Show what a promotion would do and what every policy says, without committing.
    #[command(after_help = "Example:\n  tollgate plan shop-api --to prod --approval bob --approval carol --at 2026-01-09T17:00:00+01:00")]
    Plan(PlanArgs),
    /// Plan many promotions in one process (a release train), without committing: one request a line.
    #[command(name = "plan-batch", after_help = "Example:\n  printf 'shop-api prod\\nshop-web prod\\n' | tollgate plan-batch - --approval bob --approval carol")]
    PlanBatch(plan_batch::BatchArgs),
    /// The versions an application's registry offers under its `discover:` rule, newest first, with their digests.
    #[command(after_help = "Example:\n  tollgate versions shop-api --limit 5")]
    Versions(versions::VersionsArgs),
    /// Wait until the newest promotion of APP into ENV is synced and healthy in Argo CD and soaks without a matching alert; record the outcome.
    #[command(after_help = "Example:\n  tollgate watch shop-api --env prod --deadline 15m --soak 10m --actor ci-bot")]
    Watch(watch::WatchArgs),
    /// Promote: commit the change when every enforce-mode policy allows it.
    #[command(after_help = "Example:\n  tollgate promote shop-api --to prod --actor alice --approval bob --approval carol")]
    Promote {
        #[command(flatten)]
        plan: PlanArgs,
        /// Commit on a new branch NAME (for a pull request) instead of the configured branch.
        #[arg(long, value_name = "NAME")]
        branch: Option<String>,
        /// Push the branch (with the decision record in its commit) to REMOTE [default: origin], re-planning if it moved.
        #[arg(long, value_name = "REMOTE", num_args = 0..=1, default_missing_value = "origin")]
        push: Option<String>,
        /// Then watch it as `tollgate watch` does (one application into one environment; text output).
        #[arg(long)]
        watch: bool,
        #[command(flatten)]
        timing: watch::WatchTiming,
    },
    /// Roll an application back in an environment, gated by the policies like a promotion.
    #[command(after_help = "Example:\n  tollgate rollback shop-api --env prod --actor alice --approval bob")]
    Rollback {
        /// Application.
        app: String,
        /// Environment to roll back.
        #[arg(long, value_name = "ENV")]
        env: String,
        /// Version, or any revision of the promotion commit, to go back to [default: the version that ran before the current one, skipping versions already rolled back from].
        #[arg(long, value_name = "VERSION|REVISION")]
        to: Option<String>,
        #[command(flatten)]
        request: RequestArgs,
        /// Commit on a new branch NAME instead of the configured branch.
        #[arg(long, value_name = "NAME")]
        branch: Option<String>,
        /// Push the branch (with the decision record in its commit) to REMOTE [default: origin], re-planning if it moved.
        #[arg(long, value_name = "REMOTE", num_args = 0..=1, default_missing_value = "origin")]
        push: Option<String>,
        /// Only plan: show the decision, commit nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Sign an approval of what a promotion would take (SSH key, namespace tollgate-approval)
    /// and store it in refs/tollgate/approvals.
    #[command(after_help = "Examples:\n  tollgate approve shop-api --to prod --key ~/.ssh/id_ed25519 --push\n  \
                            tollgate approve shop-api --to prod --approval-file bob.approval")]
    Approve(trust::ApproveArgs),
    /// List the signed approvals of an application into an environment and whether each counts.
    #[command(after_help = "Example:\n  git fetch origin refs/tollgate/approvals:refs/tollgate/approvals\n  \
                            tollgate approvals shop-api --to prod")]
    Approvals(trust::ApprovalsArgs),
    /// The promotion log: verified promotions, and commits that claim to be one but do not check out.
    #[command(after_help = "Example:\n  tollgate history --app shop-api --env prod")]
    History {
        /// Only this application.
        #[arg(long)]
        app: Option<String>,
        /// Only promotions into this environment.
        #[arg(long)]
        env: Option<String>,
        /// Show the newest N entries (0: all); history is read only as far as they go.
        #[arg(long, value_name = "N", default_value_t = 1000)]
        limit: usize,
        /// Output format.
        #[arg(short, long, value_enum, default_value = "text")]
        output: BasicFormat,
    },
    /// Check a promotion commit and its decision record, and re-run the policies its base
    /// commit configures; or, given BASE..HEAD, judge every commit of the range as a protected
    /// branch's guard (a required status check or a pre-receive hook).
    #[command(after_help = "Exit codes: 0 verified (every commit of a range passes), 1 not, 2 bad input.\n\n\
                            Examples:\n  tollgate verify HEAD\n  tollgate verify origin/main..HEAD\n  \
                            tollgate verify \"$oldrev..$newrev\"    # in a pre-receive hook; $oldrev may be all zeros")]
    Verify {
        /// The promotion commit (any revision, e.g. HEAD~1), or a range BASE..HEAD.
        #[arg(value_name = "COMMIT|BASE..HEAD")]
        commit: String,
        /// Re-run the policies against the systems they ask (Argo CD, Alertmanager, an ERP
        /// endpoint) instead of the answers the record kept.
        #[arg(long)]
        live: bool,
        /// With BASE..HEAD: the branch the range lands on. An environment branch of its own
        /// (a location's `branch:`) is judged by the protected branch's rules [default: the
        /// rules each commit's parent holds].
        #[arg(long, value_name = "NAME")]
        branch: Option<String>,
        /// Output format.
        #[arg(short, long, value_enum, default_value = "text")]
        output: VerifyFormat,
    },
    /// Judge a proposal (a pull request's commits) as the promotions it contains: each
    /// change of a configured version planned on the protected branch and judged with its
    /// configuration, as of now.
    #[command(
        name = "check-proposal",
        after_help = "Exit codes: 0 every transition allowed and edited as the promotion would, 1 not, 2 bad input, 3 a policy failed to run.\n\n\
                      Example:\n  tollgate check-proposal origin/main..HEAD --actor \"$PR_AUTHOR\""
    )]
    CheckProposal {
        /// The proposal: BASE..HEAD, or one commit.
        #[arg(value_name = "BASE..HEAD|COMMIT")]
        proposal: String,
        /// Who requests it [default: each commit's author, labelled requester-unverified].
        #[arg(long)]
        actor: Option<String>,
        /// The environment branch it is to land on (locations with a `branch:` of their own, as
        /// GitOps Promoter keeps them); one COMMIT is judged as what it brings to that branch's tip.
        #[arg(long, value_name = "BRANCH")]
        branch: Option<String>,
        /// Output format.
        #[arg(short, long, value_enum, default_value = "text")]
        output: BasicFormat,
    },
    /// Create an example GitOps repository and walk through a gated promotion story.
    #[command(after_help = "Example:\n  tollgate demo /tmp/shop-gitops")]
    Demo {
        /// Directory for the example repository (new or empty) [default: a temporary directory].
        dir: Option<PathBuf>,
    },
    /// Validate the configuration without planning anything.
    ///
    /// Checks the fields and references of tollgate.yaml, that each application's file on the
    /// branch tip holds a version where the layout says, that every plugin loads and accepts
    /// its config (validate-config), and capabilities granted against requested (warnings).
    /// Each problem is printed as FILE:LINE:COLUMN: error|warning: FIELD: MESSAGE.
    #[command(after_help = "Exit codes: 0 valid (warnings allowed), 2 invalid.\n\n\
                            Examples:\n  tollgate --repo gitops check-config\n  \
                            tollgate check-config --config tollgate.yaml -o json")]
    CheckConfig {
        /// Output format.
        #[arg(short, long, value_enum, default_value = "text")]
        output: crate::check::CheckFormat,
    },
    /// Print the JSON Schema of tollgate.yaml, for editors and linters.
    #[command(after_help = "Example:\n  tollgate schema > tollgate.schema.json\n  \
                            # then, as the first line of tollgate.yaml:\n  \
                            # yaml-language-server: $schema=./tollgate.schema.json")]
    Schema,
    /// Print a shell completion script.
    #[command(after_help = "Examples:\n  tollgate completions bash > ~/.local/share/bash-completion/completions/tollgate\n  \
                            tollgate completions zsh > ~/.zfunc/_tollgate    # with fpath+=(~/.zfunc) before compinit\n  \
                            tollgate completions fish > ~/.config/fish/completions/tollgate.fish")]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Serve decisions over HTTP (for Kargo, GitOps Promoter, CI), a dashboard and metrics.
    #[command(after_help = "Examples:\n  tollgate --repo gitops serve --listen 127.0.0.1:8080 --token-file tokens\n  \
                            tollgate --repo https://git.example.com/gitops.git serve --mirror-dir /var/lib/tollgate/mirror \\\n      \
                            --listen 0.0.0.0:8443 --tls-cert tls.crt --tls-key tls.key --token-file tokens --allow-promote")]
    Serve(serve::ServeArgs),
    /// Inspect and test policy plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

/// `tollgate plugin …`
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Show a plugin's name, version, capabilities, WIT world, sha256 and size.
    #[command(after_help = "Example:\n  tollgate plugin info target/plugins/wasm32-wasip2/plugin/image_policy.wasm")]
    Info {
        /// Path to the .wasm component, optionally pinned: PATH@sha256:HEX.
        plugin: String,
        /// Check the plugin's signature (FILE.wasm.sig) against this allowed-signers file
        /// [default: the repository's trust.allowed_signers].
        #[arg(long, value_name = "FILE")]
        allowed_signers: Option<PathBuf>,
        /// Output format.
        #[arg(short, long, value_enum, default_value = "text")]
        output: BasicFormat,
    },
    /// Sign a plugin: write FILE.wasm.sig (SSH signature, namespace tollgate-plugin) over its exact bytes.
    #[command(after_help = "Example:\n  tollgate plugin sign plugins/image_policy.wasm --key ~/.ssh/id_ed25519")]
    Sign {
        /// Path to the .wasm component.
        plugin: PathBuf,
        /// SSH key: a private key file, a public key whose private half is in ssh-agent, or
        /// `key::ssh-ed25519 AAAA…` [default: git config user.signingKey].
        #[arg(long, value_name = "FILE")]
        key: Option<String>,
    },
    /// Evaluate a plugin on one transition: exit 0 allow, 1 deny, 3 failed to run.
    #[command(after_help = "Example:\n  tollgate plugin eval policy.wasm --policy-config '{allowed_registries: [registry.example.com/]}' \\\n      --transition transition.yaml")]
    Eval {
        /// Path to the .wasm component, optionally pinned: PATH@sha256:HEX.
        plugin: String,
        /// The policy's configuration, as YAML or JSON text.
        #[arg(long, value_name = "YAML", conflicts_with = "policy_config_file")]
        policy_config: Option<String>,
        /// The policy's configuration, from a YAML or JSON file.
        #[arg(long, value_name = "FILE")]
        policy_config_file: Option<PathBuf>,
        /// The transition, from a YAML or JSON file; unspecified fields take test defaults.
        #[arg(long, value_name = "FILE")]
        transition: Option<PathBuf>,
        /// Time limit for the call, in milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 2000)]
        timeout_ms: u64,
        /// Memory cap, in MiB.
        #[arg(long, value_name = "MIB", default_value_t = 64)]
        memory_mib: u64,
        /// Grant http-get access to this origin (e.g. https://erp.example.com); repeatable.
        #[arg(long = "http-origin", value_name = "ORIGIN")]
        http_origins: Vec<String>,
        /// A configured environment, in graph order, as `policy-environments` tells the plugin;
        /// repeatable [default: none, so the plugin cannot check environment names].
        #[arg(long = "environment", value_name = "NAME")]
        environments: Vec<String>,
        /// An environment the policy runs for (its `environments:` in tollgate.yaml); repeatable [default: every --environment].
        #[arg(long = "policy-environment", value_name = "NAME")]
        policy_environments: Vec<String>,
        /// Output format.
        #[arg(short, long, value_enum, default_value = "text")]
        output: BasicFormat,
    },
    /// Run a plugin against cases files; exit 0 when every case passes, 1 otherwise.
    #[command(after_help = "Example:\n  tollgate plugin test target/plugins/wasm32-wasip2/plugin/image_policy.wasm \\\n      plugins/examples/image-policy/cases.yaml")]
    Test {
        /// Path to the .wasm component, optionally pinned: PATH@sha256:HEX.
        plugin: String,
        /// Cases files (YAML).
        #[arg(required = true)]
        cases: Vec<PathBuf>,
        /// Output format.
        #[arg(short, long, value_enum, default_value = "text")]
        output: TestFormat,
    },
    /// Run a plugin's cases many times: median and p99 time and peak memory of each.
    #[command(after_help = plugin_bench::BENCH_HELP)]
    Bench(plugin_bench::BenchArgs),
    /// Push a plugin to an OCI registry as a Wasm component artifact; prints the manifest digest.
    #[command(after_help = registry::PUSH_HELP)]
    Push(registry::PushArgs),
    /// Pull a plugin from an OCI registry into the local store (checking every digest).
    #[command(after_help = "Example:\n  tollgate plugin pull oci://registry.example.com/policies/image-policy:1.0.0")]
    Pull(registry::PullArgs),
    /// Write tollgate.lock: the manifest and component digests of every oci:// plugin in
    /// tollgate.yaml (the work tree's, or --config), pulled into the local store.
    #[command(after_help = "Commit tollgate.lock next to tollgate.yaml; plan and promote then use the locked digests, and \
                            --locked fails when it is missing or out of date.\n\nExample:\n  tollgate --repo gitops plugin lock")]
    Lock(registry::LockArgs),
    /// Create a new policy plugin (a Rust crate, or with --lang ts a TypeScript project: the
    /// SDK, a cases file, native unit tests) that builds and passes its cases right away.
    #[command(after_help = "The SDK is not published yet, so this tollgate carries it: by default the crate gets a copy in \
                            vendor/tollgate-sdk-VERSION/ and depends on it by that relative path, so it builds anywhere \
                            without a tollgate checkout. A TypeScript project gets tollgate-sdk for JavaScript in \
                            vendor/tollgate-sdk-js-VERSION/ and a package-lock.json pinning every package.\n\n\
                            Example:\n  tollgate plugin new require-ticket --dir plugins/require-ticket\n  \
                            cd plugins/require-ticket && cargo test && cargo build --target wasm32-wasip2 --release\n  \
                            tollgate plugin test target/wasm32-wasip2/release/require_ticket.wasm cases.yaml\n\n  \
                            tollgate plugin new require-ticket --lang ts\n  \
                            cd require-ticket && npm ci && npm test && npm run build\n  \
                            tollgate plugin test dist/require_ticket.wasm cases.yaml")]
    New {
        /// Plugin (and crate) name: lowercase letters, digits and `-`, starting with a letter.
        name: String,
        /// The plugin's language: a Rust crate, or a TypeScript project (tollgate-sdk for JavaScript).
        #[arg(long = "lang", value_enum, default_value = "rust")]
        language: crate::scaffold::Language,
        /// Directory to create the crate in (new or empty) [default: ./NAME].
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Depend on the tollgate-sdk crate in this directory instead (checked: cargo must read it
        /// and it must build plugins this tollgate runs).
        #[arg(long, value_name = "PATH")]
        sdk_path: Option<PathBuf>,
        /// Depend on this tollgate's SDK version from crates.io instead (once it is published).
        #[arg(long, conflicts_with = "sdk_path")]
        sdk_from_registry: bool,
    },
}

/// Run the command line; returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() { ExitCode::BadInput.code() } else { ExitCode::Success.code() };
        }
    };
    let colour = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::IsTerminal::is_terminal(&std::io::stdout()) && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
        }
    };
    report::set_colour(colour);
    match run(&cli) {
        Ok(code) => code.code(),
        Err(failure) => {
            eprintln!("tollgate: {}", failure.message);
            failure.code.code()
        }
    }
}

fn run(cli: &Cli) -> Result<ExitCode, Failure> {
    match &cli.command {
        Command::Status { output } => {
            let workspace = open_workspace(cli)?;
            let apps = workspace.status()?;
            print(&report::status(workspace.config.graph(), &apps, *output));
            Ok(ExitCode::Success)
        }
        Command::Plan(args) => {
            let workspace = open_workspace(cli)?;
            let (requests, skipped, train) = plan_requests(&workspace, args)?;
            let mut batch = workspace.decide_batch(&requests, train)?;
            batch.skipped.splice(0..0, skipped);
            if cli.verbose {
                eprintln!("tollgate: planning read {} commits of history", workspace.history_commits_read());
            }
            report(cli, &workspace, &batch, args.selection().is_single(), true, args.request.output)
        }
        Command::PlanBatch(args) => plan_batch::run(cli, args),
        Command::Versions(args) => versions::run(cli, args),
        Command::Watch(args) => watch::run(cli, args),
        Command::Serve(args) => serve::run(cli, args),
        Command::Promote { plan, branch, push, watch, timing } => watch::promote(cli, plan, (branch.as_deref(), push.as_deref()), watch.then_some(timing)),
        Command::Rollback { app, env, to, request, branch, push, dry_run } => {
            check_decision_log(cli)?;
            let workspace = open_workspace(cli)?;
            let target = to.clone().map_or(RollbackTarget::Previous, RollbackTarget::To);
            let plan_request = plan_request(&workspace, &PlanArgs::single(app, env), request, Some(target))?;
            let batch = if *dry_run {
                workspace.decide_batch(std::slice::from_ref(&plan_request), false)?
            } else {
                workspace.promote(&plan_request, branch.as_deref(), push.as_deref())?
            };
            report(cli, &workspace, &batch, true, *dry_run, request.output)
        }
        Command::Approve(args) => {
            let workspace = open_workspace(cli)?;
            print(&trust::approve(&workspace, args)?);
            Ok(ExitCode::Success)
        }
        Command::Approvals(args) => {
            let workspace = open_workspace(cli)?;
            print(&trust::approvals(&workspace, args)?);
            Ok(ExitCode::Success)
        }
        Command::History { app, env, limit, output } => {
            let workspace = open_workspace(cli)?;
            let records = workspace.history_page(app.as_deref(), env.as_deref(), *limit)?;
            if *limit > 0 && records.len() == *limit {
                eprintln!("tollgate: the newest {limit} entries; --limit N shows more (0: all)");
            }
            print(&report::history(&records, *output));
            Ok(ExitCode::Success)
        }
        Command::CheckProposal { proposal, actor, branch, output } => {
            let workspace = open_workspace(cli)?;
            let transitions = workspace.check_proposal(proposal, actor.as_deref(), branch.as_deref())?;
            print(&report::proposal::render(&transitions, *output));
            Ok(match report::proposal::decision_word(&transitions) {
                "allow" => ExitCode::Success,
                "error" => ExitCode::PolicyFailed,
                _ => ExitCode::Denied,
            })
        }
        Command::Demo { dir } => {
            demo::run(dir.as_deref(), runtime(cli)?, &mut |text| print(text))?;
            Ok(ExitCode::Success)
        }
        Command::CheckConfig { output } => {
            let report = crate::check::check_repository(&cli.repo, cli.config.as_deref(), protected_branch(cli).as_deref(), runtime(cli)?);
            print(&crate::check::render(&report, *output));
            Ok(if report.valid() { ExitCode::Success } else { ExitCode::BadInput })
        }
        Command::Schema => {
            let schema = serde_json::to_string_pretty(&crate::config::json_schema()).expect("the schema is JSON");
            print(&format!("{schema}\n"));
            Ok(ExitCode::Success)
        }
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut <Cli as clap::CommandFactory>::command(), "tollgate", &mut script);
            print(&String::from_utf8_lossy(&script));
            Ok(ExitCode::Success)
        }
        Command::Verify { commit, output, branch, .. } if commit.contains("..") => {
            if *output == VerifyFormat::Junit {
                return Err(Failure::bad_input("verify BASE..HEAD prints text or json (-o text|json)"));
            }
            let judged = match branch {
                Some(branch) => {
                    crate::input::branch("--branch", branch).map_err(|error| Failure::bad_input(error.to_string()))?;
                    let workspace = open_workspace(cli)?;
                    let configured = workspace.config.applications.values().flat_map(|application| application.environments.values()).any(|location| &location.branch == branch);
                    let on_environment_branch = (configured && *branch != workspace.config.branch).then_some(branch.as_str());
                    let rules = workspace.rules_for(on_environment_branch)?;
                    crate::promotion::guard::guard_with(&workspace.repo, commit, rules).map_err(Failure::bad_input)?
                }
                None => {
                    let repo = crate::repo::GitRepo::open(&cli.repo).map_err(|error| Failure::bad_input(error.0))?;
                    crate::promotion::guard::guard(&repo, commit).map_err(Failure::bad_input)?
                }
            };
            print(&report::guard(commit, &judged, *output));
            Ok(if judged.iter().all(|one| one.passes()) { ExitCode::Success } else { ExitCode::Denied })
        }
        Command::Verify { commit, output, live, branch } => {
            if branch.is_some() {
                return Err(Failure::bad_input("verify --branch goes with a range BASE..HEAD (the branch guard); verify COMMIT finds the branch from its records"));
            }
            let workspace = open_workspace(cli)?;
            let verification = workspace.verify(commit, *live)?;
            print(&report::verification(&verification, *output));
            Ok(if verification.reproduced && verification.trust.counts() { ExitCode::Success } else { ExitCode::Denied })
        }
        Command::Plugin(PluginCommand::Info { plugin: reference, allowed_signers, output }) => {
            let plugin = load_plugin(cli, reference)?;
            let info = plugin.info(Limits::default()).map_err(|cause| Failure::policy_failed(format!("plugin {}: info failed: {cause}", plugin.source())))?;
            let workspace = || if allowed_signers.is_none() { open_workspace(cli).ok() } else { None };
            let status = match PluginRef::parse(reference).map(|reference| reference.source) {
                Ok(crate::runtime::PluginSource::File(path)) => {
                    Some(trust::plugin_signature_status(&path, plugin.sha256(), allowed_signers.as_deref(), workspace().as_ref()))
                }
                Ok(crate::runtime::PluginSource::Oci(oci)) => Some(trust::oci_plugin_signature_status(
                    runtime(cli)?.registry(),
                    &oci,
                    plugin.sha256(),
                    allowed_signers.as_deref(),
                    workspace().as_ref(),
                )),
                _ => None,
            };
            print(&report::plugin_info(&plugin, &info, status.as_ref(), *output));
            Ok(ExitCode::Success)
        }
        Command::Plugin(PluginCommand::Sign { plugin, key }) => {
            print(&trust::plugin_sign(&cli.repo, plugin, key.as_deref())?);
            Ok(ExitCode::Success)
        }
        Command::Plugin(PluginCommand::Eval { plugin, policy_config, policy_config_file, transition, timeout_ms, memory_mib, http_origins, environments, policy_environments, output }) => {
            let config = match (policy_config, policy_config_file) {
                (Some(text), _) => yaml_to_json("--policy-config", text)?,
                (None, Some(path)) => yaml_to_json(&path.display().to_string(), &read_input(path)?)?,
                (None, None) => "{}".to_string(),
            };
            let transition: Transition = match transition {
                Some(path) => serde_yaml::from_str(&read_input(path)?)
                    .map_err(|error| Failure::bad_input(format!("{}: {}", path.display(), describe_yaml_error(&error))))?,
                None => Transition::default(),
            };
            let limits = Limits {
                timeout: Duration::from_millis(*timeout_ms),
                memory_bytes: crate::runtime::mib_to_bytes(*memory_mib),
            };
            let plugin = load_plugin(cli, plugin)?;
            let http_origins = http_origins
                .iter()
                .map(|origin| origin_of(origin).map_err(|error| Failure::bad_input(format!("--http-origin: {error}"))))
                .collect::<Result<Vec<_>, _>>()?;
            let runs_for = (!policy_environments.is_empty()).then_some(policy_environments.as_slice());
            let environments = crate::fixtures::told_environments(environments, runs_for, ("--environment", "--policy-environment")).map_err(Failure::bad_input)?;
            let access = HostAccess { files: None, http_origins, http: Arc::new(NetworkFetcher), environments };
            let evaluation = plugin.decide(&config, &transition, limits, access).evaluation;
            print(&report::evaluation(&plugin, &evaluation, *output));
            Ok(match &evaluation.outcome {
                PolicyOutcome::Verdict(Verdict { decision: Decision::Allow, .. }) => ExitCode::Success,
                PolicyOutcome::Verdict(Verdict { decision: Decision::Deny, .. }) => ExitCode::Denied,
                PolicyOutcome::Failed { .. } => ExitCode::PolicyFailed,
            })
        }
        Command::Plugin(PluginCommand::Test { plugin, cases, output }) => {
            let plugin = load_plugin(cli, plugin)?;
            let mut results = Vec::new();
            for path in cases {
                let file = read_cases_file(path).map_err(|error| Failure::bad_input(error.0))?;
                results.extend(run_cases(&plugin, path, &file).map_err(|error| Failure::bad_input(error.0))?);
            }
            print(&report::test_results(&plugin, &results, *output));
            Ok(if results.iter().all(|result| result.passed) { ExitCode::Success } else { ExitCode::Denied })
        }
        Command::Plugin(PluginCommand::Bench(args)) => {
            let (text, code) = plugin_bench::bench_command(cli, args)?;
            print(&text);
            Ok(code)
        }
        Command::Plugin(PluginCommand::Push(args)) => {
            print(&registry::push_command(&runtime(cli)?, args)?);
            Ok(ExitCode::Success)
        }
        Command::Plugin(PluginCommand::Pull(args)) => {
            print(&registry::pull_command(&runtime(cli)?, args)?);
            Ok(ExitCode::Success)
        }
        Command::Plugin(PluginCommand::Lock(args)) => {
            let (_, summary) = registry::lock(&runtime(cli)?, &cli.repo, cli.config.as_deref(), args)?;
            print(&summary);
            Ok(ExitCode::Success)
        }
        Command::Plugin(PluginCommand::New { name, language, dir, sdk_path, sdk_from_registry }) => {
            print(&crate::scaffold::new_command(name, *language, dir.as_deref(), sdk_path.as_deref(), *sdk_from_registry)?);
            Ok(ExitCode::Success)
        }
    }
}

fn print(text: &str) {
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`tollgate … | head`) is not an error worth a panic.
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}
