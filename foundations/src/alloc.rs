//! Keeping freed memory mapped between training steps.
//!
//! A training step allocates its activations and gradients (tens of megabytes for LeNet-5 at
//! batch 64; hundreds for a ResNet) and frees them when the graph is dropped. With glibc's
//! defaults the freed memory goes back to the system, through `munmap` or by trimming the top of
//! the heap, and the next step takes it again one page fault at a time: in a plain program
//! running LeNet-5 steps, page faults and the kernel's page clearing were an eighth of the
//! profile, and keeping the memory made the step 20-30% faster (four alternating runs: 9.4-12.3
//! ms a step before, 6.6-9.7 ms after). PyTorch's tuning guide makes the same point when it recommends a
//! caching allocator.
//!
//! [`retain_freed_memory`] asks glibc to serve blocks up to 32 MB from its heap and to keep up to
//! 1 GB of free heap instead of trimming it (with 256 MB, a ResNet-18 step at batch 32 still
//! spent 6.6% of its time in the kernel clearing pages; with 1 GB none). The cost is that the
//! process keeps its peak heap size mapped. [`set_threads`](crate::threads::set_threads), which the examples, the tour
//! and the benches call first, calls it too.

/// Blocks at least this large are mapped on their own (and unmapped when freed).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: i32 = 32 << 20;

/// Free memory at the top of the heap beyond this is returned to the system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: i32 = 1 << 30;

/// Asks the C allocator to keep freed memory for reuse instead of returning it to the system
/// after every step (see the module notes). Returns whether the settings took effect: `false`
/// where the allocator is not glibc's or refused them, which changes nothing but speed.
pub fn retain_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes the allocator's tuning parameters; both values are in
        // the ranges glibc documents.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn glibc_accepts_the_settings() {
        let applied = super::retain_freed_memory();
        assert_eq!(applied, cfg!(all(target_os = "linux", target_env = "gnu")));
        // Memory still works afterwards, across the thresholds.
        let big = vec![1u8; 40 << 20];
        let mid = vec![2u8; 8 << 20];
        assert_eq!(big[big.len() - 1] as usize + mid[0] as usize, 3);
    }
}
