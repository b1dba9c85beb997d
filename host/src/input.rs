//! Validation at the boundary: every string a requester, a configuration or a pull request
//! can bring into a commit message, a trailer, a decision record, a report or a manifest is
//! checked here, once, where it enters. A string that fails is refused (exit 2) with the
//! flag or field named; nothing is silently cleaned.

use std::fmt;

/// A refused input: which flag or field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// The flag or field, e.g. `--version` or `applications.shop-api`.
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for InputError {}

fn refuse(field: &str, message: String) -> InputError {
    InputError { field: field.to_string(), message }
}

/// Characters that can break a line-oriented record or hide text from a reader: C0 and C1
/// controls (newline, carriage return, NUL, escape…), DEL, the Unicode line and paragraph
/// separators, bidirectional overrides, embeddings and isolates, and the byte-order mark.
pub fn is_forbidden_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{feff}')
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// Code points that show as nothing or reorder what is around them: Unicode's
/// default-ignorable code points (zero-width space and joiners, soft hyphen, variation
/// selectors, Hangul fillers, tags, …) and the bidirectional formatting characters. In an
/// identity they make a look-alike of someone else's name (`b\u{200b}ob`).
pub fn is_invisible_char(c: char) -> bool {
    matches!(
        c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F..=0x1160 | 0x17B4..=0x17B5 | 0x180B..=0x180F | 0x200B..=0x200F | 0x202A..=0x202E
            | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFF8 | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A | 0xE0000..=0xE0FFF
    )
}

/// An identity (an actor, an approver, a principal): a [`name`] without invisible code
/// points ([`is_invisible_char`]).
pub fn identity(field: &str, value: &str, max: usize) -> Result<(), InputError> {
    name(field, value, max)?;
    if let Some(c) = value.chars().find(|c| is_invisible_char(*c)) {
        return Err(refuse(
            field,
            format!("{:?} contains the invisible character U+{:04X}, which makes a look-alike of another name; remove it", value.escape_debug().to_string(), c as u32),
        ));
    }
    Ok(())
}

/// The form in which identities are compared: trimmed, NFKC-normalised and case-folded
/// (so `Bob`, `ＢＯＢ` and `bob` are one person).
pub fn identity_key(value: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    let folded = value.trim().nfkc().collect::<String>().to_lowercase();
    folded.nfkc().collect()
}

/// One line of printable text, at most `max` characters: refuse forbidden characters.
pub fn text(field: &str, value: &str, max: usize) -> Result<(), InputError> {
    if let Some(c) = value.chars().find(|c| is_forbidden_char(*c)) {
        return Err(refuse(field, format!("{value:?} contains the control or bidirectional character U+{:04X}; remove it", c as u32)));
    }
    if value.chars().count() > max {
        return Err(refuse(field, format!("is longer than {max} characters")));
    }
    Ok(())
}

/// A non-empty [`text`] without leading or trailing blanks.
pub fn name(field: &str, value: &str, max: usize) -> Result<(), InputError> {
    text(field, value, max)?;
    if value.trim().is_empty() {
        return Err(refuse(field, "is empty".into()));
    }
    if value.trim() != value {
        return Err(refuse(field, format!("{value:?} has leading or trailing blanks")));
    }
    Ok(())
}

/// An identifier such as an application, environment or label key: ASCII letters, digits,
/// `.`, `_` and `-`, starting with a letter or digit, at most 63 characters.
pub fn identifier(field: &str, value: &str) -> Result<(), InputError> {
    let valid = !value.is_empty()
        && value.len() <= 63
        && value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(())
    } else {
        Err(refuse(field, format!("{value:?} is not a valid name: use 1 to 63 ASCII letters, digits, '.', '_' and '-', starting with a letter or digit")))
    }
}

/// Whether a version is a digest: the version of an image pinned by digest alone
/// (`repo@sha256:…`, or a Helm/Kustomize file with an empty tag and a digest).
pub fn is_digest_version(value: &str) -> bool {
    digest("version", value).is_ok()
}

/// A version: an OCI tag, `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}` ([`is_tag`]), optionally with
/// semantic-version build metadata (`+` and dot-separated `[0-9A-Za-z-]` identifiers, as a
/// Helm chart's `1.2.3+build.1`; only a chart's kind takes it, see
/// `transition::ArtifactKind::check_version`), or for an image pinned by digest alone, its
/// digest ([`is_digest_version`]). 128 bytes at most.
pub fn version(field: &str, value: &str) -> Result<(), InputError> {
    if is_digest_version(value) {
        return Ok(());
    }
    let build_valid = |build: &str| build.split('.').all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    let valid = value.len() <= 128
        && match value.split_once('+') {
            Some((tag, build)) => is_tag(tag) && build_valid(build),
            None => is_tag(value),
        };
    if valid {
        Ok(())
    } else {
        Err(refuse(
            field,
            format!("{value:?} is not a valid version: an image tag of 1 to 128 ASCII letters, digits, '.', '_' and '-', not starting with '.' or '-' (a chart version may add +BUILD metadata; for an image pinned by digest alone, its sha256: digest)"),
        ))
    }
}

/// Whether `value` is an OCI tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn is_tag(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 128
        && value.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A digest: `sha256:` and 64 lowercase hex digits, or `sha512:` and 128.
pub fn digest(field: &str, value: &str) -> Result<(), InputError> {
    let hex_of = |digits: &str, len: usize| digits.len() == len && digits.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
    let valid = match value.split_once(':') {
        Some(("sha256", digits)) => hex_of(digits, 64),
        Some(("sha512", digits)) => hex_of(digits, 128),
        _ => false,
    };
    if valid {
        Ok(())
    } else {
        Err(refuse(field, format!("{value:?} is not a valid digest: write sha256: and 64 lowercase hex digits (or sha512: and 128)")))
    }
}

/// A new branch name that Git accepts (`git check-ref-format --branch`), and not `HEAD` or `@`.
pub fn branch(field: &str, value: &str) -> Result<(), InputError> {
    text(field, value, 200)?;
    let valid = !value.is_empty()
        && value != "HEAD"
        && value != "@"
        && !value.starts_with('-')
        && git2::Reference::is_valid_name(&format!("refs/heads/{value}"));
    if valid {
        Ok(())
    } else {
        Err(refuse(field, format!("{value:?} is not a valid new branch name (see git check-ref-format --branch)")))
    }
}

/// Text from a plugin (its name, version, findings) made safe to print and record: each
/// forbidden character becomes a visible `\u{XXXX}` escape, and the text is cut to `max`
/// characters.
pub fn escape_untrusted(value: &str, max: usize) -> String {
    let mut out = String::new();
    for c in value.chars().take(max) {
        if is_forbidden_char(c) {
            out.push_str(&format!("\\u{{{:04x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Who asks: a login, or `Name <email>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Actor {
    /// The display name (the login for a bare login).
    pub name: String,
    /// The e-mail address, when given.
    pub email: Option<String>,
}

impl Actor {
    /// Parse `login` or `Name <email>`; refuse what Git could not record as an identity.
    pub fn parse(field: &str, value: &str) -> Result<Actor, InputError> {
        identity(field, value, 200)?;
        let forbidden_in_name = |text: &str| text.contains(['<', '>']);
        match value.split_once('<') {
            None if !forbidden_in_name(value) => Ok(Actor { name: value.to_string(), email: None }),
            None => Err(refuse(field, format!("{value:?}: write a login, or Name <email>"))),
            Some((display, rest)) => {
                let display = display.trim();
                let email = rest.strip_suffix('>').ok_or_else(|| refuse(field, format!("{value:?}: the e-mail must end with '>' (Name <email>)")))?;
                let email_valid = email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
                    && !email.contains(['<', '>', ' ', '\t']);
                if display.is_empty() || forbidden_in_name(display) || !email_valid {
                    return Err(refuse(field, format!("{value:?}: write a login, or Name <email> with a name and an e-mail address")));
                }
                Ok(Actor { name: display.to_string(), email: Some(email.to_string()) })
            }
        }
    }

    /// The stable identity recorded as `requested-by`: the e-mail address when one was given,
    /// else the login.
    pub fn identity(&self) -> &str {
        self.email.as_deref().unwrap_or(&self.name)
    }
}

impl From<&str> for Actor {
    /// [`Actor::parse`] for library callers; text that does not parse becomes a login, which
    /// planning then validates like any other input.
    fn from(text: &str) -> Actor {
        Actor::parse("actor", text).unwrap_or_else(|_| Actor { name: text.to_string(), email: None })
    }
}

/// serde_yaml's message, with its position spelled out for people.
pub fn describe_yaml_error(error: &serde_yaml::Error) -> String {
    let message = error.to_string();
    match error.location() {
        Some(location) if !message.contains(" at line ") => {
            format!("line {} column {}: {message}", location.line(), location.column())
        }
        _ => message,
    }
}

/// Whether a principal (or namespace) may appear: literal text of printable characters
/// without whitespace, quotes, commas or pattern characters.
pub fn literal_principal(principal: &str) -> Result<(), String> {
    if principal.is_empty() {
        return Err("the principal is empty".into());
    }
    if let Some(bad) = principal.chars().find(|c| c.is_whitespace() || c.is_control() || is_invisible_char(*c) || matches!(c, '"' | ',' | '*' | '?' | '!')) {
        return Err(format!("principal {principal:?} contains {bad:?}; a principal is one word such as bob@example.com"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_are_refused() {
        for bad in ["a\nb", "a\rb", "a\0b", "a\u{2028}b", "a\u{2029}b", "a\u{202e}b", "a\u{2066}b", "a\u{1b}[31m", "a\u{85}b", "\u{feff}a"] {
            assert!(text("--actor", bad, 100).is_err(), "{bad:?}");
        }
        assert!(text("--actor", "Zoë Ångström", 100).is_ok());
        assert_eq!(text("--label", &"x".repeat(11), 10).unwrap_err().to_string(), "--label: is longer than 10 characters");
    }

    #[test]
    fn look_alike_identities_are_refused_and_identities_compare_folded() {
        for bad in ["b\u{200b}ob", "bob\u{200d}", "b\u{00ad}ob", "bo\u{fe0f}b", "b\u{2060}ob", "bob\u{e0062}", "\u{202e}bob"] {
            assert!(identity("--actor", bad, 200).is_err(), "{bad:?}");
            assert!(Actor::parse("--actor", bad).is_err(), "{bad:?}");
            assert!(Actor::parse("--actor", &format!("Bob <{bad}@example.com>")).is_err(), "{bad:?}");
        }
        let error = identity("--actor", "b\u{200b}ob", 200).unwrap_err().to_string();
        assert!(error.contains("U+200B") && error.contains("look-alike"), "{error}");
        assert!(identity("--actor", "Zoë Ångström", 200).is_ok());
        assert_eq!(identity_key("Bob"), identity_key("bob"));
        assert_eq!(identity_key("ＢＯＢ"), "bob", "full-width letters fold by NFKC");
        assert_eq!(identity_key("Zoe\u{308}"), identity_key("zoë"), "composed and decomposed are one");
        assert_ne!(identity_key("b\u{200b}ob"), identity_key("bob"), "invisible characters are refused where they enter, not folded");
    }

    #[test]
    fn versions_follow_the_oci_tag_grammar_with_build_metadata_allowed() {
        for good in ["1.4.2", "v2", "_x", "1.0.0-rc.1", "A_b-c.d", &"a".repeat(128), "1.2.3+build.1", "1.0.0-rc.1+exp-sha.5114f85"] {
            assert!(version("--version", good).is_ok(), "{good:?}");
        }
        let long_build = format!("1+{}", "a".repeat(127));
        for bad in ["", ".1", "-1", "a:b", "a b", "{a}", "1\n2", "1\t2", "é", "a\u{2028}", &"a".repeat(129), "1.0+", "1.0+a..b", "1.0+a+b", "1.0+a_b", "+1", "1.0+a/b", &long_build] {
            assert!(version("--version", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn digests_are_sha256_or_sha512_lowercase_hex() {
        assert!(digest("--digest", &format!("sha256:{}", "ab".repeat(32))).is_ok());
        assert!(digest("--digest", &format!("sha512:{}", "0f".repeat(64))).is_ok());
        for bad in [
            "".to_string(),
            "md5:abc".into(),
            "sha256:xyz".into(),
            format!("sha256:{}", "a".repeat(63)),
            format!("sha256:{}", "AB".repeat(32)),
            "latest; rm -rf /".into(),
        ] {
            assert!(digest("--digest", &bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn branch_names_are_what_git_accepts_for_a_new_branch() {
        for good in ["promote/shop-api/prod", "release-1.2"] {
            assert!(branch("--branch", good).is_ok(), "{good}");
        }
        for bad in ["HEAD", "@", "-x", "a..b", "a b", "a~1", "a:b", "", "x.lock", "a/", "a\nb"] {
            assert!(branch("--branch", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn actors_parse_into_a_name_and_an_identity() {
        let actor = Actor::parse("--actor", "Alice Smith <alice@example.com>").unwrap();
        assert_eq!((actor.name.as_str(), actor.identity()), ("Alice Smith", "alice@example.com"));
        assert_eq!(Actor::parse("--actor", "alice").unwrap().identity(), "alice");
        for bad in ["eve\nx", "", " alice", "a <b", "<a@b>", "a <b>", "a <@b>", "a <b@c> x", "a > b"] {
            assert!(Actor::parse("--actor", bad).is_err(), "{bad:?}");
        }
    }
}
