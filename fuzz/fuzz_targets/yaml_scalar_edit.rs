//! The YAML scalar editor: for any document and any new value, replacing one scalar changes
//! only that scalar's bytes, and the result parses back with the new value in its place and
//! every other scalar unchanged (or the edit is refused with an error, never a panic).

#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../host/src/manifest/yaml.rs"]
mod yaml;

use yaml::{Node, Scalar, parse_documents, replace_scalar};

fn scalars<'a>(node: &'a Node, out: &mut Vec<&'a Scalar>) {
    match node {
        Node::Scalar(scalar) => out.push(scalar),
        Node::Mapping { entries, .. } => {
            for (key, value) in entries {
                scalars(key, out);
                scalars(value, out);
            }
        }
        Node::Sequence(items) => items.iter().for_each(|item| scalars(item, out)),
        Node::Alias => {}
    }
}

fuzz_target!(|input: &[u8]| {
    // Layout: one byte choosing the scalar, then "new value \0 document".
    let Some((&choice, rest)) = input.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let Some((new_value, source)) = text.split_once('\0') else { return };
    let Ok(documents) = parse_documents(source) else { return };
    let mut before = Vec::new();
    documents.iter().for_each(|document| scalars(document, &mut before));
    if before.is_empty() {
        return;
    }
    let index = usize::from(choice) % before.len();
    let target = before[index];
    let Ok(edited) = replace_scalar(source, target, new_value) else { return };
    // Only the target's bytes changed.
    assert_eq!(&edited[..target.span.start], &source[..target.span.start]);
    let tail = source.len() - target.span.end;
    assert_eq!(&edited[edited.len() - tail..], &source[target.span.end..]);
    // It parses back, with the new value in the target's place and nothing else changed.
    let reparsed = parse_documents(&edited).unwrap_or_else(|error| panic!("edited document does not parse: {error}\n{edited}"));
    let mut after = Vec::new();
    reparsed.iter().for_each(|document| scalars(document, &mut after));
    assert_eq!(after.len(), before.len(), "{edited}");
    for (i, (old, new)) in before.iter().zip(&after).enumerate() {
        if i == index {
            assert_eq!(new.value, new_value, "{edited}");
        } else {
            assert_eq!(new.value, old.value, "scalar {i} changed:\n{edited}");
        }
    }
});
