//! The `If-Match: revision_number=N` precondition, read as Neutron reads it: webob's
//! `ETagMatcher.parse` picks the etags out of the header, then
//! `api_common.check_request_for_revision_constraint` takes the one that starts with
//! `revision_number=` and Python's `int()` reads its number. Clients send every form these
//! accept (quoted or not, `-1` for "surely stale"), so the same forms are accepted here.

use crate::error::ApiError;
use std::fmt;

const PREFIX: &str = "revision_number=";

/// The revision a write is constrained to: any integer Python's `int()` reads, kept as its
/// canonical decimal text so that numbers no revision can have (negative, huge) still fail
/// with Neutron's 412 rather than a parse error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfMatch(String);

impl IfMatch {
    /// Whether the resource's current revision is the one asked for.
    pub fn matches(&self, current: u64) -> bool {
        self.0 == current.to_string()
    }
}

impl fmt::Display for IfMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<u64> for IfMatch {
    fn from(n: u64) -> Self {
        Self(n.to_string())
    }
}

/// Reads the raw `If-Match` header value (bytes, decoded as Latin-1 as WSGI does).
pub fn parse(raw: &[u8]) -> Result<Option<IfMatch>, ApiError> {
    let value: String = raw.iter().map(|&b| char::from(b)).collect();
    let mut found = None;
    for etag in etags(&value) {
        if let Some(rest) = etag.strip_prefix(PREFIX) {
            if found.is_some() {
                return Err(ApiError::bad_request_for("if-match", "Multiple revision_number etags are not supported."));
            }
            // Python's `e.split('revision_number=')[1]`: up to a second occurrence, if any.
            let number = rest.split(PREFIX).next().unwrap_or_default();
            found = Some(py_int(number).ok_or_else(|| {
                ApiError::bad_request_for(
                    "if-match",
                    "Revision number etag must be in the format of revision_number=<int>",
                )
            })?);
        }
    }
    Ok(found)
}

/// webob's `ETagMatcher.parse` (strong etags only): `*` is none; quoted etags, each at the
/// start or after whitespace, are taken without their quotes and weak (`W/`) ones dropped;
/// a value with no quoted etag is one etag as a whole.
fn etags(value: &str) -> Vec<String> {
    if value == "*" || value.is_empty() {
        return Vec::new();
    }
    let chars: Vec<char> = value.chars().collect();
    let mut found = Vec::new();
    let mut any = false;
    let mut at = 0;
    while at < chars.len() {
        match quoted_etag(&chars, at) {
            Some((weak, text, end)) => {
                any = true;
                if !weak {
                    found.push(text);
                }
                at = end;
            }
            None => at += 1,
        }
    }
    if any {
        found
    } else {
        vec![value.to_string()]
    }
}

/// webob's `(?:^|\s)(W/)?"((?:\\"|.)*?)"` tried at `at`: whether it is weak, the text
/// between the quotes and where the match ends.
fn quoted_etag(chars: &[char], at: usize) -> Option<(bool, String, usize)> {
    let mut i = at;
    if at > 0 {
        if !chars[at].is_whitespace() {
            return None;
        }
        i += 1;
    }
    let weak = chars.get(i..i + 3) == Some(&['W', '/', '"'][..]);
    if weak {
        i += 2;
    }
    if chars.get(i) != Some(&'"') {
        return None;
    }
    let start = i + 1;
    let end = closing_quote(chars, start)?;
    Some((weak, chars[start..end].iter().collect(), end + 1))
}

/// Where the lazy `(?:\\"|.)*?"` ends: the first quote not escaped by a backslash, or,
/// when there is none, the quote of the last `\"` (where the regex backtracks to).
fn closing_quote(chars: &[char], start: usize) -> Option<usize> {
    let mut last_escaped = None;
    let mut i = start;
    while i < chars.len() {
        match chars[i] {
            '"' => return Some(i),
            '\n' => break,
            '\\' if chars.get(i + 1) == Some(&'"') => {
                last_escaped = Some(i + 1);
                i += 2;
            }
            _ => i += 1,
        }
    }
    last_escaped
}

/// Python's `int(text)` for base 10: surrounding whitespace, an optional sign, digits with
/// single underscores between them; leading zeros allowed. The canonical text of the value.
fn py_int(text: &str) -> Option<IfMatch> {
    let t = text.trim_matches(is_py_space);
    let (negative, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') || digits.contains("__") {
        return None;
    }
    if !digits.chars().all(|c| c.is_ascii_digit() || c == '_') {
        return None;
    }
    let plain: String = digits.chars().filter(|c| *c != '_').collect();
    let plain = plain.trim_start_matches('0');
    Some(IfMatch(match (plain.is_empty(), negative) {
        (true, _) => "0".to_string(),
        (false, true) => format!("-{plain}"),
        (false, false) => plain.to_string(),
    }))
}

/// `str.isspace` for the Latin-1 characters a header can hold.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(raw: &str) -> Result<Option<String>, String> {
        parse(raw.as_bytes()).map(|r| r.map(|r| r.to_string())).map_err(|e| e.message)
    }

    #[test]
    fn plain_and_quoted_forms() {
        assert_eq!(rev("revision_number=3"), Ok(Some("3".into())));
        assert_eq!(rev("\"revision_number=3\""), Ok(Some("3".into())));
        assert_eq!(rev("\"other\", \"revision_number=7\""), Ok(Some("7".into())));
        assert_eq!(rev("*"), Ok(None));
        assert_eq!(rev("\"abc\""), Ok(None));
        // Weak etags are not strong ones: ignored.
        assert_eq!(rev("W/\"revision_number=3\""), Ok(None));
        // Without whitespace before it, a second quoted etag is not one (webob's regex).
        assert_eq!(rev("\"x\",\"revision_number=3\""), Ok(None));
    }

    #[test]
    fn numbers_as_python_reads_them() {
        assert_eq!(rev("revision_number=-1"), Ok(Some("-1".into())));
        assert_eq!(rev("revision_number=+0"), Ok(Some("0".into())));
        assert_eq!(rev("revision_number=007"), Ok(Some("7".into())));
        assert_eq!(rev("revision_number=1_0"), Ok(Some("10".into())));
        assert_eq!(rev("revision_number=-0"), Ok(Some("0".into())));
        assert_eq!(rev("revision_number=99999999999999999999999"), Ok(Some("99999999999999999999999".into())));
        assert_eq!(rev("revision_number=2revision_number=5"), Ok(Some("2".into())));
        let bad =
            Err("Bad if-match request: Revision number etag must be in the format of revision_number=<int>.".into());
        for raw in [
            "revision_number=abc",
            "revision_number=",
            "revision_number=1__0",
            "revision_number=_1",
            "revision_number=1.0",
        ] {
            assert_eq!(rev(raw), bad, "{raw}");
        }
        // An unquoted list is one etag: its number is not an int.
        assert_eq!(rev("revision_number=3, revision_number=4"), bad);
    }

    #[test]
    fn two_revision_etags_are_refused() {
        let got = rev("\"revision_number=1\", \"revision_number=1\"");
        assert_eq!(got, Err("Bad if-match request: Multiple revision_number etags are not supported..".into()));
    }

    #[test]
    fn matching_compares_the_canonical_value() {
        let m = parse(b"revision_number=0004").unwrap().unwrap();
        assert!(m.matches(4) && !m.matches(3));
        assert!(!parse(b"revision_number=-1").unwrap().unwrap().matches(0));
    }
}
