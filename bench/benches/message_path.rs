//! Micro-benchmarks (work in progress).
fn main() {}
