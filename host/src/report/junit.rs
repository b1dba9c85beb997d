//! JUnit XML, which CI systems show natively: deny as a failure, a policy that failed to
//! run as an error.

use std::fmt::Write as _;

use crate::decision::PolicyOutcome;
use crate::promotion::pipeline::Decided;
use crate::promotion::verify::Verification;
use crate::fixtures::CaseResult;
use crate::promotion::judge::PolicyRun;

/// Text escaped for XML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all (C0 controls, U+FFFE, U+FFFF).
            c if !super::escape::xml_allows(c) => out.push('\u{FFFD}'),
            c if super::escape::is_bidi_control(c) => out.push_str(&format!("\\u{{{:04X}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// One test case.
struct Case {
    classname: String,
    name: String,
    seconds: f64,
    /// `(element, type, message, body)` for failure/error; `None` when it passed.
    problem: Option<(&'static str, String, String, String)>,
    output: String,
}

fn document(suite: &str, cases: &[Case]) -> String {
    documents(&[(suite.to_string(), cases)])
}

/// Failures, errors and seconds of some cases.
fn totals(cases: &[Case]) -> (usize, usize, f64) {
    let failures = cases.iter().filter(|case| matches!(&case.problem, Some(("failure", ..)))).count();
    let errors = cases.iter().filter(|case| matches!(&case.problem, Some(("error", ..)))).count();
    (failures, errors, cases.iter().map(|case| case.seconds).sum())
}

/// A document of several test suites.
fn documents(suites: &[(String, &[Case])]) -> String {
    let all: Vec<(usize, usize, f64)> = suites.iter().map(|(_, cases)| totals(cases)).collect();
    let tests: usize = suites.iter().map(|(_, cases)| cases.len()).sum();
    let (failures, errors, seconds) =
        all.iter().fold((0, 0, 0.0), |(f, e, s), (failures, errors, seconds)| (f + failures, e + errors, s + seconds));
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(out, "<testsuites name=\"tollgate\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{seconds:.3}\">");
    for ((suite, cases), (failures, errors, seconds)) in suites.iter().zip(all) {
        suite_xml(&mut out, suite, cases, failures, errors, seconds);
    }
    out.push_str("</testsuites>\n");
    out
}

fn suite_xml(out: &mut String, suite: &str, cases: &[Case], failures: usize, errors: usize, seconds: f64) {
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{seconds:.3}\">",
        escape(suite),
        cases.len()
    );
    for case in cases {
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            escape(&case.classname),
            escape(&case.name),
            case.seconds
        );
        if case.problem.is_none() && case.output.is_empty() {
            out.push_str("/>\n");
            continue;
        }
        out.push_str(">\n");
        if let Some((element, kind, message, body)) = &case.problem {
            let _ = writeln!(out, "      <{element} type=\"{}\" message=\"{}\">{}</{element}>", escape(kind), escape(message), escape(body));
        }
        if !case.output.is_empty() {
            let _ = writeln!(out, "      <system-out>{}</system-out>", escape(&case.output));
        }
        out.push_str("    </testcase>\n");
    }
    out.push_str("  </testsuite>\n");
}

fn findings_text(outcome: &PolicyOutcome) -> String {
    outcome
        .findings()
        .iter()
        .map(|finding| match &finding.path {
            Some(path) => format!("{path}: {}", finding.message),
            None => finding.message.clone(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn policy_case(run: &PolicyRun, env: &str) -> Case {
    let findings = findings_text(&run.evaluation.outcome);
    let blocks = run.blocks();
    let problem = match (&run.evaluation.outcome, blocks) {
        (PolicyOutcome::Failed { cause }, true) => Some(("error", "failed".to_string(), cause.clone(), cause.clone())),
        (PolicyOutcome::Verdict(_), true) => {
            let first = run.evaluation.outcome.findings().first().map_or("denied".to_string(), |finding| finding.message.clone());
            Some(("failure", "deny".to_string(), first, findings.clone()))
        }
        _ => None,
    };
    let output = match (&run.evaluation.outcome, blocks) {
        (_, true) => String::new(),
        (PolicyOutcome::Failed { cause }, false) => format!("{}: {cause}", run.verdict_label()),
        (PolicyOutcome::Verdict(_), false) if findings.is_empty() => String::new(),
        (PolicyOutcome::Verdict(_), false) => format!("{}:\n{findings}", run.verdict_label()),
    };
    Case {
        classname: format!("tollgate.{env}"),
        name: format!("{}@{}", run.name, run.version),
        seconds: run.evaluation.elapsed.as_secs_f64(),
        problem,
        output,
    }
}

/// A decision: one test case per policy.
pub fn decision(decided: &Decided) -> String {
    decisions(std::slice::from_ref(decided))
}

/// Several decisions (one call of several transitions): one test suite per transition.
pub fn decisions(decided: &[Decided]) -> String {
    let suites: Vec<(String, Vec<Case>)> = decided
        .iter()
        .map(|decided| {
            let t = &decided.plan.transition;
            let suite = format!("{} {} {} to {}", super::words::verb(t), t.application, t.artifact.version, t.to_env);
            (suite, decided.gate.policies.iter().map(|run| policy_case(run, &t.to_env)).collect())
        })
        .collect();
    let borrowed: Vec<(String, &[Case])> = suites.iter().map(|(suite, cases)| (suite.clone(), cases.as_slice())).collect();
    documents(&borrowed)
}

/// `plugin test`: one test case per case.
pub fn test_results(plugin: &str, results: &[CaseResult]) -> String {
    let cases: Vec<Case> = results
        .iter()
        .map(|result| {
            let problem = result.problem.as_ref().map(|problem| {
                // A plugin that failed where a verdict was expected is an error, not a failure.
                let element = match (&result.evaluation.outcome, result.expected) {
                    (PolicyOutcome::Failed { .. }, expected) if expected != crate::fixtures::Expectation::Error => "error",
                    _ => "failure",
                };
                (element, result.evaluation.outcome.label().to_string(), problem.clone(), problem.clone())
            });
            Case {
                classname: result.file.display().to_string(),
                name: result.name.clone(),
                seconds: result.evaluation.elapsed.as_secs_f64(),
                problem,
                output: String::new(),
            }
        })
        .collect();
    document(&format!("plugin test {plugin}"), &cases)
}

/// `verify`: one test case per policy; a verdict that did not reproduce is a failure.
pub fn verification(verification: &Verification) -> String {
    let integrity = Case {
        classname: "tollgate.verify".to_string(),
        name: "commit and decision record".to_string(),
        seconds: 0.0,
        problem: (!verification.problems.is_empty())
            .then(|| ("failure", "does-not-check-out".to_string(), verification.problems.join("; "), verification.problems.join("\n"))),
        output: String::new(),
    };
    let cases: Vec<Case> = std::iter::once(integrity)
        .chain(verification.policies.iter().map(|policy| Case {
            classname: "tollgate.verify".to_string(),
            name: policy.name.clone(),
            seconds: 0.0,
            problem: policy.problem.as_ref().map(|problem| {
                let body = format!("recorded: {}\nnow: {}", policy.recorded, policy.now.as_ref().map_or("-".to_string(), ToString::to_string));
                ("failure", "not-reproduced".to_string(), problem.clone(), body)
            }),
            output: String::new(),
        }))
        .collect();
    document(&format!("verify {} ({})", verification.commit, verification.decision), &cases)
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(escape("a<b & \"c\" 'd'>\u{1b}"), "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;\u{FFFD}");
    }
}
