//! A matrix of f32 shared between training threads without locks (Hogwild, Recht et al. 2011),
//! used by word2vec and GloVe.
//!
//! # Safety argument
//! The training threads update rows of the two weight matrices concurrently with no synchronisation,
//! as the original C tool, gensim and fastText do. Two threads may read and write the same row at
//! the same time. Under Rust's memory model such unsynchronised access is a data race; we accept it
//! deliberately and confine it here:
//!
//! * the buffer is allocated once, never resized or freed while any thread holds it (the threads
//!   are scoped and end before [`SharedMatrix::into_inner`]), so every pointer stays valid;
//! * each row handed out lies inside the buffer (checked against `rows`);
//! * the data are plain `f32`, for which every bit pattern is valid, so a torn or stale value is a
//!   wrong number, never an invalid one; on the targets we build for (x86-64, aarch64) aligned f32
//!   loads and stores are single instructions, so the observable effect of a collision is a lost or
//!   stale update, which stochastic gradient descent tolerates (that is Hogwild's result);
//! * a thread never holds two overlapping row slices itself, so there is no intra-thread aliasing;
//! * with one thread nothing is shared and the code is sound in the ordinary sense, which is what
//!   the deterministic single-thread mode relies on.

use std::cell::UnsafeCell;

/// A `rows x dim` f32 matrix that several threads may update at once (see the module's safety argument).
pub(crate) struct SharedMatrix {
    data: UnsafeCell<Vec<f32>>,
    ptr: *mut f32,
    rows: usize,
    dim: usize,
}

// SAFETY: see the module documentation; concurrent row access is the intended (Hogwild) use.
unsafe impl Sync for SharedMatrix {}
// SAFETY: the matrix owns its buffer; moving it to another thread moves the ownership.
unsafe impl Send for SharedMatrix {}

impl SharedMatrix {
    /// Wraps `data` (`rows * dim` values, checked by the caller).
    pub(crate) fn new(mut data: Vec<f32>, dim: usize) -> Self {
        let rows = data.len().checked_div(dim).unwrap_or(0);
        let ptr = data.as_mut_ptr();
        Self { data: UnsafeCell::new(data), ptr, rows, dim }
    }

    /// Row `i` for reading and writing, `None` if out of range.
    ///
    /// # Safety
    /// The caller must not hold another slice of the same row on this thread while the returned
    /// slice is alive; other threads may write the row concurrently (the accepted Hogwild race).
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn row(&self, i: usize) -> Option<&mut [f32]> {
        if i >= self.rows {
            return None;
        }
        // SAFETY: `i < rows`, so `[i*dim, (i+1)*dim)` is inside the live buffer.
        Some(unsafe { std::slice::from_raw_parts_mut(self.ptr.add(i * self.dim), self.dim) })
    }

    /// The buffer back, once no thread uses the matrix any more.
    pub(crate) fn into_inner(self) -> Vec<f32> {
        self.data.into_inner()
    }
}
