//! Drawing detections on an image: box outlines and labels in a built-in 5x7 bitmap font
//! (upper-case letters, digits and a little punctuation; lower case is drawn upper case).
//! Everything is clipped to the image, so no coordinate can make it fail.
//!
//! ```
//! use dls_vision::detect::BBox;
//! use dls_vision::draw::{draw_rect, text_width};
//! let mut img = image::RgbImage::new(10, 10);
//! draw_rect(&mut img, &BBox::new(2.0, 2.0, 7.0, 7.0), [255, 0, 0], 1);
//! assert_eq!(img.get_pixel(2, 4).0, [255, 0, 0]); // on the left edge
//! assert_eq!(img.get_pixel(4, 4).0, [0, 0, 0]); // inside: untouched
//! assert_eq!(text_width("DOG", 1), 17); // three 5-pixel glyphs and their 1-pixel gaps
//! ```

use image::RgbImage;

use crate::detect::{BBox, Detection};

/// Rows of a 5x7 glyph, bit 4 the leftmost pixel.
fn glyph(c: char) -> [u8; 7] {
    match c.to_ascii_uppercase() {
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        ' ' => [0; 7],
        '.' => [0, 0, 0, 0, 0, 0x0C, 0x0C],
        '-' => [0, 0, 0, 0x1F, 0, 0, 0],
        ':' => [0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        _ => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04], // '?'
    }
}

/// Width in pixels of `text` drawn at `scale` (6 pixels a character, less the last gap).
pub fn text_width(text: &str, scale: u32) -> u32 {
    (text.chars().count() as u32 * 6).saturating_sub(1) * scale
}

/// Height in pixels of a line of text at `scale`.
pub fn text_height(scale: u32) -> u32 {
    7 * scale
}

fn put(img: &mut RgbImage, x: i64, y: i64, color: [u8; 3]) {
    if x >= 0 && y >= 0 && x < i64::from(img.width()) && y < i64::from(img.height()) {
        img.put_pixel(x as u32, y as u32, image::Rgb(color));
    }
}

/// Fills the rectangle `[x, x + w) x [y, y + h)` (clipped).
pub fn fill_rect(img: &mut RgbImage, x: i64, y: i64, w: u32, h: u32, color: [u8; 3]) {
    for yy in y..y + i64::from(h) {
        for xx in x..x + i64::from(w) {
            put(img, xx, yy, color);
        }
    }
}

/// Draws the outline of `b` (pixel coordinates), `thickness` pixels wide, inwards.
pub fn draw_rect(img: &mut RgbImage, b: &BBox, color: [u8; 3], thickness: u32) {
    if !b.is_valid() {
        return;
    }
    let clamp = |v: f32| v.round().clamp(-1e6, 1e6) as i64;
    let (x1, y1, x2, y2) = (clamp(b.x1), clamp(b.y1), clamp(b.x2), clamp(b.y2));
    let (w, h) = ((x2 - x1 + 1).max(1) as u32, (y2 - y1 + 1).max(1) as u32);
    let t = thickness.max(1);
    fill_rect(img, x1, y1, w, t, color);
    fill_rect(img, x1, y2 + 1 - i64::from(t), w, t, color);
    fill_rect(img, x1, y1, t, h, color);
    fill_rect(img, x2 + 1 - i64::from(t), y1, t, h, color);
}

/// Draws `text` with its top-left corner at `(x, y)`, each font pixel `scale` x `scale`.
pub fn draw_text(img: &mut RgbImage, x: i64, y: i64, text: &str, color: [u8; 3], scale: u32) {
    let s = i64::from(scale.max(1));
    for (i, c) in text.chars().enumerate() {
        let left = x + i as i64 * 6 * s;
        for (row, bits) in glyph(c).iter().enumerate() {
            for col in 0..5 {
                if bits & (0x10 >> col) != 0 {
                    fill_rect(img, left + col * s, y + row as i64 * s, s as u32, s as u32, color);
                }
            }
        }
    }
}

/// A distinct, bright colour for class `class` (a fixed palette, cycled).
pub fn class_color(class: usize) -> [u8; 3] {
    const PALETTE: [[u8; 3]; 10] = [
        [230, 25, 75],
        [60, 180, 75],
        [255, 225, 25],
        [0, 130, 200],
        [245, 130, 48],
        [145, 30, 180],
        [70, 240, 240],
        [240, 50, 230],
        [210, 245, 60],
        [250, 190, 190],
    ];
    PALETTE[class % PALETTE.len()]
}

/// Draws each detection's box in its class colour with a label `NAME 0.87` above it (inside
/// the box when there is no room above). `names[class]` names the class; a missing name prints
/// the index.
pub fn draw_detections(img: &mut RgbImage, dets: &[Detection], names: &[String]) {
    let scale = (img.width().max(img.height()) / 640).max(1);
    let thickness = scale + 1;
    for d in dets {
        let color = class_color(d.class);
        draw_rect(img, &d.bbox, color, thickness);
        let name = names.get(d.class).cloned().unwrap_or_else(|| d.class.to_string());
        let label = format!("{name} {:.2}", d.score);
        let (w, h) = (text_width(&label, scale) + 2 * scale, text_height(scale) + 2 * scale);
        let x = d.bbox.x1.round() as i64;
        let top = d.bbox.y1.round() as i64;
        let y = if top >= i64::from(h) { top - i64::from(h) } else { top };
        fill_rect(img, x, y, w, h, color);
        let ink = if u32::from(color[0]) + u32::from(color[1]) + u32::from(color[2]) > 400 {
            [0; 3]
        } else {
            [255; 3]
        };
        draw_text(img, x + i64::from(scale), y + i64::from(scale), &label, ink, scale);
    }
}
