//! SARIF 2.1.0: one rule per policy, one result per finding (and per failure), with
//! locations in the repository where the finding has them.

use serde_json::{Value, json};

use super::escape::bidi;
use super::finding_location;
use crate::decision::{Decision, PolicyOutcome};
use crate::promotion::pipeline::Decided;
use crate::promotion::judge::PolicyRun;

fn level(run: &PolicyRun, outcome: &PolicyOutcome) -> &'static str {
    match outcome {
        PolicyOutcome::Verdict(verdict) if verdict.decision == Decision::Allow => "note",
        _ if run.blocks() => "error",
        _ => "warning",
    }
}

/// `[location]`, or `[]` for a finding that names no file of the change.
fn locations(at: Option<super::Location>) -> Value {
    let Some(at) = at else {
        return json!([]);
    };
    let mut physical = json!({ "artifactLocation": { "uri": at.file, "uriBaseId": "%SRCROOT%" } });
    if let Some(line) = at.line {
        physical["region"] = json!({ "startLine": line });
    }
    json!([{ "physicalLocation": physical }])
}

/// The SARIF log of one call: one run per decision.
pub fn log(decided: &[&Decided]) -> Value {
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": decided.iter().map(|decided| run(decided)).collect::<Vec<_>>(),
    })
}

/// The SARIF run of one decision.
fn run(decided: &Decided) -> Value {
    let plan = &decided.plan;
    let rules: Vec<Value> = decided
        .gate
        .policies
        .iter()
        .map(|run| {
            json!({
                "id": bidi(&run.name),
                "name": bidi(&run.name),
                "shortDescription": { "text": format!("tollgate policy {}", bidi(&run.name)) },
                "properties": { "plugin": run.plugin, "sha256": run.sha256, "version": run.version, "mode": run.mode },
            })
        })
        .collect();
    let mut results = Vec::new();
    for (index, run) in decided.gate.policies.iter().enumerate() {
        let outcome = &run.evaluation.outcome;
        match outcome {
            PolicyOutcome::Failed { cause } => {
                let at = finding_location(None, plan);
                results.push(json!({
                    "ruleId": bidi(&run.name),
                    "ruleIndex": index,
                    "level": level(run, outcome),
                    "kind": "fail",
                    "message": { "text": bidi(&format!("{} failed to run: {cause}", run.name)) },
                    "locations": locations(at),
                }));
            }
            PolicyOutcome::Verdict(verdict) => {
                for finding in &verdict.findings {
                    let at = finding_location(finding.path.as_deref(), plan);
                    results.push(json!({
                        "ruleId": bidi(&run.name),
                        "ruleIndex": index,
                        "level": level(run, outcome),
                        "kind": if verdict.decision == Decision::Allow { "pass" } else { "fail" },
                        "message": { "text": bidi(&finding.message) },
                        "locations": locations(at),
                    }));
                }
            }
        }
    }
    let t = &plan.transition;
    json!({
            "tool": { "driver": {
                "name": "tollgate",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://example.invalid/tollgate",
                "rules": rules,
            }},
            "automationDetails": { "id": format!("tollgate/{}/{}/{}", t.application, t.to_env, t.id) },
            "invocations": [{
                "executionSuccessful": true,
                "properties": { "outcome": super::words::outcome_word(decided), "decision": t.id },
            }],
            "results": results,
    })
}
