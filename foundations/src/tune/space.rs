//! Search spaces (named hyperparameter domains) and the trials drawn from them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The scale on which a float hyperparameter is sampled uniformly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scale {
    /// Uniform in the value itself (e.g. a dropout keep-probability in [0.5, 0.9]).
    Linear,
    /// Uniform in `log10(value)`: `value = 10^r` (learning rates, L2 strengths); needs `lo > 0`.
    Log10,
    /// Uniform in `log10(1 - value)`: `beta = 1 - 10^r` with `r` on `[log10(1 - hi), log10(1 - lo)]`
    /// (momentum and Adam betas, where 0.9 to 0.99 matters as much as 0.99 to 0.999); needs
    /// `0 <= lo < hi < 1`.
    OneMinusLog10,
}

impl Scale {
    /// Maps a value to the axis on which it is sampled uniformly.
    pub fn forward(self, v: f64) -> f64 {
        match self {
            Scale::Linear => v,
            Scale::Log10 => v.log10(),
            Scale::OneMinusLog10 => (1.0 - v).log10(),
        }
    }

    /// The inverse of [`Scale::forward`].
    pub fn inverse(self, t: f64) -> f64 {
        match self {
            Scale::Linear => t,
            Scale::Log10 => 10f64.powf(t),
            Scale::OneMinusLog10 => 1.0 - 10f64.powf(t),
        }
    }
}

/// The values one hyperparameter may take.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Domain {
    /// A real number in `[lo, hi]`, sampled uniformly on `scale`.
    Float {
        /// Smallest value.
        lo: f64,
        /// Largest value.
        hi: f64,
        /// The axis on which values are spread evenly.
        scale: Scale,
    },
    /// An integer in `lo..=hi`.
    Int {
        /// Smallest value.
        lo: i64,
        /// Largest value (inclusive).
        hi: i64,
    },
    /// One of a list of named options.
    Choice(Vec<String>),
}

impl Domain {
    /// For a float domain: the value at fraction `u` in `[0, 1]` of the way from `lo` to `hi`
    /// along its scale (exactly `lo` at 0 and `hi` at 1, clamped to `[lo, hi]`).
    pub(crate) fn float_at(lo: f64, hi: f64, scale: Scale, u: f64) -> f64 {
        if u <= 0.0 {
            return lo;
        }
        if u >= 1.0 {
            return hi;
        }
        let (a, b) = (scale.forward(lo), scale.forward(hi));
        scale.inverse(a + u * (b - a)).clamp(lo, hi)
    }

    fn validate(&self, name: &str) -> Result<()> {
        let what = || format!("search space `{name}`");
        match self {
            Domain::Float { lo, hi, scale } => {
                if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                    return Err(Error::invalid(what(), format!("expected finite lo < hi, got [{lo}, {hi}]")));
                }
                match scale {
                    Scale::Log10 if *lo <= 0.0 => {
                        Err(Error::invalid(what(), format!("log scale needs lo > 0, got {lo}")))
                    }
                    Scale::OneMinusLog10 if *lo < 0.0 || *hi >= 1.0 => Err(Error::invalid(
                        what(),
                        format!("1 - 10^r scale needs 0 <= lo < hi < 1, got [{lo}, {hi}]"),
                    )),
                    _ => Ok(()),
                }
            }
            Domain::Int { lo, hi } if lo > hi => {
                Err(Error::invalid(what(), format!("expected lo <= hi, got [{lo}, {hi}]")))
            }
            Domain::Int { .. } => Ok(()),
            Domain::Choice(options) => {
                if options.is_empty() {
                    return Err(Error::invalid(what(), "a choice needs at least one option"));
                }
                let mut seen = BTreeSet::new();
                for o in options {
                    if !seen.insert(o) {
                        return Err(Error::invalid(what(), format!("option `{o}` is listed twice")));
                    }
                }
                Ok(())
            }
        }
    }
}

/// Named hyperparameter domains, in the order they were added.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchSpace {
    params: Vec<(String, Domain)>,
}

impl SearchSpace {
    /// An empty space; add hyperparameters with the builder methods.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a float hyperparameter in `[lo, hi]` sampled on `scale`.
    pub fn float(self, name: &str, lo: f64, hi: f64, scale: Scale) -> Self {
        self.with(name, Domain::Float { lo, hi, scale })
    }

    /// Adds an integer hyperparameter in `lo..=hi`.
    pub fn int(self, name: &str, lo: i64, hi: i64) -> Self {
        self.with(name, Domain::Int { lo, hi })
    }

    /// Adds a hyperparameter choosing among `options`.
    pub fn choice(self, name: &str, options: &[&str]) -> Self {
        self.with(name, Domain::Choice(options.iter().map(|s| s.to_string()).collect()))
    }

    /// Adds (or, for an existing name, replaces) a hyperparameter with any domain.
    pub fn with(mut self, name: &str, domain: Domain) -> Self {
        match self.params.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = domain,
            None => self.params.push((name.to_string(), domain)),
        }
        self
    }

    /// The hyperparameters and their domains, in order.
    pub fn params(&self) -> &[(String, Domain)] {
        &self.params
    }

    /// The domain of `name`, if the space has it.
    pub fn get(&self, name: &str) -> Option<&Domain> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, d)| d)
    }

    /// The number of hyperparameters.
    pub fn len(&self) -> usize {
        self.params.len()
    }

    /// Whether the space has no hyperparameters.
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// Checks every domain: names non-empty, floats finite with `lo < hi`, `lo > 0` on a log
    /// scale, `0 <= lo < hi < 1` on the `1 - 10^r` scale, integers `lo <= hi`, choices non-empty
    /// without repeats.
    ///
    /// # Errors
    /// [`Error::Empty`] for a space with no hyperparameters, [`Error::Invalid`] naming the first
    /// hyperparameter that breaks a rule.
    pub fn validate(&self) -> Result<()> {
        if self.params.is_empty() {
            return Err(Error::Empty("search space has no hyperparameters".into()));
        }
        for (name, domain) in &self.params {
            if name.is_empty() {
                return Err(Error::invalid("search space", "a hyperparameter has an empty name"));
            }
            domain.validate(name)?;
        }
        Ok(())
    }
}

/// One hyperparameter's value in a [`Trial`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// An integer (listed first so JSON integers read back as integers).
    Int(i64),
    /// A real number.
    Float(f64),
    /// A named option.
    Choice(String),
}

impl Value {
    pub(crate) fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Int(i) => serde_json::json!(i),
            Value::Float(f) => serde_json::json!(f),
            Value::Choice(s) => serde_json::json!(s),
        }
    }
}

/// Floats in plain notation when that is short and readable, in scientific notation otherwise.
pub(crate) fn fmt_float(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 || (1e-3..1e4).contains(&a) {
        format!("{v:.4}")
    } else {
        format!("{v:.3e}")
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => f.write_str(&fmt_float(*x)),
            Value::Choice(s) => f.write_str(s),
        }
    }
}

/// One point of a search space: an id and a value for every hyperparameter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// The trial's number, unique within a search.
    pub id: usize,
    /// The value of each hyperparameter, by name.
    pub values: BTreeMap<String, Value>,
}

impl Trial {
    fn value(&self, name: &str) -> Result<&Value> {
        self.values.get(name).ok_or_else(|| {
            Error::invalid(format!("trial {} hyperparameter", self.id), format!("no value named `{name}`"))
        })
    }

    fn wrong_type(&self, name: &str, expected: &str, got: &Value) -> Error {
        Error::invalid(
            format!("trial {} hyperparameter `{name}`", self.id),
            format!("expected {expected}, got {got:?}"),
        )
    }

    /// The float value of `name` (an integer value is converted).
    ///
    /// # Errors
    /// [`Error::Invalid`] when the trial has no such value or it is a choice.
    pub fn get_f64(&self, name: &str) -> Result<f64> {
        match self.value(name)? {
            Value::Float(x) => Ok(*x),
            Value::Int(i) => Ok(*i as f64),
            other => Err(self.wrong_type(name, "a number", other)),
        }
    }

    /// The integer value of `name`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the trial has no such value or it is not an integer.
    pub fn get_i64(&self, name: &str) -> Result<i64> {
        match self.value(name)? {
            Value::Int(i) => Ok(*i),
            other => Err(self.wrong_type(name, "an integer", other)),
        }
    }

    /// The chosen option of `name`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the trial has no such value or it is not a choice.
    pub fn get_str(&self, name: &str) -> Result<&str> {
        match self.value(name)? {
            Value::Choice(s) => Ok(s),
            other => Err(self.wrong_type(name, "a choice", other)),
        }
    }

    /// The trial as JSON: `{"id": .., "values": {name: value}}`.
    pub fn to_json(&self) -> serde_json::Value {
        let values: serde_json::Map<String, serde_json::Value> =
            self.values.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
        serde_json::json!({ "id": self.id, "values": values })
    }
}

/// `name=value` pairs separated by spaces.
impl fmt::Display for Trial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.id)?;
        for (k, v) in &self.values {
            write!(f, " {k}={v}")?;
        }
        Ok(())
    }
}
