//! Parameter rows shared between GloVe's training threads without locks (Hogwild, Recht et al. 2011).
//!
//! The safety argument is word2vec's (`word2vec/hogwild.rs`): the buffer is allocated once and
//! outlives the scoped threads; every row handed out lies inside it; the values are plain `f32`, so
//! a collision between threads is a lost or stale update, never an invalid value; a thread holds at
//! most one slice of each matrix at a time. With one thread nothing is shared and the code is sound
//! in the ordinary sense, which the deterministic single-thread mode relies on.

use std::cell::UnsafeCell;

/// `rows x width` f32 values that several threads may update at once.
pub(crate) struct SharedRows {
    data: UnsafeCell<Vec<f32>>,
    ptr: *mut f32,
    rows: usize,
    width: usize,
}

// SAFETY: see the module documentation; concurrent row access is the intended (Hogwild) use.
unsafe impl Sync for SharedRows {}
// SAFETY: the value owns its buffer; moving it moves the ownership.
unsafe impl Send for SharedRows {}

impl SharedRows {
    /// Wraps `data`, read as rows of `width` values (a trailing partial row is never handed out).
    pub(crate) fn new(mut data: Vec<f32>, width: usize) -> Self {
        let rows = data.len().checked_div(width).unwrap_or(0);
        let ptr = data.as_mut_ptr();
        Self { data: UnsafeCell::new(data), ptr, rows, width }
    }

    /// Row `i`, `None` if out of range.
    ///
    /// # Safety
    /// The caller must not hold another slice of this matrix on this thread while the returned
    /// slice is alive; other threads may write the row concurrently (the accepted Hogwild race).
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn row(&self, i: usize) -> Option<&mut [f32]> {
        if i >= self.rows {
            return None;
        }
        // SAFETY: `i < rows`, so `[i*width, (i+1)*width)` lies inside the live buffer.
        Some(unsafe { std::slice::from_raw_parts_mut(self.ptr.add(i * self.width), self.width) })
    }

    /// The buffer back, once no thread uses it any more.
    pub(crate) fn into_inner(self) -> Vec<f32> {
        self.data.into_inner()
    }
}
