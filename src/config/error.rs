//! Configuration diagnostics: every problem found while loading, each pinned to a file, a 1-based
//! line and column, and the dotted key path, so an operator can fix them all in one pass.

use std::fmt;
use std::sync::Arc;

/// One problem (or warning) in a configuration file.
///
/// Displayed as `FILE:LINE:COL: key.path: what is wrong`. Problems that have no position in a file
/// (the file could not be read at all) display as `FILE: key.path: what is wrong`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file the problem is in, as the operator named it (or the embedded default's origin).
    pub file: Arc<str>,
    /// 1-based line and column (in characters) of the offending key or value, when known.
    pub position: Option<(u32, u32)>,
    /// Dotted key path, with array indices in brackets: `lns.pools[1].ranges[0]`.
    /// Empty for problems with the file as a whole (a syntax error before any key).
    pub key: String,
    /// What is wrong, in words an operator can act on.
    pub message: String,
}

/// A configuration error: a [`Diagnostic`] that makes the file unusable.
pub type ConfigError = Diagnostic;

/// A configuration warning: a [`Diagnostic`] about a setting that works but is probably not what
/// the operator wants. Warnings never stop a load; the daemon logs them.
pub type ConfigWarning = Diagnostic;

impl Diagnostic {
    /// The 1-based line, or 0 when the problem has no position.
    pub fn line(&self) -> u32 {
        self.position.map_or(0, |p| p.0)
    }

    /// The 1-based column, or 0 when the problem has no position.
    pub fn column(&self) -> u32 {
        self.position.map_or(0, |p| p.1)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every error found in a configuration (never just the first), in file order.
///
/// `Display` prints one diagnostic per line, which is what `l2tpagg check` and a refused reload show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    /// The errors, sorted by file (main file first), then line and column.
    pub errors: Vec<ConfigError>,
    /// Warnings found along the way; they are reported with the errors but never cause a refusal.
    pub warnings: Vec<ConfigWarning>,
}

impl ConfigErrors {
    /// How many errors there are (at least one).
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Always false for a value returned by the loader; present for the `len` convention.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// Iterates over the errors in file order.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.errors.iter()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Maps byte offsets in a text to 1-based (line, column-in-characters).
#[derive(Debug, Clone)]
pub(crate) struct LineIndex {
    line_starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(text: &str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { line_starts }
    }

    pub(crate) fn position(&self, text: &str, offset: usize) -> (u32, u32) {
        let offset = offset.min(text.len());
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line];
        // Count characters, not bytes, so a non-ASCII comment earlier on the line does not shift
        // the caret. `get` guards against an offset inside a multi-byte character.
        let col = text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line as u32 + 1, col as u32 + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_in_characters() {
        let text = "a = 1\nbé = 2\n\nc";
        let idx = LineIndex::new(text);
        assert_eq!(idx.position(text, 0), (1, 1));
        assert_eq!(idx.position(text, 4), (1, 5));
        assert_eq!(idx.position(text, 6), (2, 1));
        // "bé = " is 6 bytes but 5 characters.
        assert_eq!(idx.position(text, 12), (2, 6));
        assert_eq!(idx.position(text, 15), (4, 1));
        assert_eq!(idx.position(text, 999), (4, 2));
    }

    #[test]
    fn display_formats() {
        let d = Diagnostic {
            file: "a.toml".into(),
            position: Some((3, 7)),
            key: "lns.listen[0]".into(),
            message: "bad".into(),
        };
        assert_eq!(d.to_string(), "a.toml:3:7: lns.listen[0]: bad");
        let d = Diagnostic {
            position: None,
            key: String::new(),
            ..d
        };
        assert_eq!(d.to_string(), "a.toml: bad");
    }
}
