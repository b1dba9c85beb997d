//! Making untrusted text (plugin output, requester input, repository content) safe to place
//! in a report, per format, so that no input can forge a line, break a document's syntax or
//! reorder what a reader sees.

use std::borrow::Cow;

/// Unicode bidirectional controls: they make text display in a different order than it is
/// stored ("Trojan Source"), so a reader could see a verdict that is not there.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `\u{202E}`: how a neutralised character is shown.
fn visible(out: &mut String, c: char) {
    out.push_str(&format!("\\u{{{:04X}}}", c as u32));
}

/// For one line of a text report: control characters (newlines, carriage returns, terminal
/// escapes) and bidi controls are written as visible escapes, so the text stays on its line
/// and shows what it really contains.
pub fn line(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || is_bidi_control(c) => visible(&mut out, c),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// For text shown by a machine consumer's UI (SARIF messages, workflow commands): bidi
/// controls are written as visible escapes; everything else is left to the format's own
/// escaping.
pub fn bidi(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_bidi_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_bidi_control(c) { visible(&mut out, c) } else { out.push(c) }
    }
    Cow::Owned(out)
}

/// Whether XML 1.0 can carry `c` at all (its `Char` production).
pub fn xml_allows(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// A JSON document with every bidi control written as a `\uXXXX` escape: the parsed values
/// are unchanged, but the raw text (in a terminal or CI log) cannot be reordered.
pub fn json_document(mut text: String) -> String {
    if text.chars().any(is_bidi_control) {
        text = text.chars().fold(String::with_capacity(text.len() + 8), |mut out, c| {
            if is_bidi_control(c) {
                out.push_str(&format!("\\u{:04x}", c as u32));
            } else {
                out.push(c);
            }
            out
        });
    }
    text
}

/// For Markdown (the GitHub step summary): HTML and Markdown syntax escaped, one line.
pub fn markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in bidi(&line(text)).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            // Inline syntax (the text is never at the start of a line, so block syntax
            // such as `-` or `1.` needs nothing).
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '~' | '|' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// For a quoted Mermaid label or edge text (`"…"`): every character outside a small safe set
/// is written as Mermaid's numeric entity `#NNN;`, so no input can close the quotes, add a
/// node, an edge, a click handler or HTML, or end the Markdown code fence around the picture.
/// Control and bidi characters become U+FFFD.
pub fn mermaid(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '-' | '_' | ':' | '/' | '@' | '+' | ',' | '(' | ')' | '=') => out.push(c),
            c if c.is_control() || is_bidi_control(c) => out.push_str("#65533;"),
            c => out.push_str(&format!("#{};", c as u32)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mermaid_labels_cannot_break_out() {
        assert_eq!(mermaid("shop-api 1.2.3+b4"), "shop-api 1.2.3+b4");
        assert_eq!(mermaid("x\"] --> evil[\"<b>"), "x#34;#93; --#62; evil#91;#34;#60;b#62;");
        assert_eq!(mermaid("```\nclick e0 call"), "#96;#96;#96;#65533;click e0 call");
        assert_eq!(mermaid("a#b;\u{202e}"), "a#35;b#59;#65533;");
    }

    #[test]
    fn a_line_keeps_newlines_escapes_and_bidi_visible() {
        assert_eq!(line("plain"), "plain");
        assert_eq!(line("a\nallowed: committed 4f2a"), "a\\nallowed: committed 4f2a");
        assert_eq!(line("\u{1b}[2K\rok"), "\\u{001B}[2K\\rok");
        assert_eq!(line("\u{202e}evil\u{202c}"), "\\u{202E}evil\\u{202C}");
    }

    #[test]
    fn markdown_cannot_open_html_headings_or_code() {
        let escaped = markdown("<!-- ## ✅ All policies passed `x` [a](b)");
        assert_eq!(escaped, "&lt;!-- \\#\\# ✅ All policies passed \\`x\\` \\[a\\](b)");
    }

    #[test]
    fn json_escapes_bidi_without_changing_the_value() {
        let text = json_document(serde_json::to_string(&"a\u{202e}b").unwrap());
        assert_eq!(text, "\"a\\u202eb\"");
        assert_eq!(serde_json::from_str::<String>(&text).unwrap(), "a\u{202e}b");
    }
}
