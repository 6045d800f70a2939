//! CPU thread count for candle and rayon.
//!
//! Small models (the course's planar networks, an MLP on 8x8 digits) run several times faster on
//! one thread than on two: each tiny op otherwise pays for waking the other thread. candle reads
//! `RAYON_NUM_THREADS` for its matmul parallelism and rayon sizes its global pool from it, so both
//! must be set before the first tensor op.

/// Uses `n` threads for candle's kernels and rayon's global pool, unless the user already chose
/// one through `RAYON_NUM_THREADS` (which wins). Call it first thing in `main`; `0` means one
/// thread per core. Returns the number of threads in effect.
///
/// It also asks the C allocator to keep freed memory for the next step
/// ([`retain_freed_memory`](crate::alloc::retain_freed_memory)): both are process set-up for a
/// training program.
pub fn set_threads(n: usize) -> usize {
    let chosen = match std::env::var("RAYON_NUM_THREADS").ok().and_then(|v| v.parse::<usize>().ok()) {
        Some(user) if user > 0 => user,
        _ => {
            let n = if n == 0 { std::thread::available_parallelism().map_or(1, |p| p.get()) } else { n };
            // Setting the variable is sound here: examples call this before spawning any thread.
            std::env::set_var("RAYON_NUM_THREADS", n.to_string());
            n
        }
    };
    // Fails only if the pool was already built, in which case it keeps its size.
    let _ = rayon::ThreadPoolBuilder::new().num_threads(chosen).build_global();
    crate::alloc::retain_freed_memory();
    chosen
}
