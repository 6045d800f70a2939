//! The IDX format of MNIST (raw or gzip), read defensively, and an MNIST folder loader.
//!
//! An IDX file is `00 00 <type> <ndim>`, then `ndim` big-endian u32 dimensions, then the data.
//! The header is checked against the real length of the data before anything is allocated:
//! truncated files, trailing bytes, overflowing dimensions and gzip streams that decompress to
//! less (or more) than their header claims are all [`Error::Format`] naming the file.
//!
//! ```
//! use dls_foundations::data::{encode_idx, parse_idx, IdxArray};
//! # fn main() -> dls_foundations::Result<()> {
//! let a = IdxArray { dims: vec![2, 3], data: vec![1, 2, 3, 4, 5, 6] };
//! let bytes = encode_idx(&a)?;
//! assert_eq!(bytes.len(), 4 + 2 * 4 + 6);
//! assert_eq!(parse_idx(&bytes, "in memory")?, a);
//! # Ok(())
//! # }
//! ```

use std::io::Read;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use flate2::read::GzDecoder;

use crate::data::dataset::Dataset;
use crate::error::{Error, Result};

/// The IDX type byte for unsigned bytes, the only element type supported.
pub const IDX_U8: u8 = 0x08;

/// The most any deflate stream can expand (1032:1), with a margin: a gzip that declares more
/// decompressed bytes than `compressed length * GZIP_MAX_RATIO` cannot be honest.
const GZIP_MAX_RATIO: u64 = 1100;

/// An n-dimensional array of unsigned bytes read from an IDX file (row-major).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// The dimensions, outermost first (MNIST images: `[n, 28, 28]`; labels: `[n]`).
    pub dims: Vec<usize>,
    /// The elements, `dims.iter().product()` of them.
    pub data: Vec<u8>,
}

impl IdxArray {
    /// The array as a u8 tensor of shape `dims` on `device`.
    ///
    /// # Errors
    /// [`Error::Shape`] if `data` does not hold `product(dims)` elements.
    pub fn to_tensor(&self, device: &Device) -> Result<Tensor> {
        let want = checked_product(&self.dims);
        if want != Some(self.data.len()) {
            return Err(Error::shape(
                "idx array data",
                format!("{want:?} elements for {:?}", self.dims),
                self.data.len(),
            ));
        }
        Ok(Tensor::from_slice(&self.data, self.dims.as_slice(), device)?)
    }
}

/// Reads an IDX file, raw or gzip-compressed (detected by the `1f 8b` magic, not the name).
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; [`Error::Format`] naming the file if its content is
/// not a well-formed unsigned-byte IDX array (see [`parse_idx`]).
pub fn read_idx(path: impl AsRef<Path>) -> Result<IdxArray> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_idx(&bytes, &path.display().to_string())
}

/// Parses IDX bytes, raw or gzip-compressed; `name` is used in error messages.
///
/// # Errors
/// [`Error::Format`] naming `name` for: a bad magic, an element type other than unsigned byte,
/// `ndim` outside 1..=4, a short header, dimensions whose product overflows, data shorter or
/// longer than the header declares, and a corrupt or truncated gzip stream.
pub fn parse_idx(bytes: &[u8], name: &str) -> Result<IdxArray> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        parse_gzip(bytes, name)
    } else {
        let header = parse_header(bytes, name)?;
        let data = bytes.get(header.len..).unwrap_or(&[]);
        check_data_len(name, &header, data.len() as u64, false)?;
        Ok(IdxArray { dims: header.dims, data: data.to_vec() })
    }
}

/// The IDX bytes (uncompressed) of `a`.
///
/// # Errors
/// [`Error::Invalid`] if `a` has 0 or more than 4 dimensions, a dimension past `u32::MAX`, or
/// `data` does not hold `product(dims)` elements.
pub fn encode_idx(a: &IdxArray) -> Result<Vec<u8>> {
    if a.dims.is_empty() || a.dims.len() > 4 {
        return Err(Error::invalid("idx dims", format!("need 1 to 4 dimensions, got {:?}", a.dims)));
    }
    if checked_product(&a.dims) != Some(a.data.len()) {
        return Err(Error::invalid("idx data", format!("{} bytes for dims {:?}", a.data.len(), a.dims)));
    }
    let mut out = vec![0, 0, IDX_U8, a.dims.len() as u8];
    for &d in &a.dims {
        let d = u32::try_from(d).map_err(|_| Error::invalid("idx dims", format!("{d} exceeds u32::MAX")))?;
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(&a.data);
    Ok(out)
}

/// Loads MNIST (or Fashion-MNIST) from a folder holding the four standard files.
///
/// Each of `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte` and
/// `t10k-labels-idx1-ubyte` is found with or without a `.gz` suffix (the `train-images.idx3-ubyte`
/// spelling is accepted too). Returns `(train, test)` with `x` f32 `[n, 1, h, w]` scaled to
/// `[0, 1]` and `y` u32 `[n]`.
///
/// # Errors
/// [`Error::Io`] naming the expected file if one is missing or unreadable; [`Error::Format`] if
/// a file is malformed, images are not `[n, h, w]`, labels not `[n]`, or the counts disagree.
pub fn load_mnist_dir(dir: impl AsRef<Path>) -> Result<(Dataset, Dataset)> {
    let dir = dir.as_ref();
    let train = load_mnist_pair(dir, "train")?;
    let test = load_mnist_pair(dir, "t10k")?;
    Ok((train, test))
}

fn load_mnist_pair(dir: &Path, prefix: &str) -> Result<Dataset> {
    let images_path = find_mnist_file(dir, prefix, "images", 3)?;
    let labels_path = find_mnist_file(dir, prefix, "labels", 1)?;
    let images = read_idx(&images_path)?;
    let labels = read_idx(&labels_path)?;
    let (n, h, w) = match images.dims.as_slice() {
        &[n, h, w] => (n, h, w),
        other => {
            let msg = format!("expected images of shape [n, height, width], got {other:?}");
            return Err(Error::format(images_path.display().to_string(), Some(3), msg));
        }
    };
    if labels.dims.as_slice() != [n] {
        let msg = format!("expected labels of shape [{n}] to match {n} images, got {:?}", labels.dims);
        return Err(Error::format(labels_path.display().to_string(), Some(3), msg));
    }
    let cpu = Device::Cpu;
    let x =
        Tensor::from_vec(images.data, (n, 1, h, w), &cpu)?.to_dtype(DType::F32)?.affine(1.0 / 255.0, 0.0)?;
    let y = Tensor::from_vec(labels.data.iter().map(|&b| u32::from(b)).collect::<Vec<u32>>(), n, &cpu)?;
    Dataset::new(x, y)
}

fn find_mnist_file(dir: &Path, prefix: &str, kind: &str, ndim: u8) -> Result<PathBuf> {
    let hyphen = format!("{prefix}-{kind}-idx{ndim}-ubyte");
    let dot = format!("{prefix}-{kind}.idx{ndim}-ubyte");
    for stem in [&hyphen, &dot] {
        for suffix in ["", ".gz"] {
            let p = dir.join(format!("{stem}{suffix}"));
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    let msg = format!("expected {hyphen} or {hyphen}.gz in {}", dir.display());
    Err(Error::io(dir.join(&hyphen), std::io::Error::new(std::io::ErrorKind::NotFound, msg)))
}

/// A parsed IDX header.
struct Header {
    dims: Vec<usize>,
    /// Header length in bytes, `4 + 4 * ndim`.
    len: usize,
    /// Number of data bytes the header declares.
    data_len: u64,
}

fn parse_header(bytes: &[u8], name: &str) -> Result<Header> {
    let fmt = |offset: usize, msg: String| Error::format(name, Some(offset as u64), msg);
    let Some(&[m0, m1, elem_type, ndim]) = bytes.get(..4) else {
        let msg = format!("truncated header: {} bytes, an IDX header needs at least 4", bytes.len());
        return Err(fmt(bytes.len(), msg));
    };
    if m0 != 0 || m1 != 0 {
        return Err(fmt(0, format!("bad magic {m0:02x} {m1:02x}: an IDX file starts with 00 00")));
    }
    match elem_type {
        IDX_U8 => {}
        t => {
            let msg = match idx_type_name(t) {
                Some(kind) => format!(
                    "unsupported element type 0x{t:02x} ({kind}): only unsigned byte (0x08) is supported"
                ),
                None => format!("unknown element type byte 0x{t:02x} (expected 0x08, unsigned byte)"),
            };
            return Err(fmt(2, msg));
        }
    }
    let ndim = usize::from(ndim);
    if !(1..=4).contains(&ndim) {
        return Err(fmt(3, format!("number of dimensions is {ndim}, expected 1 to 4")));
    }
    let len = 4 + 4 * ndim;
    let raw = bytes.get(4..len).ok_or_else(|| {
        fmt(bytes.len(), format!("truncated header: {} bytes, {ndim} dimensions need {len}", bytes.len()))
    })?;
    let dims: Vec<usize> = raw
        .chunks_exact(4)
        .filter_map(|c| <[u8; 4]>::try_from(c).ok())
        .map(|b| u32::from_be_bytes(b) as usize)
        .collect();
    let data_len = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .filter(|&p| usize::try_from(p).is_ok())
        .ok_or_else(|| {
            fmt(4, format!("dimensions {dims:?} overflow: their product does not fit in the address space"))
        })?;
    Ok(Header { dims, len, data_len })
}

/// Checks the data length; `capped` when `got` stops one byte past the declared length (gzip).
fn check_data_len(name: &str, header: &Header, got: u64, capped: bool) -> Result<()> {
    if got == header.data_len {
        return Ok(());
    }
    let (what, found) = if got < header.data_len {
        ("truncated data", format!("found {got}"))
    } else {
        ("trailing data", if capped { "found more".to_string() } else { format!("found {got}") })
    };
    let msg = format!(
        "{what}: dimensions {:?} declare {} data bytes after the {}-byte header, {found}",
        header.dims, header.data_len, header.len
    );
    Err(Error::format(name, Some(header.len as u64), msg))
}

fn parse_gzip(bytes: &[u8], name: &str) -> Result<IdxArray> {
    let gz_err =
        |e: std::io::Error| Error::format(name, None, format!("corrupt or truncated gzip stream: {e}"));
    let mut dec = GzDecoder::new(bytes);
    let mut header_bytes = read_up_to(&mut dec, 4).map_err(gz_err)?;
    if let &[_, _, _, ndim] = header_bytes.as_slice() {
        let dims = read_up_to(&mut dec, 4 * u64::from(ndim.min(4))).map_err(gz_err)?;
        header_bytes.extend_from_slice(&dims);
    }
    let header = parse_header(&header_bytes, name)?;
    let cap = (bytes.len() as u64).saturating_mul(GZIP_MAX_RATIO);
    if header.data_len > cap {
        let msg = format!(
            "dimensions {:?} declare {} data bytes, more than a {}-byte gzip stream can hold",
            header.dims,
            header.data_len,
            bytes.len()
        );
        return Err(Error::format(name, Some(header.len as u64), msg));
    }
    // Read at most one byte past the declared size: enough to detect trailing data, never more.
    // Asking for that extra byte also makes the decoder reach the gzip trailer and verify its
    // CRC-32 and length.
    let mut data = Vec::with_capacity(header.data_len.min(1 << 24) as usize);
    dec.take(header.data_len.saturating_add(1)).read_to_end(&mut data).map_err(gz_err)?;
    check_data_len(name, &header, data.len() as u64, true)?;
    Ok(IdxArray { dims: header.dims, data })
}

/// Reads up to `n` bytes, fewer only if the stream ends first.
fn read_up_to(r: &mut impl Read, n: u64) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    r.take(n).read_to_end(&mut out)?;
    Ok(out)
}

/// The name of an IDX element type other than unsigned byte.
fn idx_type_name(t: u8) -> Option<&'static str> {
    match t {
        0x09 => Some("signed byte"),
        0x0B => Some("i16"),
        0x0C => Some("i32"),
        0x0D => Some("f32"),
        0x0E => Some("f64"),
        _ => None,
    }
}

fn checked_product(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}
