//! Per-thread scratch buffers for column matrices and gathered gradients (the convolution kernels
//! here and style transfer's frozen convolution), reused across calls so that each layer does not
//! pay again for fresh, zeroed pages: in a ResNet-18 step, page faults and zeroing of such
//! buffers took about a tenth of the time.

use std::cell::RefCell;

use candle_core::WithDType;

/// A per-thread buffer reused across calls (one per element type; it grows to the largest request
/// seen on the thread: a column matrix of a few MB).
pub(crate) trait Scratch: WithDType {
    /// Runs `f` on a buffer of `len` values (contents unspecified).
    fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [Self]) -> R) -> R;
}

thread_local! {
    static SCRATCH_F32: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static SCRATCH_F64: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
}

fn with_buffer<T: WithDType, R>(cell: &RefCell<Vec<T>>, len: usize, f: impl FnOnce(&mut [T]) -> R) -> R {
    match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < len {
                buf.resize(len, T::from_f64(0.0));
            }
            f(&mut buf[..len])
        }
        // Busy (a nested call on this thread): use a fresh buffer.
        Err(_) => f(&mut vec![T::from_f64(0.0); len]),
    }
}

impl Scratch for f32 {
    fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [Self]) -> R) -> R {
        SCRATCH_F32.with(|cell| with_buffer(cell, len, f))
    }
}

impl Scratch for f64 {
    fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [Self]) -> R) -> R {
        SCRATCH_F64.with(|cell| with_buffer(cell, len, f))
    }
}
