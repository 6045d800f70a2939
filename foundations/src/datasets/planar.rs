//! Seeded 2-D toy sets for binary classification: the course's planar "flower", moons and circles.
//!
//! All return `x` f32 `[n, 2]` and `y` f32 `[n, 1]` holding 0.0 or 1.0; class 0 gets `n / 2`
//! points and class 1 the rest. The same arguments always give the same points.
//!
//! ```
//! use dls_foundations::datasets::flower;
//! # fn main() -> dls_foundations::Result<()> {
//! let ds = flower(400, 1)?;
//! assert_eq!(ds.x.dims(), &[400, 2]);
//! assert_eq!(ds.y.sum_all()?.to_scalar::<f32>()?, 200.0); // half the points are class 1
//! # Ok(())
//! # }
//! ```

use std::f64::consts::PI;

use candle_core::{Device, Tensor};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::data::Dataset;
use crate::error::{Error, Result};

/// The planar "flower" of course 1, week 3: two classes of points forming the petals of
/// `r = 4 sin(4t)`, not separable by a line (logistic regression gets about half right).
///
/// Class `j` has `t = linspace(3.12 j, 3.12 (j + 1)) + 0.2 N(0, 1)` and
/// `r = 4 sin(4t) + 0.2 N(0, 1)`, at `(r sin t, r cos t)`. Rows are in class order, class 0 first.
///
/// # Errors
/// [`Error::Invalid`] if `n < 2`.
pub fn flower(n: usize, seed: u64) -> Result<Dataset> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    flower_with(n, || normal(&mut rng))
}

/// The course's own flower, point for point: 400 points drawn as its notebook does after
/// `np.random.seed(1)` (NumPy's legacy Mersenne Twister stream, reproduced here). Plain logistic
/// regression trained by gradient descent gets 47% of it right, as in the course.
///
/// # Errors
/// None in practice; the signature matches the other generators.
pub fn flower_course() -> Result<Dataset> {
    let mut rng = super::numpy_rng::NumpyLegacy::new(1);
    flower_with(400, || rng.randn())
}

fn flower_with(n: usize, mut randn: impl FnMut() -> f64) -> Result<Dataset> {
    check_n(n)?;
    let mut points = Vec::with_capacity(n);
    for (class, count) in class_sizes(n).into_iter().enumerate() {
        let j = class as f64;
        // NumPy draws the whole t-noise vector before the r-noise vector: keep that order.
        let t: Vec<f64> = linspace(3.12 * j, 3.12 * (j + 1.0), count, true)
            .into_iter()
            .map(|t| t + randn() * 0.2)
            .collect();
        let r: Vec<f64> = t.iter().map(|&t| 4.0 * (4.0 * t).sin() + randn() * 0.2).collect();
        points.extend(t.iter().zip(&r).map(|(&t, &r)| ([r * t.sin(), r * t.cos()], class as f32)));
    }
    to_dataset(points)
}

/// Two interleaving half circles, like scikit-learn's `make_moons` (rows shuffled).
///
/// Class 0 lies on `(cos s, sin s)` and class 1 on `(1 - cos s, 0.5 - sin s)` for `s` evenly
/// spaced over `[0, pi]`; each coordinate then gets `noise * N(0, 1)` added.
///
/// # Errors
/// [`Error::Invalid`] if `n < 2` or `noise` is negative or not finite.
pub fn moons(n: usize, noise: f64, seed: u64) -> Result<Dataset> {
    check_n(n)?;
    check_noise(noise)?;
    let [n_out, n_in] = class_sizes(n);
    let outer = linspace(0.0, PI, n_out, true).into_iter().map(|s| ([s.cos(), s.sin()], 0.0));
    let inner = linspace(0.0, PI, n_in, true).into_iter().map(|s| ([1.0 - s.cos(), 0.5 - s.sin()], 1.0));
    shuffled_with_noise(outer.chain(inner).collect(), noise, seed)
}

/// A small circle inside a large one, like scikit-learn's `make_circles` (rows shuffled).
///
/// Class 0 lies on the unit circle and class 1 on the circle of radius `factor`, at evenly spaced
/// angles; each coordinate then gets `noise * N(0, 1)` added.
///
/// # Errors
/// [`Error::Invalid`] if `n < 2`, `noise` is negative or not finite, or `factor` is not in `[0, 1)`.
pub fn circles(n: usize, noise: f64, factor: f64, seed: u64) -> Result<Dataset> {
    check_n(n)?;
    check_noise(noise)?;
    if !(0.0..1.0).contains(&factor) {
        return Err(Error::invalid("factor", format!("must be in [0, 1), got {factor}")));
    }
    let [n_out, n_in] = class_sizes(n);
    let outer = linspace(0.0, 2.0 * PI, n_out, false).into_iter().map(|s| ([s.cos(), s.sin()], 0.0));
    let inner =
        linspace(0.0, 2.0 * PI, n_in, false).into_iter().map(|s| ([factor * s.cos(), factor * s.sin()], 1.0));
    shuffled_with_noise(outer.chain(inner).collect(), noise, seed)
}

fn check_n(n: usize) -> Result<()> {
    if n < 2 {
        return Err(Error::invalid("n", format!("need at least 2 points (one per class), got {n}")));
    }
    Ok(())
}

fn check_noise(noise: f64) -> Result<()> {
    if !(noise.is_finite() && noise >= 0.0) {
        return Err(Error::invalid(
            "noise",
            format!("must be a finite standard deviation >= 0, got {noise}"),
        ));
    }
    Ok(())
}

/// Class 0 gets `n / 2` points, class 1 the rest.
fn class_sizes(n: usize) -> [usize; 2] {
    [n / 2, n - n / 2]
}

/// `count` evenly spaced values from `a` to `b` (including `b` when `endpoint`).
fn linspace(a: f64, b: f64, count: usize, endpoint: bool) -> Vec<f64> {
    let steps = if endpoint { count.saturating_sub(1).max(1) } else { count.max(1) };
    (0..count).map(|i| a + (b - a) * i as f64 / steps as f64).collect()
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    rng.sample(StandardNormal)
}

fn shuffled_with_noise(mut points: Vec<([f64; 2], f32)>, noise: f64, seed: u64) -> Result<Dataset> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    points.shuffle(&mut rng);
    for (p, _) in &mut points {
        for c in p.iter_mut() {
            *c += noise * normal(&mut rng);
        }
    }
    to_dataset(points)
}

fn to_dataset(points: Vec<([f64; 2], f32)>) -> Result<Dataset> {
    let n = points.len();
    let x: Vec<f32> = points.iter().flat_map(|(p, _)| p.map(|v| v as f32)).collect();
    let y: Vec<f32> = points.iter().map(|&(_, label)| label).collect();
    Dataset::new(Tensor::from_vec(x, (n, 2), &Device::Cpu)?, Tensor::from_vec(y, (n, 1), &Device::Cpu)?)
}
