//! Diagnostics: what is wrong, where, and what to do about it.

use std::fmt;
use std::path::{Path, PathBuf};

/// A 1-based line and column in a file (columns count characters, as editors do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Position {
    /// Line number, starting at 1.
    pub line: usize,
    /// Column number, starting at 1.
    pub column: usize,
}

impl Position {
    /// The start of a file: where file-level problems (empty, too large, not text) are reported.
    pub const START: Position = Position { line: 1, column: 1 };

    /// A position from 1-based line and column.
    pub fn new(line: usize, column: usize) -> Self {
        Position { line, column }
    }

    /// The position of byte offset `offset` in `text` (clamped to the end of the text).
    pub fn of_offset(text: &str, offset: usize) -> Self {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Position { line, column }
    }

    /// This position moved down by `lines` (used for YAML front matter inside a Markdown file).
    pub fn down(self, lines: usize) -> Self {
        Position {
            line: self.line + lines,
            column: self.column,
        }
    }
}

/// One problem in one file: rendered as `FILE:LINE:COL: error: MESSAGE`, then `help: ...`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, thiserror::Error)]
pub struct Diagnostic {
    /// The file (or folder) the problem is in, as the user named it.
    pub file: PathBuf,
    /// Where in the file; `None` when the problem is the file itself (for example, missing).
    #[serde(flatten)]
    pub position: Option<Position>,
    /// What is wrong and what was expected.
    pub message: String,
    /// A suggestion, when there is a likely fix (for example, the key the user probably meant).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl Diagnostic {
    /// A problem at `position` in `file`.
    pub fn at(file: impl Into<PathBuf>, position: Position, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.into(),
            position: Some(position),
            message: message.into(),
            help: None,
        }
    }

    /// A problem with the file (or folder) as a whole, with no position in it.
    pub fn file(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.into(),
            position: None,
            message: message.into(),
            help: None,
        }
    }

    /// The same diagnostic with a suggestion attached.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// The same diagnostic with a suggestion attached, if there is one.
    pub fn with_help_opt(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    /// The file this diagnostic is about.
    pub fn path(&self) -> &Path {
        &self.file
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(p) = self.position {
            write!(f, ":{}:{}", p.line, p.column)?;
        }
        write!(f, ": error: {}", self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// Every problem found while loading one thing; never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// The candidate closest to `wrong`, if one is close enough to be a likely typo.
pub fn closest<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(wrong, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// `did you mean `X`?` for the candidate closest to `wrong`.
pub fn did_you_mean<'a>(
    wrong: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    closest(wrong, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_one_based_positions() {
        let text = "ab\ncdé\nf";
        assert_eq!(Position::of_offset(text, 0), Position::new(1, 1));
        assert_eq!(Position::of_offset(text, 3), Position::new(2, 1));
        assert_eq!(Position::of_offset(text, 7), Position::new(2, 4)); // after the two-byte é
        assert_eq!(Position::of_offset(text, 999), Position::new(3, 2));
    }

    #[test]
    fn suggestions_need_a_close_match() {
        assert_eq!(closest("modle", ["model", "name", "tools"]), Some("model"));
        assert_eq!(closest("zzz", ["model", "name"]), None);
    }

    #[test]
    fn renders_file_line_column() {
        let d = Diagnostic::at("a/b.yaml", Position::new(3, 5), "bad").with_help("fix it");
        assert_eq!(d.to_string(), "a/b.yaml:3:5: error: bad\n  help: fix it");
        assert_eq!(Diagnostic::file("a", "gone").to_string(), "a: error: gone");
    }
}
