//! The request flags shared by `plan`, `promote` and `rollback`, and how they become a
//! [`PlanRequest`], validated where they enter.

use std::path::PathBuf;

use clap::Args;

use super::read_input;
use crate::exit::Failure;
use crate::input::describe_yaml_error;
use crate::input::Actor;
use crate::promotion::workspace::Workspace;
use crate::promotion::request::{PlanRequest, RollbackTarget, Selection, Skipped};
use crate::report::OutputFormat;
use crate::transition::Approval;

/// Arguments of `plan` and `promote`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Application, or a glob such as 'shop-*' (a release train).
    #[arg(required_unless_present_any = ["apps", "all"], value_name = "APP")]
    pub app: Option<String>,
    /// More applications, by name or glob (repeatable): a release train that promotes every
    /// one whose upstream has a newer artifact, all or nothing in one commit.
    #[arg(long = "app", value_name = "APP|GLOB")]
    pub apps: Vec<String>,
    /// Every configured application (a release train).
    #[arg(long, conflicts_with_all = ["app", "apps"])]
    pub all: bool,
    /// Target environment, or a glob such as 'prod-*' (repeatable): several targets are
    /// judged one by one and land in one commit only when all are allowed.
    #[arg(long, value_name = "ENV|GLOB", required = true)]
    pub to: Vec<String>,
    /// Source environment: one of the target's upstreams (default: chosen from the
    /// environment graph), or another environment an allow_skip pair permits.
    #[arg(long, value_name = "ENV")]
    pub from: Option<String>,
    /// Version to promote (a root environment only; others take their upstream's).
    /// For a multi-artifact application: NAME=VERSION per artifact (repeatable), or one
    /// VERSION for all of them.
    #[arg(long, value_name = "VERSION|NAME=VERSION")]
    pub version: Vec<String>,
    /// Digest of that version, sha256:<64 hex> (a root environment only). For a
    /// multi-artifact application: NAME=DIGEST per artifact (repeatable).
    #[arg(long, value_name = "DIGEST|NAME=DIGEST")]
    pub digest: Vec<String>,
    /// Promote into a root environment without a digest, clearing the one the file has.
    #[arg(long, conflicts_with = "digest")]
    pub no_digest: bool,
    /// Take the newest version the application's registry offers (its `discover:` rule), with
    /// the digest read from the registry (a first environment of the graph only). For a
    /// multi-artifact application, every artifact's; --version NAME=VERSION pins one.
    #[arg(long, conflicts_with = "no_digest")]
    pub latest: bool,
    #[command(flatten)]
    pub request: RequestArgs,
}

/// Who asks, approvals, labels and time: shared by plan, promote and rollback.
#[derive(Debug, Args)]
pub struct RequestArgs {
    /// Who requests it: a login, or `Name <email>`; recorded as requested-by: the e-mail when given, else the login [default: git config user.name and user.email, else $USER].
    #[arg(long)]
    pub actor: Option<String>,
    /// An approval: NAME, NAME@VERSION or NAME@VERSION:GROUP (repeatable).
    #[arg(long = "approval", value_name = "NAME[@VERSION[:GROUP]]")]
    pub approvals: Vec<String>,
    /// Approvals from a YAML file: a list of {approver, version, at, group}.
    #[arg(long, value_name = "FILE")]
    pub approvals_file: Option<PathBuf>,
    /// Signed approvals from FILE (made by `tollgate approve --approval-file`), in addition to
    /// those in refs/tollgate/approvals (repeatable).
    #[arg(long = "signed-approvals", value_name = "FILE")]
    pub signed_approvals: Vec<PathBuf>,
    /// A label KEY=VALUE (repeatable), e.g. break-glass=INC-1234.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Decide as if at this time (RFC 3339) [default: now]. plan takes any time; promote and
    /// rollback only within 5 minutes of now unless tollgate.yaml sets allow_requested_at.
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "text")]
    pub output: OutputFormat,
}

impl RequestArgs {
    pub(super) fn empty() -> Self {
        RequestArgs {
            actor: None,
            approvals: Vec::new(),
            approvals_file: None,
            signed_approvals: Vec::new(),
            labels: Vec::new(),
            at: None,
            output: OutputFormat::Text,
        }
    }
}

impl PlanArgs {
    /// One application into one environment, with no other flags (what `rollback` plans).
    pub(super) fn single(app: &str, env: &str) -> Self {
        PlanArgs {
            app: Some(app.to_string()),
            apps: Vec::new(),
            all: false,
            to: vec![env.to_string()],
            from: None,
            version: Vec::new(),
            digest: Vec::new(),
            no_digest: false,
            latest: false,
            request: RequestArgs::empty(),
        }
    }

    /// The applications and targets named, as a [`Selection`].
    pub fn selection(&self) -> Selection {
        Selection { apps: self.app.iter().chain(&self.apps).cloned().collect(), all: self.all, targets: self.to.clone() }
    }
}

/// One request per (application, target) the arguments select, the pairs skipped because
/// the application is not configured there, and whether it is a release train. A call that
/// names one application and one target outright is planned as named (so its errors are
/// precise).
pub(super) fn plan_requests(workspace: &Workspace, args: &PlanArgs) -> Result<(Vec<PlanRequest>, Vec<Skipped>, bool), Failure> {
    let selection = args.selection();
    if selection.is_single() {
        return Ok((vec![plan_request(workspace, args, &args.request, None)?], Vec::new(), false));
    }
    let (pairs, skipped) = selection.resolve(&workspace.config).map_err(Failure::bad_input)?;
    let requests = pairs
        .iter()
        .map(|pair| plan_request_for(workspace, &pair.app, &pair.env, args, &args.request, None))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((requests, skipped, selection.is_train()))
}

/// Turn command-line arguments naming one application and one target into a plan request.
pub(super) fn plan_request(workspace: &Workspace, args: &PlanArgs, request: &RequestArgs, rollback: Option<RollbackTarget>) -> Result<PlanRequest, Failure> {
    let selection = args.selection();
    plan_request_for(workspace, &selection.apps[0], &selection.targets[0], args, request, rollback)
}

/// Turn command-line arguments into a plan request of `app` into `to`. Its strings are
/// validated when it is planned (see [`PlanRequest::validate`]).
pub(super) fn plan_request_for(
    workspace: &Workspace,
    app: &str,
    to: &str,
    args: &PlanArgs,
    request: &RequestArgs,
    rollback: Option<RollbackTarget>,
) -> Result<PlanRequest, Failure> {
    let bad = |error: crate::input::InputError| Failure::bad_input(error.to_string());
    let at = match &request.at {
        Some(text) => text
            .parse::<jiff::Timestamp>()
            .map_err(|error| Failure::bad_input(format!("--at {text:?}: not an RFC 3339 time such as 2026-01-09T17:00:00+01:00 ({error})")))?
            .as_second(),
        None => jiff::Timestamp::now().as_second(),
    };
    let mut approvals = Vec::new();
    for text in &request.approvals {
        crate::input::text("--approval", text, 300).map_err(bad)?;
        let (approver, rest) = text.split_once('@').map_or((text.as_str(), None), |(name, rest)| (name, Some(rest)));
        let (version, group) = match rest {
            Some(rest) => version_and_group(rest),
            None => ("", None),
        };
        if approver.is_empty() {
            return Err(Failure::bad_input(format!("--approval {text:?}: give a name, e.g. --approval bob or --approval bob@1.4.2")));
        }
        approvals.push(Approval { approver: approver.to_string(), at: None, version: version.to_string(), group, signed: None });
    }
    if let Some(path) = &request.approvals_file {
        let text = read_input(path)?;
        let from_file: Vec<ApprovalInput> = serde_yaml::from_str(&text)
            .map_err(|error| Failure::bad_input(format!("{}: {}", path.display(), describe_yaml_error(&error))))?;
        approvals.extend(from_file.into_iter().map(|input| Approval {
            approver: input.approver,
            at: input.at,
            version: input.version.unwrap_or_default(),
            group: input.group,
            signed: None,
        }));
    }
    let mut labels = std::collections::BTreeMap::new();
    for text in &request.labels {
        let (key, value) = text
            .split_once('=')
            .filter(|(key, _)| !key.is_empty())
            .ok_or_else(|| Failure::bad_input(format!("--label {text:?}: write it as KEY=VALUE, e.g. break-glass=INC-1234")))?;
        labels.insert(key.to_string(), value.to_string());
    }
    let actor = requester(workspace, request.actor.as_deref())?;
    let (version, artifact_versions) = named_values("--version", "VERSION", &args.version)?;
    let (digest, artifact_digests) = named_values("--digest", "DIGEST", &args.digest)?;
    let mut plan_request = PlanRequest {
        artifact_versions,
        artifact_digests,
        actor_given: request.actor.is_some(),
        app: app.to_string(),
        to_env: to.to_string(),
        from_env: args.from.clone(),
        version,
        digest,
        no_digest: args.no_digest,
        actor,
        approvals,
        labels,
        at,
        at_given: request.at.is_some(),
        rollback,
    };
    // The version first (approvals name it), then the approvals for it.
    workspace.take_from_registry(&mut plan_request, args.latest)?;
    plan_request.approvals = crate::promotion::approvals::request_approvals(workspace, &plan_request, &request.signed_approvals)?;
    // Validated by planning (`PlanRequest::validate`), the one boundary every command goes through.
    Ok(plan_request)
}

/// The values of a repeatable `--version` or `--digest`: one plain VALUE (for every artifact),
/// and NAME=VALUE per artifact.
fn named_values(flag: &str, value: &str, given: &[String]) -> Result<(Option<String>, std::collections::BTreeMap<String, String>), Failure> {
    let mut plain = None;
    let mut named = std::collections::BTreeMap::new();
    for text in given {
        match text.split_once('=') {
            Some((name, one)) => {
                if named.insert(name.to_string(), one.to_string()).is_some() {
                    return Err(Failure::bad_input(format!("{flag} {name}=…: given twice")));
                }
            }
            None if plain.is_none() => plain = Some(text.clone()),
            None => return Err(Failure::bad_input(format!("{flag} {value}: give it once (or NAME={value} per artifact)"))),
        }
    }
    Ok((plain, named))
}

/// `VERSION[:GROUP]` of an `--approval NAME@…`; a version that is a digest (`sha256:…`, an
/// image pinned by digest alone) keeps its own colon.
fn version_and_group(rest: &str) -> (&str, Option<String>) {
    let digest_end = "sha256:".len() + 64;
    let split_from = match rest.get(..digest_end) {
        Some(prefix) if crate::input::is_digest_version(prefix) => digest_end,
        _ => 0,
    };
    match rest[split_from..].find(':') {
        Some(colon) => (&rest[..split_from + colon], Some(rest[split_from + colon + 1..].to_string())),
        None => (rest, None),
    }
}

/// Who requests: `--actor`, else Git's identity (`user.name`, `user.email`), else `$USER`.
pub(super) fn requester(workspace: &Workspace, actor: Option<&str>) -> Result<Actor, Failure> {
    if let Some(actor) = actor {
        return Actor::parse("--actor", actor).map_err(|error| Failure::bad_input(error.to_string()));
    }
    let config = workspace.repo.git().config().ok();
    let get = |key: &str| config.as_ref().and_then(|config| config.get_string(key).ok()).filter(|value| !value.is_empty());
    let name = get("user.name").or_else(|| std::env::var("USER").ok()).unwrap_or_else(|| "unknown".to_string());
    Ok(Actor { name, email: get("user.email") })
}

/// One entry of an --approvals-file.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ApprovalInput {
    approver: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default, deserialize_with = "crate::transition::deserialize_optional_time")]
    at: Option<i64>,
    #[serde(default)]
    group: Option<String>,
}


#[cfg(test)]
mod tests {
    use super::version_and_group;

    #[test]
    fn an_approval_of_a_digest_keeps_the_digest_whole_and_its_group_after_it() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(version_and_group(&digest), (digest.as_str(), None));
        assert_eq!(version_and_group(&format!("{digest}:sre")), (digest.as_str(), Some("sre".to_string())));
        assert_eq!(version_and_group("1.4.2:sre"), ("1.4.2", Some("sre".to_string())));
        assert_eq!(version_and_group("sha256:short:sre"), ("sha256", Some("short:sre".to_string())));
    }
}
