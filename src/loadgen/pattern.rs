//! Name patterns for emulated subscribers: `user{n}` becomes `user1`, `user2`, ...
//!
//! Owns: parsing a pattern once and expanding it per subscriber number. Must not touch: anything
//! else. The syntax is deliberately tiny so a typo is an error rather than a silent literal:
//! `{n}` is the subscriber number in decimal without leading zeros (the form the daemon's
//! `[[subscriber_range]]` generates), `{{` and `}}` are literal braces, and any other brace is
//! refused.

use std::fmt;

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    source: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Number,
}

/// Why a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// A `{` that does not open `{n}` or `{{`.
    #[error(
        "pattern {pattern:?}: unknown placeholder at byte {at} (only {{n}} is defined; write {{{{ for a literal brace)"
    )]
    UnknownPlaceholder {
        /// The whole pattern.
        pattern: String,
        /// Byte offset of the brace.
        at: usize,
    },
    /// A `}` that is not part of `{n}` or `}}`.
    #[error("pattern {pattern:?}: unmatched '}}' at byte {at} (write }}}} for a literal brace)")]
    UnmatchedBrace {
        /// The whole pattern.
        pattern: String,
        /// Byte offset of the brace.
        at: usize,
    },
    /// The pattern expands to the empty string.
    #[error("pattern is empty")]
    Empty,
}

impl Pattern {
    /// Parses `pattern`.
    pub fn parse(pattern: &str) -> Result<Self, PatternError> {
        if pattern.is_empty() {
            return Err(PatternError::Empty);
        }
        let mut parts = Vec::new();
        let mut literal = String::new();
        let bytes = pattern.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'{' if bytes.get(i + 1) == Some(&b'{') => {
                    literal.push('{');
                    i += 2;
                }
                b'{' if bytes.get(i + 1..i + 3) == Some(b"n}") => {
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Number);
                    i += 3;
                }
                b'{' => {
                    return Err(PatternError::UnknownPlaceholder {
                        pattern: pattern.to_owned(),
                        at: i,
                    });
                }
                b'}' if bytes.get(i + 1) == Some(&b'}') => {
                    literal.push('}');
                    i += 2;
                }
                b'}' => {
                    return Err(PatternError::UnmatchedBrace {
                        pattern: pattern.to_owned(),
                        at: i,
                    });
                }
                _ => {
                    // Copy the whole UTF-8 character: braces are ASCII, so they never sit inside one.
                    let ch_len = pattern[i..].chars().next().map_or(1, char::len_utf8);
                    literal.push_str(&pattern[i..i + ch_len]);
                    i += ch_len;
                }
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Self {
            source: pattern.to_owned(),
            parts,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the pattern contains `{n}`: without it every subscriber gets the same string.
    pub fn is_numbered(&self) -> bool {
        self.parts.contains(&Part::Number)
    }

    /// The string for subscriber number `n`.
    pub fn expand(&self, n: u64) -> String {
        let mut out = String::with_capacity(self.source.len() + 8);
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Number => {
                    use fmt::Write;
                    let _ = write!(out, "{n}");
                }
            }
        }
        out
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl std::str::FromStr for Pattern {
    type Err = PatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_the_number_without_leading_zeros() {
        let p = Pattern::parse("user{n}").unwrap();
        assert!(p.is_numbered());
        assert_eq!(p.expand(1), "user1");
        assert_eq!(p.expand(100_000), "user100000");
        assert_eq!(p.expand(0), "user0");
        let p = Pattern::parse("{n}-{n}@realm.example").unwrap();
        assert_eq!(p.expand(7), "7-7@realm.example");
    }

    #[test]
    fn literals_and_escaped_braces() {
        let p = Pattern::parse("demo").unwrap();
        assert!(!p.is_numbered());
        assert_eq!(p.expand(5), "demo");
        let p = Pattern::parse("{{n}}{n}").unwrap();
        assert_eq!(p.expand(3), "{n}3");
        let p = Pattern::parse("ü{n}ß").unwrap();
        assert_eq!(p.expand(12), "ü12ß");
        assert_eq!(p.to_string(), "ü{n}ß");
    }

    #[test]
    fn refuses_unknown_placeholders_and_stray_braces() {
        assert!(matches!(
            Pattern::parse("user{N}"),
            Err(PatternError::UnknownPlaceholder { at: 4, .. })
        ));
        assert!(matches!(
            Pattern::parse("user{n"),
            Err(PatternError::UnknownPlaceholder { at: 4, .. })
        ));
        assert!(matches!(
            Pattern::parse("user}"),
            Err(PatternError::UnmatchedBrace { at: 4, .. })
        ));
        assert_eq!(Pattern::parse(""), Err(PatternError::Empty));
    }
}
