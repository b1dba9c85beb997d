//! `tollgate plugin test`: run a built plugin against the cases in a YAML fixture file.
//!
//! ```yaml
//! config: { allowed_registries: [registry.example.com/] }   # the policy's config
//! files: { envs/prod/app.yaml: "image: …" }                 # canned read-file content
//! http:                                                     # canned http-get responses
//!   https://erp.example.com/ready: { status: 200, body: '{"ready": true}' }
//! http_origins: [https://erp.example.com]                   # origins granted to the plugin
//! environments: [dev, staging, prod]                        # tollgate.yaml's, in graph order
//! policy_environments: [prod]                               # those the policy runs for
//! cases:
//!   - name: allows a pinned image
//!     transition: { artifact: { image: registry.example.com/app, version: 1.2.3 } }
//!     expect: allow                # allow | deny | error
//!     findings_contain: ["…"]      # optional, each a substring of some finding
//!     error_contains: "…"          # optional, for expect: error
//!   - name: counts two approvals
//!     policy_environments: [staging, prod]   # optional, for this case only (so is environments)
//!     expect: { decision: allow, counted_approvals: [bob, carol] }   # what it reported counting
//! ```
//!
//! Without `http:`, granted origins are fetched for real (for tests against a local server).
//! `environments` and `policy_environments` are what `host.policy-environments` (WIT 0.1.2)
//! answers; without `environments` it answers none, so a plugin cannot check environment
//! names; without `policy_environments` the policy runs for every environment.

pub mod bench;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::input::describe_yaml_error;
use crate::decision::PolicyOutcome;
use crate::runtime::{CannedFetcher, Evaluation, FileSource, HostAccess, HttpFetcher, HttpResponse, Limits, NetworkFetcher, Plugin, PolicyEnvironments, origin_of};
use crate::transition::Transition;

/// A parsed cases file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasesFile {
    /// The policy's configuration, shared by all cases unless a case gives its own.
    #[serde(default)]
    pub config: serde_yaml::Value,
    /// Repository files `read-file` sees (path → content).
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// Canned `http-get` responses by exact URL. When absent, requests go to the network.
    #[serde(default)]
    pub http: Option<BTreeMap<String, CannedResponse>>,
    /// Origins granted to the plugin for `http-get`.
    #[serde(default)]
    pub http_origins: Vec<String>,
    /// Per-call timeout in milliseconds (default 2000).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Memory cap in MiB (default 64).
    #[serde(default)]
    pub memory_mib: Option<u64>,
    /// The configured environments, in graph order (default: none told).
    #[serde(default)]
    pub environments: Vec<String>,
    /// The environments the policy runs for (default: all of `environments`).
    #[serde(default)]
    pub policy_environments: Option<Vec<String>>,
    /// The cases.
    pub cases: Vec<Case>,
}

/// A canned HTTP answer: a response, or an `error` the plugin gets instead.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CannedResponse {
    /// Status code (default 200).
    #[serde(default = "default_status")]
    pub status: u16,
    /// Response headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Response body.
    #[serde(default)]
    pub body: String,
    /// Instead of a response, this error ("connection refused", "timed out after 2000 ms").
    #[serde(default)]
    pub error: Option<String>,
}

fn default_status() -> u16 {
    200
}

/// What a case expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Expectation {
    /// The policy allows.
    Allow,
    /// The policy denies.
    Deny,
    /// The policy fails to decide (fails closed).
    Error,
}

/// What a case expects: the decision, and optionally the approvals the plugin reports it
/// counted (`report-counted-approvals`, in any order; `[]` when it reports that none counted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseExpectation {
    /// Allow, deny or error.
    pub decision: Expectation,
    /// The counted approvals, when the case checks them.
    pub counted_approvals: Option<Vec<String>>,
}

impl<'de> Deserialize<'de> for CaseExpectation {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{self, value};

        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Detailed {
            decision: Expectation,
            #[serde(default)]
            counted_approvals: Option<Vec<String>>,
        }

        struct Written;

        impl<'de> de::Visitor<'de> for Written {
            type Value = CaseExpectation;

            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("allow, deny or error, or { decision: allow|deny|error, counted_approvals: [NAME, …] }")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<CaseExpectation, E> {
                let decision = Expectation::deserialize(value::StrDeserializer::<E>::new(text))?;
                Ok(CaseExpectation { decision, counted_approvals: None })
            }

            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<CaseExpectation, A::Error> {
                let Detailed { decision, counted_approvals } = Detailed::deserialize(value::MapAccessDeserializer::new(map))?;
                Ok(CaseExpectation { decision, counted_approvals })
            }
        }

        deserializer.deserialize_any(Written)
    }
}

/// One case.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// What the case shows, in a few words.
    pub name: String,
    /// The transition; unspecified fields take the defaults of [`Transition::default`].
    #[serde(default)]
    pub transition: Transition,
    /// A config for this case only, replacing the file's.
    #[serde(default)]
    pub config: Option<serde_yaml::Value>,
    /// Configured environments for this case only, replacing the file's.
    #[serde(default)]
    pub environments: Option<Vec<String>>,
    /// The environments the policy runs for in this case, replacing the file's.
    #[serde(default)]
    pub policy_environments: Option<Vec<String>>,
    /// The expected outcome: `allow`, or `{ decision: allow, counted_approvals: [bob] }`.
    pub expect: CaseExpectation,
    /// Substrings that must each appear in some finding message.
    #[serde(default)]
    pub findings_contain: Vec<String>,
    /// For `expect: error`, a substring of the failure cause.
    #[serde(default)]
    pub error_contains: Option<String>,
}

/// Why a cases file could not be used (bad input, exit code 2).
#[derive(Debug)]
pub struct CasesError(pub String);

impl std::fmt::Display for CasesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Result of one case.
#[derive(Debug, Serialize)]
pub struct CaseResult {
    /// The cases file.
    pub file: PathBuf,
    /// The case name.
    pub name: String,
    /// What was expected.
    pub expected: Expectation,
    /// Whether the case passed.
    pub passed: bool,
    /// Why it did not, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// What the plugin did.
    pub evaluation: Evaluation,
}

/// Read and check a cases file.
pub fn read_cases_file(path: &Path) -> Result<CasesFile, CasesError> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| CasesError(format!("{}: cannot read the cases file ({error})", path.display())))?;
    let cases: CasesFile =
        serde_yaml::from_str(&text).map_err(|error| CasesError(format!("{}: {}", path.display(), describe_yaml_error(&error))))?;
    if cases.cases.is_empty() {
        return Err(CasesError(format!("{}: `cases` is empty; add at least one case", path.display())));
    }
    for (index, case) in cases.cases.iter().enumerate() {
        if case.error_contains.is_some() && case.expect.decision != Expectation::Error {
            return Err(CasesError(format!(
                "{}: cases[{index}] ({}): error_contains only applies to `expect: error`",
                path.display(),
                case.name
            )));
        }
    }
    for (index, case) in cases.cases.iter().enumerate() {
        let at = if case.environments.is_some() || case.policy_environments.is_some() { format!("cases[{index}] ({}): ", case.name) } else { String::new() };
        environments_of(&cases, case).map_err(|error| CasesError(format!("{}: {at}{error}", path.display())))?;
    }
    for origin in &cases.http_origins {
        let normalised = origin_of(origin).map_err(|error| CasesError(format!("{}: http_origins: {error}", path.display())))?;
        if normalised != origin.trim_end_matches('/') {
            return Err(CasesError(format!(
                "{}: http_origins: {origin:?} is not a bare origin; write it as {normalised:?}",
                path.display()
            )));
        }
    }
    Ok(cases)
}

/// What `policy-environments` answers for `configured` environments (in graph order) and a
/// policy that runs for `runs_for` (all when `None`), checked: valid names, none twice, and
/// those the policy runs for among the configured ones. `fields` name the two lists in
/// messages (the cases file's keys, or `plugin eval`'s flags).
pub fn told_environments(configured: &[String], runs_for: Option<&[String]>, fields: (&str, &str)) -> Result<PolicyEnvironments, String> {
    for (index, name) in configured.iter().enumerate() {
        crate::input::identifier(fields.0, name).map_err(|error| error.to_string())?;
        if configured[..index].contains(name) {
            return Err(format!("{}: {name} is listed twice", fields.0));
        }
    }
    if let Some(unknown) = runs_for.into_iter().flatten().find(|name| !configured.contains(name)) {
        let configured = if configured.is_empty() { "none".to_string() } else { configured.join(", ") };
        return Err(format!("{}: {unknown} is not one of the configured environments ({}: {configured})", fields.1, fields.0));
    }
    let runs_for = configured.iter().filter(|name| runs_for.is_none_or(|runs_for| runs_for.contains(name))).cloned().collect();
    Ok(PolicyEnvironments { configured: configured.to_vec(), runs_for })
}

/// What `policy-environments` answers in `case` (its own lists, else the file's).
fn environments_of(cases: &CasesFile, case: &Case) -> Result<PolicyEnvironments, String> {
    let configured = case.environments.as_ref().unwrap_or(&cases.environments);
    let runs_for = case.policy_environments.as_ref().or(cases.policy_environments.as_ref());
    told_environments(configured, runs_for.map(Vec::as_slice), ("environments", "policy_environments"))
}


fn json_config(value: &serde_yaml::Value, path: &Path) -> Result<String, CasesError> {
    let value = if value.is_null() { &serde_yaml::Value::Mapping(Default::default()) } else { value };
    serde_json::to_string(value)
        .map_err(|error| CasesError(format!("{}: config cannot be turned into JSON ({error})", path.display())))
}

/// Run every case of a cases file against a plugin.
pub fn run_cases(plugin: &Arc<Plugin>, path: &Path, cases: &CasesFile) -> Result<Vec<CaseResult>, CasesError> {
    let mut limits = Limits::default();
    if let Some(ms) = cases.timeout_ms {
        limits.timeout = Duration::from_millis(ms);
    }
    if let Some(mib) = cases.memory_mib {
        limits.memory_bytes = crate::runtime::mib_to_bytes(mib);
    }
    let http: Arc<dyn HttpFetcher> = match &cases.http {
        Some(canned) => Arc::new(CannedFetcher {
            responses: canned
                .iter()
                .map(|(url, canned)| {
                    let response = match &canned.error {
                        Some(error) => Err(error.clone()),
                        None => Ok(HttpResponse {
                            status: canned.status,
                            headers: canned.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect(),
                            body: canned.body.clone().into_bytes(),
                        }),
                    };
                    (url.clone(), response)
                })
                .collect(),
        }),
        None => Arc::new(NetworkFetcher),
    };
    let files: Arc<dyn FileSource> = Arc::new(cases.files.clone());
    let access = HostAccess {
        files: Some(files),
        http_origins: cases.http_origins.iter().map(|origin| origin.trim_end_matches('/').to_string()).collect(),
        http,
        environments: PolicyEnvironments::default(),
    };
    let shared_config = json_config(&cases.config, path)?;

    let mut results = Vec::with_capacity(cases.cases.len());
    for case in &cases.cases {
        let config = match &case.config {
            Some(config) => json_config(config, path)?,
            None => shared_config.clone(),
        };
        let environments = environments_of(cases, case).map_err(|error| CasesError(format!("{}: {error}", path.display())))?;
        // As the gate decides: info() first, then only what it asks for is granted.
        let evaluation = plugin.decide(&config, &case.transition, limits, HostAccess { environments, ..access.clone() }).evaluation;
        let problem = check_case(case, &evaluation);
        results.push(CaseResult {
            file: path.to_path_buf(),
            name: case.name.clone(),
            expected: case.expect.decision,
            passed: problem.is_none(),
            problem,
            evaluation,
        });
    }
    Ok(results)
}

/// `None` when the evaluation meets the case's expectations, else what differs.
fn check_case(case: &Case, evaluation: &Evaluation) -> Option<String> {
    let outcome = &evaluation.outcome;
    let actual = outcome.label();
    let expected = match case.expect.decision {
        Expectation::Allow => "allow",
        Expectation::Deny => "deny",
        Expectation::Error => "error",
    };
    if actual != expected {
        let detail = match outcome {
            PolicyOutcome::Failed { cause } => format!(": {cause}"),
            PolicyOutcome::Verdict(verdict) if !verdict.findings.is_empty() => {
                let messages: Vec<&str> = verdict.findings.iter().map(|f| f.message.as_str()).collect();
                format!(" (findings: {})", messages.join("; "))
            }
            PolicyOutcome::Verdict(_) => String::new(),
        };
        return Some(format!("expected {expected}, got {actual}{detail}"));
    }
    let findings = outcome.findings();
    for wanted in &case.findings_contain {
        if !findings.iter().any(|finding| finding.message.contains(wanted.as_str())) {
            let messages: Vec<&str> = findings.iter().map(|f| f.message.as_str()).collect();
            return Some(format!("no finding contains {wanted:?} (findings: {})", if messages.is_empty() { "none".into() } else { messages.join("; ") }));
        }
    }
    if let (Some(wanted), PolicyOutcome::Failed { cause }) = (&case.error_contains, outcome)
        && !cause.contains(wanted.as_str()) {
            return Some(format!("the error does not contain {wanted:?} (error: {cause})"));
        }
    if let Some(wanted) = &case.expect.counted_approvals {
        let sorted = |names: &[String]| {
            let mut names = names.to_vec();
            names.sort();
            names
        };
        match &evaluation.counted_approvals {
            None => return Some(format!("expected counted approvals [{}], but the plugin reported none (it never called report-counted-approvals)", wanted.join(", "))),
            Some(counted) if sorted(counted) != sorted(wanted) => {
                return Some(format!("counted approvals are [{}], expected [{}]", counted.join(", "), wanted.join(", ")));
            }
            Some(_) => {}
        }
    }
    None
}
