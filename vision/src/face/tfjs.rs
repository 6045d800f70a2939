//! TensorFlow.js weight manifests: `*-weights_manifest.json` plus binary shards (face-api's models).
//!
//! The manifest is a JSON list of weight groups `{"paths": [shard files], "weights": [entries]}`;
//! each entry is `{"name", "shape", "dtype", "quantization"?}`. A group's tensors lie one after
//! another in its shards taken as one byte string, with no header or padding. Quantised tensors
//! are dequantised as TF.js does (`io_utils.decodeWeights`): `uint8`/`uint16` values `q` become
//! `q * scale + min` (in f64, stored as f32; rounded with JavaScript's `Math.round` for `int32`),
//! `float16` values are widened to f32. `int32` tensors are returned as i64 (candle has no i32).
//!
//! Everything is checked before the shards are read: the JSON's structure, known dtypes, shapes,
//! duplicate names, shard paths (relative, no `..`), and that the shards hold exactly the bytes the
//! entries need. Errors name the file and the tensor.
//!
//! ```
//! use dls_vision::face::{Manifest, TfjsWeights};
//! let json = r#"[{"paths": ["w.bin"], "weights": [
//!     {"name": "b", "shape": [2], "dtype": "float32",
//!      "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0}}]}]"#;
//! let manifest = Manifest::parse(json, "demo.json")?;
//! let weights = TfjsWeights::from_bytes(&manifest, &[vec![0u8, 7]], "demo.json", &candle_core::Device::Cpu)?;
//! assert_eq!(weights.get("b")?.to_vec1::<f32>()?, vec![-1.0, 2.5]); // 0 * 0.5 - 1, 7 * 0.5 - 1
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};

use crate::face::manifest::{format_err, Manifest, Quantization, TensorEntry, TfjsDtype, WeightGroup};
use crate::{Error, Result};

/// The decoded tensors of a manifest, by name, in manifest order.
#[derive(Clone, Debug)]
pub struct TfjsWeights {
    source: String,
    names: Vec<String>,
    tensors: HashMap<String, Tensor>,
}

impl TfjsWeights {
    /// Loads a manifest file and its shards (found beside it) onto `device`.
    ///
    /// # Errors
    /// As [`Manifest::read`]; [`Error::Io`] naming a missing shard; a format error naming the shard
    /// files when their total size differs from what the tensors need (with the first tensor that
    /// does not fit, or the bytes left over) — checked before any shard is read.
    pub fn load(manifest_path: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let manifest_path = manifest_path.as_ref();
        let manifest = Manifest::read(manifest_path)?;
        let dir = manifest_path.parent().unwrap_or(Path::new("."));
        let mut shards = Vec::with_capacity(manifest.groups.len());
        for group in &manifest.groups {
            let files: Vec<_> = group.paths.iter().map(|p| dir.join(p)).collect();
            let mut total = 0u64;
            for f in &files {
                let meta = std::fs::metadata(f).map_err(|source| Error::Io {
                    path: format!("{} (shard of {})", f.display(), manifest_path.display()),
                    source,
                })?;
                total += meta.len();
            }
            let shown = files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(" + ");
            check_group_len(group, total, &shown)?;
            let mut bytes = Vec::with_capacity(group.byte_len());
            for f in &files {
                let mut b =
                    std::fs::read(f).map_err(|source| Error::Io { path: f.display().to_string(), source })?;
                bytes.append(&mut b);
            }
            shards.push(bytes);
        }
        Self::from_bytes(&manifest, &shards, &manifest_path.display().to_string(), device)
    }

    /// Decodes tensors from each group's shard bytes (all of a group's shards concatenated);
    /// `source` names the weights in errors.
    ///
    /// # Errors
    /// A format error when the number of byte strings differs from the number of groups or a
    /// group's bytes differ in length from what its tensors need.
    pub fn from_bytes(
        manifest: &Manifest,
        shards: &[Vec<u8>],
        source: &str,
        device: &Device,
    ) -> Result<Self> {
        if shards.len() != manifest.groups.len() {
            let msg = format!(
                "expected {} shard byte strings (one per group), got {}",
                manifest.groups.len(),
                shards.len()
            );
            return Err(format_err(source, None, msg));
        }
        let mut names = Vec::with_capacity(manifest.tensor_count());
        let mut tensors = HashMap::with_capacity(manifest.tensor_count());
        for (group, bytes) in manifest.groups.iter().zip(shards) {
            check_group_len(group, bytes.len() as u64, &format!("{source}: {}", group.paths.join(" + ")))?;
            let mut offset = 0;
            for entry in &group.weights {
                let end = offset + entry.byte_len();
                let tensor = decode(entry, bytes.get(offset..end).unwrap_or_default(), device)?;
                offset = end;
                names.push(entry.name.clone());
                tensors.insert(entry.name.clone(), tensor);
            }
        }
        Ok(Self { source: source.to_string(), names, tensors })
    }

    /// Tensor names in manifest order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are no tensors.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Total number of values over all tensors.
    pub fn parameter_count(&self) -> usize {
        self.tensors.values().map(Tensor::elem_count).sum()
    }

    /// The tensor called `name`.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the weights file and the missing tensor.
    pub fn get(&self, name: &str) -> Result<&Tensor> {
        self.tensors.get(name).ok_or_else(|| Error::Invalid {
            what: format!("{}: tensor {name:?}", self.source),
            message: format!("not in the manifest ({} tensors)", self.names.len()),
        })
    }

    /// The tensor called `name`, checked to have `shape`.
    ///
    /// # Errors
    /// As [`TfjsWeights::get`], and [`Error::Invalid`] naming the file, tensor and both shapes when
    /// they differ.
    pub fn get_with_shape(&self, name: &str, shape: &[usize]) -> Result<&Tensor> {
        let t = self.get(name)?;
        if t.dims() != shape {
            return Err(Error::Invalid {
                what: format!("{}: tensor {name:?}", self.source),
                message: format!("expected shape {shape:?}, got {:?}", t.dims()),
            });
        }
        Ok(t)
    }

    /// A TF conv filter `[kh, kw, in, out]` (HWIO) as candle's `[out, in, kh, kw]` (OIHW).
    ///
    /// # Errors
    /// As [`TfjsWeights::get`], and [`Error::Invalid`] for a tensor that is not 4-d.
    pub fn conv_filter_oihw(&self, name: &str) -> Result<Tensor> {
        Ok(self.get_4d(name)?.permute((3, 2, 0, 1))?.contiguous()?)
    }

    /// A TF depthwise filter `[kh, kw, in, mult]` as a grouped-conv weight `[in * mult, 1, kh, kw]`
    /// (output channel `i * mult + m`, as TensorFlow orders them).
    ///
    /// # Errors
    /// As [`TfjsWeights::conv_filter_oihw`].
    pub fn depthwise_filter_oihw(&self, name: &str) -> Result<Tensor> {
        let t = self.get_4d(name)?;
        let (kh, kw, c, m) = t.dims4()?;
        Ok(t.permute((2, 3, 0, 1))?.contiguous()?.reshape((c * m, 1, kh, kw))?)
    }

    fn get_4d(&self, name: &str) -> Result<&Tensor> {
        let t = self.get(name)?;
        if t.rank() != 4 {
            return Err(Error::Invalid {
                what: format!("{}: tensor {name:?}", self.source),
                message: format!("expected a 4-d filter, got shape {:?}", t.dims()),
            });
        }
        Ok(t)
    }

    /// All tensors by name.
    pub fn into_map(self) -> HashMap<String, Tensor> {
        self.tensors
    }
}

fn check_group_len(group: &WeightGroup, got: u64, files: &str) -> Result<()> {
    let need = group.byte_len() as u64;
    if got == need {
        return Ok(());
    }
    let mut offset = 0u64;
    for w in &group.weights {
        let end = offset + w.byte_len() as u64;
        if end > got {
            let msg = format!(
                "tensor {:?} needs bytes {offset}..{end} but the shards hold {got} (expected {need} bytes in all)",
                w.name
            );
            return Err(format_err(files, Some(got), msg));
        }
        offset = end;
    }
    let last = group.weights.last().map_or_else(|| "(no tensors)".to_string(), |w| format!("{:?}", w.name));
    let msg = format!(
        "{} bytes left over after the last tensor {last} (expected {need} bytes, got {got})",
        got - need
    );
    Err(format_err(files, Some(need), msg))
}

fn decode(entry: &TensorEntry, bytes: &[u8], device: &Device) -> Result<Tensor> {
    let shape = entry.shape.as_slice();
    let affine: Vec<f64> = match entry.quantization {
        None => {
            return Ok(match entry.dtype {
                TfjsDtype::Float32 => {
                    let v: Vec<f32> =
                        bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
                    Tensor::from_vec(v, shape, device)?
                }
                TfjsDtype::Int32 => {
                    let v: Vec<i64> = bytes
                        .chunks_exact(4)
                        .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                        .collect();
                    Tensor::from_vec(v, shape, device)?
                }
            })
        }
        Some(Quantization::Float16) => {
            let mut le: Vec<u8> = bytes.to_vec();
            if cfg!(target_endian = "big") {
                le.chunks_exact_mut(2).for_each(|c| c.swap(0, 1));
            }
            let t = Tensor::from_raw_buffer(&le, DType::F16, shape, device)?;
            return Ok(t.to_dtype(DType::F32)?);
        }
        Some(Quantization::Uint8 { scale, min }) => {
            bytes.iter().map(|&q| f64::from(q) * scale + min).collect()
        }
        Some(Quantization::Uint16 { scale, min }) => {
            bytes.chunks_exact(2).map(|c| f64::from(u16::from_le_bytes([c[0], c[1]])) * scale + min).collect()
        }
    };
    Ok(match entry.dtype {
        TfjsDtype::Float32 => {
            Tensor::from_vec(affine.iter().map(|&v| v as f32).collect::<Vec<_>>(), shape, device)?
        }
        // JavaScript's Math.round: halves go up.
        TfjsDtype::Int32 => Tensor::from_vec(
            affine.iter().map(|&v| (v + 0.5).floor() as i64).collect::<Vec<_>>(),
            shape,
            device,
        )?,
    })
}
