//! The allowed-signers file of Git (`gpg.ssh.allowedSignersFile`) and OpenSSH
//! (ssh-keygen(1) "ALLOWED SIGNERS"): one key per line with the principals it may sign for.
//!
//! ```text
//! # principals            [options]                                   key
//! alice@example.com       namespaces="git,tollgate-approval"           ssh-ed25519 AAAA… alice laptop
//! bob@example.com,bob     valid-after="20260101Z",valid-before="20270101Z" ssh-ed25519 AAAA…
//! ```
//!
//! - principals: a comma-separated list of patterns (`*` and `?` wildcards, `!` negates), as
//!   OpenSSH matches them;
//! - options: `namespaces="…"` (patterns), `valid-after="…"` and `valid-before="…"`
//!   (`YYYYMMDD[HHMM[SS]]Z`, UTC); `cert-authority` (SSH certificates) is refused: list each
//!   signer's own key;
//! - a key removed from the file no longer verifies anything: that is how a key is revoked.

use ssh_key::{HashAlg, PublicKey};

/// One line of the file.
#[derive(Debug, Clone)]
pub struct SignerEntry {
    /// 1-based line number.
    pub line: usize,
    /// Principal patterns.
    pub principals: Vec<String>,
    /// Namespace patterns the key may sign in (`None`: any).
    pub namespaces: Option<Vec<String>>,
    /// Not valid before this time (Unix seconds).
    pub valid_after: Option<i64>,
    /// Not valid after this time (Unix seconds).
    pub valid_before: Option<i64>,
    /// The key.
    pub key: PublicKey,
}

/// A parsed allowed-signers file.
#[derive(Debug, Clone)]
pub struct AllowedSigners {
    /// Where it was read from, for messages.
    pub source: String,
    /// Its entries in file order.
    pub entries: Vec<SignerEntry>,
}

/// A signature's key that is allowed to sign for a principal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerifiedSigner {
    /// The principal it signed for.
    pub principal: String,
    /// `SHA256:…` fingerprint of the key.
    pub fingerprint: String,
    /// The line of the allowed-signers file that allowed it.
    pub line: usize,
}

/// The `SHA256:…` fingerprint of a key, as `ssh-keygen -l` prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

impl AllowedSigners {
    /// Parse `text`, the content of `source` (a name for messages). Every problem names the
    /// line and what to write instead.
    pub fn parse(source: &str, text: &str) -> Result<AllowedSigners, String> {
        let mut entries = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let entry = parse_line(index + 1, line).map_err(|message| format!("{source}:{}: {message}", index + 1))?;
            entries.push(entry);
        }
        Ok(AllowedSigners { source: source.to_string(), entries })
    }

    /// Literal principals (without wildcards or negation) listed for `key`.
    pub fn principals_of(&self, key: &PublicKey) -> Vec<String> {
        let mut found: Vec<String> = self
            .entries
            .iter()
            .filter(|entry| entry.key.key_data() == key.key_data())
            .flat_map(|entry| entry.principals.iter().filter(|p| !p.contains(['*', '?', '!'])).cloned())
            .collect();
        found.dedup();
        found
    }

    /// Whether `key` may sign for `principal` in `namespace` at each of `times` (Unix
    /// seconds). The error says which check failed and why, for the first line that lists
    /// the key.
    pub fn authorize(&self, key: &PublicKey, principal: &str, namespace: &str, times: &[i64]) -> Result<VerifiedSigner, String> {
        let print = fingerprint(key);
        let with_key: Vec<&SignerEntry> = self.entries.iter().filter(|entry| entry.key.key_data() == key.key_data()).collect();
        if with_key.is_empty() {
            return Err(format!("key {print} is not in the allowed signers ({})", self.source));
        }
        let for_principal: Vec<&&SignerEntry> = with_key.iter().filter(|entry| matches_list(principal, &entry.principals)).collect();
        if for_principal.is_empty() {
            let listed: Vec<String> = with_key.iter().map(|entry| entry.principals.join(",")).collect();
            return Err(format!(
                "key {print} is allowed for {} ({}), not for principal {principal}",
                listed.join("; "),
                self.source
            ));
        }
        let mut reasons = Vec::new();
        for entry in for_principal {
            if let Some(namespaces) = &entry.namespaces
                && !matches_list(namespace, namespaces)
            {
                reasons.push(format!("line {} allows key {print} only for namespaces {}, not {namespace}", entry.line, namespaces.join(",")));
                continue;
            }
            let outside = times.iter().find_map(|&time| {
                if entry.valid_after.is_some_and(|after| time < after) {
                    Some(format!("line {} makes key {print} valid only after {}, not at {}", entry.line, show(entry.valid_after), show(Some(time))))
                } else if entry.valid_before.is_some_and(|before| time > before) {
                    Some(format!("line {} made key {print} valid only until {} (expired), not at {}", entry.line, show(entry.valid_before), show(Some(time))))
                } else {
                    None
                }
            });
            if let Some(reason) = outside {
                reasons.push(reason);
                continue;
            }
            return Ok(VerifiedSigner { principal: principal.to_string(), fingerprint: print, line: entry.line });
        }
        Err(format!("{} ({})", reasons.join("; "), self.source))
    }

    /// The principals `key` may sign for in `namespace` at `time` (for a signature that does
    /// not name its principal, such as a Git commit's).
    pub fn find_principals(&self, key: &PublicKey, namespace: &str, time: i64) -> Result<Vec<VerifiedSigner>, String> {
        let literal = self.principals_of(key);
        if literal.is_empty() {
            return Err(if self.entries.iter().any(|entry| entry.key.key_data() == key.key_data()) {
                format!("key {} is listed only with principal patterns; name the signer literally ({})", fingerprint(key), self.source)
            } else {
                format!("key {} is not in the allowed signers ({})", fingerprint(key), self.source)
            });
        }
        let mut found = Vec::new();
        let mut last_error = String::new();
        for principal in literal {
            match self.authorize(key, &principal, namespace, &[time]) {
                Ok(signer) => found.push(signer),
                Err(error) => last_error = error,
            }
        }
        if found.is_empty() { Err(last_error) } else { Ok(found) }
    }
}

fn show(time: Option<i64>) -> String {
    time.and_then(|seconds| jiff::Timestamp::from_second(seconds).ok()).map_or_else(|| "?".to_string(), |t| t.to_string())
}


fn parse_line(line_number: usize, line: &str) -> Result<SignerEntry, String> {
    let (principals_text, rest) = next_token(line);
    let principals_text = principals_text.trim_matches('"');
    let principals: Vec<String> = principals_text.split(',').map(str::to_string).collect();
    for principal in &principals {
        let bare = principal.strip_prefix('!').unwrap_or(principal);
        if bare.is_empty() || bare.chars().any(|c| c.is_control() || c == '"' || c.is_whitespace()) {
            return Err(format!("principal {principal:?} is not well-formed; write principals as name@example.com[,other…]"));
        }
    }
    let rest = rest.trim_start();
    if rest.is_empty() {
        return Err("no key after the principals; write `PRINCIPALS [OPTIONS] KEYTYPE BASE64-KEY`".into());
    }
    let (second, after_second) = next_token(rest);
    let (options_text, key_text) = if is_key_type(second) { (None, rest) } else { (Some(second), after_second.trim_start()) };
    let mut entry = SignerEntry {
        line: line_number,
        principals,
        namespaces: None,
        valid_after: None,
        valid_before: None,
        key: PublicKey::from_openssh(key_text.trim()).map_err(|error| {
            format!("cannot read the key ({error}); write `PRINCIPALS [OPTIONS] KEYTYPE BASE64-KEY` as in ssh-keygen(1) ALLOWED SIGNERS")
        })?,
    };
    if entry.key.algorithm().is_ssh_certificate_like() {
        return Err("certificate keys are not supported; list each signer's plain public key".into());
    }
    for option in split_options(options_text.unwrap_or_default()) {
        let (name, value) = match option.split_once('=') {
            Some((name, value)) => (name, Some(value.trim_matches('"'))),
            None => (option.as_str(), None),
        };
        match (name.to_ascii_lowercase().as_str(), value) {
            ("cert-authority", None) => {
                return Err("cert-authority (SSH certificates) is not supported by tollgate; list each signer's own key instead".into());
            }
            ("namespaces", Some(value)) => entry.namespaces = Some(value.split(',').map(str::to_string).collect()),
            ("valid-after", Some(value)) => entry.valid_after = Some(parse_time(value)?),
            ("valid-before", Some(value)) => entry.valid_before = Some(parse_time(value)?),
            _ => {
                return Err(format!(
                    "unknown option {option:?}; allowed are namespaces=\"…\", valid-after=\"…\" and valid-before=\"…\""
                ));
            }
        }
    }
    Ok(entry)
}

trait CertificateLike {
    fn is_ssh_certificate_like(&self) -> bool;
}

impl CertificateLike for ssh_key::Algorithm {
    fn is_ssh_certificate_like(&self) -> bool {
        self.as_str().contains("-cert-")
    }
}

/// The first whitespace-separated token (quotes keep whitespace and commas inside) and the rest.
fn next_token(text: &str) -> (&str, &str) {
    let mut quoted = false;
    for (index, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return (&text[..index], &text[index..]),
            _ => {}
        }
    }
    (text, "")
}

fn split_options(text: &str) -> Vec<String> {
    let mut options = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' if !quoted => options.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    if !current.is_empty() {
        options.push(current);
    }
    options
}

fn is_key_type(token: &str) -> bool {
    token.starts_with("ssh-") || token.starts_with("ecdsa-sha2-") || token.starts_with("sk-") || token.starts_with("rsa-")
}

/// `YYYYMMDD[HHMM[SS]]Z` as Unix seconds. Times without `Z` are local to the machine in
/// OpenSSH; tollgate refuses them rather than guess a time zone.
fn parse_time(text: &str) -> Result<i64, String> {
    let digits = text.strip_suffix('Z').or_else(|| text.strip_suffix('z'));
    let Some(digits) = digits else {
        return Err(format!(
            "time {text:?} has no time zone; append Z for UTC (e.g. \"{text}Z\"): tollgate does not guess the machine's local time zone"
        ));
    };
    if !matches!(digits.len(), 8 | 12 | 14) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("time {text:?} is not YYYYMMDD[HHMM[SS]]Z"));
    }
    let field = |range: std::ops::Range<usize>| digits.get(range).map_or(Ok(0), |part| part.parse::<i16>());
    let bad = |_| format!("time {text:?} is not YYYYMMDD[HHMM[SS]]Z");
    let (year, month, day) = (field(0..4).map_err(bad)?, field(4..6).map_err(bad)?, field(6..8).map_err(bad)?);
    let (hour, minute, second) = (field(8..10).map_err(bad)?, field(10..12).map_err(bad)?, field(12..14).map_err(bad)?);
    let datetime = jiff::civil::DateTime::new(year, month as i8, day as i8, hour as i8, minute as i8, second as i8, 0)
        .map_err(|error| format!("time {text:?} is not a valid date and time ({error})"))?;
    jiff::tz::Offset::UTC
        .to_timestamp(datetime)
        .map(|timestamp| timestamp.as_second())
        .map_err(|error| format!("time {text:?}: {error}"))
}

/// OpenSSH's `match_pattern_list`: a negated pattern that matches refuses; otherwise any
/// positive pattern that matches accepts.
pub fn matches_list(text: &str, patterns: &[String]) -> bool {
    let mut accepted = false;
    for pattern in patterns {
        match pattern.strip_prefix('!') {
            Some(negated) if glob(negated.as_bytes(), text.as_bytes()) => return false,
            Some(_) => {}
            None => accepted |= glob(pattern.as_bytes(), text.as_bytes()),
        }
    }
    accepted
}

/// `*` and `?` wildcards, matched iteratively (remembering the last `*`), so the time is at most
/// proportional to the product of the lengths whatever the pattern.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILa4LqHSwglCVDKaw2maCtfk4MIFKHYMC9aCXyLqK3gh bob";

    #[test]
    fn parses_principals_options_and_keys() {
        let text = format!(
            "# team\n\nbob@example.com,bob {KEY}\n\"carol@example.com\" namespaces=\"git,tollgate-*\",valid-after=\"20260101Z\",valid-before=\"202701011200Z\" {KEY}\n"
        );
        let signers = AllowedSigners::parse("allowed_signers", &text).unwrap();
        assert_eq!(signers.entries.len(), 2);
        assert_eq!(signers.entries[0].principals, vec!["bob@example.com", "bob"]);
        let carol = &signers.entries[1];
        assert_eq!(carol.line, 4);
        assert_eq!(carol.namespaces.as_deref(), Some(&["git".to_string(), "tollgate-*".to_string()][..]));
        assert_eq!(carol.valid_after, Some(1_767_225_600));
        assert_eq!(carol.valid_before, Some(1_798_804_800));
        let key = &carol.key;
        assert!(signers.authorize(key, "carol@example.com", "tollgate-approval", &[1_780_000_000]).is_ok());
        let expired = signers.authorize(key, "carol@example.com", "tollgate-approval", &[1_800_000_000]).unwrap_err();
        assert!(expired.contains("line 4 made key SHA256:") && expired.contains("(expired)"), "{expired}");
        let namespace = signers.authorize(key, "carol@example.com", "file", &[1_780_000_000]).unwrap_err();
        assert!(namespace.contains("only for namespaces git,tollgate-*"), "{namespace}");
        let other = signers.authorize(key, "mallory@example.com", "git", &[1_780_000_000]).unwrap_err();
        assert!(other.contains("not for principal mallory@example.com"), "{other}");
        assert_eq!(signers.principals_of(key), vec!["bob@example.com", "bob", "carol@example.com"]);
    }

    #[test]
    fn refuses_certificates_unknown_options_and_local_times() {
        let error = AllowedSigners::parse("f", &format!("*@example.com cert-authority {KEY}\n")).unwrap_err();
        assert!(error.starts_with("f:1: cert-authority (SSH certificates) is not supported"), "{error}");
        let error = AllowedSigners::parse("f", &format!("bob verify-required {KEY}\n")).unwrap_err();
        assert!(error.contains("unknown option \"verify-required\""), "{error}");
        let error = AllowedSigners::parse("f", &format!("bob valid-before=\"20260101\" {KEY}\n")).unwrap_err();
        assert!(error.contains("append Z for UTC"), "{error}");
        let error = AllowedSigners::parse("f", "bob ssh-ed25519 nonsense\n").unwrap_err();
        assert!(error.starts_with("f:1: cannot read the key"), "{error}");
        let error = AllowedSigners::parse("f", "bob\n").unwrap_err();
        assert!(error.contains("no key after the principals"), "{error}");
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_names_its_line(text in "[ -~\n\t]{0,300}") {
            if let Err(error) = AllowedSigners::parse("f", &text) {
                proptest::prop_assert!(error.starts_with("f:"), "{}", error);
            }
        }
    }

    #[test]
    fn patterns_match_like_openssh() {
        let list = |text: &str| text.split(',').map(str::to_string).collect::<Vec<_>>();
        assert!(matches_list("bob@example.com", &list("*@example.com")));
        assert!(!matches_list("bob@example.com", &list("*@example.com,!bob@*")));
        assert!(matches_list("tollgate-approval", &list("git,tollgate-*")));
        assert!(!matches_list("bob", &list("bo")));
        assert!(matches_list("bob", &list("b?b")));
        assert!(matches_list("a.b.c@x", &list("*.*@*")));
        assert!(!matches_list("abc", &list("a*d")));
        assert!(matches_list("", &list("*")));
        assert!(!matches_list(&"a".repeat(200), &list(&format!("{}b", "*a".repeat(20)))));
    }
}
