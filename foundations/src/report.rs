//! Final figures of an example run, written as one flat JSON object (`--json PATH`).
//!
//! The tour and scripts read these files; keys are the ones the issues name.
//!
//! ```
//! use dls_foundations::report::Figures;
//! let mut f = Figures::new();
//! f.set("test_accuracy", 0.975).set("seconds", 1.5);
//! assert_eq!(f.get_f64("test_accuracy"), Some(0.975));
//! ```

use std::path::Path;

use serde_json::{Map, Value};

use crate::checkpoint::write_atomically;
use crate::Result;

/// A flat map of named figures, in insertion order of first appearance.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    map: Map<String, Value>,
}

impl Figures {
    /// An empty set of figures.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value` (numbers, strings, booleans).
    pub fn set(&mut self, key: &str, value: impl Into<Value>) -> &mut Self {
        self.map.insert(key.to_string(), value.into());
        self
    }

    /// The number stored under `key`, if any.
    pub fn get_f64(&self, key: &str) -> Option<f64> {
        self.map.get(key).and_then(Value::as_f64)
    }

    /// The figures as a JSON object.
    pub fn to_json(&self) -> Value {
        Value::Object(self.map.clone())
    }

    /// Writes the figures to `path` as pretty JSON (atomically).
    ///
    /// # Errors
    /// I/O failures, named with the path.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        let mut text = serde_json::to_string_pretty(&self.to_json())?;
        text.push('\n');
        write_atomically(path.as_ref(), text.as_bytes())
    }

    /// Writes to `path` when one is given (the examples' `--json` flag).
    ///
    /// # Errors
    /// As [`Figures::write`].
    pub fn write_if(&self, path: Option<&Path>) -> Result<()> {
        match path {
            Some(p) => self.write(p),
            None => Ok(()),
        }
    }
}
