//! A YAML document tree that remembers where every scalar is in the source, so one scalar
//! can be replaced while every other byte of the file (comments, ordering, quoting style,
//! anchors, other documents) stays identical.

use std::ops::Range;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// A scalar and its place in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar {
    /// The decoded value.
    pub value: String,
    /// How it is written.
    pub style: ScalarStyle,
    /// Byte range of the written scalar (quotes included; anchor and tag excluded).
    pub span: Range<usize>,
    /// 1-based line of the scalar.
    pub line: usize,
}

/// A YAML node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A scalar.
    Scalar(Scalar),
    /// A mapping, in source order.
    Mapping {
        /// Key/value pairs.
        entries: Vec<(Node, Node)>,
        /// Whether it is written `{…}`.
        flow: bool,
    },
    /// A sequence.
    Sequence(Vec<Node>),
    /// An alias (`*name`); never edited through.
    Alias,
}

impl Node {
    /// The value under a string `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, value)| value)
    }

    /// The key and value nodes under a string `key` of a mapping.
    pub fn entry(&self, key: &str) -> Option<(&Scalar, &Node)> {
        match self {
            Node::Mapping { entries, .. } => entries.iter().find_map(|(k, v)| match k {
                Node::Scalar(scalar) if scalar.value == key => Some((scalar, v)),
                _ => None,
            }),
            _ => None,
        }
    }

    /// The node at a dotted path such as `image.tag` or `images[1].newTag`.
    pub fn at_path(&self, path: &str) -> Option<&Node> {
        let mut node = self;
        for segment in parse_path(path).ok()? {
            node = match segment {
                PathSegment::Key(key) => node.get(&key)?,
                PathSegment::Index(index) => match node {
                    Node::Sequence(items) => items.get(index)?,
                    _ => return None,
                },
            };
        }
        Some(node)
    }

    /// The line where the node starts (for a mapping, its first key).
    pub fn first_line(&self) -> Option<usize> {
        self.first_scalar().map(|scalar| scalar.line)
    }

    /// The first scalar in source order: the node itself, a mapping's first key, a sequence's
    /// first item's.
    pub fn first_scalar(&self) -> Option<&Scalar> {
        match self {
            Node::Scalar(scalar) => Some(scalar),
            Node::Mapping { entries, .. } => entries.first().and_then(|(key, _)| key.first_scalar()),
            Node::Sequence(items) => items.first().and_then(Node::first_scalar),
            Node::Alias => None,
        }
    }

    /// The first key written twice in one mapping anywhere in this node, with the lines of
    /// both (YAML readers such as Helm take the last one, so editing either is wrong).
    pub fn duplicate_key(&self) -> Option<(String, usize, usize)> {
        match self {
            Node::Mapping { entries, .. } => {
                for (index, (key, _)) in entries.iter().enumerate() {
                    let Some(key) = key.as_scalar() else { continue };
                    let twin = entries[..index].iter().filter_map(|(earlier, _)| earlier.as_scalar()).find(|earlier| earlier.value == key.value);
                    if let Some(earlier) = twin {
                        return Some((key.value.clone(), earlier.line, key.line));
                    }
                }
                entries.iter().find_map(|(_, value)| value.duplicate_key())
            }
            Node::Sequence(items) => items.iter().find_map(Node::duplicate_key),
            Node::Scalar(_) | Node::Alias => None,
        }
    }

    /// The scalar, if this is one.
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match self {
            Node::Scalar(scalar) => Some(scalar),
            _ => None,
        }
    }

    /// The items, if this is a sequence.
    pub fn as_sequence(&self) -> &[Node] {
        match self {
            Node::Sequence(items) => items,
            _ => &[],
        }
    }
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// Parse `a.b[2].c` into segments.
pub fn parse_path(path: &str) -> Result<Vec<PathSegment>, String> {
    let mut segments = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(index) => (&part[..index], &part[index..]),
            None => (part, ""),
        };
        if key.is_empty() && (segments.is_empty() || rest.is_empty()) {
            return Err(format!("{path:?} is not a path like image.tag or images[0].newTag"));
        }
        if !key.is_empty() {
            segments.push(PathSegment::Key(key.to_string()));
        }
        while let Some(stripped) = rest.strip_prefix('[') {
            let close = stripped.find(']').ok_or_else(|| format!("{path:?}: missing `]`"))?;
            let index = stripped[..close].parse().map_err(|_| format!("{path:?}: `{}` is not an index", &stripped[..close]))?;
            segments.push(PathSegment::Index(index));
            rest = &stripped[close + 1..];
        }
        if !rest.is_empty() {
            return Err(format!("{path:?} is not a path like image.tag or images[0].newTag"));
        }
    }
    Ok(segments)
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {} column {}: {}", self.line, self.column, self.message)
    }
}

/// Parse every document of a YAML stream.
///
/// Remembers the last few small texts it parsed: one promotion reads, edits and reads back
/// the same manifests several times, and a server reads the same ones for every request. The
/// answer is a function of the text alone.
pub fn parse_documents(source: &str) -> Result<std::sync::Arc<Vec<Node>>, YamlError> {
    /// Texts larger than this are parsed every time, so what is remembered stays small.
    const REMEMBERED_TEXT_BYTES: usize = 64 << 10;
    static RECENT: crate::repo::memo::Memo<String, Result<std::sync::Arc<Vec<Node>>, YamlError>> = crate::repo::memo::Memo::new(16);
    if source.len() > REMEMBERED_TEXT_BYTES {
        return parse_stream(source).map(std::sync::Arc::new);
    }
    let key = source.to_string();
    if let Some(parsed) = RECENT.get(&key) {
        return parsed;
    }
    let parsed = parse_stream(source).map(std::sync::Arc::new);
    RECENT.put(key, parsed.clone());
    parsed
}

fn parse_stream(source: &str) -> Result<Vec<Node>, YamlError> {
    let offsets = CharOffsets::new(source);
    let mut parser = Parser::new_from_str(source);
    let mut builder = TreeBuilder { source, offsets: &offsets, stack: Vec::new(), documents: Vec::new() };
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|error| YamlError {
            line: error.marker().line(),
            column: error.marker().col() + 1,
            message: error.info().to_string(),
        })?;
        builder.event(event, span);
    }
    Ok(builder.documents)
}

/// Char index → byte offset (saphyr's markers count characters).
struct CharOffsets {
    /// `None` for ASCII text, where the two are the same.
    offsets: Option<Vec<usize>>,
    len: usize,
}

impl CharOffsets {
    fn new(source: &str) -> Self {
        let offsets = (!source.is_ascii()).then(|| source.char_indices().map(|(offset, _)| offset).collect());
        CharOffsets { offsets, len: source.len() }
    }

    fn byte(&self, char_index: usize) -> usize {
        match &self.offsets {
            None => char_index.min(self.len),
            Some(offsets) => offsets.get(char_index).copied().unwrap_or(self.len),
        }
    }
}

enum Open {
    Mapping { entries: Vec<(Node, Node)>, pending_key: Option<Node>, flow: bool },
    Sequence(Vec<Node>),
}

struct TreeBuilder<'a> {
    source: &'a str,
    offsets: &'a CharOffsets,
    stack: Vec<Open>,
    documents: Vec<Node>,
}

impl TreeBuilder<'_> {
    fn event(&mut self, event: Event<'_>, span: Span) {
        match event {
            Event::Scalar(value, style, _, _) => {
                let mut start = self.offsets.byte(span.start.index());
                let mut end = self.offsets.byte(span.end.index());
                start = skip_properties(self.source, start, end);
                // saphyr's span of a quoted scalar runs on over trailing blanks and a comment;
                // the scalar ends at its closing quote.
                if matches!(style, ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted) {
                    end = closing_quote_end(self.source, start).unwrap_or(end);
                }
                let scalar = Scalar { value: value.into_owned(), style, span: start..end, line: span.start.line() };
                self.add(Node::Scalar(scalar));
            }
            Event::Alias(_) => self.add(Node::Alias),
            Event::MappingStart(..) => {
                let start = self.offsets.byte(span.start.index());
                let flow = self.source[start..].starts_with('{');
                self.stack.push(Open::Mapping { entries: Vec::new(), pending_key: None, flow });
            }
            Event::SequenceStart(..) => self.stack.push(Open::Sequence(Vec::new())),
            Event::MappingEnd | Event::SequenceEnd => {
                let node = match self.stack.pop() {
                    Some(Open::Mapping { entries, flow, .. }) => Node::Mapping { entries, flow },
                    Some(Open::Sequence(items)) => Node::Sequence(items),
                    None => return,
                };
                self.add(node);
            }
            _ => {}
        }
    }

    fn add(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.documents.push(node),
            Some(Open::Sequence(items)) => items.push(node),
            Some(Open::Mapping { entries, pending_key, .. }) => match pending_key.take() {
                None => *pending_key = Some(node),
                Some(key) => entries.push((key, node)),
            },
        }
    }
}

/// The byte just past the closing quote of the quoted scalar starting at `start`.
fn closing_quote_end(source: &str, start: usize) -> Option<usize> {
    let bytes = source.as_bytes();
    let quote = *bytes.get(start)?;
    let mut index = start + 1;
    while index < bytes.len() {
        match (quote, bytes[index]) {
            (b'"', b'\\') => index += 2,
            (b'\'', b'\'') if bytes.get(index + 1) == Some(&b'\'') => index += 2,
            (_, byte) if byte == quote => return Some(index + 1),
            _ => index += 1,
        }
    }
    None
}

/// Skip a scalar's anchor (`&a`) and tag (`!!str`) so the span covers the scalar alone.
fn skip_properties(source: &str, mut start: usize, end: usize) -> usize {
    let bytes = source.as_bytes();
    while start < end && matches!(bytes[start], b'&' | b'!') {
        while start < end && !bytes[start].is_ascii_whitespace() {
            start += 1;
        }
        while start < end && bytes[start].is_ascii_whitespace() {
            start += 1;
        }
    }
    start
}

/// Why a scalar could not be rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditError(pub String);

/// `source` with `scalar` replaced by `new_value`, written in the scalar's own style
/// (a plain scalar that would no longer read as the same string is double-quoted).
pub fn replace_scalar(source: &str, scalar: &Scalar, new_value: &str) -> Result<String, EditError> {
    // An implicit null (`tag:` with nothing after it) has no bytes of its own: its span is
    // empty and may sit against the key, so writing there would rewrite the key (found by
    // fuzzing: `fuzz/regressions/yaml_scalar_edit-empty-value`).
    if scalar.span.is_empty() {
        return Err(EditError("the value is empty (null); write the current value in the file first".into()));
    }
    let written = render_like(scalar.style, new_value)?;
    let mut edited = String::with_capacity(source.len() + written.len());
    edited.push_str(&source[..scalar.span.start]);
    edited.push_str(&written);
    edited.push_str(&source[scalar.span.end..]);
    verify_edit(source, &edited, scalar, new_value)?;
    Ok(edited)
}

/// Check an edit by reading it back: the same scalars, the target now `new_value`, every
/// other one unchanged. The parser's spans are trusted only this far (fuzzing found layouts,
/// such as multi-line plain scalars in flow collections, where they are off).
pub(super) fn verify_edit(source: &str, edited: &str, target: &Scalar, new_value: &str) -> Result<(), EditError> {
    let refuse = || EditError("the value cannot be rewritten in place safely (unusual YAML layout around it); write it as a plain or quoted scalar on one line".into());
    let values = |text: &str| -> Option<Vec<(Range<usize>, String)>> {
        let documents = parse_documents(text).ok()?;
        let mut scalars = Vec::new();
        documents.iter().for_each(|document| collect_scalars(document, &mut scalars));
        Some(scalars)
    };
    let (Some(before), Some(after)) = (values(source), values(edited)) else { return Err(refuse()) };
    let index = before.iter().position(|(span, _)| *span == target.span).ok_or_else(refuse)?;
    let unchanged = before.len() == after.len()
        && before.iter().zip(&after).enumerate().all(|(i, ((_, old), (_, new)))| if i == index { new == new_value } else { new == old });
    if unchanged { Ok(()) } else { Err(refuse()) }
}

fn collect_scalars(node: &Node, out: &mut Vec<(Range<usize>, String)>) {
    match node {
        Node::Scalar(scalar) => out.push((scalar.span.clone(), scalar.value.clone())),
        Node::Mapping { entries, .. } => {
            for (key, value) in entries {
                collect_scalars(key, out);
                collect_scalars(value, out);
            }
        }
        Node::Sequence(items) => items.iter().for_each(|item| collect_scalars(item, out)),
        Node::Alias => {}
    }
}

/// `value` written as a scalar of `style`.
pub fn render_like(style: ScalarStyle, value: &str) -> Result<String, EditError> {
    Ok(match style {
        ScalarStyle::Plain if is_plain_safe(value) => value.to_string(),
        ScalarStyle::Plain | ScalarStyle::DoubleQuoted => double_quoted(value),
        ScalarStyle::SingleQuoted => format!("'{}'", value.replace('\'', "''")),
        ScalarStyle::Literal | ScalarStyle::Folded => {
            return Err(EditError("the value is a block scalar (| or >); write it as a plain or quoted scalar".into()));
        }
    })
}

fn double_quoted(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether `value` written plain reads back as the same string (and not as a number,
/// boolean or null, which would change its type for the tools reading the file).
pub fn is_plain_safe(value: &str) -> bool {
    let Some(first) = value.chars().next() else { return false };
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':' | '@' | '+');
    if !value.chars().all(allowed) || matches!(first, '-' | ':' | '@') || value.ends_with(':') {
        return false;
    }
    let lower = value.to_ascii_lowercase();
    let reserved = ["true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", ".inf", "-.inf", ".nan"];
    if reserved.contains(&lower.as_str()) {
        return false;
    }
    let numeric = value.parse::<f64>().is_ok()
        || value.replace('_', "").parse::<i64>().is_ok()
        || lower.starts_with("0x")
        || lower.starts_with("0o")
        || lower.starts_with("0b")
        || value.contains(':') && value.split(':').all(|part| part.parse::<u64>().is_ok());
    !numeric
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUES: &str = "# chart values\nimage:\n  repository: registry.example.com/shop/api # the repo\n  tag: \"1.4.1\"   # set by CI\n  digest: 'sha256:aa'  # pinned\nother: &anchor 1.0.0\nref: *anchor\nflow: {tag: 2.0.0}\n";

    #[test]
    fn finds_scalars_with_exact_spans() {
        let docs = parse_documents(VALUES).unwrap();
        let tag = docs[0].at_path("image.tag").unwrap().as_scalar().unwrap();
        assert_eq!(tag.value, "1.4.1");
        assert_eq!(&VALUES[tag.span.clone()], "\"1.4.1\"");
        assert_eq!(tag.line, 4);
        let anchored = docs[0].at_path("other").unwrap().as_scalar().unwrap();
        assert_eq!(&VALUES[anchored.span.clone()], "1.0.0");
        assert_eq!(docs[0].at_path("flow.tag").unwrap().as_scalar().unwrap().value, "2.0.0");
        assert_eq!(docs[0].at_path("ref"), Some(&Node::Alias));
    }

    #[test]
    fn replacing_keeps_style_and_every_other_byte() {
        let docs = parse_documents(VALUES).unwrap();
        let tag = docs[0].at_path("image.tag").unwrap().as_scalar().unwrap();
        let edited = replace_scalar(VALUES, tag, "1.4.2").unwrap();
        assert_eq!(edited, VALUES.replace("tag: \"1.4.1\"   # set by CI", "tag: \"1.4.2\"   # set by CI"));
        let digest = docs[0].at_path("image.digest").unwrap().as_scalar().unwrap();
        assert_eq!(replace_scalar(VALUES, digest, "it's").unwrap(), VALUES.replace("'sha256:aa'", "'it''s'"));
        let anchored = docs[0].at_path("other").unwrap().as_scalar().unwrap();
        assert_eq!(replace_scalar(VALUES, anchored, "1.1.0").unwrap(), VALUES.replace("&anchor 1.0.0", "&anchor 1.1.0"));
    }

    #[test]
    fn plain_values_that_would_change_type_are_quoted() {
        assert!(is_plain_safe("1.4.2"));
        assert!(is_plain_safe("v2"));
        assert!(is_plain_safe("registry.example.com/app:1.4.2@sha256:ab"));
        for unsafe_value in ["1.5", "10", "true", "no", "null", "", "0x1f", "-1", "1e3", "a b", "#x"] {
            assert!(!is_plain_safe(unsafe_value), "{unsafe_value:?}");
        }
        assert_eq!(render_like(ScalarStyle::Plain, "1.5").unwrap(), "\"1.5\"");
    }

    #[test]
    fn non_ascii_text_keeps_byte_offsets_right() {
        let source = "# überall\nname: ünïcode\ntag: 1.0.0\n";
        let docs = parse_documents(source).unwrap();
        let tag = docs[0].get("tag").unwrap().as_scalar().unwrap();
        assert_eq!(replace_scalar(source, tag, "2.0.0").unwrap(), source.replace("1.0.0", "2.0.0"));
    }

    #[test]
    fn syntax_errors_have_positions() {
        // The unclosed flow sequence runs into `b: c`: the `:` at line 2, column 2 is where it breaks.
        let error = parse_documents("a: [1, 2\nb: c\n").unwrap_err();
        assert_eq!((error.line, error.column), (2, 2), "{error}");
        assert_eq!(error.to_string(), "line 2 column 2: illegal placement of ':' indicator");
        // Columns count characters, not bytes, and the line counts every line before.
        let error = parse_documents("# ü\nkey: value\näöü: [1, 2\nbé: c\n").unwrap_err();
        assert_eq!((error.line, error.column), (4, 3), "{error}");
        let error = parse_documents("a:\n  b: c\n   d: e\n").unwrap_err();
        assert_eq!((error.line, error.column), (3, 5), "{error}");
    }

    #[test]
    fn paths_parse() {
        assert_eq!(
            parse_path("images[1].newTag").unwrap(),
            vec![PathSegment::Key("images".into()), PathSegment::Index(1), PathSegment::Key("newTag".into())]
        );
        assert!(parse_path("a..b").is_err());
        assert!(parse_path("a[x]").is_err());
    }

    #[test]
    fn an_empty_value_is_refused_not_written_into_its_key() {
        // The first crash the fuzzer found: the null value's empty span sat against the key.
        let source = "00apiVersi\u{3}2..0ati.0\"onst: ";
        let documents = parse_documents(source).unwrap();
        let Node::Mapping { entries, .. } = &documents[0] else { panic!("{documents:?}") };
        let value = entries[0].1.as_scalar().unwrap();
        assert!(replace_scalar(source, value, "2..").unwrap_err().0.contains("the value is empty (null)"));
        let documents = parse_documents("image:\n  tag:\n").unwrap();
        let tag = documents[0].at_path("image.tag").unwrap().as_scalar().unwrap();
        assert!(replace_scalar("image:\n  tag:\n", tag, "1.5.0").is_err(), "not `tag1.5.0:`");
    }

    #[test]
    fn an_edit_whose_read_back_differs_is_refused() {
        // The second crash the fuzzer found: a multi-line plain scalar in a flow sequence,
        // whose span the parser reports past the scalar.
        let source = "apiVe56:ab\n---\n{!: [st: sha512:ab\nmize.*onfs.io/v1bet\"]}\n";
        let documents = parse_documents(source).unwrap();
        let mut scalars = Vec::new();
        documents.iter().for_each(|document| collect_scalars(document, &mut scalars));
        let (span, value) = scalars[3].clone();
        let target = Scalar { value, style: ScalarStyle::Plain, span, line: 3 };
        if let Ok(edited) = replace_scalar(source, &target, "2.0.0") {
            let mut after = Vec::new();
            parse_documents(&edited).unwrap().iter().for_each(|document| collect_scalars(document, &mut after));
            assert_eq!(after[3].1, "2.0.0", "{edited}");
        }
    }
}
