//! Triplet loss (sheet 21) with online mining over a batch of labelled embeddings.
//!
//! For an anchor `A`, a positive `P` (same identity) and a negative `N` (another identity),
//! `L = max(d(A, P) - d(A, N) + α, 0)`: the negative must be farther than the positive by the
//! margin `α`. Random triplets are mostly already satisfied, so the triplets are mined inside each
//! batch from its pairwise distance matrix (the selection itself carries no gradient; the loss is
//! then gathered from the differentiable matrix):
//!
//! - [`Mining::BatchHard`] (Hermans, Beyer and Leibe 2017): for each anchor, its farthest positive
//!   and its nearest negative; the loss is the mean over anchors.
//! - [`Mining::BatchSemiHard`] (Schroff, Kalenichenko and Philbin 2015, as TensorFlow Addons'
//!   `triplet_semihard_loss`): for each anchor-positive pair, the nearest negative that is still
//!   farther than the positive; when there is none, the farthest negative. Mean over the pairs.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use dls_vision::face::{mined_triplet_loss, Distance, Mining, TripletConfig};
//! // Two identities on a line: 0 at x = 0 and 1, 1 at x = 1.5 and 3.
//! let e = Tensor::new(&[[0f32], [1.], [1.5], [3.]], &Device::Cpu)?;
//! let labels = Tensor::new(&[0u32, 0, 1, 1], &Device::Cpu)?;
//! let cfg = TripletConfig { margin: 1.0, distance: Distance::Euclidean, mining: Mining::BatchHard };
//! let mined = mined_triplet_loss(&e, &labels, &cfg)?;
//! // Anchors: 0: 1 - 1.5 + 1 = 0.5; 1: 1 - 0.5 + 1 = 1.5; 2: 1.5 - 0.5 + 1 = 2; 3: 1.5 - 2 + 1 = 0.5.
//! assert!((mined.loss.to_scalar::<f32>()? - 1.125).abs() < 1e-5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{DType, Tensor};

use crate::face::distance::{pairwise_distances, Distance};
use crate::{Error, Result};

/// How triplets are chosen inside a batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mining {
    /// Per anchor: the hardest positive and the hardest negative.
    BatchHard,
    /// Per anchor-positive pair: the nearest negative farther than the positive, else the farthest.
    #[default]
    BatchSemiHard,
}

/// Settings of [`mined_triplet_loss`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TripletConfig {
    /// The margin `α` (0.2 with squared distances between unit vectors, as in FaceNet).
    pub margin: f64,
    /// The distance the margin is measured in.
    pub distance: Distance,
    /// How the triplets are mined.
    pub mining: Mining,
}

impl Default for TripletConfig {
    fn default() -> Self {
        Self { margin: 0.2, distance: Distance::SquaredEuclidean, mining: Mining::BatchSemiHard }
    }
}

/// One mined triplet: row indices into the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Triplet {
    /// The anchor.
    pub anchor: usize,
    /// An example of the anchor's class.
    pub positive: usize,
    /// An example of another class.
    pub negative: usize,
}

/// The loss of a batch with the triplets it was computed on.
#[derive(Clone, Debug)]
pub struct MinedLoss {
    /// Scalar mean loss over the triplets (zero, still attached to the graph, when there are none).
    pub loss: Tensor,
    /// The triplets used.
    pub triplets: Vec<Triplet>,
    /// Fraction of the triplets whose loss is positive (they violate the margin).
    pub active_fraction: f64,
}

/// The course's triplet loss on explicit triplets: rows of `anchor`, `positive` and `negative`
/// (each `[n, d]`) form `n` triplets; returns the scalar mean of `max(d(A,P) - d(A,N) + α, 0)`.
///
/// # Errors
/// [`Error::Invalid`] when the three tensors are not equal-shaped `[n, d]` matrices or the margin is
/// negative or not finite.
pub fn triplet_loss(
    anchor: &Tensor,
    positive: &Tensor,
    negative: &Tensor,
    margin: f64,
    distance: Distance,
) -> Result<Tensor> {
    check_margin(margin)?;
    for (what, t) in [("positive", positive), ("negative", negative)] {
        if t.dims() != anchor.dims() {
            return Err(invalid(
                what,
                format!("shape {:?} differs from the anchor's {:?}", t.dims(), anchor.dims()),
            ));
        }
    }
    if anchor.rank() != 2 || anchor.elem_count() == 0 {
        return Err(invalid(
            "anchor",
            format!("expected a non-empty [n, d] tensor, got {:?}", anchor.dims()),
        ));
    }
    let dist = |other: &Tensor| -> Result<Tensor> {
        let d2 = (anchor - other)?.sqr()?.sum(1)?;
        Ok(match distance {
            Distance::SquaredEuclidean => d2,
            Distance::Euclidean => (d2 + super::distance::SQRT_EPSILON)?.sqrt()?,
        })
    };
    let per = ((dist(positive)? - dist(negative)?)? + margin)?.relu()?;
    Ok(per.mean_all()?)
}

/// Batch-hard mining on a host distance matrix: for each anchor that has at least one positive and
/// one negative, its farthest positive and nearest negative (ties go to the lower index).
///
/// # Errors
/// [`Error::Invalid`] when `dist` is not `labels.len()` square rows.
pub fn mine_batch_hard(dist: &[Vec<f64>], labels: &[u32]) -> Result<Vec<Triplet>> {
    check_square(dist, labels)?;
    let mut out = Vec::new();
    for (a, row) in dist.iter().enumerate() {
        let mut pos: Option<(usize, f64)> = None;
        let mut neg: Option<(usize, f64)> = None;
        for (j, (&d, &l)) in row.iter().zip(labels).enumerate() {
            if j == a {
                continue;
            }
            if l == labels[a] {
                if pos.is_none_or(|(_, best)| d > best) {
                    pos = Some((j, d));
                }
            } else if neg.is_none_or(|(_, best)| d < best) {
                neg = Some((j, d));
            }
        }
        if let (Some((p, _)), Some((n, _))) = (pos, neg) {
            out.push(Triplet { anchor: a, positive: p, negative: n });
        }
    }
    Ok(out)
}

/// Semi-hard mining on a host distance matrix: for every anchor-positive pair (both orders), the
/// nearest negative with `d(A,N) > d(A,P)`, or the farthest negative when none is farther
/// (ties go to the lower index). Anchors without negatives give no triplets.
///
/// # Errors
/// [`Error::Invalid`] when `dist` is not `labels.len()` square rows.
pub fn mine_batch_semi_hard(dist: &[Vec<f64>], labels: &[u32]) -> Result<Vec<Triplet>> {
    check_square(dist, labels)?;
    let mut out = Vec::new();
    for (a, row) in dist.iter().enumerate() {
        let negatives: Vec<(usize, f64)> = row
            .iter()
            .zip(labels)
            .enumerate()
            .filter(|(_, (_, &l))| l != labels[a])
            .map(|(j, (&d, _))| (j, d))
            .collect();
        let Some(farthest) = negatives.iter().copied().reduce(|x, y| if y.1 > x.1 { y } else { x }) else {
            continue;
        };
        for (p, (&d_ap, &l)) in row.iter().zip(labels).enumerate() {
            if p == a || l != labels[a] {
                continue;
            }
            let semi =
                negatives
                    .iter()
                    .copied()
                    .filter(|&(_, d)| d > d_ap)
                    .reduce(|x, y| if y.1 < x.1 { y } else { x });
            let (n, _) = semi.unwrap_or(farthest);
            out.push(Triplet { anchor: a, positive: p, negative: n });
        }
    }
    Ok(out)
}

/// Mines triplets in a batch and returns their mean triplet loss, differentiable with respect to
/// `embeddings` (`[n, d]`; `labels` `[n]` u32 or i64 class ids).
///
/// # Errors
/// [`Error::Invalid`] for a bad margin, labels that are not `[n]` integers, or embeddings that are not
/// a float `[n, d]` matrix.
pub fn mined_triplet_loss(embeddings: &Tensor, labels: &Tensor, cfg: &TripletConfig) -> Result<MinedLoss> {
    check_margin(cfg.margin)?;
    let dist = pairwise_distances(embeddings, cfg.distance)?;
    let n = dist.dim(0)?;
    if labels.dims() != [n] {
        return Err(invalid("labels", format!("expected shape [{n}], got {:?}", labels.dims())));
    }
    let labels: Vec<u32> = match labels.dtype() {
        DType::U32 => labels.to_vec1::<u32>()?,
        DType::I64 => labels
            .to_vec1::<i64>()?
            .into_iter()
            .map(|l| u32::try_from(l).map_err(|_| invalid("labels", format!("label {l} is not a class id"))))
            .collect::<Result<_>>()?,
        other => return Err(invalid("labels", format!("expected u32 or i64, got {other:?}"))),
    };
    let host = dist.to_dtype(DType::F64)?.to_vec2::<f64>()?;
    let triplets = match cfg.mining {
        Mining::BatchHard => mine_batch_hard(&host, &labels)?,
        Mining::BatchSemiHard => mine_batch_semi_hard(&host, &labels)?,
    };
    if triplets.is_empty() {
        let loss = (dist.sum_all()? * 0.0)?;
        return Ok(MinedLoss { loss, triplets, active_fraction: 0.0 });
    }
    let index = |f: fn(&Triplet) -> usize| -> Result<Tensor> {
        let idx: Vec<u32> = triplets.iter().map(|t| (t.anchor * n + f(t)) as u32).collect();
        Ok(Tensor::new(idx.as_slice(), dist.device())?)
    };
    let flat = dist.flatten_all()?;
    let d_ap = flat.index_select(&index(|t| t.positive)?, 0)?;
    let d_an = flat.index_select(&index(|t| t.negative)?, 0)?;
    let per = ((d_ap - d_an)? + cfg.margin)?.relu()?;
    let active = per.to_dtype(DType::F64)?.to_vec1::<f64>()?.iter().filter(|&&v| v > 0.0).count();
    let active_fraction = active as f64 / triplets.len() as f64;
    Ok(MinedLoss { loss: per.mean_all()?, triplets, active_fraction })
}

fn invalid(what: &str, message: String) -> Error {
    Error::Invalid { what: what.into(), message }
}

fn check_margin(margin: f64) -> Result<()> {
    if margin.is_finite() && margin >= 0.0 {
        Ok(())
    } else {
        Err(invalid("margin", format!("must be finite and >= 0, got {margin}")))
    }
}

fn check_square(dist: &[Vec<f64>], labels: &[u32]) -> Result<()> {
    let n = labels.len();
    if dist.len() != n || dist.iter().any(|r| r.len() != n) {
        let rows: Vec<usize> = dist.iter().map(Vec::len).collect();
        return Err(invalid(
            "distance matrix",
            format!("expected {n} rows of {n}, got rows of lengths {rows:?}"),
        ));
    }
    Ok(())
}
