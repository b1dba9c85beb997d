//! Walking one parsed YAML document: which secrets it references, and which secrets it
//! holds in plaintext.
//!
//! The scanner knows nothing about environments or configuration beyond the extra secret key
//! names; it reports [`Reference`]s (judged against the allow/deny patterns by the caller) and
//! [`Issue`]s (always violations: plaintext secrets, unencrypted SOPS values).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::LazyLock;

use regex_lite::Regex;
use saphyr::{MarkedYaml, Scalar, YamlData};
use saphyr_parser::Event;

/// How deep the scanner descends. Real manifests are a few dozen levels deep; the bound
/// keeps a hostile file from exhausting the sandbox's stack.
pub const MAX_DEPTH: usize = 128;

/// The key-name endings (lower case, only letters and digits kept) that mark a value as a
/// secret: `DB_PASSWORD`, `adminPassword`, `client-secret`, `apiKey`, `github_token`...
pub const SECRET_KEY_ENDINGS: &[&str] =
    &["password", "passwd", "passphrase", "token", "secret", "apikey", "secretkey", "accesskey", "privatekey"];

/// A parsed YAML file: its documents (one per `---`).
pub type Documents<'input> = Vec<MarkedYaml<'input>>;

/// Why a YAML text could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line of the error.
    pub line: usize,
    /// 1-based column of the error.
    pub column: usize,
    /// The parser's explanation (never contains document content).
    pub info: String,
}

/// Parse every document of a YAML text, in one pass of the event parser.
///
/// The events are counted on their way into the loader: a text nesting deeper than
/// [`MAX_DEPTH`] is refused at the event that goes past it, before the tree under it is built
/// (building, copying and dropping a tree thousands of levels deep would overflow the
/// sandbox's stack, and so would the parser's own recursive `load`, which is why the events are
/// fed to the loader here). An alias counts as deep as the tree it copies: a few anchors that
/// each wrap the previous one build a deep tree out of shallow text. A text fails as the event
/// parser fails on it: its first syntax error (or the nesting past the bound), else an alias
/// to an anchor of another document (the parser's `load` knows anchors per document; its event
/// stream does not), else the loader's error (a duplicate key, too many aliases).
pub fn parse(text: &str) -> Result<Documents<'_>, ParseError> {
    /// The anchor id of a node without an anchor (the parser numbers anchors from 1).
    const NO_ANCHOR: usize = 0;
    /// A collection being read: its anchor, and the deepest level reached in it so far.
    struct Open {
        anchor: usize,
        deepest: usize,
    }
    let to_parse_error = |error: &saphyr::ScanError| ParseError {
        line: error.marker().line(),
        column: error.marker().col() + 1,
        info: error.info().to_string(),
    };
    let too_deep = |at: saphyr::Marker| {
        let info = format!("nested deeper than {MAX_DEPTH} levels, more than any manifest needs");
        Err(to_parse_error(&saphyr::ScanError::new(at, info)))
    };
    let mut loader = saphyr::YamlLoader::<MarkedYaml>::default();
    let mut open: Vec<Open> = Vec::new();
    // The anchors of the document being read, each with the levels of collections its node
    // holds (0 for a scalar), and the first alias to an anchor of another document.
    let mut anchors = BTreeMap::new();
    let mut foreign_alias: Option<saphyr::ScanError> = None;
    for event in saphyr_parser::Parser::new_from_str(text) {
        let (event, span) = event.map_err(|error| to_parse_error(&error))?;
        match &event {
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                let depth = open.len() + 1;
                if depth > MAX_DEPTH {
                    return too_deep(span.start);
                }
                if *anchor != NO_ANCHOR {
                    anchors.insert(*anchor, 1);
                }
                open.push(Open { anchor: *anchor, deepest: depth });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(ended) = open.pop() {
                    if ended.anchor != NO_ANCHOR {
                        anchors.insert(ended.anchor, ended.deepest - open.len());
                    }
                    if let Some(parent) = open.last_mut() {
                        parent.deepest = parent.deepest.max(ended.deepest);
                    }
                }
            }
            Event::Scalar(_, _, anchor, _) if *anchor != NO_ANCHOR => {
                anchors.insert(*anchor, 0);
            }
            Event::DocumentStart(_) => anchors.clear(),
            Event::Alias(anchor) => match anchors.get(anchor) {
                Some(levels) => {
                    let deepest = open.len() + levels;
                    if deepest > MAX_DEPTH {
                        return too_deep(span.start);
                    }
                    if let Some(parent) = open.last_mut() {
                        parent.deepest = parent.deepest.max(deepest);
                    }
                }
                None if foreign_alias.is_none() => {
                    foreign_alias = Some(saphyr::ScanError::new_str(span.start, "while parsing node, found unknown anchor"));
                }
                None => {}
            },
            _ => {}
        }
        // Past such an alias the parser's `load` would have stopped: the rest is only checked.
        if foreign_alias.is_none() {
            saphyr_parser::SpannedEventReceiver::on_event(&mut loader, event, span);
        }
    }
    if let Some(error) = foreign_alias.as_ref().or(loader.error()) {
        return Err(to_parse_error(error));
    }
    Ok(loader.into_documents())
}

/// The kinds of secret store a reference can point into. Each has a prefix so that one
/// pattern language covers all of them without ambiguity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    /// A Kubernetes Secret, by name: `k8s:<secret-name>`.
    K8s,
    /// A Vault path: `vault:<path>` (no leading `/`, no `#key` fragment).
    Vault,
    /// An External Secrets remote key: `external:<remoteRef.key>`.
    External,
}

impl RefKind {
    fn prefix(self) -> &'static str {
        match self {
            RefKind::K8s => "k8s",
            RefKind::Vault => "vault",
            RefKind::External => "external",
        }
    }
}

/// One reference to a secret found in a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Which store it points into.
    pub kind: RefKind,
    /// The secret name, path or key (normalised, without the prefix).
    pub target: String,
    /// The construct it was found in, e.g. `secretKeyRef` (for the finding's sentence).
    pub source: &'static str,
    /// YAML path of the node naming the secret.
    pub yaml_path: String,
    /// 1-based line of that node.
    pub line: usize,
}

impl Reference {
    /// The reference as patterns see it, e.g. `k8s:prod-db` or `vault:secret/data/prod/db`.
    pub fn id(&self) -> String {
        format!("{}:{}", self.kind.prefix(), self.target)
    }
}

/// A violation found while scanning (plaintext secret, unencrypted SOPS value...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// YAML path of the offending node; empty for the whole file.
    pub yaml_path: String,
    /// 1-based line, 0 when not tied to a line.
    pub line: usize,
    /// The sentence, with any secret value already masked.
    pub message: String,
}

/// One step of a YAML path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// Render a YAML path: `spec.containers[0].env[2].value`, with keys that are not plain
/// identifiers quoted (`annotations["vault.hashicorp.com/agent-inject-secret-db"]`).
pub fn render_path(segments: &[Seg]) -> String {
    let mut out = String::new();
    for segment in segments {
        match segment {
            Seg::Index(index) => _ = write!(out, "[{index}]"),
            Seg::Key(key) if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Seg::Key(key) => _ = write!(out, "[{key:?}]"),
        }
    }
    out
}

/// Mask a secret value so a finding can point at it without revealing it: values of 12 or
/// more characters keep their first two (`hu****`), shorter ones keep nothing (`****`); the
/// length is given so a person can tell values apart.
pub fn mask(value: &str) -> String {
    let length = value.chars().count();
    if length >= 12 {
        let head: String = value.chars().take(2).collect();
        format!("{head}**** ({length} chars)")
    } else {
        format!("**** ({length} chars)")
    }
}

/// Lower-case a key and keep only letters and digits, so `DB_PASSWORD`, `db-password` and
/// `dbPassword` compare the same.
pub fn normalise_key(key: &str) -> String {
    key.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

/// `ENC[...]`: a value SOPS encrypted.
pub fn is_sops_encrypted(value: &str) -> bool {
    value.starts_with("ENC[") && value.ends_with(']')
}

/// Vault references written inline in a string value:
/// `vault:secret/data/x#key` (Bank-Vaults), `<path:secret/data/x#key>` (argocd-vault-plugin),
/// `ref+vault://secret/data/x#/key` (vals). Returns the paths.
pub fn inline_vault_paths(value: &str) -> Vec<String> {
    static FORMS: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^\s*vault:([^\s#]*/[^\s#]*)|<path:([^#>\s]+)[^>]*>|ref\+vault://([^#\s]+)").expect("valid regex")
    });
    // Most strings mention none of the forms; skip the regex for them. Every form has a `:`,
    // which is a cheaper search than the three texts.
    if !(value.contains(':') && (value.contains("vault:") || value.contains("<path:") || value.contains("ref+vault://"))) {
        return Vec::new();
    }
    FORMS
        .captures_iter(value)
        .filter_map(|captures| captures.get(1).or_else(|| captures.get(2)).or_else(|| captures.get(3)))
        .map(|path| normalise_vault_path(path.as_str()))
        .filter(|path| !path.is_empty())
        .collect()
}

/// Vault paths are compared without a leading `/` and without a `#key` fragment.
pub fn normalise_vault_path(path: &str) -> String {
    let path = path.trim();
    let path = path.split('#').next().unwrap_or(path);
    path.trim_start_matches('/').to_string()
}

/// Whether a string value under a secret-looking key is a literal secret rather than a
/// reference, a placeholder or an empty value.
pub fn is_literal_secret(value: &str) -> bool {
    let trimmed = value.trim();
    !(trimmed.is_empty()
        || is_sops_encrypted(trimmed)
        // Substituted later (Flux/envsubst `${VAR}`, Kubernetes `$(VAR)`, Helm `{{ }}`).
        || trimmed.contains("${")
        || trimmed.contains("$(")
        || trimmed.contains("{{")
        || !inline_vault_paths(trimmed).is_empty()
        // A flag such as `enableToken: "true"` is not a secret.
        || trimmed.eq_ignore_ascii_case("true")
        || trimmed.eq_ignore_ascii_case("false"))
}

/// Well-known credential shapes that are a leak wherever they appear.
struct TokenShape {
    /// What it is, for the sentence.
    what: &'static str,
    /// Fixed texts one of which every match contains: strings without any skip the regex.
    markers: &'static [&'static str],
    /// How many leading characters may be shown (the shape's public prefix).
    shown: usize,
    /// Compiled when a string first contains a marker: most decisions never need it, and
    /// compiling is most of what a regex costs in a fresh instance.
    pattern: LazyLock<Regex>,
}

static TOKEN_SHAPES: [TokenShape; 4] = [
    // The header is not secret and says which kind of key it is; the body is never shown.
    TokenShape {
        what: "a private key block",
        markers: &["PRIVATE KEY"],
        shown: usize::MAX,
        pattern: LazyLock::new(|| regex(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")),
    },
    TokenShape {
        what: "an AWS access key id",
        markers: &["AKIA", "ASIA"],
        shown: 4,
        pattern: LazyLock::new(|| regex(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")),
    },
    TokenShape {
        what: "a GitHub token",
        markers: &["gh"],
        shown: 4,
        pattern: LazyLock::new(|| regex(r"\b(?:ghp|gho|ghs|ghu|ghr)_[A-Za-z0-9]{36}\b")),
    },
    TokenShape {
        what: "a GitHub token",
        markers: &["github_pat_"],
        shown: 11,
        pattern: LazyLock::new(|| regex(r"\bgithub_pat_[A-Za-z0-9_]{22,}")),
    },
];

/// A regex written in this file, known to be valid (the tests match each one).
fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("valid regex")
}

/// Describe the first well-known credential in `value`, masked, e.g.
/// `a GitHub token (ghp_****, 40 chars)`.
pub fn token_shape(value: &str) -> Option<String> {
    // Credentials are at least 20 characters long; shorter strings need no regex.
    if value.len() < 20 {
        return None;
    }
    TOKEN_SHAPES.iter().find_map(|shape| {
        if !shape.markers.iter().any(|marker| value.contains(marker)) {
            return None;
        }
        let found = shape.pattern.find(value)?.as_str();
        Some(if shape.shown == usize::MAX {
            format!("{} ({found})", shape.what)
        } else {
            format!("{} ({}****, {} chars)", shape.what, &found[..shape.shown], found.chars().count())
        })
    })
}

/// The text of a scalar node (strings, numbers, booleans), looking through tags.
pub fn scalar_text(node: &MarkedYaml<'_>) -> Option<String> {
    match &node.data {
        YamlData::Value(Scalar::String(text)) => Some(text.to_string()),
        YamlData::Value(Scalar::Integer(number)) => Some(number.to_string()),
        YamlData::Value(Scalar::FloatingPoint(number)) => Some(number.to_string()),
        YamlData::Value(Scalar::Boolean(flag)) => Some(flag.to_string()),
        YamlData::Tagged(_, inner) => scalar_text(inner),
        _ => None,
    }
}

/// The value of a string scalar (not numbers or booleans), looking through tags.
pub fn string_value<'a>(node: &'a MarkedYaml<'_>) -> Option<&'a str> {
    match &node.data {
        YamlData::Value(Scalar::String(text)) => Some(text),
        YamlData::Tagged(_, inner) => string_value(inner),
        _ => None,
    }
}

/// A literal that could hold a secret: strings and integers (an unquoted `password: 123456`).
fn secret_candidate(node: &MarkedYaml<'_>) -> Option<String> {
    match &node.data {
        YamlData::Value(Scalar::String(text)) => Some(text.to_string()),
        YamlData::Value(Scalar::Integer(number)) => Some(number.to_string()),
        YamlData::Tagged(_, inner) => secret_candidate(inner),
        _ => None,
    }
}

fn is_null(node: &MarkedYaml<'_>) -> bool {
    match &node.data {
        YamlData::Value(Scalar::Null) => true,
        YamlData::Tagged(_, inner) => is_null(inner),
        _ => false,
    }
}

/// A mapping's entries, looking through tags; `None` for anything else.
pub fn mapping<'a, 'i>(node: &'a MarkedYaml<'i>) -> Option<&'a saphyr::AnnotatedMapping<'i, MarkedYaml<'i>>> {
    match &node.data {
        YamlData::Mapping(map) => Some(map),
        YamlData::Tagged(_, inner) => mapping(inner),
        _ => None,
    }
}

/// A sequence's items, looking through tags; `None` for anything else.
pub fn sequence<'a, 'i>(node: &'a MarkedYaml<'i>) -> Option<&'a [MarkedYaml<'i>]> {
    match &node.data {
        YamlData::Sequence(items) => Some(items),
        YamlData::Tagged(_, inner) => sequence(inner),
        _ => None,
    }
}

/// The value under `key` of a mapping node.
pub fn get<'a, 'i>(node: &'a MarkedYaml<'i>, key: &str) -> Option<&'a MarkedYaml<'i>> {
    mapping(node)?.iter().find(|(k, _)| string_value(k) == Some(key)).map(|(_, v)| v)
}

/// The string under `key` of a mapping node.
pub fn get_str<'a>(node: &'a MarkedYaml<'_>, key: &str) -> Option<&'a str> {
    get(node, key).and_then(string_value)
}

/// Whether a document is SOPS-encrypted: its root mapping has a `sops:` metadata block.
pub fn has_sops_block(document: &MarkedYaml<'_>) -> bool {
    get(document, "sops").is_some_and(|meta| mapping(meta).is_some())
}

/// Collects references and issues over the documents of one file (or one inline patch).
pub struct Scanner<'a> {
    /// Extra secret key endings from the configuration (already normalised).
    extra_secret_keys: &'a [String],
    /// Path segments put in front of every YAML path (for inline patches).
    prefix: Vec<Seg>,
    /// Added to every line (for inline patches: the line the patch text starts on, minus 1).
    line_offset: usize,
    /// References found.
    pub references: Vec<Reference>,
    /// Violations found.
    pub issues: Vec<Issue>,
    /// YAML paths that already have an issue: one problem per value is enough.
    flagged: BTreeSet<String>,
    too_deep_reported: bool,
}

impl<'a> Scanner<'a> {
    /// A scanner for a whole file.
    pub fn new(extra_secret_keys: &'a [String]) -> Self {
        Scanner {
            extra_secret_keys,
            prefix: Vec::new(),
            line_offset: 0,
            references: Vec::new(),
            issues: Vec::new(),
            flagged: BTreeSet::new(),
            too_deep_reported: false,
        }
    }

    /// A scanner for YAML embedded in a string at `prefix` whose first line is file line
    /// `first_line`.
    pub fn embedded(extra_secret_keys: &'a [String], prefix: Vec<Seg>, first_line: usize) -> Self {
        Scanner { prefix, line_offset: first_line.saturating_sub(1), ..Scanner::new(extra_secret_keys) }
    }

    fn line(&self, node: &MarkedYaml<'_>) -> usize {
        node.span.start.line() + self.line_offset
    }

    fn full_path(&self, path: &[Seg]) -> String {
        if self.prefix.is_empty() {
            render_path(path)
        } else {
            let mut full = self.prefix.clone();
            full.extend_from_slice(path);
            render_path(&full)
        }
    }

    fn issue(&mut self, path: &[Seg], line: usize, message: String) {
        let yaml_path = self.full_path(path);
        if self.flagged.insert(yaml_path.clone()) {
            self.issues.push(Issue { yaml_path, line, message });
        }
    }

    /// Report a problem with the file as a whole (not tied to a YAML path).
    pub fn file_issue(&mut self, message: String) {
        self.issues.push(Issue { yaml_path: self.full_path(&[]), line: 0, message });
    }

    fn reference(&mut self, kind: RefKind, target: &str, source: &'static str, path: &[Seg], node: &MarkedYaml<'_>) {
        let target = match kind {
            RefKind::Vault => normalise_vault_path(target),
            RefKind::K8s | RefKind::External => target.trim().to_string(),
        };
        let line = self.line(node);
        self.references.push(Reference { kind, target, source, yaml_path: self.full_path(path), line });
    }

    fn is_secret_key(&self, key: &str) -> bool {
        // Annotation and label keys (`vault.hashicorp.com/agent-inject-token`,
        // `nginx.ingress.kubernetes.io/auth-secret`) configure tools; they hold flags and
        // secret names, not secrets. Their values still go through the token-shape check.
        if key.contains('/') {
            return false;
        }
        // ExternalSecret `data[].secretKey` names the key in the Secret it creates.
        if key == "secretKey" {
            return false;
        }
        let key = normalise_key(key);
        !key.is_empty()
            && (SECRET_KEY_ENDINGS.iter().any(|ending| key.ends_with(ending))
                || self.extra_secret_keys.iter().any(|ending| key.ends_with(ending.as_str())))
    }

    /// Scan one document.
    pub fn scan_document(&mut self, document: &MarkedYaml<'_>) {
        let mut path = Vec::new();
        if has_sops_block(document) {
            self.check_sops(document);
        } else if get_str(document, "kind") == Some("Secret") {
            self.check_kubernetes_secret(document);
        }
        self.walk(document, &mut path, None);
    }

    /// Kubernetes `kind: Secret` manifests keep their values base64-encoded, not encrypted:
    /// any non-empty value under `data`/`stringData` is a secret in plaintext.
    fn check_kubernetes_secret(&mut self, document: &MarkedYaml<'_>) {
        let name = get(document, "metadata").and_then(|meta| get_str(meta, "name")).unwrap_or("(unnamed)").to_string();
        for field in ["data", "stringData"] {
            let Some(entries) = get(document, field).and_then(mapping) else { continue };
            for (key, value) in entries {
                let Some(text) = secret_candidate(value) else { continue };
                if text.trim().is_empty() || is_sops_encrypted(&text) {
                    continue;
                }
                let key = scalar_text(key).unwrap_or_default();
                let line = self.line(value);
                let message = format!(
                    "Kubernetes Secret {name} keeps {field}.{key} in the repository unencrypted ({}) at line {line}; \
                     encrypt the file with SOPS or use an ExternalSecret or Vault instead",
                    mask(&text)
                );
                self.issue(&[Seg::Key(field.to_string()), Seg::Key(key)], line, message);
            }
        }
    }

    /// A SOPS file must stay encrypted: every value SOPS is configured to encrypt must be
    /// `ENC[...]`. Which values those are follows SOPS's own rules from the `sops:` block.
    fn check_sops(&mut self, document: &MarkedYaml<'_>) {
        let Some(meta) = get(document, "sops") else { return };
        let setting = |key: &str| get_str(meta, key).filter(|value| !value.is_empty()).map(str::to_string);
        if setting("encrypted_comment_regex").is_some() || setting("unencrypted_comment_regex").is_some() {
            // Which values are encrypted then depends on comments, which a YAML parser does not
            // keep; the plaintext checks below still apply to every value.
            return;
        }
        let regex = |key: &str| -> Result<Option<Regex>, String> {
            match setting(key) {
                None => Ok(None),
                Some(pattern) => Regex::new(&pattern).map(Some).map_err(|_| key.to_string()),
            }
        };
        let rule = match (regex("encrypted_regex"), regex("unencrypted_regex")) {
            (Err(key), _) | (_, Err(key)) => {
                self.file_issue(format!(
                    "the sops.{key} of this SOPS file is not a regular expression tollgate understands, so it cannot tell \
                     which values must be encrypted; check the file's SOPS metadata"
                ));
                return;
            }
            (Ok(Some(regex)), _) => SopsRule::EncryptedRegex(regex),
            (_, Ok(Some(regex))) => SopsRule::UnencryptedRegex(regex),
            _ => match (setting("encrypted_suffix"), setting("unencrypted_suffix")) {
                (Some(suffix), _) => SopsRule::EncryptedSuffix(suffix),
                (None, Some(suffix)) => SopsRule::UnencryptedSuffix(suffix),
                // SOPS's default.
                (None, None) => SopsRule::UnencryptedSuffix("_unencrypted".to_string()),
            },
        };
        let Some(entries) = mapping(document) else { return };
        for (key, value) in entries {
            let Some(key) = scalar_text(key) else { continue };
            if key == "sops" {
                continue;
            }
            let encrypted = rule.starts_encrypted();
            let encrypted = rule.step(encrypted, &key);
            let mut path = vec![Seg::Key(key)];
            self.check_sops_values(value, &mut path, &rule, encrypted, 1);
        }
    }

    fn check_sops_values(&mut self, node: &MarkedYaml<'_>, path: &mut Vec<Seg>, rule: &SopsRule, encrypted: bool, depth: usize) {
        if depth > MAX_DEPTH {
            return; // `walk` reports the excessive depth.
        }
        if let Some(entries) = mapping(node) {
            for (key, value) in entries {
                let key = scalar_text(key).unwrap_or_default();
                let encrypted = rule.step(encrypted, &key);
                path.push(Seg::Key(key));
                self.check_sops_values(value, path, rule, encrypted, depth + 1);
                path.pop();
            }
        } else if let Some(items) = sequence(node) {
            for (index, item) in items.iter().enumerate() {
                path.push(Seg::Index(index));
                self.check_sops_values(item, path, rule, encrypted, depth + 1);
                path.pop();
            }
        } else if encrypted && !is_null(node) {
            let text = scalar_text(node).unwrap_or_default();
            if !is_sops_encrypted(&text) {
                let line = self.line(node);
                let message = format!(
                    "{} is not encrypted ({}) at line {line}, but this is a SOPS file whose values must all be ENC[...]; \
                     encrypt it again with sops before promoting",
                    render_path(path),
                    mask(&text)
                );
                self.issue(path, line, message);
            }
        }
    }

    fn walk(&mut self, node: &MarkedYaml<'_>, path: &mut Vec<Seg>, parent: Option<&str>) {
        if path.len() > MAX_DEPTH {
            if !self.too_deep_reported {
                self.too_deep_reported = true;
                let line = self.line(node);
                self.issue(
                    path,
                    line,
                    format!("YAML nested deeper than {MAX_DEPTH} levels at line {line} was not checked; flatten the file"),
                );
            }
            return;
        }
        match &node.data {
            YamlData::Tagged(_, inner) => self.walk(inner, path, parent),
            YamlData::Mapping(entries) => {
                self.check_name_value_pair(node, path);
                for (key, value) in entries {
                    let key_text = scalar_text(key).unwrap_or_default();
                    if path.is_empty() && key_text == "sops" && has_sops_block(node) {
                        continue; // SOPS's own metadata (key groups, MACs): not manifest content.
                    }
                    path.push(Seg::Key(key_text.clone()));
                    let is_reference = self.recognise_reference(&key_text, value, path, parent);
                    if !is_reference && self.is_secret_key(&key_text) {
                        self.check_literal(value, path, &format!("{key_text} value"));
                    }
                    self.walk(value, path, Some(&key_text));
                    path.pop();
                }
            }
            YamlData::Sequence(items) => {
                for (index, item) in items.iter().enumerate() {
                    path.push(Seg::Index(index));
                    self.walk(item, path, parent);
                    path.pop();
                }
            }
            YamlData::Value(Scalar::String(text)) => self.check_string(text, node, path),
            _ => {}
        }
    }

    /// `{name: DB_PASSWORD, value: hunter2}`: a container env var, a Helm `set` entry, an
    /// Argo CD parameter... The secret-looking name is in `name`, the secret in `value`.
    fn check_name_value_pair(&mut self, node: &MarkedYaml<'_>, path: &mut Vec<Seg>) {
        let (Some(name), Some(value)) = (get_str(node, "name"), get(node, "value")) else { return };
        if self.is_secret_key(name) {
            path.push(Seg::Key("value".to_string()));
            self.check_literal(value, path, &format!("env var {name}"));
            path.pop();
        }
    }

    fn check_literal(&mut self, value: &MarkedYaml<'_>, path: &[Seg], what: &str) {
        let Some(text) = secret_candidate(value) else { return };
        if is_literal_secret(&text) {
            let line = self.line(value);
            let message = format!(
                "{what} is a plaintext secret ({}) at line {line}; reference a Kubernetes Secret, Vault path or \
                 External Secret instead, or encrypt the file with SOPS",
                mask(&text)
            );
            self.issue(path, line, message);
        }
    }

    /// Every string value: inline Vault references, and credentials of a well-known shape.
    fn check_string(&mut self, text: &str, node: &MarkedYaml<'_>, path: &[Seg]) {
        if is_sops_encrypted(text) {
            return;
        }
        for vault_path in inline_vault_paths(text) {
            self.reference(RefKind::Vault, &vault_path, "inline Vault reference", path, node);
        }
        if let Some(description) = token_shape(text) {
            let line = self.line(node);
            let message = format!(
                "{description} in plaintext at line {line}; remove it, rotate it if it was ever pushed, and keep it in \
                 Vault or a SOPS-encrypted file"
            );
            self.issue(path, line, message);
        }
    }

    /// Recognise the constructs that name a secret. `path` ends with `key`. Returns whether
    /// `key` itself is a reference key (so its value is a name, not a secret).
    fn recognise_reference(&mut self, key: &str, value: &MarkedYaml<'_>, path: &mut Vec<Seg>, parent: Option<&str>) -> bool {
        const INJECT_SECRET: &str = "vault.hashicorp.com/agent-inject-secret-";
        const INJECT_TEMPLATE: &str = "vault.hashicorp.com/agent-inject-template-";
        let normalised = normalise_key(key);
        match key {
            // env[].valueFrom.secretKeyRef.name, envFrom[].secretRef.name (and Flux's secretRef).
            "secretKeyRef" | "secretRef" => {
                let source = if key == "secretKeyRef" { "secretKeyRef" } else { "secretRef" };
                self.reference_under(value, "name", RefKind::K8s, source, path);
                false
            }
            // A projected volume source: projected.sources[].secret.name.
            "secret" if mapping(value).is_some() => {
                self.reference_under(value, "name", RefKind::K8s, "projected volume secret", path);
                false
            }
            "imagePullSecrets" => {
                for (index, item) in sequence(value).unwrap_or_default().iter().enumerate() {
                    path.push(Seg::Index(index));
                    self.reference_under(item, "name", RefKind::K8s, "imagePullSecrets", path);
                    path.pop();
                }
                false
            }
            // Flux HelmRelease valuesFrom: [{kind: Secret, name: ...}].
            "valuesFrom" => {
                for (index, item) in sequence(value).unwrap_or_default().iter().enumerate() {
                    if get_str(item, "kind") == Some("Secret") {
                        path.push(Seg::Index(index));
                        self.reference_under(item, "name", RefKind::K8s, "valuesFrom", path);
                        path.pop();
                    }
                }
                false
            }
            // ExternalSecret spec.data[].remoteRef.key.
            "remoteRef" => {
                self.reference_under(value, "key", RefKind::External, "ExternalSecret remoteRef.key", path);
                false
            }
            // ExternalSecret spec.dataFrom[].extract.key.
            "extract" if parent == Some("dataFrom") => {
                self.reference_under(value, "key", RefKind::External, "ExternalSecret dataFrom extract.key", path);
                false
            }
            _ if key.starts_with(INJECT_SECRET) => {
                if let Some(vault_path) = string_value(value) {
                    self.reference(RefKind::Vault, vault_path, "Vault agent annotation", path, value);
                }
                true
            }
            _ if key.starts_with(INJECT_TEMPLATE) => {
                static SECRET_CALL: LazyLock<Regex> =
                    LazyLock::new(|| Regex::new(r#"secret\s+"([^"]+)""#).expect("valid regex"));
                if let Some(template) = string_value(value) {
                    for captures in SECRET_CALL.captures_iter(template) {
                        self.reference(RefKind::Vault, &captures[1], "Vault agent template", path, value);
                    }
                }
                true
            }
            // volumes[].secret.secretName, Ingress tls[].secretName, tlsSecretName,
            // Helm charts' existingSecret...: the value is the name of a Kubernetes Secret.
            _ if normalised.ends_with("secretname") || normalised == "existingsecret" => {
                if let Some(name) = string_value(value) {
                    let source = if key == "secretName" { "secretName" } else { "secret name" };
                    self.reference(RefKind::K8s, name, source, path, value);
                }
                true
            }
            _ => false,
        }
    }

    fn reference_under(&mut self, node: &MarkedYaml<'_>, field: &str, kind: RefKind, source: &'static str, path: &mut Vec<Seg>) {
        if let Some(value) = get(node, field)
            && let Some(target) = string_value(value)
        {
            path.push(Seg::Key(field.to_string()));
            self.reference(kind, target, source, path, value);
            path.pop();
        }
    }
}

/// Which values SOPS encrypts, from the `sops:` block (only one of these may be set).
enum SopsRule {
    UnencryptedSuffix(String),
    EncryptedSuffix(String),
    UnencryptedRegex(Regex),
    EncryptedRegex(Regex),
}

impl SopsRule {
    /// Whether a value is encrypted when no key on its path says otherwise.
    fn starts_encrypted(&self) -> bool {
        matches!(self, SopsRule::UnencryptedSuffix(_) | SopsRule::UnencryptedRegex(_))
    }

    /// Whether values below `key` are encrypted, given whether they were above it: a
    /// matching key switches encryption off (unencrypted_*) or on (encrypted_*) for its subtree.
    fn step(&self, encrypted: bool, key: &str) -> bool {
        match self {
            SopsRule::UnencryptedSuffix(suffix) => encrypted && !key.ends_with(suffix.as_str()),
            SopsRule::UnencryptedRegex(regex) => encrypted && !regex.is_match(key),
            SopsRule::EncryptedSuffix(suffix) => encrypted || key.ends_with(suffix.as_str()),
            SopsRule::EncryptedRegex(regex) => encrypted || regex.is_match(key),
        }
    }
}
