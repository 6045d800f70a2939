//! Adam's update as three in-place passes over contiguous CPU buffers, instead of about a dozen
//! candle ops that each allocate a temporary the size of the parameter; SGD's as one.
//!
//! Each pass performs the same floating-point operations, in the same order and at the same
//! precision, as the tensor-op reference in `adam.rs` (scalars are rounded to the buffer's dtype
//! first, as candle's `affine` does), so the two paths agree bit for bit; `tests/optim.rs` checks
//! that, and both against PyTorch.

use candle_core::{CpuStorage, InplaceOp2, InplaceOp3, Layout, Tensor, WithDType};

static FORCE_REFERENCE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes Adam, AdamW and SGD take the tensor-op reference path everywhere (process-wide), so tests
/// and benches can compare the two. Not meant for other uses.
#[doc(hidden)]
pub fn force_reference_path(on: bool) {
    FORCE_REFERENCE.store(on, std::sync::atomic::Ordering::SeqCst);
}

/// Whether the fused path applies: CPU tensors of f32 or f64.
pub(super) fn supported(t: &Tensor) -> bool {
    !FORCE_REFERENCE.load(std::sync::atomic::Ordering::SeqCst)
        && t.device().is_cpu()
        && matches!(t.dtype(), candle_core::DType::F32 | candle_core::DType::F64)
}

/// The three slices of a contiguous in-place op, or an error naming the op.
fn slices<'a, T: WithDType>(
    name: &str,
    a: &'a mut [T],
    la: &Layout,
    b: &'a [T],
    lb: &Layout,
    c: &'a [T],
    lc: &Layout,
) -> candle_core::Result<(&'a mut [T], &'a [T], &'a [T])> {
    let range = |l: &Layout| l.contiguous_offsets();
    match (range(la), range(lb), range(lc)) {
        (Some((a0, a1)), Some((b0, b1)), Some((c0, c1))) if a1 - a0 == b1 - b0 && a1 - a0 == c1 - c0 => {
            Ok((&mut a[a0..a1], &b[b0..b1], &c[c0..c1]))
        }
        _ => candle_core::bail!("{name}: needs contiguous buffers of one size"),
    }
}

/// Dispatches an element-wise kernel over f32 or f64 storages.
macro_rules! dispatch {
    ($name:expr, $s1:expr, $l1:expr, $s2:expr, $l2:expr, $s3:expr, $l3:expr, $kernel:ident, $self:expr) => {
        match ($s1, $s2, $s3) {
            (CpuStorage::F32(a), CpuStorage::F32(b), CpuStorage::F32(c)) => {
                let (a, b, c) = slices($name, a, $l1, b, $l2, c, $l3)?;
                $self.$kernel(a, b, c);
                Ok(())
            }
            (CpuStorage::F64(a), CpuStorage::F64(b), CpuStorage::F64(c)) => {
                let (a, b, c) = slices($name, a, $l1, b, $l2, c, $l3)?;
                $self.$kernel(a, b, c);
                Ok(())
            }
            _ => candle_core::bail!("{}: f32 or f64 buffers of one dtype only", $name),
        }
    };
}

/// `InplaceOp3` for a pass whose element-wise `kernel` works on f32 and f64 slices.
macro_rules! inplace_op3 {
    ($ty:ident, $name:literal) => {
        impl InplaceOp3 for $ty {
            fn name(&self) -> &'static str {
                $name
            }

            fn cpu_fwd(
                &self,
                s1: &mut CpuStorage,
                l1: &Layout,
                s2: &CpuStorage,
                l2: &Layout,
                s3: &CpuStorage,
                l3: &Layout,
            ) -> candle_core::Result<()> {
                dispatch!(self.name(), s1, l1, s2, l2, s3, l3, kernel, self)
            }
        }
    };
}

/// `m += (1 - beta1) (g' - m)` (or torch.lerp's other branch), `g' = g + l2 * p`.
pub(super) struct FirstMoment {
    pub w1: f64,
    pub l2: f64,
}

impl FirstMoment {
    fn kernel<T: WithDType>(&self, m: &mut [T], g: &[T], p: &[T]) {
        let (w1, one_minus_w1, l2) = (T::from_f64(self.w1), T::from_f64(1.0 - self.w1), T::from_f64(self.l2));
        let (zero, use_l2) = (T::from_f64(0.0), self.l2 != 0.0);
        for ((m, &g), &p) in m.iter_mut().zip(g).zip(p) {
            let g = if use_l2 { g + (p * l2 + zero) } else { g };
            let diff = g - *m;
            *m = if self.w1 < 0.5 { *m + (diff * w1 + zero) } else { g - (diff * one_minus_w1 + zero) };
        }
    }
}

inplace_op3!(FirstMoment, "adam-first-moment");

/// `v = beta2 v + (1 - beta2) g'^2`, `g' = g + l2 * p`.
pub(super) struct SecondMoment {
    pub beta2: f64,
    pub l2: f64,
}

impl SecondMoment {
    fn kernel<T: WithDType>(&self, v: &mut [T], g: &[T], p: &[T]) {
        let (b2, one_minus_b2, l2) =
            (T::from_f64(self.beta2), T::from_f64(1.0 - self.beta2), T::from_f64(self.l2));
        let (zero, use_l2) = (T::from_f64(0.0), self.l2 != 0.0);
        for ((v, &g), &p) in v.iter_mut().zip(g).zip(p) {
            let g = if use_l2 { g + (p * l2 + zero) } else { g };
            *v = (*v * b2 + zero) + ((g * g) * one_minus_b2 + zero);
        }
    }
}

inplace_op3!(SecondMoment, "adam-second-moment");

/// `p = p (1 - decay) - step_size * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)`.
pub(super) struct Parameter {
    pub step_size: f64,
    pub inv_bias2_sqrt: f64,
    pub eps: f64,
    /// `lr * weight_decay` for AdamW's decoupled decay, 0 for Adam.
    pub decay: f64,
}

impl Parameter {
    fn kernel<T: WithDType + num_float::Sqrt>(&self, p: &mut [T], m: &[T], v: &[T]) {
        let step = T::from_f64(self.step_size);
        let inv = T::from_f64(self.inv_bias2_sqrt);
        let eps = T::from_f64(self.eps);
        let keep = T::from_f64(1.0 - self.decay);
        let (zero, decayed) = (T::from_f64(0.0), self.decay != 0.0);
        for ((p, &m), &v) in p.iter_mut().zip(m).zip(v) {
            let base = if decayed { *p * keep + zero } else { *p };
            let denom = v.sqrt_() * inv + eps;
            *p = base - ((m / denom) * step + zero);
        }
    }
}

inplace_op3!(Parameter, "adam-parameter");

/// `p = p - lr * g'`, `g' = g + l2 * p`: SGD's step (`p - (g' * lr)` as candle's `affine` and
/// `sub` compute it, so the two paths agree bit for bit).
pub(super) struct SgdUpdate {
    pub lr: f64,
    pub l2: f64,
}

impl SgdUpdate {
    fn kernel<T: WithDType>(&self, p: &mut [T], g: &[T]) {
        let (lr, l2, zero, use_l2) =
            (T::from_f64(self.lr), T::from_f64(self.l2), T::from_f64(0.0), self.l2 != 0.0);
        for (p, &g) in p.iter_mut().zip(g) {
            let g = if use_l2 { g + (*p * l2 + zero) } else { g };
            *p -= g * lr + zero;
        }
    }
}

impl InplaceOp2 for SgdUpdate {
    fn name(&self) -> &'static str {
        "sgd-update"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<()> {
        // `slices` checks three buffers; the gradient stands in for the third.
        match (s1, s2) {
            (CpuStorage::F32(p), CpuStorage::F32(g)) => {
                let (p, g, _) = slices(self.name(), p, l1, g, l2, g, l2)?;
                self.kernel(p, g);
            }
            (CpuStorage::F64(p), CpuStorage::F64(g)) => {
                let (p, g, _) = slices(self.name(), p, l1, g, l2, g, l2)?;
                self.kernel(p, g);
            }
            _ => candle_core::bail!("{}: f32 or f64 buffers of one dtype only", self.name()),
        }
        Ok(())
    }
}

/// Square roots for the two float types the kernels run on.
mod num_float {
    pub trait Sqrt {
        fn sqrt_(self) -> Self;
    }
    impl Sqrt for f32 {
        fn sqrt_(self) -> Self {
            self.sqrt()
        }
    }
    impl Sqrt for f64 {
        fn sqrt_(self) -> Self {
            self.sqrt()
        }
    }
}
