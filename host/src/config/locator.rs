//! Where things are in a configuration's text: problems as `file:line:column: field: message`
//! data, and the locator that finds the line and column of a field for them.

use serde::Serialize;

use crate::manifest::yaml::{Node, Scalar, parse_documents};

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

/// Finds where fields are written in a configuration's text, for messages.
pub struct ConfigLocator<'a> {
    source: &'a str,
    text: &'a str,
    tree: Option<Node>,
}

impl<'a> ConfigLocator<'a> {
    /// A locator for `text`, the content of `source` (a path for messages).
    pub fn new(source: &'a str, text: &'a str) -> Self {
        let tree = parse_documents(text).ok().and_then(|documents| documents.into_iter().next());
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

    fn column_of(&self, scalar: &Scalar) -> usize {
        let before = &self.text[..scalar.span.start.min(self.text.len())];
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        before[line_start..].chars().count() + 1
    }
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
