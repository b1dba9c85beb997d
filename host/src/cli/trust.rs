//! The trust commands of the command line: `approve`, `approvals`, `plugin sign`, and the
//! signature lines of `plugin info` and `verify`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::input::literal_principal;
use crate::trust::allowed_signers::{AllowedSigners, fingerprint};
use crate::trust::approvals::{CheckedApproval, Target, check_all};
use crate::trust::sshsig::{self, SigningKey};
use crate::trust::statement::{SignedApproval, Statement};
use crate::trust::{NAMESPACE_APPROVAL, load_allowed_signers, store};
use crate::promotion::workspace::Workspace;
use crate::exit::Failure;
use crate::promotion::request::PlanRequest;
use crate::report::BasicFormat;

/// What an approval names: the application, the target and (for the first environment, or a
/// rollback) the version and digest; shared by `approve` and `approvals`.
#[derive(Debug, Args)]
pub struct ApprovalTarget {
    /// Application.
    pub app: String,
    /// Target environment.
    #[arg(long, value_name = "ENV")]
    pub to: String,
    /// Source environment: one of the target's upstreams (default: chosen from the
    /// environment graph), or another environment an allow_skip pair permits.
    #[arg(long, value_name = "ENV")]
    pub from: Option<String>,
    /// Version [default: what a promotion would take]; into the first environment, the version
    /// a promotion brings; in a later one, a version that ran there (a rollback).
    #[arg(long)]
    pub version: Option<String>,
    /// Digest of that version [default: what a promotion would take].
    #[arg(long)]
    pub digest: Option<String>,
}

/// Arguments of `tollgate approve`.
#[derive(Debug, Args)]
pub struct ApproveArgs {
    #[command(flatten)]
    pub target: ApprovalTarget,
    /// SSH key to sign with: a private key file, a public key whose private half is in
    /// ssh-agent, or `key::ssh-ed25519 AAAA…` [default: git config user.signingKey].
    #[arg(long, value_name = "FILE")]
    pub key: Option<String>,
    /// Principal to approve as [default: the one the allowed signers list for the key, else
    /// git config user.email].
    #[arg(long, value_name = "PRINCIPAL")]
    pub principal: Option<String>,
    /// Also append the signed approval to FILE (give it to `promote --signed-approvals FILE`).
    #[arg(long, value_name = "FILE")]
    pub approval_file: Option<PathBuf>,
    /// Publish refs/tollgate/approvals to REMOTE [default: origin].
    #[arg(long, value_name = "REMOTE", num_args = 0..=1, default_missing_value = "origin")]
    pub push: Option<String>,
    /// Date the approval at this time (RFC 3339) [default: now].
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
}

/// Arguments of `tollgate approvals`.
#[derive(Debug, Args)]
pub struct ApprovalsArgs {
    #[command(flatten)]
    pub target: ApprovalTarget,
    /// Signed approvals from FILE too (repeatable).
    #[arg(long = "signed-approvals", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Check as if deciding at this time (RFC 3339) [default: now].
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
    /// Who would request the promotion (the policies decide which approvals count, e.g. not
    /// the requester's own) [default: git config user.name and user.email, else $USER].
    #[arg(long)]
    pub actor: Option<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "text")]
    pub output: BasicFormat,
}

/// `--at` as Unix seconds, or now.
pub fn parse_at(at: Option<&str>) -> Result<i64, Failure> {
    match at {
        Some(text) => text
            .parse::<jiff::Timestamp>()
            .map(|timestamp| timestamp.as_second())
            .map_err(|error| Failure::bad_input(format!("--at {text:?}: not an RFC 3339 time such as 2026-01-09T17:00:00+01:00 ({error})"))),
        None => Ok(jiff::Timestamp::now().as_second()),
    }
}

/// What a promotion of `app` into `env` would take, planned like `tollgate plan`.
pub fn promotion_target(workspace: &Workspace, request: &PlanRequest) -> Result<Target, Failure> {
    let mut history = workspace.histories()?;
    let plan = crate::promotion::plan::plan_with(&workspace.repo, &workspace.config, request, &mut history).map_err(Failure::bad_input)?;
    Ok(Target { application: request.app.clone(), environment: request.to_env.clone(), artifact: plan.transition.artifact })
}

fn target_request(app: &str, to: &str, from: &Option<String>, version: &Option<String>, digest: &Option<String>, at: i64) -> PlanRequest {
    PlanRequest {
        app: app.to_string(),
        to_env: to.to_string(),
        from_env: from.clone(),
        version: version.clone(),
        digest: digest.clone(),
        at,
        // Only what the promotion would take matters here; the approver is the signer.
        actor: "approver".into(),
        ..PlanRequest::default()
    }
}

/// `tollgate approve`: sign a statement approving what a promotion would take, check that it
/// would count, and store it.
pub fn approve(workspace: &Workspace, args: &ApproveArgs) -> Result<String, Failure> {
    let at = parse_at(args.at.as_deref())?;
    let git = workspace.repo.git();
    let signers = load_allowed_signers(&workspace.repo, &workspace.config)
        .map_err(Failure::bad_input)?
        .ok_or_else(|| Failure::bad_input("tollgate.yaml names no allowed-signers file; add trust: { allowed_signers: .tollgate/allowed_signers }"))?;
    // What a promotion would take; with --version in a later environment, a rollback to a
    // version that ran there (its digest from the history); in the first environment,
    // --version/--digest as given.
    let request = target_request(&args.target.app, &args.target.to, &args.target.from, &args.target.version, &args.target.digest, at);
    let target = match (&args.target.version, promotion_target(workspace, &request)) {
        (_, Ok(target)) => target,
        (Some(version), Err(_)) if workspace.config.previous_env(&args.target.to).is_none() => {
            let image = workspace.config.applications.get(&args.target.app).map(|application| application.image.clone()).unwrap_or_default();
            Target {
                application: args.target.app.clone(),
                environment: args.target.to.clone(),
                artifact: crate::transition::Artifact { image, version: version.clone(), digest: args.target.digest.clone() },
            }
        }
        (Some(version), Err(failure)) => {
            let rollback = PlanRequest {
                version: None,
                digest: None,
                from_env: None,
                rollback: Some(crate::promotion::request::RollbackTarget::To(version.clone())),
                ..request.clone()
            };
            let target = promotion_target(workspace, &rollback).map_err(|rollback_failure| {
                Failure::bad_input(format!("{}; nor is {version} a version to roll back to: {}", failure.message, rollback_failure.message))
            })?;
            if args.target.digest.is_some() && args.target.digest != target.artifact.digest {
                return Err(Failure::bad_input(format!(
                    "--digest {} is not the digest of {version} in {} ({})",
                    args.target.digest.as_deref().unwrap_or_default(),
                    args.target.to,
                    target.artifact.digest.as_deref().unwrap_or("none")
                )));
            }
            target
        }
        (None, Err(failure)) => return Err(failure),
    };
    let key = SigningKey::resolve(args.key.as_deref(), Some(git)).map_err(Failure::bad_input)?;
    let principal = match &args.principal {
        Some(principal) => principal.clone(),
        None => default_principal(&key, &signers, git)?,
    };
    literal_principal(&principal).map_err(|error| Failure::bad_input(format!("--principal: {error}")))?;
    let statement = Statement {
        application: target.application.clone(),
        environment: target.environment.clone(),
        image: target.artifact.image.clone(),
        version: target.artifact.version.clone(),
        digest: target.artifact.digest.clone(),
        approver: principal.clone(),
        time: at,
    };
    statement.validate().map_err(|error| Failure::bad_input(format!("cannot approve: {error}")))?;
    let text = statement.to_text();
    let signature = sshsig::sign(&key, NAMESPACE_APPROVAL, text.as_bytes(), sshsig::git_ssh_program(Some(git)).as_deref()).map_err(Failure::bad_input)?;
    let signed = SignedApproval { text, signature };
    // Store only what a promotion would count: a key not in the allowed signers fails here.
    let checked = crate::trust::approvals::check(&signers, "new approval".into(), signed.clone(), Some(&target), at);
    let signer = checked.signer.ok_or_else(|| {
        Failure::bad_input(format!("this approval would not count, so it was not stored: {}", checked.problem.unwrap_or_default()))
    })?;
    let who = crate::promotion::commit::signature(&workspace.repo, None).map_err(|_| Failure::bad_input("cannot determine a Git identity"))?;
    let mut out = format!(
        "approved {} {}{} into {} as {} (key {})\n",
        statement.application,
        statement.version,
        statement.digest.as_deref().map(|digest| format!(" ({digest})")).unwrap_or_default(),
        statement.environment,
        signer.principal,
        signer.fingerprint
    );
    store::add(git, &signed, &who).map_err(Failure::bad_input)?;
    out.push_str(&format!("stored in {}\n", store::APPROVALS_REF));
    if let Some(path) = &args.approval_file {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|error| Failure::bad_input(format!("{}: cannot append to it ({error})", path.display())))?;
        file.write_all(signed.to_file().as_bytes()).map_err(|error| Failure::bad_input(format!("{}: cannot write it ({error})", path.display())))?;
        out.push_str(&format!("written to {}\n", path.display()));
    }
    if let Some(remote) = &args.push {
        store::push(workspace.repo.path(), git, remote, &who).map_err(Failure::conflict)?;
        out.push_str(&format!("pushed {} to {remote}\n", store::APPROVALS_REF));
    }
    Ok(out)
}

/// The principal the allowed signers list for `key` (when exactly one), else Git's user.email.
fn default_principal(key: &SigningKey, signers: &AllowedSigners, git: &git2::Repository) -> Result<String, Failure> {
    if let Some(public) = key.public_key() {
        let listed = signers.principals_of(&public);
        match listed.as_slice() {
            [one] => return Ok(one.clone()),
            [] => {}
            many => {
                return Err(Failure::bad_input(format!(
                    "key {} is listed for several principals ({}); choose one with --principal",
                    fingerprint(&public),
                    many.join(", ")
                )));
            }
        }
    }
    git.config()
        .and_then(|config| config.get_string("user.email"))
        .ok()
        .filter(|email| !email.trim().is_empty())
        .ok_or_else(|| Failure::bad_input("cannot tell which principal to approve as; pass --principal NAME (as listed in the allowed signers)"))
}

/// `tollgate approvals`: every signed approval for `app` into `env`, with whether it counts.
pub fn approvals(workspace: &Workspace, args: &ApprovalsArgs) -> Result<String, Failure> {
    let at = parse_at(args.at.as_deref())?;
    let request = target_request(&args.target.app, &args.target.to, &args.target.from, &args.target.version, &args.target.digest, at);
    let target = promotion_target(workspace, &request).ok();
    let checked = check_all(&workspace.repo, &workspace.config, &args.target.app, &args.target.to, target.as_ref(), at, &args.files).map_err(Failure::bad_input)?;
    // Which of them count is the policies' decision: plan the promotion with the approvals that
    // verify, as the requester, and judge it as `plan` would.
    let counted = match &target {
        Some(_) => {
            let request = PlanRequest {
                actor: super::request::requester(workspace, args.actor.as_deref())?,
                approvals: checked.iter().filter_map(CheckedApproval::approval).collect(),
                ..request
            };
            let decided = workspace.decide(&request)?;
            counted_by_policies(&decided.gate)
        }
        None => None,
    };
    Ok(render_approvals(&args.target.app, &args.target.to, target.as_ref(), &checked, counted.as_ref(), args.output))
}

/// The approvers the enforce-mode policies of `gate` counted (a union), with their names;
/// `None` when no policy reports which approvals it counts.
fn counted_by_policies(gate: &crate::promotion::judge::GateResult) -> Option<(Vec<String>, Vec<String>)> {
    let reporting: Vec<&crate::promotion::judge::PolicyRun> =
        gate.policies.iter().filter(|run| run.mode == crate::config::Mode::Enforce && run.evaluation.counted_approvals.is_some()).collect();
    if reporting.is_empty() {
        return None;
    }
    let approvers = reporting.iter().flat_map(|run| run.evaluation.counted_approvals.clone().unwrap_or_default()).collect();
    Some((approvers, reporting.iter().map(|run| run.name.clone()).collect()))
}

fn render_approvals(
    app: &str,
    env: &str,
    target: Option<&Target>,
    checked: &[CheckedApproval],
    counted: Option<&(Vec<String>, Vec<String>)>,
    format: BasicFormat,
) -> String {
    // An approval counts when its signature verifies and, where a policy reports what it
    // counts, that policy counted it.
    let counts = |one: &CheckedApproval| {
        one.signer.as_ref().is_some_and(|signer| counted.is_none_or(|(approvers, _)| approvers.contains(&signer.principal)))
    };
    let counting = counted.map(|(_, policies)| policies.join(", "));
    match format {
        BasicFormat::Json => {
            let approvals: Vec<serde_json::Value> = checked
                .iter()
                .map(|one| {
                    let mut value = serde_json::to_value(one).expect("JSON");
                    value["counts"] = counts(one).into();
                    value
                })
                .collect();
            let document = serde_json::json!({
                "schema_version": crate::report::JSON_SCHEMA_VERSION,
                "application": app,
                "environment": env,
                "version": target.map(|target| target.artifact.version.clone()),
                "digest": target.and_then(|target| target.artifact.digest.clone()),
                "counted": checked.iter().filter(|one| counts(one)).count(),
                "counted_by": counting,
                "approvals": approvals,
            });
            format!("{}\n", serde_json::to_string_pretty(&document).expect("JSON"))
        }
        BasicFormat::Text => {
            let mut out = match target {
                Some(target) => format!(
                    "signed approvals of {app} into {env} (a promotion would take {}{}):\n",
                    target.artifact.version,
                    target.artifact.digest.as_deref().map(|digest| format!(" {digest}")).unwrap_or_default()
                ),
                None => format!("signed approvals of {app} into {env}:\n"),
            };
            if checked.is_empty() {
                out.push_str(&format!("  none; approvers sign with `tollgate approve {app} --to {env}`\n"));
            }
            for one in checked {
                let what = one
                    .statement
                    .as_ref()
                    .map(|statement| {
                        let time = jiff::Timestamp::from_second(statement.time).map(|t| t.to_string()).unwrap_or_default();
                        format!("{} {} at {time}", statement.approver, statement.version)
                    })
                    .unwrap_or_else(|| "unreadable".to_string());
                match (&one.signer, &one.problem) {
                    (Some(signer), _) if counts(one) => out.push_str(&format!("  ok    {what}: verified as {} (key {})\n", signer.principal, signer.fingerprint)),
                    (Some(signer), _) => out.push_str(&format!(
                        "  SKIP  {what}: verified as {} (key {}), but {} does not count it\n",
                        signer.principal,
                        signer.fingerprint,
                        counting.as_deref().unwrap_or_default()
                    )),
                    (None, problem) => out.push_str(&format!("  FAIL  {what}: {} [{}]\n", problem.as_deref().unwrap_or("not verified"), one.source)),
                }
            }
            let by = counting.map(|policies| format!(" (as {policies} counts them)")).unwrap_or_default();
            out.push_str(&format!("{} of {} count{by}\n", checked.iter().filter(|one| counts(one)).count(), checked.len()));
            out
        }
    }
}

/// `tollgate plugin sign`: write `FILE.sig`.
pub fn plugin_sign(repo: &Path, plugin: &Path, key: Option<&str>) -> Result<String, Failure> {
    let opened = crate::repo::GitRepo::open(repo).ok();
    let git = opened.as_ref().map(crate::repo::GitRepo::git);
    let key = SigningKey::resolve(key, git).map_err(Failure::bad_input)?;
    let signature = crate::trust::plugin_signature::sign(plugin, &key, sshsig::git_ssh_program(git).as_deref()).map_err(Failure::bad_input)?;
    Ok(format!("signed {} (namespace {}): {}\n", plugin.display(), crate::trust::NAMESPACE_PLUGIN, signature.display()))
}

/// The signature line of `plugin info` for the plugin file at `path` whose loaded bytes have
/// `sha256`: checked against `allowed_signers` (a file) or the repository's allowed signers.
pub fn plugin_signature_status(path: &Path, sha256: &str, allowed_signers: Option<&Path>, workspace: Option<&Workspace>) -> serde_json::Value {
    let signature_file = crate::trust::plugin_signature::signature_path(path);
    if !signature_file.exists() {
        return serde_json::json!({ "status": "unsigned" });
    }
    let armored = std::fs::read_to_string(&signature_file).unwrap_or_default();
    signature_status(&armored, allowed_signers, workspace, |signers| {
        crate::trust::plugin_signature::verify(path, sha256, signers, &[], jiff::Timestamp::now().as_second())
    })
}

/// The signature line of `plugin info` for the registry plugin `reference` (loaded through
/// `registry` with `sha256`): its signature artifact, checked like a file's `.sig`.
pub fn oci_plugin_signature_status(
    registry: &crate::registry::Resolver,
    reference: &crate::registry::OciReference,
    sha256: &str,
    allowed_signers: Option<&Path>,
    workspace: Option<&Workspace>,
) -> serde_json::Value {
    use crate::registry::SignatureLookup;
    let armored = match registry.signed_component(reference).map(|signed| signed.signature) {
        Ok(SignatureLookup::Found(armored)) => String::from_utf8_lossy(&armored).into_owned(),
        Ok(SignatureLookup::Absent) => return serde_json::json!({ "status": "unsigned" }),
        Ok(SignatureLookup::Unknown(reason)) | Err(reason) => return serde_json::json!({ "status": "unchecked", "reason": reason }),
    };
    signature_status(&armored, allowed_signers, workspace, |signers| {
        crate::trust::plugin_signature::verify_oci(registry, reference, sha256, signers, &[], jiff::Timestamp::now().as_second())
    })
}

/// Check a signature (`armored`) with `verify` against the allowed signers `plugin info` uses.
fn signature_status(
    armored: &str,
    allowed_signers: Option<&Path>,
    workspace: Option<&Workspace>,
    verify: impl FnOnce(&AllowedSigners) -> Result<crate::trust::VerifiedSigner, String>,
) -> serde_json::Value {
    let signers = match (allowed_signers, workspace) {
        (Some(file), _) => std::fs::read_to_string(file)
            .map_err(|error| format!("{}: cannot read it ({error})", file.display()))
            .and_then(|text| AllowedSigners::parse(&file.display().to_string(), &text))
            .map(Some),
        (None, Some(workspace)) => load_allowed_signers(&workspace.repo, &workspace.config),
        (None, None) => Ok(None),
    };
    match signers {
        Err(error) => serde_json::json!({ "status": "unchecked", "reason": error }),
        Ok(None) => {
            let key = sshsig::parse(armored).ok().map(|sig| fingerprint(&sshsig::signer_key(&sig)));
            serde_json::json!({ "status": "unchecked", "key": key, "reason": "no allowed signers: pass --allowed-signers FILE or use a repository with trust.allowed_signers" })
        }
        Ok(Some(signers)) => match verify(&signers) {
            Ok(signer) => serde_json::json!({ "status": "good", "principal": signer.principal, "key": signer.fingerprint }),
            Err(reason) => serde_json::json!({ "status": "bad", "reason": reason }),
        },
    }
}


