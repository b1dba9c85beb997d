//! `tollgate verify`: one promotion commit checked and its decision re-run, or a range
//! `BASE..HEAD` judged as the branch guard ([`crate::promotion::guard::guard_range`], which
//! `GET /v1/verify` runs too).

use super::Cli;
use super::setup::open_workspace;
use crate::exit::{ExitCode, Failure};
use crate::report::{self, VerifyFormat};

/// `verify`'s help after its flags.
pub(super) const AFTER_HELP: &str = "Exit codes: 0 verified (every commit of a range passes), 1 not, 2 bad input.\n\n\
                                     Examples:\n  tollgate verify HEAD\n  tollgate verify origin/main..HEAD\n  \
                                     tollgate verify \"$oldrev..$newrev\"    # in a pre-receive hook; $oldrev may be all zeros";

/// `tollgate verify`'s arguments.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The promotion commit (any revision, e.g. HEAD~1), or a range BASE..HEAD.
    #[arg(value_name = "COMMIT|BASE..HEAD")]
    pub commit: String,
    /// Re-run the policies against the systems they ask (Argo CD, Alertmanager, an ERP
    /// endpoint) instead of the answers the record kept.
    #[arg(long)]
    pub live: bool,
    /// With BASE..HEAD: the branch the range lands on. An environment branch of its own
    /// (a location's `branch:`) is judged by the protected branch's rules [default: the
    /// rules each commit's parent holds].
    #[arg(long, value_name = "NAME")]
    pub branch: Option<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "text")]
    pub output: VerifyFormat,
}

/// Run `tollgate verify`.
pub(super) fn run(cli: &Cli, args: &VerifyArgs) -> Result<ExitCode, Failure> {
    let VerifyArgs { commit, live, branch, output } = args;
    if commit.contains("..") {
        if *output == VerifyFormat::Junit {
            return Err(Failure::bad_input("verify BASE..HEAD prints text or json (-o text|json)"));
        }
        let judged = crate::promotion::guard::guard_range(&cli.repo, commit, branch.as_deref().map(|branch| ("--branch", branch)), || open_workspace(cli))?;
        super::print(&report::guard(commit, &judged, *output));
        return Ok(if judged.iter().all(|one| one.passes()) { ExitCode::Success } else { ExitCode::Denied });
    }
    if branch.is_some() {
        return Err(Failure::bad_input("verify --branch goes with a range BASE..HEAD (the branch guard); verify COMMIT finds the branch from its records"));
    }
    let workspace = open_workspace(cli)?;
    let verification = workspace.verify(commit, *live)?;
    super::print(&report::verification(&verification, *output));
    Ok(if verification.reproduced && verification.trust.counts() { ExitCode::Success } else { ExitCode::Denied })
}
