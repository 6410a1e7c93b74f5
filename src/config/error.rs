//! The one error type for everything gatehouse loads from disk: proxy.toml,
//! users.toml and the TLS files. It names the file, the key, the position
//! and the reason, and displays as one sentence an operator can act on:
//! `proxy.toml:14:11: timeouts.connect: "5 parsecs" is not a duration …`.

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A problem in a file gatehouse loads, with enough context to fix it.
///
/// The reason is self-contained (it already holds any OS or parser message),
/// so the error has no `source()`: printing the cause chain repeats nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    file: PathBuf,
    /// Dotted key path such as `route[2].upstream`; empty when the problem
    /// is the file as a whole (unreadable, not TOML).
    key: String,
    position: Option<Position>,
    reason: String,
}

/// A 1-based line and column (in characters) inside a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Counted from 1.
    pub line: usize,
    /// Counted from 1, in characters.
    pub column: usize,
}

impl ConfigError {
    /// A problem with `key` in `file`, position unknown.
    pub fn new(
        file: impl Into<PathBuf>,
        key: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        ConfigError {
            file: file.into(),
            key: key.into(),
            position: None,
            reason: reason.into(),
        }
    }

    /// `file` (named by `key`) could not be read; keeps the OS reason.
    pub fn unreadable(file: impl Into<PathBuf>, key: impl Into<String>, err: &io::Error) -> Self {
        ConfigError::new(file, key, format!("cannot read the file: {err}"))
    }

    /// Adds where in the file the problem is.
    pub fn at(mut self, position: Position) -> Self {
        self.position = Some(position);
        self
    }

    /// Adds the position of the byte `span` inside `source` (the file's text),
    /// as carried by `toml::Spanned` values and toml errors.
    pub fn at_span(self, source: &str, span: Range<usize>) -> Self {
        self.at(Position::of_offset(source, span.start))
    }

    /// Turns a toml syntax or shape error (unknown key, wrong type, missing
    /// key) into a one-line error naming the key, without the toml crate's
    /// multi-line snippet.
    pub fn from_toml(file: impl Into<PathBuf>, source: &str, err: &toml::de::Error) -> Self {
        // Syntax errors come as "what\nexpected …": keep one line.
        let message = err
            .message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        let message = message.as_str();
        let Some(span) = err.span() else {
            return ConfigError::new(file, "", message);
        };
        let key = super::locate::key_path_at(source, span.clone(), message);
        ConfigError::new(file, key, readable_toml_message(message)).at_span(source, span)
    }

    /// The file at fault, as given (proxy.toml) or resolved (TLS, users).
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The key path, e.g. `route[2].upstream` (arrays count from 0); empty
    /// when the whole file is at fault.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Where in the file, when known.
    pub fn position(&self) -> Option<Position> {
        self.position
    }

    /// What is wrong, in words, without file, key or position.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// Serde says "field"; a config file has keys.
fn readable_toml_message(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        if let Some((_, expected)) = rest.split_once("`, ") {
            return format!("unknown key, {expected}");
        }
        return "unknown key".to_string();
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        return format!("missing key `{rest}");
    }
    message.to_string()
}

impl Position {
    /// The position of byte `offset` in `source`; columns count characters,
    /// as editors do.
    pub fn of_offset(source: &str, offset: usize) -> Position {
        let mut offset = offset.min(source.len());
        while !source.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &source[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Position {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(position) = self.position {
            write!(f, ":{position}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_as_one_sentence() {
        let err = ConfigError::new("proxy.toml", "timeouts.connect", "bad").at(Position {
            line: 14,
            column: 11,
        });
        assert_eq!(err.to_string(), "proxy.toml:14:11: timeouts.connect: bad");
        let err = ConfigError::new("proxy.toml", "", "not TOML");
        assert_eq!(err.to_string(), "proxy.toml: not TOML");
    }

    #[test]
    fn positions_count_lines_and_characters() {
        let src = "a = 1\nbé = \"x\"\n";
        assert_eq!(Position::of_offset(src, 0), Position { line: 1, column: 1 });
        let quote = src.find('"').unwrap();
        assert_eq!(
            Position::of_offset(src, quote),
            Position { line: 2, column: 6 }
        );
        assert_eq!(Position::of_offset(src, 999).line, 3);
    }

    #[test]
    fn rewords_serde_fields_as_keys() {
        assert_eq!(
            readable_toml_message("unknown field `x`, expected `a` or `b`"),
            "unknown key, expected `a` or `b`"
        );
        assert_eq!(
            readable_toml_message("missing field `upstream`"),
            "missing key `upstream`"
        );
    }
}
