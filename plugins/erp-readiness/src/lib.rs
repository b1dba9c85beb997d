//! # erp-readiness: downstream ERP integrations are ready for this release
//!
//! Before an artifact reaches an environment, the ERP integrations that consume it must be
//! ready: the ERP team says so in a *readiness document* (see [`document`] for the format),
//! published as a YAML file in the GitOps repository (read with `host::read_file`), as JSON
//! from an HTTP endpoint (read with `host::http_get`), or both. The policy denies when
//!
//! - a source's `status` is not `ready`,
//! - an ERP maintenance window or a period close is in progress at the transition's
//!   `requested_at` (start inclusive, end exclusive),
//! - the artifact's required ERP contract version (transition label, default `erp-contract`,
//!   and/or a YAML key in the changed files) is outside the source's `supported_contract`
//!   range, or no version is declared while `require_contract` is set,
//! - a source cannot be used: the file is missing or malformed, or the endpoint is
//!   unreachable, refused, slow, answers non-2xx or with a malformed body. Readiness that
//!   cannot be established is never assumed: the policy fails closed.
//!
//! Rules are per target environment with an optional `default`. Every key under
//! `environments` must be an environment the policy runs for, and every environment it runs
//! for needs an entry or the default (else a configuration error); an environment with neither
//! fails the policy rather than allow.

pub mod document;

use std::collections::BTreeMap;

use jiff::Timestamp;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use semver::Version;
use serde::Deserialize;
use tollgate_sdk::host::{self, LogLevel};
use tollgate_sdk::placeholders::{self, fill};
use tollgate_sdk::{
    Capability, Error, Finding, PerEnvironment, PluginInfo, Policy, Result, Transition, Verdict, export_policy,
};

use document::{ContractRange, Readiness, Window};

/// Configuration, as written under the policy's `config:` in tollgate.yaml: [`EnvRules`] per
/// target environment name (e.g. `prod`), with a `default` for environments not listed.
pub type Config = PerEnvironment<EnvRules>;

/// Where to read ERP readiness for one environment, and how to find the artifact's contract.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvRules {
    /// Repository path of the readiness file (YAML); `{env}` and `{app}` are replaced.
    #[serde(default)]
    pub readiness_file: Option<String>,
    /// HTTP endpoint serving the readiness document (JSON).
    #[serde(default)]
    pub endpoint: Option<Endpoint>,
    /// Transition label carrying the artifact's required ERP contract version.
    #[serde(default = "default_contract_label")]
    pub contract_label: String,
    /// Key path, from the document root, of the contract version in the changed files'
    /// new YAML content, e.g. `[erp, contract]` or
    /// `[metadata, annotations, erp.example.com/contract]`. Absent: only the label is used.
    #[serde(default)]
    pub contract_key: Option<Vec<String>>,
    /// Deny when the artifact declares no contract version (otherwise: allow with a note).
    #[serde(default)]
    pub require_contract: bool,
}

/// The readiness endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// URL to GET; `{env}` and `{app}` are replaced (percent-encoded). Its origin must be
    /// granted to this policy in the tollgate configuration.
    pub url: String,
    /// Request headers, e.g. `{ Authorization: "Bearer …" }`. `Accept: application/json` is
    /// sent unless an `Accept` header is given.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

fn default_contract_label() -> String {
    "erp-contract".to_string()
}

/// The policy.
pub struct ErpReadiness;

impl Policy for ErpReadiness {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "erp-readiness",
            env!("CARGO_PKG_VERSION"),
            "Downstream ERP integrations are ready for the artifact in the target environment: status ready, \
             no maintenance or period close in progress, and the artifact's ERP contract supported",
        )
        .with_capability(Capability::ReadFile)
        .with_capability(Capability::HttpGet)
    }

    fn validate(config: &Config) -> Result<()> {
        config.require_rules("config: no rules; add an entry under environments (e.g. prod) or a default")?;
        config.validate_each(|path, rules| validate_rules(&format!("config.{path}"), rules))?;
        config.require_rules_where_it_runs()
    }

    fn evaluate(config: &Config, t: &Transition) -> Result<Verdict> {
        let env = t.to_env.as_str();
        let (_, rules) = config.rules_for(env)?;
        let now = Timestamp::from_second(t.requested_at)
            .map_err(|error| Error::new(format!("requested_at {} is not a usable time ({error})", t.requested_at)))?;

        let mut findings = Vec::new();
        let mut notes = Vec::new();

        // Read every configured source; one that cannot be read is a finding of its own,
        // and the others are still checked so the report shows everything at once.
        let mut sources = Vec::new();
        if let Some(template) = &rules.readiness_file {
            let path = fill(template, &t.application, &t.to_env, |value| value.to_string());
            match read_file_source(&path) {
                Ok(readiness) => sources.push(Source { name: path.clone(), file: Some(path), readiness }),
                Err(finding) => findings.push(finding),
            }
        }
        if let Some(endpoint) = &rules.endpoint {
            let url = fill(&endpoint.url, &t.application, &t.to_env, |value| utf8_percent_encode(value, URL_VALUE).to_string());
            match read_endpoint_source(&url, &endpoint.headers) {
                Ok(readiness) => sources.push(Source { name: url, file: None, readiness }),
                Err(finding) => findings.push(finding),
            }
        }

        for source in &sources {
            check_status(env, source, &mut findings);
            check_windows("maintenance", "ERP maintenance", &source.readiness.maintenance, now, source, &mut findings);
            check_windows("period_close", "ERP period close", &source.readiness.period_close, now, source, &mut findings);
        }

        check_contract(rules, t, &sources, &mut findings, &mut notes);

        let mut verdict = Verdict::deny_if_any(findings);
        // Notes are added after the decision so they never turn an allow into a deny, and
        // only to an allow, so a deny lists nothing but its reasons.
        if verdict.is_allow() {
            for note in notes {
                verdict = verdict.with_finding(note);
            }
        }
        Ok(verdict)
    }
}

export_policy!(ErpReadiness);

/// Characters of `{env}` / `{app}` values left as they are in a URL (RFC 3986 unreserved).
const URL_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A readiness document and where it came from.
struct Source {
    /// The file path or URL, for findings.
    name: String,
    /// The repository file, when the source is one (findings then point at it).
    file: Option<String>,
    readiness: Readiness,
}

impl Source {
    /// A finding about `field` of this source's document.
    fn finding(&self, message: String, field: &str) -> Finding {
        let finding = Finding::new(message);
        match &self.file {
            Some(file) => finding.at(format!("{file}#{field}")),
            None => finding,
        }
    }
}

fn read_file_source(path: &str) -> std::result::Result<Readiness, Finding> {
    let text = match host::read_file(path) {
        Ok(Some(text)) => text,
        Ok(None) => {
            return Err(Finding::new(format!(
                "ERP readiness file {path} does not exist, so ERP readiness cannot be established; \
                 the ERP team publishes it in the GitOps repository"
            ))
            .at(path));
        }
        Err(error) => {
            return Err(Finding::new(format!("ERP readiness file {path} could not be read: {error}")).at(path));
        }
    };
    Readiness::from_yaml(&text)
        .map_err(|error| Finding::new(format!("ERP readiness file {path} is malformed: {error}")).at(path))
}

fn read_endpoint_source(url: &str, headers: &BTreeMap<String, String>) -> std::result::Result<Readiness, Finding> {
    let mut request: Vec<(&str, &str)> = headers.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
    if !headers.keys().any(|name| name.eq_ignore_ascii_case("accept")) {
        request.push(("accept", "application/json"));
    }
    let cannot_read = |why: String| Finding::new(format!("ERP readiness endpoint {url} could not be read: {why}"));
    let response = host::http_get(url, &request).map_err(|error| cannot_read(error.to_string()))?;
    if !response.is_success() {
        // One line, and short: an error page can be a whole HTML document.
        let body = String::from_utf8_lossy(&response.body).split_whitespace().collect::<Vec<_>>().join(" ");
        let excerpt = excerpt(&body, 200);
        let why = if excerpt.is_empty() {
            format!("it answered HTTP {}", response.status)
        } else {
            format!("it answered HTTP {}: {excerpt}", response.status)
        };
        return Err(cannot_read(why));
    }
    host::log(LogLevel::Debug, &format!("{url} answered HTTP {} ({} bytes)", response.status, response.body.len()));
    Readiness::from_json(&response.body).map_err(|error| {
        Finding::new(format!("ERP readiness endpoint {url} answered with a malformed readiness document: {error}"))
    })
}

fn check_status(env: &str, source: &Source, findings: &mut Vec<Finding>) {
    let readiness = &source.readiness;
    if readiness.status == document::Status::Ready {
        return;
    }
    let detail = match readiness.message.as_deref().map(str::trim) {
        // Cut: the host rejects findings over 4 KiB as malformed output.
        Some(message) if !message.is_empty() => format!("{}: {}", readiness.status.as_str(), excerpt(message, 300)),
        _ => readiness.status.as_str().to_string(),
    };
    findings.push(source.finding(
        format!("ERP integration for {env} is not ready (status: {detail}); reported by {}", source.name),
        "status",
    ));
}

fn check_windows(field: &str, what: &str, windows: &[Window], now: Timestamp, source: &Source, findings: &mut Vec<Finding>) {
    for (index, window) in windows.iter().enumerate() {
        if !window.contains(now) {
            continue;
        }
        let reason = match window.reason.as_deref().map(str::trim) {
            Some(reason) if !reason.is_empty() => format!(" ({})", excerpt(reason, 300)),
            _ => String::new(),
        };
        findings.push(source.finding(
            format!("{what} in progress until {}{reason}; reported by {}", window.end, source.name),
            &format!("{field}[{index}]"),
        ));
    }
}

/// One statement of the artifact's required contract version.
struct Declared {
    version: Version,
    /// Where it was stated, for findings: `label erp-contract` or `values.yaml erp.contract`.
    origin: String,
    /// `file#key` when stated in a changed file.
    path: Option<String>,
}

fn check_contract(
    rules: &EnvRules,
    t: &Transition,
    sources: &[Source],
    findings: &mut Vec<Finding>,
    notes: &mut Vec<Finding>,
) {
    let app = &t.application;
    let env = &t.to_env;
    let (declared, problems) = declared_contracts(rules, t);
    let had_problems = !problems.is_empty();
    findings.extend(problems);

    let ranges: Vec<(&Source, &ContractRange)> =
        sources.iter().filter_map(|source| source.readiness.supported_contract.as_ref().map(|range| (source, range))).collect();

    if declared.is_empty() && !had_problems {
        let where_ = match &rules.contract_key {
            Some(key) => format!("the transition label {} or the key {} in its manifest", rules.contract_label, key_display(key)),
            None => format!("the transition label {}", rules.contract_label),
        };
        if rules.require_contract {
            findings.push(Finding::new(format!(
                "{app} declares no ERP contract version, but {env} requires one; set {where_}"
            )));
        } else if let Some((_, range)) = ranges.first() {
            notes.push(Finding::new(format!(
                "{app} declares no ERP contract version ({where_}), so it was not checked against the range {env} supports ({})",
                range.text
            )));
        }
        return;
    }

    for declared in &declared {
        for (source, range) in &ranges {
            if range.req.matches(&declared.version) {
                continue;
            }
            let finding = Finding::new(format!(
                "{app} requires ERP contract {} but {env} supports {} (contract from {}; range reported by {})",
                declared.version, range.text, declared.origin, source.name
            ));
            findings.push(match (&declared.path, &source.file) {
                (Some(path), _) => finding.at(path.clone()),
                (None, Some(file)) => finding.at(format!("{file}#supported_contract")),
                (None, None) => finding,
            });
        }
    }
}

/// The contract versions the transition states (label, then changed files), each version
/// once, and findings for statements that are not versions.
fn declared_contracts(rules: &EnvRules, t: &Transition) -> (Vec<Declared>, Vec<Finding>) {
    let mut declared: Vec<Declared> = Vec::new();
    let mut problems = Vec::new();
    let mut add = |raw: &str, origin: String, path: Option<String>| match parse_contract_version(raw) {
        Some(version) => {
            if !declared.iter().any(|known| known.version == version) {
                declared.push(Declared { version, origin, path });
            }
        }
        None => {
            let finding = Finding::new(format!(
                "{} declares ERP contract {raw:?} in {origin}, which is not a version such as 2.4.0",
                t.application
            ));
            problems.push(match path {
                Some(path) => finding.at(path),
                None => finding,
            });
        }
    };

    if let Some(raw) = t.label(&rules.contract_label) {
        add(raw, format!("label {}", rules.contract_label), None);
    }
    if let Some(key) = &rules.contract_key {
        let shown = key_display(key);
        for change in &t.changes {
            let Some(after) = &change.after else { continue };
            for raw in manifest_values(after, key) {
                add(&raw, format!("{} {shown}", change.path), Some(format!("{}#{shown}", change.path)));
            }
        }
    }
    (declared, problems)
}

/// The scalar values at `key` in every YAML document of `text`. Text that is not YAML
/// is not a manifest and has no contract to declare, so it yields nothing.
fn manifest_values(text: &str, key: &[String]) -> Vec<String> {
    let mut values = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let Ok(mut value) = serde_yaml::Value::deserialize(document) else {
            break;
        };
        let mut found = true;
        for segment in key {
            match value.get(segment.as_str()) {
                Some(next) => value = next.clone(),
                None => {
                    found = false;
                    break;
                }
            }
        }
        if !found {
            continue;
        }
        match value {
            serde_yaml::Value::String(text) => values.push(text),
            // An unquoted `3.1` is a YAML number; its text is still the version meant
            // (README: quote versions, since `3.10` would read as 3.1).
            serde_yaml::Value::Number(number) => values.push(number.to_string()),
            // A mapping, list, bool or null is not a version; pass its YAML text on so the
            // finding shows what was found.
            other => values.push(serde_yaml::to_string(&other).unwrap_or_default().trim().to_string()),
        }
    }
    values
}

/// A contract version: full semver (`2.4.0`, `3.0.0-rc.1`), or a shorthand `3` / `3.1`
/// meaning `3.0.0` / `3.1.0`; an optional leading `v` is ignored.
fn parse_contract_version(raw: &str) -> Option<Version> {
    let text = raw.trim();
    let text = text.strip_prefix('v').unwrap_or(text);
    if let Ok(version) = Version::parse(text) {
        return Some(version);
    }
    let parts: Vec<&str> = text.split('.').collect();
    let numeric = |part: &&str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if parts.len() <= 2 && parts.iter().all(numeric) {
        let padded = match parts.len() {
            1 => format!("{}.0.0", parts[0]),
            _ => format!("{}.{}.0", parts[0], parts[1]),
        };
        return Version::parse(&padded).ok();
    }
    None
}

/// `erp.contract`, or `metadata.annotations."erp.example.com/contract"` when a segment
/// itself contains a dot.
fn key_display(key: &[String]) -> String {
    key.iter()
        .map(|segment| if segment.contains('.') { format!("{segment:?}") } else { segment.clone() })
        .collect::<Vec<_>>()
        .join(".")
}

/// The first `max` characters of `text`, marking a cut with `…`.
fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

fn validate_rules(at: &str, rules: &EnvRules) -> Result<()> {
    let fail = |field: &str, message: String| Err(Error::new(format!("{at}{field}: {message}")));
    if rules.readiness_file.is_none() && rules.endpoint.is_none() {
        return fail(
            "",
            "set readiness_file (a YAML file in the GitOps repository), endpoint (an HTTP URL), or both, \
             so the policy knows where to read ERP readiness"
                .into(),
        );
    }
    if let Some(path) = &rules.readiness_file
        && let Err(problem) = check_repo_path(path).and_then(|()| placeholders::check(path))
    {
        return fail(".readiness_file", problem);
    }
    if let Some(endpoint) = &rules.endpoint {
        if let Err(problem) = check_url(&endpoint.url).and_then(|()| placeholders::check(&endpoint.url)) {
            return fail(".endpoint.url", problem);
        }
        for (name, value) in &endpoint.headers {
            let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            if name.is_empty() || !name.bytes().all(token) {
                return fail(".endpoint.headers", format!("{name:?} is not a valid HTTP header name"));
            }
            if value.contains(['\r', '\n', '\0']) {
                return fail(&format!(".endpoint.headers.{name}"), "must not contain line breaks or NUL".into());
            }
        }
    }
    if rules.contract_label.trim().is_empty() {
        return fail(".contract_label", "must not be empty; the default is erp-contract".into());
    }
    if let Some(key) = &rules.contract_key
        && (key.is_empty() || key.iter().any(|segment| segment.is_empty()))
    {
        return fail(
            ".contract_key",
            "list the keys from the document root to the version, e.g. [erp, contract]; none may be empty".into(),
        );
    }
    Ok(())
}

fn check_repo_path(path: &str) -> std::result::Result<(), String> {
    let ok = !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && path.split('/').all(|part| !part.is_empty() && part != "." && part != "..");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{path:?} is not a repository path; use a relative path with / separators and no . or .. parts, \
             e.g. envs/{{env}}/erp/readiness.yaml"
        ))
    }
}

fn check_url(url: &str) -> std::result::Result<(), String> {
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://")) else {
        return Err(format!("{url:?} is not an http:// or https:// URL, e.g. https://erp.example.com/ready?env={{env}}"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    if authority.contains('@') {
        return Err(format!("{url:?} contains credentials; send them as a header under endpoint.headers instead"));
    }
    if url.contains(char::is_whitespace) {
        return Err(format!("{url:?} contains whitespace; percent-encode it"));
    }
    Ok(())
}


#[cfg(test)]
mod tests;
