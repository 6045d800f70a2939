//! Benches for dls-vision (placeholder until its issue lands).
fn main() {}
