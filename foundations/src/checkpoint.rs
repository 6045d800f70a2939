//! Atomic safetensors files with a JSON metadata slot: the storage behind [`crate::Params::save`]
//! and the fit loop's checkpoints.
//!
//! Files are written to a temporary sibling and renamed into place, so a crash or a kill never
//! leaves a half-written file at the final path.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use candle_core::{Device, Tensor};

use crate::{Error, Result};

/// Key under which the JSON metadata is stored in the safetensors header.
const META_KEY: &str = "dls";

/// Writes `tensors` (and optional JSON `meta`) to `path` atomically.
///
/// # Errors
/// I/O failures (named with the path) and tensors that cannot be serialised.
pub fn write_safetensors(
    path: &Path,
    tensors: &[(String, Tensor)],
    meta: Option<&serde_json::Value>,
) -> Result<()> {
    let info = meta.map(|m| HashMap::from([(META_KEY.to_string(), m.to_string())]));
    let contiguous: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(n, t)| Ok((n.clone(), t.to_device(&Device::Cpu)?.contiguous()?)))
        .collect::<Result<_>>()?;
    let bytes = safetensors::tensor::serialize(contiguous.iter().map(|(n, t)| (n.as_str(), t)), info)
        .map_err(|e| Error::format(path.display().to_string(), None, format!("cannot serialise: {e}")))?;
    write_atomically(path, &bytes)
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
///
/// # Errors
/// I/O failures, named with the path; the temporary file is removed on failure.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

/// Reads a safetensors file written by [`write_safetensors`] (or any safetensors file):
/// its tensors on the CPU and its JSON metadata if it has ours.
///
/// # Errors
/// A missing file, a truncated or corrupt header, or bad metadata JSON, each naming the path.
pub fn read_safetensors(path: &Path) -> Result<(HashMap<String, Tensor>, Option<serde_json::Value>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let shown = path.display().to_string();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| Error::format(shown.clone(), None, format!("not a valid safetensors file: {e}")))?;
    let meta = match header.metadata().as_ref().and_then(|m| m.get(META_KEY)) {
        Some(s) => Some(
            serde_json::from_str(s)
                .map_err(|e| Error::format(shown.clone(), None, format!("bad metadata: {e}")))?,
        ),
        None => None,
    };
    let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
        .map_err(|e| Error::format(shown, None, format!("cannot read tensors: {e}")))?;
    Ok((tensors, meta))
}
