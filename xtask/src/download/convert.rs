//! Turning the hub's parquet image data sets into the files our crates load.
//!
//! A hub image data set is a parquet file whose rows hold an image struct (`{bytes, path}`, the
//! bytes a PNG) and an integer `label`. [`read_images`] decodes every row (greyscale or RGB);
//! [`write_idx`] writes MNIST's IDX files and [`write_cifar`] the CIFAR-10 binary batches. Every
//! output is written to a temporary sibling and renamed, so a half-written file never appears.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

/// Decoded images of one split, all the same size, pixels interleaved (`h, w, c` per image).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Images {
    /// Image width in pixels.
    pub width: usize,
    /// Image height in pixels.
    pub height: usize,
    /// 1 (greyscale) or 3 (RGB).
    pub channels: usize,
    /// `n * height * width * channels` bytes, image after image, rows top to bottom.
    pub pixels: Vec<u8>,
    /// One label per image.
    pub labels: Vec<u8>,
}

impl Images {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// Reads a parquet file of `{image_column: {bytes: <PNG or JPEG>}, label: <int>}` rows, decoding
/// each image to `channels` (1: greyscale, 3: RGB).
///
/// # Errors
/// An unreadable or malformed parquet file; a row without the image struct, its bytes or an integer
/// label; an undecodable image; an image whose size differs from the first one's; a label outside
/// 0..=255; no rows at all. Each names the file and, where it applies, the row.
pub fn read_images(path: &Path, image_column: &str, channels: usize) -> Result<Images> {
    if channels != 1 && channels != 3 {
        bail!("channels must be 1 or 3, got {channels}");
    }
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let reader =
        SerializedFileReader::new(file).with_context(|| format!("reading parquet {}", path.display()))?;
    let rows = reader.metadata().file_metadata().num_rows();
    let rows = usize::try_from(rows).with_context(|| format!("{}: row count {rows}", path.display()))?;
    let mut out =
        Images { width: 0, height: 0, channels, pixels: Vec::new(), labels: Vec::with_capacity(rows) };
    let iter = reader.get_row_iter(None).with_context(|| format!("reading rows of {}", path.display()))?;
    for (i, row) in iter.enumerate() {
        let at = || format!("{} row {i}", path.display());
        let row = row.with_context(at)?;
        let mut image = None;
        let mut label = None;
        for (name, field) in row.get_column_iter() {
            if name == image_column {
                image = image_bytes(field);
            } else if name == "label" {
                label = integer(field);
            }
        }
        let Some(bytes) = image else {
            bail!("{}: no `{image_column}` struct with PNG `bytes`", at());
        };
        let Some(label) = label else {
            bail!("{}: no integer `label`", at());
        };
        let label =
            u8::try_from(label).map_err(|_| anyhow::anyhow!("{}: label {label} outside 0..=255", at()))?;
        let decoded =
            image::load_from_memory(bytes).with_context(|| format!("{}: decoding the image", at()))?;
        let (w, h) = (decoded.width() as usize, decoded.height() as usize);
        if out.labels.is_empty() {
            out.width = w;
            out.height = h;
            out.pixels.reserve(rows.saturating_mul(w * h * channels));
        } else if (w, h) != (out.width, out.height) {
            bail!("{}: image is {w}x{h}, the first one was {}x{}", at(), out.width, out.height);
        }
        match channels {
            1 => out.pixels.extend_from_slice(decoded.to_luma8().as_raw()),
            _ => out.pixels.extend_from_slice(decoded.to_rgb8().as_raw()),
        }
        out.labels.push(label);
    }
    if out.is_empty() {
        bail!("{}: no rows", path.display());
    }
    Ok(out)
}

fn image_bytes(field: &Field) -> Option<&[u8]> {
    let Field::Group(group) = field else { return None };
    group.get_column_iter().find_map(|(name, f)| match f {
        Field::Bytes(b) if name == "bytes" => Some(b.data()),
        _ => None,
    })
}

fn integer(field: &Field) -> Option<i64> {
    match *field {
        Field::Byte(v) => Some(v.into()),
        Field::Short(v) => Some(v.into()),
        Field::Int(v) => Some(v.into()),
        Field::Long(v) => Some(v),
        Field::UByte(v) => Some(v.into()),
        Field::UShort(v) => Some(v.into()),
        Field::UInt(v) => Some(v.into()),
        Field::ULong(v) => i64::try_from(v).ok(),
        _ => None,
    }
}

/// The bytes of an unsigned-byte IDX file with these dimensions.
///
/// # Errors
/// A dimension past `u32::MAX`, or `data` not holding `product(dims)` bytes.
pub fn idx_bytes(dims: &[usize], data: &[u8]) -> Result<Vec<u8>> {
    if dims.iter().product::<usize>() != data.len() || dims.is_empty() || dims.len() > 4 {
        bail!("idx: {} bytes do not fit dimensions {dims:?}", data.len());
    }
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&u32::try_from(d).with_context(|| format!("idx dimension {d}"))?.to_be_bytes());
    }
    out.extend_from_slice(data);
    Ok(out)
}

/// Writes `images` as `<prefix>-images-idx3-ubyte` and `<prefix>-labels-idx1-ubyte` in `dir`
/// (`prefix` is `train` or `t10k`), returning the two paths.
///
/// # Errors
/// Images that are not greyscale; a file that cannot be written.
pub fn write_idx(dir: &Path, prefix: &str, images: &Images) -> Result<Vec<PathBuf>> {
    if images.channels != 1 {
        bail!("IDX output needs greyscale images, got {} channels", images.channels);
    }
    let image_path = dir.join(format!("{prefix}-images-idx3-ubyte"));
    let label_path = dir.join(format!("{prefix}-labels-idx1-ubyte"));
    let dims = [images.len(), images.height, images.width];
    write_atomically(&image_path, &idx_bytes(&dims, &images.pixels)?)?;
    write_atomically(&label_path, &idx_bytes(&[images.len()], &images.labels)?)?;
    Ok(vec![image_path, label_path])
}

/// Images per CIFAR-10 batch file.
pub const CIFAR_BATCH: usize = 10_000;

/// Writes RGB `images` in the CIFAR-10 binary format: `test_batch.bin` when `test`, else
/// `data_batch_1.bin`, `data_batch_2.bin`, ... of [`CIFAR_BATCH`] records each (the last may be
/// shorter). A record is the label byte, then the red, green and blue planes (row-major).
///
/// # Errors
/// Images that are not RGB; a file that cannot be written.
pub fn write_cifar(dir: &Path, test: bool, images: &Images) -> Result<Vec<PathBuf>> {
    if images.channels != 3 {
        bail!("CIFAR output needs RGB images, got {} channels", images.channels);
    }
    let plane = images.width * images.height;
    if images.pixels.len() != images.len() * 3 * plane {
        bail!("{} pixel bytes for {} RGB images of {plane} pixels", images.pixels.len(), images.len());
    }
    let mut paths = Vec::new();
    let chunks: Vec<(usize, usize)> =
        (0..images.len()).step_by(CIFAR_BATCH).map(|s| (s, (s + CIFAR_BATCH).min(images.len()))).collect();
    for (k, &(start, end)) in chunks.iter().enumerate() {
        let mut out = Vec::with_capacity((end - start) * (1 + 3 * plane));
        for i in start..end {
            out.push(images.labels[i]);
            let px = &images.pixels[i * 3 * plane..(i + 1) * 3 * plane];
            for c in 0..3 {
                out.extend(px.iter().skip(c).step_by(3));
            }
        }
        let name = if test { "test_batch.bin".to_string() } else { format!("data_batch_{}.bin", k + 1) };
        let path = dir.join(name);
        write_atomically(&path, &out)?;
        paths.push(path);
    }
    Ok(paths)
}

/// Writes `bytes` to `path` through a temporary sibling and a rename.
///
/// # Errors
/// The folder or file cannot be created, written or renamed.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let name = path.file_name().with_context(|| format!("{} has no file name", path.display()))?;
    let tmp = parent.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()));
    }
    Ok(())
}

/// Checks a darknet `.weights` file: a header of three int32 (major, minor, revision) and the
/// images-seen count (int64 from version 0.2 on, int32 before), then exactly `floats` float32
/// values, as the network's cfg asks.
///
/// # Errors
/// A file that cannot be read, is shorter than its header, or whose body is not `floats` values
/// (expected and found counts named).
pub fn check_darknet_weights(path: &Path, floats: u64) -> Result<()> {
    let mut file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let len = file.metadata().with_context(|| format!("reading {}", path.display()))?.len();
    let mut head = [0u8; 12];
    std::io::Read::read_exact(&mut file, &mut head)
        .with_context(|| format!("{}: {len} bytes, shorter than a darknet header", path.display()))?;
    let word =
        |i: usize| i32::from_le_bytes([head[4 * i], head[4 * i + 1], head[4 * i + 2], head[4 * i + 3]]);
    let (major, minor) = (i64::from(word(0)), i64::from(word(1)));
    let header = if major * 10 + minor >= 2 && major < 1000 && minor < 1000 { 20 } else { 16 };
    let body = len.saturating_sub(header);
    if len < header || body != floats * 4 {
        bail!(
            "{}: darknet weights {major}.{minor} expected {floats} floats after a {header}-byte header \
             ({} bytes), found {} floats ({len} bytes)",
            path.display(),
            header + floats * 4,
            body as f64 / 4.0
        );
    }
    Ok(())
}
