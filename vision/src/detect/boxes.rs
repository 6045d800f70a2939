//! Bounding boxes in the two usual formats and their intersection over union (sheet 20).
//!
//! Corner format ([`BBox`]: `x1, y1, x2, y2`, with `x2 >= x1`, `y2 >= y1`) is what NMS and mAP
//! work on; centre format ([`CenterBox`]: `cx, cy, w, h`) is what YOLO predicts. Coordinates are
//! continuous (pixels or fractions of the image): a box from 0 to 2 is 2 wide, not 3.

/// An axis-aligned box by its corners: top-left `(x1, y1)`, bottom-right `(x2, y2)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BBox {
    /// Left edge.
    pub x1: f32,
    /// Top edge.
    pub y1: f32,
    /// Right edge.
    pub x2: f32,
    /// Bottom edge.
    pub y2: f32,
}

/// An axis-aligned box by its centre and size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CenterBox {
    /// Centre, horizontally.
    pub cx: f32,
    /// Centre, vertically.
    pub cy: f32,
    /// Width.
    pub w: f32,
    /// Height.
    pub h: f32,
}

impl BBox {
    /// The box with corners `(x1, y1)` and `(x2, y2)`.
    pub fn new(x1: f32, y1: f32, x2: f32, y2: f32) -> Self {
        Self { x1, y1, x2, y2 }
    }

    /// Width (0 for an inverted box).
    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }

    /// Height (0 for an inverted box).
    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }

    /// Area, `width * height`.
    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    /// The same box in centre format.
    pub fn to_center(&self) -> CenterBox {
        CenterBox {
            cx: (self.x1 + self.x2) / 2.0,
            cy: (self.y1 + self.y2) / 2.0,
            w: self.x2 - self.x1,
            h: self.y2 - self.y1,
        }
    }

    /// Area of the overlap with `other` (0 when they do not touch).
    pub fn intersection(&self, other: &BBox) -> f32 {
        let w = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let h = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        w * h
    }

    /// Intersection over union with `other`, in `[0, 1]`; 0 when both boxes are empty.
    pub fn iou(&self, other: &BBox) -> f32 {
        let inter = self.intersection(other);
        let union = self.area() + other.area() - inter;
        if union > 0.0 {
            inter / union
        } else {
            0.0
        }
    }

    /// The box clipped to `[0, width] x [0, height]`.
    pub fn clip(&self, width: f32, height: f32) -> BBox {
        BBox {
            x1: self.x1.clamp(0.0, width),
            y1: self.y1.clamp(0.0, height),
            x2: self.x2.clamp(0.0, width),
            y2: self.y2.clamp(0.0, height),
        }
    }

    /// Whether every coordinate is finite and the corners are in order.
    pub fn is_valid(&self) -> bool {
        [self.x1, self.y1, self.x2, self.y2].iter().all(|v| v.is_finite())
            && self.x2 >= self.x1
            && self.y2 >= self.y1
    }
}

impl CenterBox {
    /// The box centred on `(cx, cy)`, `w` wide and `h` high.
    pub fn new(cx: f32, cy: f32, w: f32, h: f32) -> Self {
        Self { cx, cy, w, h }
    }

    /// The same box in corner format.
    pub fn to_corners(&self) -> BBox {
        BBox {
            x1: self.cx - self.w / 2.0,
            y1: self.cy - self.h / 2.0,
            x2: self.cx + self.w / 2.0,
            y2: self.cy + self.h / 2.0,
        }
    }

    /// Intersection over union with `other` (through the corner format).
    pub fn iou(&self, other: &CenterBox) -> f32 {
        self.to_corners().iou(&other.to_corners())
    }
}

/// A scored, classified box: one detection of a detector or one entry of an evaluation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Detection {
    /// Where.
    pub bbox: BBox,
    /// Confidence, usually in `[0, 1]`.
    pub score: f32,
    /// Class index.
    pub class: usize,
}
