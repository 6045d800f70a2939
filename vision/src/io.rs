//! Images in and out (sheets 14–22 work on real photos): decode PNG or JPEG into `[c, h, w]` f32
//! tensors scaled to `[0, 1]`, normalise per channel, and write tensors back as 8-bit PNG.
//!
//! Decoding is bounded by [`DecodeLimits`]: a file whose header declares a huge image is
//! refused before any pixel buffer is allocated.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use dls_vision::io::{decode_image, encode_png, ColorMode, DecodeLimits};
//! let t = Tensor::new(&[[[0f32, 0.5], [1.0, 0.25]]], &Device::Cpu)?; // [1, 2, 2]
//! let png = encode_png(&t, "example")?;
//! let back = decode_image(&png, "example", ColorMode::Gray, &DecodeLimits::default())?;
//! assert_eq!(back.dims(), &[1, 2, 2]);
//! assert!((back.flatten_all()?.to_vec1::<f32>()?[1] - 128.0 / 255.0).abs() < 1e-6);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::Cursor;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use image::{DynamicImage, ImageError, ImageReader};

use crate::{Error, Result};

/// Per-channel mean of ImageNet (RGB), as torchvision's pretrained models expect.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// Per-channel standard deviation of ImageNet (RGB).
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Bounds checked against an image's header before its pixels are decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted width in pixels.
    pub max_width: u32,
    /// Largest accepted height in pixels.
    pub max_height: u32,
    /// Largest allocation the decoder may make, in bytes.
    pub max_bytes: u64,
}

impl Default for DecodeLimits {
    /// 16384 x 16384 pixels and 512 MiB.
    fn default() -> Self {
        Self { max_width: 16_384, max_height: 16_384, max_bytes: 512 << 20 }
    }
}

/// Channels of a decoded image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorMode {
    /// Three channels, red, green, blue.
    Rgb,
    /// One luminance channel.
    Gray,
}

fn image_error(name: &str, e: ImageError) -> Error {
    let message = match &e {
        ImageError::Limits(_) => format!("exceeds the decoding limits ({e})"),
        _ => e.to_string(),
    };
    Error::Image { name: name.to_string(), message }
}

/// Decodes PNG or JPEG `bytes` into `[c, h, w]` f32 in `[0, 1]` (`c` = 3 or 1 by `mode`).
/// `name` only labels errors.
///
/// # Errors
/// [`Error::Image`] for an unknown format, a corrupt file, or one over `limits`.
pub fn decode_image(bytes: &[u8], name: &str, mode: ColorMode, limits: &DecodeLimits) -> Result<Tensor> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::Image { name: name.to_string(), message: e.to_string() })?;
    let mut l = image::Limits::default();
    l.max_image_width = Some(limits.max_width);
    l.max_image_height = Some(limits.max_height);
    l.max_alloc = Some(limits.max_bytes);
    reader.limits(l);
    let img = reader.decode().map_err(|e| image_error(name, e))?;
    image_to_tensor(&img, mode)
}

/// Reads and decodes the image file at `path` (see [`decode_image`]).
///
/// # Errors
/// [`Error::Io`] when the file cannot be read (including one larger than `limits.max_bytes`),
/// then as [`decode_image`].
pub fn read_image(path: impl AsRef<Path>, mode: ColorMode, limits: &DecodeLimits) -> Result<Tensor> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let len = std::fs::metadata(path).map_err(|source| Error::Io { path: name.clone(), source })?.len();
    if len > limits.max_bytes {
        return Err(Error::Image {
            name,
            message: format!("file of {len} bytes exceeds {}", limits.max_bytes),
        });
    }
    let bytes = std::fs::read(path).map_err(|source| Error::Io { path: name.clone(), source })?;
    decode_image(&bytes, &name, mode, limits)
}

/// Converts a decoded image to `[c, h, w]` f32 in `[0, 1]`.
///
/// # Errors
/// Candle errors (none in practice: the buffer always matches the shape).
pub fn image_to_tensor(img: &DynamicImage, mode: ColorMode) -> Result<Tensor> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (raw, c) = match mode {
        ColorMode::Rgb => (img.to_rgb8().into_raw(), 3),
        ColorMode::Gray => (img.to_luma8().into_raw(), 1),
    };
    let hwc = Tensor::from_vec(raw, (h, w, c), &Device::Cpu)?;
    Ok((hwc.permute((2, 0, 1))?.to_dtype(DType::F32)? / 255.0)?)
}

/// `(x - mean) / std` per channel of a `[c, h, w]` or `[n, c, h, w]` tensor.
///
/// # Errors
/// [`Error::Invalid`] when `mean` or `std` does not have one value per channel or a std is not > 0.
pub fn normalize(x: &Tensor, mean: &[f32], std: &[f32]) -> Result<Tensor> {
    let rank = x.rank();
    let c = if rank >= 3 { x.dim(rank - 3)? } else { 0 };
    if rank < 3 || mean.len() != c || std.len() != c || std.iter().any(|s| s.is_nan() || *s <= 0.0) {
        return Err(Error::Invalid {
            what: "normalisation".into(),
            message: format!("{} means and {} stds (> 0) for an input {:?}", mean.len(), std.len(), x.dims()),
        });
    }
    let shape = [c, 1, 1];
    let m = Tensor::from_slice(mean, &shape[..], x.device())?.to_dtype(x.dtype())?;
    let s = Tensor::from_slice(std, &shape[..], x.device())?.to_dtype(x.dtype())?;
    Ok(x.broadcast_sub(&m)?.broadcast_div(&s)?)
}

/// Encodes `[c, h, w]` (c = 1 or 3, values clamped to `[0, 1]`) as 8-bit PNG bytes.
///
/// # Errors
/// [`Error::Invalid`] for another shape; [`Error::Image`] if encoding fails.
pub fn encode_png(x: &Tensor, name: &str) -> Result<Vec<u8>> {
    let dims = x.dims().to_vec();
    let (c, h, w) = match dims[..] {
        [c @ (1 | 3), h, w] if h > 0 && w > 0 => (c, h, w),
        _ => {
            return Err(Error::Invalid {
                what: "image tensor".into(),
                message: format!("expected [1 or 3, h, w], got {dims:?}"),
            })
        }
    };
    let pixels: Vec<u8> = (x.to_dtype(DType::F32)?.clamp(0f32, 1f32)? * 255.0)?
        .round()?
        .permute((1, 2, 0))?
        .flatten_all()?
        .to_vec1::<f32>()?
        .into_iter()
        .map(|v| v as u8)
        .collect();
    let too_big =
        |_| Error::Invalid { what: "image tensor".into(), message: format!("{h}x{w} is too large") };
    let (w32, h32) = (u32::try_from(w).map_err(too_big)?, u32::try_from(h).map_err(too_big)?);
    let img = if c == 3 {
        image::RgbImage::from_raw(w32, h32, pixels).map(DynamicImage::ImageRgb8)
    } else {
        image::GrayImage::from_raw(w32, h32, pixels).map(DynamicImage::ImageLuma8)
    };
    let img =
        img.ok_or_else(|| Error::Image { name: name.to_string(), message: "buffer size mismatch".into() })?;
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).map_err(|e| image_error(name, e))?;
    Ok(out.into_inner())
}

/// Writes `x` (see [`encode_png`]) to `path` as PNG, atomically.
///
/// # Errors
/// As [`encode_png`], and [`Error::Foundations`] for I/O failures (naming the path).
pub fn write_png(x: &Tensor, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let bytes = encode_png(x, &path.display().to_string())?;
    dls_foundations::checkpoint::write_atomically(path, &bytes)?;
    Ok(())
}
