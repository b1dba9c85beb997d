//! Where things are in a configuration's text: problems as `file:line:column: field: message`
//! data, and the locator that finds the line and column of a field for them.

use std::sync::Arc;

use serde::Serialize;

use crate::manifest::yaml::{Node, PathSegment, Scalar, parse_documents, parse_path};

/// A problem at a place in a configuration file, as data: `file:line:column: field: message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigProblem {
    /// The file: the `--config` path, or `tollgate.yaml` when read from the repository.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// The field as a dotted path such as `policies.0.config`, when known.
    pub field: Option<String>,
    /// What is wrong and what to do.
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The text a configuration was read from, with its name, kept to place problems found after
/// parsing (a plugin refusing its `config`). Not part of what the configuration says: any two
/// compare equal.
#[derive(Debug, Clone, Default)]
pub struct ConfigText {
    /// The file: the `--config` path, or `tollgate.yaml` when read from the repository.
    pub name: String,
    /// Its content.
    pub text: Arc<str>,
}

impl PartialEq for ConfigText {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl ConfigText {
    /// A locator over this text.
    pub fn locator(&self) -> ConfigLocator<'_> {
        ConfigLocator::new(&self.name, &self.text)
    }
}

/// Finds where fields are written in a configuration's text, for messages.
pub struct ConfigLocator<'a> {
    source: &'a str,
    text: &'a str,
    tree: Option<Node>,
}

impl<'a> ConfigLocator<'a> {
    /// A locator for `text`, the content of `source` (a path for messages).
    pub fn new(source: &'a str, text: &'a str) -> Self {
        let tree = parse_documents(text).ok().and_then(|documents| documents.first().cloned());
        ConfigLocator { source, text, tree }
    }

    /// 1-based line and column of the key at `path` (sequence items by index, e.g.
    /// `["policies", "0", "config"]`); `None` when it is not written in the file.
    pub fn position(&self, path: &[&str]) -> Option<(usize, usize)> {
        let scalar = scalar_at(self.tree.as_ref()?, path)?;
        Some((scalar.line, self.column_of(scalar)))
    }

    /// A problem with the field at `path`. When the field is not written (a default), the
    /// place is that of the nearest enclosing field that is.
    pub fn problem(&self, path: &[&str], message: impl Into<String>) -> ConfigProblem {
        let position = (0..=path.len()).rev().find_map(|len| self.position(&path[..len]));
        ConfigProblem {
            file: self.source.to_string(),
            line: position.map(|(line, _)| line),
            column: position.map(|(_, column)| column),
            field: (!path.is_empty()).then(|| path.join(".")),
            message: message.into(),
        }
    }

    /// A plugin's refusal of policy `index`'s `config` (its `validate-config` message), placed
    /// at the field the message starts with: `environments.prod: …`, or as the SDK writes it,
    /// `config.environments.prod: …` (the field is then `policies.N.config.environments.prod`).
    /// A message that starts with no field of the config is placed at the config itself.
    pub fn plugin_refusal(&self, index: usize, plugin: &str, message: &str) -> ConfigProblem {
        let index = index.to_string();
        let config_path = ["policies", index.as_str(), "config"];
        let mut problem = self.problem(&config_path, format!("{plugin} does not accept this configuration: {message}"));
        let Some((field, rest)) = message.split_once(": ").filter(|(field, _)| !field.is_empty() && !field.contains(char::is_whitespace))
        else {
            return problem;
        };
        let (field, explicit) = match field.strip_prefix("config") {
            Some("") => ("", true),
            Some(inner) if inner.starts_with('.') => (&inner[1..], true),
            _ => (field, false),
        };
        let segments = if field.is_empty() { Some(Vec::new()) } else { parse_path(field).ok() };
        let Some(segments) = segments else { return problem };
        let config_node = self.tree.as_ref().and_then(|tree| node_at(tree, &config_path));
        let (resolved, deepest) = config_node.map_or((0, None), |node| resolve(node, &segments));
        // A message that merely starts like `word: …` names a field only when the field is there.
        if !explicit && resolved == 0 {
            return problem;
        }
        if let Some(scalar) = deepest {
            (problem.line, problem.column) = (Some(scalar.line), Some(self.column_of(scalar)));
        }
        problem.field = Some(if field.is_empty() { config_path.join(".") } else { format!("{}.{field}", config_path.join(".")) });
        problem.message = format!("{plugin} does not accept this configuration: {rest}");
        problem
    }

    fn column_of(&self, scalar: &Scalar) -> usize {
        let before = &self.text[..scalar.span.start.min(self.text.len())];
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        before[line_start..].chars().count() + 1
    }
}

/// The node at `path` (sequence items by index).
fn node_at<'t>(tree: &'t Node, path: &[&str]) -> Option<&'t Node> {
    path.iter().try_fold(tree, |node, segment| match node {
        Node::Sequence(items) => items.get(segment.parse::<usize>().ok()?),
        _ => node.entry(segment).map(|(_, value)| value),
    })
}

/// How many of `segments` are written under `node`, and the key (or the first scalar of the
/// item) of the deepest. Keys may hold dots (an environment `prod.eu`): at each mapping the
/// longest run of key segments that is a key there is taken.
fn resolve<'t>(node: &'t Node, segments: &[PathSegment]) -> (usize, Option<&'t Scalar>) {
    let (mut node, mut used, mut deepest) = (node, 0, None);
    while used < segments.len() {
        let step = match (&segments[used], node) {
            (PathSegment::Index(index), Node::Sequence(items)) => items.get(*index).map(|item| (1, item.first_scalar(), item)),
            (PathSegment::Key(_), _) => {
                let keys = segments[used..].iter().map_while(|segment| match segment {
                    PathSegment::Key(key) => Some(key.as_str()),
                    PathSegment::Index(_) => None,
                });
                let keys: Vec<&str> = keys.collect();
                (1..=keys.len()).rev().find_map(|run| node.entry(&keys[..run].join(".")).map(|(key, value)| (run, Some(key), value)))
            }
            _ => None,
        };
        let Some((run, scalar, next)) = step else { break };
        used += run;
        deepest = scalar.or(deepest);
        node = next;
    }
    (used, deepest)
}

/// The key at `path` (for a sequence item: its first scalar), for messages.
fn scalar_at<'t>(tree: &'t Node, path: &[&str]) -> Option<&'t Scalar> {
    let mut node = tree;
    let mut found = None;
    for segment in path {
        match node {
            Node::Sequence(items) => {
                node = items.get(segment.parse::<usize>().ok()?)?;
                found = node.first_scalar().or(found);
            }
            _ => {
                let (key, value) = node.entry(segment)?;
                found = Some(key);
                node = value;
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "environments: [dev, prod.eu]\npolicies:\n  - plugin: p.wasm\n  - plugin: q.wasm\n    config:\n      environments:\n        prod.eu: { groups: { sre: [alice, bob] } }\n";

    fn refusal(message: &str) -> String {
        ConfigLocator::new("tollgate.yaml", TEXT).plugin_refusal(1, "q", message).to_string()
    }

    #[test]
    fn a_plugin_refusal_is_placed_at_the_field_its_message_starts_with() {
        let refused = "tollgate.yaml:7:9: policies.1.config.environments.prod.eu: q does not accept this configuration: no rules";
        assert_eq!(refusal("environments.prod.eu: no rules"), refused, "a key with a dot in it");
        assert_eq!(refusal("config.environments.prod.eu: no rules"), refused, "as the SDK writes it");
        assert_eq!(
            refusal("config.environments.prod.eu.groups.sre[1]: not allowed"),
            "tollgate.yaml:7:43: policies.1.config.environments.prod.eu.groups.sre[1]: q does not accept this configuration: not allowed"
        );
        // Named but not written (a default): the deepest field that is.
        assert_eq!(
            refusal("config.environments.prod.eu.required: must be 1"),
            "tollgate.yaml:7:9: policies.1.config.environments.prod.eu.required: q does not accept this configuration: must be 1"
        );
        assert_eq!(refusal("config: no rules"), "tollgate.yaml:5:5: policies.1.config: q does not accept this configuration: no rules");
    }

    #[test]
    fn a_message_that_names_no_field_of_the_config_is_placed_at_the_config() {
        for message in ["error: something odd", "no rules at all", "windows: none", ": x"] {
            assert_eq!(refusal(message), format!("tollgate.yaml:5:5: policies.1.config: q does not accept this configuration: {message}"));
        }
        // A policy without a config: the policy's own place.
        let located = ConfigLocator::new("tollgate.yaml", TEXT).plugin_refusal(0, "p", "config.environments.prod: no environment is called prod");
        assert_eq!(located.to_string(), "tollgate.yaml:3:5: policies.0.config.environments.prod: p does not accept this configuration: no environment is called prod");
    }
}
