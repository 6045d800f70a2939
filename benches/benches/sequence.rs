//! Benches for dls-sequence (placeholder until its issue lands).
fn main() {}
