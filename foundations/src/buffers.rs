//! Recycled buffers for fused kernels' tapes, cached column matrices and scratch space.
//!
//! A training step of the character model allocates some ten megabytes of tapes and scratch
//! (gates of every step, their gradients) and frees them when the graph is dropped. The C
//! allocator hands memory that size back to the system and takes it again on the next step,
//! and the page faults of touching it afresh took a quarter of the step. Buffers taken here go
//! back to a small process-wide pool when dropped and are handed out again, still mapped.
//! The pool keeps at most [`MAX_BUFFERS`] buffers and [`MAX_BYTES`] per float type, dropping the
//! smallest first.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

/// Buffers kept per float type. A ResNet-18 training step alone holds some 30 at once (the
/// transformed kernels its 13 Winograd convolutions keep from forward to backward, their weight
/// gradients' partial sums, kept column matrices).
const MAX_BUFFERS: usize = 64;
/// Most bytes kept per float type: that step's kept kernels alone are about 150 MB in f32, and
/// with a 128 MB cap part of them was mapped and cleared afresh every step.
const MAX_BYTES: usize = 512 << 20;

/// A float type with a pool of its own.
pub trait Pooled: Copy + Default + Send + 'static {
    /// The process-wide pool of this type's buffers.
    fn pool() -> &'static Mutex<Vec<Vec<Self>>>;
}

static F32: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());
static F64: Mutex<Vec<Vec<f64>>> = Mutex::new(Vec::new());

impl Pooled for f32 {
    fn pool() -> &'static Mutex<Vec<Vec<Self>>> {
        &F32
    }
}

impl Pooled for f64 {
    fn pool() -> &'static Mutex<Vec<Vec<Self>>> {
        &F64
    }
}

/// An empty vector with room for `capacity` elements that returns to the pool when dropped.
pub struct Buf<T: Pooled>(Vec<T>);

impl<T: Pooled> Buf<T> {
    /// The smallest pooled buffer that holds `capacity` elements, emptied, or a new one.
    pub fn with_capacity(capacity: usize) -> Self {
        let mut v = Self::take(capacity);
        v.clear();
        v
    }

    /// A buffer of `len` elements whose values are unspecified (left from an earlier use, or
    /// zero): for callers that write every element they later read. Recycled memory is not
    /// written again, as `vec![0; len]` would.
    pub fn filled(len: usize) -> Self {
        let mut v = Self::take(len);
        if v.len() > len {
            v.truncate(len);
        } else {
            v.resize(len, T::default());
        }
        v
    }

    fn take(capacity: usize) -> Self {
        let reused = T::pool().lock().ok().and_then(|mut pool| {
            let best = pool
                .iter()
                .enumerate()
                .filter(|(_, v)| v.capacity() >= capacity)
                .min_by_key(|(_, v)| v.capacity())
                .map(|(i, _)| i)?;
            Some(pool.swap_remove(best))
        });
        let mut v = reused.unwrap_or_default();
        v.reserve(capacity.saturating_sub(v.len()));
        Buf(v)
    }
}

impl<T: Pooled> From<Vec<T>> for Buf<T> {
    /// Adopts `v`, which goes to the pool when the buffer is dropped.
    fn from(v: Vec<T>) -> Self {
        Buf(v)
    }
}

impl<T: Pooled> Deref for Buf<T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.0
    }
}

impl<T: Pooled> DerefMut for Buf<T> {
    fn deref_mut(&mut self) -> &mut Vec<T> {
        &mut self.0
    }
}

impl<T: Pooled> Drop for Buf<T> {
    fn drop(&mut self) {
        let v = std::mem::take(&mut self.0);
        let bytes = |v: &Vec<T>| v.capacity() * std::mem::size_of::<T>();
        if v.capacity() == 0 || bytes(&v) > MAX_BYTES {
            return;
        }
        if let Ok(mut pool) = T::pool().lock() {
            pool.push(v);
            while pool.len() > MAX_BUFFERS || pool.iter().map(bytes).sum::<usize>() > MAX_BYTES {
                let smallest = pool.iter().enumerate().min_by_key(|(_, v)| v.capacity()).map(|(i, _)| i);
                match smallest {
                    Some(i) => drop(pool.swap_remove(i)),
                    None => break,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Buf;

    #[test]
    fn buffers_come_back_empty_and_large_enough() {
        let mut a = Buf::<f64>::with_capacity(1000);
        a.extend((0..1000).map(f64::from));
        drop(a);
        let b = Buf::<f64>::with_capacity(500);
        assert!(b.is_empty() && b.capacity() >= 500);
        let c = Buf::<f64>::with_capacity(3);
        assert!(c.is_empty() && c.capacity() >= 3);
        let d = Buf::<f64>::filled(700);
        assert_eq!(d.len(), 700);
    }
}
