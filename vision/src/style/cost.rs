//! The costs of neural style transfer (Gatys et al. 2015, as sheet 22 normalises them).
//!
//! For one layer's activations `a` of `n_C` channels on an `n_H x n_W` map, unrolled to
//! `A = [n_C, n_H n_W]`:
//!
//! - Gram matrix (style matrix): `G = A Aᵀ`, `[n_C, n_C]`: how strongly channels fire together;
//! - content cost: `J_content(C, G) = 1 / (4 n_H n_W n_C) Σ (a_C - a_G)²`;
//! - layer style cost: `J_style^[l](S, G) = 1 / (4 n_C² (n_H n_W)²) Σ_ij (G_S - G_G)²_ij`;
//! - style cost: `J_style = Σ_l λ_l J_style^[l]`;
//! - total variation: `Σ (x[i+1, j] - x[i, j])² + Σ (x[i, j+1] - x[i, j])²` over every channel,
//!   unnormalised; it penalises high-frequency noise in the generated image.
//!
//! The total cost is `α J_content + β J_style + tv_weight TV`. Every function here is made of
//! differentiable candle ops, so the gradient reaches the image through autograd.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use dls_vision::style::cost::{content_cost, total_variation};
//! // n_C 2, n_H 1, n_W 2; differences 1, 0, 0, -2: 5 / (4 * 1 * 2 * 2).
//! let a_c = Tensor::new(&[1f32, 2., 3., 4.], &Device::Cpu)?.reshape((1, 2, 1, 2))?;
//! let a_g = Tensor::new(&[0f32, 2., 3., 6.], &Device::Cpu)?.reshape((1, 2, 1, 2))?;
//! assert_eq!(content_cost(&a_c, &a_g)?.to_scalar::<f32>()?, 0.3125);
//! // One channel [[0, 1], [1, 3]]: vertical 1 + 4, horizontal 1 + 4.
//! let x = Tensor::new(&[[[0f32, 1.], [1., 3.]]], &Device::Cpu)?;
//! assert_eq!(total_variation(&x)?.to_scalar::<f32>()?, 10.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::Tensor;

use crate::{Error, Result};

/// `a` unrolled to `[n_C, n_H n_W]`: accepts `[n_C, m]`, `[n_C, n_H, n_W]` or `[1, n_C, n_H, n_W]`.
fn unrolled(a: &Tensor, what: &str) -> Result<Tensor> {
    let dims = a.dims();
    let (c, m) = match *dims {
        [c, m] => (c, m),
        [c, h, w] | [1, c, h, w] => (c, h * w),
        _ => (0, 0),
    };
    if c == 0 || m == 0 {
        return Err(Error::Invalid {
            what: what.into(),
            message: format!("expected [c, m], [c, h, w] or [1, c, h, w] activations, got {dims:?}"),
        });
    }
    Ok(a.reshape((c, m))?)
}

fn same_shape(a: &Tensor, b: &Tensor, what: &str) -> Result<()> {
    if a.dims() != b.dims() {
        return Err(Error::Invalid {
            what: what.into(),
            message: format!("shapes differ: {:?} and {:?}", a.dims(), b.dims()),
        });
    }
    Ok(())
}

/// The Gram matrix `A Aᵀ` `[n_C, n_C]` of activations `a` (`[n_C, m]`, `[n_C, n_H, n_W]` or
/// `[1, n_C, n_H, n_W]`).
///
/// # Errors
/// [`Error::Invalid`] for another shape.
pub fn gram(a: &Tensor) -> Result<Tensor> {
    let a = unrolled(a, "Gram matrix input")?;
    Ok(a.matmul(&a.t()?)?)
}

/// The content cost `1 / (4 n_H n_W n_C) Σ (a_C - a_G)²` (a scalar tensor) between the content
/// image's activations `a_c` and the generated image's `a_g`, both of one shape.
///
/// # Errors
/// [`Error::Invalid`] when the shapes differ or are not activations of one image.
pub fn content_cost(a_c: &Tensor, a_g: &Tensor) -> Result<Tensor> {
    same_shape(a_c, a_g, "content cost")?;
    let (c, g) = (unrolled(a_c, "content activations")?, unrolled(a_g, "generated activations")?);
    let norm = 4.0 * c.elem_count() as f64;
    Ok(((c - g)?.sqr()?.sum_all()? / norm)?)
}

/// One layer's style cost `1 / (4 n_C² (n_H n_W)²) Σ (G_S - G_G)²` given the style image's Gram
/// matrix `gram_s` (`[n_C, n_C]`, see [`gram`]) and the generated image's activations `a_g`;
/// `n_H n_W` is `a_g`'s map size.
///
/// # Errors
/// [`Error::Invalid`] when `gram_s` is not `[n_C, n_C]` for `a_g`'s `n_C`.
pub fn layer_style_cost_from_gram(gram_s: &Tensor, a_g: &Tensor) -> Result<Tensor> {
    let a = unrolled(a_g, "generated activations")?;
    let (c, m) = a.dims2()?;
    if gram_s.dims() != [c, c] {
        return Err(Error::Invalid {
            what: "style Gram matrix".into(),
            message: format!("expected [{c}, {c}] for {:?} activations, got {:?}", a_g.dims(), gram_s.dims()),
        });
    }
    let g = a.matmul(&a.t()?)?;
    let norm = 4.0 * (c * c) as f64 * (m as f64).powi(2);
    Ok(((gram_s - g)?.sqr()?.sum_all()? / norm)?)
}

/// One layer's style cost between the style image's activations `a_s` and the generated image's
/// `a_g` (same shape): [`layer_style_cost_from_gram`] of `gram(a_s)`.
///
/// # Errors
/// [`Error::Invalid`] when the shapes differ or are not activations of one image.
pub fn layer_style_cost(a_s: &Tensor, a_g: &Tensor) -> Result<Tensor> {
    same_shape(a_s, a_g, "style cost")?;
    layer_style_cost_from_gram(&gram(a_s)?, a_g)
}

/// The weighted style cost `Σ_l λ_l J_style^[l]` over layers: the style image's Gram matrices
/// `grams_s`, the generated image's activations `a_g` and the weights `lambdas`, in one order.
///
/// # Errors
/// [`Error::Invalid`] when the three lists differ in length or are empty, or as
/// [`layer_style_cost_from_gram`].
pub fn style_cost(grams_s: &[Tensor], a_g: &[Tensor], lambdas: &[f64]) -> Result<Tensor> {
    if grams_s.len() != a_g.len() || a_g.len() != lambdas.len() || lambdas.is_empty() {
        return Err(Error::Invalid {
            what: "style cost".into(),
            message: format!(
                "{} Gram matrices, {} activations and {} weights: need one of each per layer",
                grams_s.len(),
                a_g.len(),
                lambdas.len()
            ),
        });
    }
    let mut total: Option<Tensor> = None;
    for ((gs, a), &lambda) in grams_s.iter().zip(a_g).zip(lambdas) {
        let term = (layer_style_cost_from_gram(gs, a)? * lambda)?;
        total = Some(match total {
            Some(t) => (t + term)?,
            None => term,
        });
    }
    total.ok_or_else(|| Error::Invalid { what: "style cost".into(), message: "no layer".into() })
}

/// Total variation `Σ (x[i+1, j] - x[i, j])² + Σ (x[i, j+1] - x[i, j])²` of an image `[c, h, w]`
/// or `[n, c, h, w]`, summed over channels (and images).
///
/// # Errors
/// [`Error::Invalid`] for another rank or a map smaller than 2x2.
pub fn total_variation(x: &Tensor) -> Result<Tensor> {
    let rank = x.rank();
    if !(rank == 3 || rank == 4) || x.dim(rank - 1)? < 2 || x.dim(rank - 2)? < 2 {
        return Err(Error::Invalid {
            what: "total variation input".into(),
            message: format!("expected [c, h, w] or [n, c, h, w] with h, w >= 2, got {:?}", x.dims()),
        });
    }
    let (hd, wd) = (rank - 2, rank - 1);
    let (h, w) = (x.dim(hd)?, x.dim(wd)?);
    let down = (x.narrow(hd, 1, h - 1)? - x.narrow(hd, 0, h - 1)?)?.sqr()?.sum_all()?;
    let right = (x.narrow(wd, 1, w - 1)? - x.narrow(wd, 0, w - 1)?)?.sqr()?.sum_all()?;
    Ok((down + right)?)
}
