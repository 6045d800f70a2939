//! Learning curves as SVG (the pictures of sheets 02 and 05: cost per epoch, training versus
//! dev error).
//!
//! Drawn with plotters' SVG backend into memory and written atomically, so a reader never sees
//! a half-written file.
//!
//! ```
//! use dls_foundations::plot::learning_curves;
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("cost.svg");
//! let train = [0.69, 0.41, 0.30, 0.25];
//! let dev = [0.70, 0.47, 0.39, 0.37];
//! learning_curves(&path, "cost", "epoch", &[("train", &train[..]), ("dev", &dev[..])])?;
//! let svg = std::fs::read_to_string(&path)?;
//! assert!(svg.starts_with("<svg") && svg.contains("train") && svg.contains("dev"));
//! assert_eq!(svg.matches("<circle").count(), 8); // a dot per point
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::Path;

use plotters::prelude::*;

use crate::checkpoint::write_atomically;
use crate::{Error, Result};

/// Width and height of the picture in pixels.
const SIZE: (u32, u32) = (800, 500);

/// Splits a series into runs of consecutive finite values, as `(epoch, value)` points
/// with epochs counted from 1.
fn segments(values: &[f64]) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut run = Vec::new();
    for (i, &v) in values.iter().enumerate() {
        if v.is_finite() {
            run.push(((i + 1) as f64, v));
        } else if !run.is_empty() {
            out.push(std::mem::take(&mut run));
        }
    }
    if !run.is_empty() {
        out.push(run);
    }
    out
}

/// The y range covering every finite value, padded by 5 % (or by 1 around a constant).
fn y_range(series: &[(&str, &[f64])]) -> Option<(f64, f64)> {
    let finite = series.iter().flat_map(|(_, v)| v.iter().copied()).filter(|v| v.is_finite());
    let (lo, hi) = finite.fold(None, |acc: Option<(f64, f64)>, v| match acc {
        None => Some((v, v)),
        Some((a, b)) => Some((a.min(v), b.max(v))),
    })?;
    let pad = if hi > lo { 0.05 * (hi - lo) } else { lo.abs().max(1.0) * 0.1 };
    Some((lo - pad, hi + pad))
}

fn draw_error(e: impl std::fmt::Display) -> Error {
    Error::invalid("learning curve plot", e.to_string())
}

/// Writes an SVG line chart to `path`: one coloured line per `(name, values)` series, value `i`
/// plotted at x = `i + 1` (epochs counted from 1), a legend with the names, `title` above and
/// `x_label` under the x axis. Non-finite values are skipped (the line breaks there).
///
/// # Errors
/// [`Error::Empty`] when `series` is empty or holds no finite value at all; [`Error::Io`] when
/// the file cannot be written; [`Error::Invalid`] if plotters fails to draw.
pub fn learning_curves(
    path: impl AsRef<Path>,
    title: &str,
    x_label: &str,
    series: &[(&str, &[f64])],
) -> Result<()> {
    let path = path.as_ref();
    if series.is_empty() {
        return Err(Error::Empty(format!("{}: no series to plot", path.display())));
    }
    let (y_lo, y_hi) = y_range(series)
        .ok_or_else(|| Error::Empty(format!("{}: no finite value in any series", path.display())))?;
    let longest = series.iter().map(|(_, v)| v.len()).max().unwrap_or(1).max(1);
    let (x_lo, x_hi) = if longest == 1 { (0.5, 1.5) } else { (1.0, longest as f64) };

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 24))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)
            .map_err(draw_error)?;
        let epoch_label = |x: &f64| {
            if x.fract() == 0.0 {
                format!("{x:.0}")
            } else {
                format!("{x:.1}")
            }
        };
        chart
            .configure_mesh()
            .x_desc(x_label)
            .x_labels(longest.clamp(2, 10))
            .x_label_formatter(&epoch_label)
            .draw()
            .map_err(draw_error)?;
        for (k, (name, values)) in series.iter().enumerate() {
            let color = Palette99::pick(k).to_rgba();
            let style = ShapeStyle::from(color).stroke_width(2);
            for (j, run) in segments(values).into_iter().enumerate() {
                // Single points would be invisible as a line: draw every point as a small dot.
                let drawn =
                    chart.draw_series(LineSeries::new(run, style).point_size(2)).map_err(draw_error)?;
                if j == 0 {
                    drawn
                        .label(*name)
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
                }
            }
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(draw_error)?;
        root.present().map_err(draw_error)?;
    }
    write_atomically(path, svg.as_bytes())
}
