//! A matrix mistake with its place: the line, the column, and the line
//! itself with a caret under the column.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A matrix file that could not be read, with where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixError {
    /// The file name or preset it came from.
    pub origin: String,
    /// 1-based line and column, when the mistake has a place.
    pub at: Option<(usize, usize)>,
    pub message: String,
    /// The offending line with a caret under the column.
    pub excerpt: Option<String>,
}

impl fmt::Display for MatrixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some((line, column)) => write!(
                f,
                "{}: line {line}, column {column}: {}",
                self.origin, self.message
            )?,
            None => write!(f, "{}: {}", self.origin, self.message)?,
        }
        if let Some(excerpt) = &self.excerpt {
            write!(f, "\n{excerpt}")?;
        }
        Ok(())
    }
}

impl std::error::Error for MatrixError {}

/// Why a matrix that was read cannot be expanded to cells: what only the
/// placement, the scenario or the profile beside a stack decides.
#[derive(Debug, thiserror::Error)]
pub enum CellsError {
    /// A built-in stack refused its workers or its variants.
    #[error("{stack}: {source}")]
    Stack {
        stack: String,
        #[source]
        source: framewut_stacks::StackError,
    },
    #[error(
        "profile {profile:?} starts the stack more than once for its trials, but {stack} is a \
         url stack, whose server framewut did not start and cannot restart: give it a profile \
         without fresh_server or servers"
    )]
    RemoteRestart { profile: String, stack: String },
    #[error(
        "two cells share the id {0}: give the [[stack]] entries distinct names (name = \"...\")"
    )]
    SameId(String),
    #[error(
        "profile {profile:?} loads h2, but {stack} does not serve HTTP/2 (`framewut list stacks` \
         marks those that do with h2): give the stack scenarios in a matrix of its own, or load it \
         in a profile with protocol = \"http/1.1\""
    )]
    NoHttp2 { profile: String, stack: String },
}

pub(super) struct Text<'a> {
    pub(super) origin: &'a str,
    pub(super) text: &'a str,
    /// The directory the matrix's relative paths start from: the file's own.
    pub(super) base: &'a Path,
}

impl Text<'_> {
    /// A path the matrix gives, made absolute from the matrix's directory,
    /// so a stack started elsewhere finds it.
    pub(super) fn path(&self, written: &str) -> PathBuf {
        let joined = self.base.join(written);
        std::path::absolute(&joined).unwrap_or(joined)
    }

    pub(super) fn error(
        &self,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> MatrixError {
        let located = span.map(|span| {
            let start = span.start.min(self.text.len());
            let before = &self.text[..start];
            let line = before.matches('\n').count() + 1;
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let column = self.text[line_start..start].chars().count() + 1;
            let line_text = self.text[line_start..].lines().next().unwrap_or("");
            let excerpt = format!(
                "{line:>4} | {line_text}\n     | {}^",
                " ".repeat(column - 1)
            );
            ((line, column), excerpt)
        });
        MatrixError {
            origin: self.origin.to_string(),
            at: located.as_ref().map(|(at, _)| *at),
            message: message.into(),
            excerpt: located.map(|(_, excerpt)| excerpt),
        }
    }
}
