//! `tollgate plan-batch FILE`: plan many promotions in one process (a release train), one
//! request a line, each decided on its own by [`crate::promotion::workspace::Workspace::decide_each`].

use std::path::PathBuf;

use clap::Args;

use super::request::{PlanArgs, RequestArgs, plan_request};
use super::setup::{Lifetime, open_workspace_for};
use super::{Cli, print};
use crate::exit::{ExitCode, Failure};
use crate::promotion::judge::GateOutcome;
use crate::report::OutputFormat;

/// Most requests one batch file may hold.
const MAX_REQUESTS: usize = 100_000;

/// Arguments of `plan-batch`.
#[derive(Debug, Args)]
pub struct BatchArgs {
    /// One request a line: `APP ENV [VERSION [DIGEST]]`, or a JSON object
    /// `{"app": …, "to": …, "from": …, "version": …, "digest": …}`; blank lines and lines
    /// starting with `#` are skipped. `-` reads standard input.
    pub file: PathBuf,
    /// Decide on at most N threads (default: one per core, for batches large enough to share).
    #[arg(long, value_name = "N")]
    pub jobs: Option<std::num::NonZeroUsize>,
    /// Actor, approvals, labels and time, shared by every request.
    #[command(flatten)]
    pub request: RequestArgs,
}

/// One request line in JSON form.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRequest {
    app: String,
    to: String,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    digest: Option<String>,
}

/// The requests of a batch file, each with its line number; the error names the line.
fn parse_batch(source: &str, text: &str) -> Result<Vec<(usize, PlanArgs)>, Failure> {
    let mut requests = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |what: String| Failure::bad_input(format!("{source}:{number}: {what}"));
        let (app, to, from, version, digest) = if line.starts_with('{') {
            let json: JsonRequest = serde_json::from_str(line).map_err(|error| bad(format!("not a request object ({error})")))?;
            (json.app, json.to, json.from, json.version, json.digest)
        } else {
            let words: Vec<&str> = line.split_whitespace().collect();
            if !(2..=4).contains(&words.len()) {
                return Err(bad("write APP ENV [VERSION [DIGEST]], e.g. shop-api prod, or shop-api dev 1.4.2".into()));
            }
            let word = |index: usize| words.get(index).map(|word| word.to_string());
            (words[0].to_string(), words[1].to_string(), None, word(2), word(3))
        };
        let plan = PlanArgs {
            app: Some(app),
            apps: Vec::new(),
            all: false,
            to: vec![to],
            from,
            version: version.into_iter().collect(),
            digest: digest.into_iter().collect(),
            no_digest: false,
            latest: false,
            request: RequestArgs::empty(),
        };
        requests.push((number, plan));
        if requests.len() > MAX_REQUESTS {
            return Err(bad(format!("more than {MAX_REQUESTS} requests; split the file")));
        }
    }
    Ok(requests)
}

/// Run `plan-batch`: exit 2 when any request could not be planned, else 3 when a policy
/// failed to run, else 1 when any was denied, else 0.
pub(super) fn run(cli: &Cli, args: &BatchArgs) -> Result<ExitCode, Failure> {
    let format = args.request.output;
    if !matches!(format, OutputFormat::Text | OutputFormat::Json) {
        return Err(Failure::bad_input("plan-batch prints text or json (-o text|json)"));
    }
    let source = args.file.display().to_string();
    let text = if source == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|error| Failure::bad_input(format!("standard input: {error}")))?
    } else {
        super::read_input(&args.file)?
    };
    let lines = parse_batch(&source, &text)?;
    let workspace = open_workspace_for(cli, Lifetime::LongLived)?;
    let mut requests = Vec::with_capacity(lines.len());
    for (number, plan) in &lines {
        let request = plan_request(&workspace, plan, &args.request, None).map_err(|failure| Failure { message: format!("{source}:{number}: {}", failure.message), ..failure })?;
        requests.push(request);
    }
    let batch = workspace.decide_each(&requests, args.jobs.map(usize::from))?;
    if cli.verbose {
        let threads = if batch.threads > 1 { format!(" on {} threads", batch.threads) } else { String::new() };
        eprintln!("tollgate: {} plans read {} commits of history{threads}", requests.len(), batch.history_commits_read);
    }
    let mut code = ExitCode::Success;
    let mut worse = |candidate: ExitCode| {
        let rank = |code: ExitCode| match code {
            ExitCode::BadInput => 3,
            ExitCode::PolicyFailed => 2,
            ExitCode::Denied => 1,
            _ => 0,
        };
        if rank(candidate) > rank(code) {
            code = candidate;
        }
    };
    let mut text_out = String::new();
    let mut json_out = Vec::new();
    for ((number, plan), result) in lines.iter().zip(&batch.results) {
        let (verdict, version, detail) = match result {
            Err(failure) => {
                worse(ExitCode::BadInput);
                ("error", String::new(), failure.message.clone())
            }
            Ok(decided) => {
                let verdict = match (decided.plan.no_op, decided.gate.outcome) {
                    (true, _) => "no-change",
                    (false, GateOutcome::Allowed) => "allowed",
                    (false, GateOutcome::Denied) => {
                        worse(ExitCode::Denied);
                        "denied"
                    }
                    (false, GateOutcome::Failed) => {
                        worse(ExitCode::PolicyFailed);
                        "failed"
                    }
                };
                let blocking: Vec<String> =
                    decided.gate.policies.iter().filter(|run| run.blocks()).map(|run| format!("{} {}", run.name, run.verdict_label())).collect();
                (verdict, decided.plan.transition.artifact.version.clone(), blocking.join(", "))
            }
        };
        match format {
            OutputFormat::Json => json_out.push(serde_json::json!({
                "line": number, "app": plan.app.as_deref().unwrap_or_default(), "to": plan.to.join(","), "version": version, "verdict": verdict, "detail": detail,
            })),
            _ => text_out.push_str(&format!(
                "{}:{number}: {} -> {} {}: {verdict}{}\n",
                source,
                plan.app.as_deref().unwrap_or_default(),
                plan.to.join(","),
                if version.is_empty() { "?" } else { &version },
                if detail.is_empty() { String::new() } else { format!(" ({detail})") }
            )),
        }
    }
    match format {
        OutputFormat::Json => print(&format!("{}\n", serde_json::to_string_pretty(&json_out).expect("plain JSON values"))),
        _ => print(&text_out),
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_lines_take_words_or_json_and_name_the_bad_line() {
        let text = "# release train\nshop-api prod\n\nshop-web dev 2.1.0\n{\"app\": \"shop-cart\", \"to\": \"test\", \"from\": \"dev\"}\n";
        let requests = parse_batch("train.txt", text).unwrap();
        let summary: Vec<_> = requests.iter().map(|(line, plan)| (*line, plan.app.as_deref().unwrap(), plan.to[0].as_str(), plan.version.first().map(String::as_str), plan.from.as_deref())).collect();
        assert_eq!(summary, [(2, "shop-api", "prod", None, None), (4, "shop-web", "dev", Some("2.1.0"), None), (5, "shop-cart", "test", None, Some("dev"))]);
        let error = parse_batch("train.txt", "shop-api prod\nshop-api\n").err().unwrap();
        assert!(error.message.starts_with("train.txt:2: write APP ENV"), "{}", error.message);
        let error = parse_batch("train.txt", "{\"app\": \"a\", \"to\": \"b\", \"extra\": 1}\n").err().unwrap();
        assert!(error.message.starts_with("train.txt:1: not a request object"), "{}", error.message);
    }
}
