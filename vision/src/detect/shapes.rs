//! A generated detection data set: coloured rectangles, ellipses and triangles on noisy
//! backgrounds, each image with its ground-truth boxes. Small, seeded and exactly labelled, it is
//! what a YOLO-style detector can be trained on from scratch in minutes on a CPU.
//!
//! ```
//! use dls_vision::detect::shapes::{generate, ShapesConfig};
//! let set = generate(4, &ShapesConfig::default(), 7)?;
//! assert_eq!(set.images.dims(), &[4, 3, 64, 64]);
//! assert!(set.boxes.iter().all(|b| (1..=3).contains(&b.len())));
//! # Ok::<(), dls_vision::Error>(())
//! ```

use candle_core::{Device, Tensor};

use super::boxes::CenterBox;
use super::yolo::Truth;
use crate::{Error, Result};

/// The shape classes, in class-index order.
pub const SHAPE_NAMES: [&str; 3] = ["rectangle", "ellipse", "triangle"];

/// Settings of [`generate`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShapesConfig {
    /// Image width and height in pixels.
    pub size: usize,
    /// Most shapes per image (at least one is drawn).
    pub max_objects: usize,
    /// Smallest shape side in pixels.
    pub min_side: usize,
    /// Largest shape side in pixels.
    pub max_side: usize,
    /// Amplitude of the background's uniform per-pixel noise (values in `[0, 1]`).
    pub noise: f32,
    /// Largest IoU a new shape's box may have with one already placed.
    pub max_overlap: f32,
}

impl Default for ShapesConfig {
    /// 64x64 images, 1-3 shapes of 12-32 pixels, noise 0.15, overlap at most 0.1.
    fn default() -> Self {
        Self { size: 64, max_objects: 3, min_side: 12, max_side: 32, noise: 0.15, max_overlap: 0.1 }
    }
}

/// Generated images and their boxes.
#[derive(Clone, Debug)]
pub struct ShapesDataset {
    /// `[n, 3, size, size]` RGB in `[0, 1]`.
    pub images: Tensor,
    /// Boxes of each image (pixel coordinates, class index into [`SHAPE_NAMES`]).
    pub boxes: Vec<Vec<Truth>>,
}

/// SplitMix64: a tiny, well-mixed generator, enough for drawing pictures.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform integer in `[lo, hi]`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }
}

/// Whether pixel centre `(x, y)` lies inside shape `class` filling the box `(x1, y1)-(x2, y2)`.
fn inside(class: usize, x: f32, y: f32, b: (f32, f32, f32, f32)) -> bool {
    let (x1, y1, x2, y2) = b;
    match class {
        0 => true,
        1 => {
            let (cx, cy, rx, ry) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0, (x2 - x1) / 2.0, (y2 - y1) / 2.0);
            ((x - cx) / rx).powi(2) + ((y - cy) / ry).powi(2) <= 1.0
        }
        // Apex at the top centre, base along the bottom edge.
        _ => {
            let t = (y - y1) / (y2 - y1);
            let half = t * (x2 - x1) / 2.0;
            (x - (x1 + x2) / 2.0).abs() <= half
        }
    }
}

/// Generates `n` images with `seed`: a random background colour with uniform noise, then 1 to
/// `max_objects` shapes of random class, size, place and a colour far from the background.
///
/// # Errors
/// [`Error::Invalid`] when the sides do not fit the image or are out of order, `max_objects` is 0,
/// or `noise` / `max_overlap` is outside `[0, 1]`.
pub fn generate(n: usize, cfg: &ShapesConfig, seed: u64) -> Result<ShapesDataset> {
    let ok = cfg.max_objects > 0
        && cfg.min_side >= 2
        && cfg.min_side <= cfg.max_side
        && cfg.max_side <= cfg.size
        && (0.0..=1.0).contains(&cfg.noise)
        && (0.0..=1.0).contains(&cfg.max_overlap);
    if !ok {
        return Err(Error::Invalid { what: "shapes config".into(), message: format!("{cfg:?}") });
    }
    let s = cfg.size;
    let mut rng = SplitMix(seed);
    let mut pixels = Vec::with_capacity(n * 3 * s * s);
    let mut boxes = Vec::with_capacity(n);
    for _ in 0..n {
        let bg: [f32; 3] = [rng.unit() * 0.6, rng.unit() * 0.6, rng.unit() * 0.6];
        let mut img = vec![0f32; 3 * s * s];
        for (i, v) in img.iter_mut().enumerate() {
            *v = (bg[i / (s * s)] + (rng.unit() - 0.5) * cfg.noise).clamp(0.0, 1.0);
        }
        let want = rng.range(1, cfg.max_objects);
        let mut placed: Vec<Truth> = Vec::new();
        for _ in 0..want * 20 {
            if placed.len() == want {
                break;
            }
            let (w, h) = (rng.range(cfg.min_side, cfg.max_side), rng.range(cfg.min_side, cfg.max_side));
            let (x1, y1) = (rng.range(0, s - w), rng.range(0, s - h));
            let class = rng.range(0, 2);
            let bbox =
                CenterBox::new(x1 as f32 + w as f32 / 2.0, y1 as f32 + h as f32 / 2.0, w as f32, h as f32);
            if placed.iter().any(|p| p.bbox.iou(&bbox) > cfg.max_overlap) {
                continue;
            }
            // A bright colour: each channel from the half of [0, 1] away from the background.
            let color: Vec<f32> =
                bg.iter().map(|&b| if b < 0.5 { 0.6 + 0.4 * rng.unit() } else { 0.4 * rng.unit() }).collect();
            let corners = (x1 as f32, y1 as f32, (x1 + w) as f32, (y1 + h) as f32);
            for y in y1..y1 + h {
                for x in x1..x1 + w {
                    if inside(class, x as f32 + 0.5, y as f32 + 0.5, corners) {
                        for (c, v) in color.iter().enumerate() {
                            img[c * s * s + y * s + x] = *v;
                        }
                    }
                }
            }
            placed.push(Truth { bbox, class });
        }
        pixels.extend(img);
        boxes.push(placed);
    }
    Ok(ShapesDataset { images: Tensor::from_vec(pixels, (n, 3, s, s), &Device::Cpu)?, boxes })
}
