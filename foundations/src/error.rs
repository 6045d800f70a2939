//! The crate's error type: every fallible function returns [`Result`].
//!
//! Variants carry structured fields (what was expected, what was found, which file, which offset)
//! so a caller can report exactly what was wrong with their input.

use std::path::PathBuf;

/// Everything that can go wrong in `dls-foundations`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error raised by candle (a tensor op, a dtype mismatch, ...).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },

    /// A file's content does not follow its format.
    #[error("{path}: {message}{}", offset.map(|o| format!(" (at byte {o})")).unwrap_or_default())]
    Format {
        /// The file (or a description of the input) that is malformed.
        path: String,
        /// Byte offset of the problem where known.
        offset: Option<u64>,
        /// What is wrong.
        message: String,
    },

    /// A tensor or array has the wrong shape.
    #[error("shape mismatch in {what}: expected {expected}, got {got}")]
    Shape {
        /// The operation or argument whose shape is wrong.
        what: String,
        /// The shape that was expected.
        expected: String,
        /// The shape that was given.
        got: String,
    },

    /// An argument or configuration value is out of range or inconsistent.
    #[error("invalid {what}: {message}")]
    Invalid {
        /// The argument or setting at fault.
        what: String,
        /// Why it is not acceptable.
        message: String,
    },

    /// A data set, batch or list that must not be empty is empty.
    #[error("empty data: {0}")]
    Empty(String),

    /// Training produced a NaN or infinity.
    #[error("non-finite {what} at epoch {epoch}, step {step}")]
    NonFinite {
        /// Which quantity became non-finite (the loss, or a parameter's gradient).
        what: String,
        /// The epoch in which it happened (0-based).
        epoch: usize,
        /// The optimisation step (0-based, counted over the whole run).
        step: usize,
    },

    /// The gradient check found analytic and numeric gradients that disagree.
    #[error("gradient check failed for {param}: relative difference {difference:.3e} > {threshold:.1e}")]
    GradCheck {
        /// The parameter with the largest disagreement.
        param: String,
        /// The course's relative difference for that parameter.
        difference: f64,
        /// The threshold it exceeded.
        threshold: f64,
    },

    /// A JSON document could not be read or written.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

/// Result alias for `dls-foundations`.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid { what: what.into(), message: message.into() }
    }

    /// Shorthand for [`Error::Shape`].
    pub fn shape(what: impl Into<String>, expected: impl Into<String>, got: impl std::fmt::Debug) -> Self {
        Error::Shape { what: what.into(), expected: expected.into(), got: format!("{got:?}") }
    }

    /// Shorthand for [`Error::Format`].
    pub fn format(path: impl Into<String>, offset: Option<u64>, message: impl Into<String>) -> Self {
        Error::Format { path: path.into(), offset, message: message.into() }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}
