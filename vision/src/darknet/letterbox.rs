//! Darknet's letterbox: an image scaled to fit the network input with its aspect ratio kept,
//! centred on a grey (0.5) canvas, and the map that takes boxes back to the original pixels.

use candle_core::{Device, Tensor};
use image::imageops::FilterType;
use image::DynamicImage;

use crate::detect::BBox;
use crate::{Error, Result};

/// Where a letterboxed image sits inside the network input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Letterbox {
    /// Original `(width, height)`.
    pub original: (u32, u32),
    /// Scaled `(width, height)` inside the input.
    pub scaled: (u32, u32),
    /// Offset `(left, top)` of the scaled image inside the input.
    pub offset: (u32, u32),
}

impl Letterbox {
    /// The placement of a `w x h` image in a `size.0 x size.1` input, as darknet computes it
    /// (integer arithmetic: the side that limits the scale fills the input exactly).
    pub fn new(w: u32, h: u32, size: (u32, u32)) -> Self {
        let (nw, nh) = (size.0 as u64, size.1 as u64);
        let (w64, h64) = (w.max(1) as u64, h.max(1) as u64);
        let (sw, sh) =
            if nw * h64 < nh * w64 { (nw, (h64 * nw / w64).max(1)) } else { ((w64 * nh / h64).max(1), nh) };
        let (sw, sh) = (sw as u32, sh as u32);
        Self {
            original: (w, h),
            scaled: (sw, sh),
            offset: (size.0.saturating_sub(sw) / 2, size.1.saturating_sub(sh) / 2),
        }
    }

    /// A box in input pixels mapped back to original pixels, clipped to the image.
    pub fn to_original(&self, b: &BBox) -> BBox {
        let kx = self.original.0 as f32 / self.scaled.0 as f32;
        let ky = self.original.1 as f32 / self.scaled.1 as f32;
        let (ox, oy) = (self.offset.0 as f32, self.offset.1 as f32);
        BBox::new((b.x1 - ox) * kx, (b.y1 - oy) * ky, (b.x2 - ox) * kx, (b.y2 - oy) * ky)
            .clip(self.original.0 as f32, self.original.1 as f32)
    }
}

/// Letterboxes `img` into a `[3, size.1, size.0]` RGB tensor in `[0, 1]` (bilinear scaling,
/// grey 0.5 borders).
///
/// # Errors
/// [`Error::Invalid`] for an empty image or input size.
pub fn letterbox(img: &DynamicImage, size: (u32, u32)) -> Result<(Tensor, Letterbox)> {
    if img.width() == 0 || img.height() == 0 || size.0 == 0 || size.1 == 0 {
        return Err(Error::Invalid {
            what: "letterbox".into(),
            message: format!("cannot fit {}x{} into {}x{}", img.width(), img.height(), size.0, size.1),
        });
    }
    let lb = Letterbox::new(img.width(), img.height(), size);
    let scaled = image::imageops::resize(&img.to_rgb8(), lb.scaled.0, lb.scaled.1, FilterType::Triangle);
    let (w, h) = (size.0 as usize, size.1 as usize);
    let mut buf = vec![0.5f32; 3 * h * w];
    for (x, y, p) in scaled.enumerate_pixels() {
        let (x, y) = ((x + lb.offset.0) as usize, (y + lb.offset.1) as usize);
        for c in 0..3 {
            buf[c * h * w + y * w + x] = f32::from(p.0[c]) / 255.0;
        }
    }
    Ok((Tensor::from_vec(buf, (3, h, w), &Device::Cpu)?, lb))
}
