//! Finding a secret in text it may have been transformed into. A server that reflects its
//! request can hand a policy the credential the host attached, in any encoding the policy
//! asks it for; redacting the exact secret is not enough. [`SecretScan`] looks for the
//! common encodings of each secret: case-folded (upper, lower, mixed), reversed, hex,
//! base64 and base64url in all three alignments (also case-folded), percent-encoded and JSON `\u`-escaped (the
//! text is decoded before it is searched), split by separators (searched with everything
//! but letters and digits removed) and, for secrets of 16 characters or more, either half.
//! Secrets are at least [`MIN_SECRET_CHARS`] long, so an ordinary response never matches.

use base64::Engine as _;
use memchr::memmem;

/// The shortest secret the host accepts: below this, a form of it could appear by chance.
pub const MIN_SECRET_CHARS: usize = 12;
/// Halves of a secret are searched only when each has at least this many characters.
const MIN_HALF_CHARS: usize = 8;

/// The forms of one or more secrets, ready to search for.
#[derive(Clone, Default)]
pub struct SecretScan {
    /// Compared byte for byte (base64 is case-sensitive).
    exact: Vec<Vec<u8>>,
    /// Compared with the text lower-cased.
    folded: Vec<Vec<u8>>,
    /// Compared with the lower-cased text stripped to ASCII letters and digits.
    stripped: Vec<Vec<u8>>,
}

impl std::fmt::Debug for SecretScan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretScan([redacted])")
    }
}

impl SecretScan {
    /// The forms of `secrets` (each at least [`MIN_SECRET_CHARS`] long; shorter ones are
    /// refused at load by the caller).
    pub fn new(secrets: &[&str]) -> Self {
        let mut scan = SecretScan::default();
        for secret in secrets {
            scan.add(secret);
        }
        for forms in [&mut scan.exact, &mut scan.folded, &mut scan.stripped] {
            forms.retain(|form| !form.is_empty());
            forms.sort();
            forms.dedup();
        }
        scan
    }

    fn add(&mut self, secret: &str) {
        let lower = secret.to_lowercase();
        let reversed: String = lower.chars().rev().collect();
        for variant in [secret.to_string(), lower.clone(), secret.to_uppercase()] {
            self.add_base64(variant.as_bytes());
        }
        self.folded.extend([lower.clone().into_bytes(), reversed.clone().into_bytes(), hex::encode(secret.as_bytes()).into_bytes()]);
        for text in [&lower, &reversed] {
            let stripped = strip(text.as_bytes());
            if stripped.len() >= MIN_SECRET_CHARS {
                self.stripped.push(stripped);
            }
        }
        let chars: Vec<char> = lower.chars().collect();
        if chars.len() >= 2 * MIN_HALF_CHARS {
            let (first, second) = chars.split_at(chars.len() / 2);
            for half in [first, second] {
                let half: String = half.iter().collect();
                self.folded.push(half.clone().into_bytes());
                self.add_base64(half.as_bytes());
            }
        }
    }

    /// Base64 and base64url of `bytes` as they appear wherever `bytes` sit in encoded data:
    /// for each alignment, the encoding of the whole 3-byte groups that start there.
    fn add_base64(&mut self, bytes: &[u8]) {
        for start in 0..3.min(bytes.len()) {
            let whole = (bytes.len() - start) / 3 * 3;
            // At least 12 characters of base64, so that even case-folded it is no accident.
            if whole < 9 {
                continue;
            }
            let chunk = &bytes[start..start + whole];
            for encoded in [
                base64::engine::general_purpose::STANDARD_NO_PAD.encode(chunk),
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(chunk),
            ] {
                // A server may also case-fold what it echoes.
                self.folded.push(encoded.to_lowercase().into_bytes());
                self.exact.push(encoded.into_bytes());
            }
        }
    }

    /// Whether `text` holds any form of the secrets, as it is or once percent-decoded
    /// and/or JSON-unescaped.
    pub fn found_in(&self, text: &[u8]) -> bool {
        if self.exact.is_empty() && self.folded.is_empty() {
            return false;
        }
        let percent = percent_decode(text);
        let unescaped = json_unescape(text);
        let views = [text.to_vec(), json_unescape(&percent), percent_decode(&unescaped), percent, unescaped];
        views.iter().any(|view| self.found_in_view(view))
    }

    fn found_in_view(&self, view: &[u8]) -> bool {
        let contains = |haystack: &[u8], needles: &[Vec<u8>]| needles.iter().any(|needle| memmem::find(haystack, needle).is_some());
        if contains(view, &self.exact) {
            return true;
        }
        let lower = view.to_ascii_lowercase();
        let lower = match std::str::from_utf8(&lower) {
            // Non-ASCII secrets fold beyond ASCII.
            Ok(text) if !text.is_ascii() => text.to_lowercase().into_bytes(),
            _ => lower,
        };
        contains(&lower, &self.folded) || contains(&strip(&lower), &self.stripped)
    }
}

/// ASCII letters and digits only (lower-cased input stays lower-cased).
fn strip(text: &[u8]) -> Vec<u8> {
    text.iter().copied().filter(u8::is_ascii_alphanumeric).collect()
}

/// `%XX` sequences decoded (others kept as they are).
fn percent_decode(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut index = 0;
    while index < text.len() {
        if text[index] == b'%'
            && let Some(byte) = text.get(index + 1..index + 3).and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok())
        {
            out.push(byte);
            index += 3;
        } else {
            out.push(text[index]);
            index += 1;
        }
    }
    out
}

/// `\uXXXX` (and `\xXX`) escapes decoded to UTF-8 (others kept as they are).
fn json_unescape(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut index = 0;
    while index < text.len() {
        let escape = match text.get(index..index + 2) {
            Some(b"\\u") | Some(b"\\U") => Some(4),
            Some(b"\\x") => Some(2),
            _ => None,
        };
        let decoded = escape.and_then(|digits| {
            let hex = std::str::from_utf8(text.get(index + 2..index + 2 + digits)?).ok()?;
            let c = char::from_u32(u32::from_str_radix(hex, 16).ok()?)?;
            Some((c, 2 + digits))
        });
        match decoded {
            Some((c, length)) => {
                let mut buffer = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
                index += length;
            }
            None => {
                out.push(text[index]);
                index += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "tg-Secret-Token-6f1d9c2b";

    fn forms(secret: &str) -> Vec<(&'static str, String)> {
        let reversed: String = secret.chars().rev().collect();
        let half = secret.len() / 2;
        vec![
            ("upper", secret.to_uppercase()),
            ("lower", secret.to_lowercase()),
            ("base64", base64::engine::general_purpose::STANDARD.encode(secret)),
            ("base64 after one byte", base64::engine::general_purpose::STANDARD.encode(format!("x{secret}"))),
            ("base64 after two bytes", base64::engine::general_purpose::STANDARD.encode(format!("xy{secret}"))),
            ("base64url", base64::engine::general_purpose::URL_SAFE.encode(format!("?>{secret}"))),
            ("hex", hex::encode(secret)),
            ("HEX", hex::encode_upper(secret)),
            ("reversed", reversed),
            ("split", secret.chars().map(String::from).collect::<Vec<_>>().join(" ")),
            ("json array", format!("{:?}", secret.chars().map(String::from).collect::<Vec<_>>())),
            ("percent", secret.bytes().map(|byte| format!("%{byte:02X}")).collect()),
            ("unicode escapes", secret.chars().map(|c| format!("\\u{:04x}", c as u32)).collect()),
            ("half and half", format!("first={} and then second={}", &secret[..half], &secret[half..].to_uppercase())),
            ("base64 of the upper case", base64::engine::general_purpose::STANDARD.encode(secret.to_uppercase())),
            ("percent-encoded base64", base64::engine::general_purpose::STANDARD.encode(format!("a{secret}")).replace('+', "%2B").replace('/', "%2F")),
        ]
    }

    #[test]
    fn every_common_transformation_of_a_secret_is_found() {
        let scan = SecretScan::new(&[TOKEN]);
        for (name, text) in forms(TOKEN) {
            assert!(scan.found_in(format!("{{\"echo\": \"{text}\"}}").as_bytes()), "{name}: {text}");
        }
    }

    #[test]
    fn ordinary_answers_do_not_match() {
        let scan = SecretScan::new(&[TOKEN, "bob:correct-horse-battery"]);
        for text in [
            r#"{"status":{"sync":{"status":"Synced","revision":"6f1d9c2b7a"},"health":{"status":"Healthy"}}}"#,
            r#"[{"labels":{"alertname":"HighErrorRate","severity":"critical"},"status":{"state":"active"}}]"#,
            "Secret Token rotation is due; see https://example.com/tg?x=%20",
            "\\u0041\\u0042 plain text with a \\x41 escape",
        ] {
            assert!(!scan.found_in(text.as_bytes()), "{text}");
        }
    }

    proptest::proptest! {
        #[test]
        fn a_secret_is_found_wherever_it_sits(prefix in "[ -~]{0,40}", suffix in "[ -~]{0,40}", secret in "[!-~]{12,40}") {
            let scan = SecretScan::new(&[&secret]);
            let text = format!("{prefix}{secret}{suffix}");
            proptest::prop_assert!(scan.found_in(text.as_bytes()));
            let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
            proptest::prop_assert!(scan.found_in(encoded.as_bytes()));
            proptest::prop_assert!(scan.found_in(hex::encode(text.as_bytes()).as_bytes()));
        }
    }
}
