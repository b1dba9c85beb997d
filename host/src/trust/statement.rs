//! Approval statements: what an approver signs, in one canonical text form.
//!
//! ```text
//! tollgate approval v1
//! application: shop-api
//! environment: prod
//! image: registry.example.com/shop/api
//! version: 1.4.2
//! digest: sha256:4f1c…
//! approver: bob@example.com
//! time: 2026-01-09T10:00:00Z
//! ```
//!
//! Exactly these eight lines, in this order, each ending in `\n` (LF), `key: value` with one
//! space, no other whitespace; `digest: none` when the artifact has no digest; `time` in UTC,
//! RFC 3339 to the second. Values are printable, without leading or trailing spaces. The
//! statement is signed byte for byte (SSHSIG, namespace `tollgate-approval`).
//!
//! A signed approval (the blob in `refs/tollgate/approvals`, the content of an
//! `--approval-file`) is the statement followed by its armored signature
//! (`-----BEGIN SSH SIGNATURE-----` … `-----END SSH SIGNATURE-----\n`); a file may hold
//! several, one after another.

use serde::Serialize;

use crate::input::literal_principal;

/// The first line of every statement.
pub const HEADER: &str = "tollgate approval v1";
const BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";
const END: &str = "-----END SSH SIGNATURE-----";

/// What an approver approves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    /// Application.
    pub application: String,
    /// Target environment.
    pub environment: String,
    /// Image repository.
    pub image: String,
    /// Version.
    pub version: String,
    /// Digest, when the artifact has one.
    pub digest: Option<String>,
    /// The approver's principal (as listed in the allowed signers).
    pub approver: String,
    /// When it was approved, Unix seconds.
    pub time: i64,
}

impl Statement {
    /// Check every field can be written canonically.
    pub fn validate(&self) -> Result<(), String> {
        for (name, value) in [
            ("application", &self.application),
            ("environment", &self.environment),
            ("image", &self.image),
            ("version", &self.version),
        ] {
            check_value(name, value)?;
        }
        if let Some(digest) = &self.digest {
            check_value("digest", digest)?;
            if digest == "none" {
                return Err("digest \"none\" is reserved for artifacts without a digest".into());
            }
        }
        literal_principal(&self.approver)?;
        jiff::Timestamp::from_second(self.time).map_err(|error| format!("time {} is out of range ({error})", self.time))?;
        Ok(())
    }

    /// The canonical text (what is signed).
    pub fn to_text(&self) -> String {
        let time = jiff::Timestamp::from_second(self.time).map(|t| t.to_string()).unwrap_or_default();
        format!(
            "{HEADER}\napplication: {}\nenvironment: {}\nimage: {}\nversion: {}\ndigest: {}\napprover: {}\ntime: {time}\n",
            self.application,
            self.environment,
            self.image,
            self.version,
            self.digest.as_deref().unwrap_or("none"),
            self.approver,
        )
    }

    /// Parse canonical text; anything else (another order, extra spaces, CRLF, a missing
    /// field) is refused, so one approval has exactly one signed form.
    pub fn parse(text: &str) -> Result<Statement, String> {
        let mut lines = text.split_inclusive('\n');
        if lines.next() != Some(&format!("{HEADER}\n")) {
            return Err(format!("an approval statement starts with the line {HEADER:?}"));
        }
        let mut field = |name: &str| -> Result<String, String> {
            let line = lines.next().ok_or_else(|| format!("the statement ends before its {name}: line"))?;
            let value = line
                .strip_suffix('\n')
                .and_then(|line| line.strip_prefix(name))
                .and_then(|rest| rest.strip_prefix(": "))
                .ok_or_else(|| format!("expected the line `{name}: …`, found {:?}", line.trim_end()))?;
            check_value(name, value)?;
            Ok(value.to_string())
        };
        let application = field("application")?;
        let environment = field("environment")?;
        let image = field("image")?;
        let version = field("version")?;
        let digest = field("digest")?;
        let approver = field("approver")?;
        let time_text = field("time")?;
        if lines.next().is_some() {
            return Err("the statement has lines after time:".into());
        }
        let time = time_text
            .parse::<jiff::Timestamp>()
            .map_err(|error| format!("time {time_text:?} is not an RFC 3339 UTC time ({error})"))?
            .as_second();
        let statement = Statement {
            application,
            environment,
            image,
            version,
            digest: (digest != "none").then_some(digest),
            approver,
            time,
        };
        statement.validate()?;
        if statement.to_text() != text {
            return Err("the statement is not in canonical form (time must be written as YYYY-MM-DDTHH:MM:SSZ)".into());
        }
        Ok(statement)
    }
}

fn check_value(name: &str, value: &str) -> Result<(), String> {
    if value.is_empty() || value.trim() != value || value.chars().any(char::is_control) {
        return Err(format!("{name} {value:?} must be non-empty printable text without leading or trailing spaces"));
    }
    Ok(())
}

/// A statement with its signature, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedApproval {
    /// The statement's exact text (the signed bytes).
    pub text: String,
    /// The armored SSHSIG signature.
    pub signature: String,
}

impl SignedApproval {
    /// The stored form: the statement followed by the signature.
    pub fn to_file(&self) -> String {
        let mut signature = self.signature.trim_end().to_string();
        signature.push('\n');
        format!("{}{signature}", self.text)
    }

    /// Every signed approval in `content` (one or more, one after another). Statements are
    /// not parsed here: a malformed one is reported when it is checked.
    pub fn parse_all(content: &str) -> Result<Vec<SignedApproval>, String> {
        let mut found = Vec::new();
        let mut rest = content;
        while !rest.trim().is_empty() {
            let start = rest.find(HEADER).ok_or("expected a statement starting with \"tollgate approval v1\"")?;
            if !rest[..start].trim().is_empty() {
                return Err(format!("unexpected text before a statement: {:?}", rest[..start].trim()));
            }
            let rest_from = &rest[start..];
            let begin = rest_from.find(BEGIN).ok_or("a statement has no signature after it (-----BEGIN SSH SIGNATURE-----)")?;
            let end = rest_from[begin..].find(END).ok_or("a signature has no -----END SSH SIGNATURE----- line")? + begin + END.len();
            let after_end = rest_from[end..].strip_prefix('\n').map_or(end, |_| end + 1);
            found.push(SignedApproval { text: rest_from[..begin].to_string(), signature: rest_from[begin..end].to_string() + "\n" });
            rest = &rest_from[after_end..];
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement() -> Statement {
        Statement {
            application: "shop-api".into(),
            environment: "prod".into(),
            image: "registry.example.com/shop/api".into(),
            version: "1.4.2".into(),
            digest: Some(format!("sha256:{}", "ab".repeat(32))),
            approver: "bob@example.com".into(),
            time: 1_767_952_800,
        }
    }

    #[test]
    fn the_canonical_text_round_trips() {
        let text = statement().to_text();
        assert!(text.starts_with("tollgate approval v1\napplication: shop-api\nenvironment: prod\n"), "{text}");
        assert!(text.ends_with("approver: bob@example.com\ntime: 2026-01-09T10:00:00Z\n"), "{text}");
        assert_eq!(Statement::parse(&text).unwrap(), statement());
        let none = Statement { digest: None, ..statement() };
        assert!(none.to_text().contains("\ndigest: none\n"));
        assert_eq!(Statement::parse(&none.to_text()).unwrap(), none);
    }

    #[test]
    fn non_canonical_text_is_refused() {
        let text = statement().to_text();
        for (bad, expected) in [
            (text.replace('\n', "\r\n"), "starts with the line"),
            (text.replace("version: 1.4.2", "version:  1.4.2"), "leading or trailing spaces"),
            (text.replace("2026-01-09T10:00:00Z", "2026-01-09T11:00:00+01:00"), "canonical form"),
            (format!("{text}extra: 1\n"), "lines after time"),
            (text.replace("environment: prod\n", ""), "expected the line `environment: …`"),
        ] {
            let error = Statement::parse(&bad).unwrap_err();
            assert!(error.contains(expected), "{bad:?}: {error}");
        }
        let bad = Statement { approver: "bob smith".into(), ..statement() };
        assert!(bad.validate().unwrap_err().contains("contains ' '"));
    }

    proptest::proptest! {
        #[test]
        fn every_valid_statement_round_trips(
            application in "[a-z][a-z0-9-]{0,20}",
            version in "[0-9A-Za-z][0-9A-Za-z.+_-]{0,20}",
            digest in proptest::option::of("sha256:[0-9a-f]{64}"),
            approver in "[a-z]{1,10}@[a-z]{1,10}\\.com",
            time in 0i64..4_000_000_000,
        ) {
            let statement = Statement { application, environment: "prod".into(), image: "r/a".into(), version, digest, approver, time };
            proptest::prop_assert_eq!(Statement::parse(&statement.to_text()), Ok(statement));
        }

        #[test]
        fn only_canonical_text_parses(text in "(tollgate approval v1\n)?([a-z]{1,12}: [ -~]{0,20}\n){0,9}") {
            if let Ok(statement) = Statement::parse(&text) {
                proptest::prop_assert_eq!(statement.to_text(), text);
            }
        }
    }

    #[test]
    fn signed_approvals_concatenate() {
        let one = SignedApproval { text: statement().to_text(), signature: format!("{BEGIN}\nAAAA\n{END}\n") };
        let two = SignedApproval { text: Statement { version: "1.4.3".into(), ..statement() }.to_text(), ..one.clone() };
        let file = format!("{}{}", one.to_file(), two.to_file());
        assert_eq!(SignedApproval::parse_all(&file).unwrap(), vec![one, two]);
        assert!(SignedApproval::parse_all("tollgate approval v1\n").unwrap_err().contains("no signature"));
    }
}
