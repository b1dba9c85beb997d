//! What a changed `kustomization.yaml` pulls in: the files and directories it lists, and
//! patches written inline. Only local paths are followed; remote bases (URLs, `git@...`)
//! are not part of the repository and are skipped.

use saphyr::MarkedYaml;

use crate::scan::{self, Seg};

/// File names kustomize looks for in a directory, in its order.
pub const KUSTOMIZATION_FILES: &[&str] = &["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Whether a repository path names a kustomization file.
pub fn is_kustomization(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    KUSTOMIZATION_FILES.contains(&name)
}

/// What an entry of a kustomization points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A path relative to the kustomization's directory (a file or a directory).
    Path(String),
    /// YAML written inline (a `patch:` string), starting on the given file line.
    Inline {
        /// The YAML text.
        text: String,
        /// The file line its first line is on.
        first_line: usize,
    },
}

/// One entry of a kustomization that brings in more manifests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Where it is in the kustomization, e.g. `resources[2]` or `patches[0].patch`.
    pub segments: Vec<Seg>,
    /// 1-based line of the entry.
    pub line: usize,
    /// What it points at.
    pub target: Target,
}

/// A literal of a `secretGenerator` (`literals: [password=...]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Literal {
    /// Where it is, e.g. `secretGenerator[0].literals[1]`.
    pub segments: Vec<Seg>,
    /// 1-based line.
    pub line: usize,
    /// Name of the generated Secret.
    pub secret: String,
    /// The literal's key (before `=`).
    pub key: String,
    /// The literal's value (after `=`): a secret, never to be shown.
    pub value: String,
}

/// The entries of a kustomization document that bring in more manifests:
/// `resources`, `bases`, `components`, `patches` (`path` or inline `patch`),
/// `patchesStrategicMerge` (paths or inline YAML) and `patchesJson6902` (`path`).
pub fn entries(document: &MarkedYaml<'_>, source: &str) -> Vec<Entry> {
    let mut entries = Vec::new();
    for field in ["resources", "bases", "components", "patchesStrategicMerge"] {
        for (index, item) in items(document, field) {
            let Some(text) = scan::string_value(item) else { continue };
            let segments = vec![Seg::Key(field.to_string()), Seg::Index(index)];
            let line = item.span.start.line();
            let target = if text.contains('\n') {
                Target::Inline { text: text.to_string(), first_line: content_line(item, source) }
            } else {
                Target::Path(text.trim().to_string())
            };
            entries.push(Entry { segments, line, target });
        }
    }
    for field in ["patches", "patchesJson6902"] {
        for (index, item) in items(document, field) {
            if let Some(path) = scan::get(item, "path")
                && let Some(text) = scan::string_value(path)
            {
                let segments = vec![Seg::Key(field.to_string()), Seg::Index(index), Seg::Key("path".to_string())];
                entries.push(Entry { segments, line: path.span.start.line(), target: Target::Path(text.trim().to_string()) });
            }
            if let Some(patch) = scan::get(item, "patch")
                && let Some(text) = scan::string_value(patch)
            {
                let segments = vec![Seg::Key(field.to_string()), Seg::Index(index), Seg::Key("patch".to_string())];
                let target = Target::Inline { text: text.to_string(), first_line: content_line(patch, source) };
                entries.push(Entry { segments, line: patch.span.start.line(), target });
            }
        }
    }
    entries
}

/// The `key=value` literals of the kustomization's `secretGenerator`s: every one of them
/// becomes a Secret value, so a non-empty one is a secret kept in the repository.
pub fn secret_literals(document: &MarkedYaml<'_>) -> Vec<Literal> {
    let mut literals = Vec::new();
    for (generator_index, generator) in items(document, "secretGenerator") {
        let secret = scan::get_str(generator, "name").unwrap_or("(unnamed)").to_string();
        for (index, item) in items(generator, "literals") {
            let Some(text) = scan::string_value(item) else { continue };
            let (key, value) = text.split_once('=').unwrap_or((text, ""));
            literals.push(Literal {
                segments: vec![
                    Seg::Key("secretGenerator".to_string()),
                    Seg::Index(generator_index),
                    Seg::Key("literals".to_string()),
                    Seg::Index(index),
                ],
                line: item.span.start.line(),
                secret: secret.clone(),
                key: key.trim().to_string(),
                value: value.to_string(),
            });
        }
    }
    literals
}

fn items<'a, 'i>(node: &'a MarkedYaml<'i>, field: &str) -> impl Iterator<Item = (usize, &'a MarkedYaml<'i>)> {
    scan::get(node, field).and_then(scan::sequence).unwrap_or_default().iter().enumerate()
}

/// The file line on which a string's content starts: the line after the indicator for a
/// block scalar (`patch: |`), the node's own line otherwise.
fn content_line(node: &MarkedYaml<'_>, source: &str) -> usize {
    let line = node.span.start.line();
    let block = source.chars().nth(node.span.start.index()).is_some_and(|c| c == '|' || c == '>');
    if block { line + 1 } else { line }
}

/// Whether a kustomization entry points outside the repository (a URL or git remote).
pub fn is_remote(target: &str) -> bool {
    target.contains("://") || target.starts_with("git@") || target.starts_with("github.com/") || target.contains("?ref=")
}

/// Resolve `target` relative to the directory of `kustomization` into a normalised
/// repository path. `Err` when it climbs above the repository root.
pub fn resolve(kustomization: &str, target: &str) -> Result<String, String> {
    let mut parts: Vec<&str> = kustomization.split('/').collect();
    parts.pop(); // the kustomization file itself
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(format!("{target} points outside the repository"));
                }
            }
            part => parts.push(part),
        }
    }
    if parts.is_empty() {
        return Err(format!("{target} is the repository root, not a file or directory in it"));
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_relative_paths_inside_the_repository() {
        assert_eq!(resolve("envs/dev/kustomization.yaml", "deployment.yaml").unwrap(), "envs/dev/deployment.yaml");
        assert_eq!(resolve("envs/dev/kustomization.yaml", "../../base").unwrap(), "base");
        assert_eq!(resolve("envs/dev/kustomization.yaml", "./patches/./db.yaml").unwrap(), "envs/dev/patches/db.yaml");
        assert!(resolve("envs/dev/kustomization.yaml", "../../../etc/passwd").unwrap_err().contains("outside the repository"));
        assert!(resolve("kustomization.yaml", "..").is_err());
    }

    #[test]
    fn recognises_remote_bases_and_kustomization_names() {
        assert!(is_remote("https://github.com/org/repo//base?ref=v1"));
        assert!(is_remote("github.com/org/repo/base"));
        assert!(!is_remote("../base"));
        assert!(is_kustomization("envs/dev/kustomization.yaml"));
        assert!(is_kustomization("Kustomization"));
        assert!(!is_kustomization("envs/dev/not-a-kustomization.yaml"));
    }
}
