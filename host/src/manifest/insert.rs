//! Adding the version's place to a file that does not hold it yet, on an explicit opt-in
//! (`insert: true` on the location).
//!
//! - Helm values: an overlay such as `values-production.yaml` that inherits `image.tag` from
//!   the base values file. The missing keys are added as new lines under the deepest mapping
//!   that exists (`image:` with `tag: ""` under it, or only `tag: ""` when `image:` is there).
//! - Kustomize: a `kustomization.yaml` with no `images:` entry for the image. An entry
//!   `- name: IMAGE` / `newTag: ""` is added to `images:` (and `images:` itself when absent).
//!
//! Only whole new lines are added; every other byte stays. The new lines follow the file's
//! own style: its indentation unit (the smallest step between a mapping and a nested one,
//! 2 when there is none), whether its block sequences are indented under their key, and its
//! line ending. The placeholder `""` is then set to the version by the usual scalar edit
//! ([`super::write_deployed`]). The insertion is read back before it is used: the file must
//! parse to the same documents with every earlier value at the same path, plus only the new
//! one, or nothing is written.

use std::ops::Range;

use super::yaml::{Node, PathSegment, Scalar, parse_documents, parse_path, render_like};
use super::{Layout, ManifestError, read_deployed};
use saphyr_parser::ScalarStyle;

/// Whether the file lacks the version's place altogether (and not, say, holds it in a form
/// tollgate cannot edit): what `insert: true` would add.
pub fn lacks_target(text: &str, layout: &Layout) -> bool {
    let Ok(documents) = parse_documents(text) else { return false };
    if documents.iter().any(|document| document.duplicate_key().is_some()) {
        return false;
    }
    match layout {
        Layout::Helm { tag_path, .. } => {
            let keys_only = parse_path(tag_path).is_ok_and(|segments| segments.iter().all(|segment| matches!(segment, PathSegment::Key(_))));
            keys_only && documents.iter().all(|document| document.at_path(tag_path).is_none())
        }
        Layout::Kustomize { image } => !documents.iter().any(|document| {
            document.get("images").map(Node::as_sequence).unwrap_or_default().iter().any(|entry| {
                entry.get("name").and_then(Node::as_scalar).is_some_and(|name| &name.value == image)
            })
        }),
        Layout::Manifest { .. } | Layout::ChartDependency { .. } | Layout::ArgoCd { .. } | Layout::HelmRelease { .. } | Layout::KustomizeRemote { .. } => false,
    }
}

/// When the file lacks the version's place: the message that says how to opt in to adding
/// it, naming the file, the missing key and the YAML to write at `field` in tollgate.yaml.
pub fn opt_in_advice(file: &str, text: &str, layout: &Layout, field: &str) -> Option<String> {
    if !lacks_target(text, layout) {
        return None;
    }
    Some(match layout {
        Layout::Helm { tag_path, digest_path } => {
            let digest = digest_path.as_ref().map(|path| format!(", digest_path: {path}")).unwrap_or_default();
            format!(
                "{file} has no `{tag_path}` (an overlay that inherits it from a base values file?); to let the first promotion add it, \
                 write `helm: {{ tag_path: {tag_path}{digest}, insert: true }}` at {field} in tollgate.yaml, or fix tag_path"
            )
        }
        Layout::Kustomize { image } => format!(
            "{file} has no `images:` entry with name {image}; to let the first promotion add one (`- name: {image}` with newTag), \
             write `kustomize: {{ image: {image}, insert: true }}` at {field} in tollgate.yaml, or add the entry yourself"
        ),
        Layout::Manifest { .. } | Layout::ChartDependency { .. } | Layout::ArgoCd { .. } | Layout::HelmRelease { .. } | Layout::KustomizeRemote { .. } => return None,
    })
}

/// `text` with the version's missing place added as new lines holding `""` (the tag, and for
/// Helm with a `digest_path` the digest too when it is missing). Fails, changing nothing,
/// when the file cannot take the keys as new block lines or the result does not read back.
pub fn insert_target(file: &str, text: &str, layout: &Layout) -> Result<String, ManifestError> {
    let fail = |message: String| ManifestError(format!("{file}: {message}; nothing was written"));
    let mut edited = match layout {
        Layout::Helm { tag_path, .. } => insert_mapping_path(text, tag_path).map_err(fail)?,
        Layout::Kustomize { image } => insert_images_entry(text, image).map_err(fail)?,
        Layout::Manifest { .. } => return Err(fail("a raw manifest's container image cannot be added; write it".into())),
        Layout::ChartDependency { .. } | Layout::ArgoCd { .. } | Layout::HelmRelease { .. } | Layout::KustomizeRemote { .. } => {
            return Err(fail("only Helm values and Kustomize images entries can be added; write the version".into()));
        }
    };
    if let Layout::Helm { digest_path: Some(digest_path), .. } = layout {
        let documents = parse_documents(&edited).map_err(|error| fail(error.to_string()))?;
        if documents.iter().all(|document| document.at_path(digest_path).is_none()) {
            edited = insert_mapping_path(&edited, digest_path).map_err(fail)?;
        }
    }
    match read_deployed(file, &edited, layout) {
        Ok(deployed) if deployed.version.is_empty() => Ok(edited),
        // The read-back is the last guard: an insertion this layout did not survive is refused.
        _ => Err(fail("the keys cannot be added safely (after adding them the file does not read back as expected); add them yourself".into())),
    }
}

/// The insertion point, new text and style of one edit.
struct Insertion {
    at: usize,
    lines: Vec<String>,
    /// The start of an empty value (`image:` with nothing after it) the new lines fill.
    fills_null: Option<usize>,
}

/// Add the keys of `path` (keys only) that do not exist, under the deepest block mapping
/// that does, the last one holding `""`.
pub fn insert_mapping_path(text: &str, path: &str) -> Result<String, String> {
    let keys: Vec<String> = parse_path(path)?
        .into_iter()
        .map(|segment| match segment {
            PathSegment::Key(key) => Ok(key),
            PathSegment::Index(_) => Err(format!("`{path}` has a list index; only mapping keys can be added")),
        })
        .collect::<Result<_, _>>()?;
    let documents = parse_documents(text).map_err(|error| format!("not valid YAML: {error}"))?;
    let unit = indent_unit(text, &documents);
    let root = documents.iter().find(|document| matches!(document, Node::Mapping { flow: false, .. }));
    let Some(root) = root else {
        if documents.iter().all(is_null) {
            // An empty file (or only comments): the keys start at column 0 at the end.
            let lines = key_lines(&keys, 0, unit, "\"\"")?;
            return apply(text, Insertion { at: text.len(), lines, fills_null: None });
        }
        return Err("the file has no block mapping at the top to add keys to".into());
    };
    let mut node = root;
    let mut depth = 0;
    let mut null_parent: Option<&Scalar> = None;
    while depth < keys.len() {
        let Some((key, value)) = node.entry(&keys[depth]) else { break };
        match value {
            Node::Mapping { flow: false, .. } => node = value,
            Node::Scalar(scalar) if scalar.span.is_empty() => {
                null_parent = Some(key);
                depth += 1;
                break;
            }
            Node::Mapping { flow: true, .. } => {
                return Err(format!("`{}` is written in flow style ({{…}}); write it as a block mapping", keys[..=depth].join(".")));
            }
            _ => return Err(format!("`{}` is not a mapping, so `{path}` cannot be added under it", keys[..=depth].join("."))),
        }
        depth += 1;
    }
    let (at, column, fills_null) = match null_parent {
        Some(key) => {
            let null = node.get(&key.value).and_then(Node::as_scalar).map(|null| null.span.start);
            (line_end(text, key.span.end), column_of(text, key.span.start) + unit, null)
        }
        None => {
            let first_key = node.first_scalar().ok_or("an empty mapping")?;
            (line_end(text, subtree_end(node)), column_of(text, first_key.span.start), None)
        }
    };
    let lines = key_lines(&keys[depth..], column, unit, "\"\"")?;
    apply(text, Insertion { at, lines, fills_null })
}

/// Add `- name: IMAGE` / `newTag: ""` to the top-level `images:` (adding `images:` too
/// when there is none).
pub fn insert_images_entry(text: &str, image: &str) -> Result<String, String> {
    let documents = parse_documents(text).map_err(|error| format!("not valid YAML: {error}"))?;
    let name = render_like(ScalarStyle::Plain, image).map_err(|error| error.0)?;
    let offset = sequence_offset(text, &documents);
    let entry = |dash: usize, key: usize| {
        vec![format!("{}-{}name: {name}", " ".repeat(dash), " ".repeat(key - dash - 1)), format!("{}newTag: \"\"", " ".repeat(key))]
    };
    let root = documents.iter().find(|document| matches!(document, Node::Mapping { flow: false, .. }));
    let Some(root) = root else {
        if documents.iter().all(is_null) {
            let mut lines = vec!["images:".to_string()];
            lines.extend(entry(offset, offset + 2));
            return apply(text, Insertion { at: text.len(), lines, fills_null: None });
        }
        return Err("the file has no block mapping at the top to add images: to".into());
    };
    match root.entry("images") {
        None => {
            let column = column_of(text, root.first_scalar().ok_or("an empty mapping")?.span.start);
            let mut lines = vec![format!("{}images:", " ".repeat(column))];
            lines.extend(entry(column + offset, column + offset + 2));
            apply(text, Insertion { at: line_end(text, subtree_end(root)), lines, fills_null: None })
        }
        Some((key, Node::Scalar(scalar))) if scalar.span.is_empty() => {
            let column = column_of(text, key.span.start);
            let lines = entry(column + offset, column + offset + 2);
            apply(text, Insertion { at: line_end(text, key.span.end), lines, fills_null: Some(scalar.span.start) })
        }
        Some((key, items @ Node::Sequence(entries))) if !entries.is_empty() && !is_flow_after(text, key.span.end) => {
            let first_key = entries[0].first_scalar().filter(|_| matches!(entries[0], Node::Mapping { flow: false, .. }));
            let first_key = first_key.ok_or("the images: entries are not block mappings")?;
            let dash = dash_column(text, first_key.span.start).ok_or("the images: list is not written one `- ` item per line")?;
            let lines = entry(dash, column_of(text, first_key.span.start));
            apply(text, Insertion { at: line_end(text, subtree_end(items)), lines, fills_null: None })
        }
        Some(_) => Err("`images:` is not a block list of entries (write `images:` with `- name: …` items on their own lines)".into()),
    }
}

fn key_lines(keys: &[String], column: usize, unit: usize, value: &str) -> Result<Vec<String>, String> {
    keys.iter()
        .enumerate()
        .map(|(index, key)| {
            let key = render_like(ScalarStyle::Plain, key).map_err(|error| error.0)?;
            let value = if index + 1 == keys.len() { format!(" {value}") } else { String::new() };
            Ok(format!("{}{key}:{value}", " ".repeat(column + index * unit)))
        })
        .collect()
}

/// Splice the lines in at a line start, in the file's line ending, and read it back.
fn apply(text: &str, insertion: Insertion) -> Result<String, String> {
    let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let mut block: String = insertion.lines.iter().map(|line| format!("{line}{newline}")).collect();
    let at = insertion.at;
    if at == text.len() && !text.is_empty() && !text.ends_with('\n') {
        // The last line has no line ending: the new lines go after one, and end without.
        block = format!("{newline}{}", block.trim_end_matches(newline));
    }
    let mut edited = String::with_capacity(text.len() + block.len());
    edited.push_str(&text[..at]);
    edited.push_str(&block);
    edited.push_str(&text[at..]);
    verify_insertion(text, &edited, at..at + block.len(), insertion.fills_null)?;
    Ok(edited)
}

/// The edit adds only scalars inside `inserted`; every other value is where it was (same path
/// in the same document), in the same order, except the empty value the new lines fill.
fn verify_insertion(before: &str, after: &str, inserted: Range<usize>, fills_null: Option<usize>) -> Result<(), String> {
    let refuse = || "the keys cannot be added safely (unusual YAML layout around them); add them yourself".to_string();
    let leaves = |text: &str| -> Option<Vec<(String, usize, String)>> {
        let documents = parse_documents(text).ok()?;
        let mut out = Vec::new();
        for (index, document) in documents.iter().enumerate() {
            collect_leaves(document, &index.to_string(), &mut out);
        }
        Some(out)
    };
    let (Some(old), Some(new)) = (leaves(before), leaves(after)) else { return Err(refuse()) };
    let kept: Vec<(&String, &String)> =
        new.iter().filter(|(_, start, _)| !inserted.contains(start)).map(|(path, _, value)| (path, value)).collect();
    let old: Vec<(&String, &String)> = old
        .iter()
        .filter(|(_, start, value)| !(Some(*start) == fills_null && value.is_empty()))
        .map(|(path, _, value)| (path, value))
        .collect();
    if kept == old { Ok(()) } else { Err(refuse()) }
}

/// Every scalar with its path (`0/image/tag`, keys and values alike) and its start.
fn collect_leaves(node: &Node, path: &str, out: &mut Vec<(String, usize, String)>) {
    match node {
        Node::Scalar(scalar) => out.push((path.to_string(), scalar.span.start, scalar.value.clone())),
        Node::Mapping { entries, .. } => {
            for (key, value) in entries {
                let name = key.as_scalar().map_or("?", |key| key.value.as_str());
                collect_leaves(key, &format!("{path}/?{name}"), out);
                collect_leaves(value, &format!("{path}/{name}"), out);
            }
        }
        Node::Sequence(items) => items.iter().enumerate().for_each(|(index, item)| collect_leaves(item, &format!("{path}/[{index}]"), out)),
        Node::Alias => {}
    }
}

fn is_null(node: &Node) -> bool {
    matches!(node, Node::Scalar(scalar) if scalar.span.is_empty() || matches!(scalar.value.as_str(), "" | "~" | "null"))
}

/// The end of the last scalar under `node`.
fn subtree_end(node: &Node) -> usize {
    match node {
        Node::Scalar(scalar) => scalar.span.end,
        Node::Mapping { entries, .. } => entries.iter().map(|(key, value)| subtree_end(key).max(subtree_end(value))).max().unwrap_or(0),
        Node::Sequence(items) => items.iter().map(subtree_end).max().unwrap_or(0),
        Node::Alias => 0,
    }
}

/// The start of the line after the one holding byte `offset` (or the end of the text). An
/// offset just past a newline (where a block scalar `|`/`>` ends) is already such a start.
fn line_end(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    if offset > 0 && text.as_bytes()[offset - 1] == b'\n' {
        return offset;
    }
    text[offset..].find('\n').map_or(text.len(), |newline| offset + newline + 1)
}

fn line_start(text: &str, offset: usize) -> usize {
    text[..offset].rfind('\n').map_or(0, |newline| newline + 1)
}

/// Column (0-based, in bytes: indentation is ASCII spaces) of byte `offset`.
fn column_of(text: &str, offset: usize) -> usize {
    offset - line_start(text, offset)
}

/// The column of the `-` that starts the item whose first scalar is at `offset`: only spaces
/// before it on its line and between it and the scalar.
fn dash_column(text: &str, offset: usize) -> Option<usize> {
    let start = line_start(text, offset);
    let before = &text[start..offset];
    let dash = before.rfind('-')?;
    let (indent, gap) = (&before[..dash], &before[dash + 1..]);
    (indent.bytes().all(|byte| byte == b' ') && !gap.is_empty() && gap.bytes().all(|byte| byte == b' ')).then_some(dash)
}

/// Whether the value after a key ending at `offset` starts with `[` or `{` (flow style).
fn is_flow_after(text: &str, offset: usize) -> bool {
    let rest = text[offset..].trim_start_matches([' ', ':', '\t']);
    rest.starts_with('[') || rest.starts_with('{')
}

/// The file's indentation unit: the smallest step from a block mapping's keys to those of a
/// block mapping nested in it; 2 when there is none.
fn indent_unit(text: &str, documents: &[Node]) -> usize {
    fn walk(text: &str, node: &Node, smallest: &mut Option<usize>) {
        match node {
            Node::Mapping { entries, flow: false } => {
                for (key, value) in entries {
                    if let (Node::Mapping { flow: false, .. }, Some(key), Some(child)) = (value, key.as_scalar(), value.first_scalar()) {
                        let (parent, nested) = (column_of(text, key.span.start), column_of(text, child.span.start));
                        if nested > parent && line_start(text, key.span.start) != line_start(text, child.span.start) {
                            *smallest = Some(smallest.map_or(nested - parent, |step: usize| step.min(nested - parent)));
                        }
                    }
                    walk(text, value, smallest);
                }
            }
            Node::Sequence(items) => items.iter().for_each(|item| walk(text, item, smallest)),
            _ => {}
        }
    }
    let mut smallest = None;
    documents.iter().for_each(|document| walk(text, document, &mut smallest));
    smallest.unwrap_or(2)
}

/// How far the file's block sequences indent their `-` past their key: the first such list
/// found decides; 0 (Kustomize's own style) when there is none.
fn sequence_offset(text: &str, documents: &[Node]) -> usize {
    fn walk(text: &str, node: &Node) -> Option<usize> {
        match node {
            Node::Mapping { entries, flow: false } => entries.iter().find_map(|(key, value)| {
                let here = match (key.as_scalar(), value) {
                    (Some(key), Node::Sequence(items)) if !items.is_empty() => items[0].first_scalar()
                        .filter(|first| line_start(text, key.span.start) != line_start(text, first.span.start))
                        .and_then(|first| dash_column(text, first.span.start))
                        .and_then(|dash| dash.checked_sub(column_of(text, key.span.start))),
                    _ => None,
                };
                here.or_else(|| walk(text, value))
            }),
            Node::Sequence(items) => items.iter().find_map(|item| walk(text, item)),
            _ => None,
        }
    }
    documents.iter().find_map(|document| walk(text, document)).unwrap_or(0)
}

#[cfg(test)]
#[path = "insert_tests.rs"]
mod tests;
