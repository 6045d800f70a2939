//! The TF.js weights manifest (`*-weights_manifest.json`): parsed and validated before any shard is
//! read. See [`super::TfjsWeights`] for loading the tensors.
//!
//! ```
//! use dls_vision::face::{Manifest, Quantization};
//! let json = r#"[{"paths": ["w.bin"], "weights": [
//!     {"name": "b", "shape": [2, 3], "dtype": "float32",
//!      "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0}}]}]"#;
//! let manifest = Manifest::parse(json, "demo.json")?;
//! let entry = &manifest.groups[0].weights[0];
//! assert_eq!((entry.elements, entry.byte_len()), (6, 6));
//! assert_eq!(entry.quantization, Some(Quantization::Uint8 { scale: 0.5, min: -1.0 }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::path::{Component, Path};

use serde_json::Value;

use crate::{Error, Result};

/// Largest manifest read (face-api's biggest is 20 KB).
const MAX_MANIFEST_BYTES: u64 = 16 << 20;

/// The stored type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TfjsDtype {
    /// 32-bit floats (4 bytes each unless quantised).
    Float32,
    /// 32-bit integers (loaded as i64).
    Int32,
}

/// How a tensor's values were quantised in the shard.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Quantization {
    /// One byte per value: `q * scale + min`.
    Uint8 {
        /// Step between levels.
        scale: f64,
        /// Value of level 0.
        min: f64,
    },
    /// Two little-endian bytes per value: `q * scale + min`.
    Uint16 {
        /// Step between levels.
        scale: f64,
        /// Value of level 0.
        min: f64,
    },
    /// IEEE half precision, two bytes per value (float32 tensors only).
    Float16,
}

/// One manifest entry.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorEntry {
    /// The tensor's name, e.g. `conv0/filters`.
    pub name: String,
    /// Its shape (TF layout: conv filters are HWIO).
    pub shape: Vec<usize>,
    /// The type of the decoded values.
    pub dtype: TfjsDtype,
    /// How the values are stored, when quantised.
    pub quantization: Option<Quantization>,
    /// Number of values (checked product of `shape`).
    pub elements: usize,
}

impl TensorEntry {
    /// Bytes the tensor takes in its shard.
    pub fn byte_len(&self) -> usize {
        let width = match self.quantization {
            Some(Quantization::Uint8 { .. }) => 1,
            Some(Quantization::Uint16 { .. } | Quantization::Float16) => 2,
            None => 4,
        };
        self.elements * width
    }
}

/// A group of tensors stored in the concatenation of its shard files.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightGroup {
    /// Shard files, relative to the manifest's folder, in order.
    pub paths: Vec<String>,
    /// The tensors, in storage order.
    pub weights: Vec<TensorEntry>,
}

impl WeightGroup {
    /// Bytes all the group's tensors take.
    pub fn byte_len(&self) -> usize {
        self.weights.iter().map(TensorEntry::byte_len).sum()
    }
}

/// A parsed and validated TF.js weights manifest.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    /// The weight groups in file order.
    pub groups: Vec<WeightGroup>,
}

pub(crate) fn format_err(file: &str, offset: Option<u64>, message: String) -> Error {
    dls_foundations::Error::format(file, offset, message).into()
}

fn field<'a>(obj: &'a Value, key: &str, file: &str, at: &str) -> Result<&'a Value> {
    obj.get(key).ok_or_else(|| format_err(file, None, format!("{at}: missing \"{key}\"")))
}

fn parse_quantization(q: &Value, file: &str, at: &str) -> Result<Quantization> {
    let dtype = field(q, "dtype", file, at)?.as_str().unwrap_or("");
    let number = |key: &str| -> Result<f64> {
        match field(q, key, file, at)?.as_f64() {
            Some(v) if v.is_finite() => Ok(v),
            _ => Err(format_err(file, None, format!("{at}: quantization \"{key}\" must be a finite number"))),
        }
    };
    match dtype {
        "uint8" => Ok(Quantization::Uint8 { scale: number("scale")?, min: number("min")? }),
        "uint16" => Ok(Quantization::Uint16 { scale: number("scale")?, min: number("min")? }),
        "float16" => Ok(Quantization::Float16),
        other => Err(format_err(
            file,
            None,
            format!("{at}: unknown quantization dtype {other:?} (expected uint8, uint16 or float16)"),
        )),
    }
}

fn parse_entry(w: &Value, file: &str, group: usize, index: usize) -> Result<TensorEntry> {
    let position = format!("group {group} weight {index}");
    let name = field(w, "name", file, &position)?
        .as_str()
        .ok_or_else(|| format_err(file, None, format!("{position}: \"name\" must be a string")))?
        .to_string();
    let at = format!("tensor {name:?}");
    let shape: Vec<usize> = field(w, "shape", file, &at)?
        .as_array()
        .ok_or_else(|| format_err(file, None, format!("{at}: \"shape\" must be a list")))?
        .iter()
        .map(|d| {
            d.as_u64().and_then(|d| usize::try_from(d).ok()).ok_or_else(|| {
                format_err(file, None, format!("{at}: shape entry {d} is not a whole number >= 0"))
            })
        })
        .collect::<Result<_>>()?;
    let elements = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n.checked_mul(4).is_some())
        .ok_or_else(|| format_err(file, None, format!("{at}: shape {shape:?} is too large")))?;
    let dtype = match field(w, "dtype", file, &at)?.as_str() {
        Some("float32") => TfjsDtype::Float32,
        Some("int32") => TfjsDtype::Int32,
        other => {
            let got = other.map_or_else(|| w["dtype"].to_string(), |s| format!("{s:?}"));
            return Err(format_err(
                file,
                None,
                format!("{at}: unknown dtype {got} (expected float32 or int32)"),
            ));
        }
    };
    let quantization = match w.get("quantization") {
        None | Some(Value::Null) => None,
        Some(q) => Some(parse_quantization(q, file, &at)?),
    };
    if dtype == TfjsDtype::Int32 && quantization == Some(Quantization::Float16) {
        return Err(format_err(file, None, format!("{at}: float16 quantization of an int32 tensor")));
    }
    Ok(TensorEntry { name, shape, dtype, quantization, elements })
}

fn check_shard_path(p: &str, file: &str) -> Result<()> {
    let path = Path::new(p);
    let bad = p.is_empty()
        || path.is_absolute()
        || path.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
    if bad {
        return Err(format_err(file, None, format!("shard path {p:?} must be relative, without \"..\"")));
    }
    Ok(())
}

impl Manifest {
    /// Parses and validates manifest JSON; `file` names it in errors.
    ///
    /// # Errors
    /// [`dls_foundations::Error::Format`] (wrapped) naming `file` and the tensor: bad JSON, a
    /// missing field, an unknown dtype or quantization, a bad shape, a duplicate name, an unsafe
    /// shard path.
    pub fn parse(json: &str, file: &str) -> Result<Self> {
        let root: Value =
            serde_json::from_str(json).map_err(|e| format_err(file, None, format!("not JSON: {e}")))?;
        let groups_json = root
            .as_array()
            .ok_or_else(|| format_err(file, None, "expected a list of weight groups".into()))?;
        let mut seen = HashMap::new();
        let mut groups = Vec::with_capacity(groups_json.len());
        for (g, group) in groups_json.iter().enumerate() {
            let at = format!("group {g}");
            let paths: Vec<String> = field(group, "paths", file, &at)?
                .as_array()
                .filter(|a| !a.is_empty())
                .ok_or_else(|| format_err(file, None, format!("{at}: \"paths\" must be a non-empty list")))?
                .iter()
                .map(|p| {
                    let s = p
                        .as_str()
                        .ok_or_else(|| format_err(file, None, format!("{at}: path {p} is not a string")))?;
                    check_shard_path(s, file)?;
                    Ok(s.to_string())
                })
                .collect::<Result<_>>()?;
            let weights: Vec<TensorEntry> = field(group, "weights", file, &at)?
                .as_array()
                .ok_or_else(|| format_err(file, None, format!("{at}: \"weights\" must be a list")))?
                .iter()
                .enumerate()
                .map(|(i, w)| parse_entry(w, file, g, i))
                .collect::<Result<_>>()?;
            weights
                .iter()
                .try_fold(0usize, |acc, w| acc.checked_add(w.byte_len()))
                .ok_or_else(|| format_err(file, None, format!("{at}: the tensors' total size overflows")))?;
            for w in &weights {
                if seen.insert(w.name.clone(), g).is_some() {
                    return Err(format_err(file, None, format!("tensor {:?} appears twice", w.name)));
                }
            }
            groups.push(WeightGroup { paths, weights });
        }
        Ok(Self { groups })
    }

    /// Reads and validates a manifest file.
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be read or is over 16 MiB; otherwise as [`Manifest::parse`].
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let io = |source| Error::Io { path: name.clone(), source };
        let len = std::fs::metadata(path).map_err(io)?.len();
        if len > MAX_MANIFEST_BYTES {
            return Err(format_err(&name, None, format!("{len} bytes is too large for a manifest")));
        }
        Self::parse(&std::fs::read_to_string(path).map_err(io)?, &name)
    }

    /// Number of tensors over all groups.
    pub fn tensor_count(&self) -> usize {
        self.groups.iter().map(|g| g.weights.len()).sum()
    }
}
