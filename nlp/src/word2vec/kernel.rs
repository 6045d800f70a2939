//! The negative-sampling update shared by skip-gram and CBOW.
//!
//! For an input vector `h` (a context word's vector in skip-gram, the mean of the context in CBOW)
//! and an output vector `u` with label `y` (1 for the true word, 0 for a noise word), the loss is
//! `L = -y log σ(h·u) - (1 - y) log σ(-h·u)`, whose gradients are `∂L/∂h = (σ(h·u) - y) u` and
//! `∂L/∂u = (σ(h·u) - y) h`. One SGD step with rate `α` sets `g = α (y - σ(h·u))`, adds `g u` to an
//! accumulator for `h` (applied after all targets, as word2vec.c does) and `g h` to `u`.
//!
//! ```
//! use dls_nlp::word2vec::kernel::negative_sampling_step;
//! let h = [0.5f32, -0.25];
//! let mut u = [0.0f32, 0.0];
//! let mut acc = [0.0f32; 2];
//! // σ(0) = 0.5, so g = 0.1 * (1 - 0.5) = 0.05 (within the sigmoid table's 0.012 step).
//! assert!(negative_sampling_step(&h, &mut u, 1.0, 0.1, &mut acc));
//! assert!((u[0] - 0.025).abs() < 1e-3 && (u[1] + 0.0125).abs() < 1e-3);
//! ```

use std::sync::OnceLock;

use super::sampling::SigmoidTable;
use crate::dense::{axpy, dot};

pub(crate) fn sigmoid_table() -> &'static SigmoidTable {
    static TABLE: OnceLock<SigmoidTable> = OnceLock::new();
    TABLE.get_or_init(SigmoidTable::new)
}

/// One negative-sampling step (see the module docs): `acc += g u`, then `u += g h`, with
/// `g = alpha (label - σ(h·u))` and σ from word2vec's 1000-entry table. Returns false, changing
/// nothing, when `|h·u| >= 6` (word2vec's and gensim's rule).
#[inline(always)]
pub fn negative_sampling_step(h: &[f32], u: &mut [f32], label: f32, alpha: f32, acc: &mut [f32]) -> bool {
    step_with(sigmoid_table(), h, u, label, alpha, acc)
}

#[inline(always)]
pub(crate) fn step_with(
    table: &SigmoidTable,
    h: &[f32],
    u: &mut [f32],
    label: f32,
    alpha: f32,
    acc: &mut [f32],
) -> bool {
    let Some(f) = table.get(dot(h, u)) else {
        return false;
    };
    let g = (label - f) * alpha;
    axpy(g, u, acc);
    axpy(g, h, u);
    true
}
